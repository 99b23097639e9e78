/* The synth kernel's interface: one launch advances a list of voices by n samples each, every
 * sample autoregressive on the device (embedding, conditioning, the backbone, lm_head, the draw,
 * mu-law decoding, the class fed back), a thread block per voice at a time. */
#ifndef HISS_CUDA_SYNTH_KERNEL_H
#define HISS_CUDA_SYNTH_KERNEL_H

#include <stdint.h>

#include "cuda_synth_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A voice of a launch, from the host: its slot, whether its note starts here (state zeroed,
 * previous class 128, generator rng), and its note at the launch's first sample. */
typedef struct hs_voice_in {
    double pitch, phase, inc; /* inc: phase advance per sample, 440 * 2^((pitch-69)/12) / rate */
    uint64_t n_on, n_off;
    uint64_t rng[4];
    int slot, reset, velocity, gate;
} hs_voice_in;

/* What stays on the device per slot between launches. */
typedef struct hs_voice_dev {
    uint64_t rng[4];
    int prev, pos, pad[2];
} hs_voice_dev;

typedef struct hs_kparams {
    const float *w;          /* backbone blob (hc_plan layout) */
    const float *hw;         /* head blob (hs_pack_head) */
    float *state;            /* [slots][p.ss] */
    hs_voice_dev *vs;        /* [slots] */
    const int *hdr;          /* voices this launch, samples each, greedy, 1/temperature and top_p
                              * (float bits) */
    const hs_voice_in *vin;  /* [voices] */
    int *bad;                /* [voices]: the first sample whose logits were no distribution, or n */
    float *y;                /* [voices][n]: each voice's output */
    float *scratch;          /* [gridDim.x][HS_SMP_FLOATS] when p.s_smp < 0 */
    /* probes, for tests (NULL: off) */
    const int *force;        /* [voices][n]: classes fed back instead of the drawn ones */
    float *plog;             /* [voices][n][256]: logits */
    float *pcond;            /* [voices][n][n_cond]: conditioning */
    int *pcls;               /* [voices][n]: drawn classes */
    double rate;
    int exact;
    int feat[HISS_MAX_COND];
    hs_plan p;
} hs_kparams;

/* The sampler alone, a warp per logit vector (tests). */
typedef struct hs_stest {
    const float *logits;     /* [count][256] */
    uint64_t *rng;           /* [count][4], advanced */
    int *cls;                /* [count] */
    float *scratch;          /* [gridDim.x][HS_SMP_FLOATS] */
    int count;
    float inv_t, top_p;
    int greedy, exact;
} hs_stest;

#define HS_NT_MIN 128
#define HS_NT_MAX 512

/* The kernel for nt threads (128, 256 or 512) with the weights in shared memory (ws = 1) or
 * global memory; NULL for an nt not built. */
const void *hs_synth_kernel(int nt, int ws);
const void *hs_sample_test_kernel(void);

#ifdef __cplusplus
}
#endif
#endif
