/* One sample of one synth voice: embedding of the previous class plus projected conditioning,
 * the Mamba backbone exactly as the fx step runs it (docs/model-format.md), and the lm_head.
 * Loops run over the output index in a fixed order, so a voice's logits depend only on its state
 * and inputs, never on block sizes or on the other voices. */
#include <math.h>

#include "fastmath.h"
#include "synth_model.h"

#define NC HISS_SYNTH_CLASSES

size_t hiss_synth_scratch_floats(const hiss_synth_model *m)
{
    const hiss_config *c = &m->cfg;
    const size_t dm = c->d_model, di = c->d_inner;
    /* h, r, a | xz (2 di) | xc | dbc | delta | dx | y */
    return 3 * dm + 2 * di + di + (size_t)(c->dt_rank + 2 * c->d_state) + 3 * di + 16;
}

size_t hiss_synth_state_floats(const hiss_synth_model *m)
{
    const hiss_config *c = &m->cfg;
    return (size_t)c->n_layer * ((size_t)(c->d_conv - 1) * c->d_inner + (size_t)c->d_inner * c->d_state);
}

/* y[i] += sum_j wt[j][i] x[j], j in order (the summation order of the engine's CPU step). */
static void matvec_t(float *restrict y, const float *restrict wt, const float *restrict x, int n_in,
                     int n_out)
{
    int j = 0;
    for (; j + 4 <= n_in; j += 4) {
        const float x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
        const float *restrict w0 = wt + (size_t)j * n_out;
        const float *restrict w1 = w0 + n_out, *restrict w2 = w1 + n_out, *restrict w3 = w2 + n_out;
        for (int i = 0; i < n_out; i++)
            y[i] = y[i] + w0[i] * x0 + w1[i] * x1 + w2[i] * x2 + w3[i] * x3;
    }
    for (; j < n_in; j++) {
        const float xj = x[j];
        const float *restrict w = wt + (size_t)j * n_out;
        for (int i = 0; i < n_out; i++)
            y[i] += w[i] * xj;
    }
}

static void rmsnorm(float *restrict out, const float *restrict v, const float *restrict w, int n, float eps)
{
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += v[i] * v[i];
    const float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = v[i] * inv * w[i];
}

/* The backbone: h (the head's output, [d_model]) in, the final normalised residual stream out in
 * the scratch slot returned. The same loop as hiss_cpu_step's, which takes its h from
 * input_proj; kept local until the engine offers the backbone on its own (docs/synth.md). */
static const float *backbone(const hiss_model *m, float *state, float *scratch)
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
            delta[d] = hiss_softplus(delta[d]);
            dx[d] = delta[d] * xc[d];
            y[d] = 0.0f;
        }
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

void hiss_synth_step(const hiss_synth_model *m, float *state, int prev_class, const float *cond,
                     float *logits, float *scratch)
{
    const int dm = m->cfg.d_model;
    prev_class = prev_class < 0 ? 0 : prev_class > NC - 1 ? NC - 1 : prev_class;
    float *h = scratch;
    const float *e = m->emb + (size_t)prev_class * dm;
    for (int i = 0; i < dm; i++)
        h[i] = e[i] + m->cond_b[i];
    matvec_t(h, m->cond_w_t, cond, m->cfg.n_cond, dm);
    const float *o = backbone(m->bb, state, scratch);
    for (int k = 0; k < NC; k++)
        logits[k] = m->lm_b ? m->lm_b[k] : 0.0f;
    matvec_t(logits, m->lm_w_t, o, dm, NC);
}
