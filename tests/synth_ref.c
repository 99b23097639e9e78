/* The synth equations in float64, one loop per formula of docs/synth.md, favouring plainness
 * over speed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth_ref.h"

typedef struct ref_layer {
    double *norm, *in_proj, *conv_w, *conv_b, *x_proj, *dt_w, *dt_b, *A, *D, *out_proj;
    double *hist;  /* [d_conv][d_inner]: the last d_conv inputs xi, oldest first */
    double *s;     /* [d_inner][d_state] */
} ref_layer;

struct synth_ref {
    int dm, nl, di, ds, dc, dr, nc, has_bias;
    double eps;
    double *emb, *cond_w, *cond_b, *norm_f, *lm_w, *lm_b;
    ref_layer *L;
    double *h, *r, *a, *xz, *xc, *dbc, *delta, *y;
};

static double *copy(const hiss_synth_model *m, const char *name, size_t want)
{
    hiss_tensor t = hiss_synth_model_tensor_by_name(m, name);
    if (!t.data || t.numel != want) {
        fprintf(stderr, "synth_ref: tensor %s missing or of %zu values, expected %zu\n", name, t.numel, want);
        exit(2);
    }
    double *d = malloc(want * sizeof *d);
    for (size_t i = 0; i < want; i++)
        d[i] = t.data[i];
    return d;
}

synth_ref *synth_ref_new(const hiss_synth_model *m)
{
    const hiss_config *c = hiss_synth_model_config(m);
    synth_ref *r = calloc(1, sizeof *r);
    r->dm = c->d_model;
    r->nl = c->n_layer;
    r->di = c->d_inner;
    r->ds = c->d_state;
    r->dc = c->d_conv;
    r->dr = c->dt_rank;
    r->nc = c->n_cond;
    r->eps = c->rms_eps;
    const size_t dm = r->dm, di = r->di, ds = r->ds, dc = r->dc, dr = r->dr;
    r->emb = copy(m, "embedding.weight", 256 * dm);
    r->cond_w = copy(m, "cond_proj.weight", dm * (size_t)r->nc);
    r->cond_b = copy(m, "cond_proj.bias", dm);
    r->norm_f = copy(m, "backbone.norm_f.weight", dm);
    r->lm_w = copy(m, "lm_head.weight", 256 * dm);
    r->has_bias = hiss_synth_model_tensor_by_name(m, "lm_head.bias").data != NULL;
    r->lm_b = r->has_bias ? copy(m, "lm_head.bias", 256) : NULL;
    r->L = calloc((size_t)r->nl, sizeof *r->L);
    char name[128];
    for (int l = 0; l < r->nl; l++) {
        ref_layer *L = &r->L[l];
#define T(suffix, n) (snprintf(name, sizeof name, "backbone.layers.%d.%s", l, suffix), copy(m, name, n))
        L->norm = T("norm.weight", dm);
        L->in_proj = T("mixer.in_proj.weight", 2 * di * dm);
        L->conv_w = T("mixer.conv1d.weight", di * dc);
        L->conv_b = T("mixer.conv1d.bias", di);
        L->x_proj = T("mixer.x_proj.weight", (dr + 2 * ds) * di);
        L->dt_w = T("mixer.dt_proj.weight", di * dr);
        L->dt_b = T("mixer.dt_proj.bias", di);
        L->A = T("mixer.A_log", di * ds);
        L->D = T("mixer.D", di);
        L->out_proj = T("mixer.out_proj.weight", dm * di);
#undef T
        for (size_t j = 0; j < di * ds; j++)
            L->A[j] = -exp(L->A[j]);
        L->hist = calloc(dc * di, sizeof(double));
        L->s = calloc(di * ds, sizeof(double));
    }
    r->h = calloc(dm, sizeof(double));
    r->r = calloc(dm, sizeof(double));
    r->a = calloc(dm, sizeof(double));
    r->xz = calloc(2 * di, sizeof(double));
    r->xc = calloc(di, sizeof(double));
    r->dbc = calloc(dr + 2 * ds, sizeof(double));
    r->delta = calloc(di, sizeof(double));
    r->y = calloc(di, sizeof(double));
    return r;
}

void synth_ref_free(synth_ref *r)
{
    if (!r)
        return;
    for (int l = 0; l < r->nl; l++) {
        ref_layer *L = &r->L[l];
        double *p[] = {L->norm, L->in_proj, L->conv_w, L->conv_b, L->x_proj, L->dt_w, L->dt_b, L->A, L->D,
                       L->out_proj, L->hist, L->s};
        for (size_t i = 0; i < sizeof p / sizeof *p; i++)
            free(p[i]);
    }
    free(r->L);
    double *p[] = {r->emb, r->cond_w, r->cond_b, r->norm_f, r->lm_w, r->lm_b, r->h, r->r, r->a,
                   r->xz, r->xc, r->dbc, r->delta, r->y};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        free(p[i]);
    free(r);
}

void synth_ref_reset(synth_ref *r)
{
    for (int l = 0; l < r->nl; l++) {
        memset(r->L[l].hist, 0, sizeof(double) * (size_t)r->dc * r->di);
        memset(r->L[l].s, 0, sizeof(double) * (size_t)r->di * r->ds);
    }
}

static double silu(double v)
{
    return v / (1.0 + exp(-v));
}

static double softplus(double v)
{
    return v > 20.0 ? v : log1p(exp(v));
}

static void rmsnorm(double *out, const double *v, const double *w, int n, double eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += v[i] * v[i];
    const double inv = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = v[i] * inv * w[i];
}

void synth_ref_step(synth_ref *r, int prev, const double *cond, double *logits)
{
    const int dm = r->dm, di = r->di, ds = r->ds, dc = r->dc, dr = r->dr;
    /* h = embedding[prev] + W_c c + b_c */
    for (int i = 0; i < dm; i++) {
        double v = r->emb[(size_t)prev * dm + i] + r->cond_b[i];
        for (int j = 0; j < r->nc; j++)
            v += r->cond_w[(size_t)i * r->nc + j] * cond[j];
        r->h[i] = v;
        r->r[i] = 0.0;
    }
    for (int l = 0; l < r->nl; l++) {
        ref_layer *L = &r->L[l];
        for (int i = 0; i < dm; i++)
            r->r[i] += r->h[i];
        rmsnorm(r->a, r->r, L->norm, dm, r->eps);
        for (int o = 0; o < 2 * di; o++) {
            double v = 0.0;
            for (int i = 0; i < dm; i++)
                v += L->in_proj[(size_t)o * dm + i] * r->a[i];
            r->xz[o] = v;
        }
        /* history: shift left by one, newest xi last */
        for (int k = 0; k + 1 < dc; k++)
            for (int d = 0; d < di; d++)
                L->hist[(size_t)k * di + d] = L->hist[(size_t)(k + 1) * di + d];
        for (int d = 0; d < di; d++)
            L->hist[(size_t)(dc - 1) * di + d] = r->xz[d];
        for (int d = 0; d < di; d++) {
            double v = L->conv_b[d];
            for (int k = 0; k < dc; k++)
                v += L->conv_w[(size_t)d * dc + k] * L->hist[(size_t)k * di + d];
            r->xc[d] = silu(v);
        }
        for (int o = 0; o < dr + 2 * ds; o++) {
            double v = 0.0;
            for (int d = 0; d < di; d++)
                v += L->x_proj[(size_t)o * di + d] * r->xc[d];
            r->dbc[o] = v;
        }
        const double *B = r->dbc + dr, *C = r->dbc + dr + ds;
        for (int d = 0; d < di; d++) {
            double v = L->dt_b[d];
            for (int k = 0; k < dr; k++)
                v += L->dt_w[(size_t)d * dr + k] * r->dbc[k];
            r->delta[d] = softplus(v);
        }
        for (int d = 0; d < di; d++) {
            double acc = 0.0;
            for (int n = 0; n < ds; n++) {
                double *s = &L->s[(size_t)d * ds + n];
                *s = exp(r->delta[d] * L->A[(size_t)d * ds + n]) * *s + r->delta[d] * B[n] * r->xc[d];
                acc += C[n] * *s;
            }
            r->y[d] = (acc + L->D[d] * r->xc[d]) * silu(r->xz[di + d]);
        }
        for (int i = 0; i < dm; i++) {
            double v = 0.0;
            for (int d = 0; d < di; d++)
                v += L->out_proj[(size_t)i * di + d] * r->y[d];
            r->h[i] = v;
        }
    }
    for (int i = 0; i < dm; i++)
        r->r[i] += r->h[i];
    rmsnorm(r->a, r->r, r->norm_f, dm, r->eps);
    for (int k = 0; k < 256; k++) {
        double v = r->lm_b ? r->lm_b[k] : 0.0;
        for (int i = 0; i < dm; i++)
            v += r->lm_w[(size_t)k * dm + i] * r->a[i];
        logits[k] = v;
    }
}

int synth_ref_mulaw_encode(double x)
{
    if (x > 1.0)
        x = 1.0;
    if (x < -1.0)
        x = -1.0;
    const double mu = 255.0;
    const double y = copysign(log(1.0 + mu * fabs(x)) / log(1.0 + mu), x);
    return (int)floor((y + 1.0) / 2.0 * mu + 0.5);
}

double synth_ref_mulaw_decode(int c)
{
    const double mu = 255.0;
    const double y = 2.0 * c / mu - 1.0;
    return copysign((pow(1.0 + mu, fabs(y)) - 1.0) / mu, y);
}

synth_ref_note synth_ref_note_start(double pitch, int velocity)
{
    synth_ref_note n = {pitch, velocity, 1, 0, 0, 0.0};
    return n;
}

void synth_ref_note_release(synth_ref_note *n)
{
    if (n->gate) {
        n->gate = 0;
        n->n_off = 0;
    }
}

void synth_ref_note_advance(synth_ref_note *n, double rate)
{
    n->n_on++;
    if (!n->gate)
        n->n_off++;
    const double f = 440.0 * exp2((n->pitch - 69.0) / 12.0);
    n->phase += f / rate;
    n->phase -= floor(n->phase);
}

double synth_ref_feature(const char *name, const synth_ref_note *n, double rate)
{
    const double two_pi = 6.283185307179586476925286766559;
    if (!strcmp(name, "pitch"))
        return (n->pitch - 69.0) / 12.0;
    if (!strcmp(name, "velocity"))
        return n->velocity / 127.0;
    if (!strcmp(name, "gate"))
        return n->gate ? 1.0 : 0.0;
    if (!strcmp(name, "onset"))
        return exp(-(double)n->n_on / (0.02 * rate));
    if (!strcmp(name, "decay"))
        return exp(-(double)n->n_on / (1.0 * rate));
    if (!strcmp(name, "release"))
        return n->gate ? 0.0 : exp(-(double)n->n_off / (0.2 * rate));
    /* sinK / cosK, K = 1..8: the K-th harmonic of the phase */
    if ((!strncmp(name, "sin", 3) || !strncmp(name, "cos", 3)) && name[3] >= '1' && name[3] <= '8' &&
        !name[4]) {
        const double a = (double)(name[3] - '0') * two_pi * n->phase;
        return name[0] == 's' ? sin(a) : cos(a);
    }
    fprintf(stderr, "synth_ref: unknown feature \"%s\"\n", name);
    exit(2);
}

void synth_ref_features(const hiss_synth_model *m, const synth_ref_note *n, double *out)
{
    const hiss_config *c = hiss_synth_model_config(m);
    for (int i = 0; i < c->n_cond; i++)
        out[i] = synth_ref_feature(hiss_synth_feature_name(hiss_synth_model_feature(m, i)), n, c->sample_rate);
}

void synth_ref_note_rng(hiss_synth_rng *r, uint64_t seed, uint64_t k)
{
    uint64_t z = k + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    hiss_synth_rng_seed(r, seed ^ z);
}
