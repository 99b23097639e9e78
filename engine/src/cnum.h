/* Numbers in model files are written in the C locale ("9.99999975e-06", "48000"). strtod follows
 * LC_NUMERIC, which a host may have set to a locale with a decimal comma (Qt and GTK hosts call
 * setlocale(LC_ALL, "")): there it stops at the point and a valid model would be refused. */
#ifndef HISS_CNUM_H
#define HISS_CNUM_H

/* strtod as in the C locale, whatever the process's or this thread's LC_NUMERIC; errno as strtod
 * leaves it. Not for the real-time path (it makes and frees a locale object). */
double hiss_strtod_c(const char *s, char **end);

#endif
