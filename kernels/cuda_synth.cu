/* Host side of the CUDA synth (hiss_cuda_synth.h): the weights and the voices' states stay on
 * the device; a run stages the voices' notes in pinned memory and replays one CUDA graph (input
 * copy, kernel, output copy), whose copy sizes follow the run's voices and length. */
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "model.h"
#include "synth_model.h"
}
#include "cuda_synth_kernel.h"
#include "hiss_cuda_synth.h"

struct hc_synth {
    int nt, grid, slots, max_n;
    hs_plan p;
    const void *fn;
    size_t smem;
    cudaStream_t cs;
    cudaEvent_t done; /* the last run's end */
    float *dw, *dhw, *dstate, *dscratch;
    hs_voice_dev *dvs;
    char *din, *dout;   /* device: [header | voices], [bad | y] */
    char *hin, *hout;   /* pinned copies */
    size_t y_off;
    hs_kparams kp;
    cudaGraph_t graph;
    cudaGraphNode_t n_h2d, n_k, n_d2h;
    cudaGraphExec_t exec;
    int exec_nv, exec_n;
    int *pending;
    hiss_synth_rng *pend_rng;
    int greedy;
    float inv_t, top_p;
    int in_flight; /* a run launched and not yet collected */
    char desc[200];
};

namespace {

const size_t HDR = 256; /* header bytes before the voices */

size_t align256(size_t x)
{
    return (x + 255) & ~(size_t)255;
}

int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

bool fail(hiss_error *err, cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return false;
    hiss_seterr(err, HISS_ERR_BACKEND, "cuda synth: %s: %s", what, cudaGetErrorString(e));
    return true;
}

size_t in_bytes(int nv)
{
    return HDR + (size_t)nv * sizeof(hs_voice_in);
}

size_t out_bytes(const hc_synth *d, int nv, int n)
{
    return d->y_off + (size_t)nv * n * sizeof(float);
}

/* The pinned header and voices of a run; pending note starts are consumed. */
void stage(hc_synth *d, const int *slots, const hc_synth_note *notes, int nv, int n)
{
    int *hdr = reinterpret_cast<int *>(d->hin);
    hdr[0] = nv;
    hdr[1] = n;
    hdr[2] = d->greedy;
    memcpy(&hdr[3], &d->inv_t, sizeof(float));
    memcpy(&hdr[4], &d->top_p, sizeof(float));
    hs_voice_in *v = reinterpret_cast<hs_voice_in *>(d->hin + HDR);
    for (int j = 0; j < nv; j++) {
        const int k = slots[j];
        const hc_synth_note *nt = &notes[j];
        v[j].pitch = nt->pitch;
        v[j].phase = nt->phase;
        v[j].inc = nt->inc;
        v[j].n_on = nt->n_on;
        v[j].n_off = nt->n_off;
        v[j].velocity = nt->velocity;
        v[j].gate = nt->gate;
        v[j].slot = k;
        v[j].reset = d->pending[k];
        for (int i = 0; i < 4; i++)
            v[j].rng[i] = d->pend_rng[k].s[i];
        d->pending[k] = 0;
    }
}

cudaKernelNodeParams kernel_node(hc_synth *d, void **args)
{
    cudaKernelNodeParams kn = {};
    kn.func = const_cast<void *>(d->fn);
    kn.gridDim = dim3((unsigned)d->grid);
    kn.blockDim = dim3((unsigned)d->nt);
    kn.sharedMemBytes = (unsigned)d->smem;
    kn.kernelParams = args;
    return kn;
}

} // namespace

extern "C" void hc_synth_free(hc_synth *d)
{
    if (!d)
        return;
    if (d->cs)
        cudaStreamSynchronize(d->cs);
    if (d->exec)
        cudaGraphExecDestroy(d->exec);
    if (d->graph)
        cudaGraphDestroy(d->graph);
    cudaFree(d->dw);
    cudaFree(d->dhw);
    cudaFree(d->dstate);
    cudaFree(d->dscratch);
    cudaFree(d->dvs);
    cudaFree(d->din);
    cudaFree(d->dout);
    cudaFreeHost(d->hin);
    cudaFreeHost(d->hout);
    if (d->done)
        cudaEventDestroy(d->done);
    if (d->cs)
        cudaStreamDestroy(d->cs);
    free(d->pending);
    free(d->pend_rng);
    free(d);
}

static hiss_status setup(hc_synth *d, const hiss_synth_model *m, float temperature, float top_p,
                         hiss_error *err)
{
    int dev = 0;
    cudaDeviceProp prop;
    if (fail(err, cudaGetDevice(&dev), "cudaGetDevice") ||
        fail(err, cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties"))
        return HISS_ERR_BACKEND;
    d->nt = env_int("HISS_CUDA_SYNTH_THREADS", 256);
    if (!hs_synth_kernel(d->nt, 1)) {
        hiss_seterr(err, HISS_ERR_BACKEND, "cuda synth: HISS_CUDA_SYNTH_THREADS=%d is not 128, 256 or 512",
                    d->nt);
        return HISS_ERR_BACKEND;
    }
    const char *why = "";
    if (!hs_plan_make(&d->p, m, d->nt, prop.sharedMemPerBlockOptin, env_int("HISS_CUDA_WSMEM", 1), &why)) {
        hiss_seterr(err, HISS_ERR_BACKEND, "cuda synth: model d_model %d, d_inner %d, d_state %d: %s",
                    m->cfg.d_model, m->cfg.d_inner, m->cfg.d_state, why);
        return HISS_ERR_BACKEND;
    }
    const hs_plan *p = &d->p;
    d->fn = hs_synth_kernel(d->nt, p->weights_in_smem);
    d->smem = (size_t)p->smem_floats * sizeof(float);
    int per_sm = 0;
    if (fail(err, cudaFuncSetAttribute(d->fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)d->smem),
             "cudaFuncSetAttribute") ||
        fail(err, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, d->fn, d->nt, d->smem),
             "cudaOccupancyMaxActiveBlocksPerMultiprocessor"))
        return HISS_ERR_BACKEND;
    d->grid = prop.multiProcessorCount * (per_sm > 0 ? per_sm : 1);
    if (d->grid > d->slots)
        d->grid = d->slots;
    snprintf(d->desc, sizeof d->desc,
             "%d threads, %d blocks, %zu KB shared: weights %s, state %s, A %s, embedding %s, sampler %s",
             d->nt, d->grid, d->smem >> 10, p->weights_in_smem ? "shared" : "global",
             p->s_state >= 0 ? "shared" : "global", p->s_A >= 0 ? "shared" : "global",
             p->s_emb >= 0 ? "shared" : "global", p->s_smp >= 0 ? "shared" : "global");

    const size_t w_bytes = (size_t)p->bb.w_total * sizeof(float);
    const size_t hw_bytes = (size_t)p->h_total * sizeof(float);
    float *packed = static_cast<float *>(malloc(w_bytes > hw_bytes ? w_bytes : hw_bytes));
    d->pending = static_cast<int *>(calloc((size_t)d->slots, sizeof(int)));
    d->pend_rng = static_cast<hiss_synth_rng *>(calloc((size_t)d->slots, sizeof(hiss_synth_rng)));
    if (!packed || !d->pending || !d->pend_rng) {
        free(packed);
        hiss_seterr(err, HISS_ERR_NOMEM, "cuda synth: out of memory for %d voices", d->slots);
        return HISS_ERR_NOMEM;
    }
    cudaError_t e = cudaStreamCreateWithFlags(&d->cs, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&d->done, cudaEventDisableTiming);
    if (e == cudaSuccess)
        e = cudaMalloc(&d->dw, w_bytes);
    if (e == cudaSuccess) {
        hc_pack_weights(&p->bb, m->bb, packed);
        e = cudaMemcpy(d->dw, packed, w_bytes, cudaMemcpyHostToDevice);
    }
    if (e == cudaSuccess)
        e = cudaMalloc(&d->dhw, hw_bytes);
    if (e == cudaSuccess) {
        hs_pack_head(p, m, packed);
        e = cudaMemcpy(d->dhw, packed, hw_bytes, cudaMemcpyHostToDevice);
    }
    free(packed);
    if (fail(err, e, "uploading the weights"))
        return HISS_ERR_BACKEND;
    const size_t st_bytes = (size_t)d->slots * p->ss * sizeof(float);
    d->y_off = align256((size_t)d->slots * sizeof(int));
    const size_t ib = in_bytes(d->slots), ob = out_bytes(d, d->slots, d->max_n);
    if (fail(err, cudaMalloc(&d->dstate, st_bytes), "allocating the voice states") ||
        fail(err, cudaMemset(d->dstate, 0, st_bytes), "zeroing the voice states") ||
        fail(err, cudaMalloc(&d->dvs, (size_t)d->slots * sizeof(hs_voice_dev)), "allocating the voices") ||
        fail(err, cudaMemset(d->dvs, 0, (size_t)d->slots * sizeof(hs_voice_dev)), "zeroing the voices") ||
        fail(err, cudaMalloc(&d->din, ib), "allocating the input buffer") ||
        fail(err, cudaMalloc(&d->dout, ob), "allocating the output buffer") ||
        fail(err, cudaHostAlloc(&d->hin, ib, cudaHostAllocDefault), "allocating pinned input") ||
        fail(err, cudaHostAlloc(&d->hout, ob, cudaHostAllocDefault), "allocating pinned output"))
        return HISS_ERR_BACKEND;
    if (p->s_smp < 0 &&
        fail(err, cudaMalloc(&d->dscratch, (size_t)d->grid * HS_SMP_FLOATS * sizeof(float)),
             "allocating the sampler's work space"))
        return HISS_ERR_BACKEND;
    memset(d->hin, 0, ib);
    memset(d->hout, 0, ob);

    hs_kparams &kp = d->kp;
    memset(&kp, 0, sizeof kp);
    kp.w = d->dw;
    kp.hw = d->dhw;
    kp.state = d->dstate;
    kp.vs = d->dvs;
    kp.hdr = reinterpret_cast<const int *>(d->din);
    kp.vin = reinterpret_cast<const hs_voice_in *>(d->din + HDR);
    kp.bad = reinterpret_cast<int *>(d->dout);
    kp.y = reinterpret_cast<float *>(d->dout + d->y_off);
    kp.scratch = d->dscratch;
    kp.rate = m->cfg.sample_rate;
    hc_synth_set_sampling(d, temperature, top_p);
    for (int i = 0; i < p->nc; i++)
        kp.feat[i] = (int)m->feat[i];
    kp.p = *p;

    /* The graph, for the largest run; runs of other sizes rewrite its copies' sizes. */
    void *args[] = {&kp};
    cudaKernelNodeParams kn = kernel_node(d, args);
    e = cudaGraphCreate(&d->graph, 0);
    if (e == cudaSuccess)
        e = cudaGraphAddMemcpyNode1D(&d->n_h2d, d->graph, nullptr, 0, d->din, d->hin, ib, cudaMemcpyHostToDevice);
    if (e == cudaSuccess)
        e = cudaGraphAddKernelNode(&d->n_k, d->graph, &d->n_h2d, 1, &kn);
    if (e == cudaSuccess)
        e = cudaGraphAddMemcpyNode1D(&d->n_d2h, d->graph, &d->n_k, 1, d->hout, d->dout, ob,
                                     cudaMemcpyDeviceToHost);
    if (e == cudaSuccess)
        e = cudaGraphInstantiate(&d->exec, d->graph, 0);
    if (fail(err, e, "building the CUDA graph"))
        return HISS_ERR_BACKEND;
    d->exec_nv = d->slots;
    d->exec_n = d->max_n;
    return fail(err, cudaStreamSynchronize(d->cs), "initialising") ? HISS_ERR_BACKEND : HISS_OK;
}

extern "C" hiss_status hc_synth_create(const hiss_synth_model *m, int n_slots, int max_n, float temperature,
                                       float top_p, hc_synth **out, hiss_error *err)
{
    *out = nullptr;
    if (!m || n_slots < 1 || max_n < 1) {
        hiss_seterr(err, HISS_ERR_ARG, "cuda synth: %d voices of runs of %d samples", n_slots, max_n);
        return HISS_ERR_ARG;
    }
    hc_synth *d = static_cast<hc_synth *>(calloc(1, sizeof(hc_synth)));
    if (!d) {
        hiss_seterr(err, HISS_ERR_NOMEM, "cuda synth: out of memory");
        return HISS_ERR_NOMEM;
    }
    d->slots = n_slots;
    d->max_n = max_n;
    const hiss_status st = setup(d, m, temperature, top_p, err);
    if (st != HISS_OK) {
        hc_synth_free(d);
        return st;
    }
    *out = d;
    return HISS_OK;
}

extern "C" const char *hc_synth_describe(const hc_synth *d)
{
    return d->desc;
}

extern "C" void hc_synth_start(hc_synth *d, int k, const hiss_synth_rng *r)
{
    if (k < 0 || k >= d->slots)
        return;
    d->pending[k] = 1;
    d->pend_rng[k] = *r;
}

extern "C" void hc_synth_set_sampling(hc_synth *d, float temperature, float top_p)
{
    d->greedy = !(temperature > 0.0f);
    d->inv_t = d->greedy ? 0.0f : 1.0f / temperature;
    d->top_p = top_p;
}

extern "C" hiss_status hc_synth_launch(hc_synth *d, const int *slots, const hc_synth_note *notes, int nv, int n)
{
    if (d->in_flight || nv < 1 || nv > d->slots || n < 1 || n > d->max_n)
        return HISS_ERR_ARG;
    stage(d, slots, notes, nv, n);
    cudaError_t e = cudaSuccess;
    if (nv != d->exec_nv || n != d->exec_n) {
        e = cudaGraphExecMemcpyNodeSetParams1D(d->exec, d->n_h2d, d->din, d->hin, in_bytes(nv),
                                               cudaMemcpyHostToDevice);
        if (e == cudaSuccess)
            e = cudaGraphExecMemcpyNodeSetParams1D(d->exec, d->n_d2h, d->hout, d->dout, out_bytes(d, nv, n),
                                                   cudaMemcpyDeviceToHost);
        d->exec_nv = e == cudaSuccess ? nv : 0;
        d->exec_n = n;
    }
    if (e == cudaSuccess)
        e = cudaGraphLaunch(d->exec, d->cs);
    if (e == cudaSuccess)
        e = cudaEventRecord(d->done, d->cs);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return HISS_ERR_BACKEND;
    }
    d->in_flight = 1;
    return HISS_OK;
}

namespace {
double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
} // namespace

extern "C" int hc_synth_collect(hc_synth *d, double until_s, const float **y, const int **bad)
{
    if (!d->in_flight)
        return -1;
    for (;;) {
        const cudaError_t q = cudaEventQuery(d->done);
        if (q == cudaSuccess)
            break;
        if (q != cudaErrorNotReady) {
            /* the run is lost; the stream's later work is ordered after it, so nothing waits */
            cudaGetLastError();
            d->in_flight = 0;
            return -1;
        }
        cudaGetLastError(); /* cudaErrorNotReady is not an error here */
        if (until_s >= 0.0 && now_s() > until_s)
            return 0;
    }
    d->in_flight = 0;
    *y = reinterpret_cast<const float *>(d->hout + d->y_off);
    *bad = reinterpret_cast<const int *>(d->hout);
    return 1;
}

extern "C" int hc_synth_in_flight(const hc_synth *d)
{
    return d->in_flight;
}

extern "C" double hc_synth_now(void)
{
    return now_s();
}

extern "C" hiss_status hc_synth_run(hc_synth *d, const int *slots, const hc_synth_note *notes, int nv, int n,
                                    const float **y, const int **bad)
{
    const hiss_status st = hc_synth_launch(d, slots, notes, nv, n);
    if (st != HISS_OK)
        return st;
    return hc_synth_collect(d, -1.0, y, bad) == 1 ? HISS_OK : HISS_ERR_BACKEND;
}

extern "C" hiss_status hc_synth_run_probe(hc_synth *d, const int *slots, const hc_synth_note *notes, int nv,
                                          int n, const hc_synth_probe *pr, float *y, int *bad, hiss_error *err)
{
    if (nv < 1 || nv > d->slots || n < 1 || n > d->max_n) {
        hiss_seterr(err, HISS_ERR_ARG, "cuda synth: probe of %d voices, %d samples", nv, n);
        return HISS_ERR_ARG;
    }
    if (d->in_flight) {
        hiss_seterr(err, HISS_ERR_ARG, "cuda synth: probe while a run is in flight");
        return HISS_ERR_ARG;
    }
    stage(d, slots, notes, nv, n);
    hs_kparams kp = d->kp;
    const size_t vn = (size_t)nv * n;
    int *dforce = nullptr, *dcls = nullptr;
    float *dlog = nullptr, *dcond = nullptr;
    const int nc = d->p.nc > 0 ? d->p.nc : 1;
    cudaError_t e = cudaSuccess;
    if (pr->force) {
        e = cudaMalloc(&dforce, vn * sizeof(int));
        if (e == cudaSuccess)
            e = cudaMemcpy(dforce, pr->force, vn * sizeof(int), cudaMemcpyHostToDevice);
    }
    if (e == cudaSuccess && pr->logits)
        e = cudaMalloc(&dlog, vn * 256 * sizeof(float));
    if (e == cudaSuccess && pr->cond)
        e = cudaMalloc(&dcond, vn * nc * sizeof(float));
    if (e == cudaSuccess && pr->cls)
        e = cudaMalloc(&dcls, vn * sizeof(int));
    kp.force = dforce;
    kp.plog = dlog;
    kp.pcond = dcond;
    kp.pcls = dcls;
    kp.exact = pr->exact;
    if (e == cudaSuccess)
        e = cudaMemcpy(d->din, d->hin, in_bytes(nv), cudaMemcpyHostToDevice);
    void *args[] = {&kp};
    if (e == cudaSuccess)
        e = cudaLaunchKernel(d->fn, dim3((unsigned)d->grid), dim3((unsigned)d->nt), args, d->smem, d->cs);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(d->cs);
    if (e == cudaSuccess)
        e = cudaMemcpy(y, d->dout + d->y_off, vn * sizeof(float), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess)
        e = cudaMemcpy(bad, d->dout, (size_t)nv * sizeof(int), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess && dlog)
        e = cudaMemcpy(pr->logits, dlog, vn * 256 * sizeof(float), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess && dcond)
        e = cudaMemcpy(pr->cond, dcond, vn * d->p.nc * sizeof(float), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess && dcls)
        e = cudaMemcpy(pr->cls, dcls, vn * sizeof(int), cudaMemcpyDeviceToHost);
    cudaFree(dforce);
    cudaFree(dlog);
    cudaFree(dcond);
    cudaFree(dcls);
    return fail(err, e, "probe run") ? HISS_ERR_BACKEND : HISS_OK;
}

extern "C" hiss_status hc_synth_sample_test(const float *logits, int count, float temperature, float top_p,
                                            int exact, hiss_synth_rng *rng, int *classes, hiss_error *err)
{
    if (count < 1)
        return HISS_OK;
    hs_stest q = {};
    const int grid = count < 1024 ? count : 1024;
    float *dl = nullptr, *ds = nullptr;
    uint64_t *dr = nullptr;
    int *dc = nullptr;
    cudaError_t e = cudaMalloc(&dl, (size_t)count * 256 * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMalloc(&dr, (size_t)count * 4 * sizeof(uint64_t));
    if (e == cudaSuccess)
        e = cudaMalloc(&dc, (size_t)count * sizeof(int));
    if (e == cudaSuccess)
        e = cudaMalloc(&ds, (size_t)grid * HS_SMP_FLOATS * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMemcpy(dl, logits, (size_t)count * 256 * sizeof(float), cudaMemcpyHostToDevice);
    if (e == cudaSuccess)
        e = cudaMemcpy(dr, rng, (size_t)count * 4 * sizeof(uint64_t), cudaMemcpyHostToDevice);
    q.logits = dl;
    q.rng = dr;
    q.cls = dc;
    q.scratch = ds;
    q.count = count;
    q.greedy = !(temperature > 0.0f);
    q.inv_t = q.greedy ? 0.0f : 1.0f / temperature;
    q.top_p = top_p;
    q.exact = exact;
    void *args[] = {&q};
    if (e == cudaSuccess)
        e = cudaLaunchKernel(hs_sample_test_kernel(), dim3((unsigned)grid), dim3(32), args, 0, 0);
    if (e == cudaSuccess)
        e = cudaDeviceSynchronize();
    if (e == cudaSuccess)
        e = cudaMemcpy(classes, dc, (size_t)count * sizeof(int), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess)
        e = cudaMemcpy(rng, dr, (size_t)count * 4 * sizeof(uint64_t), cudaMemcpyDeviceToHost);
    cudaFree(dl);
    cudaFree(dr);
    cudaFree(dc);
    cudaFree(ds);
    return fail(err, e, "sampler test") ? HISS_ERR_BACKEND : HISS_OK;
}
