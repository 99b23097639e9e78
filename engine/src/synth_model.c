/* The synth model object: construction, initialisation, accessors and saving. The backbone goes
 * through the engine's own model code (hiss_model_alloc / hiss_model_init / hiss_model_finish),
 * so its names, shapes, limits and initialisation are the fx model's by construction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnum.h"
#include "safetensors.h"
#include "synth_model.h"

#define NC HISS_SYNTH_CLASSES

int hiss_synth_is_backbone_tensor(const char *name)
{
    return strncmp(name, "backbone.", 9) == 0;
}

/* "pitch, velocity, ..." for messages. */
static void feature_list(char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int f = 0; f < HISS_SYNTH_F_COUNT && used < n; f++) {
        const int w = snprintf(buf + used, n - used, "%s%s", f ? ", " : "",
                               hiss_synth_feature_name((hiss_synth_feature)f));
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static hiss_status parse_features(const char *file, const char *list, int n_cond,
                                  hiss_synth_feature *feat, hiss_error *err)
{
    int n = 0, seen[HISS_SYNTH_F_COUNT] = {0};
    char known[160];
    feature_list(known, sizeof known);
    if (!list) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.cond\" is missing: a synth model names the "
                    "feature of each of its %d conditioning inputs (%s)", file, n_cond, known);
        return HISS_ERR_MODEL;
    }
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        char name[32];
        int f = -1;
        if (len > 0 && len < sizeof name) {
            memcpy(name, p, len);
            name[len] = 0;
            f = hiss_synth_feature_by_name(name);
        }
        if (f < 0) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.cond\" (\"%.128s\"): \"%.*s\" is not a synth "
                        "feature (%s)", file, list, (int)(len > 64 ? 64 : len), p, known);
            return HISS_ERR_MODEL;
        }
        if (seen[f]) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.cond\" (\"%.128s\") names \"%s\" twice",
                        file, list, hiss_synth_feature_name((hiss_synth_feature)f));
            return HISS_ERR_MODEL;
        }
        seen[f] = 1;
        if (n < HISS_MAX_COND)
            feat[n] = (hiss_synth_feature)f;
        n++;
        if (!e)
            break;
        p = e + 1;
    }
    if (n != n_cond) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.cond\" (\"%.128s\") names %d features but "
                    "cond_proj.weight has %d columns", file, list, n, n_cond);
        return HISS_ERR_MODEL;
    }
    return HISS_OK;
}

static void transpose(float *dst, const float *src, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

static void set_views(hiss_synth_model *m)
{
    const size_t dm = (size_t)m->cfg.d_model, nc = (size_t)m->cfg.n_cond;
    float *p = m->head;
    m->emb = p;
    p += NC * dm;
    m->cond_w = p;
    p += dm * nc;
    m->cond_b = p;
    p += dm;
    m->lm_w = p;
    p += NC * dm;
    m->lm_b = m->head_bias ? p : NULL;
    m->cond_w_t = m->derived;
    m->lm_w_t = m->derived + nc * dm;
}

void hiss_synth_model_finish(hiss_synth_model *m)
{
    hiss_model_finish(m->bb);
    transpose(m->derived, m->cond_w, m->cfg.d_model, m->cfg.n_cond);
    transpose(m->derived + (size_t)m->cfg.n_cond * m->cfg.d_model, m->lm_w, NC, m->cfg.d_model);
}

hiss_status hiss_synth_model_alloc(const hiss_config *cfg, const char *cond, int head_bias,
                                   const char *file, hiss_synth_model **out, hiss_error *err)
{
    *out = NULL;
    if (cfg->n_cond < 1 || cfg->n_cond > HISS_MAX_COND) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: a synth model needs 1 to %d conditioning inputs, not %d", file,
                    HISS_MAX_COND, cfg->n_cond);
        return HISS_ERR_MODEL;
    }
    hiss_synth_feature feat[HISS_MAX_COND];
    hiss_status st = parse_features(file, cond, cfg->n_cond, feat, err);
    if (st != HISS_OK)
        return st;
    hiss_config bc = *cfg;
    bc.io = HISS_IO_FX;
    bc.n_cond = 0;
    bc.skip = 0;
    hiss_model *bb = NULL;
    st = hiss_model_alloc(&bc, &bb, err);
    if (st != HISS_OK) {
        if (err) {
            char tmp[HISS_ERROR_LEN];
            snprintf(tmp, sizeof tmp, "%s", err->msg);
            hiss_seterr(err, st, "%s: %s", file, tmp);
        }
        return st;
    }
    hiss_synth_model *m = calloc(1, sizeof *m);
    const size_t dm = (size_t)cfg->d_model, nc = (size_t)cfg->n_cond;
    if (m) {
        m->bb = bb;
        m->cfg = *cfg;
        m->cfg.io = HISS_IO_SYNTH;
        m->cfg.skip = 0;
        m->head_bias = head_bias ? 1 : 0;
        m->head_len = NC * dm + dm * nc + dm + NC * dm + (head_bias ? NC : 0);
        m->head = calloc(m->head_len, sizeof(float));
        m->derived = calloc(nc * dm + dm * NC, sizeof(float));
        memcpy(m->feat, feat, sizeof(hiss_synth_feature) * nc);
    }
    if (!m || !m->head || !m->derived) {
        if (m)
            m->bb = NULL;
        hiss_synth_model_free(m);
        hiss_model_free(bb);
        hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory for the synth head", file);
        return HISS_ERR_NOMEM;
    }
    set_views(m);
    hiss_synth_model_finish(m);
    *out = m;
    return HISS_OK;
}

void hiss_synth_model_free(hiss_synth_model *m)
{
    if (!m)
        return;
    hiss_model_free(m->bb);
    free(m->head);
    free(m->derived);
    free(m);
}

int hiss_synth_head_tensors(const hiss_synth_model *m, hiss_synth_head_rec rec[5])
{
    const int64_t dm = m->cfg.d_model, nc = m->cfg.n_cond;
    float *p = m->head;
    int n = 0;
    rec[n++] = (hiss_synth_head_rec){"embedding.weight", 2, {NC, dm}, p, (size_t)(NC * dm)};
    p += NC * dm;
    rec[n++] = (hiss_synth_head_rec){"cond_proj.weight", 2, {dm, nc}, p, (size_t)(dm * nc)};
    p += dm * nc;
    rec[n++] = (hiss_synth_head_rec){"cond_proj.bias", 1, {dm, 0}, p, (size_t)dm};
    p += dm;
    rec[n++] = (hiss_synth_head_rec){"lm_head.weight", 2, {NC, dm}, p, (size_t)(NC * dm)};
    p += NC * dm;
    if (m->head_bias)
        rec[n++] = (hiss_synth_head_rec){"lm_head.bias", 1, {NC, 0}, p, (size_t)NC};
    return n;
}

/* N(0, 1) by Box-Muller. */
static double normal(hiss_synth_rng *r)
{
    double u1 = hiss_synth_rng_uniform(r), u2 = hiss_synth_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

hiss_status hiss_synth_model_init(const hiss_config *cfg_in, const char *cond, int head_bias,
                                  uint64_t seed, hiss_synth_model **out, hiss_error *err)
{
    *out = NULL;
    hiss_config c = *cfg_in;
    c.io = HISS_IO_FX;
    c.n_cond = 0;
    c.skip = 0;
    hiss_model *init = NULL;
    hiss_status st = hiss_model_init(&c, seed, &init, err);
    if (st != HISS_OK)
        return st;
    /* hiss_model_init filled in the defaults (d_inner, dt_rank, eps, rate): take them. */
    c = init->cfg;
    int n_cond = 1;
    for (const char *p = cond ? cond : ""; *p; p++)
        n_cond += *p == ',';
    c.n_cond = n_cond;
    hiss_synth_model *m;
    st = hiss_synth_model_alloc(&c, cond, head_bias, "synth model", &m, err);
    if (st != HISS_OK) {
        hiss_model_free(init);
        return st;
    }
    memcpy(m->bb->arena, init->arena, init->arena_len * sizeof(float));
    for (int i = 0; i < init->n_meta; i++)
        if (hiss_model_set_meta(m->bb, init->meta[i].key, init->meta[i].value) != HISS_OK)
            goto nomem;
    hiss_model_free(init);
    init = NULL;

    hiss_synth_rng r;
    hiss_synth_rng_seed(&r, seed ^ 0x5e17ull);
    hiss_synth_head_rec rec[5];
    const int n = hiss_synth_head_tensors(m, rec);
    for (int i = 0; i < n; i++) {
        const double bound = 1.0 / sqrt((double)rec[i].shape[1]);
        for (size_t j = 0; j < rec[i].numel; j++) {
            if (i == 0)
                rec[i].data[j] = (float)normal(&r);
            else if (rec[i].ndim == 2)
                rec[i].data[j] = (float)((2.0 * hiss_synth_rng_uniform(&r) - 1.0) * bound);
            else
                rec[i].data[j] = 0.0f;
        }
    }
    hiss_synth_model_finish(m);
    *out = m;
    return HISS_OK;
nomem:
    hiss_model_free(init);
    hiss_synth_model_free(m);
    hiss_seterr(err, HISS_ERR_NOMEM, "out of memory");
    return HISS_ERR_NOMEM;
}

const hiss_config *hiss_synth_model_config(const hiss_synth_model *m)
{
    return &m->cfg;
}

hiss_synth_feature hiss_synth_model_feature(const hiss_synth_model *m, int i)
{
    return i >= 0 && i < m->cfg.n_cond ? m->feat[i] : HISS_SYNTH_F_COUNT;
}

const char *hiss_synth_model_meta(const hiss_synth_model *m, const char *key)
{
    return hiss_model_meta(m->bb, key);
}

/* Digits, an optional point and more digits (the form the LV2 preset generator also accepts),
 * read by the engine's one locale-independent number reader. -1 when not of that form. */
static double plain_decimal(const char *s)
{
    if (!s)
        return -1;
    const size_t digits = strspn(s, "0123456789");
    const size_t frac = s[digits] == '.' ? strspn(s + digits + 1, "0123456789") : 0;
    const size_t len = digits + (s[digits] == '.' ? 1 + frac : 0);
    if (s[len] != '\0' || digits + frac == 0 || digits + frac > 12)
        return -1;
    return hiss_strtod_c(s, NULL);
}

float hiss_synth_model_temperature(const hiss_synth_model *m)
{
    const double t = plain_decimal(hiss_model_meta(m->bb, "hiss.synth.temperature"));
    return t >= 0 && t <= 100 ? (float)t : 1.0f;
}

static const char *const derived_keys[] = {"hiss.io", "sample_rate", "rms_eps", "hiss.skip", "hiss.cond"};

static int is_derived_key(const char *key)
{
    for (size_t k = 0; k < sizeof derived_keys / sizeof *derived_keys; k++)
        if (strcmp(key, derived_keys[k]) == 0)
            return 1;
    return 0;
}

int hiss_synth_model_meta_count(const hiss_synth_model *m)
{
    return hiss_model_meta_count(m->bb);
}

void hiss_synth_model_meta_at(const hiss_synth_model *m, int i, const char **key, const char **value)
{
    hiss_model_meta_at(m->bb, i, key, value);
}

hiss_status hiss_synth_model_set_meta(hiss_synth_model *m, const char *key, const char *value)
{
    if (!key || !value || is_derived_key(key))
        return HISS_ERR_ARG;
    return hiss_model_set_meta(m->bb, key, value);
}

uint64_t hiss_synth_model_param_count(const hiss_synth_model *m)
{
    uint64_t n = m->head_len;
    for (int i = 0; i < m->bb->n_tensors; i++)
        if (hiss_synth_is_backbone_tensor(m->bb->tensors[i].name))
            n += m->bb->tensors[i].numel;
    return n;
}

uint64_t hiss_synth_model_macs_per_sample(const hiss_synth_model *m)
{
    /* The backbone model counts an fx head of one input and one output (2 d_model) that a synth
     * does not run; the synth head replaces it. */
    const uint64_t dm = (uint64_t)m->cfg.d_model;
    return hiss_model_macs_per_sample(m->bb) - 2 * dm + (HISS_SYNTH_CLASSES + (uint64_t)m->cfg.n_cond) * dm;
}

hiss_tensor hiss_synth_model_tensor_by_name(const hiss_synth_model *m, const char *name)
{
    hiss_tensor t = {0};
    if (hiss_synth_is_backbone_tensor(name))
        return hiss_model_tensor_by_name(m->bb, name);
    hiss_synth_head_rec rec[5];
    const int n = hiss_synth_head_tensors(m, rec);
    for (int i = 0; i < n; i++)
        if (strcmp(rec[i].name, name) == 0) {
            t.name = rec[i].name;
            t.ndim = rec[i].ndim;
            t.shape[0] = rec[i].shape[0];
            t.shape[1] = rec[i].ndim > 1 ? rec[i].shape[1] : 0;
            t.data = rec[i].data;
            t.numel = rec[i].numel;
        }
    return t;
}

hiss_status hiss_synth_model_save(const hiss_synth_model *m, const char *path, hiss_error *err)
{
    const hiss_model *bb = m->bb;
    const hiss_config *c = &m->cfg;
    st_kv *meta = calloc((size_t)bb->n_meta + 4, sizeof *meta);
    st_out_tensor *t = calloc((size_t)bb->n_tensors + 5, sizeof *t);
    char rate[64], eps[64], cond[HISS_MAX_COND * 12];
    if (!meta || !t) {
        free(meta);
        free(t);
        hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory", path);
        return HISS_ERR_NOMEM;
    }
    snprintf(rate, sizeof rate, "%.17g", c->sample_rate);
    snprintf(eps, sizeof eps, "%.9g", (double)c->rms_eps);
    cond[0] = 0;
    for (int i = 0; i < c->n_cond; i++) {
        if (i)
            strcat(cond, ",");
        strcat(cond, hiss_synth_feature_name(m->feat[i]));
    }
    int nm = 0;
    meta[nm++] = (st_kv){"hiss.io", "synth"};
    meta[nm++] = (st_kv){"sample_rate", rate};
    meta[nm++] = (st_kv){"rms_eps", eps};
    meta[nm++] = (st_kv){"hiss.cond", cond};
    for (int i = 0; i < bb->n_meta; i++)
        if (!is_derived_key(bb->meta[i].key))
            meta[nm++] = (st_kv){bb->meta[i].key, bb->meta[i].value};
    /* embedding, cond_proj, backbone, lm_head: the order of docs/synth.md. */
    hiss_synth_head_rec rec[5];
    const int nh = hiss_synth_head_tensors(m, rec);
    int nt = 0;
    for (int i = 0; i < 3; i++)
        t[nt++] = (st_out_tensor){rec[i].name, rec[i].ndim, rec[i].shape, rec[i].data};
    for (int i = 0; i < bb->n_tensors; i++) {
        const hiss_tensor_rec *r = &bb->tensors[i];
        if (hiss_synth_is_backbone_tensor(r->name))
            t[nt++] = (st_out_tensor){r->name, r->ndim, r->shape, bb->arena + r->offset};
    }
    for (int i = 3; i < nh; i++)
        t[nt++] = (st_out_tensor){rec[i].name, rec[i].ndim, rec[i].shape, rec[i].data};
    hiss_status st = st_write_f32(path, t, nt, meta, nm, err);
    free(meta);
    free(t);
    return st;
}
