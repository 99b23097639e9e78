/* The layout the host chooses and the streaming kernel follows: where each weight lives in the
 * device weight blob, where each activation lives in shared memory, and how the scan's chains are
 * spread over the threads. One struct, computed once per stream object, passed by value. */
#ifndef HISS_CUDA_PLAN_H
#define HISS_CUDA_PLAN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "model.h"

/* Register array bound for the scan: chains (state elements) one thread carries. */
#define HC_CPT_MAX 16

typedef struct hc_plan {
    /* dimensions */
    int dm, di, ds, dc, dr, nl, nin, nc, skip;
    float eps;
    /* padded row strides (multiples of 4 floats, so rows are 16-byte aligned) */
    int dm4, di4;
    int dr4;
    int nr;    /* x_proj's B output at column 0, C at nr: nr = G * cpt >= d_state, the scan
                * lanes' reach */
    int ldx;   /* B, C row stride (2 nr padded) */
    int ldin;  /* in_proj^T row stride (2*di padded) */
    /* weight blob, in floats: per layer (offset from the layer's base) ... */
    int w_norm, w_in, w_conv, w_convb, w_xdt, w_xp, w_dt, w_dtb, w_D, w_out, w_layer;
    /* ... then the head, absolute; the part up to w_smem is what shared memory holds ... */
    int w_inw, w_inb, w_normf, w_outw, w_outb, w_smem;
    /* ... then A log2(e) of every layer ([di][ds], layer l at w_A + l w_Al), read once per chunk
     * by the scan straight from global memory */
    int w_A, w_Al, w_total;
    /* per-stream state, in floats: per layer conv history then SSM state (snapshot layout) */
    int hl, l_state, state_floats, sstride;
    /* shared memory, in floats, for a chunk of tc rows; Y shares XC's rows and AH shares PK's
     * (their lives do not overlap). PK holds {delta, delta xc, silu(z), D xc silu(z)} per
     * (sample, channel): all the scan reads besides B and C. */
    int tc;
    int s_R, s_XI, s_Z, s_XC, s_DBC, s_DT, s_PK, s_OUT, s_misc, s_state, s_w, smem_floats;
    int state_in_smem, weights_in_smem;
    /* zero-copy submissions (input and output in mapped host memory): a stream's input
     * [stage_x] then conditioning are copied into shared memory at s_stage first; -1: none */
    int s_stage, stage_x;
    /* scan: G lanes share one d_inner channel, each carrying cpt (a power of 2) of its d_state
     * chains */
    int G, cpt;
} hc_plan;

/* Fill the dimensions, the scan mapping for nt threads, the weight layout and the state layout
 * of p from m. Returns 0 when d_state is beyond the scan's registers. */
int hc_plan_model(hc_plan *p, const hiss_model *m, int nt);
/* Choose the chunk rows and the shared-memory layout under smem_bytes. Returns 0 when even a
 * chunk of one row does not fit. prefer_weights_smem: 0 never, 1 when it fits. */
int hc_plan_smem(hc_plan *p, size_t smem_bytes, int tc_max, int prefer_weights_smem);
/* Append the staging area of zero-copy submissions of up to max_n samples to the layout of p.
 * Returns 0 (and leaves p as it was) when it does not fit under smem_bytes. */
int hc_plan_stage(hc_plan *p, size_t smem_bytes, int max_n);
/* Pack the model's weights into dst (p->w_total floats) in the layout of p. */
void hc_pack_weights(const hc_plan *p, const hiss_model *m, float *dst);

#ifdef __cplusplus
}
#endif
#endif
