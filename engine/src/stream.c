/* The stream object: argument checks, input sanitising, conditioning, counters, rate handling and
 * snapshots, shared by every backend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_step.h"

#define HISS_MAX_STREAMS 1048576
#define HISS_MAX_BLOCK 1048576
#define SNAP_MAGIC 0x504e5348u /* "HSNP" */
#define SNAP_VERSION 1u

typedef struct snap_header {
    uint32_t magic, version;
    uint32_t n_layer, d_inner, d_state, d_conv;
    uint32_t n_streams, reserved;
} snap_header;

/* The sanitised copy of the input lives right after the stream struct's other buffers. */
typedef struct stream_buffers {
    float *clean;          /* [n_streams][max_block] */
    const float **clean_p; /* [n_streams] */
} stream_buffers;

hiss_stream_opts hiss_stream_opts_default(void)
{
    hiss_stream_opts o = {1, 4096, 0.0, HISS_RATE_STRICT, HISS_BACKEND_AUTO, NULL};
    return o;
}

int hiss_backend_available(hiss_backend b)
{
    switch (b) {
    case HISS_BACKEND_AUTO:
    case HISS_BACKEND_CPU: return 1;
    case HISS_BACKEND_CUDA:
#ifdef HISS_HAVE_CUDA
        return hiss_cuda_device_present();
#else
        return 0;
#endif
    case HISS_BACKEND_SERVER: return 1; /* whether one listens is known at create */
    }
    return 0;
}

const char *hiss_backend_name(hiss_backend b)
{
    switch (b) {
    case HISS_BACKEND_AUTO: return "auto";
    case HISS_BACKEND_CPU: return "cpu";
    case HISS_BACKEND_CUDA: return "cuda";
    case HISS_BACKEND_SERVER: return "server";
    }
    return "unknown";
}

static const hiss_backend_ops *pick_backend(const hiss_stream_opts *o, hiss_error *err)
{
    switch (o->backend) {
    case HISS_BACKEND_CPU: return &hiss_cpu_backend;
    case HISS_BACKEND_CUDA:
#ifdef HISS_HAVE_CUDA
        if (hiss_cuda_device_present())
            return &hiss_cuda_backend;
        hiss_seterr(err, HISS_ERR_BACKEND, "backend cuda: no CUDA device is present");
#else
        hiss_seterr(err, HISS_ERR_BACKEND, "backend cuda: this build of hiss has no CUDA backend");
#endif
        return NULL;
    case HISS_BACKEND_SERVER: return &hiss_server_backend;
    case HISS_BACKEND_AUTO:
#ifdef HISS_HAVE_CUDA
        /* One stream is cheaper on the CPU than a GPU round trip; many amortise it. */
        if (o->n_streams >= 64 && hiss_cuda_device_present())
            return &hiss_cuda_backend;
#endif
        return &hiss_cpu_backend;
    }
    hiss_seterr(err, HISS_ERR_ARG, "unknown backend %d", (int)o->backend);
    return NULL;
}

void hiss_stream_free(hiss_stream *s)
{
    if (!s)
        return;
    if (s->ops && s->impl)
        s->ops->destroy(s);
    stream_buffers *b = (stream_buffers *)(s + 1);
    free(b->clean);
    free(b->clean_p);
    free(s->cond);
    free(s->counters);
    free(s);
}

hiss_status hiss_stream_create(const hiss_model *m, const hiss_stream_opts *opts, hiss_stream **out,
                               hiss_error *err)
{
    if (!out || !m) {
        hiss_seterr(err, HISS_ERR_ARG, "hiss_stream_create: model and out must not be NULL");
        return HISS_ERR_ARG;
    }
    *out = NULL;
    hiss_stream_opts o = opts ? *opts : hiss_stream_opts_default();
    if (o.n_streams < 1 || o.n_streams > HISS_MAX_STREAMS) {
        hiss_seterr(err, HISS_ERR_ARG, "n_streams %d out of range (1..%d)", o.n_streams, HISS_MAX_STREAMS);
        return HISS_ERR_ARG;
    }
    if (o.max_block < 1 || o.max_block > HISS_MAX_BLOCK) {
        hiss_seterr(err, HISS_ERR_ARG, "max_block %d out of range (1..%d)", o.max_block, HISS_MAX_BLOCK);
        return HISS_ERR_ARG;
    }
    const double mr = m->cfg.sample_rate;
    if (o.host_rate == 0.0)
        o.host_rate = mr;
    if (!(o.host_rate >= 1000.0 && o.host_rate <= 1536000.0)) {
        hiss_seterr(err, HISS_ERR_ARG, "host sample rate %g Hz out of range (1000 to 1536000)", o.host_rate);
        return HISS_ERR_ARG;
    }
    float delta_scale = 1.0f;
    if (o.host_rate != mr) {
        switch (o.rate_mode) {
        case HISS_RATE_STRICT:
            hiss_seterr(err, HISS_ERR_RATE, "the model runs at %g Hz and the host at %g Hz; use rate mode "
                        "delta or resample", mr, o.host_rate);
            return HISS_ERR_RATE;
        case HISS_RATE_DELTA: delta_scale = (float)(mr / o.host_rate); break;
        case HISS_RATE_RESAMPLE: break; /* the caller resamples; the engine runs at the model's rate */
        default:
            hiss_seterr(err, HISS_ERR_ARG, "unknown rate mode %d", (int)o.rate_mode);
            return HISS_ERR_ARG;
        }
    }
    const hiss_backend_ops *ops = pick_backend(&o, err);
    if (!ops)
        return err ? err->status : HISS_ERR_BACKEND;

    hiss_stream *s = calloc(1, sizeof *s + sizeof(stream_buffers));
    if (!s)
        goto nomem;
    stream_buffers *b = (stream_buffers *)(s + 1);
    s->model = m;
    s->opts = o;
    s->delta_scale = delta_scale;
    s->state_floats = hiss_cpu_state_floats(&m->cfg);
    s->cond = calloc((size_t)o.n_streams * (size_t)(m->cfg.n_cond > 0 ? m->cfg.n_cond : 1), sizeof(float));
    s->counters = calloc((size_t)o.n_streams, sizeof *s->counters);
    b->clean = calloc((size_t)o.n_streams * (size_t)o.max_block, sizeof(float));
    b->clean_p = calloc((size_t)o.n_streams, sizeof *b->clean_p);
    if (!s->cond || !s->counters || !b->clean || !b->clean_p)
        goto nomem;
    for (int k = 0; k < o.n_streams; k++)
        b->clean_p[k] = b->clean + (size_t)k * o.max_block;
    hiss_status st = ops->create(s, err);
    if (st != HISS_OK) {
        hiss_stream_free(s);
        return st;
    }
    s->ops = ops;
    *out = s;
    return HISS_OK;
nomem:
    hiss_stream_free(s);
    hiss_seterr(err, HISS_ERR_NOMEM, "out of memory creating %d streams", o.n_streams);
    return HISS_ERR_NOMEM;
}

const hiss_model *hiss_stream_model(const hiss_stream *s)
{
    return s->model;
}

int hiss_stream_count(const hiss_stream *s)
{
    return s->opts.n_streams;
}

hiss_backend hiss_stream_backend(const hiss_stream *s)
{
    if (s->ops == &hiss_cpu_backend)
        return HISS_BACKEND_CPU;
    return s->ops == &hiss_server_backend ? HISS_BACKEND_SERVER : HISS_BACKEND_CUDA;
}

int hiss_stream_latency(const hiss_stream *s)
{
    return s->ops->latency ? s->ops->latency(s) : 0;
}

hiss_status hiss_stream_set_sync(hiss_stream *s, hiss_sync_mode mode, double deadline_us)
{
    if (!s)
        return HISS_ERR_ARG;
    if (s->ops->set_sync)
        return s->ops->set_sync(s, mode, deadline_us);
    return mode == HISS_SYNC_WAIT ? HISS_OK : HISS_ERR_BACKEND;
}

uint64_t hiss_stream_deadline_misses(const hiss_stream *s)
{
    return s->ops->deadline_misses ? s->ops->deadline_misses(s) : 0;
}

/* The sanitised copy of stream k's input, counted. */
static void sanitise(hiss_stream *s, int k, const float *x, int n_frames)
{
    stream_buffers *b = (stream_buffers *)(s + 1);
    const float lim = HISS_INPUT_LIMIT;
    float *c = b->clean + (size_t)k * s->opts.max_block;
    hiss_counters *cnt = &s->counters[k];
    for (int t = 0; t < n_frames; t++) {
        float v = x[t];
        if (!isfinite(v)) {
            v = 0.0f;
            cnt->nonfinite_inputs++;
        } else if (v > lim || v < -lim) {
            v = v > 0.0f ? lim : -lim;
            cnt->clamped_inputs++;
        }
        c[t] = v;
    }
    cnt->frames += (uint64_t)n_frames;
}

hiss_status hiss_stream_process(hiss_stream *s, const float *const *in, float *const *out, int n_frames)
{
    if (!s || !in || !out || n_frames < 1 || n_frames > s->opts.max_block)
        return HISS_ERR_ARG;
    stream_buffers *b = (stream_buffers *)(s + 1);
    for (int k = 0; k < s->opts.n_streams; k++)
        sanitise(s, k, in[k], n_frames);
    hiss_fpguard g = hiss_fp_enter();
    hiss_status st = s->ops->process(s, b->clean_p, out, n_frames);
    hiss_fp_leave(g);
    return st;
}

hiss_status hiss_stream_process_active(hiss_stream *s, const unsigned char *active, const float *const *in,
                                       float *const *out, int n_frames)
{
    if (!s || !active || !in || !out || n_frames < 1 || n_frames > s->opts.max_block)
        return HISS_ERR_ARG;
    if (!s->ops->process_active)
        return HISS_ERR_BACKEND;
    stream_buffers *b = (stream_buffers *)(s + 1);
    for (int k = 0; k < s->opts.n_streams; k++)
        if (active[k])
            sanitise(s, k, in[k], n_frames);
    hiss_fpguard g = hiss_fp_enter();
    hiss_status st = s->ops->process_active(s, active, b->clean_p, out, n_frames);
    hiss_fp_leave(g);
    return st;
}

size_t hiss_stream_state_floats(const hiss_stream *s)
{
    return s->state_floats;
}

void hiss_stream_get_state(const hiss_stream *s, int k, float *dst)
{
    s->ops->get_state(s, k, dst);
}

void hiss_stream_set_state(hiss_stream *s, int k, const float *src)
{
    s->ops->set_state(s, k, src);
}

void hiss_stream_set_cond(hiss_stream *s, int k, int idx, float value)
{
    const int nc = s->model->cfg.n_cond;
    if (idx < 0 || idx >= nc || k >= s->opts.n_streams || k < -1)
        return;
    if (!isfinite(value))
        value = 0.0f;
    if (k < 0) {
        for (int j = 0; j < s->opts.n_streams; j++)
            s->cond[(size_t)j * nc + idx] = value;
    } else {
        s->cond[(size_t)k * nc + idx] = value;
    }
}

float hiss_stream_get_cond(const hiss_stream *s, int k, int idx)
{
    const int nc = s->model->cfg.n_cond;
    if (idx < 0 || idx >= nc || k < 0 || k >= s->opts.n_streams)
        return 0.0f;
    return s->cond[(size_t)k * nc + idx];
}

void hiss_stream_reset(hiss_stream *s, int k)
{
    if (k >= s->opts.n_streams || k < -1)
        return;
    if (k >= 0) {
        s->ops->reset(s, k);
        return;
    }
    for (int j = 0; j < s->opts.n_streams; j++)
        s->ops->reset(s, j);
}

hiss_counters hiss_stream_counters(const hiss_stream *s, int k)
{
    hiss_counters z = {0};
    if (k < 0 || k >= s->opts.n_streams)
        return z;
    return s->counters[k];
}

size_t hiss_stream_snapshot_size(const hiss_stream *s, int k)
{
    size_t n = k < 0 ? (size_t)s->opts.n_streams : 1;
    return sizeof(snap_header) + n * s->state_floats * sizeof(float);
}

static snap_header header_for(const hiss_stream *s, int k)
{
    const hiss_config *c = &s->model->cfg;
    snap_header h = {SNAP_MAGIC, SNAP_VERSION, (uint32_t)c->n_layer, (uint32_t)c->d_inner,
                     (uint32_t)c->d_state, (uint32_t)c->d_conv,
                     k < 0 ? (uint32_t)s->opts.n_streams : 1u, 0};
    return h;
}

hiss_status hiss_stream_snapshot(const hiss_stream *s, int k, void *buf, size_t size)
{
    if (k >= s->opts.n_streams || k < -1 || !buf || size < hiss_stream_snapshot_size(s, k))
        return HISS_ERR_ARG;
    snap_header h = header_for(s, k);
    memcpy(buf, &h, sizeof h);
    float *dst = (float *)((char *)buf + sizeof h);
    int first = k < 0 ? 0 : k, last = k < 0 ? s->opts.n_streams : k + 1;
    for (int j = first; j < last; j++, dst += s->state_floats)
        s->ops->get_state(s, j, dst);
    return HISS_OK;
}

hiss_status hiss_stream_restore(hiss_stream *s, int k, const void *buf, size_t size)
{
    if (k >= s->opts.n_streams || k < -1 || !buf)
        return HISS_ERR_ARG;
    snap_header want = header_for(s, k), got;
    if (size != hiss_stream_snapshot_size(s, k))
        return HISS_ERR_STATE;
    memcpy(&got, buf, sizeof got);
    if (memcmp(&want, &got, sizeof got) != 0)
        return HISS_ERR_STATE;
    const float *src = (const float *)((const char *)buf + sizeof got);
    size_t nf = (size_t)(k < 0 ? s->opts.n_streams : 1) * s->state_floats;
    for (size_t i = 0; i < nf; i++)
        if (!isfinite(src[i]))
            return HISS_ERR_STATE;
    int first = k < 0 ? 0 : k, last = k < 0 ? s->opts.n_streams : k + 1;
    for (int j = first; j < last; j++, src += s->state_floats)
        s->ops->set_state(s, j, src);
    return HISS_OK;
}
