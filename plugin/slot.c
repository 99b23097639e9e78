#include "slot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HP_FADE_SECONDS 0.020

/* Worker messages. LOAD and FAILED carry a NUL-terminated string after the header. */
enum { HP_MSG_LOAD = 1, HP_MSG_FREE, HP_MSG_LOADED, HP_MSG_FAILED };

typedef struct hp_msg {
    uint32_t kind;
    uint32_t from_run; /* LOAD scheduled by run() (its answer ends in_flight), not by restore() */
    hp_inst *inst;
    hp_inst_params params; /* LOAD: what to build the instance with */
} hp_msg;
_Static_assert(sizeof(hp_msg) <= 64, "hp_slot.msgbuf holds a LOAD header of at most 64 bytes");

static void share_params(hp_slot *s, const hp_inst_params *p)
{
    uint32_t t, q;
    memcpy(&t, &p->temperature, sizeof t);
    memcpy(&q, &p->top_p, sizeof q);
    atomic_store_explicit(&s->shared_voices, p->n_voices, memory_order_relaxed);
    atomic_store_explicit(&s->shared_temperature, t, memory_order_relaxed);
    atomic_store_explicit(&s->shared_top_p, q, memory_order_relaxed);
    atomic_store_explicit(&s->shared_seed, p->seed, memory_order_relaxed);
}

static hp_inst_params shared_params(hp_slot *s)
{
    hp_inst_params p;
    uint32_t t = atomic_load_explicit(&s->shared_temperature, memory_order_relaxed);
    uint32_t q = atomic_load_explicit(&s->shared_top_p, memory_order_relaxed);
    p.n_voices = atomic_load_explicit(&s->shared_voices, memory_order_relaxed);
    memcpy(&p.temperature, &t, sizeof t);
    memcpy(&p.top_p, &q, sizeof q);
    p.seed = atomic_load_explicit(&s->shared_seed, memory_order_relaxed);
    return p;
}

int hp_slot_init(hp_slot *s, const hp_host *host, const hp_inst_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = *cfg;
    s->pub_mask = HP_PUB_ALL;
    s->fade_frames = (int)lround(HP_FADE_SECONDS * cfg->host_rate);
    if (s->fade_frames < 1)
        s->fade_frames = 1;
    s->fade_delay = cfg->latency;
    share_params(s, &s->want);
    char err[HP_TEXT_MAX];
    s->cur = hp_inst_create(cfg, &s->want, "", err);
    if (!s->cur)
        return -1;
    if (pthread_mutex_init(&s->state_lock, NULL) != 0) {
        hp_inst_free(s->cur);
        return -1;
    }
    s->publish = HP_PUB_ALL;
    return 0;
}

static void free_list(hp_inst *in)
{
    while (in) {
        hp_inst *n = in->next;
        hp_inst_free(in);
        in = n;
    }
}

void hp_slot_destroy(hp_slot *s)
{
    hp_inst_free(s->cur);
    hp_inst_free(s->next);
    hp_inst_free(s->pending);
    free_list(s->trash);
    s->cur = s->next = s->pending = s->trash = NULL;
    pthread_mutex_destroy(&s->state_lock);
}

/* ---- audio thread ------------------------------------------------------------------------ */

void hp_slot_request(hp_slot *s, const char *path, uint32_t len)
{
    while (len > 0 && path[len - 1] == '\0')
        len--;
    /* One byte more than a valid path may have, so the worker sees an over-long path as such
     * and refuses it by name instead of loading a truncated one. */
    if (len > HP_PATH_MAX)
        len = HP_PATH_MAX;
    memcpy(s->req_path, path, len);
    s->req_path[len] = '\0';
    s->dirty = 1;
}

void hp_slot_set_params(hp_slot *s, const hp_inst_params *p)
{
    if (hp_inst_params_equal(p, &s->want))
        return;
    s->want = *p;
    share_params(s, p);
}

static void trash(hp_slot *s, hp_inst *in)
{
    in->next = s->trash;
    s->trash = in;
}

static void flush_trash(hp_slot *s)
{
    LV2_Worker_Schedule *w = s->host->schedule;
    while (s->trash) {
        hp_inst *t = s->trash;
        /* Unlink first: a host that runs the worker at once frees t inside schedule_work. */
        s->trash = t->next;
        t->next = NULL;
        hp_msg m = {HP_MSG_FREE, 0, t, {0, 0.0f, 0.0f, 0}};
        if (w->schedule_work(w->handle, sizeof m, &m) != LV2_WORKER_SUCCESS) {
            t->next = s->trash;
            s->trash = t;
            return; /* the queue is full: try again next cycle */
        }
    }
}

static void start_fade(hp_slot *s)
{
    if (s->next || !s->pending)
        return;
    s->next = s->pending;
    s->pending = NULL;
    s->fade_pos = 0;
    s->swap_at = s->run_pos;
    s->publish |= HP_PUB_MODEL | HP_PUB_STATUS | HP_PUB_KNOBS;
}

/* Build the newest model again when it was built for another build than the one wanted now
 * (hp_inst_same_build: the voice count); not when the same build was the last one asked for
 * (it failed: the file is gone, say). */
static void maybe_rebuild(hp_slot *s)
{
    const hp_inst *n = hp_slot_latest(s);
    if (!n->path[0] || hp_inst_same_build(&n->params, &s->want))
        return;
    if (s->sent_valid && hp_inst_same_build(&s->sent, &s->want) && strcmp(s->req_path, n->path) == 0)
        return;
    memcpy(s->req_path, n->path, strlen(n->path) + 1);
    s->dirty = 1;
}

void hp_slot_begin(hp_slot *s)
{
    /* A fade started between two runs (in work_response) starts at this run's first frame. */
    s->run_pos = 0;
    s->swap_at = 0;
    flush_trash(s);
    if (!s->dirty && !s->in_flight)
        maybe_rebuild(s);
    if (s->dirty && !s->in_flight) {
        hp_msg m = {HP_MSG_LOAD, 1, NULL, s->want};
        size_t n = strlen(s->req_path) + 1;
        memcpy(s->msgbuf, &m, sizeof m);
        memcpy(s->msgbuf + sizeof m, s->req_path, n);
        /* Set before scheduling: a host running the worker at once answers inside the call. */
        s->in_flight = 1;
        s->dirty = 0;
        s->sent = s->want;
        s->sent_valid = 1;
        LV2_Worker_Schedule *w = s->host->schedule;
        if (w->schedule_work(w->handle, (uint32_t)(sizeof m + n), s->msgbuf) != LV2_WORKER_SUCCESS) {
            s->in_flight = 0;
            s->dirty = 1;
        }
    }
    start_fade(s);
}

float hp_slot_fade_gain(const hp_slot *s, int i)
{
    const double pi = 3.14159265358979323846;
    double x = (double)(s->fade_pos + i + 1 - s->fade_delay) / (double)s->fade_frames;
    if (x <= 0.0)
        return 0.0f;
    if (x >= 1.0)
        return 1.0f;
    return (float)(0.5 - 0.5 * cos(pi * x));
}

void hp_slot_advance(hp_slot *s, int n)
{
    s->run_pos += n;
    if (!s->next)
        return;
    s->fade_pos += n;
    if (s->fade_pos < s->fade_delay + s->fade_frames)
        return;
    trash(s, s->cur);
    s->cur = s->next;
    s->next = NULL;
    s->fade_pos = 0;
    flush_trash(s);
    start_fade(s);
}

LV2_Worker_Status hp_slot_work_response(hp_slot *s, uint32_t size, const void *data)
{
    if (size < sizeof(hp_msg))
        return LV2_WORKER_ERR_UNKNOWN;
    hp_msg m;
    memcpy(&m, data, sizeof m);
    if (m.from_run)
        s->in_flight = 0;
    else
        s->sent_valid = 0; /* restore() loaded with parameters of its own: compare afresh */
    if (m.kind == HP_MSG_LOADED && m.inst) {
        if (s->pending)
            trash(s, s->pending); /* superseded before it played */
        s->pending = m.inst;
        /* A model that loaded but cannot play here is an error too (its status says why). */
        if (m.inst->level == HP_ERROR)
            memcpy(s->error, m.inst->status, sizeof s->error);
        else
            s->error[0] = '\0';
        s->publish |= HP_PUB_ERROR;
        start_fade(s);
    } else if (m.kind == HP_MSG_FAILED) {
        size_t n = size - sizeof m;
        if (n >= HP_TEXT_MAX)
            n = HP_TEXT_MAX - 1;
        memcpy(s->error, (const char *)data + sizeof m, n);
        s->error[n] = '\0';
        /* Republish the model too, so a UI that showed the refused path shows the one in use. */
        s->publish |= HP_PUB_ERROR | HP_PUB_MODEL;
    }
    return LV2_WORKER_SUCCESS;
}

/* ---- worker ------------------------------------------------------------------------------ */

static void set_state_path(hp_slot *s, const char *path)
{
    pthread_mutex_lock(&s->state_lock);
    snprintf(s->state_path, sizeof s->state_path, "%s", path);
    pthread_mutex_unlock(&s->state_lock);
}

static void log_loaded(hp_slot *s, const hp_inst *in)
{
    LV2_Log_Logger *lg = (LV2_Log_Logger *)&s->host->logger;
    if (in->level == HP_ERROR)
        lv2_log_error(lg, "hiss: %s\n", in->status);
    else if (in->level == HP_WARNING)
        lv2_log_warning(lg, "hiss: %s\n", in->status);
    else
        lv2_log_note(lg, "hiss: %s\n", in->status);
}

static hp_inst *load(hp_slot *s, const hp_inst_params *params, const char *path, char *err)
{
    hp_inst *in = hp_inst_create(&s->cfg, params, path, err);
    if (!in) {
        lv2_log_error((LV2_Log_Logger *)&s->host->logger, "hiss: model not loaded, keeping the "
                      "previous one: %s\n", err);
        return NULL;
    }
    set_state_path(s, path);
    log_loaded(s, in);
    return in;
}

LV2_Worker_Status hp_slot_work(hp_slot *s, LV2_Worker_Respond_Function respond,
                               LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    if (size < sizeof(hp_msg))
        return LV2_WORKER_ERR_UNKNOWN;
    hp_msg m;
    memcpy(&m, data, sizeof m);
    if (m.kind == HP_MSG_FREE) {
        hp_inst_free(m.inst);
        return LV2_WORKER_SUCCESS;
    }
    if (m.kind != HP_MSG_LOAD)
        return LV2_WORKER_ERR_UNKNOWN;
    char path[HP_PATH_MAX + 1];
    size_t n = size - sizeof m;
    if (n > HP_PATH_MAX)
        n = HP_PATH_MAX;
    memcpy(path, (const char *)data + sizeof m, n);
    path[n] = '\0';
    char reply[sizeof(hp_msg) + HP_TEXT_MAX];
    hp_msg r = {HP_MSG_LOADED, m.from_run, NULL, m.params};
    uint32_t rsize = sizeof r;
    r.inst = load(s, &m.params, path, reply + sizeof r);
    if (!r.inst) {
        r.kind = HP_MSG_FAILED;
        rsize += (uint32_t)strlen(reply + sizeof r) + 1;
    }
    memcpy(reply, &r, sizeof r);
    if (respond(handle, rsize, reply) != LV2_WORKER_SUCCESS) {
        lv2_log_error((LV2_Log_Logger *)&s->host->logger,
                      "hiss: the host's worker queue is full; load of %s dropped\n", path);
        hp_inst_free(r.inst);
        return LV2_WORKER_ERR_NO_SPACE;
    }
    return LV2_WORKER_SUCCESS;
}

/* ---- state ------------------------------------------------------------------------------- */

int hp_slot_load_now(hp_slot *s, const char *path)
{
    hp_inst_params p = shared_params(s);
    hp_inst *in = load(s, &p, path, s->error);
    if (!in) {
        s->publish |= HP_PUB_ERROR | HP_PUB_MODEL;
        return -1;
    }
    /* Nothing runs concurrently (restore without a running plugin), so swap in place. */
    hp_inst_free(s->cur);
    hp_inst_free(s->next);
    hp_inst_free(s->pending);
    free_list(s->trash);
    s->cur = in;
    s->next = s->pending = s->trash = NULL;
    s->fade_pos = 0;
    if (in->level == HP_ERROR)
        memcpy(s->error, in->status, sizeof s->error);
    else
        s->error[0] = '\0';
    s->sent_valid = 0;
    s->publish = HP_PUB_ALL;
    return 0;
}

int hp_slot_load_via(hp_slot *s, LV2_Worker_Schedule *sched, const char *path)
{
    /* The answer reaches the slot through work_response. */
    char buf[sizeof(hp_msg) + HP_PATH_MAX + 1];
    hp_msg m = {HP_MSG_LOAD, 0, NULL, shared_params(s)};
    size_t n = strlen(path) + 1;
    if (n > HP_PATH_MAX + 1)
        n = HP_PATH_MAX + 1; /* the worker refuses it by length and says so */
    memcpy(buf, &m, sizeof m);
    memcpy(buf + sizeof m, path, n);
    buf[sizeof m + n - 1] = '\0';
    return sched->schedule_work(sched->handle, (uint32_t)(sizeof m + n), buf) == LV2_WORKER_SUCCESS ? 0
                                                                                                   : -1;
}

void hp_slot_state_path(hp_slot *s, char *out, size_t cap)
{
    pthread_mutex_lock(&s->state_lock);
    snprintf(out, cap, "%s", s->state_path);
    pthread_mutex_unlock(&s->state_lock);
}
