/* Loading a synth file. The engine's loader (model_load.c) reads fx files only for now, so this
 * reads the safetensors itself, with the same rules: dimensions from the shapes, every expected
 * tensor present with its exact shape and finite values, nothing unexpected, each error naming
 * the file and the tensor or field. Once model_load.c knows "hiss.io": "synth" (docs/synth.md,
 * "Engine integration"), this becomes hiss_model_load plus views of the head tensors. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnum.h"
#include "safetensors.h"
#include "synth_model.h"

#define NC HISS_SYNTH_CLASSES

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static int parse_num(const char *s, double *out)
{
    if (!s || !*s)
        return 0;
    char *end = NULL;
    errno = 0;
    double v = hiss_strtod_c(s, &end);
    if (errno || !end || *end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* A tensor that sets a dimension: present, with ndim dimensions, each in [1, limit[d]]. */
static const st_tensor *dims_from(const st_file *f, const char *file, const char *name, int ndim,
                                  const int64_t *limit, hiss_error *err)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: missing tensor %s", file, name);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = t->shape[d] >= 1 && t->shape[d] <= limit[d];
    if (!ok) {
        char s[128];
        shape_str(s, sizeof s, t->ndim, t->shape);
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s has shape %s, which no synth model within the "
                    "loader's limits has", file, name, s);
        return NULL;
    }
    return t;
}

static hiss_status read_config(const st_file *f, const char *file, hiss_config *c, int *head_bias,
                               hiss_error *err)
{
    memset(c, 0, sizeof *c);
    const char *io = f->has_meta ? st_meta(f, "hiss.io") : NULL;
    if (!io || strcmp(io, "synth") != 0) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.io\" is %s%.64s%s, expected \"synth\"", file,
                    io ? "\"" : "", io ? io : "missing", io ? "\"" : "");
        return HISS_ERR_MODEL;
    }
    c->io = HISS_IO_SYNTH;
    const char *sr = st_meta(f, "sample_rate");
    if (!parse_num(sr, &c->sample_rate) || c->sample_rate < 1000.0 || c->sample_rate > 1536000.0) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"sample_rate\" is %s%.64s%s, expected a rate in Hz "
                    "(1000 to 1536000)", file, sr ? "\"" : "", sr ? sr : "missing", sr ? "\"" : "");
        return HISS_ERR_MODEL;
    }
    c->rms_eps = 1e-5f;
    const char *eps = st_meta(f, "rms_eps");
    if (eps) {
        double e;
        if (!parse_num(eps, &e) || !(e > 0.0 && e < 1.0)) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"rms_eps\" is \"%.64s\", expected a number "
                        "between 0 and 1", file, eps);
            return HISS_ERR_MODEL;
        }
        c->rms_eps = (float)e;
    }
    const int64_t emb_lim[2] = {NC, HISS_MAX_D_MODEL};
    const st_tensor *emb = dims_from(f, file, "embedding.weight", 2, emb_lim, err);
    if (!emb)
        return HISS_ERR_MODEL;
    if (emb->shape[0] != NC) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor embedding.weight has %lld rows, expected %d (one per "
                    "mu-law class)", file, (long long)emb->shape[0], NC);
        return HISS_ERR_MODEL;
    }
    c->d_model = (int)emb->shape[1];
    const int64_t cp_lim[2] = {HISS_MAX_D_MODEL, HISS_MAX_COND};
    const st_tensor *cp = dims_from(f, file, "cond_proj.weight", 2, cp_lim, err);
    if (!cp)
        return HISS_ERR_MODEL;
    c->n_cond = (int)cp->shape[1];
    const int64_t in_lim[2] = {2 * HISS_MAX_D_INNER, HISS_MAX_D_MODEL};
    const int64_t cw_lim[3] = {HISS_MAX_D_INNER, 1, HISS_MAX_D_CONV};
    const int64_t al_lim[2] = {HISS_MAX_D_INNER, HISS_MAX_D_STATE};
    const int64_t dt_lim[2] = {HISS_MAX_D_INNER, HISS_MAX_D_INNER};
    const st_tensor *inp = dims_from(f, file, "backbone.layers.0.mixer.in_proj.weight", 2, in_lim, err);
    const st_tensor *cw = inp ? dims_from(f, file, "backbone.layers.0.mixer.conv1d.weight", 3, cw_lim, err) : NULL;
    const st_tensor *al = cw ? dims_from(f, file, "backbone.layers.0.mixer.A_log", 2, al_lim, err) : NULL;
    const st_tensor *dt = al ? dims_from(f, file, "backbone.layers.0.mixer.dt_proj.weight", 2, dt_lim, err) : NULL;
    if (!dt)
        return HISS_ERR_MODEL;
    if (inp->shape[0] % 2 != 0) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor backbone.layers.0.mixer.in_proj.weight has %lld rows, "
                    "expected 2*d_inner (even)", file, (long long)inp->shape[0]);
        return HISS_ERR_MODEL;
    }
    c->d_inner = (int)(inp->shape[0] / 2);
    c->d_conv = (int)cw->shape[2];
    c->d_state = (int)al->shape[1];
    c->dt_rank = (int)dt->shape[1];
    /* Layers are numbered from 0 without gaps; a tensor of a layer past the gap is reported as
     * unexpected by the caller. */
    char name[96];
    while (c->n_layer < HISS_MAX_LAYERS) {
        snprintf(name, sizeof name, "backbone.layers.%d.norm.weight", c->n_layer);
        if (!st_find(f, name))
            break;
        c->n_layer++;
    }
    if (c->n_layer == 0) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: missing tensor backbone.layers.0.norm.weight", file);
        return HISS_ERR_MODEL;
    }
    *head_bias = st_find(f, "lm_head.bias") != NULL;
    return HISS_OK;
}

static hiss_status take(const st_file *f, const char *file, const char *name, int ndim,
                        const int64_t *shape, float *dst, size_t numel, hiss_error *err)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: missing tensor %s", file, name);
        return HISS_ERR_MODEL;
    }
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        char got[128], want[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s has shape %s, expected %s", file, name, got, want);
        return HISS_ERR_MODEL;
    }
    st_to_f32(f, t, dst);
    for (size_t j = 0; j < numel; j++)
        if (!isfinite(dst[j])) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s has a non-finite value (%g) at index %zu", file,
                        name, (double)dst[j], j);
            return HISS_ERR_MODEL;
        }
    return HISS_OK;
}

hiss_status hiss_synth_model_load_memory(const void *data, size_t size, const char *name,
                                         hiss_synth_model **out, hiss_error *err)
{
    if (!out || (!data && size))
        return HISS_ERR_ARG;
    *out = NULL;
    const char *file = name ? name : "<memory>";
    st_file f;
    hiss_status st = st_parse(data, size, file, &f, err);
    if (st != HISS_OK)
        return st;
    hiss_config cfg;
    int head_bias = 0;
    hiss_synth_model *m = NULL;
    st = read_config(&f, file, &cfg, &head_bias, err);
    if (st != HISS_OK)
        goto done;
    st = hiss_synth_model_alloc(&cfg, st_meta(&f, "hiss.cond"), head_bias, file, &m, err);
    if (st != HISS_OK)
        goto done;
    int expected = 0;
    for (int i = 0; i < m->bb->n_tensors && st == HISS_OK; i++) {
        const hiss_tensor_rec *r = &m->bb->tensors[i];
        if (!hiss_synth_is_backbone_tensor(r->name))
            continue;
        st = take(&f, file, r->name, r->ndim, r->shape, m->bb->arena + r->offset, r->numel, err);
        expected++;
    }
    hiss_synth_head_rec rec[5];
    const int nh = hiss_synth_head_tensors(m, rec);
    for (int i = 0; i < nh && st == HISS_OK; i++) {
        st = take(&f, file, rec[i].name, rec[i].ndim, rec[i].shape, rec[i].data, rec[i].numel, err);
        expected++;
    }
    if (st != HISS_OK)
        goto done;
    if (f.n_tensors != expected) {
        for (int i = 0; i < f.n_tensors; i++) {
            const char *n = f.tensors[i].name;
            if (!hiss_synth_model_tensor_by_name(m, n).data) {
                hiss_seterr(err, HISS_ERR_MODEL, "%s: unexpected tensor %s (not part of a %d-layer synth "
                            "model)", file, n, cfg.n_layer);
                st = HISS_ERR_MODEL;
                goto done;
            }
        }
    }
    hiss_synth_model_finish(m);
    for (int l = 0; l < cfg.n_layer; l++)
        for (int j = 0; j < cfg.d_inner * cfg.d_state; j++)
            if (!isfinite(m->bb->layers[l].A[j])) {
                hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor backbone.layers.%d.mixer.A_log has value %g at "
                            "index %d: -exp() of it overflows", file, l, (double)m->bb->layers[l].A_log[j], j);
                st = HISS_ERR_MODEL;
                goto done;
            }
    for (int i = 0; i < f.n_meta; i++)
        if (hiss_model_set_meta(m->bb, f.meta[i].key, f.meta[i].value) != HISS_OK) {
            hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory copying metadata", file);
            st = HISS_ERR_NOMEM;
            goto done;
        }
done:
    st_free(&f);
    if (st != HISS_OK) {
        hiss_synth_model_free(m);
        return st;
    }
    *out = m;
    return HISS_OK;
}

hiss_status hiss_synth_model_load(const char *path, hiss_synth_model **out, hiss_error *err)
{
    if (!out || !path)
        return HISS_ERR_ARG;
    *out = NULL;
    uint8_t *buf;
    size_t size;
    hiss_status st = hiss_read_model_file(path, &buf, &size, err);
    if (st != HISS_OK)
        return st;
    st = hiss_synth_model_load_memory(buf, size, path, out, err);
    free(buf);
    return st;
}

hiss_status hiss_synth_file_io(const char *path, hiss_io *io, hiss_error *err)
{
    if (!io || !path)
        return HISS_ERR_ARG;
    uint8_t *buf;
    size_t size;
    hiss_status st = hiss_read_model_file(path, &buf, &size, err);
    if (st != HISS_OK)
        return st;
    st_file f;
    st = st_parse(buf, size, path, &f, err);
    if (st == HISS_OK) {
        const char *v = f.has_meta ? st_meta(&f, "hiss.io") : NULL;
        if (v && strcmp(v, "fx") == 0) {
            *io = HISS_IO_FX;
        } else if (v && strcmp(v, "synth") == 0) {
            *io = HISS_IO_SYNTH;
        } else {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.io\" is %s%.64s%s, expected \"fx\" or "
                        "\"synth\"", path, v ? "\"" : "", v ? v : "missing", v ? "\"" : "");
            st = HISS_ERR_MODEL;
        }
        st_free(&f);
    }
    free(buf);
    return st;
}
