/* The synth head around the backbone, over one chunk of a note (docs/synth.md):
 *   h_t = embedding[prev class] + W_c c_t + b_c  ->  backbone  ->  logits = W_lm o_t (+ b_lm)
 * and the cross-entropy of the logits against the recorded class, forward and backward. */
#include <string.h>

#include "net.h"

#define NC HISS_SYNTH_CLASSES

double HT_FN(synth_window)(const ht_layout *L, const real *P, HT_FN(acts) *a, int T,
                           const unsigned char *in, const real *cond, const unsigned char *tgt,
                           const real *state0, real *G, double scale)
{
    const int dm = L->d_model, nc = L->n_in;
    const real *lm_b = L->head_bias ? P + L->lm_b : NULL;
    memcpy(a->in, cond, (size_t)T * nc * sizeof(real));
    memcpy(a->cls, in, (size_t)T);
    HT_FN(linear_forward)(a->r, dm, a->in, nc, P + L->cond_w, P + L->cond_b, T, nc, dm, a->wt);
    HT_FN(embed_forward)(a->r, a->cls, P + L->emb, T, dm);
    HT_FN(backbone_forward)(L, P, a, T, state0);
    HT_FN(linear_forward)(a->logits, NC, a->of, dm, P + L->lm_w, lm_b, T, dm, NC, a->wt);
    /* with G the logits are replaced by their gradient */
    const double nll = HT_FN(xent)(G ? a->logits : NULL, a->logits, tgt, T, NC, (real)scale);
    if (!G)
        return nll;
    real *dof = a->dtmp;
    memset(dof, 0, (size_t)T * dm * sizeof *dof);
    HT_FN(linear_backward_wide)(dof, dm, G + L->lm_w, L->head_bias ? G + L->lm_b : NULL,
                                a->logits, NC, a->of, dm, P + L->lm_w, T, dm, NC, a->wt, a->wt2);
    HT_FN(backbone_backward)(L, P, a, dof, G);
    HT_FN(linear_backward)(NULL, 0, G + L->cond_w, G + L->cond_b, a->dr, dm, a->in, nc,
                           P + L->cond_w, T, nc, dm);
    HT_FN(embed_backward)(G + L->emb, a->dr, a->cls, T, dm);
    return nll;
}

const real *HT_FN(acts_logits)(const HT_FN(acts) *a)
{
    return a->logits;
}
