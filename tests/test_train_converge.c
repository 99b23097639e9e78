/* Training works end to end: a small model learns a synthetic effect the test builds itself (a
 * one-pole lowpass followed by tanh(3x), a crude saturating amp) from a few seconds of noise and
 * sines, and reaches an ESR below 1e-3 on held-out audio of another seed, measured through the
 * engine (hiss_stream_process) on the trained model. A fixed number of epochs, so the result does
 * not depend on the speed of the machine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_train.h"
#include "ref_rng.h"

#define RATE 48000.0
#define TRAIN_SECONDS 3
#define VAL_SECONDS 1
#define SEGMENT 6000 /* samples of one kind of excitation */
#ifndef EPOCHS
#define EPOCHS 20
#endif
#define ESR_LIMIT 1e-3
#ifndef N_LAYER
#define N_LAYER 2
#endif
#ifndef D_STATE
#define D_STATE 8
#endif
#ifndef WINDOW
#define WINDOW 512
#endif
#ifndef WARMUP
#define WARMUP 64
#endif
#ifndef BATCH
#define BATCH 8
#endif
#ifndef LR
#define LR 1e-2
#endif

/* Segments of sines (1 to 3, log-uniform 40 Hz to 8 kHz), white noise, or one-pole filtered
 * noise, at random levels: what the lowpass and the saturation see covers their range. */
static void excitation(float *x, int n, uint64_t seed)
{
    ref_rng r = ref_rng_seed(seed);
    const double tau = 6.283185307179586;
    for (int s0 = 0; s0 < n; s0 += SEGMENT) {
        const int kind = ref_rng_below(&r, 3);
        const double level = 0.05 + 0.6 * ref_rng_unit(&r);
        double f[3], ph[3];
        const int nf = 1 + ref_rng_below(&r, 3);
        for (int k = 0; k < 3; k++) {
            f[k] = 40.0 * pow(200.0, ref_rng_unit(&r));
            ph[k] = tau * ref_rng_unit(&r);
        }
        const double a = 0.02 + 0.5 * ref_rng_unit(&r);
        double lp = 0;
        for (int t = s0; t < n && t < s0 + SEGMENT; t++) {
            double v = 0;
            if (kind == 0) {
                for (int k = 0; k < nf; k++)
                    v += sin(tau * f[k] * t / RATE + ph[k]) / nf;
            } else if (kind == 1) {
                v = ref_rng_sym(&r);
            } else {
                lp += a * (ref_rng_sym(&r) - lp);
                v = lp / sqrt(a);
            }
            x[t] = (float)(level * v);
        }
    }
}

/* The effect: y = tanh(3 lp(x)), lp a one-pole lowpass at 2 kHz (in double). */
static void effect(const float *x, float *y, int n)
{
    const double a = 1.0 - exp(-6.283185307179586 * 2000.0 / RATE);
    double lp = 0;
    for (int t = 0; t < n; t++) {
        lp += a * (x[t] - lp);
        y[t] = (float)tanh(3.0 * lp);
    }
}

int main(void)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 8;
    c.n_layer = N_LAYER;
    c.d_inner = 16;
    c.d_state = D_STATE;
    c.d_conv = 4;
    c.dt_rank = 1;
    c.sample_rate = RATE;
    c.rms_eps = 1e-5f;
    const int nt = (int)(TRAIN_SECONDS * RATE), nv = (int)(VAL_SECONDS * RATE);
    float *xt = malloc(nt * sizeof *xt), *yt = malloc(nt * sizeof *yt);
    float *xv = malloc(nv * sizeof *xv), *yv = malloc(nv * sizeof *yv);
    excitation(xt, nt, 1);
    effect(xt, yt, nt);
    excitation(xv, nv, 2);
    effect(xv, yv, nv);
    ht_data train = {xt, yt, (size_t)nt, 1, 0, NULL}, val = {xv, yv, (size_t)nv, 1, 0, NULL};

    hiss_model *m;
    hiss_error err;
    ht_layout L;
    if (hiss_model_init(&c, 3, &m, &err) != HISS_OK) {
        printf("FAIL: hiss_model_init: %s\n", err.msg);
        return 1;
    }
    if (ht_layout_init(&L, hiss_model_config(m))) {
        printf("FAIL: layout\n");
        return 1;
    }
    float *P = malloc(L.n_params * sizeof *P);
    if (ht_f_params_from_model(&L, m, P, &err)) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    ht_train_opts o = ht_train_opts_default();
    o.window = WINDOW;
    o.warmup = WARMUP;
    o.batch = BATCH;
    o.threads = 2;
    o.seed = 5;
    o.lr = LR;
    o.lr_min = 1e-4;
    const long steps_per_epoch = nt / ((long)o.batch * (o.window - o.warmup));
    o.lr_warmup_steps = steps_per_epoch;
    o.total_steps = steps_per_epoch * EPOCHS;
    ht_f_trainer *tr = ht_f_trainer_create(&L, &o, P);
    if (!tr) {
        printf("FAIL: trainer\n");
        return 1;
    }
    double esr = INFINITY, esr_pe = INFINITY, best = INFINITY;
    ht_eval_engine(m, &val, 0, 0.85, &esr, &esr_pe, NULL, &err);
    printf("%zu parameters, %ld steps of %d windows of %d per epoch; before training: "
           "validation ESR %.4g\n",
           L.n_params, steps_per_epoch, o.batch, o.window, esr);
    for (int e = 1; e <= EPOCHS; e++) {
        ht_step_stats st = {0};
        double loss = 0, tesr = 0;
        for (long s = 0; s < steps_per_epoch; s++) {
            if (ht_f_trainer_step(tr, &train, &st)) {
                printf("FAIL: step\n");
                return 1;
            }
            loss += st.loss / steps_per_epoch;
            tesr += st.esr / steps_per_epoch;
        }
        if (ht_f_params_to_model(&L, P, m, &err) ||
            ht_eval_engine(m, &val, 0, 0.85, &esr, &esr_pe, NULL, &err) != HISS_OK) {
            printf("FAIL: %s\n", err.msg);
            return 1;
        }
        best = esr < best ? esr : best;
        printf("epoch %2d: train loss %.4e, train ESR %.4e | validation ESR %.4e, pre-emph ESR "
               "%.4e (lr %.2g, |g| %.3g)\n",
               e, loss, tesr, esr, esr_pe, st.lr, st.grad_norm);
        fflush(stdout);
    }
    const int ok = esr < ESR_LIMIT;
    printf("%s: validation ESR after %d epochs %.4e (limit %.0e)\n", ok ? "PASS" : "FAIL", EPOCHS,
           esr, ESR_LIMIT);
    ht_f_trainer_free(tr);
    hiss_model_free(m);
    ht_layout_free(&L);
    free(P);
    free(xt);
    free(yt);
    free(xv);
    free(yv);
    return ok ? 0 : 1;
}
