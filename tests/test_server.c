/* hiss-server against local CPU streams: several clients (stream objects of 1 and 2 streams, two
 * models, two rates) driven like plugin instances of one host, with random block lengths, knob
 * moves, resets, non-finite input, snapshots and restores. Every output must be the reference's
 * output max_block frames earlier: bit for bit when the server runs on the CPU, to relative L2
 * 1e-5 on CUDA. Then: a paced run without barriers (a late block is silence and counted, the
 * state stays exact), a run back to back as an export calls a plugin (HISS_SYNC_DEADLINE: no
 * block may be late, none is waited for in vain once the server is gone), the clients of one model sharing launches (the server's own count), the
 * server killed under its clients (silence, misses counted, nothing blocks), a model file changed
 * behind the client's back, and no server at all.
 *
 * usage: test_server HISS_SERVER_BINARY cpu|cuda TMPDIR */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_cuda_util.h"

#define N_CLIENTS 5
#define CYCLES 300
#define PACED 200
#define FREEWHEEL 150

typedef struct client {
    hiss_stream *srv, *ref;
    int K, D;
    float *hist;    /* [K][cap]: the reference's outputs, all frames */
    size_t cap, t;  /* frames so far */
    double err2, ref2; /* squared error and reference energy over compared frames */
    uint64_t compared, mismatched;
    size_t reset_at[2]; /* the frame count at each stream's last reset */
} client;

static const char *g_backend;

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static pid_t start_server(const char *bin, const char *sock, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execl(bin, bin, "--socket", sock, "--backend", g_backend, "--slots", "8", "--gather-us", "2000",
              (char *)NULL);
        _exit(127);
    }
    /* ready once it accepts a connection */
    for (int i = 0; i < 1000; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {0};
        a.sun_family = AF_UNIX;
        snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return pid;
        sleep_s(0.01);
    }
    tc_check(0, "hiss-server did not start listening within 10 s");
    return pid;
}

static void stop_server(pid_t pid, int sig)
{
    kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
}

static hiss_model *saved_model(const char *dir, const char *name, hiss_model *m)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hiss_error e = {0};
    hiss_model *back = NULL;
    if (!m || hiss_model_save(m, path, &e) != HISS_OK || hiss_model_load(path, &back, &e) != HISS_OK) {
        printf("FAIL: saving or loading %s: %s\n", path, e.msg);
        tc_failures++;
    }
    hiss_model_free(m);
    return back;
}

static hiss_stream *make(const hiss_model *m, int K, int D, double rate, hiss_backend b, const char *sock,
                         hiss_error *e)
{
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = K;
    o.max_block = D;
    o.host_rate = rate;
    o.rate_mode = HISS_RATE_DELTA;
    o.backend = b;
    o.server = sock;
    hiss_stream *s = NULL;
    memset(e, 0, sizeof *e);
    if (hiss_stream_create(m, &o, &s, e) != HISS_OK)
        return NULL;
    return s;
}

static int client_init(client *c, const hiss_model *m, int K, int D, double rate, const char *sock, size_t frames)
{
    hiss_error e;
    memset(c, 0, sizeof *c);
    c->K = K;
    c->D = D;
    c->srv = make(m, K, D, rate, HISS_BACKEND_SERVER, sock, &e);
    if (!c->srv) {
        printf("FAIL: server stream: %s\n", e.msg);
        tc_failures++;
        return -1;
    }
    c->ref = make(m, K, D, rate, HISS_BACKEND_CPU, NULL, &e);
    c->cap = frames;
    c->hist = calloc((size_t)K * frames, sizeof(float));
    tc_check(hiss_stream_latency(c->srv) == D, "a server stream reports max_block frames of latency");
    tc_check(hiss_stream_backend(c->srv) == HISS_BACKEND_SERVER, "hiss_stream_backend says server");
    return c->ref && c->hist ? 0 : -1;
}

static void client_free(client *c)
{
    hiss_stream_free(c->srv);
    hiss_stream_free(c->ref);
    free(c->hist);
}

/* One process call of n frames on both; compares the server's output with the reference's D
 * frames earlier (unless the call was a counted miss, when paced). */
static void step(client *c, tc_rng *r, int n, int paced)
{
    float xin[2][1024], ys[2][1024], yr[2][1024];
    const float *ip[2] = {xin[0], xin[1]};
    float *sp[2] = {ys[0], ys[1]}, *rp[2] = {yr[0], yr[1]};
    for (int k = 0; k < c->K; k++)
        for (int i = 0; i < n; i++) {
            const size_t t = c->t + (size_t)i;
            xin[k][i] = (float)(0.5 * sin(0.013 * (double)t * (k + 1)) + 0.2 * tc_unit(r));
            if (tc_below(r, 5000) == 0)
                xin[k][i] = tc_below(r, 2) ? NAN : INFINITY;
        }
    const uint64_t miss0 = hiss_stream_deadline_misses(c->srv);
    tc_check(hiss_stream_process(c->srv, ip, sp, n) == HISS_OK, "server process");
    hiss_stream_process(c->ref, ip, rp, n);
    const int missed = hiss_stream_deadline_misses(c->srv) != miss0;
    if (!paced)
        tc_check(!missed, "no misses when every block is settled before the next");
    for (int k = 0; k < c->K; k++) {
        if (c->t + (size_t)n > c->cap)
            break;
        memcpy(c->hist + (size_t)k * c->cap + c->t, yr[k], (size_t)n * sizeof(float));
        if (missed)
            continue;
        for (int i = 0; i < n; i++) {
            const long long q = (long long)(c->t + (size_t)i) - c->D;
            /* a reset drops the results still in flight: silence until its own come through */
            const float want = q < (long long)c->reset_at[k] ? 0.0f : c->hist[(size_t)k * c->cap + (size_t)q];
            const double d = (double)ys[k][i] - want;
            c->err2 += d * d;
            c->ref2 += (double)want * want;
            c->compared++;
            c->mismatched += ys[k][i] != want;
        }
    }
    c->t += (size_t)n;
}

/* Wait for the server to run everything submitted, and compare the states. */
static void settle_compare(client *c, const char *when)
{
    const size_t sz = hiss_stream_snapshot_size(c->srv, -1);
    char *a = malloc(sz), *b = malloc(sz);
    tc_check(hiss_stream_snapshot(c->srv, -1, a, sz) == HISS_OK, "server snapshot");
    hiss_stream_snapshot(c->ref, -1, b, sz);
    const float *fa = (const float *)(a + 32), *fb = (const float *)(b + 32); /* after the header */
    const size_t nf = (sz - 32) / sizeof(float);
    double e2 = 0.0, r2 = 0.0;
    size_t diff = 0;
    for (size_t i = 0; i < nf; i++) {
        const double d = (double)fa[i] - fb[i];
        e2 += d * d;
        r2 += (double)fb[i] * fb[i];
        diff += fa[i] != fb[i];
    }
    char what[256];
    if (!strcmp(g_backend, "cpu")) {
        snprintf(what, sizeof what, "%s: the server's state equals the reference's bit for bit (%zu of %zu differ)",
                 when, diff, nf);
        tc_check(diff == 0, what);
    } else {
        snprintf(what, sizeof what, "%s: state relative L2 %.3g below 1e-4", when, sqrt(e2 / (r2 > 0 ? r2 : 1)));
        tc_check(sqrt(e2 / (r2 > 0 ? r2 : 1)) < 1e-4, what);
    }
    free(a);
    free(b);
}

static void report(client *c, int i)
{
    const double rel = sqrt(c->err2 / (c->ref2 > 0 ? c->ref2 : 1));
    printf("client %d (%d stream(s), max_block %d): %llu frames compared, %llu differ, relative L2 %.3g, %llu misses\n",
           i, c->K, c->D, (unsigned long long)c->compared, (unsigned long long)c->mismatched, rel,
           (unsigned long long)hiss_stream_deadline_misses(c->srv));
    char what[256];
    if (!strcmp(g_backend, "cpu")) {
        snprintf(what, sizeof what, "client %d: every output equals the CPU reference's, max_block frames earlier", i);
        tc_check(c->mismatched == 0 && c->compared > 0, what);
    } else {
        snprintf(what, sizeof what, "client %d: relative L2 %.3g below 1e-5", i, rel);
        tc_check(rel < 1e-5 && c->compared > 0, what);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 4) {
        printf("usage: test_server HISS_SERVER cpu|cuda TMPDIR\n");
        return 2;
    }
    const char *bin = argv[1], *dir = argv[3];
    g_backend = argv[2];
    if (!strcmp(g_backend, "cuda") && !hiss_backend_available(HISS_BACKEND_CUDA)) {
        printf("test_server cuda: SKIPPED: no CUDA device\n");
        return TC_SKIP;
    }
    char sock[512], log[512], none[512];
    snprintf(sock, sizeof sock, "%s/server-%s.sock", dir, g_backend);
    snprintf(log, sizeof log, "%s/server-%s.log", dir, g_backend);
    snprintf(none, sizeof none, "%s/no-server.sock", dir);

    hiss_model *ma = saved_model(dir, "server_a.safetensors", tc_model(16, 2, 32, 8, 4, 2, 2, 1, 11));
    hiss_model *mb = saved_model(dir, "server_b.safetensors", tc_model(8, 1, 16, 4, 4, 1, 0, 0, 12));
    if (!ma || !mb)
        return 1;
    const double rate = hiss_model_config(ma)->sample_rate;

    /* No server listening: a clear error, not a hang. */
    hiss_error e;
    hiss_stream *s = make(ma, 1, 64, rate, HISS_BACKEND_SERVER, none, &e);
    tc_check(!s && e.status == HISS_ERR_BACKEND && strstr(e.msg, "cannot connect") && strstr(e.msg, none),
             "no server: HISS_ERR_BACKEND naming the socket");
    printf("no server: %s\n", e.msg);

    pid_t pid = start_server(bin, sock, log);
    /* Three clients of model a at the model's rate share a group (4 streams); model b and model a
     * at another rate get groups of their own. */
    client c[N_CLIENTS];
    const size_t frames = (size_t)(CYCLES + PACED + FREEWHEEL + 10) * 64;
    const int K[N_CLIENTS] = {2, 1, 1, 1, 1}, D[N_CLIENTS] = {64, 64, 64, 32, 48};
    const hiss_model *M[N_CLIENTS] = {ma, ma, ma, mb, ma};
    const double R[N_CLIENTS] = {rate, rate, rate, rate, 44100.0};
    for (int i = 0; i < N_CLIENTS; i++)
        if (client_init(&c[i], M[i], K[i], D[i], R[i], sock, frames) != 0)
            return 1;

    tc_rng r = {42};
    char *saved = NULL;
    size_t saved_size = 0;
    /* HISS_TEST_QUICK (a server under compute-sanitizer, a hundred times slower): fewer cycles,
     * and no paced run, which such a server cannot keep up with (it would fall a whole ring
     * behind, and the frames dropped then make the comparison meaningless) */
    const int cycles = tc_quick() ? 60 : CYCLES, paced = tc_quick() ? 0 : PACED;
    for (int cy = 0; cy < cycles; cy++) {
        for (int i = 0; i < N_CLIENTS; i++) {
            /* knobs move between calls, as a plugin's do */
            if (i != 3 && tc_below(&r, 4) == 0) {
                const int k = tc_below(&r, c[i].K + 1) - 1, j = tc_below(&r, 2);
                const float v = (float)tc_unit(&r);
                hiss_stream_set_cond(c[i].srv, k, j, v);
                hiss_stream_set_cond(c[i].ref, k, j, v);
            }
            if (tc_below(&r, 60) == 0) {
                const int k = tc_below(&r, c[i].K);
                hiss_stream_reset(c[i].srv, k);
                hiss_stream_reset(c[i].ref, k);
                c[i].reset_at[k] = c[i].t;
            }
            step(&c[i], &r, 1 + tc_below(&r, c[i].D), 0);
        }
        for (int i = 0; i < N_CLIENTS; i++)
            if (cy % 25 == 24)
                settle_compare(&c[i], "settled");
            else /* a barrier: the next block must find this one done */
                (void)hiss_stream_snapshot(c[i].srv, 0, (char[65536]){0}, 65536);
        if (cy == cycles / 3) {
            saved_size = hiss_stream_snapshot_size(c[0].ref, -1);
            saved = malloc(saved_size);
            hiss_stream_snapshot(c[0].ref, -1, saved, saved_size);
        }
        if (cy == 2 * cycles / 3) {
            tc_check(hiss_stream_restore(c[0].srv, -1, saved, saved_size) == HISS_OK, "restore on the server");
            hiss_stream_restore(c[0].ref, -1, saved, saved_size);
            settle_compare(&c[0], "restored");
        }
    }
    /* Paced like a host at 48 kHz, no barriers: outputs the server finished in time match, late
     * ones are silence and counted; the state stays exact either way. */
    if (!paced)
        printf("paced run: SKIPPED under HISS_TEST_QUICK\n");
    for (int cy = 0; cy < paced; cy++) {
        for (int i = 0; i < N_CLIENTS; i++)
            step(&c[i], &r, c[i].D, 1);
        sleep_s(64.0 / 48000.0);
    }
    for (int i = 0; i < N_CLIENTS; i++)
        settle_compare(&c[i], "after the paced run");
    /* Back to back with no barrier, as a host exporting (freewheeling) calls its plugins: with
     * HISS_SYNC_DEADLINE, process() waits for the output it returns, so none may be late. */
    tc_check(hiss_stream_set_sync(c[0].srv, HISS_SYNC_WAIT, 0) == HISS_ERR_BACKEND &&
                 hiss_stream_set_sync(c[0].srv, HISS_SYNC_DEADLINE, 0) == HISS_ERR_BACKEND,
             "the server refuses an unbounded wait");
    for (int i = 0; i < N_CLIENTS; i++)
        tc_check(hiss_stream_set_sync(c[i].srv, HISS_SYNC_DEADLINE, 2e6) == HISS_OK, "deadline mode on the server");
    uint64_t fw_misses = 0;
    for (int i = 0; i < N_CLIENTS; i++)
        fw_misses += hiss_stream_deadline_misses(c[i].srv);
    const int freewheel = tc_quick() ? 30 : FREEWHEEL;
    for (int cy = 0; cy < freewheel; cy++)
        for (int i = 0; i < N_CLIENTS; i++) {
            if (tc_below(&r, 80) == 0) {
                const int k = tc_below(&r, c[i].K);
                hiss_stream_reset(c[i].srv, k);
                hiss_stream_reset(c[i].ref, k);
                c[i].reset_at[k] = c[i].t;
            }
            step(&c[i], &r, 1 + tc_below(&r, c[i].D), 0);
        }
    for (int i = 0; i < N_CLIENTS; i++) {
        fw_misses -= hiss_stream_deadline_misses(c[i].srv);
        tc_check(hiss_stream_set_sync(c[i].srv, HISS_SYNC_PIPELINED, 0) == HISS_OK, "back to pipelined");
    }
    printf("back to back in deadline mode: %d calls a client, %llu late\n", freewheel,
           (unsigned long long)-fw_misses);
    for (int i = 0; i < N_CLIENTS; i++) {
        settle_compare(&c[i], "after the run back to back");
        report(&c[i], i);
    }
    for (int i = 0; i < N_CLIENTS; i++)
        client_free(&c[i]);
    stop_server(pid, SIGTERM);

    /* The server's own count: the three clients of model a shared launches. */
    FILE *f = fopen(log, "r");
    char line[2048];
    int most = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, " at most");
        if (strstr(line, "server_a.safetensors") && p) {
            const char *q = p;
            while (q > line && q[-1] >= '0' && q[-1] <= '9')
                q--;
            int v = atoi(q);
            most = v > most ? v : most;
        }
    }
    if (f)
        fclose(f);
    printf("most streams of model a in one launch: %d\n", most);
    tc_check(most == 4, "the 4 streams of model a's three clients shared a launch");

    /* The server dies under a client: silence, misses counted, process never blocks. */
    char log2[600];
    snprintf(log2, sizeof log2, "%s.2", log);
    pid = start_server(bin, sock, log2);
    client d;
    if (client_init(&d, ma, 1, 64, rate, sock, 64 * 400) == 0) {
        for (int i = 0; i < 50; i++) {
            step(&d, &r, 64, 0);
            (void)hiss_stream_snapshot(d.srv, 0, (char[65536]){0}, 65536);
        }
        stop_server(pid, SIGKILL);
        const uint64_t m0 = hiss_stream_deadline_misses(d.srv);
        float x[64] = {0.5f}, y[64];
        const float *xp[1] = {x};
        float *yp[1] = {y};
        double peak = 0.0;
        for (int i = 0; i < 200; i++) {
            tc_check(hiss_stream_process(d.srv, xp, yp, 64) == HISS_OK, "process after the server died");
            for (int t = 0; t < 64 && i > 1; t++)
                peak = fmax(peak, fabs(y[t]));
        }
        printf("server killed: %llu misses in 200 calls, peak output %g\n",
               (unsigned long long)(hiss_stream_deadline_misses(d.srv) - m0), peak);
        tc_check(hiss_stream_deadline_misses(d.srv) - m0 >= 198, "every call after the server died is a miss");
        tc_check(peak == 0.0, "silence after the server died");
        /* An export after the server died must not wait a deadline per call. */
        hiss_stream_set_sync(d.srv, HISS_SYNC_DEADLINE, 2e6);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 20; i++)
            hiss_stream_process(d.srv, xp, yp, 64);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        const double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("server killed, deadline mode: 20 calls took %.3f s\n", waited);
        tc_check(waited < 2.0, "deadline mode does not wait for a server that is gone");
        client_free(&d);
    }

    /* The file changed after the client loaded it: the server refuses, naming it. */
    pid = start_server(bin, sock, log2);
    hiss_model *changed = tc_model(16, 2, 32, 8, 4, 2, 2, 1, 99);
    char apath[1024];
    snprintf(apath, sizeof apath, "%s/server_a.safetensors", dir);
    hiss_model_save(changed, apath, &e);
    hiss_model_free(changed);
    s = make(ma, 1, 64, rate, HISS_BACKEND_SERVER, sock, &e);
    printf("changed file: %s\n", e.msg);
    tc_check(!s && e.status == HISS_ERR_MODEL && strstr(e.msg, "other weights") && strstr(e.msg, "server_a"),
             "a changed model file is refused, named");
    hiss_stream_free(s);
    stop_server(pid, SIGTERM);

    free(saved);
    hiss_model_free(ma);
    hiss_model_free(mb);
    printf("test_server %s: %s\n", g_backend, tc_failures ? "FAILED" : "passed");
    return tc_failures ? 1 : 0;
}
