/* The CUDA synth's voice batch, below hiss_synth: a set of voice slots whose states, previous
 * classes and generators live on the device, advanced together by hc_synth_run. hiss_synth
 * drives it (kernels/cuda_synth_voices.c) when its opts ask for the CUDA backend; tests and
 * hiss-bench call it directly (more slots than a hiss_synth has voices, probes). */
#ifndef HISS_CUDA_SYNTH_H
#define HISS_CUDA_SYNTH_H

#include <stdint.h>

#include "hiss_synth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hc_synth hc_synth;

/* A voice's note at the first sample of a run (as hiss_synth_note), plus the phase advance per
 * sample, inc = 440 * 2^((pitch - 69) / 12) / rate computed as hiss_synth_note_advance does. */
typedef struct hc_synth_note {
    double pitch, phase, inc;
    uint64_t n_on, n_off;
    int velocity, gate;
} hc_synth_note;

/* n_slots voice slots, runs of at most max_n samples, drawing at temperature and top_p as
 * hiss_synth_opts says. Not real-time: allocates. HISS_CUDA_SYNTH_THREADS (128, 256, 512) and
 * HISS_CUDA_WSMEM=0 in the environment are benchmark knobs. */
hiss_status hc_synth_create(const hiss_synth_model *m, int n_slots, int max_n, float temperature,
                            float top_p, hc_synth **out, hiss_error *err);
void hc_synth_free(hc_synth *d);
/* One line on the layout chosen (threads, what shared memory holds), for benchmarks. */
const char *hc_synth_describe(const hc_synth *d);

/* Slot k starts a note at its next run: state zeroed, previous class 128 (silence), generator r.
 * Real-time safe. */
void hc_synth_start(hc_synth *d, int k, const hiss_synth_rng *r);

/* Real-time safe: the runs launched from now on draw at temperature and top_p. */
void hc_synth_set_sampling(hc_synth *d, float temperature, float top_p);

/* The voices in slots[0..nv) (distinct) advance n <= max_n samples from notes[j]. On return
 * *y points at their outputs ([j][t], n a voice) and *bad at, per voice, the first sample whose
 * logits were no distribution (n when none): the voice stopped there, its later outputs are
 * not written. The pointers stay valid until the next launch. Real-time safe (no allocation);
 * waits for the device as long as it takes: hc_synth_launch then hc_synth_collect(d, -1). */
hiss_status hc_synth_run(hc_synth *d, const int *slots, const hc_synth_note *notes, int nv, int n,
                         const float **y, const int **bad);
/* hc_synth_run in two halves, for callers with a deadline. Launch returns at once (HISS_ERR_ARG
 * while the last run has not been collected). Collect waits until the run is done or the
 * monotonic clock (hc_synth_now, seconds) passes until_s (< 0: no limit): 1 done (*y, *bad as
 * hc_synth_run's), 0 still running (collect again later), -1 a device error (the run is lost). */
hiss_status hc_synth_launch(hc_synth *d, const int *slots, const hc_synth_note *notes, int nv, int n);
int hc_synth_collect(hc_synth *d, double until_s, const float **y, const int **bad);
int hc_synth_in_flight(const hc_synth *d);
double hc_synth_now(void);

/* Tests: hc_synth_run with probes (each NULL or sized for nv voices of n samples): force feeds
 * back the given classes ([nv][n]) instead of the drawn ones, the others receive the logits
 * ([nv][n][256]), the conditioning ([nv][n][n_cond]) and the drawn classes ([nv][n]). exact: the
 * sampler always takes its sequential path. Allocates. */
typedef struct hc_synth_probe {
    const int *force;
    float *logits;
    float *cond;
    int *cls;
    int exact;
} hc_synth_probe;
hiss_status hc_synth_run_probe(hc_synth *d, const int *slots, const hc_synth_note *notes, int nv,
                               int n, const hc_synth_probe *pr, float *y, int *bad, hiss_error *err);

/* Tests: the device sampler alone on count logit vectors ([count][256]), each with its own
 * generator (rng[count], advanced), at temperature and top_p; exact as above. */
hiss_status hc_synth_sample_test(const float *logits, int count, float temperature, float top_p,
                                 int exact, hiss_synth_rng *rng, int *classes, hiss_error *err);

#ifdef __cplusplus
}
#endif
#endif
