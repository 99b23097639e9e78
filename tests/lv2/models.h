/* Test models (written with the engine's own init and save) and the reference output: the
 * engine run directly on the same samples, the way the plugin should run it. */
#ifndef TM_MODELS_H
#define TM_MODELS_H

#include <stdint.h>

typedef struct tm_spec {
    int d_model, n_layer, d_state, d_conv, expand, n_cond;
    double rate;
    uint64_t seed;
    const char *cond_names; /* "hiss.cond", or NULL */
    const char *cond_range; /* "hiss.cond_range", or NULL */
    int skip;
} tm_spec;

/* 0 on success; prints why otherwise. */
int tm_make(const char *path, const tm_spec *s);

/* Run the model at path over nch channels of n frames at host_rate (delta mode when it differs
 * from the model's), conditioning inputs 0..n_cond-1 set to cond[], from the zero state. */
int tm_render(const char *path, double host_rate, int nch, const float *const *in, float *const *out,
              long n, const float *cond, int n_cond);

/* The conditioning values the plugin gives a model with all four knobs at `knob` (0..1): the
 * knob mapped onto "hiss.cond_range" (default 0:1). Returns how many inputs the knobs reach. */
int tm_knob_conds(const char *path, float knob, float cond[4]);

/* A test signal: three partials with a slow envelope, noise, a few louder bursts. */
void tm_signal(float *x, long n, uint32_t seed, double rate);

/* Write bytes that are not a model. */
int tm_garbage(const char *path);

#endif
