/* hiss_offline on the CPU: a signal cut into calls any way at all (random lengths around the
 * stream's block of 4096, calls of 1 sample, empty calls, one call) gives bit for bit what one
 * hiss_render_offline call gives, for random models (every tensor perturbed, every size drawn),
 * random signals with non-finite and out-of-range samples, with and without conditioning, in place
 * or not; two renderers called in turn (the channels of a file) do not touch each other; a state
 * that overflows mid-call is reset as the one call resets it; AUTO without a device is the CPU,
 * CUDA without one is refused; bad arguments are refused. hiss_render_offline on the CPU is held
 * to the float64 reference by test_engine_reference and test_engine_render. */
#include "test_cuda_util.h"

/* Next call length: mostly short, now and then 0, 1, around the block of 4096 or longer. */
static size_t draw_len(tc_rng *r)
{
    switch (tc_below(r, 10)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 4095 + (size_t)tc_below(r, 3);
    case 3: return 1 + (size_t)tc_below(r, 3000);
    default: return 1 + (size_t)tc_below(r, 300);
    }
}

enum { CUT_RANDOM, CUT_ONES, CUT_WHOLE };

/* Renders x[0..n) into y through a fresh renderer, cut as `how` says; the number of calls, or -1
 * on an error. */
static int render_cut(const hiss_model *m, const float *cond, const float *x, float *y, size_t n, int how,
                      uint64_t seed)
{
    hiss_offline *r = NULL;
    hiss_error err = {0};
    if (hiss_offline_create(m, HISS_BACKEND_CPU, cond, &r, &err) != HISS_OK) {
        printf("FAIL: hiss_offline_create: %s\n", err.msg);
        tc_failures++;
        return -1;
    }
    tc_check(hiss_offline_backend(r) == HISS_BACKEND_CPU, "a CPU renderer says it runs on the CPU");
    tc_rng rng = {seed};
    int calls = 0;
    for (size_t t = 0; t <= n; calls++) {
        size_t len = how == CUT_ONES ? 1 : how == CUT_WHOLE ? n : draw_len(&rng);
        if (len > n - t)
            len = n - t;
        if (hiss_offline_render(r, x + t, y + t, len, &err) != HISS_OK) {
            printf("FAIL: hiss_offline_render: %s\n", err.msg);
            tc_failures++;
            calls = -1;
            break;
        }
        t += len;
        if (t == n && len == 0)
            break; /* one empty call at the end too */
    }
    hiss_offline_free(r);
    return calls;
}

static void random_models(void)
{
    tc_rng r = {2026};
    const int count = tc_quick() ? 4 : 12;
    for (int i = 0; i < count; i++) {
        const int dm = 4 + tc_below(&r, 21), nl = 1 + tc_below(&r, 3), di = dm * (1 + tc_below(&r, 2)) + tc_below(&r, 5);
        const int ds = 1 + tc_below(&r, 16), dc = 1 + tc_below(&r, 4), dr = 1 + tc_below(&r, 3);
        const int nc = tc_below(&r, 4), skip = tc_below(&r, 2);
        hiss_model *m = tc_model(dm, nl, di, ds, dc, dr, nc, skip, 500 + (uint64_t)i);
        if (!m)
            continue;
        const size_t n = 2000 + (size_t)tc_below(&r, tc_quick() ? 4000 : 14000);
        float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)), *nocond = malloc(n * sizeof(float));
        float *y = malloc(n * sizeof(float));
        tc_signal(x, (int)n, 900 + (uint64_t)i);
        x[n / 5] = NAN;
        x[n / 4] = INFINITY;
        x[n / 3] = 4000.0f; /* clamped by the stream */
        float cond[3];
        for (int j = 0; j < 3; j++)
            cond[j] = (float)tc_unit(&r);
        const float *cp = nc ? cond : NULL;
        hiss_error err = {0};
        tc_check(hiss_render_offline(m, x, ref, n, HISS_BACKEND_CPU, cp, &err) == HISS_OK, "the one call");
        tc_check(hiss_render_offline(m, x, nocond, n, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "without cond");
        int moved = 0, cond_counts = !nc;
        for (size_t t = 0; t < n; t++) {
            moved |= ref[t] != 0.0f;
            cond_counts |= ref[t] != nocond[t];
        }
        tc_check(moved && cond_counts, "the reference is not all zero and heeds the conditioning (test premise)");
        printf("model %d (d_model %d, layers %d, d_inner %d, d_state %d, d_conv %d, dt_rank %d, cond %d, skip %d), "
               "%zu samples:",
               i, dm, nl, di, ds, dc, dr, nc, skip, n);
        static const char *const names[] = {"random calls", "calls of 1", "one call"};
        for (int how = CUT_RANDOM; how <= CUT_WHOLE; how++) {
            for (size_t t = 0; t < n; t++)
                y[t] = NAN;
            const int calls = render_cut(m, cp, x, y, n, how, 77 + (uint64_t)i);
            const int same = memcmp(y, ref, n * sizeof(float)) == 0;
            printf(" %s (%d): %s;", names[how], calls, same ? "bit-identical" : "DIFFERENT");
            tc_check(calls > 0 && same, "any partition gives the one call's output");
        }
        /* in place, cut at random; and without conditioning */
        memcpy(y, x, n * sizeof(float));
        render_cut(m, cp, y, y, n, CUT_RANDOM, 5 + (uint64_t)i);
        const int in_place = memcmp(y, ref, n * sizeof(float)) == 0;
        render_cut(m, NULL, x, y, n, CUT_RANDOM, 6 + (uint64_t)i);
        const int no_cond = memcmp(y, nocond, n * sizeof(float)) == 0;
        printf(" in place: %s; no cond: %s\n", in_place ? "bit-identical" : "DIFFERENT",
               no_cond ? "bit-identical" : "DIFFERENT");
        tc_check(in_place, "in place, cut at random");
        tc_check(no_cond, "no conditioning, cut at random");
        hiss_model_free(m);
        free(x);
        free(ref);
        free(nocond);
        free(y);
    }
}

/* Two renderers of one model called in turn, as hiss-render does with the channels of a file. */
static void two_in_turn(void)
{
    hiss_model *m = tc_model(16, 2, 32, 8, 4, 2, 1, 1, 41);
    if (!m)
        return;
    enum { N = 9000 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    float *ra = malloc(N * sizeof(float)), *rb = malloc(N * sizeof(float));
    float *ya = malloc(N * sizeof(float)), *yb = malloc(N * sizeof(float));
    tc_signal(a, N, 1);
    tc_signal(b, N, 2);
    for (int t = 0; t < N; t++)
        b[t] *= 0.2f;
    const float ca[1] = {0.7f}, cb[1] = {-0.4f};
    hiss_error err = {0};
    tc_check(hiss_render_offline(m, a, ra, N, HISS_BACKEND_CPU, ca, &err) == HISS_OK, "render a");
    tc_check(hiss_render_offline(m, b, rb, N, HISS_BACKEND_CPU, cb, &err) == HISS_OK, "render b");
    hiss_offline *pa = NULL, *pb = NULL;
    tc_check(hiss_offline_create(m, HISS_BACKEND_CPU, ca, &pa, &err) == HISS_OK, "create a");
    tc_check(hiss_offline_create(m, HISS_BACKEND_CPU, cb, &pb, &err) == HISS_OK, "create b");
    tc_rng r = {3};
    for (size_t t = 0; pa && pb && t < N;) {
        size_t len = draw_len(&r);
        if (len > N - t)
            len = N - t;
        tc_check(hiss_offline_render(pa, a + t, ya + t, len, &err) == HISS_OK, "call a");
        tc_check(hiss_offline_render(pb, b + t, yb + t, len, &err) == HISS_OK, "call b");
        t += len;
    }
    const int same = memcmp(ya, ra, sizeof(float) * N) == 0 && memcmp(yb, rb, sizeof(float) * N) == 0;
    printf("two renderers in turn: %s\n", same ? "each bit-identical to its one call" : "DIFFERENT");
    tc_check(same, "renderers called in turn do not touch each other");
    hiss_offline_free(pa);
    hiss_offline_free(pb);
    hiss_model_free(m);
    free(a);
    free(b);
    free(ra);
    free(rb);
    free(ya);
    free(yb);
}

/* Bursts that overflow the state, one of them across a call boundary. */
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
    tc_check(hiss_render_offline(m, in, ref, N, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "one call");
    hiss_offline *r = NULL;
    tc_check(hiss_offline_create(m, HISS_BACKEND_CPU, NULL, &r, &err) == HISS_OK, "create");
    static const int cuts[] = {0, 100, 155, 156, 501, N};
    for (int i = 0; r && i + 1 < (int)(sizeof cuts / sizeof cuts[0]); i++)
        tc_check(hiss_offline_render(r, in + cuts[i], out + cuts[i], (size_t)(cuts[i + 1] - cuts[i]), &err) ==
                     HISS_OK,
                 "call");
    int zero = 1;
    for (int t = 150; t < 160; t++)
        zero &= ref[t] == 0.0f;
    const int same = memcmp(out, ref, sizeof out) == 0;
    printf("overflowing bursts cut mid-burst: burst output of the one call %s; calls %s\n", zero ? "all 0" : "NOT 0",
           same ? "bit-identical" : "DIFFERENT");
    tc_check(zero, "the one call resets the overflowing state (test premise)");
    tc_check(same, "the reset happens at the same samples when cut into calls");
    hiss_offline_free(r);
    hiss_model_free(m);
}

static void backends_and_args(void)
{
    hiss_model *m = tc_model(8, 1, 16, 4, 3, 1, 0, 0, 9);
    if (!m)
        return;
    enum { N = 500 };
    float x[N], ref[N], y[N];
    tc_signal(x, N, 4);
    hiss_error err = {0};
    hiss_offline *r = NULL;
    tc_check(hiss_render_offline(m, x, ref, N, HISS_BACKEND_CPU, NULL, &err) == HISS_OK, "one call");
    tc_check(hiss_offline_create(NULL, HISS_BACKEND_CPU, NULL, &r, &err) == HISS_ERR_ARG && !r, "no model refused");
    tc_check(hiss_offline_create(m, HISS_BACKEND_CPU, NULL, NULL, &err) == HISS_ERR_ARG, "no out refused");
    const hiss_status bad = hiss_offline_create(m, (hiss_backend)7, NULL, &r, &err);
    printf("unknown backend: %s (%s)\n", hiss_status_name(bad), err.msg);
    tc_check(bad == HISS_ERR_ARG && !r && strstr(err.msg, "backend"), "unknown backend refused");
    tc_check(hiss_offline_render(NULL, x, y, 1, &err) == HISS_ERR_ARG, "no renderer refused");
    hiss_offline_free(NULL);
    if (!hiss_backend_available(HISS_BACKEND_CUDA)) {
        const hiss_status st = hiss_offline_create(m, HISS_BACKEND_CUDA, NULL, &r, &err);
        printf("CUDA without a device: %s (%s)\n", hiss_status_name(st), err.msg);
        tc_check(st == HISS_ERR_BACKEND && !r && strstr(err.msg, "CUDA"), "CUDA refused, never run elsewhere");
        tc_check(hiss_offline_create(m, HISS_BACKEND_AUTO, NULL, &r, &err) == HISS_OK, "AUTO without a device is accepted");
        if (r) {
            tc_check(hiss_offline_backend(r) == HISS_BACKEND_CPU, "AUTO without a device runs on the CPU");
            tc_check(hiss_offline_render(r, x, y, 0, &err) == HISS_OK, "an empty call");
            tc_check(hiss_offline_render(r, NULL, NULL, 0, &err) == HISS_OK, "an empty call needs no buffers");
            tc_check(hiss_offline_render(r, NULL, y, 3, &err) == HISS_ERR_ARG, "no input refused");
            tc_check(hiss_offline_render(r, x, y, 123, &err) == HISS_OK, "call");
            tc_check(hiss_offline_render(r, x + 123, y + 123, N - 123, &err) == HISS_OK, "call");
            tc_check(memcmp(y, ref, sizeof y) == 0, "AUTO without a device is the CPU render");
        }
        hiss_offline_free(r);
    } else {
        printf("CUDA device present: the CUDA path is checked by test_cuda_offline\n");
    }
    hiss_model_free(m);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    random_models();
    two_in_turn();
    overflow();
    backends_and_args();
    return tc_finish("test_engine_offline");
}
