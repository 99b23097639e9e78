/* The choice of the float training math's instruction set (tools/train/isa.c, hiss_train.h):
 *   1. HISS_TRAIN_ISA with an unknown value is refused, naming the value, and no activations are
 *      made under it (so no trainer runs with a set nobody asked for);
 *   2. unset, the choice is the widest this build and processor allow: every wider set named is
 *      refused;
 *   3. under every set this machine runs, the float gradient of two windows (a d_inner that is
 *      not a whole number of 16-float vectors, a window of three scan checkpoints, the last one
 *      partial) agrees with the double build's to 1e-4 per tensor (the double build is the one
 *      test_train_gradcheck checks against finite differences), and is the same bytes when
 *      computed again.
 * Sets this machine lacks are named as skipped; the test fails when none ran. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hiss_train.h"
#include "ref_rng.h"
#include "train_grad_util.h"

#define T_WIN 70
#define WARM 6
#define N_SAMPLES 300
#define TOL_FLOAT 1e-4

static const char *const names[] = {"baseline", "avx2", "avx512", "native"};

static hiss_config fx_cfg(void)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 12;
    c.n_layer = 2;
    c.d_inner = 24;
    c.d_state = 5;
    c.d_conv = 4;
    c.dt_rank = 1;
    c.n_cond = 1;
    c.skip = 1;
    c.sample_rate = 48000;
    c.rms_eps = 1e-5f;
    return c;
}

typedef struct problem {
    ht_layout L;
    double *P, *Gd;
    float *Pf, *in, *tgt;
    ht_data d;
    ht_train_opts o;
    size_t starts[2];
} problem;

static int problem_init(problem *p)
{
    const hiss_config c = fx_cfg();
    if (ht_layout_init(&p->L, &c))
        return -1;
    const size_t np = p->L.n_params;
    ref_rng r = ref_rng_seed(77);
    p->P = calloc(np, sizeof *p->P);
    p->Gd = calloc(np, sizeof *p->Gd);
    p->Pf = calloc(np, sizeof *p->Pf);
    p->in = calloc((size_t)N_SAMPLES * p->L.n_in, sizeof *p->in);
    p->tgt = calloc(N_SAMPLES, sizeof *p->tgt);
    if (!p->P || !p->Gd || !p->Pf || !p->in || !p->tgt)
        return -1;
    tgrad_random_params(&p->L, p->P, &r);
    for (size_t j = 0; j < np; j++)
        p->Pf[j] = (float)p->P[j];
    double lp = 0;
    for (int t = 0; t < N_SAMPLES; t++) {
        const double x = 0.5 * ref_rng_sym(&r) + 0.3 * sin(0.2 * t);
        p->in[(size_t)t * p->L.n_in] = (float)x;
        p->in[(size_t)t * p->L.n_in + 1] = (float)(0.5 + 0.4 * sin(0.05 * t));
        lp += 0.3 * (x - lp);
        p->tgt[t] = (float)tanh(2.0 * lp);
    }
    p->d = (ht_data){p->in, p->tgt, N_SAMPLES, p->L.n_in, 0, NULL};
    p->o = ht_train_opts_default();
    p->o.window = T_WIN;
    p->o.warmup = WARM;
    p->o.batch = 2;
    p->o.threads = 2;
    p->starts[0] = 3;
    p->starts[1] = 200;
    /* the double reference: baseline always, whatever HISS_TRAIN_ISA says */
    ht_d_trainer *tr = ht_d_trainer_create(&p->L, &p->o, p->P);
    ht_step_stats st;
    const int bad = !tr || ht_d_trainer_grad(tr, &p->d, p->starts, 2, p->Gd, &st);
    ht_d_trainer_free(tr);
    return bad ? -1 : 0;
}

static void problem_free(problem *p)
{
    free(p->P);
    free(p->Gd);
    free(p->Pf);
    free(p->in);
    free(p->tgt);
    ht_layout_free(&p->L);
}

/* The float gradient under the set now selected, into G. 0 or -1. */
static int float_grad(problem *p, float *G)
{
    ht_f_trainer *tr = ht_f_trainer_create(&p->L, &p->o, p->Pf);
    ht_step_stats st;
    const int bad = !tr || ht_f_trainer_grad(tr, &p->d, p->starts, 2, G, &st);
    ht_f_trainer_free(tr);
    return bad ? -1 : 0;
}

static void check_refusals(void)
{
    hiss_error err;
    ht_isa isa;
    const hiss_config c = fx_cfg();
    ht_layout L;
    CHECK(ht_layout_init(&L, &c) == 0, "layout");
    setenv("HISS_TRAIN_ISA", "avx3000", 1);
    CHECK(ht_isa_select(&isa, &err) == -1, "HISS_TRAIN_ISA=avx3000 accepted");
    CHECK(strstr(err.msg, "avx3000") != NULL, "the refusal does not name the value: %s", err.msg);
    printf("  refused: %s\n", err.msg);
    ht_f_acts *a = ht_f_acts_create(&L, 64);
    CHECK(a == NULL, "activations made under an unknown HISS_TRAIN_ISA");
    ht_f_acts_free(a);
    ht_layout_free(&L);

    unsetenv("HISS_TRAIN_ISA");
    ht_isa best;
    CHECK(ht_isa_select(&best, &err) == 0, "no HISS_TRAIN_ISA refused: %s", err.msg);
    printf("  default: %s\n", ht_isa_name(best));
    if (best != HT_ISA_NATIVE)
        for (int k = (int)best + 1; k < HT_ISA_NATIVE; k++) {
            setenv("HISS_TRAIN_ISA", names[k], 1);
            CHECK(ht_isa_select(&isa, &err) == -1, "the default %s is not the widest: %s runs",
                  ht_isa_name(best), names[k]);
        }
    unsetenv("HISS_TRAIN_ISA");
}

int main(void)
{
    check_refusals();
    problem p;
    if (problem_init(&p)) {
        printf("FAIL: setup\n");
        return 1;
    }
    const size_t np = p.L.n_params;
    float *G1 = calloc(np, sizeof *G1), *G2 = calloc(np, sizeof *G2);
    int ran = 0;
    for (int k = 0; k < (int)(sizeof names / sizeof *names); k++) {
        hiss_error err;
        ht_isa isa;
        setenv("HISS_TRAIN_ISA", names[k], 1);
        if (ht_isa_select(&isa, &err)) {
            printf("  %s: skipped (%s)\n", names[k], err.msg);
            continue;
        }
        CHECK(isa == (ht_isa)k && strcmp(ht_isa_name(isa), names[k]) == 0,
              "HISS_TRAIN_ISA=%s selected %s", names[k], ht_isa_name(isa));
        if (float_grad(&p, G1) || float_grad(&p, G2)) {
            CHECK(0, "%s: float trainer", names[k]);
            continue;
        }
        const char *worst_name;
        const double worst = tgrad_float_worst(&p.L, G1, p.Gd, &worst_name);
        CHECK(worst < TOL_FLOAT, "%s: float vs double, %s rel err %.2e", names[k], worst_name,
              worst);
        CHECK(memcmp(G1, G2, np * sizeof *G1) == 0, "%s: the same gradient twice differs",
              names[k]);
        printf("  %s: float vs double worst tensor %s rel err %.2e; again: %s\n", names[k],
               worst_name, worst, memcmp(G1, G2, np * sizeof *G1) ? "differs" : "same bytes");
        ran++;
    }
    unsetenv("HISS_TRAIN_ISA");
    CHECK(ran > 0, "no instruction set ran");
    free(G1);
    free(G2);
    problem_free(&p);
    printf(failures ? "FAIL: %d checks\n" : "every instruction set agrees\n", failures);
    return failures ? 1 : 0;
}
