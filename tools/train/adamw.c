/* AdamW (Loshchilov & Hutter): Adam with the weight decay applied to the parameter directly
 * instead of through the gradient, so it does not get rescaled by the second moment. Moments are
 * bias-corrected. The decay applies to matrices only (ht_tensor_info.decay). */
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
