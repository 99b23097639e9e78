#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HISS_TEST_TMP_DIR
#define HISS_TEST_TMP_DIR "."
#endif

void harness_tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", HISS_TEST_TMP_DIR, name);
}

hiss_model *harness_write_load(ref_model *m, const ref_write_opts *opts, const char *name)
{
    char path[1024];
    harness_tmp_path(path, sizeof path, name);
    ref_model_round(m, opts);
    if (ref_write_file(m, opts, path) != 0)
        return NULL;
    hiss_model *hm = NULL;
    hiss_error err;
    memset(&err, 0, sizeof err);
    hiss_status st = hiss_model_load(path, &hm, &err);
    if (st != HISS_OK || !hm) {
        fprintf(stderr, "%s: hiss_model_load failed: %s: %s\n", path, hiss_status_name(st),
                err.msg);
        return NULL;
    }
    return hm;
}

hiss_stream *harness_stream(const hiss_model *hm, int n_streams, int max_block, double host_rate,
                            hiss_rate_mode mode)
{
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = n_streams;
    o.max_block = max_block;
    o.host_rate = host_rate;
    o.rate_mode = mode;
    o.backend = HISS_BACKEND_CPU;
    hiss_stream *s = NULL;
    hiss_error err;
    memset(&err, 0, sizeof err);
    hiss_status st = hiss_stream_create(hm, &o, &s, &err);
    if (st != HISS_OK || !s) {
        fprintf(stderr, "hiss_stream_create failed: %s: %s\n", hiss_status_name(st), err.msg);
        return NULL;
    }
    return s;
}

hiss_status harness_engine_run(hiss_stream *s, const float *in, float *out, int n, int block,
                               const cond_event *ev, int n_ev)
{
    int e = 0;
    for (int t = 0; t < n;) {
        while (e < n_ev && ev[e].at <= t) {
            hiss_stream_set_cond(s, ev[e].k, ev[e].idx, ev[e].value);
            e++;
        }
        int len = n - t < block ? n - t : block;
        if (e < n_ev && ev[e].at < t + len)
            len = ev[e].at - t;
        const float *ip[1] = {in + t};
        float *op[1] = {out + t};
        hiss_status st = hiss_stream_process(s, ip, op, len);
        if (st != HISS_OK)
            return st;
        t += len;
    }
    return HISS_OK;
}

double harness_sanitize(float x)
{
    if (!isfinite(x))
        return 0.0;
    if (x > HISS_INPUT_LIMIT)
        return HISS_INPUT_LIMIT;
    if (x < -HISS_INPUT_LIMIT)
        return -HISS_INPUT_LIMIT;
    return x;
}

static void ref_run(const ref_model *m, const float *in, double *out, int n,
                    const cond_event *ev, int n_ev, double delta_scale, int f32_state)
{
    ref_state *st = ref_state_new(m);
    double *u = calloc((size_t)m->cfg.n_cond + 1, sizeof *u);
    if (!st || !u) {
        fprintf(stderr, "harness_ref_run: out of memory\n");
        exit(1);
    }
    ref_state_round_f32(st, f32_state);
    int e = 0;
    for (int t = 0; t < n; t++) {
        while (e < n_ev && ev[e].at <= t) {
            u[1 + ev[e].idx] = ev[e].value;
            e++;
        }
        u[0] = harness_sanitize(in[t]);
        out[t] = ref_step(m, st, u, delta_scale);
    }
    free(u);
    ref_state_free(st);
}

void harness_ref_run(const ref_model *m, const float *in, double *out, int n,
                     const cond_event *ev, int n_ev, double delta_scale)
{
    ref_run(m, in, out, n, ev, n_ev, delta_scale, 0);
}

void harness_ref_run_f32_state(const ref_model *m, const float *in, double *out, int n,
                               const cond_event *ev, int n_ev, double delta_scale)
{
    ref_run(m, in, out, n, ev, n_ev, delta_scale, 1);
}
