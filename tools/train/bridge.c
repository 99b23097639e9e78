/* Parameters between the trainer's flat array and an engine model (fx or synth), tensor by tensor
 * by name, so a layout that disagreed with the engine's would fail loudly here instead of
 * training garbage. */
#include <string.h>

#include "model.h"
#include "train_real.h"

/* A model's tensor by name, whichever kind of model m is. */
typedef hiss_tensor (*tensor_by_name)(const void *m, const char *name);

static hiss_tensor fx_tensor(const void *m, const char *name)
{
    return hiss_model_tensor_by_name(m, name);
}

static hiss_tensor synth_tensor(const void *m, const char *name)
{
    return hiss_synth_model_tensor_by_name(m, name);
}

/* Every tensor of the layout, checked against the model's of that name ("what" names the model
 * in messages), then copied into the model from `in` or out of it to `out` (the other NULL). */
static int transfer(const ht_layout *L, const void *m, tensor_by_name get, const char *what,
                    real *out, const real *in, hiss_error *err)
{
    for (int i = 0; i < L->n_tensors; i++) {
        const ht_tensor_info *t = &L->t[i];
        const hiss_tensor mt = get(m, t->name);
        if (!mt.data) {
            hiss_seterr(err, HISS_ERR_MODEL, "%s: tensor %s is missing", what, t->name);
            return -1;
        }
        int same = mt.ndim == t->ndim && mt.numel == t->numel;
        for (int d = 0; same && d < t->ndim; d++)
            same = mt.shape[d] == t->shape[d];
        if (!same) {
            hiss_seterr(err, HISS_ERR_MODEL,
                        "%s: tensor %s has %d dims and %zu elements, the trainer expects %d and "
                        "%zu",
                        what, t->name, mt.ndim, mt.numel, t->ndim, t->numel);
            return -1;
        }
        /* hiss_tensor.data points into the model's arena; the model is not shared with any
         * stream while it is trained, so writing it is allowed (see hiss.h). */
        for (size_t j = 0; j < mt.numel; j++) {
            if (in)
                mt.data[j] = (float)in[t->offset + j];
            else
                out[t->offset + j] = (real)mt.data[j];
        }
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
    return transfer(L, m, fx_tensor, "model", P, NULL, err);
}

int HT_FN(params_to_model)(const ht_layout *L, const real *P, hiss_model *m, hiss_error *err)
{
    if (transfer(L, m, fx_tensor, "model", NULL, P, err))
        return -1;
    hiss_model_finish(m);
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
    return transfer(L, m, synth_tensor, "synth model", P, NULL, err);
}

int HT_FN(params_to_synth)(const ht_layout *L, const real *P, hiss_synth_model *m,
                           hiss_error *err)
{
    if (transfer(L, m, synth_tensor, "synth model", NULL, P, err))
        return -1;
    hiss_synth_model_finish(m);
    return 0;
}
