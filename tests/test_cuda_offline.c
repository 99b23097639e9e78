/* hiss_offline on the GPU: a signal cut into calls any way at all (empty calls, calls of 1
 * sample, calls holding several segment boundaries, boundaries falling between calls) gives what
 * a fresh CPU stream gives to float rounding (rel L2 < 1e-5), with conditioning, skip, d_conv 1,
 * segments shorter than the conv's history, non-finite and clamped input samples, in place; calls
 * of whole segments give bit for bit what one GPU call (hc_render_cuda, the same segment and
 * chunk) gives; the public entry with its default segment of 2^20 crosses a boundary inside a
 * call; a state that overflows in a middle call sends the rest through the CUDA stream and is
 * reset at that very sample, as hiss_render_offline does, later calls included. */
#include "test_cuda_util.h"

#ifdef HISS_HAVE_CUDA
#include "cuda_render.h"

typedef struct ocase {
    int dm, nl, di, ds, dc, dr, nc, skip;
    int n, segment, chunk;
} ocase;

static const ocase cases[] = {
    {32, 4, 64, 16, 4, 2, 0, 0, 50000, 8192, 100}, /* the bench model, ragged chunks */
    {12, 3, 20, 5, 3, 1, 2, 1, 9000, 1000, 37},    /* odd sizes, conditioning, skip */
    {6, 2, 14, 8, 1, 1, 0, 0, 5000, 777, 64},      /* d_conv 1 */
    {16, 2, 32, 16, 4, 1, 1, 0, 600, 2, 1},        /* segments shorter than the history */
};

/* Call lengths for n samples with segments of `seg`: 0, 1, a few samples, 2.5 segments (two
 * boundaries inside one call), the rest drawn at random around the segment length. */
static int draw_cuts(size_t *len, int cap, size_t n, size_t seg, uint64_t seed)
{
    tc_rng r = {seed};
    const size_t fixed[] = {0, 1, 3, 0, seg * 5 / 2, 1, seg - 2};
    int k = 0;
    size_t t = 0;
    while (t < n && k < cap - 1) {
        size_t l = k < (int)(sizeof fixed / sizeof fixed[0]) ? fixed[k]
                   : tc_below(&r, 6) == 0 ? 0
                                          : 1 + (size_t)tc_below(&r, (int)(2 * seg + 10));
        if (l > n - t)
            l = n - t;
        len[k++] = l;
        t += l;
    }
    len[k++] = n - t; /* whatever is left, and a last call (maybe empty) */
    return k;
}

/* Renders in into out through hc_offline with the calls of len[0..k); fills *st. 0 on success. */
static int render_calls(const hiss_model *m, const float *cond, const float *in, float *out, const size_t *len,
                        int k, size_t segment, int chunk, hc_render_stats *st)
{
    hc_offline *r = NULL;
    hiss_error err = {0};
    if (hc_offline_create(m, cond, segment, chunk, &r, &err) != HISS_OK) {
        printf("FAIL: hc_offline_create: %s\n", err.msg);
        tc_failures++;
        return -1;
    }
    size_t t = 0;
    int rc = 0;
    for (int i = 0; i < k && rc == 0; i++) {
        if (hc_offline_render(r, in + t, out + t, len[i], &err) != HISS_OK) {
            printf("FAIL: hc_offline_render, call %d of %zu samples at %zu: %s\n", i, len[i], t, err.msg);
            tc_failures++;
            rc = -1;
        }
        t += len[i];
    }
    *st = hc_offline_stats(r);
    hc_offline_free(r);
    return rc;
}

static void one_case(int idx, const ocase *c)
{
    hiss_model *m = tc_model(c->dm, c->nl, c->di, c->ds, c->dc, c->dr, c->nc, c->skip, 300 + (uint64_t)idx);
    if (!m)
        return;
    const int n = tc_quick() && c->n > 5000 ? 5000 : c->n;
    float *in = malloc(sizeof(float) * (size_t)n), *ref = malloc(sizeof(float) * (size_t)n);
    float *one = malloc(sizeof(float) * (size_t)n), *out = malloc(sizeof(float) * (size_t)n);
    tc_signal(in, n, 77 + (uint64_t)idx);
    in[n / 3] = NAN; /* sanitised like the stream does it, in a middle call */
    in[n / 2] = 5000.0f;
    const float cond[2] = {0.35f, -0.6f};
    const size_t seg = (size_t)c->segment;
    hiss_error err = {0};
    hc_render_stats s1, s2;
    tc_check(hiss_render_offline(m, in, ref, (size_t)n, HISS_BACKEND_CPU, cond, &err) == HISS_OK, "CPU render");
    tc_check(hc_render_cuda(m, in, one, (size_t)n, cond, seg, c->chunk, &s1, &err) == HISS_OK, "one GPU call");

    /* random calls */
    enum { MAXC = 4096 };
    size_t *len = malloc(sizeof(size_t) * MAXC);
    int k = draw_cuts(len, MAXC, (size_t)n, seg, 11 + (uint64_t)idx);
    for (int t = 0; t < n; t++)
        out[t] = NAN;
    render_calls(m, cond, in, out, len, k, seg, c->chunk, &s2);
    const double e_one = tc_rel_l2(one, ref, (size_t)n), e_calls = tc_rel_l2(out, ref, (size_t)n);
    const double e_gpu = tc_rel_l2(out, one, (size_t)n);
    printf("case %d (d_model %d, layers %d, d_inner %d, d_state %d, d_conv %d, cond %d, skip %d): %d samples, "
           "segments of %d, chunks of %d: one call (%d segments) vs CPU rel L2 %.3g; %d calls (%d segments) vs "
           "CPU rel L2 %.3g, vs the one call %.3g\n",
           idx, c->dm, c->nl, c->di, c->ds, c->dc, c->nc, c->skip, n, c->segment, c->chunk, s1.segments, e_one, k,
           s2.segments, e_calls, e_gpu);
    tc_check(e_one < 1e-5, "one GPU call equals the CPU stream (test premise)");
    tc_check(e_calls < 1e-5, "random calls equal the CPU stream");
    tc_check(!s2.fell_back, "no fallback on a well-behaved model");
    size_t expect = 0;
    int inside = 0;
    for (int i = 0; i < k; i++) {
        expect += (len[i] + seg - 1) / seg;
        inside |= len[i] > seg;
    }
    tc_check((size_t)s2.segments == expect, "each call is cut into segments of `segment` samples");
    tc_check(inside || (size_t)n < 3 * seg, "some call holds segment boundaries (test premise)");

    /* calls of whole segments, in place: the one call's passes, bit for bit */
    k = 0;
    for (size_t t = 0; t < (size_t)n; t += seg)
        len[k++] = (size_t)n - t < seg ? (size_t)n - t : seg;
    len[k++] = 0;
    memcpy(out, in, sizeof(float) * (size_t)n);
    render_calls(m, cond, out, out, len, k, seg, c->chunk, &s2);
    const int same = memcmp(out, one, sizeof(float) * (size_t)n) == 0;
    printf("  %d calls of whole segments, in place: %s\n", k, same ? "bit-identical to the one call" : "DIFFERENT");
    tc_check(same && s2.segments == s1.segments, "calls of whole segments run the one call's passes");
    hiss_model_free(m);
    free(in);
    free(ref);
    free(one);
    free(out);
    free(len);
}

/* The public entry: the default segment (2^20), a boundary inside a call and one between calls. */
static void public_entry(void)
{
    hiss_model *m = tc_model(16, 2, 32, 16, 4, 1, 1, 1, 5);
    if (!m)
        return;
    const size_t seg = HC_RENDER_SEGMENT;
    const size_t n = tc_quick() ? 60000 : 2 * seg + 12345;
    float *in = malloc(sizeof(float) * n), *ref = malloc(sizeof(float) * n), *one = malloc(sizeof(float) * n);
    float *out = malloc(sizeof(float) * n);
    tc_signal(in, (int)n, 9);
    const float cond[1] = {0.25f};
    hiss_error err = {0};
    tc_check(hiss_render_offline(m, in, ref, n, HISS_BACKEND_CPU, cond, &err) == HISS_OK, "CPU");
    tc_check(hiss_render_offline(m, in, one, n, HISS_BACKEND_CUDA, cond, &err) == HISS_OK, "CUDA one call");
    hiss_offline *r = NULL;
    tc_check(hiss_offline_create(m, HISS_BACKEND_CUDA, cond, &r, &err) == HISS_OK, "create");
    if (!r)
        return;
    tc_check(hiss_offline_backend(r) == HISS_BACKEND_CUDA, "runs on CUDA");
    /* 0.7 segment, then 1.3 (a boundary inside the call, another at its end), then the rest
     * (quick: no boundary, the sizes only) */
    const size_t c1 = tc_quick() ? n / 3 : seg * 7 / 10, c2 = tc_quick() ? n / 2 : 2 * seg;
    for (size_t t = 0; t < n; t++)
        out[t] = NAN;
    tc_check(hiss_offline_render(r, in, out, c1, &err) == HISS_OK, "call 1");
    tc_check(hiss_offline_render(r, in + c1, out + c1, 0, &err) == HISS_OK, "an empty call");
    tc_check(hiss_offline_render(r, in + c1, out + c1, c2 - c1, &err) == HISS_OK, "call 2");
    tc_check(hiss_offline_render(r, in + c2, out + c2, n - c2, &err) == HISS_OK, "call 3");
    tc_check(hiss_offline_render(r, NULL, out, 5, &err) == HISS_ERR_ARG, "no input refused");
    hiss_offline_free(r);
    const double e = tc_rel_l2(out, ref, n), e1 = tc_rel_l2(one, ref, n);
    printf("public entry, %zu samples in calls of %zu, 0, %zu, %zu: rel L2 vs CPU %.3g (one call %.3g)\n", n, c1,
           c2 - c1, n - c2, e, e1);
    tc_check(e < 1e-5 && e1 < 1e-5, "the public entry equals the CPU");
    /* whole segments, in place: hiss_render_offline bit for bit */
    tc_check(hiss_offline_create(m, HISS_BACKEND_AUTO, cond, &r, &err) == HISS_OK, "create AUTO");
    if (r) {
        memcpy(out, in, sizeof(float) * n);
        for (size_t t = 0; t < n; t += seg)
            tc_check(hiss_offline_render(r, out + t, out + t, n - t < seg ? n - t : seg, &err) == HISS_OK, "call");
        const int same = memcmp(out, one, sizeof(float) * n) == 0;
        printf("public entry, AUTO, calls of 2^20 in place: %s\n", same ? "bit-identical to hiss_render_offline"
                                                                          : "DIFFERENT");
        tc_check(hiss_offline_backend(r) == HISS_BACKEND_CUDA, "AUTO with a device runs on CUDA");
        tc_check(same, "calls of whole segments are hiss_render_offline");
        hiss_offline_free(r);
    }
    hiss_model_free(m);
    free(in);
    free(ref);
    free(one);
    free(out);
}

/* Bursts that overflow the state: the first inside a middle call, the second in a later call. */
static void overflow(void)
{
    hiss_model *m = tc_blowup_model();
    if (!m)
        return;
    enum { N = 700 };
    float in[N], ref[N], one[N], out[N];
    for (int t = 0; t < N; t++)
        in[t] = tc_burst_input(t);
    hiss_error err = {0};
    hc_render_stats s1, s2;
    tc_check(hiss_render_offline(m, in, ref, N, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "CPU");
    tc_check(hc_render_cuda(m, in, one, N, NULL, 64, 16, &s1, &err) == HISS_OK, "one GPU call");
    const size_t len[] = {100, 1, 99, 0, 250, 1, 249};
    for (int t = 0; t < N; t++)
        out[t] = NAN;
    render_calls(m, NULL, in, out, len, (int)(sizeof len / sizeof len[0]), 64, 16, &s2);
    double maxd = 0.0, maxo = 0.0;
    int zero = 1;
    for (int t = 0; t < N; t++) {
        const double d = fabs((double)out[t] - (double)ref[t]), d1 = fabs((double)out[t] - (double)one[t]);
        maxd = isfinite(out[t]) ? (d > maxd ? d : maxd) : 1e30;
        maxo = isfinite(out[t]) ? (d1 > maxo ? d1 : maxo) : 1e30;
    }
    for (int t = 150; t < 160; t++)
        zero &= out[t] == 0.0f;
    printf("overflowing bursts in calls: fell back %d after %d segments (one call: %d after %d), burst output %s, "
           "max |calls-CPU| %.3g, max |calls-one call| %.3g\n",
           s2.fell_back, s2.segments, s1.fell_back, s1.segments, zero ? "all 0" : "NOT 0", maxd, maxo);
    tc_check(s1.fell_back == 1 && s2.fell_back == 1, "the overflow is noticed");
    tc_check(zero && maxd <= 1e-6, "the stream's reset semantics");
    tc_check(maxo <= 1e-6, "as hiss_render_offline recovers");
    hiss_model_free(m);
}

int main(void)
{
    tc_require_gpu("test_cuda_offline");
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        one_case(i, &cases[i]);
    public_entry();
    overflow();
    return tc_finish("test_cuda_offline");
}
#else
int main(void)
{
    printf("test_cuda_offline: SKIPPED: built without the CUDA backend\n");
    return TC_SKIP;
}
#endif
