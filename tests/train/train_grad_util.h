/* What the trainers' gradient checks (test_train_gradcheck.c, fx; test_train_synth_grad.c,
 * synth) share: parameters away from any special value, the central-difference comparison of a
 * tensor's gradient, and the float build's gradient against the double one. */
#ifndef HISS_TEST_TRAIN_GRAD_UTIL_H
#define HISS_TEST_TRAIN_GRAD_UTIL_H

#include <stddef.h>

#include "hiss_train.h"
#include "ref_rng.h"

/* Parameters away from the initialisation (norm weights and D not 1, biases not 0, a larger
 * delta), so that no term of the backward hides behind a special value. */
void tgrad_random_params(const ht_layout *L, double *P, ref_rng *r);

/* The loss at the current parameters (the caller's trainer reads P). */
typedef double (*tgrad_loss_fn)(void *ctx);

/* The analytic gradient G at the elements idx[0..n) of P against central differences of loss
 * with step h: |G - fd| / max(|G|, |fd|) over those elements (INFINITY when both are 0); *g_norm
 * gets |G| over them. P is restored. */
double tgrad_fd_rel_err(double *P, const double *G, const size_t *idx, int n, double h,
                        tgrad_loss_fn loss, void *ctx, double *g_norm);

/* The float gradient Gf against the double one Gd, tensor by tensor (|Gf - Gd| / |Gd|): the
 * worst relative error and *name its tensor. */
double tgrad_float_worst(const ht_layout *L, const float *Gf, const double *Gd, const char **name);

/* The float build's instruction set (HISS_TRAIN_ISA; tests/train.cmake runs each check under
 * each set): 0 with its name printed, or 77 (ctest's skip code) with the reason printed when this
 * CPU lacks the set asked for. */
int tgrad_isa_or_skip(void);

#endif
