/* Host side of the CUDA plan: the weight blob's layout and packing, the state layout, and the
 * shared-memory layout of one chunk. Plain C: nothing here touches the device. */
#include <string.h>

#include "cuda_plan.h"

static int pad4(int x)
{
    return (x + 3) & ~3;
}

int hc_plan_model(hc_plan *p, const hiss_model *m, int nt)
{
    const hiss_config *c = &m->cfg;
    memset(p, 0, sizeof *p);
    p->dm = c->d_model;
    p->di = c->d_inner;
    p->ds = c->d_state;
    p->dc = c->d_conv;
    p->dr = c->dt_rank;
    p->nl = c->n_layer;
    p->nin = m->n_in;
    p->nc = c->n_cond;
    p->skip = c->skip;
    p->eps = c->rms_eps;
    p->dm4 = pad4(p->dm);
    p->di4 = pad4(p->di);
    p->dr4 = pad4(p->dr);
    p->ldin = pad4(2 * p->di);
    /* Scan mapping: enough lanes per channel to fill the block, few enough chains per lane to
     * stay in registers; chains per lane a power of 2 (the kernel is built for each). */
    int G = 1;
    while (G < 32 && G < p->ds && 2 * G * p->di <= nt)
        G *= 2;
    int cpt = 1;
    while (cpt * G < p->ds)
        cpt *= 2;
    while (cpt > HC_CPT_MAX && G < 32) {
        G *= 2;
        cpt = 1;
        while (cpt * G < p->ds)
            cpt *= 2;
    }
    if (cpt > HC_CPT_MAX)
        return 0;
    p->G = G;
    p->cpt = cpt;
    p->nr = G * cpt;
    p->ldx = pad4(2 * p->nr);

    int o = 0;
    p->w_norm = o;  o += p->dm4;
    p->w_in = o;    o += p->dm * p->ldin;
    p->w_conv = o;  o += p->dc * p->di4;
    p->w_convb = o; o += p->di4;
    p->w_xdt = o;   o += p->dr * p->di4;
    p->w_xp = o;    o += p->di * p->ldx;
    p->w_dt = o;    o += p->dr * p->di4;
    p->w_dtb = o;   o += p->di4;
    p->w_D = o;     o += p->di4;
    p->w_out = o;   o += p->di * p->dm4;
    p->w_layer = o;
    o = p->nl * p->w_layer;
    p->w_inw = o;   o += p->nin * p->dm4;
    p->w_inb = o;   o += p->dm4;
    p->w_normf = o; o += p->dm4;
    p->w_outw = o;  o += p->dm4;
    p->w_outb = o;  o += 4;
    p->w_smem = o;
    p->w_A = o;
    p->w_Al = pad4(p->di * p->ds);
    o += p->nl * p->w_Al;
    p->w_total = o;

    p->hl = (p->dc - 1) * p->di;
    p->l_state = p->hl + p->di * p->ds;
    p->state_floats = p->nl * p->l_state;
    p->sstride = pad4(p->state_floats);
    p->s_stage = -1;
    return 1;
}

static int pk_floats(const hc_plan *p)
{
    return 4 * p->di4 > p->dm4 ? 4 * p->di4 : p->dm4;
}

static int act_floats(const hc_plan *p, int tc)
{
    return tc * p->dm4                     /* R */
           + (p->dc - 1 + tc) * p->di4     /* XI: history rows, then the chunk */
           + 2 * tc * p->di4               /* Z, XC (and Y) */
           + tc * pk_floats(p)             /* PK (and AH) */
           + tc * p->ldx                   /* DBC: B, C */
           + tc * p->dr4                   /* DT */
           + pad4(tc) + 4;                 /* OUT, misc */
}

static void layout(hc_plan *p, int tc, int state_smem, int w_smem)
{
    int o = 0;
    p->tc = tc;
    p->s_R = o;   o += tc * p->dm4;
    p->s_XI = o;  o += (p->dc - 1 + tc) * p->di4;
    p->s_Z = o;   o += tc * p->di4;
    p->s_XC = o;  o += tc * p->di4;
    p->s_DBC = o; o += tc * p->ldx;
    p->s_DT = o;  o += tc * p->dr4;
    p->s_PK = o;  o += tc * pk_floats(p);
    p->s_OUT = o; o += pad4(tc);
    p->s_misc = o; o += 4;
    p->state_in_smem = state_smem;
    p->s_state = o;
    if (state_smem)
        o += p->sstride;
    p->weights_in_smem = w_smem;
    p->s_w = o;
    if (w_smem)
        o += p->w_smem;
    p->smem_floats = o;
    p->s_stage = -1;
}

int hc_plan_stage(hc_plan *p, size_t smem_bytes, int max_n)
{
    const int x = pad4(max_n), need = x + pad4(p->nc > 0 ? p->nc : 1);
    if ((size_t)(p->smem_floats + need) * sizeof(float) > smem_bytes)
        return 0;
    p->s_stage = p->smem_floats;
    p->stage_x = x;
    p->smem_floats += need;
    return 1;
}

int hc_plan_smem(hc_plan *p, size_t smem_bytes, int tc_max, int prefer_weights_smem)
{
    const size_t cap = smem_bytes / sizeof(float);
    if (tc_max < 1)
        tc_max = 1;
    /* Weights in shared memory matter most (every matrix product reads them), then the chunk
     * length (how many samples share a barrier and a pass over the weights), then the state
     * (read and written once per chunk and layer). */
    for (int w = prefer_weights_smem ? 1 : 0; w >= 0; w--) {
        const size_t wf = w ? (size_t)p->w_smem : 0;
        for (int tc = tc_max; tc >= 1; tc--)
            if ((size_t)act_floats(p, tc) + wf <= cap) {
                layout(p, tc, (size_t)act_floats(p, tc) + wf + (size_t)p->sstride <= cap, w);
                return 1;
            }
    }
    return 0;
}

void hc_pack_weights(const hc_plan *p, const hiss_model *m, float *dst)
{
    const int dm = p->dm, di = p->di, ds = p->ds, dc = p->dc, dr = p->dr;
    memset(dst, 0, (size_t)p->w_total * sizeof(float));
    for (int l = 0; l < p->nl; l++) {
        const hiss_layer *L = &m->layers[l];
        float *w = dst + (size_t)l * p->w_layer;
        for (int i = 0; i < dm; i++)
            w[p->w_norm + i] = L->norm_w[i];
        for (int i = 0; i < 2 * di; i++)        /* in_proj [2di][dm] -> [dm][ldin] */
            for (int k = 0; k < dm; k++)
                w[p->w_in + k * p->ldin + i] = L->in_proj[(size_t)i * dm + k];
        for (int d = 0; d < di; d++) {
            for (int k = 0; k < dc; k++)        /* conv [di][1][dc] -> [dc][di4] */
                w[p->w_conv + k * p->di4 + d] = L->conv_w[(size_t)d * dc + k];
            w[p->w_convb + d] = L->conv_b[d];
            w[p->w_dtb + d] = L->dt_proj_b[d];
            w[p->w_D + d] = L->D[d];
            for (int r = 0; r < dr; r++)        /* dt_proj [di][dr] -> [dr][di4] */
                w[p->w_dt + r * p->di4 + d] = L->dt_proj_w[(size_t)d * dr + r];
            for (int n = 0; n < ds; n++)        /* A log2(e) [di][ds], as the state: exp2 on the GPU */
                dst[p->w_A + (size_t)l * p->w_Al + d * ds + n] = L->A[(size_t)d * ds + n] * 1.44269504088896341f;
            for (int i = 0; i < dm; i++)        /* out_proj [dm][di] -> [di][dm4] */
                w[p->w_out + d * p->dm4 + i] = L->out_proj[(size_t)i * di + d];
        }
        /* x_proj [dr+2ds][di]: the dt rows -> [dr][di4]; B, C -> [di][ldx], B at 0, C at nr */
        for (int i = 0; i < dr; i++)
            for (int d = 0; d < di; d++)
                w[p->w_xdt + i * p->di4 + d] = L->x_proj[(size_t)i * di + d];
        for (int i = dr; i < dr + 2 * ds; i++) {
            const int col = i < dr + ds ? i - dr : p->nr + (i - dr - ds);
            for (int d = 0; d < di; d++)
                w[p->w_xp + d * p->ldx + col] = L->x_proj[(size_t)i * di + d];
        }
    }
    for (int j = 0; j < dm; j++) {
        for (int c = 0; c < p->nin; c++)        /* input_proj [dm][nin] -> [nin][dm4] */
            dst[p->w_inw + c * p->dm4 + j] = m->in_w[(size_t)j * p->nin + c];
        dst[p->w_inb + j] = m->in_b[j];
        dst[p->w_normf + j] = m->norm_f[j];
        dst[p->w_outw + j] = m->out_w[j];
    }
    dst[p->w_outb] = m->out_b[0];
}
