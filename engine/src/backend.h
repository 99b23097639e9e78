/* Backends behind one interface, as in ggml: the stream object owns the shared bookkeeping
 * (conditioning, counters, rate scaling), a backend owns the state memory and the arithmetic. */
#ifndef HISS_BACKEND_H
#define HISS_BACKEND_H

#include "hiss.h"
#include "model.h"

typedef struct hiss_backend_ops {
    const char *name;
    hiss_status (*create)(hiss_stream *s, hiss_error *err);
    void (*destroy)(hiss_stream *s);
    /* in/out as in hiss_stream_process; n_frames already validated. */
    hiss_status (*process)(hiss_stream *s, const float *const *in, float *const *out, int n);
    void (*reset)(hiss_stream *s, int k);                 /* one stream, k >= 0 */
    /* Copy stream k's state (layer by layer: conv history then SSM state, float32) to/from dst. */
    void (*get_state)(const hiss_stream *s, int k, float *dst);
    void (*set_state)(hiss_stream *s, int k, const float *src);
    /* Optional (NULL: 0 frames, WAIT only, no misses). */
    int (*latency)(const hiss_stream *s);
    hiss_status (*set_sync)(hiss_stream *s, hiss_sync_mode mode, double deadline_us);
    uint64_t (*deadline_misses)(const hiss_stream *s);
    /* Optional: advance only the streams k with active[k] != 0 (the others keep their state,
     * counters and pending resets, and their out[k] is not touched). What hiss-server batches
     * with: the members of one launch are whichever have input waiting. */
    hiss_status (*process_active)(hiss_stream *s, const unsigned char *active, const float *const *in,
                                  float *const *out, int n);
} hiss_backend_ops;

struct hiss_stream {
    const hiss_model *model;
    hiss_stream_opts opts;
    float delta_scale;        /* model_rate / host_rate in HISS_RATE_DELTA, else 1 */
    float *cond;              /* [n_streams * n_cond] */
    hiss_counters *counters;  /* [n_streams] */
    size_t state_floats;      /* per stream: sum over layers of (d_conv-1)*d_inner + d_inner*d_state */
    const hiss_backend_ops *ops;
    void *impl;
};

extern const hiss_backend_ops hiss_cpu_backend;
extern const hiss_backend_ops hiss_server_backend;

/* hiss_stream_process for the streams with active[k] != 0 only (see process_active); in[k] and
 * out[k] of the others may be NULL. HISS_ERR_BACKEND where the backend cannot. */
hiss_status hiss_stream_process_active(hiss_stream *s, const unsigned char *active, const float *const *in,
                                       float *const *out, int n_frames);
/* Stream k's state in snapshot layout (hiss_stream_snapshot without the header), and back. */
size_t hiss_stream_state_floats(const hiss_stream *s);
void hiss_stream_get_state(const hiss_stream *s, int k, float *dst);
void hiss_stream_set_state(hiss_stream *s, int k, const float *src);
#ifdef HISS_HAVE_CUDA
/* Provided by kernels/ when built with CUDA. */
extern const hiss_backend_ops hiss_cuda_backend;
int hiss_cuda_device_present(void);
/* hiss_render_offline's GPU path (kernels/cuda_render.cu). */
hiss_status hiss_cuda_render_offline(const hiss_model *m, const float *in, float *out, size_t n,
                                     const float *cond, hiss_error *err);
/* hiss_render_offline_batch's GPU path (kernels/cuda_render.cu); arguments already checked. */
hiss_status hiss_cuda_render_offline_batch(const hiss_model *m, const float *const *in, float *const *out,
                                           const size_t *n, int count, const float *const *cond,
                                           hiss_error *err);
/* hiss_offline's GPU side (kernels/cuda_offline.cu), with hiss_render_offline's segment and chunk;
 * arguments already checked. */
typedef struct hc_offline hc_offline;
hiss_status hiss_cuda_offline_create(const hiss_model *m, const float *cond, hc_offline **out,
                                     hiss_error *err);
hiss_status hiss_cuda_offline_render(hc_offline *r, const float *in, float *out, size_t n,
                                     hiss_error *err);
void hiss_cuda_offline_free(hc_offline *r);
#endif

#endif
