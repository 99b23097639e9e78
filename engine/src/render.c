/* Offline rendering of a whole signal, or of many at once: the CPU runs each as a stream; the
 * CUDA backend has a time-parallel path of its own that takes them all together. */
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

#define RENDER_BLOCK 4096

static hiss_status render_cpu(const hiss_model *m, const float *in, float *out, size_t n, const float *cond,
                              hiss_error *err)
{
    hiss_stream_opts o = hiss_stream_opts_default();
    o.max_block = RENDER_BLOCK;
    o.backend = HISS_BACKEND_CPU;
    hiss_stream *s;
    hiss_status st = hiss_stream_create(m, &o, &s, err);
    if (st != HISS_OK)
        return st;
    for (int i = 0; cond && i < m->cfg.n_cond; i++)
        hiss_stream_set_cond(s, 0, i, cond[i]);
    for (size_t t = 0; t < n && st == HISS_OK; t += RENDER_BLOCK) {
        const int len = (int)(n - t < RENDER_BLOCK ? n - t : RENDER_BLOCK);
        const float *ip[1] = {in + t};
        float *op[1] = {out + t};
        st = hiss_stream_process(s, ip, op, len);
    }
    hiss_stream_free(s);
    return st;
}

hiss_status hiss_render_offline(const hiss_model *m, const float *in, float *out, size_t n,
                                hiss_backend backend, const float *cond, hiss_error *err)
{
    if (!m || (n && (!in || !out))) {
        hiss_seterr(err, HISS_ERR_ARG, "hiss_render_offline: model, in and out must not be NULL");
        return HISS_ERR_ARG;
    }
    switch (backend) {
    case HISS_BACKEND_CUDA:
    case HISS_BACKEND_AUTO:
#ifdef HISS_HAVE_CUDA
        if (hiss_cuda_device_present())
            return hiss_cuda_render_offline(m, in, out, n, cond, err);
#endif
        if (backend == HISS_BACKEND_AUTO)
            return render_cpu(m, in, out, n, cond, err);
        hiss_seterr(err, HISS_ERR_BACKEND, "hiss_render_offline: no CUDA device or no CUDA backend in this build");
        return HISS_ERR_BACKEND;
    case HISS_BACKEND_CPU: return render_cpu(m, in, out, n, cond, err);
    case HISS_BACKEND_SERVER:
        hiss_seterr(err, HISS_ERR_BACKEND, "hiss_render_offline: backend server runs streams, not whole files");
        return HISS_ERR_BACKEND;
    }
    hiss_seterr(err, HISS_ERR_ARG, "hiss_render_offline: unknown backend %d", (int)backend);
    return HISS_ERR_ARG;
}

hiss_status hiss_render_offline_batch(const hiss_model *m, const float *const *in, float *const *out,
                                      const size_t *n, int count, const float *const *cond,
                                      hiss_backend backend, hiss_error *err)
{
    if (!m || count < 0 || (count > 0 && (!in || !out || !n))) {
        hiss_seterr(err, HISS_ERR_ARG, "hiss_render_offline_batch: model, in, out and n must not be NULL, count >= 0");
        return HISS_ERR_ARG;
    }
    for (int k = 0; k < count; k++)
        if (n[k] && (!in[k] || !out[k])) {
            hiss_seterr(err, HISS_ERR_ARG, "hiss_render_offline_batch: sequence %d: in and out must not be NULL", k);
            return HISS_ERR_ARG;
        }
    if (backend != HISS_BACKEND_AUTO && backend != HISS_BACKEND_CPU && backend != HISS_BACKEND_CUDA) {
        hiss_seterr(err, HISS_ERR_ARG, "hiss_render_offline_batch: unknown backend %d", (int)backend);
        return HISS_ERR_ARG;
    }
    if (backend != HISS_BACKEND_CPU) {
#ifdef HISS_HAVE_CUDA
        if (hiss_cuda_device_present())
            return hiss_cuda_render_offline_batch(m, in, out, n, count, cond, err);
#endif
        if (backend == HISS_BACKEND_CUDA) {
            hiss_seterr(err, HISS_ERR_BACKEND,
                        "hiss_render_offline_batch: no CUDA device or no CUDA backend in this build");
            return HISS_ERR_BACKEND;
        }
    }
    for (int k = 0; k < count; k++) {
        const hiss_status st = render_cpu(m, in[k], out[k], n[k], cond ? cond[k] : NULL, err);
        if (st != HISS_OK) {
            if (err) {
                char msg[HISS_ERROR_LEN];
                snprintf(msg, sizeof msg, "%s", err->msg);
                hiss_seterr(err, st, "hiss_render_offline_batch: sequence %d: %s", k, msg);
            }
            return st;
        }
    }
    return HISS_OK;
}
