/* The small linear-algebra pieces of the CPU step, shared by every head (fx, synth) so that
 * their summation order is one and the same. */
#ifndef HISS_CPU_OPS_H
#define HISS_CPU_OPS_H

#include <math.h>
#include <stddef.h>

/* y[i] = sum_j wt[j][i] x[j] over j in order, for y of length n_out (y holds a bias or zeros).
 * Four columns per pass, added left to right in one expression: the same rounding sequence as
 * one column at a time, with a quarter of the loads and stores of y. */
static inline void matvec_t(float *restrict y, const float *restrict wt, const float *restrict x, int n_in,
                     int n_out)
{
    int j = 0;
    for (; j + 4 <= n_in; j += 4) {
        const float x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
        const float *restrict w0 = wt + (size_t)j * n_out;
        const float *restrict w1 = w0 + n_out, *restrict w2 = w1 + n_out, *restrict w3 = w2 + n_out;
        for (int i = 0; i < n_out; i++)
            y[i] = y[i] + w0[i] * x0 + w1[i] * x1 + w2[i] * x2 + w3[i] * x3;
    }
    for (; j < n_in; j++) {
        const float xj = x[j];
        const float *restrict w = wt + (size_t)j * n_out;
        for (int i = 0; i < n_out; i++)
            y[i] += w[i] * xj;
    }
}

static inline void rmsnorm(float *restrict out, const float *restrict v, const float *restrict w, int n, float eps)
{
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += v[i] * v[i];
    const float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = v[i] * inv * w[i];
}

#endif
