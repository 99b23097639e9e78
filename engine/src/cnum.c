#define _POSIX_C_SOURCE 200809L
#include "cnum.h"

#include <errno.h>
#include <locale.h>
#include <stdlib.h>

double hiss_strtod_c(const char *s, char **end)
{
    /* uselocale changes this thread only, and the thread's own setting comes back after */
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old = c ? uselocale(c) : (locale_t)0;
    errno = 0;
    const double v = strtod(s, end);
    const int e = errno;
    if (c) {
        uselocale(old);
        freelocale(c);
    }
    errno = e;
    return v;
}
