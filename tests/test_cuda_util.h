/* Shared by the CUDA tests: random models whose every tensor is perturbed (so a wrong index or a
 * swapped layout shows), random signals, streams on either backend, runs cut into random blocks,
 * and error measures. The CPU backend is the reference the GPU is held to; the CPU backend is
 * itself held to the float64 reference by the engine tests. */
#ifndef HISS_TEST_CUDA_UTIL_H
#define HISS_TEST_CUDA_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"
#include "model.h"

#define TC_SKIP 77

static int tc_failures;

static inline void tc_check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        tc_failures++;
    }
}

/* HISS_TEST_QUICK=1 shrinks the runs (for compute-sanitizer, which slows kernels a hundredfold);
 * every check still runs. */
static inline int tc_quick(void)
{
    const char *v = getenv("HISS_TEST_QUICK");
    return v && *v && *v != '0';
}

/* Exit 77 with the reason when the GPU cannot run the test. */
/* HISS_TEST_ONLY=name,name...: only those parts of a test (racecheck of a whole test can take
 * longer than a device call; its parts run side by side as separate processes instead). */
static inline int tc_part(const char *name)
{
    const char *only = getenv("HISS_TEST_ONLY");
    if (!only || !*only)
        return 1;
    const size_t n = strlen(name);
    for (const char *p = only; (p = strstr(p, name)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

static inline void tc_require_gpu(const char *test)
{
    /* line by line, so a crash (under compute-sanitizer, say) still shows how far it got */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!hiss_backend_available(HISS_BACKEND_CUDA)) {
        printf("%s: SKIPPED: no CUDA device\n", test);
        exit(TC_SKIP);
    }
}

typedef struct tc_rng {
    uint64_t s;
} tc_rng;

static inline uint64_t tc_next(tc_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline double tc_unit(tc_rng *r)
{
    return (double)(tc_next(r) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static inline int tc_below(tc_rng *r, int n)
{
    return (int)(tc_next(r) % (uint64_t)n);
}

static inline int tc_ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The official initialisation with every tensor perturbed: norms and D around 1, A_log varied
 * across channels, dt biases spread over realistic step sizes, biases nonzero. */
static inline hiss_model *tc_model(int dm, int nl, int di, int ds, int dc, int dr, int nc, int skip,
                                   uint64_t seed)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = dm;
    c.n_layer = nl;
    c.d_inner = di;
    c.d_state = ds;
    c.d_conv = dc;
    c.dt_rank = dr;
    c.n_cond = nc;
    c.skip = skip;
    hiss_model *m = NULL;
    hiss_error err = {0};
    if (hiss_model_init(&c, seed, &m, &err) != HISS_OK) {
        printf("FAIL: hiss_model_init: %s\n", err.msg);
        tc_failures++;
        return NULL;
    }
    tc_rng r = {seed * 7919u + 13u};
    for (int i = 0; i < hiss_model_tensor_count(m); i++) {
        hiss_tensor t = hiss_model_tensor(m, i);
        float maxabs = 0.0f;
        for (size_t j = 0; j < t.numel; j++)
            maxabs = fmaxf(maxabs, fabsf(t.data[j]));
        for (size_t j = 0; j < t.numel; j++) {
            double u = tc_unit(&r);
            if (tc_ends(t.name, "A_log"))
                t.data[j] += (float)(0.5 * u);
            else if (tc_ends(t.name, "dt_proj.bias"))
                t.data[j] += (float)(1.0 * u);
            else if (tc_ends(t.name, "norm.weight") || tc_ends(t.name, "norm_f.weight") ||
                     tc_ends(t.name, "mixer.D"))
                t.data[j] += (float)(0.3 * u);
            else
                t.data[j] += (float)((maxabs > 0.0f ? 0.3 * maxabs : 0.1) * u);
        }
    }
    hiss_model_finish(m);
    return m;
}

/* Silence with two short bursts (samples 150-159 and 500-502), for tc_blowup_model: the state
 * overflows in each burst and the silence between shows whether the render recovered. */
static inline float tc_burst_input(int t)
{
    return ((t >= 150 && t < 160) || (t >= 500 && t < 503)) ? (t % 2 ? 0.5f : -0.25f) : 0.0f;
}

/* A model whose SSM state overflows float for any input that is not silence: delta is 1e30 (the
 * dt bias, passed through by softplus) and B is 1e10 times the conv output. */
static inline hiss_model *tc_blowup_model(void)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 4;
    c.n_layer = 1;
    c.d_inner = 4;
    c.d_state = 2;
    c.d_conv = 2;
    c.dt_rank = 1;
    hiss_model *m = NULL;
    hiss_error err = {0};
    if (hiss_model_init(&c, 1, &m, &err) != HISS_OK) {
        printf("FAIL: %s\n", err.msg);
        tc_failures++;
        return NULL;
    }
    for (int i = 0; i < hiss_model_tensor_count(m); i++) {
        hiss_tensor t = hiss_model_tensor(m, i);
        memset(t.data, 0, t.numel * sizeof(float));
    }
#define TC_T(name) hiss_model_tensor_by_name(m, name).data
    float *in_w = TC_T("input_proj.weight"), *norm = TC_T("backbone.layers.0.norm.weight");
    float *norm_f = TC_T("backbone.norm_f.weight"), *out_w = TC_T("output_proj.weight");
    float *in_proj = TC_T("backbone.layers.0.mixer.in_proj.weight");
    float *conv = TC_T("backbone.layers.0.mixer.conv1d.weight");
    float *dtb = TC_T("backbone.layers.0.mixer.dt_proj.bias"), *D = TC_T("backbone.layers.0.mixer.D");
    float *out_proj = TC_T("backbone.layers.0.mixer.out_proj.weight");
    float *xp = TC_T("backbone.layers.0.mixer.x_proj.weight");
    float *A_log = TC_T("backbone.layers.0.mixer.A_log");
    TC_T("output_proj.bias")[0] = 0.25f;
#undef TC_T
    for (int i = 0; i < 4; i++) {
        in_w[i] = 1.0f;
        norm[i] = 1.0f;
        norm_f[i] = 1.0f;
        out_w[i] = 0.5f;
    }
    for (int d = 0; d < 4; d++) {
        in_proj[d * 4 + d] = 1.0f;
        in_proj[(4 + d) * 4 + d] = 1.0f;
        conv[d * 2 + 1] = 1.0f;
        dtb[d] = 1e30f;
        D[d] = 1.0f;
        A_log[d * 2] = 0.0f;
        A_log[d * 2 + 1] = 0.5f;
        for (int k = 0; k < 4; k++)
            out_proj[d * 4 + k] = 1.0f;
    }
    for (int k = 0; k < 4; k++)
        for (int n = 0; n < 2; n++) {
            xp[(1 + n) * 4 + k] = 1e10f;
            xp[(3 + n) * 4 + k] = 1.0f;
        }
    hiss_model_finish(m);
    return m;
}

/* Band-limited noise plus a sweep plus bursts: audio-like, never all zeros. */
static inline void tc_signal(float *x, int n, uint64_t seed)
{
    tc_rng r = {seed};
    double lp = 0.0, ph = 0.0;
    for (int t = 0; t < n; t++) {
        lp = 0.9 * lp + 0.1 * tc_unit(&r);
        ph += 0.01 + 0.2 * (double)t / n;
        double env = ((t / 997) % 3 == 0) ? 1.0 : 0.3;
        x[t] = (float)(env * (0.6 * sin(ph) + 2.0 * lp));
    }
}

static inline hiss_stream *tc_stream(const hiss_model *m, hiss_backend b, int n_streams,
                                     int max_block)
{
    hiss_stream_opts o = hiss_stream_opts_default();
    o.backend = b;
    o.n_streams = n_streams;
    o.max_block = max_block;
    hiss_stream *s = NULL;
    hiss_error err = {0};
    if (hiss_stream_create(m, &o, &s, &err) != HISS_OK) {
        printf("FAIL: hiss_stream_create (%s, %d streams): %s\n", hiss_backend_name(b), n_streams,
               err.msg);
        tc_failures++;
        return NULL;
    }
    return s;
}

/* Runs every stream of s over in[k][0..n) into out[k], cut into blocks: fixed length `block`
 * when > 0, else random lengths 1..max_block drawn from seed (mostly short, now and then whole).
 * Returns the number of process calls, or -1 on an error. */
static inline int tc_run(hiss_stream *s, float **in, float **out, int n, int block, int max_block,
                         uint64_t seed)
{
    const int B = hiss_stream_count(s);
    const float **ip = malloc(sizeof *ip * (size_t)B);
    float **op = malloc(sizeof *op * (size_t)B);
    tc_rng r = {seed};
    int calls = 0;
    for (int t = 0; t < n;) {
        int len = block;
        if (len <= 0)
            len = tc_below(&r, 8) == 0 ? max_block : 1 + tc_below(&r, max_block < 300 ? max_block : 300);
        if (len > n - t)
            len = n - t;
        for (int k = 0; k < B; k++) {
            ip[k] = in[k] + t;
            op[k] = out[k] + t;
        }
        if (hiss_stream_process(s, ip, op, len) != HISS_OK) {
            calls = -1;
            break;
        }
        calls++;
        t += len;
    }
    free(ip);
    free(op);
    return calls;
}

/* ||a - b|| / ||b|| in double; 1e30 when a holds a non-finite value. */
static inline double tc_rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]))
            return 1e30;
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

static inline float **tc_bufs(int B, int n)
{
    float **p = malloc(sizeof *p * (size_t)B);
    for (int k = 0; k < B; k++) {
        p[k] = malloc(sizeof(float) * (size_t)n);
        for (int t = 0; t < n; t++)
            p[k][t] = NAN; /* poisoned: an unwritten output cannot pass */
    }
    return p;
}

static inline void tc_free_bufs(float **p, int B)
{
    for (int k = 0; k < B; k++)
        free(p[k]);
    free(p);
}

static inline int tc_finish(const char *test)
{
    if (tc_failures) {
        printf("%s: %d failure(s)\n", test, tc_failures);
        return 1;
    }
    printf("%s: all passed\n", test);
    return 0;
}

#endif
