/* Command-line helpers: matching one option against the current argument, and strict number
 * parsing (the whole string must be a finite number, so "0.5x" or "nan" are refused). */
#ifndef HISS_OPTS_H
#define HISS_OPTS_H

typedef struct hiss_argv {
    int argc;
    char **argv;
    int i; /* the argument being looked at */
} hiss_argv;

typedef enum hiss_opt_match {
    HISS_OPT_NO = 0,          /* argv[i] is not this option */
    HISS_OPT_YES = 1,         /* matched; i is past the option and its value */
    HISS_OPT_MISSING = -1,    /* matched, but the value is missing */
    HISS_OPT_UNEXPECTED = -2  /* a flag given a value ("--quiet=1") */
} hiss_opt_match;

/* Does argv[i] name this option (shortname "m" for -m, longname "model" for --model; either may
 * be NULL)? With val != NULL the option takes a value: "--model=X", "--model X", "-m X" or "-mX".
 * With val == NULL it is a flag. */
hiss_opt_match hiss_opt(hiss_argv *a, const char *shortname, const char *longname,
                        const char **val);

/* 0 on success; -1 when s is not entirely a finite number (or out of [lo, hi]). */
int hiss_parse_double(const char *s, double *out);
int hiss_parse_long(const char *s, long lo, long hi, long *out);

/* "PROG: <fmt with a and b>" and a hint to --help on stderr; returns 2 (a usage error). */
int hiss_usage_error(const char *prog, const char *fmt, const char *a, const char *b);
/* hiss_opt, with a malformed option reported through hiss_usage_error: 1 this option (v set),
 * 0 not this option, -1 this option but malformed (already said). */
int hiss_opt_checked(hiss_argv *a, const char *prog, const char *shortname, const char *longname,
                     const char **v);

#endif
