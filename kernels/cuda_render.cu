/* hiss_render_offline and hiss_render_offline_batch: the host side. The sequences are laid end to
 * end and cut into segments; each segment runs through the layer-parallel kernels of
 * cuda_render_kernels.cu (launched by cuda_render_segment.cu), the conv history and the SSM state
 * carried from segment to segment and cut at each sequence's first sample. One sequence is the
 * same path without the cuts. */
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "backend.h"
}
#include "cuda_render.h"
#include "cuda_render_segment.h"

namespace {

double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A stream over the input, from a zero state or from state (the snapshot layout): the
 * reference semantics, and the fallback when a state overflows. */
hiss_status render_stream(const hiss_model *m, const float *in, float *out, size_t n,
                          hiss_backend b, const float *cond, const float *state, hiss_error *err)
{
    const int block = 4096;
    hiss_stream_opts o = hiss_stream_opts_default();
    o.backend = b;
    o.max_block = block;
    hiss_stream *s = nullptr;
    hiss_status st = hiss_stream_create(m, &o, &s, err);
    if (st != HISS_OK)
        return st;
    for (int j = 0; j < m->cfg.n_cond; j++)
        hiss_stream_set_cond(s, 0, j, cond ? cond[j] : 0.0f);
    if (state)
        s->ops->set_state(s, 0, state);
    for (size_t t = 0; t < n && st == HISS_OK; t += block) {
        const int len = n - t < (size_t)block ? (int)(n - t) : block;
        const float *ip[1] = {in + t};
        float *op[1] = {out + t};
        st = hiss_stream_process(s, ip, op, len);
        if (st != HISS_OK)
            hiss_seterr(err, st, "render: processing samples %zu..%zu failed", t, t + (size_t)len);
    }
    hiss_stream_free(s);
    return st;
}

/* Where a sequence that went non-finite takes over on the CUDA stream. */
struct fallback {
    size_t from;  /* its first sample not yet written */
    float *state; /* the state there (snapshot layout); NULL: zero (the sequence began there) */
};

} // namespace

extern "C" hiss_status hc_render_cuda_batch(const hiss_model *m, const float *const *in, float *const *out,
                                            const size_t *n, int count, const float *const *cond,
                                            size_t segment, int chunk, hc_render_stats *stats, hiss_error *err)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!m || count < 0 || (count > 0 && (!in || !out || !n)) || segment < 1 || chunk < 1) {
        hiss_seterr(err, HISS_ERR_ARG, "render: bad arguments");
        return HISS_ERR_ARG;
    }
    size_t total = 0;
    int nonempty = 0, only = 0;
    for (int k = 0; k < count; k++) {
        if (n[k] && (!in[k] || !out[k])) {
            hiss_seterr(err, HISS_ERR_ARG, "render: sequence %d: in and out must not be NULL", k);
            return HISS_ERR_ARG;
        }
        total += n[k];
        if (n[k]) {
            nonempty++;
            only = k;
        }
    }
    if (total == 0)
        return HISS_OK;
    if (!hiss_cuda_device_present()) {
        hiss_seterr(err, HISS_ERR_BACKEND, "render: no CUDA device is present");
        return HISS_ERR_BACKEND;
    }
    const double t_start = now_s();
    hc_plan p;
    size_t smem = 0;
    const hiss_status planned = rd_plan(m, &p, &smem, err);
    if (planned != HISS_OK)
        return planned;
    /* One sequence needs no cuts: the segments' carries are its own. */
    const bool batched = nonempty > 1;
    const size_t S_max = total < segment ? total : segment;
    const int ncr = p.nc > 0 ? p.nc : 1; /* a conditioning row */
    rd_bufs b;
    memset(&b, 0, sizeof b);
    cudaStream_t cs = nullptr;
    cudaError_t e = cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking);
    float *cv = static_cast<float *>(calloc((size_t)count * ncr, sizeof(float)));
    int *hp = static_cast<int *>(malloc((size_t)count * 3 * sizeof(int)));
    size_t *hp_from = static_cast<size_t *>(malloc((size_t)count * sizeof(size_t)));
    fallback *fb = static_cast<fallback *>(calloc((size_t)count, sizeof(fallback)));
    if (!cv || !hp || !hp_from || !fb) {
        free(cv);
        free(hp);
        free(hp_from);
        free(fb);
        cudaStreamDestroy(cs);
        hiss_seterr(err, HISS_ERR_NOMEM, "render: out of memory");
        return HISS_ERR_NOMEM;
    }
    for (int k = 0; k < count; k++)
        fb[k].from = n[k]; /* n: nothing to redo */
    for (int k = 0; k < count && p.nc > 0; k++)
        for (int j = 0; j < p.nc; j++)
            cv[(size_t)k * ncr + j] = cond && cond[k] && isfinite(cond[k][j]) ? cond[k][j] : 0.0f;
    if (e == cudaSuccess)
        e = rd_alloc_carry(&b, p, m, (size_t)count * ncr);
    if (e == cudaSuccess)
        e = rd_alloc_work(&b, p, S_max, chunk, batched, count);
    if (e == cudaSuccess)
        e = cudaMemcpy(b.cond, cv, (size_t)count * ncr * sizeof(float), cudaMemcpyHostToDevice);
    free(cv);
    const int rows_rw = rd_rows_rw();
    if (e == cudaSuccess)
        e = rd_prepare(smem, rows_rw, batched);

    rd_params q;
    memset(&q, 0, sizeof q);
    q.w = b.w;
    q.p = p;
    q.chunk = chunk;
    q.dscale = 1.0f;
    q.cond = batched ? b.cond : b.cond + (size_t)only * ncr;
    int parity = 0, segments = 0, fell_back = 0;
    /* The cursor: sample i of sequence k. Empty sequences, and what is left of one that went
     * non-finite (the stream redoes it), are skipped. */
    int k = 0;
    size_t i = 0;
    while (k < count && (i >= n[k] || fb[k].from < n[k])) {
        k++;
        i = 0;
    }
    while (k < count && e == cudaSuccess) {
        /* Lay the next S_max samples end to end: piece j is sequence hp[3j+1] from sample
         * hp_from[j], at segment row hp[3j]. */
        int np = 0;
        size_t S = 0;
        while (k < count && S < S_max) {
            const size_t take = n[k] - i < S_max - S ? n[k] - i : S_max - S;
            hp[3 * np] = (int)S;
            hp[3 * np + 1] = k;
            hp[3 * np + 2] = i < ((size_t)1 << 30) ? (int)i : 1 << 30;
            hp_from[np] = i;
            np++;
            rd_sanitise(b.hx + S, in[k] + i, take);
            S += take;
            i += take;
            while (k < count && i >= n[k]) {
                k++;
                i = 0;
            }
        }
        e = rd_upload(b, &q, S, cs);
        q.npieces = np;
        if (batched && e == cudaSuccess)
            e = cudaMemcpyAsync(b.pieces, hp, (size_t)np * 3 * sizeof(int), cudaMemcpyHostToDevice, cs);
        if (batched && e == cudaSuccess)
            e = rd_launch(RD_INDEX, 0, dim3((unsigned)((q.S + RD_NT - 1) / RD_NT)), RD_NT, 0, cs, &q);
        if (e == cudaSuccess)
            e = rd_run(p, b, &q, smem, rows_rw, parity, cs);
        if (e != cudaSuccess)
            break;
        segments++;
        /* A piece whose output is all finite is final. One that is not leaves its sequence to
         * the stream from the piece's first sample: the sequence's input there is still intact
         * (out is written only after the check), and so is the state the piece started from. */
        for (int j = 0; j < np && e == cudaSuccess; j++) {
            const int sk = hp[3 * j + 1];
            const size_t r0 = (size_t)hp[3 * j], len = (j + 1 < np ? (size_t)hp[3 * j + 3] : S) - r0;
            int finite = 1;
            for (size_t t = 0; t < len; t++)
                finite &= isfinite(b.hy[r0 + t]) != 0;
            if (finite) {
                memcpy(out[sk] + hp_from[j], b.hy + r0, len * sizeof(float));
                continue;
            }
            fb[sk].from = hp_from[j];
            fell_back++;
            /* only the first piece can continue a sequence from the segment before */
            if (hp_from[j] > 0)
                fb[sk].state = rd_segment_state(p, b, parity, &e);
        }
        parity ^= 1;
        while (k < count && (i >= n[k] || fb[k].from < n[k])) {
            k++;
            i = 0;
        }
    }
    if (e == cudaSuccess)
        e = cudaGetLastError();
    rd_free(&b);
    cudaStreamDestroy(cs);
    free(hp);
    free(hp_from);
    hiss_status st = HISS_OK;
    if (e != cudaSuccess) {
        hiss_seterr(err, HISS_ERR_BACKEND, "render: CUDA: %s", cudaGetErrorString(e));
        st = HISS_ERR_BACKEND;
    } else if (stats) {
        stats->segments = segments;
        stats->gpu_seconds = now_s() - t_start;
        stats->fell_back = fell_back;
    }
    /* A state overflowed: the stream resets it at that very sample, as it would have alone. */
    for (int s = 0; s < count && st == HISS_OK; s++)
        if (fb[s].from < n[s]) {
            st = render_stream(m, in[s] + fb[s].from, out[s] + fb[s].from, n[s] - fb[s].from,
                               HISS_BACKEND_CUDA, cond ? cond[s] : nullptr, fb[s].state, err);
            if (st != HISS_OK && count > 1) {
                char msg[HISS_ERROR_LEN];
                snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
                hiss_seterr(err, st, "render: sequence %d: %s", s, msg);
            }
        }
    for (int s = 0; s < count; s++)
        free(fb[s].state);
    free(fb);
    return st;
}

extern "C" hiss_status hc_render_cuda(const hiss_model *m, const float *in, float *out, size_t n,
                                      const float *cond, size_t segment, int chunk,
                                      hc_render_stats *stats, hiss_error *err)
{
    const float *ip[1] = {in};
    float *op[1] = {out};
    const float *cp[1] = {cond};
    return hc_render_cuda_batch(m, ip, op, &n, 1, cp, segment, chunk, stats, err);
}

extern "C" hiss_status hiss_cuda_render_offline(const hiss_model *m, const float *in, float *out,
                                                size_t n, const float *cond, hiss_error *err)
{
    return hc_render_cuda(m, in, out, n, cond, HC_RENDER_SEGMENT, rd_default_chunk(), nullptr, err);
}

extern "C" hiss_status hiss_cuda_render_offline_batch(const hiss_model *m, const float *const *in,
                                                      float *const *out, const size_t *n, int count,
                                                      const float *const *cond, hiss_error *err)
{
    return hc_render_cuda_batch(m, in, out, n, count, cond, HC_RENDER_SEGMENT, rd_default_chunk(), nullptr, err);
}
