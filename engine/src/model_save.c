/* Saving: the configuration is written back as metadata so the file is self-describing, then
 * every tensor as F32 in canonical order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"

static const char *const derived_keys[] = {"hiss.io", "sample_rate", "rms_eps", "hiss.skip", "hiss.cond"};

hiss_status hiss_model_save(const hiss_model *m, const char *path, hiss_error *err)
{
    const hiss_config *c = &m->cfg;
    int n_extra = 0;
    st_kv *meta = calloc((size_t)m->n_meta + 5, sizeof *meta);
    st_out_tensor *t = calloc((size_t)m->n_tensors, sizeof *t);
    char rate[64], eps[64];
    char *cond = NULL;
    if (!meta || !t)
        goto nomem;
    snprintf(rate, sizeof rate, "%.17g", c->sample_rate);
    snprintf(eps, sizeof eps, "%.9g", (double)c->rms_eps);
    meta[n_extra++] = (st_kv){"hiss.io", "fx"};
    meta[n_extra++] = (st_kv){"sample_rate", rate};
    meta[n_extra++] = (st_kv){"rms_eps", eps};
    meta[n_extra++] = (st_kv){"hiss.skip", c->skip ? "1" : "0"};
    if (c->n_cond > 0) {
        size_t len = 1;
        for (int i = 0; i < c->n_cond; i++)
            len += strlen(m->cond_names[i]) + 1;
        cond = malloc(len);
        if (!cond)
            goto nomem;
        cond[0] = 0;
        for (int i = 0; i < c->n_cond; i++) {
            if (i)
                strcat(cond, ",");
            strcat(cond, m->cond_names[i]);
        }
        meta[n_extra++] = (st_kv){"hiss.cond", cond};
    }
    int n_meta = n_extra;
    for (int i = 0; i < m->n_meta; i++) {
        int derived = 0;
        for (size_t k = 0; k < sizeof derived_keys / sizeof *derived_keys; k++)
            derived |= strcmp(m->meta[i].key, derived_keys[k]) == 0;
        if (!derived)
            meta[n_meta++] = (st_kv){m->meta[i].key, m->meta[i].value};
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const hiss_tensor_rec *r = &m->tensors[i];
        t[i] = (st_out_tensor){r->name, r->ndim, r->shape, m->arena + r->offset};
    }
    hiss_status st = st_write_f32(path, t, m->n_tensors, meta, n_meta, err);
    free(cond);
    free(meta);
    free(t);
    return st;
nomem:
    free(cond);
    free(meta);
    free(t);
    hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory", path);
    return HISS_ERR_NOMEM;
}
