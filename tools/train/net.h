/* What the two heads (fx in net.c, synth in synth_net.c) share: the activations of a window and
 * the backbone between the head's input and norm_f. Compiled once per real type, like ops.h. */
#ifndef HISS_TRAIN_NET_H
#define HISS_TRAIN_NET_H

#include "ops.h"

struct HT_FN(acts) {
    int Tmax; /* the window the arena was carved for */
    int T;    /* samples of the last forward (<= Tmax); the strides below use it */
    real *arena;
    /* activations */
    real *in;    /* [T, n_in] fx: the input frames; synth: the conditioning values */
    real *r;     /* [L+1][T, dm] residual stream entering layer l; r[L] enters norm_f */
    real *rstd;  /* [L+1][T] */
    real *an;    /* [L][T, dm] normed input of the mixer */
    real *xz;    /* [L][T, 2 di] in_proj output: xi then z */
    real *xcp;   /* [L][T, di] conv output before silu */
    real *xc;    /* [L][T, di] */
    real *dbc;   /* [L][T, R + 2N] x_proj output: dt, B, C */
    real *dtp;   /* [L][T, di] dt_proj output before softplus */
    real *delta; /* [L][T, di] */
    real *A;     /* [L][N, di] -exp(A_log), transposed */
    real *S;     /* [L][T, N, di] SSM state after each step */
    real *yssm;  /* [L][T, di] scan output before the gate */
    real *y;     /* [L][T, di] gated */
    real *of;    /* [T, dm] norm_f output */
    real *st0;   /* [state] the state the window started from (when has_st0) */
    int has_st0;
    real *logits;       /* synth: [T, 256], then their gradient */
    unsigned char *cls; /* synth: [T] the previous classes (the embedding's indices) */
    /* scratch */
    real *h, *dr, *dtmp;                            /* [T, dm] */
    real *dy, *dyssm, *dxc, *dxcp, *ddelta, *ddtp;  /* [T, di] */
    real *dxz;                                      /* [T, 2 di] */
    real *ddbc;                                     /* [T, R + 2N] */
    real *dA, *ds;                                  /* [N, di] */
    real *gs;                                       /* [di] */
    real *wt;                                       /* the largest weight matrix */
    real *wt2;                                      /* synth: another, for lm_head's backward */
};

/* The backbone over the first T samples of the window: a->r[0 .. T dm) holds the head's output
 * (the residual stream entering layer 0) on entry, a->of the norm_f output on return. state0: the
 * model state before the first sample (copied into the acts), NULL for zero. */
void HT_FN(backbone_forward)(const ht_layout *L, const real *P, HT_FN(acts) *a, int T,
                             const real *state0);
/* dof [T, dm] is d loss / d of (it may be a->dtmp, which is then overwritten); the parameter
 * gradients are added to G, and a->dr receives d loss / d r_0. */
void HT_FN(backbone_backward)(const ht_layout *L, const real *P, HT_FN(acts) *a, real *dof,
                              real *G);

#endif
