/* The flat parameter layout: every tensor of docs/model-format.md in canonical order. The trainer
 * keeps its own copy of names and shapes (instead of the engine's arena offsets) so that copying
 * to and from a model goes by name and checks every shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_train.h"

typedef struct builder {
    ht_layout *L;
    int n;
} builder;

static size_t add(builder *b, const char *name, int decay, int ndim, int64_t s0, int64_t s1,
                  int64_t s2)
{
    ht_layout *L = b->L;
    const size_t off = L->n_params;
    size_t numel = (size_t)s0 * (ndim > 1 ? (size_t)s1 : 1) * (ndim > 2 ? (size_t)s2 : 1);
    if (L->t) {
        ht_tensor_info *t = &L->t[b->n];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = ndim;
        t->shape[0] = s0;
        t->shape[1] = ndim > 1 ? s1 : 0;
        t->shape[2] = ndim > 2 ? s2 : 0;
        t->shape[3] = 0;
        t->offset = off;
        t->numel = numel;
        t->decay = decay;
    }
    b->n++;
    L->n_params += numel;
    return off;
}

static void build(ht_layout *L)
{
    builder b = {L, 0};
    char nm[96];
    const int64_t dm = L->d_model, di = L->d_inner, N = L->d_state, R = L->dt_rank;
    const int64_t NC = HISS_SYNTH_CLASSES;
    L->n_params = 0;
    if (L->synth) {
        /* The embedding is a table, not a map: no decay, or the rows of rare classes would be
         * pulled to zero between the steps that use them. */
        L->emb = add(&b, "embedding.weight", 0, 2, NC, dm, 0);
        L->cond_w = add(&b, "cond_proj.weight", 1, 2, dm, L->n_in, 0);
        L->cond_b = add(&b, "cond_proj.bias", 0, 1, dm, 0, 0);
    } else {
        L->in_w = add(&b, "input_proj.weight", 1, 2, dm, L->n_in, 0);
        L->in_b = add(&b, "input_proj.bias", 0, 1, dm, 0, 0);
    }
    for (int i = 0; i < L->n_layer; i++) {
        ht_layer_off o;
#define NM(s) (snprintf(nm, sizeof nm, "backbone.layers.%d.%s", i, s), nm)
        o.norm_w = add(&b, NM("norm.weight"), 0, 1, dm, 0, 0);
        o.in_proj = add(&b, NM("mixer.in_proj.weight"), 1, 2, 2 * di, dm, 0);
        o.conv_w = add(&b, NM("mixer.conv1d.weight"), 1, 3, di, 1, L->d_conv);
        o.conv_b = add(&b, NM("mixer.conv1d.bias"), 0, 1, di, 0, 0);
        o.x_proj = add(&b, NM("mixer.x_proj.weight"), 1, 2, R + 2 * N, di, 0);
        o.dt_w = add(&b, NM("mixer.dt_proj.weight"), 1, 2, di, R, 0);
        o.dt_b = add(&b, NM("mixer.dt_proj.bias"), 0, 1, di, 0, 0);
        o.A_log = add(&b, NM("mixer.A_log"), 0, 2, di, N, 0);
        o.D = add(&b, NM("mixer.D"), 0, 1, di, 0, 0);
        o.out_proj = add(&b, NM("mixer.out_proj.weight"), 1, 2, dm, di, 0);
#undef NM
        if (L->layer)
            L->layer[i] = o;
    }
    L->norm_f = add(&b, "backbone.norm_f.weight", 0, 1, dm, 0, 0);
    if (L->synth) {
        L->lm_w = add(&b, "lm_head.weight", 1, 2, NC, dm, 0);
        if (L->head_bias)
            L->lm_b = add(&b, "lm_head.bias", 0, 1, NC, 0, 0);
    } else {
        L->out_w = add(&b, "output_proj.weight", 1, 2, 1, dm, 0);
        L->out_b = add(&b, "output_proj.bias", 0, 1, 1, 0, 0);
    }
    L->n_tensors = b.n;
}

static int init(ht_layout *L, const hiss_config *c, int synth, int head_bias)
{
    memset(L, 0, sizeof *L);
    if (c->io != (synth ? HISS_IO_SYNTH : HISS_IO_FX) || c->d_model < 1 || c->n_layer < 1 ||
        c->d_inner < 1 || c->d_state < 1 || c->d_conv < 1 || c->dt_rank < 1 ||
        c->n_cond < (synth ? 1 : 0) || !(c->rms_eps > 0))
        return -1;
    L->d_model = c->d_model;
    L->n_layer = c->n_layer;
    L->d_inner = c->d_inner;
    L->d_state = c->d_state;
    L->d_conv = c->d_conv;
    L->dt_rank = c->dt_rank;
    L->n_in = synth ? c->n_cond : 1 + c->n_cond;
    L->skip = synth ? 0 : c->skip;
    L->eps = c->rms_eps;
    L->synth = synth;
    L->head_bias = synth && head_bias;
    build(L); /* counts */
    L->t = calloc((size_t)L->n_tensors, sizeof *L->t);
    L->layer = calloc((size_t)L->n_layer, sizeof *L->layer);
    if (!L->t || !L->layer) {
        ht_layout_free(L);
        return -1;
    }
    build(L);
    return 0;
}

int ht_layout_init(ht_layout *L, const hiss_config *c)
{
    return init(L, c, 0, 0);
}

int ht_layout_init_synth(ht_layout *L, const hiss_config *c, int head_bias)
{
    return init(L, c, 1, head_bias);
}

size_t ht_state_reals(const ht_layout *L)
{
    return (size_t)L->n_layer * ((size_t)(L->d_conv - 1) * L->d_inner +
                                 (size_t)L->d_inner * L->d_state);
}

uint64_t ht_synth_macs_per_sample(const ht_layout *L)
{
    const uint64_t dm = L->d_model, di = L->d_inner, ds = L->d_state, dr = L->dt_rank;
    const uint64_t layer = 2 * di * dm + di * L->d_conv + (dr + 2 * ds) * di + di * dr +
                           3 * di * ds + di + dm * di + 2 * dm;
    const uint64_t head = (uint64_t)L->n_in * dm + dm /* embedding row + bias */ +
                          2 * dm /* norm_f */ + HISS_SYNTH_CLASSES * dm /* lm_head */ +
                          HISS_SYNTH_CLASSES /* softmax */;
    return layer * L->n_layer + head;
}

void ht_layout_free(ht_layout *L)
{
    free(L->t);
    free(L->layer);
    L->t = NULL;
    L->layer = NULL;
}

const ht_tensor_info *ht_layout_find(const ht_layout *L, const char *name)
{
    for (int i = 0; i < L->n_tensors; i++)
        if (strcmp(L->t[i].name, name) == 0)
            return &L->t[i];
    return NULL;
}

/* Window sampling lives here, beside the layout, because it is independent of the real type. */
static size_t seg_windows(size_t begin, size_t end, int window)
{
    return end - begin >= (size_t)window ? end - begin - (size_t)window + 1 : 0;
}

size_t ht_data_window_count(const ht_data *d, int window)
{
    if (d->n_seg <= 0)
        return seg_windows(0, d->n, window);
    size_t total = 0, begin = 0;
    for (int i = 0; i < d->n_seg; i++) {
        total += seg_windows(begin, d->seg_end[i], window);
        begin = d->seg_end[i];
    }
    return total;
}

size_t ht_data_window_start(const ht_data *d, int window, size_t k)
{
    if (d->n_seg <= 0)
        return k;
    size_t begin = 0;
    for (int i = 0; i < d->n_seg; i++) {
        const size_t w = seg_windows(begin, d->seg_end[i], window);
        if (k < w)
            return begin + k;
        k -= w;
        begin = d->seg_end[i];
    }
    return 0; /* k out of range: the caller's mistake; any valid start will do */
}
