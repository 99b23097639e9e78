/* The synth head around the backbone, over one chunk of a note (docs/synth.md):
 *   h_t = embedding[prev class] + W_c c_t + b_c  ->  backbone  ->  logits = W_lm o_t (+ b_lm)
 * and the cross-entropy of the logits against the recorded class, forward and backward. */
#include <string.h>

#include "net.h"

#define NC HISS_SYNTH_CLASSES
/* rows of logits per block: 128 KB of floats */
#define HEAD_BLOCK 128

static double window(const ht_layout *L, const real *P, HT_FN(acts) *a, int T,
                     const unsigned char *in, const real *cond, const unsigned char *tgt,
                     const real *state0, real *G, double scale)
{
    const int dm = L->d_model, nc = L->n_in;
    const real *lm_b = L->head_bias ? P + L->lm_b : NULL;
    memcpy(a->in, cond, (size_t)T * nc * sizeof(real));
    memcpy(a->cls, in, (size_t)T);
    a->ops->linear_forward(a->r, dm, a->in, nc, P + L->cond_w, P + L->cond_b, T, nc, dm, a->wt);
    a->ops->embed_forward(a->r, a->cls, P + L->emb, T, dm);
    HT_FN(backbone_forward)(L, P, a, T, state0);
    if (!G) {
        a->ops->linear_forward(a->logits, NC, a->of, dm, P + L->lm_w, lm_b, T, dm, NC, a->wt);
        return a->ops->xent(NULL, a->logits, tgt, T, NC, (real)scale);
    }
    /* With G, lm_head forward, the loss and lm_head backward go by blocks of rows, each block's
     * logits (then their gradient, in place) still in the cache when the next op reads them:
     * over the whole window they are T x 256 values, megabytes. The sums are those of one pass
     * (each over t in order), but the loss's, added block by block. */
    real *dof = a->dtmp;
    memset(dof, 0, (size_t)T * dm * sizeof *dof);
    double nll = 0;
    for (int t0 = 0; t0 < T; t0 += HEAD_BLOCK) {
        const int tb = T - t0 < HEAD_BLOCK ? T - t0 : HEAD_BLOCK;
        real *lg = a->logits + (size_t)t0 * NC;
        const real *of = a->of + (size_t)t0 * dm;
        a->ops->linear_forward(lg, NC, of, dm, P + L->lm_w, lm_b, tb, dm, NC, a->wt);
        nll += a->ops->xent(lg, lg, tgt + t0, tb, NC, (real)scale);
        a->ops->linear_backward(dof + (size_t)t0 * dm, dm, G + L->lm_w,
                                L->head_bias ? G + L->lm_b : NULL, lg, NC, of, dm, P + L->lm_w,
                                tb, dm, NC);
    }
    HT_FN(backbone_backward)(L, P, a, dof, G);
    a->ops->linear_backward(NULL, 0, G + L->cond_w, G + L->cond_b, a->dr, dm, a->in, nc,
                            P + L->cond_w, T, nc, dm);
    a->ops->embed_backward(G + L->emb, a->dr, a->cls, T, dm);
    return nll;
}

double HT_FN(synth_window)(const ht_layout *L, const real *P, HT_FN(acts) *a, int T,
                           const unsigned char *in, const real *cond, const unsigned char *tgt,
                           const real *state0, real *G, double scale)
{
    const ht_fpguard fpg = ht_fp_enter();
    const double nll = window(L, P, a, T, in, cond, tgt, state0, G, scale);
    ht_fp_leave(fpg);
    return nll;
}

const real *HT_FN(acts_logits)(const HT_FN(acts) *a)
{
    return a->logits;
}
