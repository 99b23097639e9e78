/* The CUDA stream's sync modes: PIPELINED gives the WAIT output delayed by exactly max_block
 * frames, for any cut; DEADLINE with room to spare gives the WAIT output, and with no room gives
 * silence, counts every block, and still advances the state exactly (the output after switching
 * back equals a stream that never missed), reset counts of late blocks included. */
#include "test_cuda_util.h"

#ifdef HISS_HAVE_CUDA
#include "hiss_cuda_stream.h"

#define B 2
#define MAXB 128

static int N = 6000;

static int equal(float **a, float **b, int off_a, int off_b, int n)
{
    for (int k = 0; k < B; k++)
        if (memcmp(a[k] + off_a, b[k] + off_b, sizeof(float) * (size_t)n) != 0)
            return 0;
    return 1;
}

static void pipelined(const hiss_model *m, float **in, float **ref)
{
    hiss_stream *s = tc_stream(m, HISS_BACKEND_CUDA, B, MAXB);
    float **out = tc_bufs(B, N);
    if (!s)
        return;
    tc_check(hiss_stream_set_sync(s, HISS_SYNC_PIPELINED, 0) == HISS_OK, "set pipelined");
    tc_check(hiss_stream_latency(s) == MAXB, "latency reported");
    tc_check(tc_run(s, in, out, N, 0, MAXB, 5) > 0, "pipelined run");
    int zeros = 1;
    for (int k = 0; k < B; k++)
        for (int t = 0; t < MAXB; t++)
            zeros &= out[k][t] == 0.0f;
    int same = equal(out, ref, MAXB, 0, N - MAXB);
    printf("pipelined, random cuts <= %d: first %d frames 0: %s; then the WAIT output %d frames "
           "later: %s\n",
           MAXB, MAXB, zeros ? "yes" : "NO", MAXB, same ? "bit-identical" : "DIFFERENT");
    tc_check(zeros && same, "pipelined output is the WAIT output delayed by max_block");
    hiss_stream_free(s);
    tc_free_bufs(out, B);
}

static void deadline(const hiss_model *m, float **in, float **ref)
{
    hiss_stream *s = tc_stream(m, HISS_BACKEND_CUDA, B, MAXB);
    float **out = tc_bufs(B, N);
    if (!s)
        return;
    const int half = N / 2;
    /* "room": 1 s, or 100 s under a compute-sanitizer (HISS_TEST_QUICK), whose racecheck makes a
     * block take seconds */
    const double room_us = tc_quick() ? 1e8 : 1e6;
    tc_check(hiss_stream_set_sync(s, HISS_SYNC_DEADLINE, room_us) == HISS_OK, "set deadline 1 s");
    int calls = tc_run(s, in, out, half, 0, MAXB, 7);
    tc_check(calls > 0 && hiss_stream_deadline_misses(s) == 0, "no misses with a 1 s deadline");
    tc_check(equal(out, ref, 0, 0, half), "deadline mode with room equals WAIT");
    /* no room: every block misses, outputs silence, but the state goes on */
    tc_check(hiss_stream_set_sync(s, HISS_SYNC_DEADLINE, 1e-3) == HISS_OK, "set deadline 1 ns");
    float *in2[B], *out2[B];
    for (int k = 0; k < B; k++) {
        in2[k] = in[k] + half;
        out2[k] = out[k] + half;
    }
    /* a sixth of the run, so that half + part stays inside the buffers in the quick run too
     * (a fixed 1000 overran them when HISS_TEST_QUICK cut N to 1500: the host crash seen under
     * compute-sanitizer) */
    const int part = N / 6;
    int calls2 = 0;
    if (getenv("HISS_TEST_VERBOSE")) {
        /* call by call, for a run under compute-sanitizer */
        for (int t = 0; t < part; t += 64) {
            const int len = part - t < 64 ? part - t : 64;
            const float *ip[B] = {in2[0] + t, in2[1] + t};
            float *op[B] = {out2[0] + t, out2[1] + t};
            hiss_status st = hiss_stream_process(s, ip, op, len);
            int nz = 0;
            for (int k = 0; k < B; k++)
                for (int i = 0; i < len; i++)
                    nz += op[k][i] != 0.0f;
            printf("  call %d: %s, misses %llu, nonzero outputs %d\n", calls2, hiss_status_name(st),
                   (unsigned long long)hiss_stream_deadline_misses(s), nz);
            calls2 += st == HISS_OK;
        }
    } else {
        calls2 = tc_run(s, in2, out2, part, 64, MAXB, 0);
    }
    int silent = 1;
    for (int k = 0; k < B; k++)
        for (int t = 0; t < part; t++)
            silent &= out2[k][t] == 0.0f;
    const uint64_t misses = hiss_stream_deadline_misses(s);
    tc_check(hiss_stream_set_sync(s, HISS_SYNC_WAIT, 0) == HISS_OK, "back to WAIT");
    for (int k = 0; k < B; k++) {
        in2[k] = in[k] + half + part;
        out2[k] = out[k] + half + part;
    }
    tc_check(tc_run(s, in2, out2, N - half - part, 0, MAXB, 9) > 0, "WAIT after misses");
    int after = equal(out, ref, half + part, half + part, N - half - part);
    printf("deadline: 1 s -> 0 misses, WAIT's output; 1 ns -> %llu misses of %d calls, silent %s; "
           "back to WAIT: output %s\n",
           (unsigned long long)misses, calls2, silent ? "yes" : "NO",
           after ? "bit-identical to a stream that never missed" : "DIFFERENT");
    tc_check(misses == (uint64_t)calls2 && silent, "every late block is silent and counted");
    tc_check(after, "late blocks still advance the state");
    hiss_stream_free(s);
    tc_free_bufs(out, B);
}

/* A state overflow inside late blocks is still counted. */
static void late_resets(void)
{
    hiss_model *m = tc_blowup_model();
    enum { M = 400 };
    float **in = tc_bufs(B, M), **oc = tc_bufs(B, M), **og = tc_bufs(B, M);
    for (int t = 0; t < M; t++)
        in[0][t] = in[1][t] = (t >= 100 && t < 110) ? 0.5f : 0.0f;
    hiss_stream *c = tc_stream(m, HISS_BACKEND_CPU, B, MAXB);
    hiss_stream *g = tc_stream(m, HISS_BACKEND_CUDA, B, MAXB);
    if (c && g) {
        tc_run(c, in, oc, M, 50, MAXB, 0);
        hiss_stream_set_sync(g, HISS_SYNC_DEADLINE, 1e-3);
        tc_run(g, in, og, M, 50, MAXB, 0);
        hiss_stream_set_sync(g, HISS_SYNC_WAIT, 0);
        hiss_counters a = hiss_stream_counters(c, 0), b = hiss_stream_counters(g, 0);
        printf("overflow in late blocks: resets CPU %llu, GPU %llu\n",
               (unsigned long long)a.state_resets, (unsigned long long)b.state_resets);
        tc_check(a.state_resets > 0 && a.state_resets == b.state_resets, "late resets counted");
    }
    hiss_stream_free(c);
    hiss_stream_free(g);
    tc_free_bufs(in, B);
    tc_free_bufs(oc, B);
    tc_free_bufs(og, B);
    hiss_model_free(m);
}

int main(void)
{
    tc_require_gpu("test_cuda_sync");
    if (tc_quick())
        N = 1500;
    hiss_model *m = tc_model(32, 4, 64, 16, 4, 2, 0, 0, 11);
    if (!m)
        return 1;
    float **in = tc_bufs(B, N), **ref = tc_bufs(B, N);
    for (int k = 0; k < B; k++)
        tc_signal(in[k], N, 500 + (uint64_t)k);
    hiss_stream *w = tc_stream(m, HISS_BACKEND_CUDA, B, MAXB);
    if (!w || tc_run(w, in, ref, N, 0, MAXB, 3) <= 0)
        return 1;
    hiss_stream_free(w);
    pipelined(m, in, ref);
    deadline(m, in, ref);
    late_resets();
    tc_check(hiss_stream_set_sync(NULL, HISS_SYNC_WAIT, 0) == HISS_ERR_ARG, "no stream");
    {
        hiss_stream *c = tc_stream(m, HISS_BACKEND_CPU, 1, MAXB);
        tc_check(c && hiss_stream_set_sync(c, HISS_SYNC_PIPELINED, 0) == HISS_ERR_BACKEND &&
                     hiss_stream_set_sync(c, HISS_SYNC_WAIT, 0) == HISS_OK && hiss_stream_latency(c) == 0,
                 "the CPU has WAIT only");
        hiss_stream_free(c);
    }
    tc_free_bufs(in, B);
    tc_free_bufs(ref, B);
    hiss_model_free(m);
    return tc_finish("test_cuda_sync");
}
#else
int main(void)
{
    printf("test_cuda_sync: SKIPPED: built without the CUDA backend\n");
    return TC_SKIP;
}
#endif
