/* hiss_resampler: runs a model at its own sample rate inside a host that runs at another
 * (HISS_RATE_RESAMPLE). Host-rate input is converted to the model's rate with libsoxr, the model
 * processes it, and the result is converted back to the host's rate, all streaming.
 *
 * Timing. The output is the input's processed signal delayed by exactly latency_frames() host
 * frames, a whole number fixed at creation: out[j] = chain(in)[j - latency]. libsoxr keeps its
 * output aligned with its input (output sample k is the input's value at time k, the filter's
 * group delay already removed) but can only emit a sample once it has seen enough input after
 * it; how much it holds back (soxr_delay) varies with the position in its internal blocks. The
 * latency is the largest hold-back of the two converters together, measured at creation by
 * stepping fresh converters one sample at a time, plus the engine's own latency, rounded up. A
 * FIFO of that many frames absorbs the variation.
 *
 * Real-time use. create() allocates everything and then runs silence through the converters
 * until libsoxr's internal FIFOs (which grow with realloc while they find their working size)
 * have reached it; after that process() and reset() do not allocate (measured by
 * tests/render/test_resampler_noalloc.c). reset() is bounded but not cheap: it runs a few
 * thousand frames of silence through the converters (no model work) to flush them, which lets
 * it avoid soxr_clear (that frees and re-allocates).
 *
 * Rates must be whole numbers of Hz. When host and model rate are equal the wrapper calls the
 * stream directly (latency = the engine's). */
#ifndef HISS_RESAMPLER_H
#define HISS_RESAMPLER_H

#include <stdint.h>

#include "hiss.h"

typedef enum hiss_resample_quality {
    HISS_RESAMPLE_HQ = 0, /* libsoxr HQ: 20-bit precision, linear phase */
    HISS_RESAMPLE_VHQ = 1 /* libsoxr VHQ: 28-bit precision, longer filters, more latency */
} hiss_resample_quality;

typedef struct hiss_resampler_opts {
    hiss_resample_quality quality;
    hiss_backend backend; /* for the model's stream */
} hiss_resampler_opts;

hiss_resampler_opts hiss_resampler_opts_default(void);

typedef struct hiss_resampler hiss_resampler;

/* n_channels independent channels (one model stream each), at most max_block host frames per
 * process call. opts may be NULL (HQ, backend auto). */
hiss_status hiss_resampler_create(const hiss_model *m, double host_rate, int n_channels,
                                  int max_block, const hiss_resampler_opts *opts,
                                  hiss_resampler **out, hiss_error *err);
void hiss_resampler_free(hiss_resampler *r);

/* in[c], out[c]: channel c, n host frames (1..max_block); in and out may be the same buffers.
 * Non-finite input samples are processed as 0 and counted. */
hiss_status hiss_resampler_process(hiss_resampler *r, const float *const *in, float *const *out,
                                   int n);

/* The fixed delay, in host frames, between a sample going in and its result coming out. */
int hiss_resampler_latency_frames(const hiss_resampler *r);

/* Back to the state after creation: converters flushed, model state zeroed (conditioning kept). */
void hiss_resampler_reset(hiss_resampler *r);

/* The model-rate stream inside, for conditioning and counters (its frames are model frames). */
hiss_stream *hiss_resampler_stream(hiss_resampler *r);
double hiss_resampler_model_rate(const hiss_resampler *r);

/* Diagnostics. underruns: output frames the converters had not delivered in time (0 unless the
 * latency measurement was wrong; the output stays aligned, those frames are zeros). */
uint64_t hiss_resampler_nonfinite_inputs(const hiss_resampler *r);
uint64_t hiss_resampler_underruns(const hiss_resampler *r);

#endif
