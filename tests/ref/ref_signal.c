#include "ref_signal.h"
#include "ref_rng.h"

#include <math.h>

void ref_signal(float *x, int n, uint64_t seed, double rate)
{
    ref_rng g = ref_rng_seed(seed);
    const double tau = 6.283185307179586;
    int p1 = n / 4, p2 = n / 2, p3 = n / 2 + n / 8, p4 = 3 * n / 4;
    for (int t = 0; t < n; t++) {
        double v;
        if (t < p1)
            v = 0.5 * ref_rng_sym(&g);
        else if (t < p2)
            v = 0.4 * sin(tau * 220.0 * t / rate) + 0.3 * sin(tau * 3100.0 * t / rate + 1.0);
        else if (t < p3)
            v = t < (p2 + p3) / 2 ? 0.0 : 0.8;
        else if (t < p4)
            v = 0.0;
        else
            v = 0.3 * ref_rng_sym(&g) + 0.5 * sin(tau * 55.0 * t / rate);
        x[t] = (float)v;
    }
}

ref_err ref_compare(const float *out, const double *ref, const float *minus, int n)
{
    ref_err e = {0};
    double num = 0.0, den = 0.0;
    for (int t = 0; t < n; t++) {
        if (!isfinite(out[t])) {
            e.n_nonfinite++;
            continue;
        }
        double m = minus ? (double)minus[t] : 0.0;
        double o = (double)out[t] - m, r = ref[t] - m;
        double d = fabs(o - r);
        num += d * d;
        den += r * r;
        if (d > e.max_abs)
            e.max_abs = d;
    }
    e.rel_l2 = den > 0 ? sqrt(num / den) : sqrt(num);
    e.ref_rms = sqrt(den / (n > 0 ? n : 1));
    if (e.n_nonfinite)
        e.rel_l2 = INFINITY;
    return e;
}
