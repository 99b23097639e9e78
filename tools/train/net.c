/* The whole network over one window: forward keeping every activation backward needs, and
 * backward through time. Layer by layer over the whole window (the layers do not feed back, so
 * this is the same arithmetic as the engine's sample-by-sample step, in a different order).
 *
 * Memory per window, in reals (ht_acts_reals), with dm = d_model, di = d_inner, N = d_state,
 * R = dt_rank, L = n_layer:
 *   T * (n_in + (L+1)(dm+1) + dm + L (dm + 8 di + R + 2N + di N))     activations
 * + T * (3 dm + 8 di + R + 2N) + (L+2) di N + di + max |W|           scratch
 * The L T di N term (every SSM state) dominates: d_model 16, 2 layers, d_state 16, T 4096 is
 * about 6.8 M reals (27 MB in float) per thread; d_model 64, 4 layers, T 8192 about 0.43 G. */
#include <stdlib.h>
#include <string.h>

#include "ops.h"

struct HT_FN(acts) {
    int T;
    real *arena;
    /* activations */
    real *in;    /* [T, n_in] */
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
    /* scratch */
    real *h, *dr, *dtmp;                            /* [T, dm] */
    real *dy, *dyssm, *dxc, *dxcp, *ddelta, *ddtp;  /* [T, di] */
    real *dxz;                                      /* [T, 2 di] */
    real *ddbc;                                     /* [T, R + 2N] */
    real *dA, *ds;                                  /* [N, di] */
    real *gs;                                       /* [di] */
    real *wt;                                       /* the largest weight matrix */
};

typedef struct carver {
    real *base;
    size_t used;
} carver;

static real *carve(carver *c, size_t n)
{
    real *p = c->base ? c->base + c->used : NULL;
    c->used += n;
    return p;
}

static size_t layout_acts(const ht_layout *L, int T, struct HT_FN(acts) *a, real *base)
{
    carver c = {base, 0};
    const size_t t = (size_t)T, Lr = (size_t)L->n_layer, dm = (size_t)L->d_model,
                 di = (size_t)L->d_inner, N = (size_t)L->d_state,
                 nbc = (size_t)L->dt_rank + 2 * N;
    a->in = carve(&c, t * (size_t)L->n_in);
    a->r = carve(&c, (Lr + 1) * t * dm);
    a->rstd = carve(&c, (Lr + 1) * t);
    a->an = carve(&c, Lr * t * dm);
    a->xz = carve(&c, Lr * t * 2 * di);
    a->xcp = carve(&c, Lr * t * di);
    a->xc = carve(&c, Lr * t * di);
    a->dbc = carve(&c, Lr * t * nbc);
    a->dtp = carve(&c, Lr * t * di);
    a->delta = carve(&c, Lr * t * di);
    a->A = carve(&c, Lr * di * N);
    a->S = carve(&c, Lr * t * di * N);
    a->yssm = carve(&c, Lr * t * di);
    a->y = carve(&c, Lr * t * di);
    a->of = carve(&c, t * dm);
    a->h = carve(&c, t * dm);
    a->dr = carve(&c, t * dm);
    a->dtmp = carve(&c, t * dm);
    a->dy = carve(&c, t * di);
    a->dyssm = carve(&c, t * di);
    a->dxc = carve(&c, t * di);
    a->dxcp = carve(&c, t * di);
    a->ddelta = carve(&c, t * di);
    a->ddtp = carve(&c, t * di);
    a->dxz = carve(&c, t * 2 * di);
    a->ddbc = carve(&c, t * nbc);
    a->dA = carve(&c, di * N);
    a->ds = carve(&c, di * N);
    a->gs = carve(&c, di);
    size_t wmax = dm * (size_t)L->n_in;
    const size_t wsz[4] = {2 * di * dm, nbc * di, di * (size_t)L->dt_rank, dm * di};
    for (int k = 0; k < 4; k++)
        wmax = wsz[k] > wmax ? wsz[k] : wmax;
    a->wt = carve(&c, wmax);
    return c.used;
}

#ifndef HT_DOUBLE
/* Independent of the real type: defined in the float compilation only. */
size_t ht_acts_reals(const ht_layout *L, int T)
{
    struct HT_FN(acts) a;
    return layout_acts(L, T, &a, NULL);
}
#endif

HT_FN(acts) *HT_FN(acts_create)(const ht_layout *L, int T)
{
    if (T < 1)
        return NULL;
    HT_FN(acts) *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    const size_t n = layout_acts(L, T, a, NULL);
    a->arena = calloc(n, sizeof(real));
    if (!a->arena) {
        free(a);
        return NULL;
    }
    layout_acts(L, T, a, a->arena);
    a->T = T;
    return a;
}

void HT_FN(acts_free)(HT_FN(acts) *a)
{
    if (!a)
        return;
    free(a->arena);
    free(a);
}

void HT_FN(forward)(const ht_layout *L, const real *P, HT_FN(acts) *a, const real *in, real *out)
{
    const int T = a->T, dm = L->d_model, di = L->d_inner, N = L->d_state, R = L->dt_rank;
    const int nbc = R + 2 * N;
    const size_t tdm = (size_t)T * dm, tdi = (size_t)T * di;
    memcpy(a->in, in, (size_t)T * L->n_in * sizeof(real));
    /* r = 0 + h_in: the input projection is the residual stream entering layer 0 */
    HT_FN(linear_forward)(a->r, dm, a->in, L->n_in, P + L->in_w, P + L->in_b, T, L->n_in, dm,
                          a->wt);
    for (int l = 0; l < L->n_layer; l++) {
        const ht_layer_off *o = &L->layer[l];
        real *r = a->r + l * tdm, *an = a->an + l * tdm, *xz = a->xz + l * 2 * tdi;
        real *xcp = a->xcp + l * tdi, *xc = a->xc + l * tdi, *dbc = a->dbc + l * (size_t)T * nbc;
        real *dtp = a->dtp + l * tdi, *delta = a->delta + l * tdi;
        real *A = a->A + (size_t)l * di * N, *S = a->S + l * tdi * N;
        real *yssm = a->yssm + l * tdi, *y = a->y + l * tdi;
        HT_FN(rmsnorm_forward)(an, a->rstd + (size_t)l * T, r, P + o->norm_w, T, dm,
                               (real)L->eps);
        HT_FN(linear_forward)(xz, 2 * di, an, dm, P + o->in_proj, NULL, T, dm, 2 * di, a->wt);
        HT_FN(conv_forward)(xcp, xz, 2 * di, P + o->conv_w, P + o->conv_b, T, di, L->d_conv);
        HT_FN(silu_forward)(xc, xcp, tdi);
        HT_FN(linear_forward)(dbc, nbc, xc, di, P + o->x_proj, NULL, T, di, nbc, a->wt);
        HT_FN(linear_forward)(dtp, di, dbc, nbc, P + o->dt_w, P + o->dt_b, T, R, di, a->wt);
        HT_FN(softplus_forward)(delta, dtp, tdi);
        HT_FN(alog_forward)(A, P + o->A_log, di, N);
        HT_FN(scan_forward)(yssm, S, xc, delta, A, dbc + R, nbc, P + o->D, T, di, N);
        HT_FN(gate_forward)(y, yssm, xz + di, 2 * di, T, di);
        HT_FN(linear_forward)(a->h, dm, y, di, P + o->out_proj, NULL, T, di, dm, a->wt);
        real *rn = r + tdm;
        for (size_t i = 0; i < tdm; i++)
            rn[i] = r[i] + a->h[i];
    }
    const real *rf = a->r + (size_t)L->n_layer * tdm;
    HT_FN(rmsnorm_forward)(a->of, a->rstd + (size_t)L->n_layer * T, rf, P + L->norm_f, T, dm,
                           (real)L->eps);
    HT_FN(linear_forward)(out, 1, a->of, dm, P + L->out_w, P + L->out_b, T, dm, 1, a->wt);
    if (L->skip)
        for (int t = 0; t < T; t++)
            out[t] += a->in[(size_t)t * L->n_in];
}

static void zero(real *p, size_t n)
{
    memset(p, 0, n * sizeof *p);
}

void HT_FN(backward)(const ht_layout *L, const real *P, HT_FN(acts) *a, const real *dout, real *G)
{
    const int T = a->T, dm = L->d_model, di = L->d_inner, N = L->d_state, R = L->dt_rank;
    const int nbc = R + 2 * N;
    const size_t tdm = (size_t)T * dm, tdi = (size_t)T * di;
    /* the skip adds the input, which has no parameters and needs no gradient */
    real *dof = a->dtmp;
    zero(dof, tdm);
    HT_FN(linear_backward)(dof, dm, G + L->out_w, G + L->out_b, dout, 1, a->of, dm, P + L->out_w,
                           T, dm, 1);
    zero(a->dr, tdm);
    HT_FN(rmsnorm_backward)(a->dr, G + L->norm_f, dof, a->r + (size_t)L->n_layer * tdm,
                            a->rstd + (size_t)L->n_layer * T, P + L->norm_f, T, dm);
    for (int l = L->n_layer - 1; l >= 0; l--) {
        const ht_layer_off *o = &L->layer[l];
        const real *r = a->r + l * tdm, *an = a->an + l * tdm, *xz = a->xz + l * 2 * tdi;
        const real *xcp = a->xcp + l * tdi, *xc = a->xc + l * tdi;
        const real *dbc = a->dbc + l * (size_t)T * nbc;
        const real *dtp = a->dtp + l * tdi, *delta = a->delta + l * tdi;
        const real *A = a->A + (size_t)l * di * N, *S = a->S + l * tdi * N;
        const real *yssm = a->yssm + l * tdi, *y = a->y + l * tdi;
        /* r_{l+1} = r_l + h_l: dr is d loss / d r_{l+1}, which is both dh_l and the residual
         * path's share of d r_l; the norm path adds to it at the end. */
        zero(a->dy, tdi);
        HT_FN(linear_backward)(a->dy, di, G + o->out_proj, NULL, a->dr, dm, y, di, P + o->out_proj,
                               T, di, dm);
        zero(a->dxz, 2 * tdi);
        zero(a->dyssm, tdi);
        HT_FN(gate_backward)(a->dyssm, a->dxz + di, 2 * di, a->dy, yssm, xz + di, 2 * di, T, di);
        zero(a->dxc, tdi);
        zero(a->ddelta, tdi);
        zero(a->ddbc, (size_t)T * nbc);
        zero(a->dA, (size_t)di * N);
        HT_FN(scan_backward)(a->dxc, a->ddelta, a->dA, a->ddbc + R, G + o->D, a->ds, a->gs,
                             a->dyssm, S, xc, delta, A, dbc + R, nbc, P + o->D, T, di, N);
        HT_FN(alog_backward)(G + o->A_log, a->dA, A, di, N);
        zero(a->ddtp, tdi);
        HT_FN(softplus_backward)(a->ddtp, a->ddelta, dtp, tdi);
        HT_FN(linear_backward)(a->ddbc, nbc, G + o->dt_w, G + o->dt_b, a->ddtp, di, dbc, nbc,
                               P + o->dt_w, T, R, di);
        HT_FN(linear_backward)(a->dxc, di, G + o->x_proj, NULL, a->ddbc, nbc, xc, di,
                               P + o->x_proj, T, di, nbc);
        zero(a->dxcp, tdi);
        HT_FN(silu_backward)(a->dxcp, a->dxc, xcp, tdi);
        HT_FN(conv_backward)(a->dxz, 2 * di, G + o->conv_w, G + o->conv_b, a->dxcp, xz, 2 * di,
                             P + o->conv_w, T, di, L->d_conv);
        real *dan = a->dtmp;
        zero(dan, tdm);
        HT_FN(linear_backward)(dan, dm, G + o->in_proj, NULL, a->dxz, 2 * di, an, dm,
                               P + o->in_proj, T, dm, 2 * di);
        HT_FN(rmsnorm_backward)(a->dr, G + o->norm_w, dan, r, a->rstd + (size_t)l * T,
                                P + o->norm_w, T, dm);
    }
    HT_FN(linear_backward)(NULL, 0, G + L->in_w, G + L->in_b, a->dr, dm, a->in, L->n_in,
                           P + L->in_w, T, L->n_in, dm);
}
