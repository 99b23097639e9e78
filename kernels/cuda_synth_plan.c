/* Host side of the CUDA synth's layout. Plain C: nothing here touches the device. */
#include <string.h>

#include "cuda_synth_plan.h"

static int pad4(int x)
{
    return (x + 3) & ~3;
}

/* Shared memory the activations need, whatever else fits: laid out in *p, returns the floats. */
static int activations(hs_plan *p)
{
    const hc_plan *b = &p->bb;
    int o = 0;
    p->s_R = o;    o += 2 * b->dm4;          /* residual, in and out of a layer */
    p->s_H = o;    o += b->dm4;              /* a layer's output */
    p->s_XI = o;   o += b->di4;
    p->s_Z = o;    o += b->di4;              /* silu(z) */
    p->s_XC = o;   o += p->nw * b->di4;      /* conv output, one copy a warp */
    p->s_AW = o;   o += p->nw * b->dm4;      /* normed residual, one copy a warp */
    p->s_DBC = o;  o += b->ldx;
    p->s_DT = o;   o += b->dr4;
    p->s_PK = o;   o += 4 * b->di4;
    p->s_Y = o;    o += b->di4;
    p->s_LOG = o;  o += 256;
    p->s_HC = o;   o += p->tch * b->dm4;     /* embedding-free part of the input, per sample */
    p->s_COND = o; o += pad4(p->tch * (p->nc > 0 ? p->nc : 1));
    p->s_PH = o;   o += pad4(2 * p->tch);    /* phase per sample (double) */
    p->s_misc = o; o += 8;
    return o;
}

int hs_plan_make(hs_plan *p, const hiss_synth_model *m, int nt, size_t smem_bytes, int allow_wsmem,
                 const char **why)
{
    memset(p, 0, sizeof *p);
    if (!hc_plan_model(&p->bb, m->bb, nt)) {
        *why = "d_state is more than the scan can hold";
        return 0;
    }
    const hc_plan *b = &p->bb;
    p->nc = m->cfg.n_cond;
    p->nt = nt;
    p->nw = nt / 32;
    p->tch = 16;
    int o = 0;
    p->h_cw = o;  o += p->nc * b->dm4;
    p->h_cb = o;  o += b->dm4;
    p->h_lm = o;  o += b->dm * 256;
    p->h_lmb = o; o += 256;
    p->h_dec = o; o += 256;
    p->h_emb = o; o += 256 * b->dm4;
    p->h_total = o;
    p->l_ssm = b->dc * b->di;
    p->l_size = p->l_ssm + b->di * b->ds;
    p->ss = pad4(b->nl * p->l_size);

    const int cap = (int)(smem_bytes / sizeof(float));
    int used = activations(p);
    if (used > cap) {
        *why = "the activations of one voice do not fit in shared memory";
        return 0;
    }
    /* What every sample reads most comes first: the weights (every matrix product), the
     * state (read and written by every layer), the sampler's work space, A (read by every
     * layer), then the embedding (one row a sample). */
    p->s_w = p->s_head = p->s_state = p->s_smp = p->s_A = p->s_emb = -1;
    if (allow_wsmem && used + b->w_smem + p->h_emb <= cap) {
        p->s_w = used;
        used += b->w_smem;
        p->s_head = used;
        used += p->h_emb;
        p->weights_in_smem = 1;
    }
    if (used + p->ss <= cap) {
        p->s_state = used;
        used += p->ss;
    }
    if (used + HS_SMP_FLOATS <= cap) {
        p->s_smp = used;
        used += HS_SMP_FLOATS;
    }
    const int a_floats = b->nl * b->w_Al;
    if (used + a_floats <= cap) {
        p->s_A = used;
        used += a_floats;
    }
    if (used + 256 * b->dm4 <= cap) {
        p->s_emb = used;
        used += 256 * b->dm4;
    }
    p->smem_floats = used;
    return 1;
}

void hs_pack_head(const hs_plan *p, const hiss_synth_model *m, float *dst)
{
    const int dm = p->bb.dm, dm4 = p->bb.dm4, nc = p->nc;
    memset(dst, 0, (size_t)p->h_total * sizeof(float));
    for (int j = 0; j < dm; j++) {
        for (int i = 0; i < nc; i++)   /* cond_proj [dm][nc] -> [nc][dm4] */
            dst[p->h_cw + i * dm4 + j] = m->cond_w[(size_t)j * nc + i];
        dst[p->h_cb + j] = m->cond_b[j];
        for (int c = 0; c < 256; c++) { /* lm_head [256][dm] -> [dm][256] */
            dst[p->h_lm + j * 256 + c] = m->lm_w[(size_t)c * dm + j];
            dst[p->h_emb + c * dm4 + j] = m->emb[(size_t)c * dm + j];
        }
    }
    for (int c = 0; c < 256; c++) {
        dst[p->h_lmb + c] = m->lm_b ? m->lm_b[c] : 0.0f;
        dst[p->h_dec + c] = hiss_synth_mulaw_decode(c);
    }
}
