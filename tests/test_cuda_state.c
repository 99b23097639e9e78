/* State on the GPU: carried across calls, snapshot and restore (whole batch and one stream),
 * snapshots that agree with the CPU backend's and move between backends, reset of one stream
 * leaving the others alone, and conditioning changes taking effect at the next call. */
#include "test_cuda_util.h"

#define B 4
static int N1 = 3000, N2 = 2000;

static int bits_equal(float **a, float **b, int nb, int n)
{
    for (int k = 0; k < nb; k++)
        if (memcmp(a[k], b[k], sizeof(float) * (size_t)n) != 0)
            return 0;
    return 1;
}

int main(void)
{
    tc_require_gpu("test_cuda_state");
    if (tc_quick()) {
        N1 = 400;
        N2 = 300;
    }
    hiss_model *m = tc_model(32, 4, 64, 16, 4, 2, 0, 0, 7);
    if (!m)
        return 1;
    const int max_block = 256;
    float **in = tc_bufs(B, N1 + N2);
    for (int k = 0; k < B; k++)
        tc_signal(in[k], N1 + N2, 50 + (uint64_t)k);
    float **in2 = malloc(sizeof(float *) * B);
    for (int k = 0; k < B; k++)
        in2[k] = in[k] + N1;
    float **o1 = tc_bufs(B, N1), **a = tc_bufs(B, N2), **b = tc_bufs(B, N2), **c = tc_bufs(B, N2);
    hiss_stream *g = tc_stream(m, HISS_BACKEND_CUDA, B, max_block);
    hiss_stream *cpu = tc_stream(m, HISS_BACKEND_CPU, B, max_block);
    hiss_stream *g1 = tc_stream(m, HISS_BACKEND_CUDA, 1, max_block);
    hiss_stream *g2 = tc_stream(m, HISS_BACKEND_CUDA, B, max_block);
    if (!g || !cpu || !g1 || !g2)
        return 1;

    /* Whole-batch snapshot, continue, restore, continue again: the same bits. */
    tc_check(tc_run(g, in, o1, N1, 0, max_block, 11) > 0, "GPU first part");
    const size_t sz = hiss_stream_snapshot_size(g, -1), sz1 = hiss_stream_snapshot_size(g, 2);
    void *snap = malloc(sz), *snap1 = malloc(sz1), *snapc = malloc(sz);
    tc_check(hiss_stream_snapshot(g, -1, snap, sz) == HISS_OK, "snapshot all");
    tc_check(hiss_stream_snapshot(g, 2, snap1, sz1) == HISS_OK, "snapshot stream 2");
    tc_check(tc_run(g, in2, a, N2, 0, max_block, 12) > 0, "GPU second part");
    tc_check(hiss_stream_restore(g, -1, snap, sz) == HISS_OK, "restore all");
    tc_check(tc_run(g, in2, b, N2, 0, max_block, 13) > 0, "GPU second part again");
    int same = bits_equal(a, b, B, N2);
    printf("restore of the whole batch, then the same input: %s\n", same ? "bit-identical" : "DIFFERENT");
    tc_check(same, "snapshot/restore round trip");

    /* One stream's snapshot into a single-stream GPU object. */
    tc_check(hiss_stream_restore(g1, 0, snap1, sz1) == HISS_OK, "restore stream 2 into stream 0");
    float *ip1[1] = {in2[2]}, *op1[1] = {c[0]};
    tc_check(tc_run(g1, ip1, op1, N2, 0, max_block, 14) > 0, "single stream");
    same = memcmp(c[0], a[2], sizeof(float) * (size_t)N2) == 0;
    printf("stream 2 restored into another object: %s\n", same ? "bit-identical" : "DIFFERENT");
    tc_check(same, "single-stream snapshot moves between objects");

    /* The CPU over the same first part: its snapshot agrees with the GPU's, and a GPU object
     * restored from the CPU's snapshot goes on like the CPU. */
    float **oc = tc_bufs(B, N1);
    tc_check(tc_run(cpu, in, oc, N1, 0, max_block, 15) > 0, "CPU first part");
    tc_check(hiss_stream_snapshot(cpu, -1, snapc, sz) == HISS_OK, "CPU snapshot");
    const size_t state_bytes = (sz - sz1) / (B - 1), hdr = sz1 - state_bytes;
    const size_t nf = (sz - hdr) / sizeof(float);
    double e = tc_rel_l2((const float *)((const char *)snap + hdr),
                         (const float *)((const char *)snapc + hdr), nf);
    printf("GPU snapshot vs CPU snapshot after %d samples: rel L2 %.3g over %zu floats\n", N1, e, nf);
    tc_check(e < 1e-5, "GPU state agrees with the CPU state");
    tc_check(hiss_stream_restore(g2, -1, snapc, sz) == HISS_OK, "restore CPU snapshot on GPU");
    tc_check(tc_run(cpu, in2, a, N2, 0, max_block, 16) > 0, "CPU second part");
    tc_check(tc_run(g2, in2, b, N2, 0, max_block, 17) > 0, "GPU from CPU state");
    double worst = 0;
    for (int k = 0; k < B; k++) {
        double ek = tc_rel_l2(b[k], a[k], (size_t)N2);
        worst = ek > worst ? ek : worst;
    }
    printf("GPU continuing from the CPU's snapshot vs CPU: worst rel L2 %.3g\n", worst);
    tc_check(worst < 1e-5, "snapshot moves from CPU to GPU");

    /* Reset stream 1 only: it restarts from zero (the snapshot of it reads zeros at once), the
     * others go on untouched. */
    tc_check(hiss_stream_restore(g, -1, snap, sz) == HISS_OK, "restore all again");
    hiss_stream_reset(g, 1);
    float *z = malloc(sz1);
    tc_check(hiss_stream_snapshot(g, 1, z, sz1) == HISS_OK, "snapshot after reset");
    int zero = 1;
    for (size_t i = 0; i < state_bytes / sizeof(float); i++)
        zero &= ((const float *)((const char *)z + hdr))[i] == 0.0f;
    tc_check(zero, "a reset stream's snapshot is zero");
    tc_check(tc_run(g, in2, b, N2, 0, max_block, 18) > 0, "after reset");
    hiss_stream *fresh = tc_stream(m, HISS_BACKEND_CUDA, 1, max_block);
    float *ipf[1] = {in2[1]}, *opf[1] = {c[1]};
    tc_check(fresh && tc_run(fresh, ipf, opf, N2, 0, max_block, 19) > 0, "fresh stream");
    int r1 = memcmp(b[1], c[1], sizeof(float) * (size_t)N2) == 0;
    int others = 1;
    /* the untouched streams continue exactly as in the first continuation from snap */
    tc_check(hiss_stream_restore(g2, -1, snap, sz) == HISS_OK, "restore for comparison");
    tc_check(tc_run(g2, in2, a, N2, 0, max_block, 20) > 0, "comparison run");
    for (int k = 0; k < B; k++)
        if (k != 1)
            others &= memcmp(a[k], b[k], sizeof(float) * (size_t)N2) == 0;
    printf("reset of stream 1: it equals a fresh stream: %s; the others are untouched: %s\n",
           r1 ? "yes" : "NO", others ? "yes" : "NO");
    tc_check(r1 && others, "reset of one stream");

    /* Conditioning: a change between calls takes effect at the next sample, as on the CPU. */
    hiss_model *mc = tc_model(16, 2, 32, 8, 4, 1, 2, 0, 8);
    hiss_stream *cc = mc ? tc_stream(mc, HISS_BACKEND_CPU, 2, 300) : NULL;
    hiss_stream *gc = mc ? tc_stream(mc, HISS_BACKEND_CUDA, 2, 300) : NULL;
    if (cc && gc) {
        float **oa = tc_bufs(2, 3000), **ob = tc_bufs(2, 3000);
        for (int part = 0; part < 3; part++) {
            for (int k = 0; k < 2; k++)
                for (int j = 0; j < 2; j++) {
                    float v = 0.5f * (float)(part - 1) + 0.3f * (float)k - 0.2f * (float)j;
                    hiss_stream_set_cond(cc, k, j, v);
                    hiss_stream_set_cond(gc, k, j, v);
                }
            float *ip[2] = {in[0] + part * 1000, in[1] + part * 1000};
            float *opa[2] = {oa[0] + part * 1000, oa[1] + part * 1000};
            float *opb[2] = {ob[0] + part * 1000, ob[1] + part * 1000};
            tc_run(cc, ip, opa, 1000, 0, 300, 30 + (uint64_t)part);
            tc_run(gc, ip, opb, 1000, 0, 300, 40 + (uint64_t)part);
        }
        double ec = fmax(tc_rel_l2(ob[0], oa[0], 3000), tc_rel_l2(ob[1], oa[1], 3000));
        printf("conditioning changed between calls: GPU vs CPU rel L2 %.3g\n", ec);
        tc_check(ec < 1e-5, "conditioning changes");
        tc_free_bufs(oa, 2);
        tc_free_bufs(ob, 2);
    }
    hiss_stream_free(cc);
    hiss_stream_free(gc);
    hiss_model_free(mc);

    hiss_stream_free(fresh);
    hiss_stream_free(g);
    hiss_stream_free(g1);
    hiss_stream_free(g2);
    hiss_stream_free(cpu);
    free(snap);
    free(snap1);
    free(snapc);
    free(z);
    tc_free_bufs(in, B);
    free(in2);
    tc_free_bufs(o1, B);
    tc_free_bufs(oc, B);
    tc_free_bufs(a, B);
    tc_free_bufs(b, B);
    tc_free_bufs(c, B);
    hiss_model_free(m);
    return tc_finish("test_cuda_state");
}
