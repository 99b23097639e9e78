/* Many streams in one launch (more streams than the GPU has multiprocessors, so every block
 * carries several): each with its own input and conditioning, each equal to the CPU backend
 * running the same stream, and no two alike. Then partial launches (what hiss-server makes):
 * only the streams marked active advance, the others keep their state and pending resets. */
#include "backend.h"
#include "test_cuda_util.h"

static int N = 500;

static void many(int dm, int nl, int B, uint64_t seed)
{
    hiss_model *m = tc_model(dm, nl, 2 * dm, 16, 4, (dm + 15) / 16, 1, 0, seed);
    if (!m)
        return;
    float **in = tc_bufs(B, N), **oc = tc_bufs(B, N), **og = tc_bufs(B, N);
    for (int k = 0; k < B; k++)
        tc_signal(in[k], N, seed * 100000u + (uint64_t)k);
    hiss_stream *c = tc_stream(m, HISS_BACKEND_CPU, B, 128);
    hiss_stream *g = tc_stream(m, HISS_BACKEND_CUDA, B, 128);
    if (c && g) {
        for (int k = 0; k < B; k++) {
            hiss_stream_set_cond(c, k, 0, 0.001f * (float)k - 0.3f);
            hiss_stream_set_cond(g, k, 0, 0.001f * (float)k - 0.3f);
        }
        tc_check(tc_run(c, in, oc, N, 0, 128, seed) > 0, "CPU run");
        tc_check(tc_run(g, in, og, N, 0, 128, seed + 1) > 0, "GPU run");
        double worst = 0.0;
        int worst_k = 0, distinct = 1;
        for (int k = 0; k < B; k++) {
            double e = tc_rel_l2(og[k], oc[k], (size_t)N);
            if (e > worst) {
                worst = e;
                worst_k = k;
            }
            if (k > 0 && memcmp(og[k], og[k - 1], sizeof(float) * (size_t)N) == 0)
                distinct = 0;
        }
        printf("%d streams of d_model %d x %d layers, %d samples each: worst GPU vs CPU rel L2 "
               "%.3g (stream %d); neighbours distinct: %s\n",
               B, dm, nl, N, worst, worst_k, distinct ? "yes" : "NO");
        tc_check(worst < 1e-5, "every stream equals the CPU's");
        tc_check(distinct, "the streams differ");
    }
    hiss_stream_free(c);
    hiss_stream_free(g);
    tc_free_bufs(in, B);
    tc_free_bufs(oc, B);
    tc_free_bufs(og, B);
    hiss_model_free(m);
}

/* Launches over random subsets of B streams, each held to its own one-stream CPU stream that is
 * run only when its stream was in the launch. Resets land on streams that then sit out a few
 * launches (the reset must wait for the stream's next launch, not be lost or applied to a
 * neighbour); an inactive stream's output buffer must stay untouched. */
static void partial(int dm, int nl, int B, uint64_t seed)
{
    enum { MB = 128 };
    hiss_model *m = tc_model(dm, nl, 2 * dm, 16, 4, (dm + 15) / 16, 1, 0, seed);
    if (!m)
        return;
    float **in = tc_bufs(B, N), **oc = tc_bufs(B, N), **og = tc_bufs(B, N);
    for (int k = 0; k < B; k++)
        tc_signal(in[k], N, seed * 7777u + (uint64_t)k);
    hiss_stream *g = tc_stream(m, HISS_BACKEND_CUDA, B, MB);
    hiss_stream **c = calloc((size_t)B, sizeof *c);
    int ok = g != NULL;
    for (int k = 0; ok && k < B; k++)
        ok = (c[k] = tc_stream(m, HISS_BACKEND_CPU, 1, MB)) != NULL;
    int *pos = calloc((size_t)B, sizeof *pos);
    unsigned char *act = calloc((size_t)B, 1);
    const float **ip = calloc((size_t)B, sizeof *ip);
    float **op = calloc((size_t)B, sizeof *op);
    float sentinel[MB];
    for (int i = 0; i < MB; i++)
        sentinel[i] = 1234.5f;
    tc_rng r = {seed};
    int launches = 0, resets = 0, skipped_resets = 0, min_active = B, max_active = 0;
    while (ok && launches < 2000) {
        int room = 0;
        for (int k = 0; k < B; k++)
            room = N - pos[k] > room ? N - pos[k] : room;
        if (!room)
            break;
        const int len = 1 + tc_below(&r, room < MB ? room : MB);
        const int p = (int[]){2, 30, 70, 100}[tc_below(&r, 4)]; /* percent of streams in it */
        int n_act = 0;
        for (int k = 0; k < B; k++) {
            act[k] = pos[k] + len <= N && tc_below(&r, 100) < p;
            ip[k] = act[k] ? in[k] + pos[k] : NULL;
            op[k] = act[k] ? og[k] + pos[k] : (k & 1) ? sentinel : NULL;
            n_act += act[k];
        }
        if (!n_act)
            continue;
        if (hiss_stream_process_active(g, act, ip, op, len) != HISS_OK) {
            tc_check(0, "hiss_stream_process_active on the GPU");
            break;
        }
        for (int k = 0; k < B && ok; k++) {
            if (!act[k])
                continue;
            float *o = oc[k] + pos[k];
            ok = hiss_stream_process(c[k], &ip[k], &o, len) == HISS_OK;
            pos[k] += len;
        }
        launches++;
        min_active = n_act < min_active ? n_act : min_active;
        max_active = n_act > max_active ? n_act : max_active;
        for (int j = 0; j < 3; j++) { /* a reset, a knob move, on any stream */
            const int k = tc_below(&r, B);
            if (tc_below(&r, 4) == 0) {
                hiss_stream_reset(g, k);
                hiss_stream_reset(c[k], 0);
                resets++;
                skipped_resets += !act[k];
            }
            const float v = (float)tc_unit(&r) - 0.5f;
            hiss_stream_set_cond(g, k, 0, v);
            hiss_stream_set_cond(c[k], 0, 0, v);
        }
    }
    tc_check(ok, "CPU reference runs");
    double worst = 0.0;
    int worst_k = 0;
    for (int k = 0; ok && k < B; k++) {
        double e = tc_rel_l2(og[k], oc[k], (size_t)pos[k]);
        if (e > worst) {
            worst = e;
            worst_k = k;
        }
    }
    int untouched = 1;
    for (int i = 0; i < MB; i++)
        untouched &= sentinel[i] == 1234.5f;
    printf("%d streams of d_model %d x %d layers, %d partial launches of %d to %d streams, %d resets "
           "(%d on streams left out of that launch): worst GPU vs CPU rel L2 %.3g (stream %d)\n",
           B, dm, nl, launches, min_active, max_active, resets, skipped_resets, worst, worst_k);
    tc_check(worst < 1e-5, "partial launches: every stream equals its CPU stream");
    tc_check(untouched, "partial launches: an inactive stream's output is not written");
    tc_check(min_active < B / 10 && max_active > B / 2 && skipped_resets > 0,
             "partial launches: small and large launches, resets on waiting streams");
    for (int k = 0; c && k < B; k++)
        hiss_stream_free(c[k]);
    free(c);
    hiss_stream_free(g);
    free(pos);
    free(act);
    free(ip);
    free(op);
    tc_free_bufs(in, B);
    tc_free_bufs(oc, B);
    tc_free_bufs(og, B);
    hiss_model_free(m);
}

int main(void)
{
    tc_require_gpu("test_cuda_many");
    const int q = tc_quick();
    if (q)
        N = 100;
    if (tc_part("many")) {
        many(16, 2, q ? 200 : 700, 3);
        many(32, 4, q ? 140 : 300, 4);
    }
    if (tc_part("partial")) {
        partial(16, 2, q ? 150 : 400, 5);
        partial(32, 4, q ? 40 : 200, 6);
    }
    return tc_finish("test_cuda_many");
}
