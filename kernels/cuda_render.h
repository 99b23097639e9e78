/* Internals of the offline renderer, for its tests: the segment and chunk lengths are knobs so a
 * short input can cross many segment and chunk boundaries. */
#ifndef HISS_CUDA_RENDER_INTERNAL_H
#define HISS_CUDA_RENDER_INTERNAL_H

#include "hiss_cuda_render.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults used by hiss_render_offline. */
#define HC_RENDER_SEGMENT (1u << 20)
#define HC_RENDER_CHUNK 1024

typedef struct hc_render_stats {
    int segments;       /* segments rendered */
    int fell_back;      /* sequences that a non-finite output sent through the CUDA stream */
    double gpu_seconds; /* wall time of the parallel pass, transfers included */
} hc_render_stats;

/* hiss_render_offline on the GPU with explicit segment (samples per pass through the layers)
 * and chunk (samples per local scan) lengths; stats may be NULL. */
hiss_status hc_render_cuda(const hiss_model *m, const float *in, float *out, size_t n,
                           const float *cond, size_t segment, int chunk, hc_render_stats *stats,
                           hiss_error *err);
/* hiss_render_offline_batch on the GPU, likewise: the sequences are laid end to end (empty ones
 * skipped) and cut into segments of `segment` samples, so a segment can hold the end of one
 * sequence, others whole, and the start of the next. */
hiss_status hc_render_cuda_batch(const hiss_model *m, const float *const *in, float *const *out,
                                 const size_t *n, int count, const float *const *cond, size_t segment,
                                 int chunk, hc_render_stats *stats, hiss_error *err);

/* hiss_offline's GPU side (cuda_offline.cu) with explicit segment and chunk lengths: one sequence
 * rendered a call at a time, each call cut into segments of up to `segment` samples, the conv
 * history and the SSM state carried on the device from segment to segment and call to call. */
typedef struct hc_offline hc_offline;
hiss_status hc_offline_create(const hiss_model *m, const float *cond, size_t segment, int chunk,
                              hc_offline **out, hiss_error *err);
hiss_status hc_offline_render(hc_offline *r, const float *in, float *out, size_t n, hiss_error *err);
/* Since creation: segments rendered, 1 once an output went non-finite (the rest goes through the
 * CUDA stream), the wall time of the parallel passes. */
hc_render_stats hc_offline_stats(const hc_offline *r);
void hc_offline_free(hc_offline *r);

#ifdef __cplusplus
}
#endif
#endif
