/* A fresh model with the initialisation of the official mamba_ssm Mamba-1 (mamba_simple.py and
 * MixerModel._init_weights), so a model trained from it behaves like one trained in PyTorch:
 *   linear weights   U(-1/sqrt(fan_in), 1/sqrt(fan_in))   (PyTorch's default kaiming_uniform(a=sqrt 5))
 *   linear biases    0                                      (MixerModel zeroes them)
 *   conv1d           U(+-1/sqrt(d_conv)) for weight and bias (fan_in of a depthwise conv)
 *   dt_proj.weight   U(+-dt_rank^-0.5)
 *   dt_proj.bias     softplus^-1(dt), dt log-uniform in [1e-3, 1e-1], floored at 1e-4
 *   A_log[d, n]      log(n + 1)                             (S4D-real)
 *   D                1
 *   out_proj         U(+-1/sqrt(d_inner)) / sqrt(n_layer)   (GPT-2 style prenorm residual rescale)
 *   norms            1
 * and for hiss's own head:
 *   input_proj.bias  U(-1, 1): the first RMSNorm divides by the residual's own level, so with a
 *                    zero bias it would see W x / |W x|, the sign of the sample and not its
 *                    amplitude; a fixed offset of order 1 makes the normalised input linear in
 *                    small x, and level-dependent effects (drive, compression) learnable.
 *   output_proj.bias 0 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next_u64(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(rng *r)
{
    return (double)(next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

static void fill_uniform(rng *r, float *w, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * uniform01(r) - 1.0) * bound);
}

static void fill_const(float *w, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        w[i] = v;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

hiss_status hiss_model_init(const hiss_config *cfg_in, uint64_t seed, hiss_model **out, hiss_error *err)
{
    hiss_config c = *cfg_in;
    if (c.d_inner == 0)
        c.d_inner = 2 * c.d_model;
    if (c.dt_rank == 0)
        c.dt_rank = (c.d_model + 15) / 16;
    if (c.rms_eps == 0.0f)
        c.rms_eps = 1e-5f;
    if (c.sample_rate == 0.0)
        c.sample_rate = 48000.0;
    if (c.io == 0)
        c.io = HISS_IO_FX;
    hiss_model *m;
    hiss_status st = hiss_model_alloc(&c, &m, err);
    if (st != HISS_OK)
        return st;
    rng r = {seed};
    for (int i = 0; i < m->n_tensors; i++) {
        const hiss_tensor_rec *t = &m->tensors[i];
        float *w = m->arena + t->offset;
        const char *n = t->name;
        if (ends_with(n, "norm.weight") || ends_with(n, "norm_f.weight") || ends_with(n, "mixer.D")) {
            fill_const(w, t->numel, 1.0f);
        } else if (ends_with(n, "A_log")) {
            for (int d = 0; d < c.d_inner; d++)
                for (int k = 0; k < c.d_state; k++)
                    w[(size_t)d * c.d_state + k] = logf((float)(k + 1));
        } else if (ends_with(n, "dt_proj.bias")) {
            const double lo = log(1e-3), hi = log(1e-1);
            for (size_t j = 0; j < t->numel; j++) {
                double dt = exp(uniform01(&r) * (hi - lo) + lo);
                if (dt < 1e-4)
                    dt = 1e-4;
                w[j] = (float)(dt + log(-expm1(-dt))); /* softplus^-1 */
            }
        } else if (ends_with(n, "dt_proj.weight")) {
            fill_uniform(&r, w, t->numel, 1.0 / sqrt((double)c.dt_rank));
        } else if (ends_with(n, "conv1d.weight") || ends_with(n, "conv1d.bias")) {
            fill_uniform(&r, w, t->numel, 1.0 / sqrt((double)c.d_conv));
        } else if (ends_with(n, "out_proj.weight")) {
            fill_uniform(&r, w, t->numel, 1.0 / sqrt((double)c.d_inner) / sqrt((double)c.n_layer));
        } else if (!strcmp(n, "input_proj.bias")) {
            fill_uniform(&r, w, t->numel, 1.0);
        } else if (ends_with(n, ".bias")) {
            fill_const(w, t->numel, 0.0f); /* output_proj */
        } else {
            /* A plain linear weight [out, in]: fan_in is the last dimension. */
            fill_uniform(&r, w, t->numel, 1.0 / sqrt((double)t->shape[t->ndim - 1]));
        }
    }
    hiss_model_finish(m);
    char buf[64];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
    if (hiss_model_set_meta(m, "hiss.init_seed", buf) != HISS_OK) {
        hiss_model_free(m);
        hiss_seterr(err, HISS_ERR_NOMEM, "out of memory");
        return HISS_ERR_NOMEM;
    }
    *out = m;
    return HISS_OK;
}
