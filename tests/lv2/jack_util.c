#include "jack_util.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

void tj_nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int tj_connect_retry(jack_client_t *c, const char *a, const char *b, const char *who)
{
    for (int i = 0; i < 200; i++) {
        int rc = jack_connect(c, a, b);
        if (rc == 0 || rc == EEXIST)
            return 0;
        tj_nap(50);
    }
    fprintf(stderr, "%s: cannot connect %s to %s\n", who, a, b);
    return -1;
}
