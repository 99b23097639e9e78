/* The CPU backend: streams advanced one after another, each sample by hiss_cpu_step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_step.h"

typedef struct cpu_impl {
    float *state;    /* [n_streams][state_floats] */
    float *scratch;
    float *u;        /* [1 + n_cond] */
    hiss_cpu_step_fn step;
} cpu_impl;

static void cpu_destroy(hiss_stream *s)
{
    cpu_impl *c = s->impl;
    if (!c)
        return;
    free(c->state);
    free(c->scratch);
    free(c->u);
    free(c);
    s->impl = NULL;
}

static hiss_status cpu_create(hiss_stream *s, hiss_error *err)
{
    const hiss_config *cfg = &s->model->cfg;
    cpu_impl *c = calloc(1, sizeof *c);
    s->impl = c;
    if (c) {
        c->state = calloc(s->state_floats * (size_t)s->opts.n_streams, sizeof(float));
        c->scratch = calloc(hiss_cpu_scratch_floats(cfg), sizeof(float));
        c->u = calloc((size_t)cfg->n_cond + 1, sizeof(float));
    }
    if (c)
        c->step = hiss_cpu_step_select(NULL);
    if (!c || !c->state || !c->scratch || !c->u) {
        cpu_destroy(s);
        hiss_seterr(err, HISS_ERR_NOMEM, "out of memory for %d CPU streams", s->opts.n_streams);
        return HISS_ERR_NOMEM;
    }
    return HISS_OK;
}

static void cpu_reset(hiss_stream *s, int k)
{
    cpu_impl *c = s->impl;
    memset(c->state + s->state_floats * (size_t)k, 0, s->state_floats * sizeof(float));
}

static hiss_status cpu_process_active(hiss_stream *s, const unsigned char *active, const float *const *in,
                                      float *const *out, int n)
{
    cpu_impl *c = s->impl;
    const hiss_model *m = s->model;
    const int nc = m->cfg.n_cond;
    for (int k = 0; k < s->opts.n_streams; k++) {
        if (active && !active[k])
            continue;
        float *state = c->state + s->state_floats * (size_t)k;
        for (int j = 0; j < nc; j++)
            c->u[1 + j] = s->cond[(size_t)k * nc + j];
        const float *x = in[k];
        float *y = out[k];
        for (int t = 0; t < n; t++) {
            c->u[0] = x[t];
            float v = c->step(m, state, c->u, s->delta_scale, c->scratch);
            if (!isfinite(v)) {
                cpu_reset(s, k);
                s->counters[k].state_resets++;
                v = 0.0f;
            }
            y[t] = v;
        }
    }
    return HISS_OK;
}

static hiss_status cpu_process(hiss_stream *s, const float *const *in, float *const *out, int n)
{
    return cpu_process_active(s, NULL, in, out, n);
}

/* Internal layout per layer: history [dc-1][di], then SSM [ds][di]; the snapshot layout keeps
 * the history and transposes the SSM state to [di][ds], the order of A_log. */
static void cpu_copy_state(const hiss_stream *s, int k, float *dst, const float *src_snap, int to_snap)
{
    const cpu_impl *c = s->impl;
    const hiss_config *cfg = &s->model->cfg;
    const size_t di = cfg->d_inner, ds = cfg->d_state, hl = (size_t)(cfg->d_conv - 1) * di;
    float *st = c->state + s->state_floats * (size_t)k;
    for (int l = 0; l < cfg->n_layer; l++) {
        float *hist = st, *ssm = st + hl;
        float *snap_hist = to_snap ? dst : (float *)src_snap;
        float *snap_ssm = snap_hist + hl;
        if (to_snap) {
            memcpy(snap_hist, hist, hl * sizeof(float));
            for (size_t d = 0; d < di; d++)
                for (size_t n = 0; n < ds; n++)
                    snap_ssm[d * ds + n] = ssm[n * di + d];
            dst += hl + di * ds;
        } else {
            memcpy(hist, snap_hist, hl * sizeof(float));
            for (size_t d = 0; d < di; d++)
                for (size_t n = 0; n < ds; n++)
                    ssm[n * di + d] = snap_ssm[d * ds + n];
            src_snap += hl + di * ds;
        }
        st += hl + di * ds;
    }
}

static void cpu_get_state(const hiss_stream *s, int k, float *dst)
{
    cpu_copy_state(s, k, dst, NULL, 1);
}

static void cpu_set_state(hiss_stream *s, int k, const float *src)
{
    cpu_copy_state(s, k, NULL, src, 0);
}

const hiss_backend_ops hiss_cpu_backend = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .process = cpu_process,
    .reset = cpu_reset,
    .get_state = cpu_get_state,
    .set_state = cpu_set_state,
    .latency = NULL,
    .set_sync = NULL,
    .deadline_misses = NULL,
    .process_active = cpu_process_active,
};
