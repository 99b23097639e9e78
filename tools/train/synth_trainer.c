/* The synth trainer: streams walk the notes (synth_sched.h) in chunks, each chunk starting from
 * the model state the previous one ended with, so every sample is trained in the context a voice
 * really has there and no warm-up is wasted. A step is one chunk of every busy stream. Threads
 * take the streams one at a time as they become free (chunks differ in length), each stream's
 * gradient goes to its own buffer and the buffers are summed in stream order: the result does not
 * depend on which thread ran what, so it is the same bytes for any number of threads.
 * With self-feed, each stream first plays its chunk through the engine (synth_self_feed.c) to
 * mix its inputs; the engine's copy of the model is refreshed once per step, before the workers
 * run, and each stream carries its engine voice state from chunk to chunk as it carries the
 * trainer's. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "synth_sched.h"
#include "train_real.h"

typedef struct sstream {
    real *state, *next;        /* the model state at the stream's position, and after its chunk */
    real *G;                   /* the gradient of its chunk */
    hiss_synth_note ns, ns_next; /* the note's feature state, likewise */
    float *eng, *eng_next;     /* self-feed: the engine voice state, likewise */
    int draw, draw_next;       /* self-feed: the draw the chunk's first input may take, likewise */
    int len;                   /* samples of the pending chunk (0: none) */
    double nll;                /* its summed cross-entropy */
} sstream;

typedef struct sworker {
    HT_FN(synth_trainer) *tr;
    HT_FN(acts) *a;
    real *cond;
    float *condf;
    unsigned char *in, *tgt;
    ht_self_feed_work *sf; /* self-feed only */
} sworker;

struct HT_FN(synth_trainer) {
    const ht_layout *L;
    ht_train_opts o;
    const ht_synth_data *d;
    real *P;
    HT_FN(adam) opt;
    ht_sched q;
    sstream *st;
    sworker *w;
    int nt;
    ht_pool pool;
    atomic_int next; /* the next stream to take */
    double scale;
    int epoch;
    double self_feed;        /* this epoch's probability (ramped), 0: teacher forcing alone */
    hiss_synth_model *eng;   /* self-feed: the parameters of this step, for the engine */
    size_t eng_floats;       /* hiss_synth_state_floats(eng) */
};

/* The input jitter of sample i of note k in this epoch, uniform in [-amp, amp]: a hash of all
 * four, so it does not depend on threads or chunking. A voice is fed its own draws, which stray
 * from the recording it was trained on by a few classes; trained only on the recording's exact
 * previous sample, a small model leans on it and drifts into noise once it plays by itself
 * (exposure bias). Jittered inputs make the phase and note features carry the waveform. */
static int input_jitter(uint64_t seed, int epoch, int k, size_t i, int amp)
{
    uint64_t z = seed ^ ((uint64_t)(unsigned)epoch << 40) ^ ((uint64_t)(unsigned)k << 20) ^
                 ((uint64_t)i * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (int)(z % (uint64_t)(2 * amp + 1)) - amp;
}


static void *worker_run(void *arg)
{
    sworker *w = arg;
    HT_FN(synth_trainer) *tr = w->tr;
    const ht_layout *L = tr->L;
    const ht_synth_data *d = tr->d;
    for (;;) {
        const int i = atomic_fetch_add(&tr->next, 1);
        if (i >= tr->q.n_streams)
            break;
        sstream *s = &tr->st[i];
        if (!s->len)
            continue;
        const ht_sched_stream *qs = &tr->q.s[i];
        memset(s->G, 0, L->n_params * sizeof *s->G);
        s->ns_next = s->ns;
        ht_synth_frames(d, qs->note, qs->pos, s->len, &s->ns_next, w->in, w->tgt, w->condf);
        for (int t = 0; tr->o.input_noise > 0 && t < s->len; t++) {
            const int c = (int)w->in[t] + input_jitter(tr->o.seed, tr->epoch, qs->note,
                                                       qs->pos + (size_t)t, tr->o.input_noise);
            w->in[t] = (unsigned char)(c < 0 ? 0 : c > 255 ? 255 : c);
        }
        if (tr->self_feed > 0) {
            memcpy(s->eng_next, s->eng, tr->eng_floats * sizeof *s->eng);
            s->draw_next = s->draw;
            ht_self_feed_chunk(tr->eng, tr->self_feed, tr->o.seed, tr->epoch, qs->note, qs->pos,
                               s->len, w->condf, w->in, s->eng_next, &s->draw_next, w->sf);
        }
        for (size_t j = 0; j < (size_t)s->len * (size_t)d->n_cond; j++)
            w->cond[j] = (real)w->condf[j];
        s->nll = HT_FN(synth_window)(L, tr->P, w->a, s->len, w->in, w->cond, w->tgt,
                                     qs->pos ? s->state : NULL, s->G, tr->scale);
        HT_FN(state_out)(L, w->a, s->next);
    }
    return NULL;
}

static void note_start(HT_FN(synth_trainer) *tr, int k)
{
    const ht_sched_stream *qs = &tr->q.s[k];
    if (qs->note >= 0) {
        const ht_note *n = &tr->d->notes[qs->note];
        tr->st[k].ns = hiss_synth_note_start((double)n->note, n->velocity);
        if (tr->eng)
            memset(tr->st[k].eng, 0, tr->eng_floats * sizeof *tr->st[k].eng);
        tr->st[k].draw = -1;
    }
}

/* The engine's model for self-feed: the trainer's configuration and features, so that
 * params_to_synth can fill it every step. NULL without memory or on a mismatch. */
static hiss_synth_model *engine_model(const ht_layout *L, const ht_synth_data *d, const real *P)
{
    hiss_config c = {0};
    c.io = HISS_IO_SYNTH;
    c.d_model = L->d_model;
    c.n_layer = L->n_layer;
    c.d_inner = L->d_inner;
    c.d_state = L->d_state;
    c.d_conv = L->d_conv;
    c.dt_rank = L->dt_rank;
    c.sample_rate = d->rate;
    c.rms_eps = (float)L->eps;
    char cond[HISS_MAX_COND * 16 + 1] = "";
    size_t at = 0;
    for (int i = 0; i < d->n_cond && at < sizeof cond; i++)
        at += (size_t)snprintf(cond + at, sizeof cond - at, "%s%s", i ? "," : "",
                               hiss_synth_feature_name(d->feat[i]));
    hiss_synth_model *m = NULL;
    hiss_error err;
    if (at >= sizeof cond ||
        hiss_synth_model_init(&c, cond, L->head_bias, 0, &m, &err) != HISS_OK ||
        HT_FN(params_to_synth)(L, P, m, &err)) {
        hiss_synth_model_free(m);
        return NULL;
    }
    return m;
}

HT_FN(synth_trainer) *HT_FN(synth_trainer_create)(const ht_layout *L, const ht_train_opts *o,
                                                  real *P, const ht_synth_data *d)
{
    if (!L->synth || o->window < 1 || o->batch < 1 || o->threads < 1 || d->n_cond != L->n_in ||
        d->n_notes < 1 || !(o->self_feed >= 0 && o->self_feed <= 1) || o->self_feed_ramp < 0)
        return NULL;
    HT_FN(synth_trainer) *tr = calloc(1, sizeof *tr);
    if (!tr)
        return NULL;
    tr->L = L;
    tr->o = *o;
    tr->d = d;
    tr->P = P;
    tr->nt = o->threads;
    const size_t np = L->n_params, T = (size_t)o->window, ns = ht_state_reals(L);
    tr->st = calloc((size_t)o->batch, sizeof *tr->st);
    tr->w = calloc((size_t)tr->nt, sizeof *tr->w);
    if (HT_FN(adam_init)(&tr->opt, np) || ht_pool_init(&tr->pool, tr->nt) || !tr->st || !tr->w ||
        ht_sched_init(&tr->q, o->batch, d->n_notes))
        goto fail;
    if (o->self_feed > 0) {
        if (!(tr->eng = engine_model(L, d, P)))
            goto fail;
        tr->eng_floats = hiss_synth_state_floats(tr->eng);
    }
    for (int k = 0; k < o->batch; k++) {
        sstream *s = &tr->st[k];
        s->state = calloc(ns, sizeof(real));
        s->next = calloc(ns, sizeof(real));
        s->G = calloc(np, sizeof(real));
        if (!s->state || !s->next || !s->G)
            goto fail;
        if (tr->eng && (!(s->eng = calloc(tr->eng_floats, sizeof(float))) ||
                        !(s->eng_next = calloc(tr->eng_floats, sizeof(float)))))
            goto fail;
    }
    for (int k = 0; k < tr->nt; k++) {
        sworker *w = &tr->w[k];
        w->tr = tr;
        w->a = HT_FN(acts_create)(L, o->window);
        w->cond = calloc(T * (size_t)d->n_cond, sizeof(real));
        w->condf = calloc(T * (size_t)d->n_cond, sizeof(float));
        w->in = calloc(T, 1);
        w->tgt = calloc(T, 1);
        if (!w->a || !w->cond || !w->condf || !w->in || !w->tgt)
            goto fail;
        if (tr->eng && (!(w->sf = calloc(1, sizeof *w->sf)) ||
                        !(w->sf->scratch = calloc(hiss_synth_scratch_floats(tr->eng),
                                                  sizeof(float)))))
            goto fail;
    }
    HT_FN(synth_epoch_begin)(tr, 0);
    return tr;
fail:
    HT_FN(synth_trainer_free)(tr);
    return NULL;
}

void HT_FN(synth_trainer_free)(HT_FN(synth_trainer) *tr)
{
    if (!tr)
        return;
    for (int k = 0; tr->w && k < tr->nt; k++) {
        sworker *w = &tr->w[k];
        HT_FN(acts_free)(w->a);
        free(w->cond);
        free(w->condf);
        free(w->in);
        free(w->tgt);
        if (w->sf)
            free(w->sf->scratch);
        free(w->sf);
    }
    for (int k = 0; tr->st && k < tr->o.batch; k++) {
        free(tr->st[k].state);
        free(tr->st[k].next);
        free(tr->st[k].G);
        free(tr->st[k].eng);
        free(tr->st[k].eng_next);
    }
    hiss_synth_model_free(tr->eng);
    ht_sched_free(&tr->q);
    free(tr->st);
    free(tr->w);
    ht_pool_free(&tr->pool);
    HT_FN(adam_free)(&tr->opt);
    free(tr);
}

void HT_FN(synth_epoch_begin)(HT_FN(synth_trainer) *tr, int epoch)
{
    tr->epoch = epoch;
    tr->self_feed = tr->eng ? ht_self_feed_at(tr->o.self_feed, tr->o.self_feed_ramp, epoch) : 0;
    ht_sched_begin(&tr->q, tr->d, tr->o.seed, epoch);
    for (int k = 0; k < tr->q.n_streams; k++) {
        tr->st[k].len = 0;
        note_start(tr, k);
    }
}

int HT_FN(synth_grad)(HT_FN(synth_trainer) *tr, real *G, ht_synth_stats *st)
{
    const ht_layout *L = tr->L;
    long n = 0;
    int busy = 0;
    for (int k = 0; k < tr->q.n_streams; k++) {
        tr->st[k].len = ht_sched_chunk(&tr->q, tr->d, k, tr->o.window);
        tr->st[k].nll = 0;
        n += tr->st[k].len;
        busy += tr->st[k].len > 0;
    }
    if (!n)
        return 1;
    /* the engine plays with the parameters the gradient is taken at (it cannot fail: the
     * model was made from this layout) */
    if (tr->self_feed > 0 && HT_FN(params_to_synth)(L, tr->P, tr->eng, NULL))
        return -1;
    /* the loss is the mean over the batch's samples */
    tr->scale = 1.0 / (double)n;
    atomic_store(&tr->next, 0);
    /* workers take the streams as they come: one without a thread finds them all taken */
    ht_pool_run(&tr->pool, busy, worker_run, tr->w, sizeof *tr->w);
    memset(G, 0, L->n_params * sizeof *G);
    for (int k = 0; k < tr->q.n_streams; k++) {
        if (!tr->st[k].len)
            continue;
        const real *g = tr->st[k].G;
        for (size_t j = 0; j < L->n_params; j++)
            G[j] += g[j];
    }
    if (st) {
        double nll = 0;
        for (int k = 0; k < tr->q.n_streams; k++)
            nll += tr->st[k].nll;
        st->nll = nll / (double)n;
        st->bits = st->nll / 0.69314718055994530942;
        st->n = n;
        st->streams = busy;
        st->grad_norm = HT_FN(grad_norm)(L, G);
        st->lr = 0;
    }
    return 0;
}

void HT_FN(synth_commit)(HT_FN(synth_trainer) *tr)
{
    for (int k = 0; k < tr->q.n_streams; k++) {
        sstream *s = &tr->st[k];
        if (!s->len)
            continue;
        real *t = s->state;
        s->state = s->next;
        s->next = t;
        s->ns = s->ns_next;
        if (tr->self_feed > 0) {
            float *e = s->eng;
            s->eng = s->eng_next;
            s->eng_next = e;
            s->draw = s->draw_next;
        }
    }
    ht_sched_advance(&tr->q, tr->d, tr->o.window);
    for (int k = 0; k < tr->q.n_streams; k++) {
        tr->st[k].len = 0;
        if (tr->q.s[k].pos == 0)
            note_start(tr, k); /* a new note: the state is not read at a note-on */
    }
}

int HT_FN(synth_step)(HT_FN(synth_trainer) *tr, ht_synth_stats *st)
{
    ht_synth_stats s;
    const int r = HT_FN(synth_grad)(tr, tr->opt.G, &s);
    if (r)
        return r;
    s.lr = HT_FN(adam_step)(&tr->opt, tr->L, &tr->o, tr->P, s.grad_norm);
    HT_FN(synth_commit)(tr);
    if (st)
        *st = s;
    return 0;
}

long HT_FN(synth_trainer_steps)(const HT_FN(synth_trainer) *tr)
{
    return tr->opt.step;
}

void HT_FN(synth_trainer_set_steps)(HT_FN(synth_trainer) *tr, long step)
{
    tr->opt.step = step;
}

real *HT_FN(synth_trainer_moment)(HT_FN(synth_trainer) *tr, int which)
{
    return which == 0 ? tr->opt.m : tr->opt.v;
}
