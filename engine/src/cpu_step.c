/* One sample through the model, in the order of docs/model-format.md. Every loop runs over the
 * output index with a fixed order of accumulation, so the result of a sample depends only on
 * the state and the input: the same bits whether a block holds 1 or 4096 frames. */
#include <math.h>

#include "cpu_step.h"
#include "cpu_ops.h"
#include "fastmath.h"

/* Built once per instruction set: the extra builds define HISS_CPU_STEP_NAME and skip the
 * size helpers. */
#ifndef HISS_CPU_STEP_NAME
#define HISS_CPU_STEP_NAME hiss_cpu_step
#define HISS_CPU_BACKBONE_NAME hiss_cpu_backbone
#define HISS_CPU_STEP_BASELINE 1
#endif

#ifdef HISS_CPU_STEP_BASELINE
size_t hiss_cpu_scratch_floats(const hiss_config *c)
{
    const size_t dm = c->d_model, di = c->d_inner;
    /* h, r, a | xz (2 di) | xc | dbc | delta | dx | y */
    return 3 * dm + 2 * di + di + (size_t)(c->dt_rank + 2 * c->d_state) + 3 * di + 16;
}

size_t hiss_cpu_state_floats(const hiss_config *c)
{
    return (size_t)c->n_layer * ((size_t)(c->d_conv - 1) * c->d_inner + (size_t)c->d_inner * c->d_state);
}

#endif

const float *HISS_CPU_BACKBONE_NAME(const hiss_model *m, float *state, float delta_scale, float *scratch)
{
    const hiss_config *c = &m->cfg;
    const int dm = c->d_model, di = c->d_inner, ds = c->d_state, dr = c->dt_rank, dc = c->d_conv;
    const int nx = dr + 2 * ds;
    float *h = scratch, *r = h + dm, *a = r + dm, *xz = a + dm, *xc = xz + 2 * di, *dbc = xc + di;
    float *delta = dbc + nx, *dx = delta + di, *y = dx + di;

    for (int i = 0; i < dm; i++)
        r[i] = 0.0f;
    float *st = state;
    for (int l = 0; l < c->n_layer; l++) {
        const hiss_layer *L = &m->layers[l];
        float *hist = st;                       /* [dc-1][di] */
        float *s = st + (size_t)(dc - 1) * di;  /* [ds][di] */
        st = s + (size_t)ds * di;

        for (int i = 0; i < dm; i++)
            r[i] += h[i];
        rmsnorm(a, r, L->norm_w, dm, c->rms_eps);

        for (int i = 0; i < 2 * di; i++)
            xz[i] = 0.0f;
        matvec_t(xz, L->in_proj_t, a, dm, 2 * di);
        const float *xi = xz, *z = xz + di;

        /* Causal depthwise conv over the last d_conv inputs, then shift the history. */
        for (int d = 0; d < di; d++)
            xc[d] = L->conv_b[d];
        for (int k = 0; k < dc - 1; k++) {
            const float *w = L->conv_t + (size_t)k * di, *x = hist + (size_t)k * di;
            for (int d = 0; d < di; d++)
                xc[d] += w[d] * x[d];
        }
        const float *wl = L->conv_t + (size_t)(dc - 1) * di;
        for (int d = 0; d < di; d++)
            xc[d] = hiss_silu(xc[d] + wl[d] * xi[d]);
        for (int k = 0; k + 1 < dc - 1; k++)
            for (int d = 0; d < di; d++)
                hist[(size_t)k * di + d] = hist[(size_t)(k + 1) * di + d];
        if (dc > 1)
            for (int d = 0; d < di; d++)
                hist[(size_t)(dc - 2) * di + d] = xi[d];

        for (int i = 0; i < nx; i++)
            dbc[i] = 0.0f;
        matvec_t(dbc, L->x_proj_t, xc, di, nx);
        const float *B = dbc + dr, *C = dbc + dr + ds;

        for (int d = 0; d < di; d++)
            delta[d] = L->dt_proj_b[d];
        matvec_t(delta, L->dt_proj_t, dbc, dr, di);
        for (int d = 0; d < di; d++) {
            delta[d] = hiss_softplus(delta[d]) * delta_scale;
            dx[d] = delta[d] * xc[d];
            y[d] = 0.0f;
        }

        /* The selective scan, one state row per n, vectorised along d_inner. */
        for (int n = 0; n < ds; n++) {
            const float *An = L->A_t + (size_t)n * di;
            float *sn = s + (size_t)n * di;
            const float Bn = B[n], Cn = C[n];
            for (int d = 0; d < di; d++) {
                const float v = hiss_exp(delta[d] * An[d]) * sn[d] + dx[d] * Bn;
                sn[d] = v;
                y[d] += Cn * v;
            }
        }
        for (int d = 0; d < di; d++)
            y[d] = (y[d] + L->D[d] * xc[d]) * hiss_silu(z[d]);

        for (int i = 0; i < dm; i++)
            h[i] = 0.0f;
        matvec_t(h, L->out_proj_t, y, di, dm);
    }
    for (int i = 0; i < dm; i++)
        r[i] += h[i];
    rmsnorm(a, r, m->norm_f, dm, c->rms_eps);
    return a;
}

float HISS_CPU_STEP_NAME(const hiss_model *m, float *state, const float *u, float delta_scale, float *scratch)
{
    const int dm = m->cfg.d_model;
    float *h = scratch;
    for (int i = 0; i < dm; i++)
        h[i] = m->in_b[i];
    matvec_t(h, m->in_w_t, u, m->n_in, dm);
    const float *a = HISS_CPU_BACKBONE_NAME(m, state, delta_scale, scratch);
    float out = m->out_b[0];
    for (int i = 0; i < dm; i++)
        out += m->out_w[i] * a[i];
    if (m->cfg.skip)
        out += u[0];
    return out;
}
