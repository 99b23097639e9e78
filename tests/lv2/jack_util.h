/* What the two JACK checkers (jack_check.c, jack_synth_check.c) share: sleeping, and connecting
 * ports that a host registers a moment after it starts. */
#ifndef TJ_JACK_UTIL_H
#define TJ_JACK_UTIL_H

#include <jack/jack.h>

void tj_nap(long ms);

/* Connect a to b, retrying for up to 10 s while either port is missing. 0, or -1 after saying
 * on stderr (as `who`) which ports would not connect. */
int tj_connect_retry(jack_client_t *c, const char *a, const char *b, const char *who);

#endif
