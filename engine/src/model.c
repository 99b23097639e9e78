/* The model object: one float32 arena holding every tensor in canonical order, named views, and
 * metadata. Loading, initialising and saving all go through the same tensor spec, so the three
 * can never disagree about names or shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void spec1(hiss_spec_fn fn, void *ctx, const char *name, int64_t a)
{
    int64_t s[1] = {a};
    fn(ctx, name, 1, s);
}

static void spec2(hiss_spec_fn fn, void *ctx, const char *name, int64_t a, int64_t b)
{
    int64_t s[2] = {a, b};
    fn(ctx, name, 2, s);
}

int hiss_model_spec(const hiss_config *c, hiss_spec_fn fn, void *ctx)
{
    int count = 0;
    char name[96];
    const int64_t dm = c->d_model, di = c->d_inner, ds = c->d_state, dr = c->dt_rank;
    if (c->io == HISS_IO_FX) {
        spec2(fn, ctx, "input_proj.weight", dm, 1 + c->n_cond);
        spec1(fn, ctx, "input_proj.bias", dm);
        count += 2;
    }
    for (int i = 0; i < c->n_layer; i++) {
#define L(suffix) (snprintf(name, sizeof name, "backbone.layers.%d.%s", i, suffix), name)
        spec1(fn, ctx, L("norm.weight"), dm);
        spec2(fn, ctx, L("mixer.in_proj.weight"), 2 * di, dm);
        int64_t cs[3] = {di, 1, c->d_conv};
        fn(ctx, L("mixer.conv1d.weight"), 3, cs);
        spec1(fn, ctx, L("mixer.conv1d.bias"), di);
        spec2(fn, ctx, L("mixer.x_proj.weight"), dr + 2 * ds, di);
        spec2(fn, ctx, L("mixer.dt_proj.weight"), di, dr);
        spec1(fn, ctx, L("mixer.dt_proj.bias"), di);
        spec2(fn, ctx, L("mixer.A_log"), di, ds);
        spec1(fn, ctx, L("mixer.D"), di);
        spec2(fn, ctx, L("mixer.out_proj.weight"), dm, di);
#undef L
        count += 10;
    }
    spec1(fn, ctx, "backbone.norm_f.weight", dm);
    count++;
    if (c->io == HISS_IO_FX) {
        spec2(fn, ctx, "output_proj.weight", 1, dm);
        spec1(fn, ctx, "output_proj.bias", 1);
        count += 2;
    }
    return count;
}

typedef struct alloc_ctx {
    hiss_tensor_rec *recs;
    int n;
    size_t total;
} alloc_ctx;

static void collect(void *vctx, const char *name, int ndim, const int64_t *shape)
{
    alloc_ctx *a = vctx;
    size_t numel = 1;
    for (int d = 0; d < ndim; d++)
        numel *= (size_t)shape[d];
    if (a->recs) {
        hiss_tensor_rec *r = &a->recs[a->n];
        snprintf(r->name, sizeof r->name, "%s", name);
        r->ndim = ndim;
        for (int d = 0; d < 4; d++)
            r->shape[d] = d < ndim ? shape[d] : 0;
        r->offset = a->total;
        r->numel = numel;
    }
    a->n++;
    a->total += numel;
}

static const char *check_config(const hiss_config *c)
{
    if (c->io != HISS_IO_FX)
        return "hiss.io must be \"fx\"";
    if (c->d_model < 1 || c->d_model > HISS_MAX_D_MODEL)
        return "d_model out of range";
    if (c->n_layer < 1 || c->n_layer > HISS_MAX_LAYERS)
        return "n_layer out of range";
    if (c->d_inner < 1 || c->d_inner > HISS_MAX_D_INNER)
        return "d_inner out of range";
    if (c->d_state < 1 || c->d_state > HISS_MAX_D_STATE)
        return "d_state out of range";
    if (c->d_conv < 1 || c->d_conv > HISS_MAX_D_CONV)
        return "d_conv out of range";
    if (c->dt_rank < 1 || c->dt_rank > c->d_inner)
        return "dt_rank out of range";
    if (c->n_cond < 0 || c->n_cond > HISS_MAX_COND)
        return "number of conditioning inputs out of range";
    if (!(c->sample_rate >= 1000.0 && c->sample_rate <= 1536000.0))
        return "sample_rate out of range (1000 to 1536000 Hz)";
    if (!(c->rms_eps > 0.0f && c->rms_eps < 1.0f))
        return "rms_eps out of range (0 to 1, exclusive)";
    return NULL;
}

hiss_status hiss_model_alloc(const hiss_config *cfg, hiss_model **out, hiss_error *err)
{
    *out = NULL;
    const char *why = check_config(cfg);
    if (why) {
        hiss_seterr(err, HISS_ERR_MODEL, "configuration: %s", why);
        return HISS_ERR_MODEL;
    }
    alloc_ctx a = {0};
    hiss_model_spec(cfg, collect, &a);
    if (a.total > HISS_MAX_PARAMS) {
        hiss_seterr(err, HISS_ERR_MODEL, "configuration: %zu parameters, more than the limit of %u",
                    a.total, HISS_MAX_PARAMS);
        return HISS_ERR_MODEL;
    }
    hiss_model *m = calloc(1, sizeof *m);
    if (!m)
        goto nomem;
    m->cfg = *cfg;
    m->n_in = 1 + cfg->n_cond;
    m->n_tensors = a.n;
    m->tensors = calloc((size_t)a.n, sizeof *m->tensors);
    m->arena = calloc(a.total ? a.total : 1, sizeof(float));
    m->arena_len = a.total;
    m->derived_len = hiss_model_derived_len(cfg);
    m->derived = calloc(m->derived_len, sizeof(float));
    m->layers = calloc((size_t)cfg->n_layer, sizeof *m->layers);
    m->cond_names = calloc((size_t)cfg->n_cond + 1, sizeof(char *));
    if (!m->tensors || !m->arena || !m->derived || !m->layers || !m->cond_names)
        goto nomem;
    alloc_ctx b = {m->tensors, 0, 0};
    hiss_model_spec(cfg, collect, &b);
    for (int i = 0; i < cfg->n_cond; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "cond%d", i);
        m->cond_names[i] = strdup(buf);
        if (!m->cond_names[i])
            goto nomem;
    }
    hiss_model_finish(m);
    *out = m;
    return HISS_OK;
nomem:
    hiss_model_free(m);
    hiss_seterr(err, HISS_ERR_NOMEM, "out of memory allocating a model of %zu parameters", a.total);
    return HISS_ERR_NOMEM;
}

static const float *view(hiss_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return m->arena + m->tensors[i].offset;
    return NULL;
}

/* dst[c][r] = src[r][c] for src of rows x cols. */
static void transpose(float *dst, const float *src, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

void hiss_model_finish(hiss_model *m)
{
    const hiss_config *c = &m->cfg;
    char name[96];
    m->in_w = view(m, "input_proj.weight");
    m->in_b = view(m, "input_proj.bias");
    m->out_w = view(m, "output_proj.weight");
    m->out_b = view(m, "output_proj.bias");
    m->norm_f = view(m, "backbone.norm_f.weight");
    for (int i = 0; i < c->n_layer; i++) {
        hiss_layer *L = &m->layers[i];
#define V(suffix) (snprintf(name, sizeof name, "backbone.layers.%d.%s", i, suffix), view(m, name))
        L->norm_w = V("norm.weight");
        L->in_proj = V("mixer.in_proj.weight");
        L->conv_w = V("mixer.conv1d.weight");
        L->conv_b = V("mixer.conv1d.bias");
        L->x_proj = V("mixer.x_proj.weight");
        L->dt_proj_w = V("mixer.dt_proj.weight");
        L->dt_proj_b = V("mixer.dt_proj.bias");
        L->A_log = V("mixer.A_log");
        L->D = V("mixer.D");
        L->out_proj = V("mixer.out_proj.weight");
#undef V
    }
    float *p = m->derived;
    const int dm = c->d_model, di = c->d_inner, ds = c->d_state, dr = c->dt_rank, dc = c->d_conv;
    const int nx = dr + 2 * ds;
    if (m->in_w) {
        transpose(p, m->in_w, dm, m->n_in);
        m->in_w_t = p;
        p += (size_t)dm * m->n_in;
    }
    for (int i = 0; i < c->n_layer; i++) {
        hiss_layer *L = &m->layers[i];
        float *A = p;
        for (int j = 0; j < di * ds; j++)
            A[j] = -expf(L->A_log[j]);
        L->A = A;
        p += (size_t)di * ds;
        transpose(p, A, di, ds);
        L->A_t = p;
        p += (size_t)di * ds;
        transpose(p, L->in_proj, 2 * di, dm);
        L->in_proj_t = p;
        p += (size_t)2 * di * dm;
        transpose(p, L->conv_w, di, dc);
        L->conv_t = p;
        p += (size_t)di * dc;
        transpose(p, L->x_proj, nx, di);
        L->x_proj_t = p;
        p += (size_t)nx * di;
        transpose(p, L->dt_proj_w, di, dr);
        L->dt_proj_t = p;
        p += (size_t)di * dr;
        transpose(p, L->out_proj, dm, di);
        L->out_proj_t = p;
        p += (size_t)dm * di;
    }
}

size_t hiss_model_derived_len(const hiss_config *c)
{
    const size_t dm = c->d_model, di = c->d_inner, ds = c->d_state, dr = c->dt_rank, dc = c->d_conv;
    const size_t per_layer = 2 * di * ds + 2 * di * dm + di * dc + (dr + 2 * ds) * di + di * dr + dm * di;
    return dm * (size_t)(1 + c->n_cond) + per_layer * (size_t)c->n_layer;
}

hiss_status hiss_model_set_cond_names(hiss_model *m, const char *file, const char *list, hiss_error *err)
{
    const int n_cond = m->cfg.n_cond;
    char *names[HISS_MAX_COND] = {0};
    int n = 0;
    const char *p = list;
    hiss_status st = HISS_OK;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (n >= n_cond || len == 0 || len > 63) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.cond\" (\"%.128s\") must name each of the "
                        "%d conditioning inputs of input_proj.weight once, comma-separated (1 to 63 "
                        "characters each)", file, list, n_cond);
            st = HISS_ERR_MODEL;
            goto out;
        }
        names[n] = malloc(len + 1);
        if (!names[n]) {
            hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory", file);
            st = HISS_ERR_NOMEM;
            goto out;
        }
        memcpy(names[n], p, len);
        names[n++][len] = 0;
        if (!e)
            break;
        p = e + 1;
    }
    if (n != n_cond) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.cond\" names %d inputs but input_proj.weight has "
                    "%d conditioning columns", file, n, n_cond);
        st = HISS_ERR_MODEL;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        free(m->cond_names[i]);
        m->cond_names[i] = names[i];
        names[i] = NULL;
    }
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
    return st;
}

void hiss_model_free(hiss_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_meta; i++) {
        free(m->meta[i].key);
        free(m->meta[i].value);
    }
    free(m->meta);
    if (m->cond_names)
        for (int i = 0; i < m->cfg.n_cond; i++)
            free(m->cond_names[i]);
    free(m->cond_names);
    free(m->path);
    free(m->tensors);
    free(m->arena);
    free(m->derived);
    free(m->layers);
    free(m);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t hiss_model_fingerprint(const hiss_model *m)
{
    const hiss_config *c = &m->cfg;
    const int32_t dims[] = {(int32_t)c->io, c->d_model, c->n_layer, c->d_inner, c->d_state, c->d_conv,
                            c->dt_rank, c->n_cond, c->skip};
    uint64_t h = fnv(0xcbf29ce484222325ull, dims, sizeof dims);
    h = fnv(h, &c->sample_rate, sizeof c->sample_rate);
    h = fnv(h, &c->rms_eps, sizeof c->rms_eps);
    return fnv(h, m->arena, m->arena_len * sizeof(float));
}

const hiss_config *hiss_model_config(const hiss_model *m)
{
    return &m->cfg;
}

const char *hiss_model_meta(const hiss_model *m, const char *key)
{
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0)
            return m->meta[i].value;
    return NULL;
}

int hiss_model_meta_count(const hiss_model *m)
{
    return m->n_meta;
}

void hiss_model_meta_at(const hiss_model *m, int i, const char **key, const char **value)
{
    if (i < 0 || i >= m->n_meta) {
        *key = *value = NULL;
        return;
    }
    *key = m->meta[i].key;
    *value = m->meta[i].value;
}

hiss_status hiss_model_set_meta(hiss_model *m, const char *key, const char *value)
{
    if (strcmp(key, "hiss.cond") == 0 && m->cfg.n_cond > 0) {
        hiss_status st = hiss_model_set_cond_names(m, "model", value, NULL);
        if (st != HISS_OK)
            return st;
    }
    char *v = strdup(value);
    if (!v)
        return HISS_ERR_NOMEM;
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0) {
            free(m->meta[i].value);
            m->meta[i].value = v;
            return HISS_OK;
        }
    char *k = strdup(key);
    hiss_meta *nm = realloc(m->meta, (size_t)(m->n_meta + 1) * sizeof *nm);
    if (!k || !nm) {
        free(k);
        free(v);
        if (nm)
            m->meta = nm;
        return HISS_ERR_NOMEM;
    }
    m->meta = nm;
    m->meta[m->n_meta].key = k;
    m->meta[m->n_meta].value = v;
    m->n_meta++;
    return HISS_OK;
}

const char *hiss_model_cond_name(const hiss_model *m, int i)
{
    if (i < 0 || i >= m->cfg.n_cond)
        return NULL;
    return m->cond_names[i];
}

uint64_t hiss_model_param_count(const hiss_model *m)
{
    return m->arena_len;
}

uint64_t hiss_model_macs_per_sample(const hiss_model *m)
{
    const hiss_config *c = &m->cfg;
    const uint64_t dm = c->d_model, di = c->d_inner, ds = c->d_state, dr = c->dt_rank;
    uint64_t layer = 2 * di * dm            /* in_proj */
                     + di * c->d_conv       /* depthwise conv */
                     + (dr + 2 * ds) * di   /* x_proj */
                     + di * dr              /* dt_proj */
                     + 3 * di * ds          /* state decay, input, readout */
                     + di                   /* D skip */
                     + dm * di              /* out_proj */
                     + 2 * dm;              /* rmsnorm */
    uint64_t head = (uint64_t)m->n_in * dm + dm + 2 * dm;
    return layer * c->n_layer + head;
}

int hiss_model_tensor_count(const hiss_model *m)
{
    return m->n_tensors;
}

hiss_tensor hiss_model_tensor(const hiss_model *m, int i)
{
    hiss_tensor t = {0};
    if (i < 0 || i >= m->n_tensors)
        return t;
    const hiss_tensor_rec *r = &m->tensors[i];
    t.name = r->name;
    t.ndim = r->ndim;
    for (int d = 0; d < 4; d++)
        t.shape[d] = r->shape[d];
    t.data = m->arena + r->offset;
    t.numel = r->numel;
    return t;
}

hiss_tensor hiss_model_tensor_by_name(const hiss_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return hiss_model_tensor(m, i);
    hiss_tensor t = {0};
    return t;
}
