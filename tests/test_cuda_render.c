/* The offline renderer on the GPU gives what a fresh CPU stream gives for the same file: many
 * segments (the conv history and the SSM state carried across them, segments shorter than the
 * conv's history too) and ragged scan chunks, conditioning, skip, in-place buffers, the public
 * entry point with its defaults; and a state that overflows mid-file is reset at that very
 * sample, as the stream does it. */
#include "test_cuda_util.h"

#ifdef HISS_HAVE_CUDA
#include "cuda_render.h"

typedef struct rcase {
    int dm, nl, di, ds, dc, dr, nc, skip;
    int n, segment, chunk;
} rcase;

static const rcase cases[] = {
    {32, 4, 64, 16, 4, 2, 0, 0, 50000, 8192, 100},  /* the bench model, ragged chunks */
    {12, 3, 20, 5, 3, 1, 2, 1, 9000, 1000, 37},     /* odd sizes, conditioning, skip */
    {6, 2, 14, 8, 1, 1, 0, 0, 5000, 777, 64},       /* d_conv 1 */
    {16, 2, 32, 16, 4, 1, 1, 0, 600, 2, 1},         /* segments shorter than the history */
    {64, 2, 128, 16, 4, 4, 0, 0, 20000, 20000, 512} /* one segment */
};

static void one_case(int idx, const rcase *c)
{
    hiss_model *m = tc_model(c->dm, c->nl, c->di, c->ds, c->dc, c->dr, c->nc, c->skip,
                             300 + (uint64_t)idx);
    if (!m)
        return;
    const int n = tc_quick() && c->n > 5000 ? 5000 : c->n;
    float *in = malloc(sizeof(float) * (size_t)n), *ref = malloc(sizeof(float) * (size_t)n);
    float *out = malloc(sizeof(float) * (size_t)n);
    tc_signal(in, n, 77 + (uint64_t)idx);
    in[n / 3] = NAN; /* sanitised like the stream does it */
    in[n / 2] = 5000.0f;
    float cond[2] = {0.35f, -0.6f};
    hiss_error err = {0};
    hiss_status s1 = hiss_render_offline(m, in, ref, (size_t)n, HISS_BACKEND_CPU, cond, &err);
    for (int t = 0; t < n; t++)
        out[t] = NAN;
    hc_render_stats st;
    hiss_status s2 = hc_render_cuda(m, in, out, (size_t)n, cond, (size_t)c->segment, c->chunk, &st, &err);
    tc_check(s1 == HISS_OK && s2 == HISS_OK, "render calls succeed");
    double e = tc_rel_l2(out, ref, (size_t)n);
    printf("case %d (d_model %d, layers %d, d_inner %d, d_state %d, d_conv %d, cond %d, skip %d): "
           "%d samples in %d segments of %d, chunks of %d: GPU vs CPU stream rel L2 %.3g%s\n",
           idx, c->dm, c->nl, c->di, c->ds, c->dc, c->nc, c->skip, n, st.segments, c->segment,
           c->chunk, e, st.fell_back ? " (fell back)" : "");
    tc_check(e < 1e-5, "offline render equals the CPU stream");
    tc_check(!st.fell_back, "no fallback on a well-behaved model");
    hiss_model_free(m);
    free(in);
    free(ref);
    free(out);
}

static void public_entry(void)
{
    hiss_model *m = tc_model(32, 4, 64, 16, 4, 2, 0, 1, 5);
    const int n = tc_quick() ? 4000 : 30000;
    float *in = malloc(sizeof(float) * (size_t)n), *ref = malloc(sizeof(float) * (size_t)n);
    float *buf = malloc(sizeof(float) * (size_t)n);
    tc_signal(in, n, 9);
    memcpy(buf, in, sizeof(float) * (size_t)n);
    hiss_error err = {0};
    tc_check(hiss_render_offline(m, in, ref, (size_t)n, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "CPU");
    /* in place, default segment and chunk */
    tc_check(hiss_render_offline(m, buf, buf, (size_t)n, HISS_BACKEND_CUDA, NULL, &err) == HISS_OK,
             "CUDA in place");
    double e = tc_rel_l2(buf, ref, (size_t)n);
    printf("public entry, in place, %d samples: rel L2 %.3g\n", n, e);
    tc_check(e < 1e-5, "in-place render");
    tc_check(hiss_render_offline(m, in, buf, 0, HISS_BACKEND_CUDA, NULL, &err) == HISS_OK, "empty");
    tc_check(hiss_render_offline(NULL, in, buf, 10, HISS_BACKEND_CUDA, NULL, &err) == HISS_ERR_ARG,
             "no model refused");
    hiss_model_free(m);
    free(in);
    free(ref);
    free(buf);
}

/* Bursts that overflow the state in the middle of a segment, with silence between. */
static void overflow(void)
{
    hiss_model *m = tc_blowup_model();
    if (!m)
        return;
    enum { N = 700 };
    float in[N], ref[N], out[N];
    for (int t = 0; t < N; t++)
        in[t] = tc_burst_input(t);
    hiss_error err = {0};
    hc_render_stats st;
    tc_check(hiss_render_offline(m, in, ref, N, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "CPU");
    tc_check(hc_render_cuda(m, in, out, N, NULL, 64, 16, &st, &err) == HISS_OK, "CUDA");
    double maxd = 0.0;
    int zero = 1;
    for (int t = 0; t < N; t++) {
        double d = fabs((double)out[t] - (double)ref[t]);
        maxd = isfinite(out[t]) ? (d > maxd ? d : maxd) : 1e30;
    }
    for (int t = 150; t < 160; t++)
        zero &= out[t] == 0.0f;
    printf("overflowing bursts: fell back %d after %d segments, burst output %s, max |GPU-CPU| %.3g\n",
           st.fell_back, st.segments, zero ? "all 0" : "NOT 0", maxd);
    tc_check(st.fell_back == 1, "the overflow is noticed");
    tc_check(zero && maxd <= 1e-6, "the stream's reset semantics");
    hiss_model_free(m);
}

int main(void)
{
    tc_require_gpu("test_cuda_render");
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        one_case(i, &cases[i]);
    public_entry();
    overflow();
    return tc_finish("test_cuda_render");
}
#else
int main(void)
{
    printf("test_cuda_render: SKIPPED: built without the CUDA backend\n");
    return TC_SKIP;
}
#endif
