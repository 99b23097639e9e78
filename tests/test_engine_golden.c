/* The engine against committed files: a small model, an input, and the output the float64
 * reference computed for it (tests/ref/make_golden.c). Catches any drift of the engine's
 * arithmetic or of its loader, without needing the reference at test time. */
#include "golden_spec.h"
#include "hiss.h"
#include "ref_model.h"
#include "ref_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HISS_TEST_DATA_DIR
#error "HISS_TEST_DATA_DIR must name tests/data"
#endif

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

/* The committed files are what tests/ref/make_golden.c makes: the model byte for byte, the
 * output within float32 rounding of the reference (libm may differ in the last bit). A mismatch
 * means the files or the reference changed: rebuild them with hiss_make_golden. */
static void check_generator(const float *in, const float *want)
{
    ref_model *m = ref_model_random(&golden_config, GOLDEN_MODEL_SEED);
    const char *extra[] = {"hiss.description", "golden test model of tests/test_engine_golden.c"};
    ref_write_opts o = {0};
    o.dtype = REF_F32;
    o.cond_names = GOLDEN_COND_NAME;
    o.extra = extra;
    o.n_extra = 1;
    ref_model_round(m, &o);
    unsigned char *buf = NULL, *file = NULL;
    size_t len = 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", HISS_TEST_DATA_DIR, GOLDEN_MODEL);
    FILE *f = fopen(path, "rb");
    int same = 0;
    if (f && ref_serialize(m, &o, &buf, &len) == 0 && (file = malloc(len + 1)) != NULL)
        same = fread(file, 1, len + 1, f) == len && memcmp(file, buf, len) == 0;
    if (f)
        fclose(f);
    printf("golden model file %s the generator's bytes\n", same ? "equals" : "DIFFERS FROM");
    check(same, "golden.safetensors is what hiss_make_golden writes");
    free(buf);
    free(file);

    ref_state *st = ref_state_new(m);
    double u[2] = {0.0, 0.0}, max_d = 0;
    int e = 0;
    for (int t = 0; t < GOLDEN_N; t++) {
        while (e < GOLDEN_N_CONDS && golden_conds[e].at <= t)
            u[1] = golden_conds[e++].value;
        u[0] = in[t];
        double d = fabs((double)(float)ref_step(m, st, u, 1.0) - want[t]);
        if (!(d <= max_d))
            max_d = d;
    }
    printf("golden output vs the float64 reference now: max abs %.3g\n", max_d);
    check(max_d <= 1e-6, "golden_out.f32 is the reference's output");
    ref_state_free(st);
    ref_model_free(m);
}

static int read_f32(const char *name, float *x, int n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", HISS_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL: %s: cannot open\n", path);
        return -1;
    }
    unsigned char *buf = malloc((size_t)n * 4 + 1);
    size_t got = buf ? fread(buf, 1, (size_t)n * 4 + 1, f) : 0;
    fclose(f);
    if (got != (size_t)n * 4) {
        printf("FAIL: %s: %zu bytes, expected %d\n", path, got, n * 4);
        free(buf);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        uint32_t u = 0;
        for (int b = 0; b < 4; b++)
            u |= (uint32_t)buf[4 * i + b] << (8 * b);
        memcpy(&x[i], &u, 4);
    }
    free(buf);
    return 0;
}

int main(void)
{
    static float in[GOLDEN_N], want[GOLDEN_N], out[GOLDEN_N];
    if (read_f32(GOLDEN_IN, in, GOLDEN_N) || read_f32(GOLDEN_OUT, want, GOLDEN_N))
        return 1;
    check_generator(in, want);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", HISS_TEST_DATA_DIR, GOLDEN_MODEL);
    hiss_model *m = NULL;
    hiss_error err = {0};
    hiss_status st = hiss_model_load(path, &m, &err);
    if (st != HISS_OK) {
        printf("FAIL: %s: %s\n", hiss_status_name(st), err.msg);
        return 1;
    }
    const hiss_config *c = hiss_model_config(m);
    const ref_config *g = &golden_config;
    check(c->d_model == g->d_model && c->n_layer == g->n_layer && c->d_inner == g->d_inner &&
              c->d_state == g->d_state && c->d_conv == g->d_conv && c->dt_rank == g->dt_rank &&
              c->n_cond == g->n_cond && c->skip == g->skip && c->sample_rate == g->sample_rate,
          "configuration of the golden model");
    const char *cn = hiss_model_cond_name(m, 0);
    check(cn && strcmp(cn, GOLDEN_COND_NAME) == 0, "conditioning name");

    hiss_stream_opts o = hiss_stream_opts_default();
    o.backend = HISS_BACKEND_CPU;
    o.max_block = 480;
    hiss_stream *s = NULL;
    st = hiss_stream_create(m, &o, &s, &err);
    if (st != HISS_OK) {
        printf("FAIL: stream: %s: %s\n", hiss_status_name(st), err.msg);
        hiss_model_free(m);
        return 1;
    }
    int e = 0;
    for (int t = 0; t < GOLDEN_N;) {
        while (e < GOLDEN_N_CONDS && golden_conds[e].at <= t) {
            hiss_stream_set_cond(s, 0, 0, golden_conds[e].value);
            e++;
        }
        int len = GOLDEN_N - t < 480 ? GOLDEN_N - t : 480;
        if (e < GOLDEN_N_CONDS && golden_conds[e].at < t + len)
            len = golden_conds[e].at - t;
        const float *ip[1] = {in + t};
        float *op[1] = {out + t};
        check(hiss_stream_process(s, ip, op, len) == HISS_OK, "process");
        t += len;
    }
    double num = 0, den = 0, max_abs = 0, net = 0;
    int worst = 0;
    for (int t = 0; t < GOLDEN_N; t++) {
        double d = fabs((double)out[t] - want[t]);
        if (!(d <= max_abs)) { /* also catches NaN */
            max_abs = d;
            worst = t;
        }
        num += d * d;
        den += (double)want[t] * want[t];
        net += ((double)want[t] - in[t]) * ((double)want[t] - in[t]);
    }
    double rel = sqrt(num / den);
    printf("golden: %d samples, max abs error %.3g (at sample %d: %.9g vs %.9g), rel L2 %.3g, "
           "rms of the network part %.3g\n",
           GOLDEN_N, max_abs, worst, (double)out[worst], (double)want[worst], rel,
           sqrt(net / GOLDEN_N));
    check(max_abs < 1e-5, "max abs error below 1e-5");
    check(rel < 1e-6, "relative L2 error below 1e-6");
    check(sqrt(net / GOLDEN_N) > 1e-2, "the golden output is more than the input");
    hiss_stream_free(s);
    hiss_model_free(m);
    if (failures) {
        printf("test_engine_golden: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_engine_golden: all passed\n");
    return 0;
}
