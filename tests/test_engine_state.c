/* Snapshots, restores and resets: a restored stream repeats itself bit for bit, a snapshot of
 * another model is refused, and a reset stream behaves like a fresh one. */
#include "harness.h"
#include "ref_signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PRE 3000
#define M_POST 2000
#define BLOCK 256

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

static int first_diff(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return -1;
}

static void compare_bits(const char *what, const float *a, const float *b, int n)
{
    int d = first_diff(a, b, n);
    if (d < 0)
        printf("%-52s bit-identical over %d samples\n", what, n);
    else
        printf("%-52s DIFFERS first at sample %d: %.9g vs %.9g\n", what, d, (double)a[d],
               (double)b[d]);
    check(d < 0, what);
}

static hiss_model *build(const ref_config *cfg, uint64_t seed, const char *name, ref_model **keep)
{
    ref_model *m = ref_model_random(cfg, seed);
    ref_write_opts o = {0};
    o.dtype = REF_F32;
    hiss_model *hm = m ? harness_write_load(m, &o, name) : NULL;
    if (keep)
        *keep = m;
    else
        ref_model_free(m);
    return hm;
}

/* Processes n frames of every stream of s, stream k reading in[k] + off. */
static void run_batch(hiss_stream *s, float **in, float **out, int off, int n)
{
    int ns = hiss_stream_count(s);
    for (int t = 0; t < n; t += BLOCK) {
        int len = n - t < BLOCK ? n - t : BLOCK;
        const float *ip[4];
        float *op[4];
        for (int k = 0; k < ns; k++) {
            ip[k] = in[k] + off + t;
            op[k] = out[k] + t;
        }
        if (hiss_stream_process(s, ip, op, len) != HISS_OK) {
            check(0, "hiss_stream_process");
            return;
        }
    }
}

int main(void)
{
    const ref_config ca = {16, 2, 32, 8, 4, 1, 1, 0, 1e-5, 48000};
    const ref_config cb = {16, 2, 32, 4, 4, 1, 1, 0, 1e-5, 48000}; /* smaller d_state */
    const ref_config cc = {16, 1, 64, 8, 4, 1, 1, 0, 1e-5, 48000}; /* same float count as ca */
    ref_model *ra = NULL;
    hiss_model *ha = build(&ca, 11, "engine_state_a.safetensors", &ra);
    hiss_model *hb = build(&cb, 12, "engine_state_b.safetensors", NULL);
    hiss_model *hc = build(&cc, 13, "engine_state_c.safetensors", NULL);
    if (!ha || !hb || !hc) {
        printf("FAIL: cannot build the test models\n");
        return 1;
    }
    const int n = N_PRE + M_POST;
    float *in[2], *outA[2], *outB[2];
    for (int k = 0; k < 2; k++) {
        in[k] = malloc(n * sizeof(float));
        outA[k] = malloc(n * sizeof(float));
        outB[k] = malloc(n * sizeof(float));
        ref_signal(in[k], n, 300 + (uint64_t)k, 48000);
    }
    double *ref = malloc(n * sizeof(double));

    /* Snapshot after N, continue M, restore, redo M. */
    hiss_stream *s = harness_stream(ha, 1, BLOCK, 0, HISS_RATE_STRICT);
    if (!s)
        return 1;
    hiss_stream_set_cond(s, 0, 0, 0.5f);
    size_t sz = hiss_stream_snapshot_size(s, 0);
    size_t floats = 2 * ((size_t)(ca.d_conv - 1) * ca.d_inner + (size_t)ca.d_inner * ca.d_state);
    printf("snapshot size of one stream: %zu bytes (state %zu floats = %zu bytes)\n", sz, floats,
           floats * sizeof(float));
    check(sz >= floats * sizeof(float), "a snapshot holds at least the whole state");
    unsigned char *snap = malloc(sz + 64);
    run_batch(s, in, outA, 0, N_PRE);
    check(hiss_stream_snapshot(s, 0, snap, sz) == HISS_OK, "snapshot");
    run_batch(s, in, outA, N_PRE, M_POST);
    check(hiss_stream_restore(s, 0, snap, sz) == HISS_OK, "restore");
    run_batch(s, in, outB, N_PRE, M_POST);
    compare_bits("restore, redo M samples:", outA[0], outB[0], M_POST);
    /* The continuation is also right, not only repeatable. */
    {
        hiss_stream *t = harness_stream(ha, 1, BLOCK, 0, HISS_RATE_STRICT);
        float *full = malloc(n * sizeof(float));
        if (!t || !full)
            return 1;
        cond_event ev = {0, 0, 0, 0.5f};
        harness_engine_run(t, in[0], full, n, BLOCK, &ev, 1);
        harness_ref_run(ra, in[0], ref, n, &ev, 1, 1.0);
        ref_err e = ref_compare(full, ref, NULL, n);
        printf("uninterrupted stream vs reference: rel L2 %.3g\n", e.rel_l2);
        check(e.rel_l2 < 1e-5, "stream matches the reference");
        compare_bits("restored continuation vs uninterrupted stream:", full + N_PRE, outB[0],
                     M_POST);
        free(full);
        hiss_stream_free(t);
    }
    /* A wrong size is refused before anything is read. */
    hiss_status st = hiss_stream_restore(s, 0, snap, sz - 4);
    printf("restore with %zu bytes instead of %zu -> %s\n", sz - 4, sz, hiss_status_name(st));
    check(st != HISS_OK, "a short snapshot is refused");
    st = hiss_stream_snapshot(s, 0, snap, sz - 4);
    check(st != HISS_OK, "a short snapshot buffer is refused");

    /* Another model: refused with HISS_ERR_STATE. */
    hiss_stream *sb = harness_stream(hb, 1, BLOCK, 0, HISS_RATE_STRICT);
    hiss_stream *sc = harness_stream(hc, 1, BLOCK, 0, HISS_RATE_STRICT);
    if (!sb || !sc)
        return 1;
    size_t szb = hiss_stream_snapshot_size(sb, 0);
    st = hiss_stream_restore(sb, 0, snap, sz);
    printf("restore a d_state 8 snapshot (%zu bytes) into a d_state 4 stream (%zu bytes) -> %s\n",
           sz, szb, hiss_status_name(st));
    check(st == HISS_ERR_STATE, "restore into another model size gives HISS_ERR_STATE");
    size_t szc = hiss_stream_snapshot_size(sc, 0);
    st = szc == sz ? hiss_stream_restore(sc, 0, snap, sz) : HISS_ERR_STATE;
    printf("restore into a model of other shape but the same state length (%zu vs %zu bytes) "
           "-> %s\n",
           szc, sz, hiss_status_name(st));
    check(st == HISS_ERR_STATE, "restore into another model of equal state length is refused");
    hiss_stream_free(sb);
    hiss_stream_free(sc);

    /* Reset: the same output as a fresh stream; conditioning kept. */
    hiss_stream_reset(s, 0);
    check(hiss_stream_get_cond(s, 0, 0) == 0.5f, "reset keeps the conditioning");
    run_batch(s, in, outA, 0, M_POST);
    hiss_stream *f = harness_stream(ha, 1, BLOCK, 0, HISS_RATE_STRICT);
    if (!f)
        return 1;
    hiss_stream_set_cond(f, 0, 0, 0.5f);
    run_batch(f, in, outB, 0, M_POST);
    compare_bits("reset stream vs fresh stream:", outA[0], outB[0], M_POST);
    hiss_stream_free(f);
    hiss_stream_reset(s, -1);
    run_batch(s, in, outA, 0, M_POST);
    compare_bits("reset(-1) stream vs fresh stream:", outA[0], outB[0], M_POST);
    hiss_stream_free(s);

    /* A batch of 2: snapshot of every stream (k = -1), and a per-stream reset. */
    hiss_stream *b = harness_stream(ha, 2, BLOCK, 0, HISS_RATE_STRICT);
    if (!b)
        return 1;
    hiss_stream_set_cond(b, -1, 0, 0.5f);
    size_t szall = hiss_stream_snapshot_size(b, -1);
    printf("snapshot size of a batch of 2: %zu bytes (one stream: %zu)\n", szall,
           hiss_stream_snapshot_size(b, 0));
    check(szall >= 2 * floats * sizeof(float), "a batch snapshot holds every stream");
    unsigned char *snapall = malloc(szall);
    float *tmp[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    run_batch(b, in, tmp, 0, N_PRE);
    check(hiss_stream_snapshot(b, -1, snapall, szall) == HISS_OK, "snapshot k=-1");
    run_batch(b, in, outA, N_PRE, M_POST);
    check(hiss_stream_restore(b, -1, snapall, szall) == HISS_OK, "restore k=-1");
    run_batch(b, in, outB, N_PRE, M_POST);
    compare_bits("batch k=-1 restore, stream 0:", outA[0], outB[0], M_POST);
    compare_bits("batch k=-1 restore, stream 1:", outA[1], outB[1], M_POST);
    /* Stream 0's snapshot restored into stream 1: stream 1 then follows stream 0. */
    check(hiss_stream_snapshot_size(b, 1) == sz, "per-stream snapshot size of a batch");
    check(hiss_stream_restore(b, 0, snapall, szall) != HISS_OK, "batch snapshot into one stream");
    hiss_stream_restore(b, -1, snapall, szall);
    check(hiss_stream_snapshot(b, 0, snap, sz) == HISS_OK, "snapshot stream 0 of a batch");
    check(hiss_stream_restore(b, 1, snap, sz) == HISS_OK, "restore it into stream 1");
    float *same_in[2] = {in[0], in[0]};
    run_batch(b, same_in, outB, N_PRE, M_POST);
    compare_bits("stream 1 restored from stream 0:", outA[0], outB[1], M_POST);
    /* Reset stream 1 only: stream 0 goes on undisturbed. */
    hiss_stream_restore(b, -1, snapall, szall);
    hiss_stream_reset(b, 1);
    run_batch(b, in, outB, N_PRE, M_POST);
    compare_bits("reset(1): stream 0 undisturbed:", outA[0], outB[0], M_POST);
    hiss_stream *f1 = harness_stream(ha, 1, BLOCK, 0, HISS_RATE_STRICT);
    if (!f1)
        return 1;
    hiss_stream_set_cond(f1, 0, 0, 0.5f);
    float *fin[1] = {in[1] + N_PRE}, *fout[1] = {tmp[0]};
    run_batch(f1, fin, fout, 0, M_POST);
    compare_bits("reset(1): stream 1 as a fresh stream:", tmp[0], outB[1], M_POST);
    hiss_stream_free(f1);
    hiss_stream_free(b);

    free(snap);
    free(snapall);
    free(tmp[0]);
    free(tmp[1]);
    free(ref);
    for (int k = 0; k < 2; k++) {
        free(in[k]);
        free(outA[k]);
        free(outB[k]);
    }
    hiss_model_free(ha);
    hiss_model_free(hb);
    hiss_model_free(hc);
    ref_model_free(ra);
    if (failures) {
        printf("test_engine_state: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_engine_state: all passed\n");
    return 0;
}
