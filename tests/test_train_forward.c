/* The trainer's forward pass against two references:
 *   1. double build against the float64 reference model of tests/ref (ref_step, written from the
 *      equations independently of both the engine and the trainer), on the same weights;
 *   2. float build against the engine itself (hiss_stream_process on a CPU stream), on the same
 *      weights copied into an engine model with ht_f_params_to_model, and on a model the
 *      engine initialised (copied out with ht_f_params_from_model).
 * Conditioning changes every COND_EVERY samples (the engine takes it per call). With the skip on,
 * the error is measured on the output minus the input, where the network's part is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_train.h"
#include "ref_model.h"
#include "ref_signal.h"

#define N 3000
#define COND_EVERY 300
#define TOL_REF 1e-12
#define TOL_ENGINE 1e-5

static float cond_at(int t, int c)
{
    return (float)(0.25 * ((t / COND_EVERY + c) % 5) - 0.3);
}

static double rel_l2(const double *a, const double *b, const float *minus, int n)
{
    double num = 0, den = 0;
    for (int t = 0; t < n; t++) {
        const double m = minus ? minus[t] : 0.0;
        if (!isfinite(a[t]) || !isfinite(b[t]))
            return INFINITY;
        num += (a[t] - b[t]) * (a[t] - b[t]);
        den += (b[t] - m) * (b[t] - m);
    }
    return den > 0 ? sqrt(num / den) : INFINITY;
}

/* The engine on in[], conditioning set per block; out[] in double for rel_l2. */
static int engine_run(const hiss_model *m, const float *in, int n_in, double *out)
{
    hiss_stream_opts o = hiss_stream_opts_default();
    o.max_block = 256;
    o.backend = HISS_BACKEND_CPU;
    hiss_stream *s;
    hiss_error err;
    if (hiss_stream_create(m, &o, &s, &err) != HISS_OK) {
        printf("FAIL: hiss_stream_create: %s\n", err.msg);
        return -1;
    }
    float x[256], y[256];
    for (int t = 0; t < N;) {
        for (int c = 1; c < n_in; c++)
            hiss_stream_set_cond(s, 0, c - 1, in[(size_t)t * n_in + c]);
        int len = 256 - t % COND_EVERY % 256;
        const int to_change = COND_EVERY - t % COND_EVERY;
        len = len < to_change ? len : to_change;
        len = len < N - t ? len : N - t;
        for (int j = 0; j < len; j++)
            x[j] = in[(size_t)(t + j) * n_in];
        const float *ip[1] = {x};
        float *op[1] = {y};
        if (hiss_stream_process(s, ip, op, len) != HISS_OK) {
            printf("FAIL: hiss_stream_process\n");
            hiss_stream_free(s);
            return -1;
        }
        for (int j = 0; j < len; j++)
            out[t + j] = y[j];
        t += len;
    }
    hiss_stream_free(s);
    return 0;
}

static int run(const ref_config *rc, uint64_t seed)
{
    int fails = 0;
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = rc->d_model;
    c.n_layer = rc->n_layer;
    c.d_inner = rc->d_inner;
    c.d_state = rc->d_state;
    c.d_conv = rc->d_conv;
    c.dt_rank = rc->dt_rank;
    c.n_cond = rc->n_cond;
    c.skip = rc->skip;
    c.sample_rate = rc->sample_rate;
    c.rms_eps = (float)rc->rms_eps;
    ht_layout L;
    ref_model *rm = ref_model_random(rc, seed);
    if (!rm || ht_layout_init(&L, &c)) {
        printf("FAIL: setup\n");
        return 1;
    }
    printf("d_model %d, %d layers, d_inner %d, d_state %d, d_conv %d, %d cond, skip %d: %zu "
           "parameters, %.1f MB of activations per window of %d\n",
           c.d_model, c.n_layer, c.d_inner, c.d_state, c.d_conv, c.n_cond, c.skip, L.n_params,
           ht_acts_reals(&L, N) * sizeof(float) / 1e6, N);
    double *Pd = calloc(L.n_params, sizeof *Pd);
    float *Pf = calloc(L.n_params, sizeof *Pf), *Pf2 = calloc(L.n_params, sizeof *Pf2);
    for (int k = 0; k < L.n_tensors; k++) {
        const ht_tensor_info *t = &L.t[k];
        ref_tensor *r = ref_model_find(rm, t->name);
        if (!r || r->numel != t->numel) {
            printf("FAIL: tensor %s missing or of another size in the reference\n", t->name);
            return 1;
        }
        memcpy(Pd + t->offset, r->data, t->numel * sizeof(double));
    }
    const int n_in = L.n_in;
    float *inf = calloc((size_t)N * n_in, sizeof *inf), *x = calloc(N, sizeof *x);
    double *ind = calloc((size_t)N * n_in, sizeof *ind);
    ref_signal(x, N, seed, rc->sample_rate);
    for (int t = 0; t < N; t++) {
        inf[(size_t)t * n_in] = x[t];
        for (int k = 1; k < n_in; k++)
            inf[(size_t)t * n_in + k] = cond_at(t, k);
    }
    for (size_t i = 0; i < (size_t)N * n_in; i++)
        ind[i] = inf[i];
    const float *minus = c.skip ? x : NULL;

    /* 1. double forward against the float64 reference */
    double *yd = calloc(N, sizeof *yd), *yr = calloc(N, sizeof *yr);
    ht_d_acts *ad = ht_d_acts_create(&L, N);
    ht_d_forward(&L, Pd, ad, ind, yd);
    ref_state *st = ref_state_new(rm);
    for (int t = 0; t < N; t++)
        yr[t] = ref_step(rm, st, ind + (size_t)t * n_in, 1.0);
    double e = rel_l2(yd, yr, minus, N);
    int bad = !(e < TOL_REF);
    fails += bad;
    printf("  double forward vs float64 reference: rel L2 %.3e (limit %.0e)%s\n", e, TOL_REF,
           bad ? "  FAIL" : "");

    /* 2. float forward against the engine, same weights */
    hiss_model *m;
    hiss_error err;
    if (hiss_model_init(&c, 7, &m, &err) != HISS_OK) {
        printf("FAIL: hiss_model_init: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < L.n_params; i++)
        Pf[i] = (float)Pd[i];
    if (ht_f_params_to_model(&L, Pf, m, &err) || ht_f_params_from_model(&L, m, Pf2, &err)) {
        printf("FAIL: params to/from model: %s\n", err.msg);
        return 1;
    }
    bad = memcmp(Pf, Pf2, L.n_params * sizeof *Pf) != 0;
    fails += bad;
    printf("  parameters to model and back: %s\n", bad ? "differ  FAIL" : "identical");
    float *yf = calloc(N, sizeof *yf);
    double *yfd = calloc(N, sizeof *yfd), *ye = calloc(N, sizeof *ye);
    ht_f_acts *af = ht_f_acts_create(&L, N);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            /* the engine's own initialisation */
            hiss_model_free(m);
            if (hiss_model_init(&c, seed, &m, &err) != HISS_OK ||
                ht_f_params_from_model(&L, m, Pf, &err)) {
                printf("FAIL: official init: %s\n", err.msg);
                return 1;
            }
        }
        ht_f_forward(&L, Pf, af, inf, yf);
        for (int t = 0; t < N; t++)
            yfd[t] = yf[t];
        if (engine_run(m, inf, n_in, ye))
            return 1;
        e = rel_l2(yfd, ye, minus, N);
        bad = !(e < TOL_ENGINE);
        fails += bad;
        printf("  float forward vs hiss_stream_process (%s weights): rel L2 %.3e (limit %.0e)%s\n",
               pass ? "official init" : "reference", e, TOL_ENGINE, bad ? "  FAIL" : "");
    }
    /* the trainer's validation helper must give the engine's samples exactly */
    float *yv = calloc(N, sizeof *yv), *tg = calloc(N, sizeof *tg);
    ht_data d = {inf, tg, N, n_in, 0, NULL};
    double esr, esr_pe;
    if (ht_eval_engine(m, &d, 0, 0.85, &esr, &esr_pe, yv, &err) != HISS_OK) {
        printf("FAIL: ht_eval_engine: %s\n", err.msg);
        return 1;
    }
    int same = 1;
    for (int t = 0; t < N; t++)
        same &= (double)yv[t] == ye[t];
    fails += !same;
    printf("  ht_eval_engine output equals the stream's: %s\n", same ? "yes" : "no  FAIL");

    hiss_model_free(m);
    ref_state_free(st);
    ref_model_free(rm);
    ht_d_acts_free(ad);
    ht_f_acts_free(af);
    free(Pd);
    free(Pf);
    free(Pf2);
    free(inf);
    free(ind);
    free(x);
    free(yd);
    free(yr);
    free(yf);
    free(yfd);
    free(ye);
    free(yv);
    free(tg);
    ht_layout_free(&L);
    return fails;
}

int main(void)
{
    /* eps as the float the model file stores, so both sides use the same number */
    const double eps = (double)1e-5f;
    const ref_config cfgs[] = {
        {8, 2, 16, 4, 4, 1, 1, 1, eps, 48000},
        {16, 2, 32, 16, 4, 1, 0, 0, eps, 48000},
        {6, 1, 10, 3, 3, 2, 2, 0, eps, 44100},
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        fails += run(&cfgs[i], 11 + i);
    printf(fails ? "FAIL: %d checks\n" : "forward agrees with the reference and the engine\n",
           fails);
    return fails ? 1 : 0;
}
