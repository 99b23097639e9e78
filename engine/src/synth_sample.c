/* Drawing a class from the model's logits: temperature, then the nucleus (top-p), then one
 * uniform draw walked along the cumulative probabilities, all in a fixed order, so a seed gives
 * the same classes from run to run and machine to machine. No allocation: the work space
 * is the caller's.
 *
 * Cost: this runs once per voice per sample, so the loops are written to vectorise or at least
 * not to branch (the maximum, the exponentials, the bucket of each class, the nucleus's
 * membership), and the walk along the running sum is a binary search over the running sums the
 * total needs anyway. What stays sequential is what fixes the result's rounding: the sum that
 * normalises (in class order) and the running sum of the draw (in class order), each a chain of
 * 256 double additions. Every result is the one of the plain loops these replaced, to the bit. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "hiss_synth.h"

#define NC HISS_SYNTH_CLASSES

/* The loops that vectorise are compiled again for AVX2 where the compiler can, and each call
 * picks the variant by the CPU feature bits libgcc fills in before any constructor of ours runs:
 * one load and a branch that always goes the same way, next to a loop over 256 classes. Not
 * target_clones: its ifunc resolver runs while the loader relocates, before a sanitizer's
 * runtime (ThreadSanitizer's) is ready, and crashes an instrumented build at start-up; nor a
 * pointer chosen at first use, which would be mutable global state shared by every thread.
 * The same IEEE operations on wider registers give the same bits as the baseline build: ISO C
 * mode (-std=c11) leaves a * b + c uncontracted, and "avx2" does not enable FMA anyway
 * (tests/test_synth_sample.c checks the draws against the plain loops). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HISS_WIDE 1
#else
#define HISS_WIDE 0
#endif
/* A loop's body, compiled into each variant below with that variant's instruction set. */
#define HISS_INLINE static inline __attribute__((always_inline))

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

/* The largest logit; 0 when the logits are no distribution (a NaN or +inf). On the floats' bits
 * as integers, without branches, so that it vectorises (float comparisons do not, without
 * -ffast-math): a float's bits with the magnitude bits flipped when negative order as signed
 * integers exactly as the floats do (-0 below +0, which changes no later result). */
HISS_INLINE int scan_max_loop(const float *l, float *mx)
{
    int32_t key[8], bad[8];
    for (int j = 0; j < 8; j++) {
        key[j] = INT32_MIN;
        bad[j] = 0;
    }
    for (int k = 0; k < NC; k += 8)
        for (int j = 0; j < 8; j++) {
            int32_t b;
            memcpy(&b, &l[k + j], sizeof b);
            const int32_t mag = b & 0x7FFFFFFF;
            bad[j] |= (mag > 0x7F800000) | (b == 0x7F800000); /* NaN of either sign, +inf */
            const int32_t kk = b ^ ((b >> 31) & 0x7FFFFFFF);
            key[j] = kk > key[j] ? kk : key[j];
        }
    int32_t best = INT32_MIN;
    int any = 0;
    for (int j = 0; j < 8; j++) {
        any |= bad[j];
        best = key[j] > best ? key[j] : best;
    }
    const int32_t b = best ^ ((best >> 31) & 0x7FFFFFFF);
    memcpy(mx, &b, sizeof *mx);
    return !any;
}

/* w->e and w->p for temperature > 0. The exponentials in float through the engine's vectorisable
 * exp (about 2 ulp): libm's double exp made this loop most of a small model's cost per sample. A
 * class more than 87 nats below the best (or at -inf) gets exactly 0. Sums and normalisation in
 * double, in class order. */
HISS_INLINE void exps_loop(float *e, const float *logits, float mx, float inv_t)
{
    for (int k = 0; k < NC; k++) {
        const float x = (logits[k] - mx) * inv_t;
        const float v = hiss_exp(x);
        e[k] = x < -87.0f ? 0.0f : v;
    }
}

/* Each loop once per instruction set, kept out of line so that the choice between them stays a
 * test and a call in the callers (which are then small enough to be inlined themselves). */
__attribute__((noinline)) static int scan_max_base(const float *l, float *mx)
{
    return scan_max_loop(l, mx);
}

__attribute__((noinline)) static void exps_base(float *e, const float *logits, float mx, float inv_t)
{
    exps_loop(e, logits, mx, inv_t);
}

#if HISS_WIDE
__attribute__((target("avx2"), noinline)) static int scan_max_avx2(const float *l, float *mx)
{
    return scan_max_loop(l, mx);
}

__attribute__((target("avx2"), noinline)) static void exps_avx2(float *e, const float *logits, float mx,
                                                                float inv_t)
{
    exps_loop(e, logits, mx, inv_t);
}
#endif

static int scan_max(const float *l, float *mx)
{
#if HISS_WIDE
    if (__builtin_cpu_supports("avx2"))
        return scan_max_avx2(l, mx);
#endif
    return scan_max_base(l, mx);
}

static void exps(float *e, const float *logits, float mx, float inv_t)
{
#if HISS_WIDE
    if (__builtin_cpu_supports("avx2")) {
        exps_avx2(e, logits, mx, inv_t);
        return;
    }
#endif
    exps_base(e, logits, mx, inv_t);
}

static void softmax(hiss_synth_sampler *w, const float *logits, float mx, float temperature)
{
    exps(w->e, logits, mx, 1.0f / temperature);
    double sum = 0.0;
    for (int k = 0; k < NC; k++)
        sum += (double)w->e[k];
    const double norm = 1.0 / sum;
    for (int k = 0; k < NC; k++)
        w->p[k] = (double)w->e[k] * norm;
}

/* The nucleus without sorting 256 classes: bucket the classes by the float exponent of their
 * unnormalised probability e (64 octaves below the best class, which has e = 1, the last bucket
 * holding everything smaller), find the octave where the running mass reaches top_p, bucket that
 * octave by the next 8 bits of the mantissa, and sort only the classes of the finest bucket
 * where the mass is reached (usually one or two). Linear time whatever the distribution. The
 * masses are summed in class order within each bucket. */
static int nucleus_set(hiss_synth_sampler *w, double top_p)
{
    unsigned char *oct = w->bucket[0], *sub = w->bucket[1];
    for (int k = 0; k < NC; k++) {
        uint32_t bits;
        memcpy(&bits, &w->e[k], sizeof bits);
        const int o = 127 - (int)(bits >> 23);
        oct[k] = (unsigned char)(o > 64 ? 64 : o < 0 ? 0 : o);
        sub[k] = (unsigned char)((bits >> 15) & 0xFF);
    }
    double omass[65] = {0};
    for (int k = 0; k < NC; k++)
        if (w->p[k] > 0.0)
            omass[oct[k]] += w->p[k];
    double cum = 0.0;
    int ob = 0;
    while (ob < 64 && cum + omass[ob] < top_p)
        cum += omass[ob++];
    /* The octave's classes, listed without branching (which would mispredict on every class). */
    int *in_ob = w->work, n_ob = 0;
    for (int k = 0; k < NC; k++) {
        in_ob[n_ob] = k;
        n_ob += (w->p[k] > 0.0) & (oct[k] == ob);
    }
    /* Within the octave (sub-buckets are meaningless in the catch-all one: all of it is sorted). */
    double smass[256] = {0};
    for (int i = 0; i < n_ob; i++)
        smass[ob < 64 ? sub[in_ob[i]] : 0] += w->p[in_ob[i]];
    /* Down the sub-buckets while the mass stays below top_p. An empty one changes nothing (cum
     * stays below top_p throughout, and cum + 0 is cum), so only the others are added. */
    int sb = 255;
    if (ob < 64) {
        for (; sb > 0; sb--) {
            if (smass[sb] == 0.0)
                continue;
            if (!(cum + smass[sb] < top_p))
                break;
            cum += smass[sb];
        }
    } else {
        sb = 0;
    }
    /* The finest bucket's classes, sorted (insertion: few), taken until the mass is reached. */
    int m[NC], nm = 0;
    for (int i = 0; i < n_ob; i++) {
        const int k = in_ob[i];
        if (ob == 64 || sub[k] == sb) {
            int j = nm++;
            while (j > 0 && before(w->p, k, m[j - 1])) {
                m[j] = m[j - 1];
                j--;
            }
            m[j] = k;
        }
    }
    int take = 0;
    while (take < nm && (take == 0 || cum < top_p))
        cum += w->p[m[take++]];
    unsigned char in[NC] = {0};
    for (int i = 0; i < take; i++)
        in[m[i]] = 1;
    /* Every class of a more probable bucket, and those taken from the finest: in class order. */
    int count = 0;
    const int fine = ob < 64;
    for (int k = 0; k < NC; k++) {
        const int o = oct[k];
        const int keep = in[k] | ((w->p[k] > 0.0) & ((o < ob) | ((o == ob) & fine & (sub[k] > sb))));
        w->kept[count] = k;
        count += keep;
    }
    return count;
}

int hiss_synth_nucleus(hiss_synth_sampler *w, const float *logits, float temperature, float top_p)
{
    float mx;
    if (!scan_max(logits, &mx) || mx == -INFINITY)
        return 0; /* a NaN or +inf, or every logit -inf */
    if (!(temperature > 0.0f)) {
        int arg = 0;
        while (logits[arg] != mx)
            arg++; /* the lowest class among equals */
        for (int k = 0; k < NC; k++)
            w->p[k] = k == arg ? 1.0 : 0.0;
        w->kept[0] = arg;
        return 1;
    }
    softmax(w, logits, mx, temperature);
    if (top_p >= 1.0f) {
        for (int k = 0; k < NC; k++)
            w->kept[k] = k;
        return NC;
    }
    return nucleus_set(w, (double)top_p);
}

/* The first i with cum[i] > target (cum non-decreasing), or n when there is none. */
static int first_above(const double *cum, int n, double target)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (cum[mid] > target)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int hiss_synth_sample(hiss_synth_sampler *w, const float *logits, float temperature, float top_p,
                      hiss_synth_rng *rng)
{
    /* The draw: the class where the running sum of the probabilities, in class order, first
     * exceeds u times their total. Classes of probability 0 leave the running sum unchanged, so
     * the first running sum above the target is always a class of non-zero probability. */
    if (top_p >= 1.0f && temperature > 0.0f) {
        /* Every class is in the nucleus: no list of kept classes to build or follow. */
        float mx;
        if (!scan_max(logits, &mx) || mx == -INFINITY)
            return -1;
        softmax(w, logits, mx, temperature);
        const double u = hiss_synth_rng_uniform(rng);
        double cum = 0.0;
        for (int k = 0; k < NC; k++) {
            cum += w->p[k];
            w->cum[k] = cum;
        }
        const int k = first_above(w->cum, NC, u * cum);
        if (k < NC)
            return k;
        int last = NC - 1; /* the target rounded up to the total: the last class that counts */
        while (last > 0 && !(w->p[last] > 0.0))
            last--;
        return last;
    }
    const int n = hiss_synth_nucleus(w, logits, temperature, top_p);
    if (n == 0)
        return -1;
    /* A draw is taken even when the nucleus has one class, so that a voice's generator advances
     * one step per sample whatever the distribution. */
    const double u = hiss_synth_rng_uniform(rng);
    if (n == 1)
        return w->kept[0];
    double cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += w->p[w->kept[i]];
        w->cum[i] = cum;
    }
    /* A nucleus below the whole keeps only classes of non-zero probability. */
    const int i = first_above(w->cum, n, u * cum);
    return w->kept[i < n ? i : n - 1];
}
