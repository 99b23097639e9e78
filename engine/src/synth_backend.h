/* The synth's GPU path (kernels/cuda_synth_voices.c): the voices of a hiss_synth advance as one
 * batch on the device, while the voice bookkeeping (allocation, gates, freeing, counters) stays
 * the CPU's own (synth_voices.c), sample for sample. Without the CUDA backend in the build these
 * are stubs that refuse it. */
#ifndef HISS_SYNTH_BACKEND_H
#define HISS_SYNTH_BACKEND_H

#include "hiss_synth.h"
#include "model.h"
#include "synth_voices.h"

typedef struct hiss_synth_gpu hiss_synth_gpu;

#ifdef HISS_HAVE_CUDA
/* *out is NULL (and HISS_OK) when the synth stays on the CPU: backend CPU, or AUTO without a
 * device. Not real-time. */
hiss_status hiss_synth_gpu_create(const hiss_synth_model *m, const hiss_synth_opts *o,
                                  hiss_synth_gpu **out, hiss_error *err);
void hiss_synth_gpu_free(hiss_synth_gpu *g);
/* Voice k's note starts (after hiss_synth_voices_note_on): its generator is r. */
void hiss_synth_gpu_note_on(hiss_synth_gpu *g, int k, const hiss_synth_rng *r);
/* hiss_synth_process's work for n samples: out, the counters and the voices as the CPU leaves
 * them (frames are the caller's to count). */
void hiss_synth_gpu_process(hiss_synth_gpu *g, hiss_synth_voices *vs, hiss_synth_counters *c,
                            float *out, int n);
/* Real-time safe: from the next run on. */
void hiss_synth_gpu_set_sampling(hiss_synth_gpu *g, float temperature, float top_p);
void hiss_synth_gpu_set_deadline(hiss_synth_gpu *g, double deadline_us);
#else
static inline hiss_status hiss_synth_gpu_create(const hiss_synth_model *m, const hiss_synth_opts *o,
                                                hiss_synth_gpu **out, hiss_error *err)
{
    (void)m;
    *out = NULL;
    if (o->backend != HISS_BACKEND_CUDA)
        return HISS_OK;
    hiss_seterr(err, HISS_ERR_BACKEND, "synth: backend cuda: this build of hiss has no CUDA backend");
    return HISS_ERR_BACKEND;
}
static inline void hiss_synth_gpu_free(hiss_synth_gpu *g)
{
    (void)g;
}
static inline void hiss_synth_gpu_note_on(hiss_synth_gpu *g, int k, const hiss_synth_rng *r)
{
    (void)g;
    (void)k;
    (void)r;
}
static inline void hiss_synth_gpu_process(hiss_synth_gpu *g, hiss_synth_voices *vs,
                                          hiss_synth_counters *c, float *out, int n)
{
    (void)g;
    (void)vs;
    (void)c;
    (void)out;
    (void)n;
}
static inline void hiss_synth_gpu_set_sampling(hiss_synth_gpu *g, float temperature, float top_p)
{
    (void)g;
    (void)temperature;
    (void)top_p;
}
static inline void hiss_synth_gpu_set_deadline(hiss_synth_gpu *g, double deadline_us)
{
    (void)g;
    (void)deadline_us;
}
#endif

#endif
