/* Many streams in one launch (more streams than the GPU has multiprocessors, so every block
 * carries several): each with its own input and conditioning, each equal to the CPU backend
 * running the same stream, and no two alike. */
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

int main(void)
{
    tc_require_gpu("test_cuda_many");
    const int q = tc_quick();
    if (q)
        N = 100;
    many(16, 2, q ? 200 : 700, 3);
    many(32, 4, q ? 140 : 300, 4);
    return tc_finish("test_cuda_many");
}
