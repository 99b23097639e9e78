/* Branch-free exp and friends that compilers vectorise. The scan needs d_inner*d_state
 * exponentials per layer per sample, which is most of the step's cost; libm's expf does not
 * vectorise without -ffast-math, which would also license reassociation and so break the
 * bit-exact block invariance. Accuracy: about 2 ulp over the clamped range. */
#ifndef HISS_FASTMATH_H
#define HISS_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float hiss_exp(float x)
{
    /* Clamp so that 2^k stays a normal float; exp(-87.3) is below FLT_MIN and flushes anyway. */
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.0f ? 88.0f : x;
    /* k = round(x / ln2) by the 1.5*2^23 trick, r = x - k ln2 in two parts (Cody-Waite). */
    const float shift = 12582912.0f;
    float k = (x * 1.44269504088896341f + shift) - shift;
    float r = x - k * 0.693145751953125f;
    r = r - k * 1.42860682030941723212e-6f;
    /* Taylor to degree 7 on |r| <= ln2/2: truncation below 1e-8 relative. */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* softplus(v) = v for v > 20 (the threshold of the spec), else log(1 + e^v), computed as
 * max(v, 0) + log1p(e^-|v|) so nothing overflows; log1p(e) for e in (0, 1] through
 * 2 atanh(e / (2 + e)), whose series in s = e/(2+e) <= 1/3 converges to 1e-8 relative by s^15
 * and loses nothing for small e. */
static inline float hiss_softplus(float v)
{
    const float av = v < 0.0f ? -v : v;
    const float e = hiss_exp(-av);
    const float s = e / (2.0f + e);
    const float s2 = s * s;
    float p = 1.0f / 15.0f;
    p = p * s2 + 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    const float l = 2.0f * s * p;
    const float pos = v > 0.0f ? v : 0.0f;
    return v > 20.0f ? v : pos + l;
}

static inline float hiss_silu(float x)
{
    return x / (1.0f + hiss_exp(-x));
}

#endif
