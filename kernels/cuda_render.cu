/* hiss_render_offline and hiss_render_offline_batch: the host side. The sequences are laid end to
 * end and cut into segments; each segment runs through the layer-parallel kernels of
 * cuda_render_kernels.cu, the conv history and the SSM state carried from segment to segment and
 * cut at each sequence's first sample. One sequence is the same path without the cuts. */
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
#include "cuda_render_kernels.h"

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

struct rd_bufs {
    float *w, *x, *yout, *R[2], *Y[2], *Z, *BC, *DL, *hist, *sinit, *sprev, *SE, *SD, *cond;
    int *pos, *seq, *pieces;
    float *hx, *hy; /* pinned */
};

void rd_free(rd_bufs *b)
{
    float *dev[] = {b->w, b->x, b->yout, b->R[0], b->R[1], b->Y[0], b->Y[1], b->Z, b->BC,
                    b->DL, b->hist, b->sinit, b->sprev, b->SE, b->SD, b->cond};
    for (float *p : dev)
        cudaFree(p);
    cudaFree(b->pos);
    cudaFree(b->seq);
    cudaFree(b->pieces);
    cudaFreeHost(b->hx);
    cudaFreeHost(b->hy);
}

cudaError_t launch(rd_which which, int cpt, dim3 grid, int threads, size_t smem, cudaStream_t cs,
                   rd_params *q)
{
    void *args[] = {q};
    return cudaLaunchKernel(rd_kernel(which, cpt, q->pos != nullptr), grid, dim3((unsigned)threads), args,
                            smem, cs);
}

/* The state the segment just rendered started from (the conv history hist[parity], the SSM state
 * in sprev), in the snapshot layout: where a sequence that runs into the segment from the one
 * before falls back from. NULL with *e set on failure. */
float *segment_state(const hc_plan &p, const rd_bufs &b, int parity, cudaError_t *e)
{
    const int H = p.dc - 1;
    const size_t hl = (size_t)(H > 0 ? H : 1) * p.di4, hstride = (size_t)p.nl * hl;
    const size_t ssm_bytes = (size_t)p.nl * p.di * p.ds * sizeof(float);
    float *hh = static_cast<float *>(malloc(hstride * sizeof(float)));
    float *ss = static_cast<float *>(malloc(ssm_bytes));
    float *state = static_cast<float *>(malloc((size_t)p.state_floats * sizeof(float)));
    if (!hh || !ss || !state)
        *e = cudaErrorMemoryAllocation;
    if (*e == cudaSuccess)
        *e = cudaMemcpy(hh, b.hist + (size_t)parity * hstride, hstride * sizeof(float), cudaMemcpyDeviceToHost);
    if (*e == cudaSuccess)
        *e = cudaMemcpy(ss, b.sprev, ssm_bytes, cudaMemcpyDeviceToHost);
    if (*e == cudaSuccess)
        for (int l = 0; l < p.nl; l++) {
            float *st = state + (size_t)l * p.l_state;
            for (int k = 0; k < H; k++)
                for (int d = 0; d < p.di; d++)
                    st[k * p.di + d] = hh[(size_t)l * hl + (size_t)k * p.di4 + d];
            memcpy(st + p.hl, ss + (size_t)l * p.di * p.ds, (size_t)p.di * p.ds * sizeof(float));
        }
    free(hh);
    free(ss);
    if (*e != cudaSuccess) {
        free(state);
        return nullptr;
    }
    return state;
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
    /* planned for one thread: a lane per channel in the scans */
    if (!hc_plan_model(&p, m, 1)) {
        hiss_seterr(err, HISS_ERR_BACKEND, "render: d_state %d is more than the scan can hold", p.ds);
        return HISS_ERR_BACKEND;
    }
    int dev = 0;
    cudaDeviceProp prop;
    const size_t smem = rd_rows_smem(&p);
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess ||
        smem > prop.sharedMemPerBlockOptin) {
        hiss_seterr(err, HISS_ERR_BACKEND,
                    "render: the model (d_model %d, d_inner %d) needs %zu bytes of shared memory a "
                    "block, more than the device allows", p.dm, p.di, smem);
        return HISS_ERR_BACKEND;
    }
    /* One sequence needs no cuts: the segments' carries are its own. */
    const bool batched = nonempty > 1;
    const size_t S_max = total < segment ? total : segment;
    const int nch_max = (int)((S_max + (size_t)chunk - 1) / (size_t)chunk);
    const int H = p.dc - 1;
    const int ncr = p.nc > 0 ? p.nc : 1; /* a conditioning row */
    rd_bufs b;
    memset(&b, 0, sizeof b);
    cudaStream_t cs = nullptr;
    cudaError_t e = cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking);
    float *packed = static_cast<float *>(malloc((size_t)p.w_total * sizeof(float)));
    float *cv = static_cast<float *>(calloc((size_t)count * ncr, sizeof(float)));
    int *hp = static_cast<int *>(malloc((size_t)count * 3 * sizeof(int)));
    size_t *hp_from = static_cast<size_t *>(malloc((size_t)count * sizeof(size_t)));
    fallback *fb = static_cast<fallback *>(calloc((size_t)count, sizeof(fallback)));
    if (!packed || !cv || !hp || !hp_from || !fb) {
        free(packed);
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
    hc_pack_weights(&p, m, packed);
    for (int k = 0; k < count && p.nc > 0; k++)
        for (int j = 0; j < p.nc; j++)
            cv[(size_t)k * ncr + j] = cond && cond[k] && isfinite(cond[k][j]) ? cond[k][j] : 0.0f;
    struct {
        float **ptr;
        size_t floats;
    } want[] = {
        {&b.w, (size_t)p.w_total},
        {&b.x, S_max},
        {&b.yout, S_max},
        {&b.R[0], S_max * p.dm4},
        {&b.R[1], S_max * p.dm4},
        {&b.Y[0], S_max * p.di4},
        {&b.Y[1], S_max * p.di4},
        {&b.Z, S_max * p.di4},
        {&b.BC, S_max * p.ldx},
        {&b.DL, S_max * p.di4},
        {&b.hist, (size_t)2 * p.nl * (H > 0 ? H : 1) * p.di4},
        {&b.sinit, (size_t)p.nl * p.di * p.ds},
        {&b.sprev, (size_t)p.nl * p.di * p.ds},
        {&b.SE, (size_t)nch_max * p.di * p.ds},
        {&b.SD, (size_t)nch_max * p.di4},
        {&b.cond, (size_t)count * ncr},
    };
    for (auto &w : want)
        if (e == cudaSuccess)
            e = cudaMalloc(w.ptr, w.floats * sizeof(float));
    if (e == cudaSuccess && batched)
        e = cudaMalloc(&b.pos, S_max * sizeof(int));
    if (e == cudaSuccess && batched)
        e = cudaMalloc(&b.seq, S_max * sizeof(int));
    if (e == cudaSuccess && batched)
        e = cudaMalloc(&b.pieces, (size_t)count * 3 * sizeof(int));
    if (e == cudaSuccess)
        e = cudaHostAlloc(&b.hx, S_max * sizeof(float), cudaHostAllocDefault);
    if (e == cudaSuccess)
        e = cudaHostAlloc(&b.hy, S_max * sizeof(float), cudaHostAllocDefault);
    if (e == cudaSuccess)
        e = cudaMemcpy(b.w, packed, (size_t)p.w_total * sizeof(float), cudaMemcpyHostToDevice);
    free(packed);
    if (e == cudaSuccess)
        e = cudaMemcpy(b.cond, cv, (size_t)count * ncr * sizeof(float), cudaMemcpyHostToDevice);
    free(cv);
    if (e == cudaSuccess)
        e = cudaMemset(b.hist, 0, (size_t)2 * p.nl * (H > 0 ? H : 1) * p.di4 * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMemset(b.sinit, 0, (size_t)p.nl * p.di * p.ds * sizeof(float));
    /* samples a warp carries through the rows kernel: 4 (measured 1099x real time on the 32x4
     * model against 1071x for 8, which spills) unless HISS_RENDER_RW=8, a benchmark knob */
    const char *rwv = getenv("HISS_RENDER_RW");
    const int rows_rw = rwv && atoi(rwv) == 8 ? 8 : 4;
    if (e == cudaSuccess && smem > 48 * 1024)
        e = cudaFuncSetAttribute(rd_kernel(RD_ROWS, rows_rw, batched),
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);

    rd_params q;
    memset(&q, 0, sizeof q);
    q.w = b.w;
    q.p = p;
    q.chunk = chunk;
    q.dscale = 1.0f;
    q.x = b.x;
    q.cond = batched ? b.cond : b.cond + (size_t)only * ncr;
    q.pos = b.pos; /* NULL for one sequence: no cuts */
    q.seq = b.seq;
    q.pieces = b.pieces;
    q.Z = b.Z;
    q.BC = b.BC;
    q.DL = b.DL;
    q.SE = b.SE;
    q.SD = b.SD;
    q.yout = b.yout;
    const size_t hstride = (size_t)p.nl * (H > 0 ? H : 1) * p.di4, hl = (size_t)(H > 0 ? H : 1) * p.di4;
    int parity = 0, segments = 0, fell_back = 0;
    const float lim = HISS_INPUT_LIMIT;
    const size_t ssm_bytes = (size_t)p.nl * p.di * p.ds * sizeof(float);
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
            const float *src = in[k] + i;
            for (size_t t = 0; t < take; t++) {
                const float v = src[t];
                b.hx[S + t] = !isfinite(v) ? 0.0f : v > lim ? lim : v < -lim ? -lim : v;
            }
            S += take;
            i += take;
            while (k < count && i >= n[k]) {
                k++;
                i = 0;
            }
        }
        e = cudaMemcpyAsync(b.x, b.hx, S * sizeof(float), cudaMemcpyHostToDevice, cs);
        if (e == cudaSuccess)
            e = cudaMemcpyAsync(b.sprev, b.sinit, ssm_bytes, cudaMemcpyDeviceToDevice, cs);
        q.S = (int)S;
        q.nch = (q.S + chunk - 1) / chunk;
        q.npieces = np;
        if (batched && e == cudaSuccess)
            e = cudaMemcpyAsync(b.pieces, hp, (size_t)np * 3 * sizeof(int), cudaMemcpyHostToDevice, cs);
        if (batched && e == cudaSuccess)
            e = launch(RD_INDEX, 0, dim3((unsigned)((q.S + RD_NT - 1) / RD_NT)), RD_NT, 0, cs, &q);
        const int OWN = RD_T - H;
        const dim3 g_rows((unsigned)((q.S + OWN - 1) / OWN));
        const int lanes = p.di * p.G;
        const int bs_scan = lanes >= RD_NT ? RD_NT : (lanes + 31) / 32 * 32;
        const int per = bs_scan / p.G;
        const dim3 g_scan((unsigned)q.nch, (unsigned)((p.di + per - 1) / per));
        const dim3 g_b((unsigned)((p.di * p.ds + RD_NT - 1) / RD_NT));
        const dim3 g_tail((unsigned)((q.S + RD_NT / 32 * RD_RW - 1) / (RD_NT / 32 * RD_RW)));
        for (int l = 0; l < p.nl && e == cudaSuccess; l++) {
            q.l = l;
            q.Rin = b.R[l & 1];
            q.Rout = b.R[(l + 1) & 1];
            q.Yprev = b.Y[(l + 1) & 1];
            q.Y = b.Y[l & 1];
            q.hist_in = b.hist + (size_t)parity * hstride + (size_t)l * hl;
            q.hist_out = b.hist + (size_t)(parity ^ 1) * hstride + (size_t)l * hl;
            q.sinit = b.sinit + (size_t)l * p.di * p.ds;
            e = launch(RD_ROWS, rows_rw, g_rows, RD_NT, smem, cs, &q);
            if (e == cudaSuccess)
                e = launch(RD_SCAN_A, p.cpt, g_scan, bs_scan, 0, cs, &q);
            if (e == cudaSuccess)
                e = launch(RD_SCAN_B, 0, g_b, RD_NT, 0, cs, &q);
            if (e == cudaSuccess)
                e = launch(RD_SCAN_C, p.cpt, g_scan, bs_scan, 0, cs, &q);
        }
        q.Rin = b.R[p.nl & 1];
        q.Rout = b.R[(p.nl + 1) & 1];
        q.Y = b.Y[(p.nl - 1) & 1];
        if (e == cudaSuccess)
            e = launch(RD_TAIL, 0, g_tail, RD_NT, 0, cs, &q);
        if (e == cudaSuccess)
            e = cudaMemcpyAsync(b.hy, b.yout, S * sizeof(float), cudaMemcpyDeviceToHost, cs);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(cs);
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
                fb[sk].state = segment_state(p, b, parity, &e);
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

static int render_chunk(void)
{
    const char *cv = getenv("HISS_RENDER_CHUNK"); /* a benchmark knob */
    return cv && atoi(cv) > 0 ? atoi(cv) : HC_RENDER_CHUNK;
}

extern "C" hiss_status hiss_cuda_render_offline(const hiss_model *m, const float *in, float *out,
                                                size_t n, const float *cond, hiss_error *err)
{
    return hc_render_cuda(m, in, out, n, cond, HC_RENDER_SEGMENT, render_chunk(), nullptr, err);
}

extern "C" hiss_status hiss_cuda_render_offline_batch(const hiss_model *m, const float *const *in,
                                                      float *const *out, const size_t *n, int count,
                                                      const float *const *cond, hiss_error *err)
{
    return hc_render_cuda_batch(m, in, out, n, count, cond, HC_RENDER_SEGMENT, render_chunk(), nullptr, err);
}
