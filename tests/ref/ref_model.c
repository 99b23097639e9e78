/* Float64 reference of the hiss FX model: the equations of the model format, one sample at a
 * time, written so that every line can be checked against the math. */
#include "ref_model.h"
#include "ref_rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ref_state {
    int n_layer;
    size_t conv_len; /* per layer: (d_conv-1) * d_inner */
    size_t ssm_len;  /* per layer: d_inner * d_state */
    double *conv;    /* [n_layer][d_conv-1][d_inner] */
    double *ssm;     /* [n_layer][d_inner][d_state] */
    double *A;       /* -exp(A_log) of every layer, taken from the model at creation */
    int round_f32;   /* see ref_state_round_f32 */
    /* scratch */
    double *h, *r, *a, *xz, *xc, *dbc, *y;
};

static int add_tensor(ref_model *m, int *cap, const char *name, int ndim, int64_t d0, int64_t d1,
                      int64_t d2)
{
    if (m->n_tensors == *cap) {
        int nc = *cap ? 2 * *cap : 32;
        ref_tensor *t = realloc(m->tensors, (size_t)nc * sizeof *t);
        if (!t)
            return -1;
        m->tensors = t;
        *cap = nc;
    }
    ref_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int64_t dims[3] = {d0, d1, d2};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = dims[i];
        t->numel *= (size_t)dims[i];
    }
    t->data = calloc(t->numel, sizeof(double));
    if (!t->data)
        return -1;
    m->n_tensors++;
    return 0;
}

ref_tensor *ref_model_find(ref_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

static double *view(ref_model *m, const char *name)
{
    ref_tensor *t = ref_model_find(m, name);
    return t ? t->data : NULL;
}

ref_model *ref_model_alloc(const ref_config *cfg)
{
    if (cfg->d_model < 1 || cfg->n_layer < 1 || cfg->d_inner < 1 || cfg->d_state < 1 ||
        cfg->d_conv < 1 || cfg->dt_rank < 1 || cfg->n_cond < 0)
        return NULL;
    ref_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    int cap = 0, fail = 0;
    const int64_t dm = cfg->d_model, di = cfg->d_inner, ds = cfg->d_state;
    char nm[REF_NAME_LEN];
    fail |= add_tensor(m, &cap, "input_proj.weight", 2, dm, 1 + cfg->n_cond, 0);
    fail |= add_tensor(m, &cap, "input_proj.bias", 1, dm, 0, 0);
    for (int i = 0; i < cfg->n_layer && !fail; i++) {
#define LT(suffix, nd, a, b, c)                                                                    \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "backbone.layers.%d.%s", i, suffix);                               \
        fail |= add_tensor(m, &cap, nm, nd, a, b, c);                                              \
    } while (0)
        LT("norm.weight", 1, dm, 0, 0);
        LT("mixer.in_proj.weight", 2, 2 * di, dm, 0);
        LT("mixer.conv1d.weight", 3, di, 1, cfg->d_conv);
        LT("mixer.conv1d.bias", 1, di, 0, 0);
        LT("mixer.x_proj.weight", 2, cfg->dt_rank + 2 * ds, di, 0);
        LT("mixer.dt_proj.weight", 2, di, cfg->dt_rank, 0);
        LT("mixer.dt_proj.bias", 1, di, 0, 0);
        LT("mixer.A_log", 2, di, ds, 0);
        LT("mixer.D", 1, di, 0, 0);
        LT("mixer.out_proj.weight", 2, dm, di, 0);
#undef LT
    }
    fail |= add_tensor(m, &cap, "backbone.norm_f.weight", 1, dm, 0, 0);
    fail |= add_tensor(m, &cap, "output_proj.weight", 2, 1, dm, 0);
    fail |= add_tensor(m, &cap, "output_proj.bias", 1, 1, 0, 0);
    m->layers = calloc((size_t)cfg->n_layer, sizeof *m->layers);
    if (fail || !m->layers) {
        ref_model_free(m);
        return NULL;
    }
    m->in_w = view(m, "input_proj.weight");
    m->in_b = view(m, "input_proj.bias");
    m->norm_f = view(m, "backbone.norm_f.weight");
    m->out_w = view(m, "output_proj.weight");
    m->out_b = view(m, "output_proj.bias");
    for (int i = 0; i < cfg->n_layer; i++) {
        ref_layer *L = &m->layers[i];
#define LV(field, suffix)                                                                          \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "backbone.layers.%d.%s", i, suffix);                               \
        L->field = view(m, nm);                                                                    \
    } while (0)
        LV(norm_w, "norm.weight");
        LV(in_proj, "mixer.in_proj.weight");
        LV(conv_w, "mixer.conv1d.weight");
        LV(conv_b, "mixer.conv1d.bias");
        LV(x_proj, "mixer.x_proj.weight");
        LV(dt_w, "mixer.dt_proj.weight");
        LV(dt_b, "mixer.dt_proj.bias");
        LV(A_log, "mixer.A_log");
        LV(D, "mixer.D");
        LV(out_proj, "mixer.out_proj.weight");
#undef LV
    }
    return m;
}

void ref_model_free(ref_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_tensors; i++)
        free(m->tensors[i].data);
    free(m->tensors);
    free(m->layers);
    free(m);
}

static void fill_sym(ref_rng *g, double *p, size_t n, double center, double scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = center + scale * ref_rng_sym(g);
}

/* softplus^-1(y) = log(exp(y) - 1), written to stay accurate for small y. */
static double inv_softplus(double y)
{
    return y + log(-expm1(-y));
}

ref_model *ref_model_random(const ref_config *cfg, uint64_t seed)
{
    ref_model *m = ref_model_alloc(cfg);
    if (!m)
        return NULL;
    ref_rng g = ref_rng_seed(seed);
    const int dm = cfg->d_model, di = cfg->d_inner, ds = cfg->d_state, dc = cfg->d_conv;
    const int R = cfg->dt_rank, n_in = 1 + cfg->n_cond;
    /* A uniform in [-s, s) has variance s^2/3: s = sqrt(3/fan_in) keeps unit variance. */
    fill_sym(&g, m->in_w, (size_t)dm * n_in, 0.0, 1.0);
    fill_sym(&g, m->in_b, (size_t)dm, 0.0, 0.1);
    for (int i = 0; i < cfg->n_layer; i++) {
        ref_layer *L = &m->layers[i];
        fill_sym(&g, L->norm_w, (size_t)dm, 1.0, 0.2);
        fill_sym(&g, L->in_proj, (size_t)2 * di * dm, 0.0, sqrt(3.0 / dm));
        fill_sym(&g, L->conv_w, (size_t)di * dc, 0.0, sqrt(3.0 / dc));
        fill_sym(&g, L->conv_b, (size_t)di, 0.0, 0.2);
        fill_sym(&g, L->x_proj, (size_t)(R + 2 * ds) * di, 0.0, sqrt(3.0 / di));
        fill_sym(&g, L->dt_w, (size_t)di * R, 0.0, 0.5 / sqrt((double)R));
        for (int d = 0; d < di; d++) {
            double lo = log(1e-3), hi = log(1e-1);
            double dt = exp(lo + (hi - lo) * ref_rng_unit(&g));
            L->dt_b[d] = inv_softplus(dt);
        }
        for (int d = 0; d < di; d++)
            for (int n = 0; n < ds; n++)
                L->A_log[(size_t)d * ds + n] = log((double)(n + 1)) + 0.05 * ref_rng_sym(&g);
        fill_sym(&g, L->D, (size_t)di, 1.0, 0.2);
        /* The residual stream adds one block per layer: shrink each so the sum stays O(1). */
        fill_sym(&g, L->out_proj, (size_t)dm * di, 0.0, sqrt(3.0 / di / cfg->n_layer));
    }
    fill_sym(&g, m->norm_f, (size_t)dm, 1.0, 0.2);
    fill_sym(&g, m->out_w, (size_t)dm, 0.0, sqrt(3.0 / dm));
    fill_sym(&g, m->out_b, 1, 0.0, 0.1);
    return m;
}

ref_state *ref_state_new(const ref_model *m)
{
    const ref_config *c = &m->cfg;
    ref_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->n_layer = c->n_layer;
    st->conv_len = (size_t)(c->d_conv - 1) * c->d_inner;
    st->ssm_len = (size_t)c->d_inner * c->d_state;
    /* +1 keeps calloc from being asked for 0 bytes when d_conv is 1. */
    st->conv = calloc(st->conv_len * c->n_layer + 1, sizeof(double));
    st->ssm = calloc(st->ssm_len * c->n_layer, sizeof(double));
    st->A = calloc(st->ssm_len * c->n_layer, sizeof(double));
    st->h = calloc((size_t)c->d_model, sizeof(double));
    st->r = calloc((size_t)c->d_model, sizeof(double));
    st->a = calloc((size_t)c->d_model, sizeof(double));
    st->xz = calloc((size_t)2 * c->d_inner, sizeof(double));
    st->xc = calloc((size_t)c->d_inner, sizeof(double));
    st->dbc = calloc((size_t)(c->dt_rank + 2 * c->d_state), sizeof(double));
    st->y = calloc((size_t)c->d_inner, sizeof(double));
    if (!st->conv || !st->ssm || !st->A || !st->h || !st->r || !st->a || !st->xz || !st->xc ||
        !st->dbc || !st->y) {
        ref_state_free(st);
        return NULL;
    }
    for (int l = 0; l < c->n_layer; l++)
        for (size_t i = 0; i < st->ssm_len; i++)
            st->A[st->ssm_len * l + i] = -exp(m->layers[l].A_log[i]);
    return st;
}

void ref_state_zero(ref_state *st)
{
    memset(st->conv, 0, st->conv_len * st->n_layer * sizeof(double));
    memset(st->ssm, 0, st->ssm_len * st->n_layer * sizeof(double));
}

void ref_state_round_f32(ref_state *st, int on)
{
    st->round_f32 = on;
}

void ref_state_copy(ref_state *dst, const ref_state *src)
{
    memcpy(dst->conv, src->conv, src->conv_len * src->n_layer * sizeof(double));
    memcpy(dst->ssm, src->ssm, src->ssm_len * src->n_layer * sizeof(double));
}

void ref_state_free(ref_state *st)
{
    if (!st)
        return;
    free(st->conv);
    free(st->ssm);
    free(st->A);
    free(st->h);
    free(st->r);
    free(st->a);
    free(st->xz);
    free(st->xc);
    free(st->dbc);
    free(st->y);
    free(st);
}

static double silu(double v)
{
    return v / (1.0 + exp(-v));
}

static double softplus(double v)
{
    return v > 20.0 ? v : log1p(exp(v));
}

/* out = w * v, w row-major [rows, cols]. */
static void matvec(const double *w, const double *v, double *out, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        const double *wi = w + (size_t)i * cols;
        /* Four partial sums only to shorten the dependency chain (the tests run this a lot);
         * in float64 the order of summation is far below anything the tests measure. */
        double acc[4] = {0.0, 0.0, 0.0, 0.0};
        int j = 0;
        for (; j + 4 <= cols; j += 4)
            for (int q = 0; q < 4; q++)
                acc[q] += wi[j + q] * v[j + q];
        for (; j < cols; j++)
            acc[0] += wi[j] * v[j];
        out[i] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

/* out = rmsnorm(v) * w */
static void rmsnorm(const double *v, const double *w, double *out, int n, double eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += v[i] * v[i];
    double inv = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = v[i] * inv * w[i];
}

double ref_step(const ref_model *m, ref_state *st, const double *u, double delta_scale)
{
    const ref_config *c = &m->cfg;
    const int dm = c->d_model, di = c->d_inner, ds = c->d_state, dc = c->d_conv;
    const int R = c->dt_rank, n_in = 1 + c->n_cond;

    matvec(m->in_w, u, st->h, dm, n_in);
    for (int i = 0; i < dm; i++) {
        st->h[i] += m->in_b[i];
        st->r[i] = 0.0;
    }
    for (int l = 0; l < c->n_layer; l++) {
        const ref_layer *L = &m->layers[l];
        double *hist = st->conv + st->conv_len * l; /* [dc-1][di], oldest first */
        double *s = st->ssm + st->ssm_len * l;      /* [di][ds] */
        const double *Al = st->A + st->ssm_len * l; /* A = -exp(A_log) */
        for (int i = 0; i < dm; i++)
            st->r[i] += st->h[i];
        rmsnorm(st->r, L->norm_w, st->a, dm, c->rms_eps);
        matvec(L->in_proj, st->a, st->xz, 2 * di, dm);
        const double *xi = st->xz, *z = st->xz + di;

        /* Causal depthwise conv over [x_{t-dc+1} .. x_t]: tap k sees x_{t-dc+1+k}. */
        for (int d = 0; d < di; d++) {
            double acc = L->conv_b[d];
            for (int k = 0; k < dc - 1; k++)
                acc += L->conv_w[(size_t)d * dc + k] * hist[(size_t)k * di + d];
            acc += L->conv_w[(size_t)d * dc + dc - 1] * xi[d];
            st->xc[d] = silu(acc);
        }
        for (int k = 0; k + 1 < dc - 1; k++)
            for (int d = 0; d < di; d++)
                hist[(size_t)k * di + d] = hist[(size_t)(k + 1) * di + d];
        if (dc > 1)
            for (int d = 0; d < di; d++)
                hist[(size_t)(dc - 2) * di + d] = xi[d];

        matvec(L->x_proj, st->xc, st->dbc, R + 2 * ds, di);
        const double *dr = st->dbc, *B = st->dbc + R, *C = st->dbc + R + ds;
        for (int d = 0; d < di; d++) {
            double v = L->dt_b[d];
            for (int k = 0; k < R; k++)
                v += L->dt_w[(size_t)d * R + k] * dr[k];
            double delta = softplus(v) * delta_scale;
            double acc = 0.0;
            for (int n = 0; n < ds; n++) {
                double *sp = &s[(size_t)d * ds + n];
                *sp = exp(delta * Al[(size_t)d * ds + n]) * *sp + delta * B[n] * st->xc[d];
                if (st->round_f32)
                    *sp = (float)*sp;
                acc += C[n] * *sp;
            }
            st->y[d] = (acc + L->D[d] * st->xc[d]) * silu(z[d]);
        }
        matvec(L->out_proj, st->y, st->h, dm, di);
    }
    for (int i = 0; i < dm; i++)
        st->r[i] += st->h[i];
    rmsnorm(st->r, m->norm_f, st->a, dm, c->rms_eps);
    double out = m->out_b[0];
    for (int i = 0; i < dm; i++)
        out += m->out_w[i] * st->a[i];
    if (c->skip)
        out += u[0];
    return out;
}
