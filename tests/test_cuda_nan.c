/* A state that overflows is handled on the GPU as on the CPU: the sample outputs 0, the stream
 * is reset and counted, the following samples (in the same call too) start from a zero state,
 * and a stream beside it in the batch is untouched. Bad input samples are handled by the stream
 * layer before any backend sees them, so here they only need to give the CPU's output. */
#include "test_cuda_util.h"

/* Runs the burst pattern cut by `cuts` on both backends; stream 1 gets silence. */
static void pattern(hiss_model *m, const int *cuts, int ncut, const char *label)
{
    enum { N1 = 100, NB = 10, N2 = 200, N = N1 + NB + N2 };
    float **in = tc_bufs(2, N), **oc = tc_bufs(2, N), **og = tc_bufs(2, N);
    for (int t = 0; t < N; t++) {
        in[0][t] = (t >= N1 && t < N1 + NB) ? (t % 2 ? 0.5f : -0.25f) : 0.0f;
        in[1][t] = 0.0f;
    }
    hiss_stream *c = tc_stream(m, HISS_BACKEND_CPU, 2, N);
    hiss_stream *g = tc_stream(m, HISS_BACKEND_CUDA, 2, N);
    if (!c || !g)
        return;
    for (int i = 0; i + 1 < ncut; i++) {
        const float *ip[2] = {in[0] + cuts[i], in[1] + cuts[i]};
        float *opc[2] = {oc[0] + cuts[i], oc[1] + cuts[i]};
        float *opg[2] = {og[0] + cuts[i], og[1] + cuts[i]};
        tc_check(hiss_stream_process(c, ip, opc, cuts[i + 1] - cuts[i]) == HISS_OK, "CPU process");
        tc_check(hiss_stream_process(g, ip, opg, cuts[i + 1] - cuts[i]) == HISS_OK, "GPU process");
    }
    hiss_counters cc = hiss_stream_counters(c, 0), gc = hiss_stream_counters(g, 0);
    hiss_counters g1 = hiss_stream_counters(g, 1);
    double maxd = 0.0;
    int finite = 1, burst_zero = 1;
    for (int k = 0; k < 2; k++)
        for (int t = 0; t < N; t++) {
            finite &= isfinite(og[k][t]) != 0;
            double d = fabs((double)og[k][t] - (double)oc[k][t]);
            maxd = d > maxd ? d : maxd;
        }
    for (int t = N1; t < N1 + NB; t++)
        burst_zero &= og[0][t] == 0.0f;
    printf("%s: state_resets CPU %llu GPU %llu (beside it: %llu); burst output %s; max |GPU-CPU| "
           "%.3g\n",
           label, (unsigned long long)cc.state_resets, (unsigned long long)gc.state_resets,
           (unsigned long long)g1.state_resets, burst_zero ? "all 0" : "NOT 0", maxd);
    tc_check(cc.state_resets >= 1, "the CPU resets (test premise)");
    tc_check(gc.state_resets == cc.state_resets, "GPU counts the same resets as the CPU");
    tc_check(g1.state_resets == 0, "the stream beside it is not reset");
    tc_check(burst_zero && finite, "overflowing samples output 0, everything finite");
    tc_check(maxd <= 1e-6, "GPU output equals the CPU's");
    hiss_stream_free(c);
    hiss_stream_free(g);
    tc_free_bufs(in, 2);
    tc_free_bufs(oc, 2);
    tc_free_bufs(og, 2);
}

/* Bad input samples in a normal model: the GPU sees the stream layer's sanitised samples. */
static void bad_inputs(void)
{
    const int n = 4000;
    hiss_model *m = tc_model(16, 2, 32, 8, 4, 1, 1, 1, 3);
    float **in = tc_bufs(1, n), **oc = tc_bufs(1, n), **og = tc_bufs(1, n);
    tc_signal(in[0], n, 5);
    const float bad[] = {NAN, INFINITY, -INFINITY, 1e30f, -5000.0f, -NAN};
    for (int i = 0; i < 6; i++)
        in[0][500 + 613 * i] = bad[i];
    hiss_stream *c = tc_stream(m, HISS_BACKEND_CPU, 1, 512);
    hiss_stream *g = tc_stream(m, HISS_BACKEND_CUDA, 1, 512);
    if (c && g) {
        tc_run(c, in, oc, n, 0, 512, 1);
        tc_run(g, in, og, n, 0, 512, 2);
        double e = tc_rel_l2(og[0], oc[0], (size_t)n);
        hiss_counters gc = hiss_stream_counters(g, 0);
        printf("bad input samples: GPU vs CPU rel L2 %.3g; GPU counters non-finite %llu clamped %llu\n",
               e, (unsigned long long)gc.nonfinite_inputs, (unsigned long long)gc.clamped_inputs);
        tc_check(e < 1e-5, "bad inputs: GPU equals CPU");
        tc_check(gc.nonfinite_inputs == 4 && gc.clamped_inputs == 2, "bad inputs counted");
    }
    hiss_stream_free(c);
    hiss_stream_free(g);
    tc_free_bufs(in, 1);
    tc_free_bufs(oc, 1);
    tc_free_bufs(og, 1);
    hiss_model_free(m);
}

int main(void)
{
    tc_require_gpu("test_cuda_nan");
    hiss_model *m = tc_blowup_model();
    if (!m)
        return 1;
    const int three[] = {0, 100, 110, 310};
    pattern(m, three, 4, "silence, burst, silence in three calls");
    const int one[] = {0, 310};
    pattern(m, one, 2, "the burst inside one call of 310");
    const int odd[] = {0, 7, 105, 106, 113, 310};
    pattern(m, odd, 6, "odd cuts through the burst");
    hiss_model_free(m);
    bad_inputs();
    return tc_finish("test_cuda_nan");
}
