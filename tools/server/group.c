/* A group: the streams of every client that runs one model at one rate, in one stream object,
 * and the thread that advances them. Each launch takes the members that have input waiting (the
 * others keep their state: hiss_stream_process_active) for as many frames as all of them have
 * in their current chunk, so a client's conditioning changes exactly where it changed it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "server.h"

double hsv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {0, (long)(s * 1e9)};
    nanosleep(&ts, NULL);
}

void hsv_group_apply_resets(hsv_group *g, hsv_member *m)
{
    _Atomic uint32_t *seq = hs_reset_seq(m->h);
    _Atomic uint64_t *at = hs_reset_pos(m->h);
    for (uint32_t k = 0; k < m->K; k++) {
        const uint32_t want = atomic_load_explicit(&seq[k], memory_order_acquire);
        if (want != m->seen[k] && atomic_load_explicit(&at[k], memory_order_relaxed) <= m->pos) {
            hiss_stream_reset(g->stream, m->base + (int)k);
            m->seen[k] = want;
        }
    }
}

/* Frames left in m's current chunk (0: nothing waiting). A chunk that does not continue where
 * the last one ended breaks the protocol: the member is ignored from then on. */
static uint32_t waiting(hsv_member *m, uint64_t cw)
{
    if (m->broken || m->cr >= cw)
        return 0;
    if (cw - m->cr > m->h->chunks) {
        m->broken = 1;
        return 0;
    }
    const hs_chunk ch = hs_chunks(m->h)[m->cr % m->h->chunks];
    if (ch.start > m->pos || ch.n == 0 || ch.n > m->ring || ch.start + ch.n <= m->pos) {
        m->broken = 1;
        return 0;
    }
    return (uint32_t)(ch.start + ch.n - m->pos);
}

/* One launch over the members with input waiting; 0 when there was nothing to do. */
static int launch(hsv_group *g, double *pending_since)
{
    const double now = hsv_now();
    uint32_t n = (uint32_t)g->block;
    int ready = 0, lagging = 0, ready_streams = 0;
    double gather = g->cfg->gather_s;
    for (int i = 0; i < g->n_members; i++) {
        hsv_member *m = g->members[i];
        const uint64_t cw = atomic_load_explicit(&m->h->chunk_w, memory_order_acquire);
        if (cw != m->last_cw) {
            m->last_cw = cw;
            m->last_seen = now;
        }
        const uint32_t w = waiting(m, cw);
        /* what waiting for others costs comes out of this member's block period */
        if (w && 0.4 * m->period_s < gather)
            gather = 0.4 * m->period_s;
        if (w) {
            ready++;
            ready_streams += (int)m->K;
            if (w < n)
                n = w;
        } else if (!m->broken && now - m->last_seen < 0.05) {
            lagging++; /* submits regularly, not yet this time */
        }
    }
    if (!ready) {
        *pending_since = 0.0;
        return 0;
    }
    if (*pending_since == 0.0)
        *pending_since = now;
    /* Clients of one host submit one after another within its cycle: wait a little for the rest
     * of them, so that they share this launch. Once a launch's worth is waiting, waiting longer
     * only delays it: the device runs it while the rest come in. */
    if (lagging && ready_streams < g->cfg->batch_min && now - *pending_since < gather)
        return 0;
    *pending_since = 0.0;

    const uint32_t nc = (uint32_t)hiss_model_config(g->model)->n_cond;
    for (int i = 0; i < g->n_members; i++) {
        hsv_member *m = g->members[i];
        if (!waiting(m, m->last_cw))
            continue;
        hsv_group_apply_resets(g, m);
        const uint32_t slot = (uint32_t)(m->cr % m->h->chunks);
        const float *cond = hs_cond(m->h) + (size_t)slot * m->K * m->nc;
        for (uint32_t k = 0; k < m->K; k++) {
            const int gi = m->base + (int)k;
            for (uint32_t j = 0; j < nc; j++)
                hiss_stream_set_cond(g->stream, gi, (int)j, cond[k * nc + j]);
            hs_ring_read(g->in[gi], hs_in(m->h) + (size_t)k * m->ring, m->ring, m->pos, (int)n);
            g->active[gi] = 1;
        }
    }
    hiss_status st = hiss_stream_process_active(g->stream, g->active, (const float *const *)g->in, g->out, (int)n);
    uint64_t batch = 0;
    for (int i = 0; i < g->n_members; i++) {
        hsv_member *m = g->members[i];
        if (!g->active[m->base])
            continue;
        _Atomic uint64_t *resets = hs_resets(m->h);
        for (uint32_t k = 0; k < m->K; k++) {
            const int gi = m->base + (int)k;
            if (st != HISS_OK)
                memset(g->out[gi], 0, n * sizeof(float));
            hs_ring_write(hs_out(m->h) + (size_t)k * m->ring, m->ring, m->pos, g->out[gi], (int)n);
            atomic_store_explicit(&resets[k], hiss_stream_counters(g->stream, gi).state_resets,
                                  memory_order_relaxed);
            g->active[gi] = 0;
        }
        batch += m->K;
        m->pos += n;
        const hs_chunk ch = hs_chunks(m->h)[m->cr % m->h->chunks];
        if (m->pos == ch.start + ch.n) {
            m->cr++;
            atomic_store_explicit(&m->h->chunk_r, m->cr, memory_order_release);
        }
        atomic_store_explicit(&m->h->done_pos, m->pos, memory_order_release);
    }
    g->stats.launches++;
    g->stats.frames += n;
    g->stats.stream_frames += batch * n;
    if (batch > g->stats.max_batch)
        g->stats.max_batch = batch;
    return 1;
}

static void *group_main(void *arg)
{
    hsv_group *g = arg;
    double pending_since = 0.0;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        const int quit = g->quit;
        const int did = quit ? 0 : launch(g, &pending_since);
        pthread_mutex_unlock(&g->lock);
        if (quit)
            break;
        if (!did)
            sleep_s(pending_since > 0.0 ? g->cfg->poll_s * 0.25 : g->cfg->poll_s);
    }
    return NULL;
}

void hsv_group_free(hsv_group *g)
{
    if (!g)
        return;
    if (g->running) {
        pthread_mutex_lock(&g->lock);
        g->quit = 1;
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
        pthread_mutex_destroy(&g->lock);
    }
    hiss_stream_free(g->stream);
    hiss_model_free(g->model);
    free(g->used);
    free(g->active);
    free(g->in);
    free(g->out);
    free(g->stage);
    free(g->members);
    free(g);
}

hsv_group *hsv_group_create(const hsv_config *cfg, hiss_model *model, const hs_request *rq, char *err,
                            size_t err_len)
{
    hsv_group *g = calloc(1, sizeof *g);
    if (!g) {
        hiss_model_free(model);
        snprintf(err, err_len, "hiss-server: out of memory");
        return NULL;
    }
    g->model = model;
    g->fingerprint = rq->fingerprint;
    g->host_rate = rq->host_rate;
    g->rate_mode = (int)rq->rate_mode;
    g->cfg = cfg;
    g->cap = cfg->slots > (int)rq->n_streams ? cfg->slots : (int)rq->n_streams;
    g->block = cfg->block;
    const size_t cap = (size_t)g->cap;
    g->used = calloc(cap, 1);
    g->active = calloc(cap, 1);
    g->in = calloc(cap, sizeof *g->in);
    g->out = calloc(cap, sizeof *g->out);
    g->stage = calloc(2 * cap * (size_t)g->block, sizeof(float));
    g->members = calloc(cap, sizeof *g->members);
    if (!g->used || !g->active || !g->in || !g->out || !g->stage || !g->members) {
        hsv_group_free(g);
        snprintf(err, err_len, "hiss-server: out of memory for %d streams", (int)cap);
        return NULL;
    }
    for (size_t k = 0; k < cap; k++) {
        g->in[k] = g->stage + k * (size_t)g->block;
        g->out[k] = g->stage + (cap + k) * (size_t)g->block;
    }
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = g->cap;
    o.max_block = g->block;
    o.host_rate = rq->host_rate;
    o.rate_mode = (hiss_rate_mode)rq->rate_mode;
    o.backend = cfg->backend;
    hiss_error e = {0};
    if (hiss_stream_create(model, &o, &g->stream, &e) != HISS_OK) {
        snprintf(err, err_len, "hiss-server: %.1000s", e.msg);
        hsv_group_free(g);
        return NULL;
    }
    if (pthread_mutex_init(&g->lock, NULL) != 0 || pthread_create(&g->thread, NULL, group_main, g) != 0) {
        snprintf(err, err_len, "hiss-server: cannot start a group thread");
        hiss_stream_free(g->stream);
        g->stream = NULL;
        hsv_group_free(g);
        return NULL;
    }
    g->running = 1;
    return g;
}

int hsv_group_fits(const hsv_group *g, uint64_t fingerprint, double host_rate, int rate_mode, int n)
{
    if (g->fingerprint != fingerprint || g->host_rate != host_rate || g->rate_mode != rate_mode)
        return 0;
    int run = 0;
    for (int i = 0; i < g->cap; i++) {
        run = g->used[i] ? 0 : run + 1;
        if (run >= n)
            return 1;
    }
    return 0;
}

int hsv_group_add(hsv_group *g, hsv_member *m)
{
    int run = 0;
    for (int i = 0; i < g->cap; i++) {
        run = g->used[i] ? 0 : run + 1;
        if (run >= (int)m->K) {
            m->base = i + 1 - (int)m->K;
            for (uint32_t k = 0; k < m->K; k++) {
                g->used[m->base + (int)k] = 1;
                hiss_stream_reset(g->stream, m->base + (int)k);
                for (int j = 0; j < (int)m->nc; j++)
                    hiss_stream_set_cond(g->stream, m->base + (int)k, j, 0.0f);
            }
            m->g = g;
            m->last_seen = hsv_now();
            g->members[g->n_members++] = m;
            return 0;
        }
    }
    return -1;
}

void hsv_group_remove(hsv_group *g, hsv_member *m)
{
    for (uint32_t k = 0; k < m->K; k++) {
        g->used[m->base + (int)k] = 0;
        g->active[m->base + (int)k] = 0;
    }
    for (int i = 0; i < g->n_members; i++)
        if (g->members[i] == m) {
            g->members[i] = g->members[--g->n_members];
            break;
        }
    m->g = NULL;
}
