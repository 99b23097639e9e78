/* Drawing a class from the model's logits: temperature, then the nucleus (top-p), then one
 * uniform draw walked along the cumulative probabilities, all in a fixed order, so a seed gives
 * the same classes from run to run and machine to machine. No allocation: the work space
 * is the caller's. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "hiss_synth.h"

#define NC HISS_SYNTH_CLASSES

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void hiss_synth_rng_seed(hiss_synth_rng *r, uint64_t seed)
{
    /* splitmix64 never yields four zero words in a row, the one state xoshiro must avoid. */
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t hiss_synth_rng_next(hiss_synth_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t out = rotl(s[1] * 5u, 7) * 9u;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double hiss_synth_rng_uniform(hiss_synth_rng *r)
{
    return (double)(hiss_synth_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Order of the nucleus: higher probability first, the lower class among equals. */
static int before(const double *p, int a, int b)
{
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

/* The nucleus without sorting 256 classes: bucket the classes by the float exponent of their
 * unnormalised probability e (64 octaves below the best class, which has e = 1, the last bucket
 * holding everything smaller), find the octave where the running mass reaches top_p, bucket that
 * octave by the next 8 bits of the mantissa, and sort only the classes of the finest bucket
 * where the mass is reached (usually one or two). Linear time whatever the distribution. */
static int octave_of(float e)
{
    uint32_t bits;
    memcpy(&bits, &e, sizeof bits);
    const int o = 127 - (int)(bits >> 23);
    return o > 64 ? 64 : o;
}

static int sub_of(float e)
{
    uint32_t bits;
    memcpy(&bits, &e, sizeof bits);
    return (int)((bits >> 15) & 0xFF);
}

static int nucleus_set(hiss_synth_sampler *w, double top_p)
{
    double omass[65] = {0};
    for (int k = 0; k < NC; k++)
        if (w->p[k] > 0.0)
            omass[octave_of(w->e[k])] += w->p[k];
    double cum = 0.0;
    int ob = 0;
    while (ob < 64 && cum + omass[ob] < top_p)
        cum += omass[ob++];
    /* Within the octave (sub-buckets are meaningless in the catch-all one: all of it is sorted). */
    double smass[256] = {0};
    for (int k = 0; k < NC; k++)
        if (w->p[k] > 0.0 && octave_of(w->e[k]) == ob)
            smass[ob < 64 ? sub_of(w->e[k]) : 0] += w->p[k];
    int sb = 255;
    if (ob < 64)
        while (sb > 0 && cum + smass[sb] < top_p)
            cum += smass[sb--];
    else
        sb = 0;
    /* The finest bucket's classes, sorted (insertion: few), taken until the mass is reached. */
    int *m = w->work, nm = 0;
    for (int k = 0; k < NC; k++)
        if (w->p[k] > 0.0 && octave_of(w->e[k]) == ob && (ob == 64 || sub_of(w->e[k]) == sb)) {
            int j = nm++;
            while (j > 0 && before(w->p, k, m[j - 1])) {
                m[j] = m[j - 1];
                j--;
            }
            m[j] = k;
        }
    int take = 0;
    while (take < nm && (take == 0 || cum < top_p))
        cum += w->p[m[take++]];
    unsigned char in[NC] = {0};
    for (int i = 0; i < take; i++)
        in[m[i]] = 1;
    int count = 0;
    for (int k = 0; k < NC; k++) {
        if (w->p[k] > 0.0) {
            const int o = octave_of(w->e[k]);
            if (o < ob || (o == ob && ob < 64 && sub_of(w->e[k]) > sb))
                in[k] = 1;
        }
        if (in[k])
            w->kept[count++] = k;
    }
    return count;
}

int hiss_synth_nucleus(hiss_synth_sampler *w, const float *logits, float temperature, float top_p)
{
    float mx = -INFINITY;
    int arg = -1;
    for (int k = 0; k < NC; k++) {
        const float l = logits[k];
        if (l != l || l == INFINITY)
            return 0;
        if (l > mx) {
            mx = l;
            arg = k;
        }
    }
    if (arg < 0)
        return 0; /* every logit -inf */
    if (!(temperature > 0.0f)) {
        for (int k = 0; k < NC; k++)
            w->p[k] = k == arg ? 1.0 : 0.0;
        w->kept[0] = arg;
        return 1;
    }
    /* The exponentials in float through the engine's vectorisable exp (about 2 ulp): libm's
     * double exp made this loop most of a small model's cost per sample. A class more than 87
     * nats below the best (or at -inf) gets exactly 0. Sums and normalisation in double. */
    const float inv_t = 1.0f / temperature;
    for (int k = 0; k < NC; k++) {
        const float x = (logits[k] - mx) * inv_t;
        w->e[k] = x < -87.0f ? 0.0f : hiss_exp(x);
    }
    double sum = 0.0;
    for (int k = 0; k < NC; k++)
        sum += (double)w->e[k];
    const double norm = 1.0 / sum;
    for (int k = 0; k < NC; k++)
        w->p[k] = (double)w->e[k] * norm;
    if (top_p >= 1.0f) {
        for (int k = 0; k < NC; k++)
            w->kept[k] = k;
        return NC;
    }
    return nucleus_set(w, (double)top_p);
}

int hiss_synth_sample(hiss_synth_sampler *w, const float *logits, float temperature, float top_p,
                      hiss_synth_rng *rng)
{
    const int n = hiss_synth_nucleus(w, logits, temperature, top_p);
    if (n == 0)
        return -1;
    /* A draw is taken even when the nucleus has one class, so that a voice's generator advances
     * one step per sample whatever the distribution. */
    const double u = hiss_synth_rng_uniform(rng);
    if (n == 1)
        return w->kept[0];
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += w->p[w->kept[i]];
    const double target = u * total;
    double cum = 0.0;
    int last = w->kept[0];
    for (int i = 0; i < n; i++) {
        const int k = w->kept[i];
        if (w->p[k] <= 0.0)
            continue;
        cum += w->p[k];
        last = k;
        if (target < cum)
            return k;
    }
    return last; /* target rounded up to the total */
}
