/* The layout of the CUDA synth: the backbone's weight blob as the streaming kernel packs it
 * (hc_plan), a second blob for the synth head, each voice's state on the device, and the shared
 * memory of one block, which advances one voice at a time, one sample at a time. */
#ifndef HISS_CUDA_SYNTH_PLAN_H
#define HISS_CUDA_SYNTH_PLAN_H

#include <stddef.h>

#include "cuda_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "synth_model.h"

/* Floats of the sampler's exact (sequential) path, per block: p[256] and smass[256] (double),
 * omass[66] (double), e[256], work, kept and m[256] (int), the buckets and in[256] (bytes). */
#define HS_SMP_FLOATS 2400

typedef struct hs_plan {
    hc_plan bb;       /* the backbone: dimensions, weight blob, scan mapping for nt threads */
    int nc, nt, nw;   /* conditioning inputs, threads and warps of a block */
    int tch;          /* samples whose conditioning is computed at once */
    /* head blob, in floats: what shared memory holds first (up to h_emb), then the embedding */
    int h_cw, h_cb, h_lm, h_lmb, h_dec, h_emb, h_total;
    /* a voice's state: per layer the conv inputs as a ring of d_conv rows, then the SSM state
     * [d_inner][d_state] (the scan's layout) */
    int l_ssm, l_size, ss;
    /* shared memory, in floats; -1: that part is read from global memory */
    int s_w, s_head;  /* backbone weights and the head (both or neither: weights_in_smem) */
    int s_state, s_smp, s_A, s_emb;
    int s_R, s_H, s_XI, s_Z, s_XC, s_AW, s_DBC, s_DT, s_PK, s_Y, s_LOG, s_HC, s_COND, s_PH, s_misc;
    int smem_floats, weights_in_smem;
} hs_plan;

/* Everything for a block of nt threads under smem_bytes of shared memory. Returns 0 with a
 * reason in why when the model cannot run (d_state beyond the scan's registers, or not even the
 * activations fit). allow_wsmem 0 keeps the weights in global memory (for benchmarks). */
int hs_plan_make(hs_plan *p, const hiss_synth_model *m, int nt, size_t smem_bytes, int allow_wsmem,
                 const char **why);
/* The head blob (p->h_total floats): cond_proj^T [n_cond][dm4], its bias, lm_head^T [d_model][256],
 * its bias (0 when absent), the mu-law decoding of every class (hiss_synth_mulaw_decode), and
 * the embedding [256][dm4]. */
void hs_pack_head(const hs_plan *p, const hiss_synth_model *m, float *dst);

#ifdef __cplusplus
}
#endif
#endif
