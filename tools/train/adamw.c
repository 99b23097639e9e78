/* AdamW (Loshchilov & Hutter): Adam with the weight decay applied to the parameter directly
 * instead of through the gradient, so it does not get rescaled by the second moment. Moments are
 * bias-corrected. The decay applies to matrices only (ht_tensor_info.decay). */
#include <stdlib.h>

#include "train_real.h"

double HT_FN(grad_norm)(const ht_layout *L, const real *G)
{
    double ss = 0;
    for (size_t i = 0; i < L->n_params; i++)
        ss += (double)G[i] * G[i];
    return sqrt(ss);
}

void HT_FN(adamw_update)(const ht_layout *L, real *P, const real *G, real *m, real *v, long step,
                         double lr, const ht_train_opts *o)
{
    const double b1 = o->beta1, b2 = o->beta2;
    const double c1 = 1.0 - pow(b1, (double)step), c2 = 1.0 - pow(b2, (double)step);
    for (int k = 0; k < L->n_tensors; k++) {
        const ht_tensor_info *t = &L->t[k];
        const double wd = t->decay ? o->weight_decay : 0.0;
        for (size_t j = t->offset; j < t->offset + t->numel; j++) {
            const double g = G[j];
            const double mj = b1 * m[j] + (1.0 - b1) * g;
            const double vj = b2 * v[j] + (1.0 - b2) * g * g;
            m[j] = (real)mj;
            v[j] = (real)vj;
            const double upd = (mj / c1) / (sqrt(vj / c2) + o->adam_eps) + wd * P[j];
            P[j] = (real)(P[j] - lr * upd);
        }
    }
}

int HT_FN(adam_init)(HT_FN(adam) *a, size_t n_params)
{
    a->m = calloc(n_params, sizeof(real));
    a->v = calloc(n_params, sizeof(real));
    a->G = calloc(n_params, sizeof(real));
    a->step = 0;
    return a->m && a->v && a->G ? 0 : -1;
}

void HT_FN(adam_free)(HT_FN(adam) *a)
{
    free(a->m);
    free(a->v);
    free(a->G);
    a->m = a->v = a->G = NULL;
}

double HT_FN(adam_step)(HT_FN(adam) *a, const ht_layout *L, const ht_train_opts *o, real *P,
                        double grad_norm)
{
    if (o->clip > 0 && grad_norm > o->clip) {
        const real scale = (real)(o->clip / grad_norm);
        for (size_t j = 0; j < L->n_params; j++)
            a->G[j] *= scale;
    }
    const double lr = ht_lr_at(o, a->step);
    a->step++;
    HT_FN(adamw_update)(L, P, a->G, a->m, a->v, a->step, lr, o);
    return lr;
}
