/* One segment through the offline renderer's layers (see cuda_render_segment.h): the buffers,
 * the launches of cuda_render_kernels.cu in their order, and the state read back for a fallback. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_render.h"
#include "cuda_render_segment.h"

hiss_status rd_plan(const hiss_model *m, hc_plan *p, size_t *smem, hiss_error *err)
{
    /* planned for one thread: a lane per channel in the scans */
    if (!hc_plan_model(p, m, 1)) {
        hiss_seterr(err, HISS_ERR_BACKEND, "render: d_state %d is more than the scan can hold", p->ds);
        return HISS_ERR_BACKEND;
    }
    int dev = 0;
    cudaDeviceProp prop;
    *smem = rd_rows_smem(p);
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess ||
        *smem > prop.sharedMemPerBlockOptin) {
        hiss_seterr(err, HISS_ERR_BACKEND,
                    "render: the model (d_model %d, d_inner %d) needs %zu bytes of shared memory a "
                    "block, more than the device allows", p->dm, p->di, *smem);
        return HISS_ERR_BACKEND;
    }
    return HISS_OK;
}

static size_t hist_floats(const hc_plan &p)
{
    const int H = p.dc - 1;
    return (size_t)p.nl * (H > 0 ? H : 1) * p.di4;
}

cudaError_t rd_alloc_carry(rd_bufs *b, const hc_plan &p, const hiss_model *m, size_t cond_floats)
{
    struct {
        float **ptr;
        size_t floats;
    } want[] = {
        {&b->w, (size_t)p.w_total},
        {&b->hist, 2 * hist_floats(p)},
        {&b->sinit, (size_t)p.nl * p.di * p.ds},
        {&b->sprev, (size_t)p.nl * p.di * p.ds},
        {&b->cond, cond_floats},
    };
    cudaError_t e = cudaSuccess;
    for (auto &w : want)
        if (e == cudaSuccess)
            e = cudaMalloc(w.ptr, w.floats * sizeof(float));
    float *packed = static_cast<float *>(malloc((size_t)p.w_total * sizeof(float)));
    if (e == cudaSuccess && !packed)
        e = cudaErrorMemoryAllocation;
    if (e == cudaSuccess) {
        hc_pack_weights(&p, m, packed);
        e = cudaMemcpy(b->w, packed, (size_t)p.w_total * sizeof(float), cudaMemcpyHostToDevice);
    }
    free(packed);
    if (e == cudaSuccess)
        e = cudaMemset(b->hist, 0, 2 * hist_floats(p) * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMemset(b->sinit, 0, (size_t)p.nl * p.di * p.ds * sizeof(float));
    return e;
}

static void free_work(rd_bufs *b)
{
    float *dev[] = {b->x, b->yout, b->R[0], b->R[1], b->Y[0], b->Y[1], b->Z, b->BC, b->DL, b->SE, b->SD};
    for (float *p : dev)
        cudaFree(p);
    cudaFree(b->pos);
    cudaFree(b->seq);
    cudaFree(b->pieces);
    cudaFreeHost(b->hx);
    cudaFreeHost(b->hy);
    b->x = b->yout = b->R[0] = b->R[1] = b->Y[0] = b->Y[1] = b->Z = b->BC = b->DL = b->SE = b->SD = nullptr;
    b->pos = b->seq = b->pieces = nullptr;
    b->hx = b->hy = nullptr;
    b->cap = 0;
}

cudaError_t rd_alloc_work(rd_bufs *b, const hc_plan &p, size_t cap, int chunk, bool batched, int pieces)
{
    free_work(b);
    const size_t nch = (cap + (size_t)chunk - 1) / (size_t)chunk;
    struct {
        float **ptr;
        size_t floats;
    } want[] = {
        {&b->x, cap},
        {&b->yout, cap},
        {&b->R[0], cap * p.dm4},
        {&b->R[1], cap * p.dm4},
        {&b->Y[0], cap * p.di4},
        {&b->Y[1], cap * p.di4},
        {&b->Z, cap * p.di4},
        {&b->BC, cap * p.ldx},
        {&b->DL, cap * p.di4},
        {&b->SE, nch * p.di * p.ds},
        {&b->SD, nch * p.di4},
    };
    cudaError_t e = cudaSuccess;
    for (auto &w : want)
        if (e == cudaSuccess)
            e = cudaMalloc(w.ptr, w.floats * sizeof(float));
    if (e == cudaSuccess && batched)
        e = cudaMalloc(&b->pos, cap * sizeof(int));
    if (e == cudaSuccess && batched)
        e = cudaMalloc(&b->seq, cap * sizeof(int));
    if (e == cudaSuccess && batched)
        e = cudaMalloc(&b->pieces, (size_t)pieces * 3 * sizeof(int));
    if (e == cudaSuccess)
        e = cudaHostAlloc(&b->hx, cap * sizeof(float), cudaHostAllocDefault);
    if (e == cudaSuccess)
        e = cudaHostAlloc(&b->hy, cap * sizeof(float), cudaHostAllocDefault);
    if (e == cudaSuccess)
        b->cap = cap;
    return e;
}

void rd_free(rd_bufs *b)
{
    free_work(b);
    float *dev[] = {b->w, b->hist, b->sinit, b->sprev, b->cond};
    for (float *p : dev)
        cudaFree(p);
    b->w = b->hist = b->sinit = b->sprev = b->cond = nullptr;
}

int rd_rows_rw(void)
{
    /* samples a warp carries through the rows kernel: 4 (measured 1099x real time on the 32x4
     * model against 1071x for 8, which spills) unless HISS_RENDER_RW=8, a benchmark knob */
    const char *rwv = getenv("HISS_RENDER_RW");
    return rwv && atoi(rwv) == 8 ? 8 : 4;
}

int rd_default_chunk(void)
{
    const char *cv = getenv("HISS_RENDER_CHUNK"); /* a benchmark knob */
    return cv && atoi(cv) > 0 ? atoi(cv) : HC_RENDER_CHUNK;
}

cudaError_t rd_prepare(size_t smem, int rows_rw, bool batched)
{
    if (smem <= 48 * 1024)
        return cudaSuccess;
    return cudaFuncSetAttribute(rd_kernel(RD_ROWS, rows_rw, batched), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)smem);
}

cudaError_t rd_launch(rd_which which, int cpt, dim3 grid, int threads, size_t smem, cudaStream_t cs,
                      rd_params *q)
{
    void *args[] = {q};
    return cudaLaunchKernel(rd_kernel(which, cpt, q->pos != nullptr), grid, dim3((unsigned)threads), args,
                            smem, cs);
}

void rd_sanitise(float *dst, const float *src, size_t n)
{
    const float lim = HISS_INPUT_LIMIT;
    for (size_t t = 0; t < n; t++) {
        const float v = src[t];
        dst[t] = !isfinite(v) ? 0.0f : v > lim ? lim : v < -lim ? -lim : v;
    }
}

cudaError_t rd_upload(const rd_bufs &b, rd_params *q, size_t S, cudaStream_t cs)
{
    const hc_plan &p = q->p;
    q->x = b.x;
    q->Z = b.Z;
    q->BC = b.BC;
    q->DL = b.DL;
    q->SE = b.SE;
    q->SD = b.SD;
    q->yout = b.yout;
    q->pos = b.pos; /* NULL for one sequence: no cuts */
    q->seq = b.seq;
    q->pieces = b.pieces;
    q->S = (int)S;
    q->nch = (q->S + q->chunk - 1) / q->chunk;
    cudaError_t e = cudaMemcpyAsync(b.x, b.hx, S * sizeof(float), cudaMemcpyHostToDevice, cs);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(b.sprev, b.sinit, (size_t)p.nl * p.di * p.ds * sizeof(float), cudaMemcpyDeviceToDevice,
                            cs);
    return e;
}

cudaError_t rd_run(const hc_plan &p, const rd_bufs &b, rd_params *q, size_t smem, int rows_rw, int parity,
                   cudaStream_t cs)
{
    const int H = p.dc - 1;
    const size_t hstride = hist_floats(p), hl = (size_t)(H > 0 ? H : 1) * p.di4;
    const int OWN = RD_T - H;
    const dim3 g_rows((unsigned)((q->S + OWN - 1) / OWN));
    const int lanes = p.di * p.G;
    const int bs_scan = lanes >= RD_NT ? RD_NT : (lanes + 31) / 32 * 32;
    const int per = bs_scan / p.G;
    const dim3 g_scan((unsigned)q->nch, (unsigned)((p.di + per - 1) / per));
    const dim3 g_b((unsigned)((p.di * p.ds + RD_NT - 1) / RD_NT));
    const dim3 g_tail((unsigned)((q->S + RD_NT / 32 * RD_RW - 1) / (RD_NT / 32 * RD_RW)));
    cudaError_t e = cudaSuccess;
    for (int l = 0; l < p.nl && e == cudaSuccess; l++) {
        q->l = l;
        q->Rin = b.R[l & 1];
        q->Rout = b.R[(l + 1) & 1];
        q->Yprev = b.Y[(l + 1) & 1];
        q->Y = b.Y[l & 1];
        q->hist_in = b.hist + (size_t)parity * hstride + (size_t)l * hl;
        q->hist_out = b.hist + (size_t)(parity ^ 1) * hstride + (size_t)l * hl;
        q->sinit = b.sinit + (size_t)l * p.di * p.ds;
        e = rd_launch(RD_ROWS, rows_rw, g_rows, RD_NT, smem, cs, q);
        if (e == cudaSuccess)
            e = rd_launch(RD_SCAN_A, p.cpt, g_scan, bs_scan, 0, cs, q);
        if (e == cudaSuccess)
            e = rd_launch(RD_SCAN_B, 0, g_b, RD_NT, 0, cs, q);
        if (e == cudaSuccess)
            e = rd_launch(RD_SCAN_C, p.cpt, g_scan, bs_scan, 0, cs, q);
    }
    q->Rin = b.R[p.nl & 1];
    q->Rout = b.R[(p.nl + 1) & 1];
    q->Y = b.Y[(p.nl - 1) & 1];
    if (e == cudaSuccess)
        e = rd_launch(RD_TAIL, 0, g_tail, RD_NT, 0, cs, q);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(b.hy, b.yout, (size_t)q->S * sizeof(float), cudaMemcpyDeviceToHost, cs);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(cs);
    return e;
}

float *rd_segment_state(const hc_plan &p, const rd_bufs &b, int parity, cudaError_t *e)
{
    const int H = p.dc - 1;
    const size_t hl = (size_t)(H > 0 ? H : 1) * p.di4, hstride = hist_floats(p);
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
