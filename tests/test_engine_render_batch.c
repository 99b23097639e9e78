/* hiss_render_offline_batch on the CPU: every sequence bit for bit what a fresh stream gives for it
 * alone (fed in random blocks, its own conditioning), for batches of 1 to 5 sequences of ragged
 * lengths (1 sample, 0 samples, lengths off every block and chunk size), in place or not, with
 * per-sequence, partly missing or no conditioning; a quiet sequence after a loud one is not
 * touched by it; bad arguments are refused naming the sequence at fault. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hiss.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static void make_signal(float *x, size_t n, uint64_t seed, float gain)
{
    double lp = 0.0, ph = 0.0;
    for (size_t t = 0; t < n; t++) {
        lp = 0.9 * lp + 0.1 * rng_unit(&seed);
        ph += 0.01 + 0.1 * (double)(t % 5000) / 5000.0;
        x[t] = gain * (float)(0.5 * sin(ph) + 1.5 * lp);
    }
}

/* The reference: a fresh stream over x, cut into random blocks of 1..600. */
static void stream_ref(const hiss_model *m, const float *x, float *y, size_t n, const float *cond,
                       uint64_t seed)
{
    const hiss_config *c = hiss_model_config(m);
    hiss_stream_opts o = hiss_stream_opts_default();
    o.max_block = 600;
    o.backend = HISS_BACKEND_CPU;
    hiss_stream *s = NULL;
    hiss_error err = {0};
    if (hiss_stream_create(m, &o, &s, &err) != HISS_OK) {
        CHECK(0, "stream: %s", err.msg);
        return;
    }
    for (int j = 0; cond && j < c->n_cond; j++)
        hiss_stream_set_cond(s, 0, j, cond[j]);
    for (size_t t = 0; t < n;) {
        size_t len = 1 + rng_next(&seed) % 600;
        if (len > n - t)
            len = n - t;
        const float *ip[1] = {x + t};
        float *op[1] = {y + t};
        CHECK(hiss_stream_process(s, ip, op, (int)len) == HISS_OK, "stream process");
        t += len;
    }
    hiss_stream_free(s);
}

static hiss_model *make_model(int d_conv, int n_cond, int skip, uint64_t seed)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 12;
    c.n_layer = 2;
    c.d_state = 6;
    c.d_conv = d_conv;
    c.n_cond = n_cond;
    c.skip = skip;
    hiss_model *m = NULL;
    hiss_error err = {0};
    if (hiss_model_init(&c, seed, &m, &err) != HISS_OK) {
        printf("FAIL: init: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static const size_t lengths[] = {1, 4097, 0, 777, 2, 4096, 1023, 3, 9001, 4095};

/* One batch of `count` sequences starting at lengths[first]; cond_mode 0: none, 1: one row per
 * sequence, 2: rows with a NULL among them. */
static void one_batch(const hiss_model *m, int count, int first, int cond_mode, int in_place, uint64_t seed)
{
    float *in[5], *out[5], *ref[5], crow[5][2];
    size_t n[5];
    const float *cp[5];
    for (int k = 0; k < count; k++) {
        n[k] = lengths[(first + k) % (int)(sizeof lengths / sizeof lengths[0])];
        const size_t cap = n[k] ? n[k] : 1;
        in[k] = malloc(cap * sizeof(float));
        ref[k] = malloc(cap * sizeof(float));
        out[k] = in_place ? in[k] : malloc(cap * sizeof(float));
        make_signal(in[k], n[k], seed + (uint64_t)k, 1.0f);
        for (int j = 0; j < 2; j++)
            crow[k][j] = (float)(0.4 * (k + 1) - 0.7 * j);
        cp[k] = cond_mode == 2 && k % 2 ? NULL : crow[k];
        stream_ref(m, in[k], ref[k], n[k], cond_mode ? cp[k] : NULL, seed * 31 + (uint64_t)k);
        if (!in_place)
            for (size_t t = 0; t < n[k]; t++)
                out[k][t] = NAN;
    }
    hiss_error err = {0};
    const hiss_status st = hiss_render_offline_batch(m, (const float *const *)in, out, n, count,
                                                     cond_mode ? cp : NULL, HISS_BACKEND_CPU, &err);
    CHECK(st == HISS_OK, "batch of %d: %s", count, err.msg);
    int same = 1, moved = 0;
    size_t total = 0;
    for (int k = 0; k < count; k++) {
        same &= memcmp(out[k], ref[k], n[k] * sizeof(float)) == 0;
        for (size_t t = 0; t < n[k]; t++)
            moved |= ref[k][t] != 0.0f;
        total += n[k];
    }
    printf("batch of %d (from length %zu, %zu samples, conditioning %s, %s): %s\n", count, n[0], total,
           cond_mode == 0 ? "none" : cond_mode == 1 ? "per sequence" : "some NULL",
           in_place ? "in place" : "apart", same ? "bit-identical to each alone" : "DIFFERENT");
    CHECK(same, "batch of %d equals each sequence alone", count);
    CHECK(moved, "the reference output is not all zero");
    for (int k = 0; k < count; k++) {
        free(in[k]);
        free(ref[k]);
        if (!in_place)
            free(out[k]);
    }
}

/* A loud sequence (clamped inputs, a large state) right before a quiet one. */
static void no_leak(const hiss_model *m)
{
    enum { NL = 3000, NQ = 2500 };
    float *loud = malloc(NL * sizeof(float)), *quiet = malloc(NQ * sizeof(float));
    float *yl = malloc(NL * sizeof(float)), *yq = malloc(NQ * sizeof(float)), *alone = malloc(NQ * sizeof(float));
    make_signal(loud, NL, 5, 3000.0f);
    make_signal(quiet, NQ, 6, 0.05f);
    const float *in[2] = {loud, quiet};
    float *out[2] = {yl, yq};
    const size_t n[2] = {NL, NQ};
    hiss_error err = {0};
    CHECK(hiss_render_offline_batch(m, in, out, n, 2, NULL, HISS_BACKEND_CPU, &err) == HISS_OK, "%s", err.msg);
    CHECK(hiss_render_offline(m, quiet, alone, NQ, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "%s", err.msg);
    const int same = memcmp(yq, alone, NQ * sizeof(float)) == 0;
    printf("quiet after loud: %s\n", same ? "bit-identical to the quiet one alone" : "DIFFERENT");
    CHECK(same, "no state carried from one sequence to the next");
    free(loud);
    free(quiet);
    free(yl);
    free(yq);
    free(alone);
}

static void bad_args(const hiss_model *m)
{
    float x[4] = {0.1f, 0.2f, 0.3f, 0.4f}, y[4];
    const float *in[2] = {x, NULL};
    float *out[2] = {y, y};
    size_t n[2] = {4, 3};
    hiss_error err = {0};
    hiss_status st = hiss_render_offline_batch(m, in, out, n, 2, NULL, HISS_BACKEND_CPU, &err);
    printf("sequence 1 without input: %s (%s)\n", hiss_status_name(st), err.msg);
    CHECK(st == HISS_ERR_ARG && strstr(err.msg, "sequence 1"), "a missing buffer is refused by its index");
    n[1] = 0; /* an empty sequence needs no buffers */
    CHECK(hiss_render_offline_batch(m, in, out, n, 2, NULL, HISS_BACKEND_CPU, &err) == HISS_OK, "%s", err.msg);
    CHECK(hiss_render_offline_batch(m, in, out, n, -1, NULL, HISS_BACKEND_CPU, &err) == HISS_ERR_ARG,
          "count < 0 refused");
    CHECK(hiss_render_offline_batch(m, in, out, NULL, 2, NULL, HISS_BACKEND_CPU, &err) == HISS_ERR_ARG,
          "n NULL refused");
    CHECK(hiss_render_offline_batch(NULL, in, out, n, 2, NULL, HISS_BACKEND_CPU, &err) == HISS_ERR_ARG,
          "no model refused");
    CHECK(hiss_render_offline_batch(m, NULL, NULL, NULL, 0, NULL, HISS_BACKEND_CPU, &err) == HISS_OK,
          "an empty batch is nothing to do");
    CHECK(hiss_render_offline_batch(m, in, out, n, 2, NULL, (hiss_backend)7, &err) == HISS_ERR_ARG,
          "unknown backend refused");
    if (!hiss_backend_available(HISS_BACKEND_CUDA)) {
        st = hiss_render_offline_batch(m, in, out, n, 2, NULL, HISS_BACKEND_CUDA, &err);
        printf("CUDA without a device: %s (%s)\n", hiss_status_name(st), err.msg);
        CHECK(st == HISS_ERR_BACKEND && strstr(err.msg, "CUDA"), "CUDA refused, never run elsewhere");
        /* AUTO falls back to the CPU: exact */
        float ref[4];
        CHECK(hiss_render_offline(m, x, ref, 4, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "%s", err.msg);
        for (int t = 0; t < 4; t++)
            y[t] = NAN;
        CHECK(hiss_render_offline_batch(m, in, out, n, 2, NULL, HISS_BACKEND_AUTO, &err) == HISS_OK, "%s",
              err.msg);
        CHECK(memcmp(y, ref, sizeof ref) == 0, "AUTO without a device is the CPU render");
    } else {
        printf("CUDA device present: the CUDA path is checked by test_cuda_batch\n");
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    hiss_model *m = make_model(4, 2, 1, 11);
    hiss_model *m1 = make_model(1, 0, 0, 12); /* d_conv 1: no conv history at all */
    for (int count = 1; count <= 5; count++) {
        one_batch(m, count, count, count % 3, count % 2, 100 + (uint64_t)count);
        one_batch(m1, count, 2 * count + 1, 0, 0, 200 + (uint64_t)count);
    }
    one_batch(m, 5, 0, 2, 1, 300);
    no_leak(m);
    bad_args(m);
    hiss_model_free(m);
    hiss_model_free(m1);
    printf("test_engine_render_batch: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
