/* hiss_offline on the GPU: one sequence that arrives a call at a time through the batch render's
 * segment machinery (cuda_render_segment.cu). The weights, the work buffers and the carry (the
 * conv history of every layer and the SSM state) stay on the device between calls, so a call pays
 * for its samples only, not for allocation or upload. A call is cut into segments of up to
 * `segment` samples: calls of whole segments run the very launches one hiss_render_offline call
 * over the whole signal runs. As there, an output that turns non-finite sends the rest of the
 * signal, from the start of that segment, through the CUDA stream, which resets an overflowing
 * state at the sample where it overflows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_render.h"
#include "cuda_render_segment.h"

namespace {

double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

constexpr int STREAM_BLOCK = 4096;

} // namespace

struct hc_offline {
    const hiss_model *m;
    hc_plan p;
    rd_bufs b;
    rd_params q;
    cudaStream_t cs;
    size_t segment, smem;
    int chunk, rows_rw;
    int parity;            /* the half of b.hist the next segment reads its conv history from */
    float cond[HISS_MAX_COND];
    hiss_stream *stream;   /* the fallback, once an output was non-finite; then it renders all */
    int broken;            /* a CUDA error left the carry unknown: every later call fails */
    hc_render_stats stats;
};

extern "C" void hc_offline_free(hc_offline *r)
{
    if (!r)
        return;
    hiss_stream_free(r->stream);
    rd_free(&r->b);
    if (r->cs)
        cudaStreamDestroy(r->cs);
    free(r);
}

extern "C" hiss_status hc_offline_create(const hiss_model *m, const float *cond, size_t segment, int chunk,
                                         hc_offline **out, hiss_error *err)
{
    if (!out || !m || segment < 1 || chunk < 1) {
        hiss_seterr(err, HISS_ERR_ARG, "render: bad arguments");
        return HISS_ERR_ARG;
    }
    *out = nullptr;
    if (!hiss_cuda_device_present()) {
        hiss_seterr(err, HISS_ERR_BACKEND, "render: no CUDA device is present");
        return HISS_ERR_BACKEND;
    }
    hc_offline *r = static_cast<hc_offline *>(calloc(1, sizeof *r));
    if (!r) {
        hiss_seterr(err, HISS_ERR_NOMEM, "render: out of memory");
        return HISS_ERR_NOMEM;
    }
    r->m = m;
    r->segment = segment;
    r->chunk = chunk;
    hiss_status st = rd_plan(m, &r->p, &r->smem, err);
    if (st != HISS_OK) {
        hc_offline_free(r);
        return st;
    }
    const hc_plan &p = r->p;
    const int ncr = p.nc > 0 ? p.nc : 1;
    for (int j = 0; j < p.nc; j++)
        r->cond[j] = cond && isfinite(cond[j]) ? cond[j] : 0.0f;
    r->rows_rw = rd_rows_rw();
    cudaError_t e = cudaStreamCreateWithFlags(&r->cs, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = rd_alloc_carry(&r->b, p, m, (size_t)ncr);
    if (e == cudaSuccess)
        e = cudaMemcpy(r->b.cond, r->cond, (size_t)ncr * sizeof(float), cudaMemcpyHostToDevice);
    if (e == cudaSuccess)
        e = rd_prepare(r->smem, r->rows_rw, false);
    if (e != cudaSuccess) {
        hiss_seterr(err, HISS_ERR_BACKEND, "render: CUDA: %s", cudaGetErrorString(e));
        hc_offline_free(r);
        return HISS_ERR_BACKEND;
    }
    r->q.w = r->b.w;
    r->q.p = p;
    r->q.chunk = chunk;
    r->q.dscale = 1.0f;
    r->q.cond = r->b.cond;
    *out = r;
    return HISS_OK;
}

/* The CUDA stream takes over from the state the segment at `parity` started from. */
static hiss_status take_over(hc_offline *r, cudaError_t *e, hiss_error *err)
{
    float *state = rd_segment_state(r->p, r->b, r->parity, e);
    if (!state)
        return HISS_ERR_BACKEND;
    hiss_stream_opts o = hiss_stream_opts_default();
    o.backend = HISS_BACKEND_CUDA;
    o.max_block = STREAM_BLOCK;
    hiss_status st = hiss_stream_create(r->m, &o, &r->stream, err);
    if (st == HISS_OK) {
        for (int j = 0; j < r->p.nc; j++)
            hiss_stream_set_cond(r->stream, 0, j, r->cond[j]);
        r->stream->ops->set_state(r->stream, 0, state);
        r->stats.fell_back = 1;
    }
    free(state);
    return st;
}

extern "C" hiss_status hc_offline_render(hc_offline *r, const float *in, float *out, size_t n, hiss_error *err)
{
    if (!r || (n && (!in || !out))) {
        hiss_seterr(err, HISS_ERR_ARG, "render: the renderer, in and out must not be NULL");
        return HISS_ERR_ARG;
    }
    if (r->broken) {
        hiss_seterr(err, HISS_ERR_BACKEND, "render: an earlier CUDA error left the state unknown");
        return HISS_ERR_BACKEND;
    }
    const double t0 = now_s();
    cudaError_t e = cudaSuccess;
    hiss_status st = HISS_OK;
    size_t t = 0;
    while (t < n && !r->stream) {
        const size_t S = n - t < r->segment ? n - t : r->segment;
        if (S > r->b.cap) {
            /* grown by doubling, so that many short calls reallocate only now and then */
            const size_t twice = 2 * r->b.cap < r->segment ? 2 * r->b.cap : r->segment;
            e = rd_alloc_work(&r->b, r->p, S > twice ? S : twice, r->chunk, false, 0);
            if (e != cudaSuccess)
                break;
        }
        rd_sanitise(r->b.hx, in + t, S);
        e = rd_upload(r->b, &r->q, S, r->cs);
        if (e == cudaSuccess)
            e = rd_run(r->p, r->b, &r->q, r->smem, r->rows_rw, r->parity, r->cs);
        if (e != cudaSuccess)
            break;
        int finite = 1;
        for (size_t i = 0; i < S; i++)
            finite &= isfinite(r->b.hy[i]) != 0;
        if (!finite) {
            /* out[t..] is still unwritten and in[t..] intact (in may be out) */
            st = take_over(r, &e, err);
            if (st != HISS_OK)
                break;
            continue;
        }
        memcpy(out + t, r->b.hy, S * sizeof(float));
        r->parity ^= 1;
        r->stats.segments++;
        t += S;
    }
    r->stats.gpu_seconds += now_s() - t0;
    if (e != cudaSuccess) {
        r->broken = 1;
        hiss_seterr(err, HISS_ERR_BACKEND, "render: CUDA: %s", cudaGetErrorString(e));
        return HISS_ERR_BACKEND;
    }
    if (st != HISS_OK) {
        r->broken = 1;
        return st;
    }
    for (; t < n && st == HISS_OK; t += STREAM_BLOCK) {
        const int len = n - t < (size_t)STREAM_BLOCK ? (int)(n - t) : STREAM_BLOCK;
        const float *ip[1] = {in + t};
        float *op[1] = {out + t};
        st = hiss_stream_process(r->stream, ip, op, len);
        if (st != HISS_OK) {
            r->broken = 1;
            hiss_seterr(err, st, "render: processing samples %zu..%zu of the call failed", t, t + (size_t)len);
        }
    }
    return st;
}

extern "C" hc_render_stats hc_offline_stats(const hc_offline *r)
{
    return r->stats;
}

extern "C" hiss_status hiss_cuda_offline_create(const hiss_model *m, const float *cond, hc_offline **out,
                                                hiss_error *err)
{
    return hc_offline_create(m, cond, HC_RENDER_SEGMENT, rd_default_chunk(), out, err);
}

extern "C" hiss_status hiss_cuda_offline_render(hc_offline *r, const float *in, float *out, size_t n,
                                                hiss_error *err)
{
    return hc_offline_render(r, in, out, n, err);
}

extern "C" void hiss_cuda_offline_free(hc_offline *r)
{
    hc_offline_free(r);
}
