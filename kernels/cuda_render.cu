/* hiss_render_offline: the host side. The CPU path is a stream; the CUDA path cuts the input into
 * segments and runs the layer-parallel kernels of cuda_render_kernels.cu over each, carrying the
 * conv history and the SSM state from segment to segment. */
#include <cuda_runtime.h>

#include <math.h>
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
    float *hx, *hy; /* pinned */
};

void rd_free(rd_bufs *b)
{
    float *dev[] = {b->w, b->x, b->yout, b->R[0], b->R[1], b->Y[0], b->Y[1], b->Z, b->BC,
                    b->DL, b->hist, b->sinit, b->sprev, b->SE, b->SD, b->cond};
    for (float *p : dev)
        cudaFree(p);
    cudaFreeHost(b->hx);
    cudaFreeHost(b->hy);
}

cudaError_t launch(rd_which which, int cpt, dim3 grid, int threads, size_t smem, cudaStream_t cs,
                   rd_params *q)
{
    void *args[] = {q};
    return cudaLaunchKernel(rd_kernel(which, cpt), grid, dim3((unsigned)threads), args, smem, cs);
}

} // namespace

extern "C" hiss_status hc_render_cuda(const hiss_model *m, const float *in, float *out, size_t n,
                                      const float *cond, size_t segment, int chunk,
                                      hc_render_stats *stats, hiss_error *err)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!m || (!in && n) || (!out && n) || segment < 1 || chunk < 1) {
        hiss_seterr(err, HISS_ERR_ARG, "render: bad arguments");
        return HISS_ERR_ARG;
    }
    if (n == 0)
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
    const size_t S_max = n < segment ? n : segment;
    const int nch_max = (int)((S_max + (size_t)chunk - 1) / (size_t)chunk);
    const int H = p.dc - 1;
    rd_bufs b;
    memset(&b, 0, sizeof b);
    cudaStream_t cs = nullptr;
    cudaError_t e = cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking);
    float *packed = static_cast<float *>(malloc((size_t)p.w_total * sizeof(float)));
    if (!packed) {
        cudaStreamDestroy(cs);
        hiss_seterr(err, HISS_ERR_NOMEM, "render: out of memory");
        return HISS_ERR_NOMEM;
    }
    hc_pack_weights(&p, m, packed);
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
        {&b.cond, (size_t)(p.nc > 0 ? p.nc : 1)},
    };
    for (auto &w : want)
        if (e == cudaSuccess)
            e = cudaMalloc(w.ptr, w.floats * sizeof(float));
    if (e == cudaSuccess)
        e = cudaHostAlloc(&b.hx, S_max * sizeof(float), cudaHostAllocDefault);
    if (e == cudaSuccess)
        e = cudaHostAlloc(&b.hy, S_max * sizeof(float), cudaHostAllocDefault);
    if (e == cudaSuccess)
        e = cudaMemcpy(b.w, packed, (size_t)p.w_total * sizeof(float), cudaMemcpyHostToDevice);
    free(packed);
    if (e == cudaSuccess && p.nc > 0) {
        float cv[HISS_MAX_COND];
        for (int j = 0; j < p.nc; j++)
            cv[j] = cond && isfinite(cond[j]) ? cond[j] : 0.0f;
        e = cudaMemcpy(b.cond, cv, (size_t)p.nc * sizeof(float), cudaMemcpyHostToDevice);
    }
    if (e == cudaSuccess)
        e = cudaMemset(b.hist, 0, (size_t)2 * p.nl * (H > 0 ? H : 1) * p.di4 * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMemset(b.sinit, 0, (size_t)p.nl * p.di * p.ds * sizeof(float));
    /* samples a warp carries through the rows kernel: 4 (measured 1099x real time on the 32x4
     * model against 1071x for 8, which spills) unless HISS_RENDER_RW=8, a benchmark knob */
    const char *rwv = getenv("HISS_RENDER_RW");
    const int rows_rw = rwv && atoi(rwv) == 8 ? 8 : 4;
    if (e == cudaSuccess && smem > 48 * 1024)
        e = cudaFuncSetAttribute(rd_kernel(RD_ROWS, rows_rw),
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);

    rd_params q;
    memset(&q, 0, sizeof q);
    q.w = b.w;
    q.p = p;
    q.chunk = chunk;
    q.dscale = 1.0f;
    q.x = b.x;
    q.cond = b.cond;
    q.Z = b.Z;
    q.BC = b.BC;
    q.DL = b.DL;
    q.SE = b.SE;
    q.SD = b.SD;
    q.yout = b.yout;
    const size_t hstride = (size_t)p.nl * (H > 0 ? H : 1) * p.di4, hl = (size_t)(H > 0 ? H : 1) * p.di4;
    int parity = 0, segments = 0;
    size_t bad_off = n; /* the first segment with a non-finite output */
    const float lim = HISS_INPUT_LIMIT;
    const size_t ssm_bytes = (size_t)p.nl * p.di * p.ds * sizeof(float);
    for (size_t off = 0; off < n && e == cudaSuccess; off += S_max) {
        const int S = (int)(n - off < S_max ? n - off : S_max);
        for (int t = 0; t < S; t++) {
            float v = in[off + t];
            b.hx[t] = !isfinite(v) ? 0.0f : v > lim ? lim : v < -lim ? -lim : v;
        }
        e = cudaMemcpyAsync(b.x, b.hx, (size_t)S * sizeof(float), cudaMemcpyHostToDevice, cs);
        if (e == cudaSuccess)
            e = cudaMemcpyAsync(b.sprev, b.sinit, ssm_bytes, cudaMemcpyDeviceToDevice, cs);
        q.S = S;
        q.nch = (S + chunk - 1) / chunk;
        const int OWN = RD_T - H;
        const dim3 g_rows((unsigned)((S + OWN - 1) / OWN));
        const int lanes = p.di * p.G;
        const int bs_scan = lanes >= RD_NT ? RD_NT : (lanes + 31) / 32 * 32;
        const int per = bs_scan / p.G;
        const dim3 g_scan((unsigned)q.nch, (unsigned)((p.di + per - 1) / per));
        const dim3 g_b((unsigned)((p.di * p.ds + RD_NT - 1) / RD_NT));
        const dim3 g_tail((unsigned)((S + RD_NT / 32 * RD_RW - 1) / (RD_NT / 32 * RD_RW)));
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
            e = cudaMemcpyAsync(b.hy, b.yout, (size_t)S * sizeof(float), cudaMemcpyDeviceToHost, cs);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(cs);
        if (e != cudaSuccess)
            break;
        int finite = 1;
        for (int t = 0; t < S; t++)
            finite &= isfinite(b.hy[t]) != 0;
        segments++;
        if (!finite) {
            bad_off = off;
            break;
        }
        memcpy(out + off, b.hy, (size_t)S * sizeof(float));
        parity ^= 1;
    }
    /* A state overflowed in the segment at bad_off: the stream resets it at that very sample.
     * Its input is still intact (out is written only after the check), so the stream takes over
     * from the state the segment started with. */
    float *state = nullptr;
    if (e == cudaSuccess && bad_off < n) {
        const size_t hsz = (size_t)(H > 0 ? H : 1) * p.di4;
        float *hh = static_cast<float *>(malloc(hstride * sizeof(float)));
        float *ss = static_cast<float *>(malloc(ssm_bytes));
        state = static_cast<float *>(malloc((size_t)p.state_floats * sizeof(float)));
        if (!hh || !ss || !state)
            e = cudaErrorMemoryAllocation;
        if (e == cudaSuccess)
            e = cudaMemcpy(hh, b.hist + (size_t)parity * hstride, hstride * sizeof(float),
                           cudaMemcpyDeviceToHost);
        if (e == cudaSuccess)
            e = cudaMemcpy(ss, b.sprev, ssm_bytes, cudaMemcpyDeviceToHost);
        if (e == cudaSuccess)
            for (int l = 0; l < p.nl; l++) {
                float *st = state + (size_t)l * p.l_state;
                for (int k = 0; k < H; k++)
                    for (int d = 0; d < p.di; d++)
                        st[k * p.di + d] = hh[(size_t)l * hsz + (size_t)k * p.di4 + d];
                memcpy(st + p.hl, ss + (size_t)l * p.di * p.ds, (size_t)p.di * p.ds * sizeof(float));
            }
        free(hh);
        free(ss);
    }
    if (e == cudaSuccess)
        e = cudaGetLastError();
    rd_free(&b);
    cudaStreamDestroy(cs);
    if (e != cudaSuccess) {
        free(state);
        hiss_seterr(err, HISS_ERR_BACKEND, "render: CUDA: %s", cudaGetErrorString(e));
        return HISS_ERR_BACKEND;
    }
    if (stats) {
        stats->segments = segments;
        stats->gpu_seconds = now_s() - t_start;
        stats->fell_back = bad_off < n;
    }
    hiss_status st = HISS_OK;
    if (bad_off < n)
        st = render_stream(m, in + bad_off, out + bad_off, n - bad_off, HISS_BACKEND_CUDA, cond,
                           state, err);
    free(state);
    return st;
}

extern "C" hiss_status hiss_cuda_render_offline(const hiss_model *m, const float *in, float *out,
                                                size_t n, const float *cond, hiss_error *err)
{
    const char *cv = getenv("HISS_RENDER_CHUNK"); /* a benchmark knob */
    const int chunk = cv && atoi(cv) > 0 ? atoi(cv) : HC_RENDER_CHUNK;
    return hc_render_cuda(m, in, out, n, cond, HC_RENDER_SEGMENT, chunk, nullptr, err);
}
