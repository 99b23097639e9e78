/* hiss_offline: one signal rendered a call at a time, each call going on from where the one
 * before ended, so that a long file can be read, rendered and written a piece at a time. The CPU
 * keeps a stream, whose output never depends on how its input is cut; CUDA keeps the
 * time-parallel render's device buffers and carry between calls (kernels/cuda_offline.cu). */
#include <stdlib.h>

#include "backend.h"

#define OFFLINE_BLOCK 4096

struct hiss_offline {
    hiss_backend backend; /* CPU or CUDA, as chosen at creation */
    hiss_stream *cpu;
#ifdef HISS_HAVE_CUDA
    hc_offline *cuda;
#endif
};

void hiss_offline_free(hiss_offline *r)
{
    if (!r)
        return;
    hiss_stream_free(r->cpu);
#ifdef HISS_HAVE_CUDA
    hiss_cuda_offline_free(r->cuda);
#endif
    free(r);
}

static hiss_status create_cpu(hiss_offline *r, const hiss_model *m, const float *cond, hiss_error *err)
{
    hiss_stream_opts o = hiss_stream_opts_default();
    o.max_block = OFFLINE_BLOCK;
    o.backend = HISS_BACKEND_CPU;
    const hiss_status st = hiss_stream_create(m, &o, &r->cpu, err);
    if (st != HISS_OK)
        return st;
    for (int i = 0; cond && i < m->cfg.n_cond; i++)
        hiss_stream_set_cond(r->cpu, 0, i, cond[i]);
    r->backend = HISS_BACKEND_CPU;
    return HISS_OK;
}

static int cuda_present(void)
{
#ifdef HISS_HAVE_CUDA
    return hiss_cuda_device_present();
#else
    return 0;
#endif
}

static hiss_status create_cuda(hiss_offline *r, const hiss_model *m, const float *cond, hiss_error *err)
{
#ifdef HISS_HAVE_CUDA
    r->backend = HISS_BACKEND_CUDA;
    return hiss_cuda_offline_create(m, cond, &r->cuda, err);
#else
    (void)r, (void)m, (void)cond;
    hiss_seterr(err, HISS_ERR_BACKEND, "hiss_offline_create: this build of hiss has no CUDA backend");
    return HISS_ERR_BACKEND;
#endif
}

hiss_status hiss_offline_create(const hiss_model *m, hiss_backend backend, const float *cond, hiss_offline **out,
                                hiss_error *err)
{
    if (!m || !out) {
        hiss_seterr(err, HISS_ERR_ARG, "hiss_offline_create: model and out must not be NULL");
        return HISS_ERR_ARG;
    }
    *out = NULL;
    if (backend != HISS_BACKEND_AUTO && backend != HISS_BACKEND_CPU && backend != HISS_BACKEND_CUDA) {
        hiss_seterr(err, HISS_ERR_ARG, "hiss_offline_create: unknown backend %d", (int)backend);
        return HISS_ERR_ARG;
    }
    if (backend == HISS_BACKEND_CUDA && !cuda_present()) {
        hiss_seterr(err, HISS_ERR_BACKEND, "hiss_offline_create: no CUDA device or no CUDA backend in this build");
        return HISS_ERR_BACKEND;
    }
    hiss_offline *r = calloc(1, sizeof *r);
    if (!r) {
        hiss_seterr(err, HISS_ERR_NOMEM, "hiss_offline_create: out of memory");
        return HISS_ERR_NOMEM;
    }
    const hiss_status st = backend == HISS_BACKEND_CPU || !cuda_present() ? create_cpu(r, m, cond, err)
                                                                          : create_cuda(r, m, cond, err);
    if (st != HISS_OK) {
        hiss_offline_free(r);
        return st;
    }
    *out = r;
    return HISS_OK;
}

hiss_backend hiss_offline_backend(const hiss_offline *r)
{
    return r ? r->backend : HISS_BACKEND_AUTO;
}

hiss_status hiss_offline_render(hiss_offline *r, const float *in, float *out, size_t n, hiss_error *err)
{
    if (!r || (n && (!in || !out))) {
        hiss_seterr(err, HISS_ERR_ARG, "hiss_offline_render: renderer, in and out must not be NULL");
        return HISS_ERR_ARG;
    }
#ifdef HISS_HAVE_CUDA
    if (r->cuda)
        return hiss_cuda_offline_render(r->cuda, in, out, n, err);
#endif
    hiss_status st = HISS_OK;
    for (size_t t = 0; t < n && st == HISS_OK; t += OFFLINE_BLOCK) {
        const int len = (int)(n - t < OFFLINE_BLOCK ? n - t : OFFLINE_BLOCK);
        const float *ip[1] = {in + t};
        float *op[1] = {out + t};
        st = hiss_stream_process(r->cpu, ip, op, len);
    }
    return st;
}
