/* The CUDA backend behind hiss_backend_ops. Each call stages the inputs in pinned memory and
 * replays one CUDA graph (input copy, kernel, output copy) on the stream object's own CUDA
 * stream; the states never leave the device. Small submissions (a few streams: the latency
 * case) skip the copies: the kernel reads its input from, and writes its output to, the pinned
 * buffers themselves, mapped into the device's address space (zero-copy), and the graph is the
 * kernel alone. Graphs are kept per block length in a small cache,
 * and a miss rewrites the least recently used graph's parameters instead of building a new one,
 * so process() never allocates once the first call of each length has been seen. Two submission
 * slots let a block be queued while another runs: the DEADLINE and PIPELINED modes of
 * hiss_cuda_stream.h use them. */
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "backend.h"
}
#include "cuda_stream_kernel.h"
#include "hiss_cuda_stream.h"

#define HC_GRAPHS 4

namespace {

struct hc_graph {
    int n;                   /* block length; 0 = empty slot */
    cudaGraphExec_t exec;
    unsigned long long used; /* tick of the last use */
};

/* Where a finished block's output goes when it is collected. */
enum hc_dest { HC_TO_CALLER, HC_TO_DELAY, HC_DROP };

/* One submission: pinned and device buffers for a block, its graphs, its completion event.
 * Two of them let a block be queued while the previous one still runs. */
struct hc_slot {
    char *din, *dout;   /* device: [flags | cond | x], [resets | y] */
    char *hin, *hout;   /* pinned host copies of the same */
    int *hflags, *hres;
    float *hcond, *hx, *hy;
    hc_kparams kp;
    cudaGraph_t graph;
    cudaGraphNode_t n_h2d, n_k, n_d2h;
    hc_graph cache[HC_GRAPHS];
    cudaEvent_t done;
    int busy, n, flags_set;
    hc_dest dest;
};

struct hc_impl {
    int dev, nt, grid, B;
    int zc;                   /* zero-copy submissions */
    size_t smem;
    hc_plan p;
    const void *fn;
    cudaStream_t cs;
    float *dw, *dstate;
    size_t x_off, y_off;
    hc_slot slot[2];
    int next;                 /* slot of the next submission */
    int *pending, pending_any; /* resets asked for since the last submission */
    unsigned long long tick;
    hiss_sync_mode mode;
    double deadline_s;
    uint64_t misses;
    float *delay;             /* PIPELINED: [B][cap] output delay line */
    int cap;
    long long t_in, t_done;   /* frames submitted, frames collected into the delay line */
    const unsigned char *active; /* during hc_process_active: the streams in the launch */
};

size_t align256(size_t x)
{
    return (x + 255) & ~(size_t)255;
}

int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool fail(hiss_error *err, cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return false;
    hiss_seterr(err, HISS_ERR_BACKEND, "cuda: %s: %s", what, cudaGetErrorString(e));
    return true;
}

cudaKernelNodeParams kernel_node(hc_impl *c, void **args)
{
    cudaKernelNodeParams kn = {};
    kn.func = const_cast<void *>(c->fn);
    kn.gridDim = dim3((unsigned)c->grid);
    kn.blockDim = dim3((unsigned)c->nt);
    kn.sharedMemBytes = (unsigned)c->smem;
    kn.kernelParams = args;
    return kn;
}

/* Point a slot's template graph (or one of its instantiated graphs, when exec is set) at block
 * length n. */
cudaError_t hc_set_n(hc_impl *c, hc_slot *sl, int n, cudaGraphExec_t exec)
{
    sl->kp.n = n;
    void *args[] = {&sl->kp};
    cudaKernelNodeParams kn = kernel_node(c, args);
    const size_t in_bytes = c->x_off + (size_t)c->B * n * sizeof(float);
    const size_t out_bytes = c->y_off + (size_t)c->B * n * sizeof(float);
    cudaError_t e;
    if (c->zc)
        return exec ? cudaGraphExecKernelNodeSetParams(exec, sl->n_k, &kn) : cudaGraphKernelNodeSetParams(sl->n_k, &kn);
    if (exec) {
        e = cudaGraphExecMemcpyNodeSetParams1D(exec, sl->n_h2d, sl->din, sl->hin, in_bytes,
                                               cudaMemcpyHostToDevice);
        if (e == cudaSuccess)
            e = cudaGraphExecKernelNodeSetParams(exec, sl->n_k, &kn);
        if (e == cudaSuccess)
            e = cudaGraphExecMemcpyNodeSetParams1D(exec, sl->n_d2h, sl->hout, sl->dout, out_bytes,
                                                   cudaMemcpyDeviceToHost);
    } else {
        e = cudaGraphMemcpyNodeSetParams1D(sl->n_h2d, sl->din, sl->hin, in_bytes,
                                           cudaMemcpyHostToDevice);
        if (e == cudaSuccess)
            e = cudaGraphKernelNodeSetParams(sl->n_k, &kn);
        if (e == cudaSuccess)
            e = cudaGraphMemcpyNodeSetParams1D(sl->n_d2h, sl->hout, sl->dout, out_bytes,
                                               cudaMemcpyDeviceToHost);
    }
    return e;
}

/* The submission of one block: input copy, kernel, output copy. */
cudaError_t hc_build_graph(hc_impl *c, hc_slot *sl, int n)
{
    cudaError_t e = cudaGraphCreate(&sl->graph, 0);
    if (e != cudaSuccess)
        return e;
    sl->kp.n = n;
    void *args[] = {&sl->kp};
    cudaKernelNodeParams kn = kernel_node(c, args);
    if (c->zc)
        return cudaGraphAddKernelNode(&sl->n_k, sl->graph, nullptr, 0, &kn);
    e = cudaGraphAddMemcpyNode1D(&sl->n_h2d, sl->graph, nullptr, 0, sl->din, sl->hin,
                                 c->x_off + (size_t)c->B * n * sizeof(float), cudaMemcpyHostToDevice);
    if (e == cudaSuccess)
        e = cudaGraphAddKernelNode(&sl->n_k, sl->graph, &sl->n_h2d, 1, &kn);
    if (e == cudaSuccess)
        e = cudaGraphAddMemcpyNode1D(&sl->n_d2h, sl->graph, &sl->n_k, 1, sl->hout, sl->dout,
                                     c->y_off + (size_t)c->B * n * sizeof(float),
                                     cudaMemcpyDeviceToHost);
    return e;
}

/* The executable graph for block length n: a hit, a new slot (instantiated: allocates, once per
 * length, up to HC_GRAPHS), or the least recently used one re-pointed at n (no allocation). */
cudaGraphExec_t hc_graph_for(hc_impl *c, hc_slot *sl, int n)
{
    hc_graph *lru = &sl->cache[0];
    c->tick++;
    for (int i = 0; i < HC_GRAPHS; i++) {
        hc_graph *g = &sl->cache[i];
        if (g->n == n) {
            g->used = c->tick;
            return g->exec;
        }
        if (g->n == 0 || (lru->n != 0 && g->used < lru->used))
            lru = g;
    }
    if (lru->n == 0) {
        if (hc_set_n(c, sl, n, nullptr) != cudaSuccess ||
            cudaGraphInstantiate(&lru->exec, sl->graph, 0) != cudaSuccess)
            return nullptr;
    } else if (hc_set_n(c, sl, n, lru->exec) != cudaSuccess) {
        lru->n = 0;
        cudaGraphExecDestroy(lru->exec);
        return nullptr;
    }
    lru->n = n;
    lru->used = c->tick;
    return lru->exec;
}

/* Copy the inputs, conditioning and pending resets into the slot and launch its graph. */
cudaError_t hc_submit(hiss_stream *s, hc_impl *c, hc_slot *sl, const float *const *in, int n,
                      hc_dest dest)
{
    const int B = c->B, nc = c->p.nc;
    for (int k = 0; k < B; k++)
        if (!c->active || c->active[k])
            memcpy(sl->hx + (size_t)k * n, in[k], (size_t)n * sizeof(float));
    if (nc)
        memcpy(sl->hcond, s->cond, (size_t)B * nc * sizeof(float));
    if (c->active) {
        /* a stream left out keeps its pending reset for the launch that includes it */
        int left = 0;
        for (int k = 0; k < B; k++) {
            if (c->active[k]) {
                sl->hflags[k] = c->pending[k] ? HC_FLAG_ZERO : 0;
                c->pending[k] = 0;
            } else {
                sl->hflags[k] = HC_FLAG_SKIP;
                left |= c->pending[k];
            }
        }
        c->pending_any = left;
        sl->flags_set = 1;
    } else if (c->pending_any) {
        memcpy(sl->hflags, c->pending, (size_t)B * sizeof(int));
        memset(c->pending, 0, (size_t)B * sizeof(int));
        c->pending_any = 0;
        sl->flags_set = 1;
    } else if (sl->flags_set) {
        memset(sl->hflags, 0, (size_t)B * sizeof(int));
        sl->flags_set = 0;
    }
    cudaGraphExec_t g = hc_graph_for(c, sl, n);
    cudaError_t e = g ? cudaGraphLaunch(g, c->cs) : cudaErrorUnknown;
    if (e == cudaSuccess && c->mode != HISS_SYNC_WAIT)
        e = cudaEventRecord(sl->done, c->cs);
    if (e == cudaSuccess) {
        sl->busy = 1;
        sl->n = n;
        sl->dest = dest;
    }
    return e;
}

/* A finished block: reset counts, and its output to the caller, the delay line, or nowhere. */
void hc_collect(hiss_stream *s, hc_impl *c, hc_slot *sl, float *const *out)
{
    const int B = c->B, n = sl->n;
    for (int k = 0; k < B; k++) {
        if (c->active && !c->active[k])
            continue;
        s->counters[k].state_resets += (uint64_t)sl->hres[k];
        if (sl->dest == HC_TO_CALLER && out) {
            memcpy(out[k], sl->hy + (size_t)k * n, (size_t)n * sizeof(float));
        } else if (sl->dest == HC_TO_DELAY) {
            float *d = c->delay + (size_t)k * c->cap;
            const float *y = sl->hy + (size_t)k * n;
            for (int t = 0; t < n; t++)
                d[(c->t_done + t) % c->cap] = y[t];
        }
    }
    if (sl->dest == HC_TO_DELAY)
        c->t_done += n;
    sl->busy = 0;
}

/* Wait for a busy slot and collect it (not to the caller: its call has returned). */
cudaError_t hc_settle(hiss_stream *s, hc_impl *c, hc_slot *sl)
{
    if (!sl->busy)
        return cudaSuccess;
    cudaError_t e = cudaEventSynchronize(sl->done);
    if (e == cudaSuccess)
        hc_collect(s, c, sl, nullptr);
    return e;
}

void hc_destroy(hiss_stream *s)
{
    hc_impl *c = static_cast<hc_impl *>(s->impl);
    if (!c)
        return;
    if (c->cs)
        cudaStreamSynchronize(c->cs);
    for (hc_slot &sl : c->slot) {
        for (int i = 0; i < HC_GRAPHS; i++)
            if (sl.cache[i].n)
                cudaGraphExecDestroy(sl.cache[i].exec);
        if (sl.graph)
            cudaGraphDestroy(sl.graph);
        if (sl.done)
            cudaEventDestroy(sl.done);
        if (!c->zc) {
            cudaFree(sl.din);
            cudaFree(sl.dout);
        }
        cudaFreeHost(sl.hin);
        cudaFreeHost(sl.hout);
    }
    cudaFree(c->dw);
    cudaFree(c->dstate);
    if (c->cs)
        cudaStreamDestroy(c->cs);
    free(c->pending);
    free(c->delay);
    free(c);
    s->impl = nullptr;
}

hiss_status hc_setup(hiss_stream *s, hc_impl *c, hiss_error *err)
{
    const int B = s->opts.n_streams, nmax = s->opts.max_block;
    c->B = B;
    cudaDeviceProp prop;
    if (fail(err, cudaGetDevice(&c->dev), "cudaGetDevice") ||
        fail(err, cudaGetDeviceProperties(&prop, c->dev), "cudaGetDeviceProperties"))
        return HISS_ERR_BACKEND;
    /* Tuning knobs for benchmarks; the defaults are what the benchmarks chose. */
    c->nt = env_int("HISS_CUDA_THREADS", HC_NT_LARGE);
    const int tc_max = env_int("HISS_CUDA_TC", 32);
    const int wsm = env_int("HISS_CUDA_WSMEM", 1);
    if (!hc_stream_kernel(c->nt, 1)) {
        hiss_seterr(err, HISS_ERR_BACKEND, "cuda: HISS_CUDA_THREADS=%d is not %d or %d", c->nt,
                    HC_NT_SMALL, HC_NT_LARGE);
        return HISS_ERR_BACKEND;
    }
    if (!hc_plan_model(&c->p, s->model, c->nt)) {
        hiss_seterr(err, HISS_ERR_BACKEND, "cuda: d_state %d is more than the scan can hold",
                    s->model->cfg.d_state);
        return HISS_ERR_BACKEND;
    }
    if (!hc_plan_smem(&c->p, prop.sharedMemPerBlockOptin, tc_max, wsm)) {
        hiss_seterr(err, HISS_ERR_BACKEND,
                    "cuda: the model (d_model %d, d_inner %d, d_state %d, d_conv %d) needs more "
                    "than the %zu bytes of shared memory a block may use on %s",
                    c->p.dm, c->p.di, c->p.ds, c->p.dc, (size_t)prop.sharedMemPerBlockOptin,
                    prop.name);
        return HISS_ERR_BACKEND;
    }
    /* Zero-copy where a submission is small (HISS_CUDA_ZEROCOPY=0/1 forces it off/on) and its
     * input fits in shared memory beside the rest. */
    const int zc_env = env_int("HISS_CUDA_ZEROCOPY", -1);
    c->zc = (zc_env == 1 || (zc_env < 0 && (long)B * nmax <= 4096)) &&
            hc_plan_stage(&c->p, prop.sharedMemPerBlockOptin, nmax);
    c->fn = hc_stream_kernel(c->nt, c->p.weights_in_smem);
    c->smem = (size_t)c->p.smem_floats * sizeof(float);
    int per_sm = 0;
    if (fail(err, cudaFuncSetAttribute(c->fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       (int)c->smem), "cudaFuncSetAttribute") ||
        fail(err, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, c->fn, c->nt, c->smem),
             "cudaOccupancyMaxActiveBlocksPerMultiprocessor"))
        return HISS_ERR_BACKEND;
    if (per_sm < 1)
        per_sm = 1;
    c->grid = prop.multiProcessorCount * per_sm;
    if (c->grid > B)
        c->grid = B;

    const size_t w_bytes = (size_t)c->p.w_total * sizeof(float);
    const size_t st_bytes = (size_t)B * c->p.sstride * sizeof(float);
    const size_t flags_bytes = align256((size_t)B * sizeof(int));
    c->x_off = flags_bytes + align256((size_t)B * (c->p.nc ? c->p.nc : 1) * sizeof(float));
    c->y_off = flags_bytes;
    const size_t in_bytes = c->x_off + (size_t)B * nmax * sizeof(float);
    const size_t out_bytes = c->y_off + (size_t)B * nmax * sizeof(float);
    c->cap = 2 * nmax;
    c->pending = static_cast<int *>(calloc((size_t)B, sizeof(int)));
    c->delay = static_cast<float *>(calloc((size_t)B * (size_t)c->cap, sizeof(float)));
    float *packed = static_cast<float *>(malloc(w_bytes));
    if (!packed || !c->pending || !c->delay) {
        free(packed);
        hiss_seterr(err, HISS_ERR_NOMEM, "cuda: out of memory for %d streams", B);
        return HISS_ERR_NOMEM;
    }
    hc_pack_weights(&c->p, s->model, packed);
    cudaError_t e = cudaStreamCreateWithFlags(&c->cs, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaMalloc(&c->dw, w_bytes);
    if (e == cudaSuccess)
        e = cudaMemcpy(c->dw, packed, w_bytes, cudaMemcpyHostToDevice);
    free(packed);
    if (fail(err, e, "uploading the weights") ||
        fail(err, cudaMalloc(&c->dstate, st_bytes), "allocating the stream states") ||
        fail(err, cudaMemset(c->dstate, 0, st_bytes), "zeroing the stream states"))
        return HISS_ERR_BACKEND;
    const unsigned hflags = c->zc ? cudaHostAllocMapped : cudaHostAllocDefault;
    for (hc_slot &sl : c->slot) {
        if (fail(err, cudaHostAlloc(&sl.hin, in_bytes, hflags), "allocating pinned input") ||
            fail(err, cudaHostAlloc(&sl.hout, out_bytes, hflags), "allocating pinned output") ||
            fail(err, cudaEventCreateWithFlags(&sl.done, cudaEventDisableTiming), "creating an event"))
            return HISS_ERR_BACKEND;
        if (c->zc) {
            if (fail(err, cudaHostGetDevicePointer(&sl.din, sl.hin, 0), "mapping pinned input") ||
                fail(err, cudaHostGetDevicePointer(&sl.dout, sl.hout, 0), "mapping pinned output"))
                return HISS_ERR_BACKEND;
        } else if (fail(err, cudaMalloc(&sl.din, in_bytes), "allocating the input buffer") ||
                   fail(err, cudaMalloc(&sl.dout, out_bytes), "allocating the output buffer")) {
            return HISS_ERR_BACKEND;
        }
        memset(sl.hin, 0, in_bytes);
        memset(sl.hout, 0, out_bytes);
        sl.hflags = reinterpret_cast<int *>(sl.hin);
        sl.hcond = reinterpret_cast<float *>(sl.hin + flags_bytes);
        sl.hx = reinterpret_cast<float *>(sl.hin + c->x_off);
        sl.hres = reinterpret_cast<int *>(sl.hout);
        sl.hy = reinterpret_cast<float *>(sl.hout + c->y_off);
        hc_kparams &kp = sl.kp;
        kp.w = c->dw;
        kp.state = c->dstate;
        kp.flags = reinterpret_cast<const int *>(sl.din);
        kp.cond = reinterpret_cast<const float *>(sl.din + flags_bytes);
        kp.x = reinterpret_cast<const float *>(sl.din + c->x_off);
        kp.resets = reinterpret_cast<int *>(sl.dout);
        kp.y = reinterpret_cast<float *>(sl.dout + c->y_off);
        kp.B = B;
        kp.dscale = s->delta_scale;
        kp.p = c->p;
        /* The longest block is ready before the first real-time call. */
        if (fail(err, hc_build_graph(c, &sl, nmax), "building the CUDA graph"))
            return HISS_ERR_BACKEND;
        if (!hc_graph_for(c, &sl, nmax)) {
            hiss_seterr(err, HISS_ERR_BACKEND, "cuda: instantiating the CUDA graph failed");
            return HISS_ERR_BACKEND;
        }
    }
    c->mode = HISS_SYNC_WAIT;
    if (fail(err, cudaStreamSynchronize(c->cs), "initialising"))
        return HISS_ERR_BACKEND;
    return HISS_OK;
}

hiss_status hc_create(hiss_stream *s, hiss_error *err)
{
    hc_impl *c = static_cast<hc_impl *>(calloc(1, sizeof(hc_impl)));
    if (!c) {
        hiss_seterr(err, HISS_ERR_NOMEM, "cuda: out of memory");
        return HISS_ERR_NOMEM;
    }
    s->impl = c;
    hiss_status st = hc_setup(s, c, err);
    if (st != HISS_OK)
        hc_destroy(s);
    return st;
}

/* A device error: silence for this call; whatever is in flight is collected later, to nowhere. */
hiss_status hc_fail(hc_impl *c, float *const *out, int n)
{
    for (int k = 0; k < c->B; k++)
        memset(out[k], 0, (size_t)n * sizeof(float));
    for (hc_slot &sl : c->slot)
        if (sl.busy)
            sl.dest = HC_DROP;
    return HISS_ERR_BACKEND;
}

hiss_status hc_process(hiss_stream *s, const float *const *in, float *const *out, int n)
{
    hc_impl *c = static_cast<hc_impl *>(s->impl);
    const double t0 = now_s();
    cudaError_t e = cudaSuccess;
    hc_slot *sl = &c->slot[c->next];
    switch (c->mode) {
    case HISS_SYNC_WAIT:
        e = hc_settle(s, c, sl);
        if (e == cudaSuccess)
            e = hc_submit(s, c, sl, in, n, HC_TO_CALLER);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(c->cs);
        if (e != cudaSuccess)
            return hc_fail(c, out, n);
        hc_collect(s, c, sl, out);
        return HISS_OK;
    case HISS_SYNC_DEADLINE: {
        /* A late block of the other slot that has finished meanwhile: its counts. */
        hc_slot *other = &c->slot[c->next ^ 1];
        if (other->busy && cudaEventQuery(other->done) == cudaSuccess)
            hc_collect(s, c, other, nullptr);
        cudaGetLastError(); /* cudaErrorNotReady is not an error here */
        e = hc_settle(s, c, sl); /* a block two calls old */
        if (e == cudaSuccess)
            e = hc_submit(s, c, sl, in, n, HC_TO_CALLER);
        if (e != cudaSuccess)
            return hc_fail(c, out, n);
        c->next ^= 1;
        for (;;) {
            const cudaError_t q = cudaEventQuery(sl->done);
            if (q == cudaSuccess) {
                hc_collect(s, c, sl, out);
                return HISS_OK;
            }
            if (q != cudaErrorNotReady)
                return hc_fail(c, out, n);
            if (now_s() - t0 > c->deadline_s) {
                sl->dest = HC_DROP;
                c->misses++;
                for (int k = 0; k < c->B; k++)
                    memset(out[k], 0, (size_t)n * sizeof(float));
                return HISS_OK;
            }
        }
    }
    case HISS_SYNC_PIPELINED: {
        const int D = s->opts.max_block;
        e = hc_settle(s, c, &c->slot[c->next ^ 1]); /* the previous call's block */
        if (e == cudaSuccess)
            e = hc_settle(s, c, sl);
        if (e == cudaSuccess)
            e = hc_submit(s, c, sl, in, n, HC_TO_DELAY);
        if (e != cudaSuccess)
            return hc_fail(c, out, n);
        c->next ^= 1;
        /* output frames t_in .. t_in+n-1 are the device's frames D earlier, all collected */
        for (int k = 0; k < c->B; k++) {
            const float *d = c->delay + (size_t)k * c->cap;
            for (int t = 0; t < n; t++) {
                const long long src = c->t_in + t - D;
                out[k][t] = src < 0 ? 0.0f : d[src % c->cap];
            }
        }
        c->t_in += n;
        return HISS_OK;
    }
    }
    return HISS_ERR_BACKEND;
}

/* WAIT mode only: the other modes collect a block after its call has returned, when the active
 * set is gone. */
hiss_status hc_process_active(hiss_stream *s, const unsigned char *active, const float *const *in,
                              float *const *out, int n)
{
    hc_impl *c = static_cast<hc_impl *>(s->impl);
    if (c->mode != HISS_SYNC_WAIT)
        return HISS_ERR_BACKEND;
    hc_slot *sl = &c->slot[c->next];
    c->active = active;
    cudaError_t e = hc_settle(s, c, sl);
    if (e == cudaSuccess)
        e = hc_submit(s, c, sl, in, n, HC_TO_CALLER);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->cs);
    if (e == cudaSuccess)
        hc_collect(s, c, sl, out);
    c->active = nullptr;
    if (e != cudaSuccess) {
        for (hc_slot &x : c->slot)
            if (x.busy)
                x.dest = HC_DROP;
        for (int k = 0; k < c->B; k++)
            if (active[k])
                memset(out[k], 0, (size_t)n * sizeof(float));
        return HISS_ERR_BACKEND;
    }
    return HISS_OK;
}

/* Deferred to the next submission, which zeroes the state on the device before its first
 * sample. */
void hc_reset(hiss_stream *s, int k)
{
    hc_impl *c = static_cast<hc_impl *>(s->impl);
    c->pending[k] = 1;
    c->pending_any = 1;
}

void hc_get_state(const hiss_stream *s, int k, float *dst)
{
    hc_impl *c = static_cast<hc_impl *>(s->impl);
    const size_t bytes = (size_t)c->p.state_floats * sizeof(float);
    if (c->pending[k] || cudaStreamSynchronize(c->cs) != cudaSuccess ||
        cudaMemcpy(dst, c->dstate + (size_t)k * c->p.sstride, bytes, cudaMemcpyDeviceToHost) !=
            cudaSuccess)
        memset(dst, 0, bytes);
}

void hc_set_state(hiss_stream *s, int k, const float *src)
{
    hc_impl *c = static_cast<hc_impl *>(s->impl);
    const size_t bytes = (size_t)c->p.state_floats * sizeof(float);
    if (cudaStreamSynchronize(c->cs) == cudaSuccess &&
        cudaMemcpy(c->dstate + (size_t)k * c->p.sstride, src, bytes, cudaMemcpyHostToDevice) ==
            cudaSuccess)
        c->pending[k] = 0;
    else
        hc_reset(s, k);
}

hc_impl *cuda_impl(const hiss_stream *s)
{
    return s && s->ops == &hiss_cuda_backend ? static_cast<hc_impl *>(s->impl) : nullptr;
}

hiss_status hc_set_sync(hiss_stream *s, hiss_sync_mode mode, double deadline_us)
{
    hc_impl *c = cuda_impl(s);
    if (!c)
        return HISS_ERR_BACKEND;
    if ((mode != HISS_SYNC_WAIT && mode != HISS_SYNC_DEADLINE && mode != HISS_SYNC_PIPELINED) ||
        (mode == HISS_SYNC_DEADLINE && !(deadline_us > 0.0)))
        return HISS_ERR_ARG;
    for (hc_slot &sl : c->slot)
        if (hc_settle(s, c, &sl) != cudaSuccess)
            return HISS_ERR_BACKEND;
    if ((mode == HISS_SYNC_PIPELINED) != (c->mode == HISS_SYNC_PIPELINED)) {
        memset(c->delay, 0, (size_t)c->B * (size_t)c->cap * sizeof(float));
        c->t_in = c->t_done = 0;
    }
    c->mode = mode;
    c->deadline_s = deadline_us * 1e-6;
    return HISS_OK;
}

uint64_t hc_deadline_misses(const hiss_stream *s)
{
    const hc_impl *c = cuda_impl(s);
    return c ? c->misses : 0;
}

int hc_latency(const hiss_stream *s)
{
    const hc_impl *c = cuda_impl(s);
    return c && c->mode == HISS_SYNC_PIPELINED ? s->opts.max_block : 0;
}

} // namespace

extern "C" int hiss_cuda_device_present(void)
{
    int n = 0, dev = 0, major = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1 || cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    /* The kernels are built for sm_90. */
    return major >= 9;
}

extern "C" const hiss_backend_ops hiss_cuda_backend = {
    "cuda", hc_create, hc_destroy, hc_process, hc_reset, hc_get_state, hc_set_state,
    hc_latency, hc_set_sync, hc_deadline_misses, hc_process_active,
};
