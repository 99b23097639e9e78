/* One segment through the offline renderer's layers, the part that the batch render
 * (cuda_render.cu) and the carried render (cuda_offline.cu) share: the device buffers, the
 * launches of one segment and the state a segment started from. C++ only (host code of .cu
 * files). */
#ifndef HISS_CUDA_RENDER_SEGMENT_H
#define HISS_CUDA_RENDER_SEGMENT_H

#include <cuda_runtime.h>

extern "C" {
#include "backend.h"
}
#include "cuda_render_kernels.h"

struct rd_bufs {
    /* what lives from segment to segment (rd_alloc_carry) */
    float *w, *hist, *sinit, *sprev, *cond;
    /* one segment's work, for up to cap samples (rd_alloc_work) */
    float *x, *yout, *R[2], *Y[2], *Z, *BC, *DL, *SE, *SD;
    int *pos, *seq, *pieces; /* batched only */
    float *hx, *hy;          /* pinned */
    size_t cap;
};

/* Plans m for the render and checks that its rows kernel fits the device's shared memory
 * (*smem: the bytes a block needs). Errors name the model's sizes. */
hiss_status rd_plan(const hiss_model *m, hc_plan *p, size_t *smem, hiss_error *err);
/* The weights (uploaded), the conv history of both parities and the SSM state (zeroed), sprev,
 * and cond_floats of conditioning (left for the caller to fill). */
cudaError_t rd_alloc_carry(rd_bufs *b, const hc_plan &p, const hiss_model *m, size_t cond_floats);
/* The work buffers for segments of up to cap samples with scan chunks of `chunk`; frees those
 * there were first, so a caller can grow them between segments. batched: pos, seq and pieces
 * for up to `pieces` sequences too. */
cudaError_t rd_alloc_work(rd_bufs *b, const hc_plan &p, size_t cap, int chunk, bool batched, int pieces);
void rd_free(rd_bufs *b);

/* The rows kernel's width (HISS_RENDER_RW, a benchmark knob) and the scan chunk
 * (HISS_RENDER_CHUNK, likewise) hiss_render_offline uses. */
int rd_rows_rw(void);
int rd_default_chunk(void);
/* Lets the rows kernel take the dynamic shared memory it needs. */
cudaError_t rd_prepare(size_t smem, int rows_rw, bool batched);

cudaError_t rd_launch(rd_which which, int cpt, dim3 grid, int threads, size_t smem, cudaStream_t cs,
                      rd_params *q);
/* The stream's input sanitising (non-finite to 0, clamped to +-HISS_INPUT_LIMIT) into dst. */
void rd_sanitise(float *dst, const float *src, size_t n);
/* Queues the copy of b.hx[0..S) to the device and of the SSM state to sprev (the state the
 * segment starts from, kept for a fallback), and points q at b's buffers for S samples. */
cudaError_t rd_upload(const rd_bufs &b, rd_params *q, size_t S, cudaStream_t cs);
/* Queues every layer and the tail for the segment rd_upload set up, the conv history read from
 * parity and written to parity ^ 1, the output copied to b.hy, and waits for it all. */
cudaError_t rd_run(const hc_plan &p, const rd_bufs &b, rd_params *q, size_t smem, int rows_rw, int parity,
                   cudaStream_t cs);
/* The state the segment just run started from (conv history hist[parity], SSM state sprev) in the
 * snapshot layout, malloc'ed; NULL with *e set on failure. */
float *rd_segment_state(const hc_plan &p, const rd_bufs &b, int parity, cudaError_t *e);

#endif
