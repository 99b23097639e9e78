/* What the command-line tests of hiss-train (test_train_cli.c, fx; test_train_synth_cli.c,
 * synth) share: a scratch directory, running the tool there, reading what it wrote, WAV input
 * through libsndfile, and the checks both modes promise in the same words. */
#ifndef HISS_TEST_TRAIN_CLI_UTIL_H
#define HISS_TEST_TRAIN_CLI_UTIL_H

#include <stddef.h>

typedef struct tcli {
    char dir[1024];
    const char *exe;    /* hiss-train */
    const char *prefix; /* before the program: environment, e.g. "SOURCE_DATE_EPOCH=1 " */
    const char *mode;   /* the first arguments, e.g. "--synth " */
    int fails;
} tcli;

/* dir is created when missing. */
void tcli_init(tcli *t, const char *dir, const char *exe, const char *prefix, const char *mode);
void tcli_path(const tcli *t, char *buf, size_t n, const char *name);

/* Runs the tool in dir with args, stdout and stderr to the file log; returns the exit status. */
int tcli_run(const tcli *t, const char *args, const char *log);

/* A file of dir, NUL-terminated (*len without it; len may be NULL), or NULL. Free it. */
char *tcli_slurp(const tcli *t, const char *name, size_t *len);
/* 1 when file holds needle; else 0, and the file is printed to show why. */
int tcli_contains(const tcli *t, const char *file, const char *needle);
int tcli_same_file(const tcli *t, const char *a, const char *b);

/* Prints "ok  : what" or "FAIL: what" and counts the failure. */
void tcli_check(tcli *t, int ok, const char *what);

/* n samples as a mono 32-bit float WAV. 0, or -1. */
int tcli_write_wav(const tcli *t, const char *name, const float *x, size_t n, int rate);

/* The CSV log `name` begins with header and has one line per epoch (epochs + 1 lines). */
void tcli_check_csv(tcli *t, const char *name, const char *header, int epochs);
/* `name` is a PNG file. */
void tcli_check_png(tcli *t, const char *name);

/* common + "-o STOP.safetensors --stop-after 1", then common + "--resume" to the same output,
 * and the result against `whole` (a model of one uninterrupted run of common, whose checkpoint
 * is beside it): the same parameters (same_tensors) and checkpoint bytes. stop and whole are
 * names without ".safetensors"; logs are <stop>1.log and <stop>2.log. */
void tcli_check_stop_resume(tcli *t, const char *common, const char *stop, const char *whole,
                            int (*same_tensors)(const tcli *t, const char *a, const char *b));

#endif
