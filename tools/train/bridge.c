/* Parameters between the trainer's flat array and an engine model, tensor by tensor by name, so a
 * layout that disagreed with the engine's would fail loudly here instead of training garbage. */
#include <string.h>

#include "model.h"
#include "train_real.h"

static int check(const ht_layout *L, const hiss_model *m, int i, hiss_tensor *mt, hiss_error *err)
{
    const ht_tensor_info *t = &L->t[i];
    *mt = hiss_model_tensor_by_name(m, t->name);
    if (!mt->data) {
        hiss_seterr(err, HISS_ERR_MODEL, "model: tensor %s is missing", t->name);
        return -1;
    }
    int same = mt->ndim == t->ndim && mt->numel == t->numel;
    for (int d = 0; same && d < t->ndim; d++)
        same = mt->shape[d] == t->shape[d];
    if (!same) {
        hiss_seterr(err, HISS_ERR_MODEL,
                    "model: tensor %s has %d dims and %zu elements, the trainer expects %d and %zu",
                    t->name, mt->ndim, mt->numel, t->ndim, t->numel);
        return -1;
    }
    return 0;
}

int HT_FN(params_from_model)(const ht_layout *L, const hiss_model *m, real *P, hiss_error *err)
{
    if (hiss_model_tensor_count(m) != L->n_tensors) {
        hiss_seterr(err, HISS_ERR_MODEL, "model: %d tensors, the trainer expects %d",
                    hiss_model_tensor_count(m), L->n_tensors);
        return -1;
    }
    for (int i = 0; i < L->n_tensors; i++) {
        hiss_tensor mt;
        if (check(L, m, i, &mt, err))
            return -1;
        real *dst = P + L->t[i].offset;
        for (size_t j = 0; j < mt.numel; j++)
            dst[j] = (real)mt.data[j];
    }
    return 0;
}

int HT_FN(params_to_model)(const ht_layout *L, const real *P, hiss_model *m, hiss_error *err)
{
    for (int i = 0; i < L->n_tensors; i++) {
        hiss_tensor mt;
        if (check(L, m, i, &mt, err))
            return -1;
        /* hiss_tensor.data points into the model's arena; the model is not shared with any
         * stream while it is trained, so writing it is allowed (see hiss.h). */
        const real *src = P + L->t[i].offset;
        for (size_t j = 0; j < mt.numel; j++)
            mt.data[j] = (float)src[j];
    }
    hiss_model_finish(m);
    return 0;
}

/* The same for synth models, through hiss_synth.h's tensor view. */
static int check_synth(const ht_layout *L, const hiss_synth_model *m, int i, hiss_tensor *mt,
                       hiss_error *err)
{
    const ht_tensor_info *t = &L->t[i];
    *mt = hiss_synth_model_tensor_by_name(m, t->name);
    if (!mt->data) {
        hiss_seterr(err, HISS_ERR_MODEL, "synth model: tensor %s is missing", t->name);
        return -1;
    }
    int same = mt->ndim == t->ndim && mt->numel == t->numel;
    for (int d = 0; same && d < t->ndim; d++)
        same = mt->shape[d] == t->shape[d];
    if (!same) {
        hiss_seterr(err, HISS_ERR_MODEL,
                    "synth model: tensor %s has %d dims and %zu elements, the trainer expects %d "
                    "and %zu",
                    t->name, mt->ndim, mt->numel, t->ndim, t->numel);
        return -1;
    }
    return 0;
}

int HT_FN(params_from_synth)(const ht_layout *L, const hiss_synth_model *m, real *P,
                             hiss_error *err)
{
    if (hiss_synth_model_param_count(m) != (uint64_t)L->n_params) {
        hiss_seterr(err, HISS_ERR_MODEL, "synth model: %llu parameters, the trainer expects %zu",
                    (unsigned long long)hiss_synth_model_param_count(m), L->n_params);
        return -1;
    }
    for (int i = 0; i < L->n_tensors; i++) {
        hiss_tensor mt;
        if (check_synth(L, m, i, &mt, err))
            return -1;
        real *dst = P + L->t[i].offset;
        for (size_t j = 0; j < mt.numel; j++)
            dst[j] = (real)mt.data[j];
    }
    return 0;
}

int HT_FN(params_to_synth)(const ht_layout *L, const real *P, hiss_synth_model *m,
                           hiss_error *err)
{
    for (int i = 0; i < L->n_tensors; i++) {
        hiss_tensor mt;
        if (check_synth(L, m, i, &mt, err))
            return -1;
        const real *src = P + L->t[i].offset;
        for (size_t j = 0; j < mt.numel; j++)
            mt.data[j] = (float)src[j];
    }
    hiss_synth_model_finish(m);
    return 0;
}
