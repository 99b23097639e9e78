/* The streaming kernel's interface: one launch advances B streams by n samples each, every layer
 * fused, the weights staged once per block in shared memory, the states resident on the device. */
#ifndef HISS_CUDA_STREAM_KERNEL_H
#define HISS_CUDA_STREAM_KERNEL_H

#include "cuda_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hc_kparams {
    const float *w;      /* weight blob, p.w_total floats */
    float *state;        /* [B][p.sstride] */
    const int *flags;    /* [B]: HC_FLAG_* */
    const float *cond;   /* [B][nc] */
    const float *x;      /* [B][n] sanitised input */
    int *resets;         /* [B]: state resets during this launch */
    float *y;            /* [B][n] output */
    int n, B;
    float dscale;        /* delta scale (HISS_RATE_DELTA) */
    hc_plan p;
} hc_kparams;

#define HC_FLAG_ZERO 1 /* zero the stream's state before its first sample */
#define HC_FLAG_SKIP 2 /* leave the stream out of this launch (hiss-server's partial batches) */

/* Thread counts the kernel is built for. */
#define HC_NT_SMALL 256
#define HC_NT_LARGE 512

/* The kernel for nt threads with weights in shared memory (ws = 1) or read from global memory
 * (ws = 0), as a function pointer for launches and graph nodes; NULL for an nt not built. */
const void *hc_stream_kernel(int nt, int ws);

#ifdef __cplusplus
}
#endif
#endif
