/* The output depends only on the samples, never on how they are cut into process calls, nor on
 * which other streams share the batch: bit-identical results (memcmp) for every cut. */
#include "harness.h"
#include "ref_rng.h"
#include "ref_signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 12000
#define MAX_BLOCK 4096

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

static const cond_event events[] = {
    {0, -1, 0, 0.4f}, {0, -1, 1, -0.2f}, {5000, -1, 0, -0.9f}, {9001, -1, 1, 0.75f}};
#define N_EV ((int)(sizeof events / sizeof events[0]))

/* Random cuts (1..300 frames, now and then a whole max_block), also cut at the events. */
static hiss_status run_random(hiss_stream *s, const float *in, float *out, uint64_t seed)
{
    ref_rng g = ref_rng_seed(seed);
    int e = 0;
    for (int t = 0; t < N;) {
        while (e < N_EV && events[e].at <= t) {
            hiss_stream_set_cond(s, events[e].k, events[e].idx, events[e].value);
            e++;
        }
        int len = ref_rng_below(&g, 10) == 0 ? MAX_BLOCK : 1 + ref_rng_below(&g, 300);
        if (len > N - t)
            len = N - t;
        if (e < N_EV && events[e].at < t + len)
            len = events[e].at - t;
        const float *ip[1] = {in + t};
        float *op[1] = {out + t};
        hiss_status st = hiss_stream_process(s, ip, op, len);
        if (st != HISS_OK)
            return st;
        t += len;
    }
    return HISS_OK;
}

static int first_diff(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return -1;
}

static void compare_bits(const char *what, const float *a, const float *b)
{
    int d = first_diff(a, b, N);
    if (d < 0)
        printf("%-40s bit-identical over %d samples\n", what, N);
    else
        printf("%-40s DIFFERS first at sample %d: %.9g vs %.9g\n", what, d, (double)a[d],
               (double)b[d]);
    check(d < 0, what);
}

int main(int argc, char **argv)
{
    /* A tag keeps the model files of concurrent runs (ctest -j) apart. */
    char name[96];
    snprintf(name, sizeof name, "engine_blocks%s%s.safetensors", argc > 1 ? "_" : "",
             argc > 1 ? argv[1] : "");
    ref_config cfg = {16, 2, 32, 8, 4, 1, 2, 1, 1e-5, 48000};
    ref_model *m = ref_model_random(&cfg, 4242);
    ref_write_opts o = {0};
    o.dtype = REF_F32;
    hiss_model *hm = m ? harness_write_load(m, &o, name) : NULL;
    if (!hm) {
        printf("FAIL: cannot build the test model\n");
        return 1;
    }
    float *in[3], *out1 = malloc(N * sizeof(float)), *outb = malloc(N * sizeof(float));
    double *ref = malloc(N * sizeof(double));
    for (int k = 0; k < 3; k++) {
        in[k] = malloc(N * sizeof(float));
        ref_signal(in[k], N, 900 + (uint64_t)k, cfg.sample_rate);
    }

    /* Block size 1 is the baseline; it also has to be right, not just consistent. */
    hiss_stream *s = harness_stream(hm, 1, MAX_BLOCK, 0, HISS_RATE_STRICT);
    if (!s)
        return 1;
    check(harness_engine_run(s, in[0], out1, N, 1, events, N_EV) == HISS_OK, "process, block 1");
    harness_ref_run(m, in[0], ref, N, events, N_EV, 1.0);
    ref_err e = ref_compare(out1, ref, in[0], N);
    printf("block 1 vs reference: rel L2 %.3g, max abs %.3g\n", e.rel_l2, e.max_abs);
    check(e.rel_l2 < 1e-5, "block-1 output matches the reference");
    hiss_stream_free(s);

    const int sizes[] = {7, 64, MAX_BLOCK};
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "block %d vs block 1:", sizes[i]);
        s = harness_stream(hm, 1, MAX_BLOCK, 0, HISS_RATE_STRICT);
        if (!s)
            return 1;
        check(harness_engine_run(s, in[0], outb, N, sizes[i], events, N_EV) == HISS_OK, what);
        compare_bits(what, out1, outb);
        hiss_stream_free(s);
    }
    for (uint64_t seed = 1; seed <= 2; seed++) {
        char what[64];
        snprintf(what, sizeof what, "random partition %d vs block 1:", (int)seed);
        s = harness_stream(hm, 1, MAX_BLOCK, 0, HISS_RATE_STRICT);
        if (!s)
            return 1;
        check(run_random(s, in[0], outb, seed) == HISS_OK, what);
        compare_bits(what, out1, outb);
        hiss_stream_free(s);
    }
    /* In place: in and out the same buffer. */
    s = harness_stream(hm, 1, MAX_BLOCK, 0, HISS_RATE_STRICT);
    if (!s)
        return 1;
    memcpy(outb, in[0], N * sizeof(float));
    check(harness_engine_run(s, outb, outb, N, 64, events, N_EV) == HISS_OK, "in place");
    compare_bits("in place, block 64, vs block 1:", out1, outb);
    hiss_stream_free(s);

    /* A call with more than max_block frames is refused and changes nothing. */
    s = harness_stream(hm, 1, 64, 0, HISS_RATE_STRICT);
    if (!s)
        return 1;
    check(harness_engine_run(s, in[0], outb, N / 2, 64, events, N_EV) == HISS_OK, "first half");
    {
        const float *ip[1] = {in[0] + N / 2};
        float *op[1] = {outb + N / 2};
        hiss_status st = hiss_stream_process(s, ip, op, 65);
        printf("process of 65 frames with max_block 64 -> %s\n", hiss_status_name(st));
        check(st != HISS_OK, "more than max_block frames is refused");
    }
    /* The second half's events, counted from its start. */
    cond_event late[N_EV];
    int n_late = 0;
    for (int i = 0; i < N_EV; i++)
        if (events[i].at >= N / 2) {
            late[n_late] = events[i];
            late[n_late++].at -= N / 2;
        }
    check(harness_engine_run(s, in[0] + N / 2, outb + N / 2, N - N / 2, 64, late, n_late) ==
              HISS_OK,
          "second half");
    compare_bits("refused call in the middle, vs block 1:", out1, outb);
    hiss_stream_free(s);

    /* A batch of 3 streams with different inputs and conditioning vs 3 single streams. */
    float *single[3], *batch[3];
    const float cond0[3] = {0.4f, -0.3f, 1.1f}, cond1[3] = {-0.2f, 0.6f, 0.0f};
    for (int k = 0; k < 3; k++) {
        single[k] = malloc(N * sizeof(float));
        batch[k] = malloc(N * sizeof(float));
        hiss_stream *one = harness_stream(hm, 1, MAX_BLOCK, 0, HISS_RATE_STRICT);
        if (!one)
            return 1;
        hiss_stream_set_cond(one, 0, 0, cond0[k]);
        hiss_stream_set_cond(one, 0, 1, cond1[k]);
        check(harness_engine_run(one, in[k], single[k], N, 97, NULL, 0) == HISS_OK, "single");
        hiss_stream_free(one);
    }
    hiss_stream *b = harness_stream(hm, 3, MAX_BLOCK, 0, HISS_RATE_STRICT);
    if (!b)
        return 1;
    check(hiss_stream_count(b) == 3, "hiss_stream_count");
    for (int k = 0; k < 3; k++) {
        hiss_stream_set_cond(b, k, 0, cond0[k]);
        hiss_stream_set_cond(b, k, 1, cond1[k]);
    }
    ref_rng g = ref_rng_seed(31);
    for (int t = 0; t < N;) {
        int len = 1 + ref_rng_below(&g, 500);
        if (len > N - t)
            len = N - t;
        const float *ip[3] = {in[0] + t, in[1] + t, in[2] + t};
        float *op[3] = {batch[0] + t, batch[1] + t, batch[2] + t};
        if (hiss_stream_process(b, ip, op, len) != HISS_OK) {
            check(0, "batch process");
            break;
        }
        t += len;
    }
    for (int k = 0; k < 3; k++) {
        char what[64];
        snprintf(what, sizeof what, "batch stream %d vs single stream:", k);
        compare_bits(what, single[k], batch[k]);
        hiss_counters c = hiss_stream_counters(b, k);
        check(c.frames == N, "batch counters count frames per stream");
    }
    /* The streams really differ, so the comparison above could catch a mix-up. */
    check(first_diff(batch[0], batch[1], N) >= 0 && first_diff(batch[1], batch[2], N) >= 0,
          "the batch streams differ from each other");
    hiss_stream_free(b);

    for (int k = 0; k < 3; k++) {
        free(in[k]);
        free(single[k]);
        free(batch[k]);
    }
    free(out1);
    free(outb);
    free(ref);
    hiss_model_free(hm);
    ref_model_free(m);
    if (failures) {
        printf("test_engine_blocks: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_engine_blocks: all passed\n");
    return 0;
}
