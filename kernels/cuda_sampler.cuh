/* The synth's sampler on the device, for one warp: the same draws as the CPU's
 * (engine/src/synth_sample.c) to the bit, from the same logits and generator state.
 *
 * The unnormalised probabilities e are the CPU's exactly (its exp, operation by operation, with
 * no contraction into FMA). The CPU then rounds two chains of 256 double additions in class
 * order (the sum that normalises, the running sum of the draw), which a warp cannot follow in
 * parallel. At top_p 1 the warp decides from a parallel prefix sum instead, and only where that
 * decision could differ from the CPU's does lane 0 repeat the CPU's arithmetic: both roundings
 * stay within 1.3e-13 of the exact cumulative probabilities (at most 3 x 256 roundings of values
 * at most the total), so a uniform u farther than 1e-12 (relative to the total) from the two
 * cumulative sums around the class found gives that class on the CPU too. That happens about
 * 4e-12 of the time; below top_p 1 lane 0 always repeats the CPU's nucleus (slow: see
 * docs/BENCHMARKS.md). */
#ifndef HISS_CUDA_SAMPLER_CUH
#define HISS_CUDA_SAMPLER_CUH

#include <stdint.h>

#include "cuda_device.cuh"

/* The work space of the exact path (HS_SMP_FLOATS floats, 8-byte aligned). */
struct hs_smp {
    double p[256], smass[256], omass[66];
    float e[256];
    int work[256], kept[256], m[256];
    unsigned char oct[256], sub[256], in[256];
};

__device__ __forceinline__ uint64_t hs_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (hiss_synth_rng_next). */
__device__ __forceinline__ uint64_t hs_rng_next(uint64_t *s)
{
    const uint64_t out = hs_rotl(s[1] * 5u, 7) * 9u;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = hs_rotl(s[3], 45);
    return out;
}

__device__ __forceinline__ double hs_rng_uniform(uint64_t *s)
{
    return (double)(hs_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* hiss_exp (engine/src/fastmath.h), each operation rounded as the CPU rounds it. */
__device__ __forceinline__ float hs_exp_cpu(float x)
{
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.0f ? 88.0f : x;
    const float shift = 12582912.0f;
    const float k = __fsub_rn(__fadd_rn(__fmul_rn(x, 1.44269504088896341f), shift), shift);
    float r = __fsub_rn(x, __fmul_rn(k, 0.693145751953125f));
    r = __fsub_rn(r, __fmul_rn(k, 1.42860682030941723212e-6f));
    float p = 1.0f / 5040.0f;
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 720.0f);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 120.0f);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 24.0f);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 6.0f);
    p = __fadd_rn(__fmul_rn(p, r), 0.5f);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f);
    return __fmul_rn(p, __int_as_float(((int)k + 127) << 23));
}

__device__ __forceinline__ int hs_before(const double *p, int a, int b)
{
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

/* The CPU's nucleus_set, step for step (one thread). */
__device__ int hs_nucleus_set(hs_smp *w, double top_p)
{
    for (int k = 0; k < 256; k++) {
        const unsigned bits = __float_as_uint(w->e[k]);
        const int o = 127 - (int)(bits >> 23);
        w->oct[k] = (unsigned char)(o > 64 ? 64 : o < 0 ? 0 : o);
        w->sub[k] = (unsigned char)((bits >> 15) & 0xFF);
    }
    for (int b = 0; b < 65; b++)
        w->omass[b] = 0.0;
    for (int k = 0; k < 256; k++)
        if (w->p[k] > 0.0)
            w->omass[w->oct[k]] = __dadd_rn(w->omass[w->oct[k]], w->p[k]);
    double cum = 0.0;
    int ob = 0;
    while (ob < 64 && __dadd_rn(cum, w->omass[ob]) < top_p)
        cum = __dadd_rn(cum, w->omass[ob++]);
    int n_ob = 0;
    for (int k = 0; k < 256; k++)
        if (w->p[k] > 0.0 && w->oct[k] == ob)
            w->work[n_ob++] = k;
    for (int b = 0; b < 256; b++)
        w->smass[b] = 0.0;
    for (int i = 0; i < n_ob; i++) {
        const int b = ob < 64 ? w->sub[w->work[i]] : 0;
        w->smass[b] = __dadd_rn(w->smass[b], w->p[w->work[i]]);
    }
    int sb = 255;
    if (ob < 64) {
        for (; sb > 0; sb--) {
            if (w->smass[sb] == 0.0)
                continue;
            if (!(__dadd_rn(cum, w->smass[sb]) < top_p))
                break;
            cum = __dadd_rn(cum, w->smass[sb]);
        }
    } else {
        sb = 0;
    }
    int nm = 0;
    for (int i = 0; i < n_ob; i++) {
        const int k = w->work[i];
        if (ob == 64 || w->sub[k] == sb) {
            int j = nm++;
            while (j > 0 && hs_before(w->p, k, w->m[j - 1])) {
                w->m[j] = w->m[j - 1];
                j--;
            }
            w->m[j] = k;
        }
    }
    int take = 0;
    while (take < nm && (take == 0 || cum < top_p))
        cum = __dadd_rn(cum, w->p[w->m[take++]]);
    for (int k = 0; k < 256; k++)
        w->in[k] = 0;
    for (int i = 0; i < take; i++)
        w->in[w->m[i]] = 1;
    int count = 0;
    for (int k = 0; k < 256; k++) {
        const int o = w->oct[k];
        if (w->in[k] || (w->p[k] > 0.0 && (o < ob || (o == ob && ob < 64 && w->sub[k] > sb))))
            w->kept[count++] = k;
    }
    return count;
}

/* The CPU's draw from w->e (at least one e > 0) and u, step for step (one thread). */
__device__ int hs_draw_exact(hs_smp *w, double u, float top_p)
{
    double sum = 0.0;
    for (int k = 0; k < 256; k++)
        sum = __dadd_rn(sum, (double)w->e[k]);
    const double norm = __ddiv_rn(1.0, sum);
    for (int k = 0; k < 256; k++)
        w->p[k] = __dmul_rn((double)w->e[k], norm);
    if (top_p >= 1.0f) {
        double total = 0.0;
        for (int k = 0; k < 256; k++)
            total = __dadd_rn(total, w->p[k]);
        const double target = __dmul_rn(u, total);
        double cum = 0.0;
        for (int k = 0; k < 256; k++) {
            cum = __dadd_rn(cum, w->p[k]);
            if (cum > target)
                return k;
        }
        int last = 255;
        while (last > 0 && !(w->p[last] > 0.0))
            last--;
        return last;
    }
    const int n = hs_nucleus_set(w, (double)top_p);
    if (n == 1)
        return w->kept[0];
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total = __dadd_rn(total, w->p[w->kept[i]]);
    const double target = __dmul_rn(u, total);
    double cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum = __dadd_rn(cum, w->p[w->kept[i]]);
        if (cum > target)
            return w->kept[i];
    }
    return w->kept[n - 1];
}

/* One draw from logits[256] (16-byte aligned), called by all 32 lanes of a warp with the same
 * generator state s (each lane advances its copy alike). Returns the class on every lane, or -1
 * when the logits are no distribution (a NaN, +inf, or all -inf; then no number is drawn).
 * greedy: temperature 0; inv_t: 1 / temperature as the CPU computes it (in float). exact: take
 * the CPU's sequential path always (for tests). w: the exact path's work space. */
__device__ __forceinline__ int hs_sample_warp(const float *logits, float inv_t, float top_p, int greedy, uint64_t *s,
                              hs_smp *w, int exact)
{
    const int lane = threadIdx.x & 31;
    float L[8];
    {
        const float4 a = reinterpret_cast<const float4 *>(logits)[2 * lane];
        const float4 b = reinterpret_cast<const float4 *>(logits)[2 * lane + 1];
        L[0] = a.x; L[1] = a.y; L[2] = a.z; L[3] = a.w;
        L[4] = b.x; L[5] = b.y; L[6] = b.z; L[7] = b.w;
    }
    int bad = 0;
    float mx = -INFINITY;
    int arg = -1;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        bad |= isnan(L[i]) || L[i] == INFINITY;
        if (L[i] > mx) {
            mx = L[i];
            arg = 8 * lane + i;
        }
    }
    if (__any_sync(HC_FULL, bad))
        return -1;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float omx = __shfl_xor_sync(HC_FULL, mx, o);
        const int oarg = __shfl_xor_sync(HC_FULL, arg, o);
        if (oarg >= 0 && (arg < 0 || omx > mx || (omx == mx && oarg < arg))) {
            mx = omx;
            arg = oarg;
        }
    }
    if (arg < 0)
        return -1; /* every logit -inf */
    const double u = hs_rng_uniform(s);
    if (greedy)
        return arg;
    float e[8];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const float x = __fmul_rn(__fsub_rn(L[i], mx), inv_t);
        const float v = hs_exp_cpu(x);
        e[i] = x < -87.0f ? 0.0f : v;
    }
    if (top_p >= 1.0f && !exact) {
        double E[8], acc = 0.0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            acc = __dadd_rn(acc, (double)e[i]);
            E[i] = acc;
        }
        double inc = acc;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const double v = __shfl_up_sync(HC_FULL, inc, o);
            if (lane >= o)
                inc = __dadd_rn(inc, v);
        }
        double excl = __shfl_up_sync(HC_FULL, inc, 1);
        if (lane == 0)
            excl = 0.0;
        const double total = __shfl_sync(HC_FULL, inc, 31);
        const double target = __dmul_rn(u, total);
        int li = 8;
#pragma unroll
        for (int i = 7; i >= 0; i--)
            if (target < __dadd_rn(excl, E[i]))
                li = i;
        const unsigned has = __ballot_sync(HC_FULL, li < 8);
        if (has) {
            const int fl = __ffs(has) - 1;
            int safe = 0;
            if (lane == fl) {
                double hi = excl, lo = excl;
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    if (i == li)
                        hi = __dadd_rn(excl, E[i]);
                    if (i + 1 == li)
                        lo = __dadd_rn(excl, E[i]);
                }
                const double margin = 1e-12 * total;
                safe = hi - target > margin && (lo == 0.0 || target - lo > margin);
            }
            safe = __shfl_sync(HC_FULL, safe, fl);
            const int k = __shfl_sync(HC_FULL, 8 * lane + li, fl);
            if (safe)
                return k;
        }
    }
#pragma unroll
    for (int i = 0; i < 8; i++)
        w->e[8 * lane + i] = e[i];
    __syncwarp();
    int c = 0;
    if (lane == 0)
        c = hs_draw_exact(w, u, top_p);
    return __shfl_sync(HC_FULL, c, 0);
}

#endif
