/* Synth training data as the trainer sees it: teacher-forced frames of a note, with the
 * conditioning a voice would compute, and the order in which the streams walk the notes. */
#include <stdlib.h>
#include <string.h>

#include "synth_sched.h"

void ht_synth_frames(const ht_synth_data *d, int k, size_t from, int T, hiss_synth_note *ns,
                     unsigned char *in, unsigned char *tgt, float *cond)
{
    const ht_note *nt = &d->notes[k];
    const unsigned char *c = d->cls + nt->start;
    for (int t = 0; t < T; t++) {
        const size_t i = from + (size_t)t;
        in[t] = i ? c[i - 1] : HISS_SYNTH_SILENCE_CLASS;
        tgt[t] = c[i];
        /* A note-off takes effect at the next sample a voice processes: the gate is open for
         * samples 0 .. on_len - 1 and n_off counts from 0 at sample on_len. */
        if (i == nt->on_len && ns->gate) {
            ns->gate = 0;
            ns->n_off = 0;
        }
        for (int f = 0; f < d->n_cond; f++)
            cond[(size_t)t * d->n_cond + f] = hiss_synth_feature_value(d->feat[f], ns, d->rate);
        hiss_synth_note_advance(ns, d->rate);
    }
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ht_synth_order(int n_notes, uint64_t seed, int epoch, int *order)
{
    uint64_t s = seed * 0xD1B54A32D192ED03ull + (uint64_t)epoch;
    (void)splitmix(&s);
    for (int i = 0; i < n_notes; i++)
        order[i] = i;
    for (int i = n_notes - 1; i > 0; i--) {
        const int j = (int)(splitmix(&s) % (uint64_t)(i + 1));
        const int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

int ht_sched_init(ht_sched *q, int n_streams, int n_notes)
{
    memset(q, 0, sizeof *q);
    q->n_streams = n_streams;
    q->s = calloc((size_t)n_streams, sizeof *q->s);
    q->order = calloc(n_notes > 0 ? (size_t)n_notes : 1, sizeof *q->order);
    if (!q->s || !q->order) {
        ht_sched_free(q);
        return -1;
    }
    return 0;
}

void ht_sched_free(ht_sched *q)
{
    free(q->s);
    free(q->order);
    q->s = NULL;
    q->order = NULL;
}

static void take(ht_sched *q, const ht_synth_data *d, int k)
{
    ht_sched_stream *s = &q->s[k];
    s->pos = 0;
    s->note = q->next < d->n_notes ? q->order[q->next++] : -1;
}

void ht_sched_begin(ht_sched *q, const ht_synth_data *d, uint64_t seed, int epoch)
{
    ht_synth_order(d->n_notes, seed, epoch, q->order);
    q->next = 0;
    for (int k = 0; k < q->n_streams; k++)
        take(q, d, k);
}

int ht_sched_chunk(const ht_sched *q, const ht_synth_data *d, int k, int window)
{
    const ht_sched_stream *s = &q->s[k];
    if (s->note < 0)
        return 0;
    const size_t left = d->notes[s->note].len - s->pos;
    return left < (size_t)window ? (int)left : window;
}

int ht_sched_advance(ht_sched *q, const ht_synth_data *d, int window)
{
    int started = 0;
    for (int k = 0; k < q->n_streams; k++) {
        ht_sched_stream *s = &q->s[k];
        if (s->note < 0)
            continue;
        s->pos += (size_t)ht_sched_chunk(q, d, k, window);
        if (s->pos >= d->notes[s->note].len) {
            take(q, d, k);
            started += s->note >= 0;
        }
    }
    return started;
}

long ht_synth_epoch_steps(const ht_synth_data *d, int streams, int window, uint64_t seed,
                          int epoch)
{
    ht_sched q;
    if (ht_sched_init(&q, streams, d->n_notes))
        return -1;
    ht_sched_begin(&q, d, seed, epoch);
    long steps = 0;
    for (;;) {
        int busy = 0;
        for (int k = 0; k < streams; k++)
            busy |= ht_sched_chunk(&q, d, k, window) > 0;
        if (!busy)
            break;
        steps++;
        ht_sched_advance(&q, d, window);
    }
    ht_sched_free(&q);
    return steps;
}
