#define _XOPEN_SOURCE 700 /* realpath */
/* Loading: safetensors bytes -> validated hiss_model. Every rejection names the file and the
 * tensor or metadata field at fault. Dimensions come from the tensor shapes; the spec in model.c
 * then says exactly which tensors with which shapes must be present, so nothing is guessed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnum.h"
#include "model.h"
#include "safetensors.h"

#define HISS_MAX_FILE_BYTES ((uint64_t)HISS_MAX_PARAMS * 4u + HISS_MAX_HEADER + 8u)

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int d = 0; d < ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static const st_tensor *need(const st_file *f, const char *name, const char *file, int ndim,
                             hiss_error *err)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: missing tensor %s", file, name);
        return NULL;
    }
    if (t->ndim != ndim) {
        char s[128];
        shape_str(s, sizeof s, t->ndim, t->shape);
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s has shape %s, expected %d dimensions", file,
                    name, s, ndim);
        return NULL;
    }
    return t;
}

/* Strict decimal parse of a metadata number: the whole string, finite. */
static int parse_double(const char *s, double *out)
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

static int count_layers(const st_file *f, const char *file, hiss_error *err)
{
    static const char prefix[] = "backbone.layers.";
    int max_idx = -1;
    for (int i = 0; i < f->n_tensors; i++) {
        const char *n = f->tensors[i].name;
        if (strncmp(n, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *p = n + sizeof prefix - 1;
        long idx = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            idx = idx * 10 + (*p - '0');
            p++;
            digits++;
        }
        if (!digits || *p != '.' || (digits > 1 && n[sizeof prefix - 1] == '0')) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s has a malformed layer index", file, n);
            return -1;
        }
        if (idx >= HISS_MAX_LAYERS) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s: layer index %ld exceeds the limit of %d",
                        file, n, idx, HISS_MAX_LAYERS);
            return -1;
        }
        if (idx > max_idx)
            max_idx = (int)idx;
    }
    return max_idx + 1;
}

static hiss_status read_config(const st_file *f, const char *file, hiss_config *c, hiss_error *err)
{
    memset(c, 0, sizeof *c);
    if (!f->has_meta) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: no __metadata__; a hiss model needs \"hiss.io\" and "
                    "\"sample_rate\"", file);
        return HISS_ERR_MODEL;
    }
    const char *io = st_meta(f, "hiss.io");
    if (!io) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.io\" is missing (expected \"fx\")", file);
        return HISS_ERR_MODEL;
    }
    if (strcmp(io, "fx") == 0) {
        c->io = HISS_IO_FX;
    } else if (strcmp(io, "synth") == 0) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.io\" is \"synth\": synth models are not "
                    "supported by this version of hiss", file);
        return HISS_ERR_MODEL;
    } else {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.io\" is \"%.64s\", expected \"fx\"", file, io);
        return HISS_ERR_MODEL;
    }
    const char *sr = st_meta(f, "sample_rate");
    if (!sr || !parse_double(sr, &c->sample_rate) || c->sample_rate < 1000.0 ||
        c->sample_rate > 1536000.0) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"sample_rate\" is %s%.64s%s, expected a rate in Hz "
                    "(1000 to 1536000)", file, sr ? "\"" : "", sr ? sr : "missing", sr ? "\"" : "");
        return HISS_ERR_MODEL;
    }
    c->rms_eps = 1e-5f;
    const char *eps = st_meta(f, "rms_eps");
    if (eps) {
        double e;
        if (!parse_double(eps, &e) || !(e > 0.0 && e < 1.0)) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"rms_eps\" is \"%.64s\", expected a number "
                        "between 0 and 1", file, eps);
            return HISS_ERR_MODEL;
        }
        c->rms_eps = (float)e;
    }
    const char *skip = st_meta(f, "hiss.skip");
    if (skip) {
        if (strcmp(skip, "1") != 0 && strcmp(skip, "0") != 0) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: metadata \"hiss.skip\" is \"%.64s\", expected \"0\" or "
                        "\"1\"", file, skip);
            return HISS_ERR_MODEL;
        }
        c->skip = skip[0] == '1';
    }

    const st_tensor *ip = need(f, "input_proj.weight", file, 2, err);
    if (!ip)
        return HISS_ERR_MODEL;
    c->d_model = (int)ip->shape[0];
    if (ip->shape[0] < 1 || ip->shape[0] > HISS_MAX_D_MODEL || ip->shape[1] < 1 ||
        ip->shape[1] > HISS_MAX_COND + 1) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor input_proj.weight has shape [%lld,%lld]: d_model must "
                    "be 1..%d and inputs 1..%d", file, (long long)ip->shape[0], (long long)ip->shape[1],
                    HISS_MAX_D_MODEL, HISS_MAX_COND + 1);
        return HISS_ERR_MODEL;
    }
    c->n_cond = (int)ip->shape[1] - 1;

    int nl = count_layers(f, file, err);
    if (nl < 0)
        return HISS_ERR_MODEL;
    if (nl == 0) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: no backbone.layers.* tensors: a model needs at least one "
                    "layer", file);
        return HISS_ERR_MODEL;
    }
    c->n_layer = nl;
    const st_tensor *inp = need(f, "backbone.layers.0.mixer.in_proj.weight", file, 2, err);
    const st_tensor *cw = inp ? need(f, "backbone.layers.0.mixer.conv1d.weight", file, 3, err) : NULL;
    const st_tensor *al = cw ? need(f, "backbone.layers.0.mixer.A_log", file, 2, err) : NULL;
    const st_tensor *dt = al ? need(f, "backbone.layers.0.mixer.dt_proj.weight", file, 2, err) : NULL;
    if (!dt)
        return HISS_ERR_MODEL;
    if (inp->shape[0] % 2 != 0 || inp->shape[0] < 2 || inp->shape[0] / 2 > HISS_MAX_D_INNER) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor backbone.layers.0.mixer.in_proj.weight has %lld rows, "
                    "expected 2*d_inner (even, at most %d)", file, (long long)inp->shape[0],
                    2 * HISS_MAX_D_INNER);
        return HISS_ERR_MODEL;
    }
    c->d_inner = (int)(inp->shape[0] / 2);
    if (cw->shape[2] < 1 || cw->shape[2] > HISS_MAX_D_CONV) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor backbone.layers.0.mixer.conv1d.weight: d_conv %lld is "
                    "out of range (1..%d)", file, (long long)cw->shape[2], HISS_MAX_D_CONV);
        return HISS_ERR_MODEL;
    }
    c->d_conv = (int)cw->shape[2];
    if (al->shape[1] < 1 || al->shape[1] > HISS_MAX_D_STATE) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor backbone.layers.0.mixer.A_log: d_state %lld is out of "
                    "range (1..%d)", file, (long long)al->shape[1], HISS_MAX_D_STATE);
        return HISS_ERR_MODEL;
    }
    c->d_state = (int)al->shape[1];
    if (dt->shape[1] < 1 || dt->shape[1] > c->d_inner) {
        hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor backbone.layers.0.mixer.dt_proj.weight: dt_rank %lld "
                    "is out of range (1..d_inner)", file, (long long)dt->shape[1]);
        return HISS_ERR_MODEL;
    }
    c->dt_rank = (int)dt->shape[1];
    return HISS_OK;
}

hiss_status hiss_model_load_memory(const void *data, size_t size, const char *name, hiss_model **out,
                                   hiss_error *err)
{
    if (!out)
        return HISS_ERR_ARG;
    *out = NULL;
    const char *file = name ? name : "<memory>";
    st_file f;
    hiss_status st = st_parse(data, size, file, &f, err);
    if (st != HISS_OK)
        return st;

    hiss_config cfg;
    hiss_model *m = NULL;
    st = read_config(&f, file, &cfg, err);
    if (st != HISS_OK)
        goto fail;
    st = hiss_model_alloc(&cfg, &m, err);
    if (st != HISS_OK) {
        if (err) {
            char tmp[HISS_ERROR_LEN];
            snprintf(tmp, sizeof tmp, "%s", err->msg);
            hiss_seterr(err, st, "%s: %s", file, tmp);
        }
        goto fail;
    }
    /* Every expected tensor present with its exact shape, converted, finite. */
    for (int i = 0; i < m->n_tensors; i++) {
        const hiss_tensor_rec *r = &m->tensors[i];
        const st_tensor *t = st_find(&f, r->name);
        if (!t) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: missing tensor %s", file, r->name);
            st = HISS_ERR_MODEL;
            goto fail;
        }
        int same = t->ndim == r->ndim;
        for (int d = 0; same && d < r->ndim; d++)
            same = t->shape[d] == r->shape[d];
        if (!same) {
            char got[128], want[128];
            shape_str(got, sizeof got, t->ndim, t->shape);
            shape_str(want, sizeof want, r->ndim, r->shape);
            hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s has shape %s, expected %s", file, r->name, got,
                        want);
            st = HISS_ERR_MODEL;
            goto fail;
        }
        float *dst = m->arena + r->offset;
        st_to_f32(&f, t, dst);
        for (size_t j = 0; j < r->numel; j++)
            if (!isfinite(dst[j])) {
                hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s has a non-finite value (%g) at index %zu",
                            file, r->name, (double)dst[j], j);
                st = HISS_ERR_MODEL;
                goto fail;
            }
    }
    if (f.n_tensors != m->n_tensors) {
        for (int i = 0; i < f.n_tensors; i++) {
            int known = 0;
            for (int j = 0; j < m->n_tensors && !known; j++)
                known = strcmp(f.tensors[i].name, m->tensors[j].name) == 0;
            if (!known) {
                hiss_seterr(err, HISS_ERR_MODEL, "%s: unexpected tensor %s (not part of a %d-layer fx model)",
                            file, f.tensors[i].name, cfg.n_layer);
                st = HISS_ERR_MODEL;
                goto fail;
            }
        }
    }
    hiss_model_finish(m);
    for (int l = 0; l < cfg.n_layer; l++)
        for (int j = 0; j < cfg.d_inner * cfg.d_state; j++)
            if (!isfinite(m->layers[l].A[j])) {
                hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor backbone.layers.%d.mixer.A_log has value %g at "
                            "index %d: -exp() of it overflows", file, l, (double)m->layers[l].A_log[j], j);
                st = HISS_ERR_MODEL;
                goto fail;
            }
    const char *cond = st_meta(&f, "hiss.cond");
    if (cond && (cfg.n_cond > 0 || *cond)) {
        st = hiss_model_set_cond_names(m, file, cond, err);
        if (st != HISS_OK)
            goto fail;
    }
    for (int i = 0; i < f.n_meta; i++)
        if (hiss_model_set_meta(m, f.meta[i].key, f.meta[i].value) != HISS_OK) {
            hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory copying metadata", file);
            st = HISS_ERR_NOMEM;
            goto fail;
        }
    st_free(&f);
    *out = m;
    return HISS_OK;
fail:
    hiss_model_free(m);
    st_free(&f);
    return st;
}

hiss_status hiss_read_model_file(const char *path, uint8_t **data, size_t *len, hiss_error *err)
{
    *data = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        hiss_seterr(err, HISS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return HISS_ERR_IO;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        hiss_seterr(err, HISS_ERR_IO, "%s: not a regular file", path);
        fclose(fp);
        return HISS_ERR_IO;
    }
    if ((uint64_t)sb.st_size > HISS_MAX_FILE_BYTES) {
        hiss_seterr(err, HISS_ERR_FORMAT, "%s: file is %lld bytes, larger than any model hiss accepts", path,
                    (long long)sb.st_size);
        fclose(fp);
        return HISS_ERR_FORMAT;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
        fclose(fp);
        return HISS_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, size, fp);
    int rerr = ferror(fp);
    fclose(fp);
    if (got != size || rerr) {
        hiss_seterr(err, HISS_ERR_IO, "%s: read error", path);
        free(buf);
        return HISS_ERR_IO;
    }
    *data = buf;
    *len = size;
    return HISS_OK;
}

hiss_status hiss_model_load(const char *path, hiss_model **out, hiss_error *err)
{
    if (!out || !path)
        return HISS_ERR_ARG;
    *out = NULL;
    uint8_t *buf;
    size_t size;
    hiss_status st = hiss_read_model_file(path, &buf, &size, err);
    if (st != HISS_OK)
        return st;
    st = hiss_model_load_memory(buf, size, path, out, err);
    free(buf);
    if (st == HISS_OK) {
        /* absolute, so that a hiss-server with another working directory finds it */
        char *abs = realpath(path, NULL);
        (*out)->path = abs ? abs : strdup(path);
    }
    return st;
}
