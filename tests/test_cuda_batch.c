/* hiss_render_offline_batch on the GPU: many sequences laid end to end through one set of
 * launches give, each, what a fresh CPU stream gives for it alone (relative L2 < 1e-5): ragged
 * lengths (1 sample, shorter than the conv history, across many segments and chunks, several in
 * one chunk), empty sequences, per-sequence conditioning, in place; a quiet sequence right after
 * a loud one equals the quiet one rendered alone (no conv history, no scan carry across the
 * cut); and a sequence whose state overflows falls back to the CUDA stream by itself, from the
 * right sample and state, while its neighbours in the same segments stay as they were. */
#include "test_cuda_util.h"

#ifdef HISS_HAVE_CUDA
#include "cuda_render.h"

typedef struct bcase {
    int dm, nl, di, ds, dc, dr, nc, skip;
    int segment, chunk;
    int count;
    int n[9];
} bcase;

static const bcase cases[] = {
    /* the bench model; sequences across segments and ragged chunks, a 1-sample one in between */
    {32, 4, 64, 16, 4, 2, 0, 0, 8192, 100, 6, {20000, 1, 3, 9001, 0, 4097}},
    /* odd sizes, conditioning per sequence, skip; several sequences inside one chunk */
    {12, 3, 20, 5, 3, 1, 2, 1, 1000, 37, 9, {1, 2, 3, 5, 7, 1500, 36, 38, 2222}},
    /* d_conv 1: no history to cut */
    {6, 2, 14, 8, 1, 1, 0, 0, 777, 64, 4, {500, 1, 1300, 64}},
    /* segments shorter than the conv history, chunks of 1 */
    {16, 2, 32, 16, 4, 1, 1, 0, 2, 1, 5, {1, 2, 3, 300, 5}},
    /* one segment holds everything */
    {64, 2, 128, 16, 4, 4, 0, 0, 1 << 20, 512, 3, {20000, 4099, 1}},
};

static void one_case(int idx, const bcase *c)
{
    hiss_model *m = tc_model(c->dm, c->nl, c->di, c->ds, c->dc, c->dr, c->nc, c->skip, 500 + (uint64_t)idx);
    if (!m)
        return;
    const int B = c->count;
    float *in[9], *out[9], *ref[9], crow[9][2];
    const float *cp[9];
    size_t n[9], total = 0;
    for (int k = 0; k < B; k++) {
        n[k] = (size_t)(tc_quick() && c->n[k] > 3000 ? 3000 : c->n[k]);
        const size_t cap = n[k] ? n[k] : 1;
        in[k] = n[k] ? malloc(sizeof(float) * cap) : NULL;
        ref[k] = malloc(sizeof(float) * cap);
        out[k] = n[k] ? malloc(sizeof(float) * cap) : NULL;
        if (n[k]) {
            tc_signal(in[k], (int)n[k], 900 + 10 * (uint64_t)idx + (uint64_t)k);
            in[k][n[k] / 2] = (k % 2) ? NAN : 5000.0f; /* sanitised as the stream does it */
        }
        crow[k][0] = 0.3f * (float)k - 0.5f;
        crow[k][1] = 0.8f - 0.25f * (float)k;
        cp[k] = k == 2 ? NULL : crow[k]; /* one without: zeros */
        hiss_error err = {0};
        tc_check(hiss_render_offline(m, in[k], ref[k], n[k], HISS_BACKEND_CPU, cp[k], &err) == HISS_OK,
                 "CPU reference");
        for (size_t t = 0; t < n[k]; t++)
            out[k][t] = NAN;
        total += n[k];
    }
    hc_render_stats st;
    hiss_error err = {0};
    hiss_status s = hc_render_cuda_batch(m, (const float *const *)in, out, n, B, cp, (size_t)c->segment,
                                         c->chunk, &st, &err);
    tc_check(s == HISS_OK, "batch render succeeds");
    if (s != HISS_OK)
        printf("  %s\n", err.msg);
    double worst = 0.0;
    for (int k = 0; k < B; k++) {
        const double e = tc_rel_l2(out[k], ref[k], n[k]);
        worst = e > worst ? e : worst;
        if (!(e < 1e-5))
            printf("  sequence %d (%zu samples): rel L2 %.3g\n", k, n[k], e);
    }
    printf("case %d (d_model %d, layers %d, d_inner %d, d_state %d, d_conv %d, cond %d, skip %d): %d "
           "sequences, %zu samples in %d segments of %d, chunks of %d: worst GPU vs CPU rel L2 %.3g%s\n",
           idx, c->dm, c->nl, c->di, c->ds, c->dc, c->nc, c->skip, B, total, st.segments, c->segment,
           c->chunk, worst, st.fell_back ? " (fell back)" : "");
    tc_check(worst < 1e-5, "every sequence equals the CPU stream alone");
    tc_check(!st.fell_back, "no fallback on a well-behaved model");
    for (int k = 0; k < B; k++) {
        free(in[k]);
        free(out[k]);
        free(ref[k]);
    }
    hiss_model_free(m);
}

/* A loud sequence drives the state far from zero; the quiet one after it (in the same chunk and
 * segment) must start from zero as if alone. */
static void no_leak(void)
{
    hiss_model *m = tc_model(32, 4, 64, 16, 4, 2, 0, 0, 41);
    enum { NL = 3001, NQ = 2000 };
    float *loud = malloc(sizeof(float) * NL), *quiet = malloc(sizeof(float) * NQ);
    float *yl = malloc(sizeof(float) * NL), *yq = malloc(sizeof(float) * NQ);
    float *alone = malloc(sizeof(float) * NQ), *ref = malloc(sizeof(float) * NQ);
    tc_signal(loud, NL, 3);
    for (int t = 0; t < NL; t++)
        loud[t] *= 400.0f;
    tc_signal(quiet, NQ, 4);
    for (int t = 0; t < NQ; t++)
        quiet[t] *= 0.01f;
    const float *in[2] = {loud, quiet};
    float *out[2] = {yl, yq};
    const size_t n[2] = {NL, NQ};
    hiss_error err = {0};
    hc_render_stats st;
    tc_check(hc_render_cuda_batch(m, in, out, n, 2, NULL, 4096, 1024, &st, &err) == HISS_OK, "batch");
    tc_check(hc_render_cuda(m, quiet, alone, NQ, NULL, 4096, 1024, NULL, &err) == HISS_OK, "alone");
    tc_check(hiss_render_offline(m, quiet, ref, NQ, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "CPU");
    const double e_alone = tc_rel_l2(yq, alone, NQ), e_cpu = tc_rel_l2(yq, ref, NQ);
    /* the same sequence with nothing before it, for scale: what a leak would have to beat */
    printf("quiet after loud (both in one segment, the cut mid-chunk): rel L2 %.3g against the quiet one "
           "alone on the GPU, %.3g against the CPU\n", e_alone, e_cpu);
    tc_check(e_alone < 1e-6 && e_cpu < 1e-5, "nothing carried across the cut");
    free(loud);
    free(quiet);
    free(yl);
    free(yq);
    free(alone);
    free(ref);
    hiss_model_free(m);
}

/* Sequences whose state overflows, between silent ones: each overflowing one is redone by the
 * stream (one from its first sample, one from the start of a later segment, with the state
 * carried to there), the silent ones are untouched. */
static void overflow(void)
{
    hiss_model *m = tc_blowup_model();
    if (!m)
        return;
    enum { B = 5 };
    const size_t n[B] = {700, 90, 300, 1, 130};
    float *in[B], *out[B], *ref[B];
    for (int k = 0; k < B; k++) {
        in[k] = calloc(n[k], sizeof(float));
        out[k] = malloc(sizeof(float) * n[k]);
        ref[k] = malloc(sizeof(float) * n[k]);
    }
    for (size_t t = 0; t < n[0]; t++) /* bursts at 150 (in its third segment) and 500 */
        in[0][t] = tc_burst_input(t);
    for (size_t t = 10; t < 14; t++) /* sequence 2 bursts in the segment it starts in */
        in[2][t] = 0.5f;
    hiss_error err = {0};
    hc_render_stats st;
    for (int k = 0; k < B; k++)
        tc_check(hiss_render_offline(m, in[k], ref[k], n[k], HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "CPU");
    tc_check(hc_render_cuda_batch(m, (const float *const *)in, out, n, B, NULL, 64, 16, &st, &err) == HISS_OK,
             "CUDA");
    double maxd = 0.0;
    for (int k = 0; k < B; k++)
        for (size_t t = 0; t < n[k]; t++) {
            const double d = fabs((double)out[k][t] - (double)ref[k][t]);
            maxd = isfinite(out[k][t]) ? (d > maxd ? d : maxd) : 1e30;
        }
    int zero = 1;
    for (int t = 150; t < 160; t++)
        zero &= out[0][t] == 0.0f;
    for (int t = 10; t < 14; t++)
        zero &= out[2][t] == 0.0f;
    printf("overflowing sequences among silent ones: %d fell back after %d segments, burst outputs %s, "
           "max |GPU-CPU| %.3g\n", st.fell_back, st.segments, zero ? "all 0" : "NOT 0", maxd);
    tc_check(st.fell_back == 2, "the two overflowing sequences, and only they, fall back");
    tc_check(zero && maxd <= 1e-6, "the stream's reset semantics, sequence by sequence");
    for (int k = 0; k < B; k++) {
        free(in[k]);
        free(out[k]);
        free(ref[k]);
    }
    hiss_model_free(m);
}

/* The public entry with its defaults: in place, one non-empty sequence among empty ones (its own
 * conditioning row), and the empty batch. */
static void public_entry(void)
{
    hiss_model *m = tc_model(16, 2, 32, 16, 4, 1, 2, 1, 77);
    const int N = tc_quick() ? 3000 : 40000;
    float *a = malloc(sizeof(float) * (size_t)N), *b = malloc(sizeof(float) * (size_t)N);
    float *ra = malloc(sizeof(float) * (size_t)N), *rb = malloc(sizeof(float) * (size_t)N);
    tc_signal(a, N, 1);
    tc_signal(b, N, 2);
    const float c0[2] = {0.5f, -0.5f}, c1[2] = {-0.9f, 0.2f};
    hiss_error err = {0};
    tc_check(hiss_render_offline(m, a, ra, (size_t)N, HISS_BACKEND_CPU, c0, &err) == HISS_OK, "CPU a");
    tc_check(hiss_render_offline(m, b, rb, (size_t)N, HISS_BACKEND_CPU, c1, &err) == HISS_OK, "CPU b");
    const float *in[2] = {a, b};
    float *out[2] = {a, b};
    const size_t n[2] = {(size_t)N, (size_t)N};
    const float *cp[2] = {c0, c1};
    tc_check(hiss_render_offline_batch(m, in, out, n, 2, cp, HISS_BACKEND_CUDA, &err) == HISS_OK, "CUDA in place");
    const double ea = tc_rel_l2(a, ra, (size_t)N), eb = tc_rel_l2(b, rb, (size_t)N);
    printf("public entry, two sequences in place, conditioning apart: rel L2 %.3g, %.3g\n", ea, eb);
    tc_check(ea < 1e-5 && eb < 1e-5, "public batch entry");

    tc_signal(b, N, 2);
    const float *in3[3] = {NULL, b, NULL};
    float *out3[3] = {NULL, b, NULL};
    const size_t n3[3] = {0, (size_t)N, 0};
    const float *cp3[3] = {c0, c1, c0};
    tc_check(hiss_render_offline_batch(m, in3, out3, n3, 3, cp3, HISS_BACKEND_CUDA, &err) == HISS_OK, "one of three");
    const double e1 = tc_rel_l2(b, rb, (size_t)N);
    printf("one non-empty sequence among empty ones: rel L2 %.3g\n", e1);
    tc_check(e1 < 1e-5, "a lone sequence gets its own conditioning");
    tc_check(hiss_render_offline_batch(m, NULL, NULL, NULL, 0, NULL, HISS_BACKEND_CUDA, &err) == HISS_OK, "empty");
    free(a);
    free(b);
    free(ra);
    free(rb);
    hiss_model_free(m);
}

int main(void)
{
    tc_require_gpu("test_cuda_batch");
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        one_case(i, &cases[i]);
    no_leak();
    overflow();
    public_entry();
    return tc_finish("test_cuda_batch");
}
#else
int main(void)
{
    printf("test_cuda_batch: SKIPPED: built without the CUDA backend\n");
    return TC_SKIP;
}
#endif
