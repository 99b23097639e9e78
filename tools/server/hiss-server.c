/* hiss-server: runs the streams of its clients (plugin instances, hosts, tools: any stream
 * created on HISS_BACKEND_SERVER) in one process, batching every client of one model into shared
 * launches on the CPU or the GPU. This file is the control side: the socket, the requests, the
 * shared regions, the clients coming and going. group.c does the audio. See docs/server.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend.h"
#include "model.h"
#include "opts.h"
#include "server.h"

typedef struct hsv_server {
    hsv_config cfg;
    int listen_fd, sig_fd;
    hsv_member **members;
    int n_members, max_members;
    hsv_group **groups;
    int n_groups;
    unsigned long long regions; /* names shared regions uniquely */
} hsv_server;

static const char *usage =
    "usage: hiss-server [options]\n"
    "Runs the streams of hiss clients (the LV2 plugins, hiss-host, hiss-bench --server, any stream on\n"
    "backend \"server\"), batching every client of one model into shared launches.\n"
    "  --socket PATH     listen here (default: $XDG_RUNTIME_DIR/hiss-server.sock)\n"
    "  --backend B       cpu, cuda or auto (default auto: cuda when a GPU is present)\n"
    "  --slots N         streams per model group (default 1024)\n"
    "  --block N         the most frames one launch advances (default 1024)\n"
    "  --gather-us US    the most a launch waits for a group's other clients (default 1000; never\n"
    "                    more than 0.4 of the shortest block period among them)\n"
    "  --poll-us US      sleep between looks at the clients while idle (default 50)\n"
    "  --batch-min N     this many streams waiting start a launch at once (default 256)\n"
    "  -q, --quiet       say nothing but errors\n"
    "  -h, --help\n";

static void reply(int sock, hiss_status st, const char *msg, uint32_t ring, uint64_t size, const char *backend,
                  int shm_fd)
{
    hs_reply r;
    memset(&r, 0, sizeof r);
    r.magic = HS_MAGIC;
    r.version = HS_VERSION;
    r.status = (int32_t)st;
    r.ring = ring;
    r.shm_size = size;
    snprintf(r.backend, sizeof r.backend, "%s", backend ? backend : "");
    snprintf(r.msg, sizeof r.msg, "%s", msg ? msg : "");
    struct iovec iov = {&r, sizeof r};
    struct msghdr mh = {0};
    char ctl[CMSG_SPACE(sizeof(int))];
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (shm_fd >= 0) {
        memset(ctl, 0, sizeof ctl);
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof ctl;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &shm_fd, sizeof(int));
    }
    ssize_t w;
    do
        w = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
}

static void free_member(hsv_member *m)
{
    if (m->h) {
        atomic_store_explicit(&m->h->closed, 1u, memory_order_release);
        munmap(m->h, m->h->size);
    }
    if (m->sock >= 0)
        close(m->sock);
    free(m->seen);
    free(m);
}

static void print_group(const hsv_server *sv, const hsv_group *g)
{
    if (sv->cfg.quiet || !g->stats.launches)
        return;
    const hiss_model *m = g->model;
    fprintf(stderr, "hiss-server: %s: %llu launches, %llu frames, %.1f streams a launch on average, %llu at most\n",
            m->path ? m->path : "?", (unsigned long long)g->stats.launches, (unsigned long long)g->stats.frames,
            (double)g->stats.stream_frames / (double)(g->stats.frames ? g->stats.frames : 1),
            (unsigned long long)g->stats.max_batch);
}

static void drop_group(hsv_server *sv, hsv_group *g)
{
    print_group(sv, g);
    hsv_group_free(g);
    for (int i = 0; i < sv->n_groups; i++)
        if (sv->groups[i] == g) {
            sv->groups[i] = sv->groups[--sv->n_groups];
            break;
        }
}

static void remove_member(hsv_server *sv, int idx)
{
    hsv_member *m = sv->members[idx];
    hsv_group *g = m->g;
    if (g) {
        pthread_mutex_lock(&g->lock);
        hsv_group_remove(g, m);
        pthread_mutex_unlock(&g->lock);
        if (g->n_members == 0)
            drop_group(sv, g);
    }
    free_member(m);
    sv->members[idx] = sv->members[--sv->n_members];
}

/* The group for a request: one that runs the same weights at the same rate and has room, or a
 * new one with the model loaded here and checked to be the client's. */
static hsv_group *group_for(hsv_server *sv, const hs_request *rq, hiss_status *st, char *err, size_t n)
{
    for (int i = 0; i < sv->n_groups; i++)
        if (hsv_group_fits(sv->groups[i], rq->fingerprint, rq->host_rate, (int)rq->rate_mode,
                           (int)rq->n_streams))
            return sv->groups[i];
    if (sv->n_groups >= 4096) {
        *st = HISS_ERR_BACKEND;
        snprintf(err, n, "hiss-server: too many groups");
        return NULL;
    }
    hiss_model *model = NULL;
    hiss_error e = {0};
    if (hiss_model_load(rq->path, &model, &e) != HISS_OK) {
        *st = e.status;
        snprintf(err, n, "hiss-server: %.1000s", e.msg);
        return NULL;
    }
    if (hiss_model_fingerprint(model) != rq->fingerprint) {
        hiss_model_free(model);
        *st = HISS_ERR_MODEL;
        snprintf(err, n, "hiss-server: %.900s holds other weights than the client's copy (changed since it was loaded?)",
                 rq->path);
        return NULL;
    }
    if (hiss_model_config(model)->io != HISS_IO_FX) {
        hiss_model_free(model);
        *st = HISS_ERR_MODEL;
        snprintf(err, n, "hiss-server: %.900s is not an effect model", rq->path);
        return NULL;
    }
    hsv_group *g = hsv_group_create(&sv->cfg, model, rq, err, n);
    if (!g) {
        *st = HISS_ERR_BACKEND;
        return NULL;
    }
    hsv_group **grown = realloc(sv->groups, (size_t)(sv->n_groups + 1) * sizeof *grown);
    if (!grown) {
        hsv_group_free(g);
        *st = HISS_ERR_NOMEM;
        snprintf(err, n, "hiss-server: out of memory");
        return NULL;
    }
    sv->groups = grown;
    sv->groups[sv->n_groups++] = g;
    return g;
}

/* A shared region for m, its descriptor (the caller sends and closes it), or -1. */
static int make_region(hsv_server *sv, hsv_member *m)
{
    char name[96];
    snprintf(name, sizeof name, "/hiss-server-%d-%llu", (int)getpid(), sv->regions++);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    shm_unlink(name);
    hs_shm layout;
    hs_layout(&layout, m->K, m->nc, m->ring);
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)layout.size) == 0)
        p = mmap(NULL, (size_t)layout.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return -1;
    }
    m->h = p;
    memcpy(m->h, &layout, offsetof(hs_shm, chunk_w)); /* the counters start at 0 */
    return fd;
}

static void accept_client(hsv_server *sv)
{
    int sock = accept4(sv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (sock < 0)
        return;
    struct timeval tv = {2, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    hs_request rq;
    if (hs_recv_all(sock, &rq, sizeof rq) != 0) {
        close(sock);
        return;
    }
    rq.path[HS_PATH_MAX - 1] = 0;
    char err[HISS_ERROR_LEN] = "";
    hiss_status st = HISS_ERR_ARG;
    if (rq.magic != HS_MAGIC || rq.version != HS_VERSION) {
        snprintf(err, sizeof err, "hiss-server: protocol version %u, this server speaks %u", rq.version, HS_VERSION);
        reply(sock, st, err, 0, 0, NULL, -1);
        close(sock);
        return;
    }
    if (rq.n_streams < 1 || rq.n_streams > HS_MAX_STREAMS || rq.max_block < 1 || rq.max_block > 65536 ||
        !(rq.host_rate >= 1000.0 && rq.host_rate <= 1536000.0) || rq.rate_mode > HISS_RATE_RESAMPLE) {
        snprintf(err, sizeof err, "hiss-server: bad request (streams %u, max_block %u, rate %g)", rq.n_streams,
                 rq.max_block, rq.host_rate);
        reply(sock, st, err, 0, 0, NULL, -1);
        close(sock);
        return;
    }
    hsv_member *m = calloc(1, sizeof *m);
    hsv_member **grown = realloc(sv->members, (size_t)(sv->n_members + 1) * sizeof *grown);
    if (grown)
        sv->members = grown;
    if (!m || !grown || !(m->seen = calloc(rq.n_streams, sizeof *m->seen))) {
        reply(sock, HISS_ERR_NOMEM, "hiss-server: out of memory", 0, 0, NULL, -1);
        close(sock);
        if (m)
            free(m);
        return;
    }
    m->sock = sock;
    m->K = rq.n_streams;
    m->ring = hs_ring_for(rq.max_block);
    m->period_s = (double)rq.max_block / rq.host_rate;
    hsv_group *g = group_for(sv, &rq, &st, err, sizeof err);
    int fd = -1;
    if (g) {
        m->nc = (uint32_t)hiss_model_config(g->model)->n_cond;
        fd = make_region(sv, m);
        if (fd < 0) {
            st = HISS_ERR_NOMEM;
            snprintf(err, sizeof err, "hiss-server: cannot make a shared region: %s", strerror(errno));
        } else {
            pthread_mutex_lock(&g->lock);
            const int placed = hsv_group_add(g, m);
            pthread_mutex_unlock(&g->lock);
            if (placed != 0) {
                st = HISS_ERR_BACKEND;
                snprintf(err, sizeof err, "hiss-server: no room for %u streams", m->K);
                close(fd);
                fd = -1;
            }
        }
        if (fd < 0 && g->n_members == 0)
            drop_group(sv, g);
    }
    if (fd < 0) {
        reply(sock, st, err, 0, 0, NULL, -1);
        m->sock = -1;
        close(sock);
        free_member(m);
        return;
    }
    reply(sock, HISS_OK, "", m->ring, m->h->size, hiss_backend_name(hiss_stream_backend(g->stream)), fd);
    close(fd);
    /* From here the socket carries only the short state operations. */
    sv->members[sv->n_members++] = m;
    if (!sv->cfg.quiet)
        fprintf(stderr, "hiss-server: pid %u: %u stream(s) of %s at %g Hz, %u frames of latency\n", rq.pid, m->K,
                rq.path, rq.host_rate, rq.max_block);
}

/* A state operation, or the client gone; 0 to keep the member, -1 to remove it. */
static int serve_op(hsv_server *sv, hsv_member *m)
{
    (void)sv;
    hs_op op;
    if (hs_recv_all(m->sock, &op, sizeof op) != 0 || !m->g)
        return -1;
    hsv_group *g = m->g;
    const size_t nf = hiss_stream_state_floats(g->stream);
    hs_op_reply r = {HISS_OK, 0, 0};
    if (op.k >= m->K || (op.op != HS_OP_GET_STATE && op.op != HS_OP_SET_STATE) ||
        (op.op == HS_OP_SET_STATE && op.n_floats != nf))
        return -1;
    float *buf = malloc(nf * sizeof(float));
    if (!buf)
        return -1;
    const int gi = m->base + (int)op.k;
    int rc = 0;
    if (op.op == HS_OP_GET_STATE) {
        pthread_mutex_lock(&g->lock);
        hsv_group_apply_resets(g, m);
        hiss_stream_get_state(g->stream, gi, buf);
        pthread_mutex_unlock(&g->lock);
        r.n_floats = nf;
        rc = hs_send_all(m->sock, &r, sizeof r) || hs_send_all(m->sock, buf, nf * sizeof(float)) ? -1 : 0;
    } else {
        rc = hs_recv_all(m->sock, buf, nf * sizeof(float));
        for (size_t i = 0; rc == 0 && i < nf; i++)
            if (!isfinite(buf[i]))
                r.status = HISS_ERR_STATE;
        if (rc == 0 && r.status == HISS_OK) {
            pthread_mutex_lock(&g->lock);
            hsv_group_apply_resets(g, m);
            hiss_stream_set_state(g->stream, gi, buf);
            pthread_mutex_unlock(&g->lock);
        }
        if (rc == 0)
            rc = hs_send_all(m->sock, &r, sizeof r);
    }
    free(buf);
    return rc;
}

static int listen_on(const char *path)
{
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "hiss-server: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        fprintf(stderr, "hiss-server: a server already listens on %s\n", path);
        close(fd);
        return -1;
    }
    close(fd);
    unlink(path); /* a socket left by a server that died */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const mode_t old = umask(077); /* only this user's processes may connect */
    const int ok = fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(fd, 64) == 0;
    umask(old);
    if (!ok) {
        fprintf(stderr, "hiss-server: cannot listen on %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int parse_args(int argc, char **argv, hsv_config *cfg, char *sock_buf, size_t sock_len)
{
    hiss_argv a = {argc, argv, 1};
    const char *p = "hiss-server";
    while (a.i < argc) {
        const char *v;
        int r;
        long l;
        double d;
        if ((r = hiss_opt_checked(&a, p, NULL, "socket", &v)) != 0) {
            if (r < 0)
                return 2;
            cfg->socket_path = v;
        } else if ((r = hiss_opt_checked(&a, p, NULL, "backend", &v)) != 0) {
            if (r < 0)
                return 2;
            if (!strcmp(v, "cpu"))
                cfg->backend = HISS_BACKEND_CPU;
            else if (!strcmp(v, "cuda"))
                cfg->backend = HISS_BACKEND_CUDA;
            else if (!strcmp(v, "auto"))
                cfg->backend = HISS_BACKEND_AUTO;
            else
                return hiss_usage_error(p, "--backend: \"%s\" is not cpu, cuda or auto%s", v, "");
        } else if ((r = hiss_opt_checked(&a, p, NULL, "slots", &v)) != 0) {
            if (r < 0 || hiss_parse_long(v, 1, 1048576, &l) != 0)
                return r < 0 ? 2 : hiss_usage_error(p, "--slots: \"%s\" is not 1 to 1048576%s", v, "");
            cfg->slots = (int)l;
        } else if ((r = hiss_opt_checked(&a, p, NULL, "block", &v)) != 0) {
            if (r < 0 || hiss_parse_long(v, 16, 65536, &l) != 0)
                return r < 0 ? 2 : hiss_usage_error(p, "--block: \"%s\" is not 16 to 65536%s", v, "");
            cfg->block = (int)l;
        } else if ((r = hiss_opt_checked(&a, p, NULL, "gather-us", &v)) != 0) {
            if (r < 0 || hiss_parse_double(v, &d) != 0 || d < 0 || d > 1e6)
                return r < 0 ? 2 : hiss_usage_error(p, "--gather-us: \"%s\" is not 0 to 1000000%s", v, "");
            cfg->gather_s = d * 1e-6;
        } else if ((r = hiss_opt_checked(&a, p, NULL, "batch-min", &v)) != 0) {
            if (r < 0 || hiss_parse_long(v, 1, 1048576, &l) != 0)
                return r < 0 ? 2 : hiss_usage_error(p, "--batch-min: \"%s\" is not 1 to 1048576%s", v, "");
            cfg->batch_min = (int)l;
        } else if ((r = hiss_opt_checked(&a, p, NULL, "poll-us", &v)) != 0) {
            if (r < 0 || hiss_parse_double(v, &d) != 0 || d < 1 || d > 1e5)
                return r < 0 ? 2 : hiss_usage_error(p, "--poll-us: \"%s\" is not 1 to 100000%s", v, "");
            cfg->poll_s = d * 1e-6;
        } else if ((r = hiss_opt_checked(&a, p, "q", "quiet", NULL)) != 0) {
            if (r < 0)
                return 2;
            cfg->quiet = 1;
        } else if ((r = hiss_opt_checked(&a, p, "h", "help", NULL)) != 0) {
            fputs(usage, stdout);
            return r < 0 ? 2 : 1;
        } else {
            return hiss_usage_error(p, "unknown argument \"%s\"%s", argv[a.i], "");
        }
    }
    if (!cfg->socket_path)
        cfg->socket_path = hiss_server_default_path(sock_buf, sock_len);
    if (cfg->backend == HISS_BACKEND_CUDA && !hiss_backend_available(HISS_BACKEND_CUDA)) {
        fprintf(stderr, "hiss-server: --backend cuda: %s\n",
#ifdef HISS_HAVE_CUDA
                "no CUDA device is present"
#else
                "this build of hiss has no CUDA backend"
#endif
        );
        return 2;
    }
    if (cfg->backend == HISS_BACKEND_AUTO)
        cfg->backend = hiss_backend_available(HISS_BACKEND_CUDA) ? HISS_BACKEND_CUDA : HISS_BACKEND_CPU;
    return 0;
}

/* Runs only in a thread that did not block the stop signals: one started before main (by a
 * preloaded tool such as compute-sanitizer), which would otherwise take a signal sent to the
 * process with its default action and end it without its clean-up. Hands the signal on to the
 * main thread (its thread id is the process id), where it waits blocked for the signalfd. */
static void forward_to_main(int sig)
{
    const int saved = errno;
    syscall(SYS_tgkill, getpid(), getpid(), sig);
    errno = saved;
}

int main(int argc, char **argv)
{
    hsv_server sv;
    memset(&sv, 0, sizeof sv);
    char sock_buf[108];
    /* Signals arrive through a descriptor in the poll set, in this thread only. Blocked before
     * anything else runs: threads inherit the mask, the CUDA runtime's own threads included,
     * and a signal taken by one of those would end the process without its clean-up. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct sigaction fwd;
    memset(&fwd, 0, sizeof fwd);
    fwd.sa_handler = forward_to_main;
    fwd.sa_flags = SA_RESTART;
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &fwd, NULL);
    sigaction(SIGTERM, &fwd, NULL);
    sigaction(SIGHUP, &fwd, NULL);
    sv.cfg.backend = HISS_BACKEND_AUTO;
    sv.cfg.slots = 1024;
    sv.cfg.block = 1024;
    sv.cfg.gather_s = 1e-3;
    sv.cfg.poll_s = 50e-6;
    sv.cfg.batch_min = 256;
    int rc = parse_args(argc, argv, &sv.cfg, sock_buf, sizeof sock_buf);
    if (rc)
        return rc == 1 ? 0 : rc;
    /* The group threads sleep tens of microseconds at a time: ask for that resolution. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

    sv.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
    sv.listen_fd = listen_on(sv.cfg.socket_path);
    if (sv.sig_fd < 0 || sv.listen_fd < 0)
        return 1;
    if (!sv.cfg.quiet)
        fprintf(stderr, "hiss-server: listening on %s (backend %s, %d streams a group, launches of up to %d frames)\n",
                sv.cfg.socket_path, hiss_backend_name(sv.cfg.backend), sv.cfg.slots, sv.cfg.block);

    int quit = 0;
    struct pollfd *pf = NULL;
    while (!quit) {
        struct pollfd *grown = realloc(pf, (size_t)(sv.n_members + 2) * sizeof *pf);
        if (!grown)
            break;
        pf = grown;
        pf[0] = (struct pollfd){sv.listen_fd, POLLIN, 0};
        pf[1] = (struct pollfd){sv.sig_fd, POLLIN, 0};
        for (int i = 0; i < sv.n_members; i++)
            pf[2 + i] = (struct pollfd){sv.members[i]->sock, POLLIN, 0};
        const int nfds = sv.n_members + 2;
        if (poll(pf, (nfds_t)nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            quit = 1;
        /* back to front: removing swaps the last member into the hole */
        for (int i = nfds - 1; i >= 2; i--)
            if (pf[i].revents && serve_op(&sv, sv.members[i - 2]) != 0) {
                if (!sv.cfg.quiet)
                    fprintf(stderr, "hiss-server: a client of %u stream(s) left\n", sv.members[i - 2]->K);
                remove_member(&sv, i - 2);
            }
        if (pf[0].revents & POLLIN)
            accept_client(&sv);
    }
    free(pf);
    while (sv.n_members)
        remove_member(&sv, sv.n_members - 1);
    while (sv.n_groups)
        drop_group(&sv, sv.groups[sv.n_groups - 1]);
    free(sv.members);
    free(sv.groups);
    close(sv.listen_fd);
    unlink(sv.cfg.socket_path);
    if (!sv.cfg.quiet)
        fprintf(stderr, "hiss-server: stopped\n");
    return 0;
}
