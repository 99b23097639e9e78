/* What the two heads (fx in net.c, synth in synth_net.c) share: the activations of a window and
 * the backbone between the head's input and norm_f. Compiled once per real type, like ops.h. */
#ifndef HISS_TRAIN_NET_H
#define HISS_TRAIN_NET_H

#include "ops.h"

struct HT_FN(acts) {
    const HT_FN(ops) *ops; /* the compilation of the ops this window runs (ops.h) */
    int Tmax;              /* the window the arena was carved for */
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
    real *Sck;   /* [L][nck, N, di] SSM state at the end of every Kc steps (ops.h) */
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
    real *Sbuf, *Abuf;                              /* [Kc, N, di]: the scan's chunk */
    int Kc, nck; /* the scan's steps per checkpoint, and checkpoints per layer (for Tmax) */
    real *gs;                                       /* [di] */
    real *wt;                                       /* the largest weight matrix */
};

/* The float windows run with denormals flushed to zero (FTZ/DAZ, as the engine's streams): the
 * gradient that flows back through a window's warm-up, where the loss adds none, and a state
 * that decays through quiet input both shrink into subnormals, which cost about 100 times a
 * normal operation on x86 and change nothing a float can hold next to a normal value. The double
 * build (the gradient check) keeps gradual underflow. */
#ifdef HT_DOUBLE
typedef int ht_fpguard;
static inline ht_fpguard ht_fp_enter(void)
{
    return 0;
}
static inline void ht_fp_leave(ht_fpguard g)
{
    (void)g;
}
#else
typedef hiss_fpguard ht_fpguard;
#define ht_fp_enter hiss_fp_enter
#define ht_fp_leave hiss_fp_leave
#endif

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
