/* Bad numbers: non-finite input samples are processed as 0, huge ones are clamped, both counted;
 * a state that overflows is reset and counted and the stream goes on with finite output; a file
 * with a non-finite weight is refused with the tensor named. */
#include "harness.h"
#include "ref_signal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

/* Part 1: bad samples in a normal model, against the reference fed the engine's view of them. */
static void bad_inputs(void)
{
    const int n = 12000;
    ref_config cfg = {16, 2, 32, 8, 3, 1, 1, 1, 1e-5, 48000};
    ref_model *m = ref_model_random(&cfg, 99);
    ref_write_opts o = {0};
    o.dtype = REF_F32;
    hiss_model *hm = harness_write_load(m, &o, "engine_nan_inputs.safetensors");
    hiss_stream *s = hm ? harness_stream(hm, 2, 512, 0, HISS_RATE_STRICT) : NULL;
    if (!s) {
        check(0, "model and stream for the bad-input test");
        ref_model_free(m);
        hiss_model_free(hm);
        return;
    }
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    float *clean = malloc(n * sizeof(float)), *out1 = malloc(n * sizeof(float));
    double *ref = malloc(n * sizeof(double));
    ref_signal(in, n, 4, cfg.sample_rate);
    struct {
        int at;
        float v;
    } bad[] = {{100, NAN},      {2001, NAN},        {2002, -NAN},       {2003, NAN},
               {2004, NAN},     {2005, NAN},        {3000, INFINITY},   {3001, -INFINITY},
               {4000, 1e30f},   {4001, -1e30f},     {4500, 5000.0f},    {4600, 1000.5f},
               {4700, 1000.0f}, {4701, -1000.0f},   {4800, FLT_MAX},    {4801, -FLT_MAX},
               {6000, INFINITY}, {7000, 2e3f},      {9999, NAN},        {11999, -3e4f}};
    const int nb = (int)(sizeof bad / sizeof bad[0]);
    uint64_t want_nonfinite = 0, want_clamped = 0;
    for (int i = 0; i < nb; i++) {
        in[bad[i].at] = bad[i].v;
        if (!isfinite(bad[i].v))
            want_nonfinite++;
        else if (fabsf(bad[i].v) > HISS_INPUT_LIMIT)
            want_clamped++;
    }
    for (int t = 0; t < n; t++)
        clean[t] = (float)harness_sanitize(in[t]);
    cond_event ev = {0, -1, 0, 0.3f};
    /* Stream 1 of the batch gets the clean signal: a bad sample must not leak across streams. */
    hiss_stream_set_cond(s, -1, 0, 0.3f);
    for (int t = 0; t < n; t += 512) {
        int len = n - t < 512 ? n - t : 512;
        const float *ip[2] = {in + t, clean + t};
        float *op[2] = {out + t, out1 + t};
        check(hiss_stream_process(s, ip, op, len) == HISS_OK, "process");
    }
    harness_ref_run(m, in, ref, n, &ev, 1, 1.0);
    ref_err e = ref_compare(out, ref, clean, n);
    int at_bad_ok = 1;
    for (int i = 0; i < nb; i++)
        if (!isfinite(out[bad[i].at]))
            at_bad_ok = 0;
    printf("bad inputs: rel L2 vs reference fed the sanitised input %.3g, max abs %.3g, "
           "non-finite outputs %d\n",
           e.rel_l2, e.max_abs, e.n_nonfinite);
    check(e.rel_l2 < 1e-5 && at_bad_ok, "bad samples processed as 0 / clamped");
    int same = memcmp(out, out1, n * sizeof(float)) == 0;
    printf("bad inputs: stream with bad samples vs stream with the sanitised samples: %s\n",
           same ? "bit-identical" : "DIFFERENT");
    check(same, "a bad sample is processed exactly as its sanitised value");
    hiss_counters c0 = hiss_stream_counters(s, 0), c1 = hiss_stream_counters(s, 1);
    printf("counters stream 0: frames %llu nonfinite %llu (want %llu) clamped %llu (want %llu) "
           "resets %llu; stream 1: nonfinite %llu clamped %llu\n",
           (unsigned long long)c0.frames, (unsigned long long)c0.nonfinite_inputs,
           (unsigned long long)want_nonfinite, (unsigned long long)c0.clamped_inputs,
           (unsigned long long)want_clamped, (unsigned long long)c0.state_resets,
           (unsigned long long)c1.nonfinite_inputs, (unsigned long long)c1.clamped_inputs);
    check(c0.frames == (uint64_t)n && c0.nonfinite_inputs == want_nonfinite &&
              c0.clamped_inputs == want_clamped && c0.state_resets == 0,
          "counters of the stream with bad samples");
    check(c1.nonfinite_inputs == 0 && c1.clamped_inputs == 0 && c1.state_resets == 0,
          "counters of the clean stream");
    hiss_stream_free(s);
    hiss_model_free(hm);
    ref_model_free(m);
    free(in);
    free(out);
    free(clean);
    free(out1);
    free(ref);
}

/* Part 2: a model whose SSM state overflows float for any input that is not silence: delta is
 * 1e30 (the dt bias, passed through by softplus) and B is 1e10 times the conv output, so
 * delta*B*xc exceeds FLT_MAX; in float64 everything stays finite. Silence keeps xc at 0. */
static ref_model *blowup_model(void)
{
    ref_config cfg = {4, 1, 4, 2, 2, 1, 0, 0, 1e-5, 48000};
    ref_model *m = ref_model_alloc(&cfg);
    if (!m)
        return NULL;
    ref_layer *L = &m->layers[0];
    for (int i = 0; i < 4; i++) {
        m->in_w[i] = 1.0;
        L->norm_w[i] = 1.0;
        m->norm_f[i] = 1.0;
        m->out_w[i] = 0.5;
    }
    m->out_b[0] = 0.25;
    for (int d = 0; d < 4; d++) {
        L->in_proj[d * 4 + d] = 1.0;       /* xi = a */
        L->in_proj[(4 + d) * 4 + d] = 1.0; /* z = a */
        L->conv_w[d * 2 + 1] = 1.0;        /* xc = silu(xi_t) */
        L->dt_b[d] = 1e30;
        L->D[d] = 1.0;
        for (int k = 0; k < 4; k++)
            L->out_proj[d * 4 + k] = 1.0;
    }
    /* x_proj rows: dt (0), B (1e10 * sum xc), C (sum xc). */
    for (int k = 0; k < 4; k++) {
        for (int n = 0; n < 2; n++) {
            L->x_proj[(1 + n) * 4 + k] = 1e10;
            L->x_proj[(3 + n) * 4 + k] = 1.0;
        }
    }
    return m;
}

static void state_blowup(void)
{
    ref_model *m = blowup_model();
    ref_write_opts o = {0};
    o.dtype = REF_F32;
    hiss_model *hm = m ? harness_write_load(m, &o, "engine_nan_blowup.safetensors") : NULL;
    hiss_stream *s = hm ? harness_stream(hm, 1, 256, 0, HISS_RATE_STRICT) : NULL;
    if (!s) {
        check(0, "model and stream for the blow-up test");
        ref_model_free(m);
        hiss_model_free(hm);
        return;
    }
    enum { N1 = 100, NB = 10, N2 = 200 };
    float in[N1 + NB + N2], out[N1 + NB + N2];
    double ref[N1 + NB + N2];
    for (int t = 0; t < N1 + NB + N2; t++)
        in[t] = (t >= N1 && t < N1 + NB) ? (t % 2 ? 0.5f : -0.25f) : 0.0f;
    /* Three calls: silence, the burst, silence. */
    const int cut[4] = {0, N1, N1 + NB, N1 + NB + N2};
    for (int i = 0; i < 3; i++) {
        const float *ip[1] = {in + cut[i]};
        float *op[1] = {out + cut[i]};
        check(hiss_stream_process(s, ip, op, cut[i + 1] - cut[i]) == HISS_OK, "process");
    }
    harness_ref_run(m, in, ref, N1 + NB + N2, NULL, 0, 1.0);
    hiss_counters c = hiss_stream_counters(s, 0);
    int burst_zero = 1, after_ok = 1, before_ok = 1;
    double max_after = 0;
    for (int t = N1; t < N1 + NB; t++)
        if (out[t] != 0.0f)
            burst_zero = 0;
    for (int t = 0; t < N1; t++)
        if (!isfinite(out[t]) || fabs(out[t] - ref[t]) > 1e-6)
            before_ok = 0;
    for (int t = N1 + NB; t < N1 + NB + N2; t++) {
        double d = fabs(out[t] - ref[t]);
        if (!isfinite(out[t]) || d > 1e-6)
            after_ok = 0;
        if (d > max_after)
            max_after = d;
    }
    printf("blow-up: %d burst samples, state_resets %llu, burst output %s, after the burst "
           "max |out-ref| %.3g (out %.9g, ref %.9g)\n",
           NB, (unsigned long long)c.state_resets, burst_zero ? "all 0" : "NOT 0",
           max_after, (double)out[N1 + NB], ref[N1 + NB]);
    check(before_ok, "before the burst the output matches the reference");
    check(c.state_resets >= 1, "the overflow is counted as a state reset");
    check(c.state_resets <= NB, "no more resets than overflowing samples");
    check(burst_zero, "an overflowing sample outputs 0");
    check(after_ok, "the next call gives finite output equal to the reference");
    hiss_stream_free(s);
    hiss_model_free(hm);
    ref_model_free(m);
}

/* Part 3: a non-finite weight makes the load fail, naming the tensor. */
static void bad_weight(const char *tensor, size_t idx, double value, ref_dtype dt)
{
    ref_config cfg = {8, 2, 16, 4, 4, 1, 0, 0, 1e-5, 48000};
    ref_model *m = ref_model_random(&cfg, 5);
    ref_tensor *t = m ? ref_model_find(m, tensor) : NULL;
    if (!t || idx >= t->numel) {
        check(0, "test setup: tensor to spoil");
        ref_model_free(m);
        return;
    }
    t->data[idx] = value;
    ref_write_opts o = {0};
    o.dtype = dt;
    char path[1024];
    harness_tmp_path(path, sizeof path, "engine_nan_weight.safetensors");
    check(ref_write_file(m, &o, path) == 0, "write");
    hiss_model *hm = NULL;
    hiss_error err = {0};
    hiss_status st = hiss_model_load(path, &hm, &err);
    printf("%s[%zu] = %g stored as %s -> %s: %s\n", tensor, idx, value, ref_dtype_name(dt),
           hiss_status_name(st), err.msg);
    check(st != HISS_OK && hm == NULL, "a non-finite weight is refused");
    check(strstr(err.msg, tensor) != NULL, "the error names the tensor");
    hiss_model_free(hm);
    ref_model_free(m);
}

int main(void)
{
    bad_inputs();
    state_blowup();
    bad_weight("backbone.layers.1.mixer.dt_proj.bias", 3, NAN, REF_F32);
    bad_weight("input_proj.weight", 0, INFINITY, REF_F32);
    /* 1e6 is finite as a float but overflows a half: the file then holds Inf. */
    bad_weight("backbone.layers.0.mixer.in_proj.weight", 17, 1e6, REF_F16);
    bad_weight("backbone.layers.1.mixer.A_log", 5, -NAN, REF_BF16);
    if (failures) {
        printf("test_engine_nan: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_engine_nan: all passed\n");
    return 0;
}
