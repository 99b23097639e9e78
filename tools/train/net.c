/* The whole network over one window: forward keeping every activation backward needs, and
 * backward through time. Layer by layer over the whole window (the layers do not feed back, so
 * this is the same arithmetic as the engine's sample-by-sample step, in a different order).
 * The backbone (layers and norm_f) is shared by the fx head (input_proj / output_proj, here) and
 * the synth head (synth_net.c); it can start from a given state, so that a note can be trained
 * in chunks with the state carried from one to the next.
 *
 * Memory per window, in reals (ht_acts_reals), with dm = d_model, di = d_inner, N = d_state,
 * R = dt_rank, L = n_layer, Kc the scan's steps per checkpoint (scan_chunk, 8 to 32):
 *   T * (n_in + (L+1)(dm+1) + dm + L (dm + 8 di + R + 2N)) + L ceil(T / Kc) di N   activations
 * + T * (3 dm + 8 di + R + 2N) + (2 Kc + L + 2) di N + di + max(|W|, 2 K di)     scratch
 * (the SSM state is kept at checkpoints only, ops.h): an fx model of d_model 16, 2 layers,
 * d_state 16, T 4096 is about 4.3 M reals (17 MB in float) per thread; d_model 64, 4 layers,
 * T 8192 about 55 M. */
#include <stdlib.h>
#include <string.h>

#include "net.h"

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

/* Steps per checkpoint of the scan: its chunk (states and decay factors, 2 Kc N di floats) at
 * most 256 KB, within a core's cache, and at most 32 steps (more saves nothing, and the gradient
 * checks' windows of 48 then cross a checkpoint). The results do not depend on it. The same for
 * float and double (ht_acts_reals counts reals). */
static int scan_chunk(const ht_layout *L)
{
    const size_t k = 256 * 1024 / (2 * (size_t)L->d_inner * L->d_state * sizeof(float));
    return k < 8 ? 8 : k > 32 ? 32 : (int)k;
}

static size_t layout_acts(const ht_layout *L, int T, struct HT_FN(acts) *a, real *base)
{
    carver c = {base, 0};
    a->Kc = scan_chunk(L);
    a->nck = (T + a->Kc - 1) / a->Kc;
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
    a->Sck = carve(&c, Lr * (size_t)a->nck * di * N);
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
    a->Sbuf = carve(&c, (size_t)a->Kc * di * N);
    a->Abuf = carve(&c, (size_t)a->Kc * di * N);
    a->gs = carve(&c, di);
    size_t wmax = dm * (size_t)L->n_in;
    const size_t wsz[6] = {2 * di * dm, nbc * di, di * (size_t)L->dt_rank, dm * di,
                           L->synth ? (size_t)HISS_SYNTH_CLASSES * dm : 0,
                           2 * (size_t)L->d_conv * di};
    for (int k = 0; k < 6; k++)
        wmax = wsz[k] > wmax ? wsz[k] : wmax;
    a->wt = carve(&c, wmax);
    a->st0 = carve(&c, ht_state_reals(L));
    a->logits = L->synth ? carve(&c, t * HISS_SYNTH_CLASSES) : NULL;
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
#ifdef HT_DOUBLE
    const HT_FN(ops) *ops = &HT_FN(ops_base);
#else
    ht_isa isa;
    if (ht_isa_select(&isa, NULL))
        return NULL;
    const HT_FN(ops) *ops = ht_f_ops_for(isa);
#endif
    HT_FN(acts) *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->ops = ops;
    const size_t n = layout_acts(L, T, a, NULL);
    a->arena = calloc(n, sizeof(real));
    if (!a->arena) {
        free(a);
        return NULL;
    }
    layout_acts(L, T, a, a->arena);
    a->Tmax = a->T = T;
    if (L->synth && !(a->cls = calloc((size_t)T, 1))) {
        HT_FN(acts_free)(a);
        return NULL;
    }
    return a;
}

void HT_FN(acts_free)(HT_FN(acts) *a)
{
    if (!a)
        return;
    free(a->arena);
    free(a->cls);
    free(a);
}

void HT_FN(backbone_forward)(const ht_layout *L, const real *P, HT_FN(acts) *a, int T,
                             const real *state0)
{
    const int dm = L->d_model, di = L->d_inner, N = L->d_state, R = L->dt_rank, K = L->d_conv;
    const int nbc = R + 2 * N;
    const size_t tdm = (size_t)T * dm, tdi = (size_t)T * di;
    const size_t lst = (size_t)(K - 1) * di + (size_t)N * di; /* one layer's state */
    a->T = T;
    a->has_st0 = state0 != NULL;
    if (state0)
        memcpy(a->st0, state0, ht_state_reals(L) * sizeof(real));
    for (int l = 0; l < L->n_layer; l++) {
        const ht_layer_off *o = &L->layer[l];
        real *r = a->r + l * tdm, *an = a->an + l * tdm, *xz = a->xz + l * 2 * tdi;
        real *xcp = a->xcp + l * tdi, *xc = a->xc + l * tdi, *dbc = a->dbc + l * (size_t)T * nbc;
        real *dtp = a->dtp + l * tdi, *delta = a->delta + l * tdi;
        real *A = a->A + (size_t)l * di * N, *S = a->Sck + (size_t)l * a->nck * di * N;
        real *yssm = a->yssm + l * tdi, *y = a->y + l * tdi;
        const real *hist = state0 ? a->st0 + l * lst : NULL;
        const real *s0 = state0 ? a->st0 + l * lst + (size_t)(K - 1) * di : NULL;
        a->ops->rmsnorm_forward(an, a->rstd + (size_t)l * T, r, P + o->norm_w, T, dm,
                                (real)L->eps);
        a->ops->linear_forward(xz, 2 * di, an, dm, P + o->in_proj, NULL, T, dm, 2 * di, a->wt);
        a->ops->conv_forward(xcp, xz, 2 * di, hist, P + o->conv_w, P + o->conv_b, T, di, K,
                             a->wt);
        a->ops->silu_forward(xc, xcp, tdi);
        a->ops->linear_forward(dbc, nbc, xc, di, P + o->x_proj, NULL, T, di, nbc, a->wt);
        a->ops->linear_forward(dtp, di, dbc, nbc, P + o->dt_w, P + o->dt_b, T, R, di, a->wt);
        a->ops->softplus_forward(delta, dtp, tdi);
        a->ops->alog_forward(A, P + o->A_log, di, N);
        a->ops->scan_forward(yssm, S, a->Sbuf, xc, delta, A, dbc + R, nbc, P + o->D, s0, T, di,
                             N, a->Kc);
        a->ops->gate_forward(y, yssm, xz + di, 2 * di, T, di);
        a->ops->linear_forward(a->h, dm, y, di, P + o->out_proj, NULL, T, di, dm, a->wt);
        real *rn = r + tdm;
        for (size_t i = 0; i < tdm; i++)
            rn[i] = r[i] + a->h[i];
    }
    const real *rf = a->r + (size_t)L->n_layer * tdm;
    a->ops->rmsnorm_forward(a->of, a->rstd + (size_t)L->n_layer * T, rf, P + L->norm_f, T, dm,
                            (real)L->eps);
}

void HT_FN(forward)(const ht_layout *L, const real *P, HT_FN(acts) *a, const real *in, real *out)
{
    const int T = a->Tmax, dm = L->d_model;
    const ht_fpguard fpg = ht_fp_enter();
    memcpy(a->in, in, (size_t)T * L->n_in * sizeof(real));
    /* r = 0 + h_in: the input projection is the residual stream entering layer 0 */
    a->ops->linear_forward(a->r, dm, a->in, L->n_in, P + L->in_w, P + L->in_b, T, L->n_in, dm,
                           a->wt);
    HT_FN(backbone_forward)(L, P, a, T, NULL);
    a->ops->linear_forward(out, 1, a->of, dm, P + L->out_w, P + L->out_b, T, dm, 1, a->wt);
    if (L->skip)
        for (int t = 0; t < T; t++)
            out[t] += a->in[(size_t)t * L->n_in];
    ht_fp_leave(fpg);
}

static void zero(real *p, size_t n)
{
    memset(p, 0, n * sizeof *p);
}

void HT_FN(backbone_backward)(const ht_layout *L, const real *P, HT_FN(acts) *a, real *dof,
                              real *G)
{
    const int T = a->T, dm = L->d_model, di = L->d_inner, N = L->d_state, R = L->dt_rank;
    const int K = L->d_conv, nbc = R + 2 * N;
    const size_t tdm = (size_t)T * dm, tdi = (size_t)T * di;
    const size_t lst = (size_t)(K - 1) * di + (size_t)N * di;
    zero(a->dr, tdm);
    a->ops->rmsnorm_backward(a->dr, G + L->norm_f, dof, a->r + (size_t)L->n_layer * tdm,
                             a->rstd + (size_t)L->n_layer * T, P + L->norm_f, T, dm);
    for (int l = L->n_layer - 1; l >= 0; l--) {
        const ht_layer_off *o = &L->layer[l];
        const real *r = a->r + l * tdm, *an = a->an + l * tdm, *xz = a->xz + l * 2 * tdi;
        const real *xcp = a->xcp + l * tdi, *xc = a->xc + l * tdi;
        const real *dbc = a->dbc + l * (size_t)T * nbc;
        const real *dtp = a->dtp + l * tdi, *delta = a->delta + l * tdi;
        const real *A = a->A + (size_t)l * di * N, *S = a->Sck + (size_t)l * a->nck * di * N;
        const real *yssm = a->yssm + l * tdi, *y = a->y + l * tdi;
        const real *hist = a->has_st0 ? a->st0 + l * lst : NULL;
        const real *s0 = a->has_st0 ? a->st0 + l * lst + (size_t)(K - 1) * di : NULL;
        /* r_{l+1} = r_l + h_l: dr is d loss / d r_{l+1}, which is both dh_l and the residual
         * path's share of d r_l; the norm path adds to it at the end. */
        zero(a->dy, tdi);
        a->ops->linear_backward(a->dy, di, G + o->out_proj, NULL, a->dr, dm, y, di, P + o->out_proj,
                                T, di, dm);
        zero(a->dxz, 2 * tdi);
        zero(a->dyssm, tdi);
        a->ops->gate_backward(a->dyssm, a->dxz + di, 2 * di, a->dy, yssm, xz + di, 2 * di, T, di);
        zero(a->dxc, tdi);
        zero(a->ddelta, tdi);
        zero(a->ddbc, (size_t)T * nbc);
        zero(a->dA, (size_t)di * N);
        a->ops->scan_backward(a->dxc, a->ddelta, a->dA, a->ddbc + R, G + o->D, a->ds, a->gs,
                              a->dyssm, S, a->Sbuf, a->Abuf, xc, delta, A, dbc + R, nbc,
                              P + o->D, s0, T, di, N, a->Kc);
        a->ops->alog_backward(G + o->A_log, a->dA, A, di, N);
        zero(a->ddtp, tdi);
        a->ops->softplus_backward(a->ddtp, a->ddelta, dtp, tdi);
        a->ops->linear_backward(a->ddbc, nbc, G + o->dt_w, G + o->dt_b, a->ddtp, di, dbc, nbc,
                                P + o->dt_w, T, R, di);
        a->ops->linear_backward(a->dxc, di, G + o->x_proj, NULL, a->ddbc, nbc, xc, di,
                                P + o->x_proj, T, di, nbc);
        zero(a->dxcp, tdi);
        a->ops->silu_backward(a->dxcp, a->dxc, xcp, tdi);
        a->ops->conv_backward(a->dxz, 2 * di, G + o->conv_w, G + o->conv_b, a->dxcp, xz, 2 * di,
                              hist, P + o->conv_w, T, di, K, a->wt);
        real *dan = a->dtmp;
        zero(dan, tdm);
        a->ops->linear_backward(dan, dm, G + o->in_proj, NULL, a->dxz, 2 * di, an, dm,
                                P + o->in_proj, T, dm, 2 * di);
        a->ops->rmsnorm_backward(a->dr, G + o->norm_w, dan, r, a->rstd + (size_t)l * T,
                                 P + o->norm_w, T, dm);
    }
}

void HT_FN(backward)(const ht_layout *L, const real *P, HT_FN(acts) *a, const real *dout, real *G)
{
    const int T = a->T, dm = L->d_model;
    const ht_fpguard fpg = ht_fp_enter();
    /* the skip adds the input, which has no parameters and needs no gradient */
    real *dof = a->dtmp;
    zero(dof, (size_t)T * dm);
    a->ops->linear_backward(dof, dm, G + L->out_w, G + L->out_b, dout, 1, a->of, dm, P + L->out_w,
                            T, dm, 1);
    HT_FN(backbone_backward)(L, P, a, dof, G);
    a->ops->linear_backward(NULL, 0, G + L->in_w, G + L->in_b, a->dr, dm, a->in, L->n_in,
                            P + L->in_w, T, L->n_in, dm);
    ht_fp_leave(fpg);
}

void HT_FN(state_out)(const ht_layout *L, const HT_FN(acts) *a, real *state)
{
    const int T = a->T, di = L->d_inner, N = L->d_state, K = L->d_conv;
    const size_t tdi = (size_t)T * di, lst = (size_t)(K - 1) * di + (size_t)N * di;
    for (int l = 0; l < L->n_layer; l++) {
        const real *xz = a->xz + l * 2 * tdi;
        const real *hist0 = a->st0 + l * lst;
        real *hist = state + l * lst;
        /* the last K-1 conv inputs of (old history, then this window's xi) */
        for (int j = 0; j < K - 1; j++) {
            const long i = (long)T + j; /* index in that concatenation */
            for (int d = 0; d < di; d++)
                hist[(size_t)j * di + d] =
                    i >= K - 1 ? xz[(size_t)(i - (K - 1)) * 2 * di + d]
                               : (a->has_st0 ? hist0[(size_t)i * di + d] : 0);
        }
        memcpy(hist + (size_t)(K - 1) * di,
               a->Sck + ((size_t)l * a->nck + (size_t)(T - 1) / a->Kc) * N * di,
               (size_t)N * di * sizeof(real));
    }
}
