#define _GNU_SOURCE
/* HISS_BACKEND_SERVER: a stream whose arithmetic runs in a hiss-server process, batched there with
 * the streams of other clients (plugin instances) of the same model. process() only copies to and
 * from the shared rings of server_proto.h and publishes positions with atomic stores: no system
 * call, lock or wait, so it is as real-time safe as the CPU backend. Output is max_block frames
 * late; what the server has not finished by then is silence and counted as a miss.
 * HISS_SYNC_DEADLINE is for a host that is not running in real time (an export, "freewheeling"),
 * calling process() back to back: there process() waits, up to the deadline, for the server to
 * finish the frames it outputs, so that none is silenced. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "server_proto.h"

typedef struct sc_impl {
    int sock;
    hs_shm *h;
    uint32_t K, nc, ring;
    uint64_t p;          /* server position of the next frame submitted (the start of the next chunk record) */
    uint64_t cw;         /* chunk records written */
    int64_t off;         /* the caller's frame count minus p: grows by the frames dropped */
    uint64_t valid_from; /* positions below it predate the last drop: their output is stale */
    uint64_t t;          /* frames passed to process() */
    uint64_t misses;
    double wait_us;      /* HISS_SYNC_DEADLINE: how long process() may wait; 0: it never waits */
    int gone;            /* the server closed the socket: waiting would be in vain */
    uint32_t *seq;       /* [K] reset requests made */
    uint64_t *reset_at;  /* [K] position of the last reset: the outputs still in flight before it are dropped */
} sc_impl;

char *hiss_server_default_path(char *buf, size_t n)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt && rt[0] == '/')
        snprintf(buf, n, "%s/hiss-server.sock", rt);
    else
        snprintf(buf, n, "/tmp/hiss-server-%u.sock", (unsigned)getuid());
    return buf;
}

static void sc_destroy(hiss_stream *s)
{
    sc_impl *c = s->impl;
    if (!c)
        return;
    if (c->h)
        munmap(c->h, c->h->size);
    if (c->sock >= 0)
        close(c->sock); /* the server frees the slots when it sees this */
    free(c->seq);
    free(c->reset_at);
    free(c);
    s->impl = NULL;
}

/* The reply, with the region's descriptor when the server sent one. */
static int recv_reply(int fd, hs_reply *rep, int *shm_fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {rep, sizeof *rep};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    *shm_fd = -1;
    ssize_t r;
    do
        r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(shm_fd, CMSG_DATA(cm), sizeof(int));
    if ((size_t)r < sizeof *rep && hs_recv_all(fd, (char *)rep + r, sizeof *rep - (size_t)r) != 0)
        return -1;
    return 0;
}

/* A failed create: the message, and the status to return. */
#define SC_FAIL(...)                                                                                \
    do {                                                                                            \
        hiss_seterr(err, HISS_ERR_BACKEND, __VA_ARGS__);                                            \
        return HISS_ERR_BACKEND;                                                                    \
    } while (0)

static hiss_status sc_create(hiss_stream *s, hiss_error *err)
{
    const hiss_model *m = s->model;
    char def[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *path = s->opts.server ? s->opts.server : hiss_server_default_path(def, sizeof def);
    if (!m->path)
        SC_FAIL("backend server: the model was not loaded from a file");
    if (strlen(m->path) >= HS_PATH_MAX)
        SC_FAIL("backend server: model path too long: %s", m->path);
    if (s->opts.n_streams > HS_MAX_STREAMS)
        SC_FAIL("backend server: %d streams in one stream object (at most %d)", s->opts.n_streams,
                HS_MAX_STREAMS);
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path)
        SC_FAIL("backend server: socket path too long: %s", path);
    strcpy(addr.sun_path, path);

    sc_impl *c = calloc(1, sizeof *c);
    s->impl = c;
    if (c)
        c->sock = -1; /* not descriptor 0, which sc_destroy would close */
    if (!c || !(c->seq = calloc((size_t)s->opts.n_streams, sizeof *c->seq)) ||
        !(c->reset_at = calloc((size_t)s->opts.n_streams, sizeof *c->reset_at))) {
        sc_destroy(s);
        hiss_seterr(err, HISS_ERR_NOMEM, "backend server: out of memory");
        return HISS_ERR_NOMEM;
    }
    c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
        const char *why = strerror(errno);
        sc_destroy(s);
        SC_FAIL("backend server: cannot connect to %s: %s (is hiss-server running?)", path, why);
    }
    /* A server that hangs must not hang the loader thread forever. */
    struct timeval tv = {10, 0};
    setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    hs_request rq;
    memset(&rq, 0, sizeof rq);
    rq.magic = HS_MAGIC;
    rq.version = HS_VERSION;
    rq.n_streams = (uint32_t)s->opts.n_streams;
    rq.max_block = (uint32_t)s->opts.max_block;
    rq.rate_mode = (uint32_t)s->opts.rate_mode;
    rq.pid = (uint32_t)getpid();
    rq.host_rate = s->opts.host_rate;
    rq.fingerprint = hiss_model_fingerprint(m);
    strcpy(rq.path, m->path);
    hs_reply rep;
    int fd = -1;
    if (hs_send_all(c->sock, &rq, sizeof rq) != 0 || recv_reply(c->sock, &rep, &fd) != 0) {
        sc_destroy(s);
        SC_FAIL("backend server: %s did not answer", path);
    }
    rep.msg[sizeof rep.msg - 1] = 0;
    if (rep.magic != HS_MAGIC || rep.version != HS_VERSION) {
        if (fd >= 0)
            close(fd);
        sc_destroy(s);
        SC_FAIL("backend server: %s speaks another protocol version", path);
    }
    if (rep.status != HISS_OK || fd < 0) {
        if (fd >= 0)
            close(fd);
        hiss_status st = rep.status != HISS_OK ? (hiss_status)rep.status : HISS_ERR_BACKEND;
        hiss_seterr(err, st, "backend server: %s", rep.msg[0] ? rep.msg : "the server refused the stream");
        sc_destroy(s);
        return st;
    }
    hs_shm probe;
    hs_layout(&probe, rq.n_streams, (uint32_t)m->cfg.n_cond, rep.ring);
    void *map = probe.size == rep.shm_size
                    ? mmap(NULL, (size_t)rep.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                    : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) {
        sc_destroy(s);
        SC_FAIL("backend server: cannot map the region %s sent", path);
    }
    c->h = map;
    if (c->h->magic != HS_MAGIC || c->h->size != probe.size || c->h->off_out != probe.off_out) {
        sc_destroy(s);
        SC_FAIL("backend server: the region %s sent has another layout", path);
    }
    c->K = rq.n_streams;
    c->nc = (uint32_t)m->cfg.n_cond;
    c->ring = rep.ring;
    return HISS_OK;
}

static double sc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

/* HISS_SYNC_DEADLINE only: sleep in short steps until the server has finished every position
 * below `done_min` and has a chunk record free, until it is gone, or until the deadline. */
static void sc_wait(sc_impl *c, uint64_t done_min, double until)
{
    hs_shm *h = c->h;
    for (;;) {
        const uint64_t done = atomic_load_explicit(&h->done_pos, memory_order_acquire);
        const uint64_t cr = atomic_load_explicit(&h->chunk_r, memory_order_acquire);
        if ((done >= done_min && c->cw - cr < h->chunks) || c->gone || atomic_load_explicit(&h->closed, memory_order_relaxed))
            return;
        char b;
        const ssize_t r = recv(c->sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            c->gone = 1; /* killed, or it hung up: no result will come */
            return;
        }
        if (sc_now_us() >= until)
            return;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
}

static hiss_status sc_process(hiss_stream *s, const float *const *in, float *const *out, int n)
{
    sc_impl *c = s->impl;
    hs_shm *h = c->h;
    const int64_t D = s->opts.max_block;
    const double until = c->wait_us > 0.0 ? sc_now_us() + c->wait_us : 0.0;
    if (c->wait_us > 0.0) /* room in the ring for this call's frames */
        sc_wait(c, c->p + (uint64_t)n > c->ring ? c->p + (uint64_t)n - c->ring : 0, until);
    const uint64_t done0 = atomic_load_explicit(&h->done_pos, memory_order_acquire);
    const uint64_t cr = atomic_load_explicit(&h->chunk_r, memory_order_acquire);
    const int open = !atomic_load_explicit(&h->closed, memory_order_relaxed);
    if (open && c->p + (uint64_t)n - done0 <= c->ring && c->cw - cr < h->chunks) {
        float *rin = hs_in(h);
        for (uint32_t k = 0; k < c->K; k++)
            hs_ring_write(rin + (size_t)k * c->ring, c->ring, c->p, in[k], n);
        const uint32_t slot = (uint32_t)(c->cw % h->chunks);
        hs_chunk *ch = &hs_chunks(h)[slot];
        ch->start = c->p;
        ch->n = (uint32_t)n;
        if (c->nc)
            memcpy(hs_cond(h) + (size_t)slot * c->K * c->nc, s->cond, (size_t)c->K * c->nc * sizeof(float));
        c->cw++;
        c->p += (uint64_t)n;
        atomic_store_explicit(&h->chunk_w, c->cw, memory_order_release);
    } else {
        /* The server has stalled for a whole ring: these frames never reach it. From here on
         * the caller's frames map onto the server's positions shifted by what was dropped. */
        c->off += n;
        c->valid_from = c->p;
        c->misses++;
    }
    /* Output frames t .. t+n-1 are the results of the caller's frames D earlier. */
    if (c->wait_us > 0.0) {
        const int64_t last = (int64_t)c->t + n - 1 - D - c->off; /* server position of the last */
        if (last >= 0 && last >= (int64_t)c->valid_from)
            sc_wait(c, (uint64_t)last + 1u, until);
    }
    const uint64_t done = atomic_load_explicit(&h->done_pos, memory_order_acquire);
    const float *rout = hs_out(h);
    int missed = 0;
    for (int i = 0; i < n; i++) {
        const int64_t q = (int64_t)c->t + i - D;
        const int64_t sp = q - c->off;
        int ok = q >= 0 && sp >= (int64_t)c->valid_from;
        if (ok && (uint64_t)sp >= done) {
            ok = 0;
            missed = 1;
        }
        for (uint32_t k = 0; k < c->K; k++)
            out[k][i] = ok && (uint64_t)sp >= c->reset_at[k]
                            ? rout[(size_t)k * c->ring + ((uint64_t)sp & (c->ring - 1u))]
                            : 0.0f;
    }
    c->misses += (uint64_t)missed;
    c->t += (uint64_t)n;
    const _Atomic uint64_t *resets = hs_resets(h);
    for (uint32_t k = 0; k < c->K; k++)
        s->counters[k].state_resets = atomic_load_explicit(&resets[k], memory_order_relaxed);
    return HISS_OK;
}

/* Takes effect from the next frame submitted, as on the other backends; the outputs still in
 * flight (the last max_block frames' results, computed before the reset) are dropped too, so
 * that a reset stream starts from silence. */
static void sc_reset(hiss_stream *s, int k)
{
    sc_impl *c = s->impl;
    c->reset_at[k] = c->p;
    atomic_store_explicit(&hs_reset_pos(c->h)[k], c->p, memory_order_relaxed);
    atomic_store_explicit(&hs_reset_seq(c->h)[k], ++c->seq[k], memory_order_release);
}

/* Snapshots ask the server: wait (bounded) until it has run every frame submitted, then one
 * request on the socket. Not real-time on this backend. */
static int sc_settled(sc_impl *c)
{
    for (int i = 0; i < 20000; i++) {
        if (atomic_load_explicit(&c->h->done_pos, memory_order_acquire) >= c->p)
            return 1;
        if (atomic_load_explicit(&c->h->closed, memory_order_relaxed))
            return 0;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void sc_get_state(const hiss_stream *s, int k, float *dst)
{
    sc_impl *c = s->impl;
    const size_t nf = s->state_floats;
    hs_op op = {HS_OP_GET_STATE, (uint32_t)k, 0};
    hs_op_reply r;
    if (!sc_settled(c) || hs_send_all(c->sock, &op, sizeof op) != 0 || hs_recv_all(c->sock, &r, sizeof r) != 0 ||
        r.status != HISS_OK || r.n_floats != nf || hs_recv_all(c->sock, dst, nf * sizeof(float)) != 0)
        memset(dst, 0, nf * sizeof(float));
}

static void sc_set_state(hiss_stream *s, int k, const float *src)
{
    sc_impl *c = s->impl;
    const size_t nf = s->state_floats;
    hs_op op = {HS_OP_SET_STATE, (uint32_t)k, nf};
    hs_op_reply r;
    if (!sc_settled(c) || hs_send_all(c->sock, &op, sizeof op) != 0 ||
        hs_send_all(c->sock, src, nf * sizeof(float)) != 0 || hs_recv_all(c->sock, &r, sizeof r) != 0 ||
        r.status != HISS_OK)
        sc_reset(s, k); /* a state that did not arrive: start from zero rather than from a stale one */
}

static int sc_latency(const hiss_stream *s)
{
    return s->opts.max_block;
}

/* Output is max_block frames late in every mode (the latency a host was told never moves).
 * PIPELINED never waits; DEADLINE waits up to deadline_us a call for that output (an export);
 * WAIT, an unbounded wait on another process, is not offered. Two stores, so a plugin may switch
 * from its audio thread when the host starts or stops freewheeling. */
static hiss_status sc_set_sync(hiss_stream *s, hiss_sync_mode mode, double deadline_us)
{
    sc_impl *c = s->impl;
    if (mode == HISS_SYNC_PIPELINED) {
        c->wait_us = 0.0;
        return HISS_OK;
    }
    if (mode != HISS_SYNC_DEADLINE || !(deadline_us > 0.0) || deadline_us > 60e6)
        return HISS_ERR_BACKEND;
    c->wait_us = deadline_us;
    return HISS_OK;
}

static uint64_t sc_misses(const hiss_stream *s)
{
    const sc_impl *c = s->impl;
    return c->misses;
}

const hiss_backend_ops hiss_server_backend = {
    .name = "server",
    .create = sc_create,
    .destroy = sc_destroy,
    .process = sc_process,
    .reset = sc_reset,
    .get_state = sc_get_state,
    .set_state = sc_set_state,
    .latency = sc_latency,
    .set_sync = sc_set_sync,
    .deadline_misses = sc_misses,
    .process_active = NULL,
};
