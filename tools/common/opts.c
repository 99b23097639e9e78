#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hiss_opt_match take_value(hiss_argv *a, const char *inline_val, const char **val)
{
    if (inline_val) {
        *val = inline_val;
        a->i += 1;
        return HISS_OPT_YES;
    }
    if (a->i + 1 >= a->argc)
        return HISS_OPT_MISSING;
    *val = a->argv[a->i + 1];
    a->i += 2;
    return HISS_OPT_YES;
}

hiss_opt_match hiss_opt(hiss_argv *a, const char *shortname, const char *longname,
                        const char **val)
{
    if (a->i >= a->argc)
        return HISS_OPT_NO;
    const char *arg = a->argv[a->i];
    if (longname && arg[0] == '-' && arg[1] == '-') {
        size_t n = strlen(longname);
        if (strncmp(arg + 2, longname, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '=')) {
            const char *inl = arg[2 + n] == '=' ? arg + 3 + n : NULL;
            if (!val) {
                if (inl)
                    return HISS_OPT_UNEXPECTED;
                a->i += 1;
                return HISS_OPT_YES;
            }
            return take_value(a, inl, val);
        }
    }
    if (shortname && arg[0] == '-' && arg[1] != '-') {
        size_t n = strlen(shortname);
        if (strncmp(arg + 1, shortname, n) == 0) {
            const char *rest = arg + 1 + n;
            if (!val) {
                if (*rest)
                    return HISS_OPT_NO; /* "-qx" is some other option */
                a->i += 1;
                return HISS_OPT_YES;
            }
            return take_value(a, *rest ? rest : NULL, val);
        }
    }
    return HISS_OPT_NO;
}

int hiss_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || end == s || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int hiss_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno == ERANGE || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int hiss_usage_error(const char *prog, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    return 2;
}

int hiss_opt_checked(hiss_argv *a, const char *prog, const char *shortname, const char *longname,
                     const char **v)
{
    const char *arg = a->argv[a->i];
    switch (hiss_opt(a, shortname, longname, v)) {
    case HISS_OPT_YES: return 1;
    case HISS_OPT_NO: return 0;
    case HISS_OPT_MISSING: hiss_usage_error(prog, "option '%s' needs a value%s", arg, ""); return -1;
    case HISS_OPT_UNEXPECTED: hiss_usage_error(prog, "option '%s' takes no value%s", arg, ""); return -1;
    }
    return -1;
}
