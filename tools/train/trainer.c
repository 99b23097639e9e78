/* One optimisation step over a batch of windows, the windows spread over threads. Each thread
 * adds the gradients of its windows (k, k + threads, ...) into its own buffer, and the buffers are
 * summed in thread order, so a given seed and thread count always give the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "train_real.h"

typedef struct worker {
    HT_FN(trainer) *tr;
    int k;
    HT_FN(acts) *a;
    real *G, *in, *tgt, *pred, *dpred;
    const ht_data *d;
    const size_t *starts;
    int n_win;
} worker;

struct HT_FN(trainer) {
    const ht_layout *L;
    ht_train_opts o;
    real *P;
    HT_FN(adam) opt;
    worker *w;
    int nt;
    ht_pool pool;
    ht_loss_norm norm;
    ht_loss_parts *parts; /* [batch], at least */
    int cap_win;
    size_t *starts;
    uint64_t rng;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void load_window(const ht_data *d, size_t start, int T, int n_in, real *in, real *tgt)
{
    const float *f = d->in + start * (size_t)n_in;
    for (size_t i = 0; i < (size_t)T * n_in; i++)
        in[i] = (real)f[i];
    for (int t = 0; t < T; t++)
        tgt[t] = (real)d->target[start + (size_t)t];
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    HT_FN(trainer) *tr = w->tr;
    const ht_layout *L = tr->L;
    const int T = tr->o.window;
    memset(w->G, 0, L->n_params * sizeof *w->G);
    for (int i = w->k; i < w->n_win; i += tr->nt) {
        load_window(w->d, w->starts[i], T, L->n_in, w->in, w->tgt);
        HT_FN(forward)(L, tr->P, w->a, w->in, w->pred);
        HT_FN(window_loss)(&tr->o.loss, &tr->norm, w->pred, w->tgt, T, tr->o.warmup, &tr->parts[i],
                           w->dpred);
        HT_FN(backward)(L, tr->P, w->a, w->dpred, w->G);
    }
    return NULL;
}

HT_FN(trainer) *HT_FN(trainer_create)(const ht_layout *L, const ht_train_opts *o, real *P)
{
    if (o->window < 1 || o->warmup < 0 || o->warmup >= o->window || o->batch < 1 ||
        o->threads < 1)
        return NULL;
    HT_FN(trainer) *tr = calloc(1, sizeof *tr);
    if (!tr)
        return NULL;
    tr->L = L;
    tr->o = *o;
    tr->P = P;
    tr->nt = o->threads;
    tr->rng = o->seed;
    const size_t np = L->n_params, T = (size_t)o->window;
    tr->w = calloc((size_t)tr->nt, sizeof *tr->w);
    tr->cap_win = o->batch;
    tr->parts = calloc((size_t)tr->cap_win, sizeof *tr->parts);
    tr->starts = calloc((size_t)tr->cap_win, sizeof *tr->starts);
    if (HT_FN(adam_init)(&tr->opt, np) || ht_pool_init(&tr->pool, tr->nt) || !tr->w || !tr->parts ||
        !tr->starts)
        goto fail;
    for (int k = 0; k < tr->nt; k++) {
        worker *w = &tr->w[k];
        w->tr = tr;
        w->k = k;
        w->a = HT_FN(acts_create)(L, o->window);
        w->G = calloc(np, sizeof(real));
        w->in = calloc(T * (size_t)L->n_in, sizeof(real));
        w->tgt = calloc(T, sizeof(real));
        w->pred = calloc(T, sizeof(real));
        w->dpred = calloc(T, sizeof(real));
        if (!w->a || !w->G || !w->in || !w->tgt || !w->pred || !w->dpred)
            goto fail;
    }
    return tr;
fail:
    HT_FN(trainer_free)(tr);
    return NULL;
}

void HT_FN(trainer_free)(HT_FN(trainer) *tr)
{
    if (!tr)
        return;
    for (int k = 0; tr->w && k < tr->nt; k++) {
        worker *w = &tr->w[k];
        HT_FN(acts_free)(w->a);
        free(w->G);
        free(w->in);
        free(w->tgt);
        free(w->pred);
        free(w->dpred);
    }
    free(tr->w);
    ht_pool_free(&tr->pool);
    HT_FN(adam_free)(&tr->opt);
    free(tr->parts);
    free(tr->starts);
    free(tr);
}

int HT_FN(trainer_grad)(HT_FN(trainer) *tr, const ht_data *d, const size_t *starts, int n_win,
                        real *G, ht_step_stats *st)
{
    const ht_layout *L = tr->L;
    const int T = tr->o.window;
    if (n_win < 1 || d->n_in != L->n_in || d->n < (size_t)T)
        return -1;
    if (n_win > tr->cap_win) {
        ht_loss_parts *p = realloc(tr->parts, (size_t)n_win * sizeof *p);
        if (!p)
            return -1;
        tr->parts = p;
        tr->cap_win = n_win;
    }
    memset(&tr->norm, 0, sizeof tr->norm);
    for (int i = 0; i < n_win; i++) {
        if (starts[i] + (size_t)T > d->n)
            return -1;
        load_window(d, starts[i], T, L->n_in, tr->w[0].in, tr->w[0].tgt);
        HT_FN(loss_norm_add)(&tr->norm, &tr->o.loss, tr->w[0].tgt, T, tr->o.warmup);
    }
    for (int k = 0; k < tr->nt; k++) {
        worker *w = &tr->w[k];
        w->d = d;
        w->starts = starts;
        w->n_win = n_win;
    }
    /* a worker without a window, or without a thread, runs inline: the same sums either way */
    ht_pool_run(&tr->pool, n_win, worker_run, tr->w, sizeof *tr->w);
    memcpy(G, tr->w[0].G, L->n_params * sizeof *G);
    for (int k = 1; k < tr->nt; k++) {
        const real *g = tr->w[k].G;
        for (size_t j = 0; j < L->n_params; j++)
            G[j] += g[j];
    }
    if (st) {
        double esr_pe = 0, dc = 0, err = 0;
        for (int i = 0; i < n_win; i++) {
            esr_pe += tr->parts[i].esr_pe;
            dc += tr->parts[i].dc;
            err += tr->parts[i].err;
        }
        st->esr_pe = esr_pe;
        st->dc = dc;
        st->loss = esr_pe + dc;
        st->esr = tr->norm.energy > 0 ? err / tr->norm.energy : err;
        st->grad_norm = HT_FN(grad_norm)(L, G);
        st->lr = 0;
    }
    return 0;
}

int HT_FN(trainer_step)(HT_FN(trainer) *tr, const ht_data *d, ht_step_stats *st)
{
    const int T = tr->o.window;
    const size_t span = ht_data_window_count(d, T);
    if (span == 0)
        return -1;
    for (int i = 0; i < tr->o.batch; i++)
        tr->starts[i] = ht_data_window_start(d, T, (size_t)(splitmix(&tr->rng) % span));
    ht_step_stats s;
    if (HT_FN(trainer_grad)(tr, d, tr->starts, tr->o.batch, tr->opt.G, &s))
        return -1;
    s.lr = HT_FN(adam_step)(&tr->opt, tr->L, &tr->o, tr->P, s.grad_norm);
    if (st)
        *st = s;
    return 0;
}

long HT_FN(trainer_steps)(const HT_FN(trainer) *tr)
{
    return tr->opt.step;
}

real *HT_FN(trainer_moment)(HT_FN(trainer) *tr, int which)
{
    return which == 0 ? tr->opt.m : tr->opt.v;
}

void HT_FN(trainer_get_counters)(const HT_FN(trainer) *tr, long *step, uint64_t *rng)
{
    *step = tr->opt.step;
    *rng = tr->rng;
}

void HT_FN(trainer_set_counters)(HT_FN(trainer) *tr, long step, uint64_t rng)
{
    tr->opt.step = step;
    tr->rng = rng;
}
