/* Self-feed (scheduled sampling) for the synth trainer: the inputs of a chunk mixed from the
 * recording and the model's own draws, by playing the chunk through the engine as a voice plays
 * it (hiss_synth_step, then hiss_synth_sample at temperature 1, top-p 1). The engine, not the
 * trainer's forward, draws: it is what the model will be played by, and it runs one sample at a
 * time as the feedback needs, where the trainer's forward runs a whole chunk at once. */
#include <string.h>

#include "hiss_train.h"

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t ht_self_feed_hash(uint64_t seed, int epoch, int note, size_t i, int what)
{
    /* chained, one field at a time, so that no two fields can cancel each other's bits */
    uint64_t h = mix(seed + 0x9E3779B97F4A7C15ull);
    h = mix(h ^ (uint64_t)(unsigned)epoch);
    h = mix(h ^ (uint64_t)(unsigned)note);
    h = mix(h ^ (uint64_t)i);
    return mix(h ^ (uint64_t)(unsigned)what);
}

double ht_self_feed_at(double p, int ramp, int epoch)
{
    return ramp > 0 && epoch < ramp ? p * (double)epoch / (double)ramp : p;
}

/* 1 when the input at sample i is the engine's draw. */
static int coin(double p, uint64_t seed, int epoch, int note, size_t i)
{
    if (i == 0 || !(p > 0))
        return 0;
    if (p >= 1)
        return 1;
    const uint64_t h = ht_self_feed_hash(seed, epoch, note, i, HT_SELF_FEED_COIN);
    return (double)(h >> 11) * 0x1.0p-53 < p;
}

/* The class drawn from w->logits, those of sample i; -1 when they hold no distribution. */
static int draw_at(ht_self_feed_work *w, uint64_t seed, int epoch, int note, size_t i)
{
    hiss_synth_rng r;
    hiss_synth_rng_seed(&r, ht_self_feed_hash(seed, epoch, note, i, HT_SELF_FEED_DRAW));
    return hiss_synth_sample(&w->sampler, w->logits, 1.0f, 1.0f, &r);
}

void ht_self_feed_chunk(const hiss_synth_model *m, double p, uint64_t seed, int epoch, int note,
                        size_t from, int T, const float *cond, unsigned char *in, float *state,
                        int *draw, ht_self_feed_work *w)
{
    const int nc = hiss_synth_model_config(m)->n_cond;
    for (int t = 0; t < T; t++) {
        const size_t i = from + (size_t)t;
        if (coin(p, seed, epoch, note, i)) {
            /* the draw is made only where it is fed: most of the cost at small p is the step */
            const int c = t ? draw_at(w, seed, epoch, note, i - 1) : *draw;
            if (c >= 0)
                in[t] = (unsigned char)c;
        }
        hiss_synth_step(m, state, in[t], cond + (size_t)t * (size_t)nc, w->logits, w->scratch);
    }
    if (T < 1)
        return;
    const size_t end = from + (size_t)T;
    *draw = coin(p, seed, epoch, note, end) ? draw_at(w, seed, epoch, note, end - 1) : -1;
}
