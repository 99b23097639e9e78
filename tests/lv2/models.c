#include "models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"

int tm_make(const char *path, const tm_spec *s)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = s->d_model;
    c.n_layer = s->n_layer;
    c.d_inner = s->expand * s->d_model;
    c.d_state = s->d_state;
    c.d_conv = s->d_conv;
    c.n_cond = s->n_cond;
    c.skip = s->skip;
    c.sample_rate = s->rate;
    hiss_model *m = NULL;
    hiss_error e = {0};
    if (hiss_model_init(&c, s->seed, &m, &e) != HISS_OK) {
        fprintf(stderr, "tm_make: %s\n", e.msg);
        return -1;
    }
    if ((s->cond_names && hiss_model_set_meta(m, "hiss.cond", s->cond_names) != HISS_OK) ||
        (s->cond_range && hiss_model_set_meta(m, "hiss.cond_range", s->cond_range) != HISS_OK) ||
        hiss_model_save(m, path, &e) != HISS_OK) {
        fprintf(stderr, "tm_make: %s: %s\n", path, e.msg[0] ? e.msg : "metadata refused");
        hiss_model_free(m);
        return -1;
    }
    hiss_model_free(m);
    return 0;
}

int tm_render(const char *path, double host_rate, int nch, const float *const *in, float *const *out,
              long n, const float *cond, int n_cond)
{
    hiss_model *m = NULL;
    hiss_stream *s = NULL;
    hiss_error e = {0};
    if (hiss_model_load(path, &m, &e) != HISS_OK) {
        fprintf(stderr, "tm_render: %s\n", e.msg);
        return -1;
    }
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = nch;
    o.max_block = 1000; /* cut differently from the plugin on purpose */
    o.host_rate = host_rate;
    o.rate_mode = HISS_RATE_DELTA;
    o.backend = HISS_BACKEND_CPU;
    if (hiss_stream_create(m, &o, &s, &e) != HISS_OK) {
        fprintf(stderr, "tm_render: %s\n", e.msg);
        hiss_model_free(m);
        return -1;
    }
    for (int i = 0; i < n_cond; i++)
        hiss_stream_set_cond(s, -1, i, cond[i]);
    for (long t = 0; t < n; t += 1000) {
        int len = n - t < 1000 ? (int)(n - t) : 1000;
        const float *ip[2];
        float *op[2];
        for (int k = 0; k < nch; k++) {
            ip[k] = in[k] + t;
            op[k] = out[k] + t;
        }
        hiss_stream_process(s, ip, op, len);
    }
    hiss_stream_free(s);
    hiss_model_free(m);
    return 0;
}

int tm_knob_conds(const char *path, float knob, float cond[4])
{
    hiss_model *m = NULL;
    hiss_error e = {0};
    if (hiss_model_load(path, &m, &e) != HISS_OK) {
        fprintf(stderr, "tm_knob_conds: %s\n", e.msg);
        return -1;
    }
    int n = hiss_model_config(m)->n_cond < 4 ? hiss_model_config(m)->n_cond : 4;
    const char *r = hiss_model_meta(m, "hiss.cond_range");
    for (int i = 0; i < n; i++) {
        double lo = 0, hi = 1;
        if (r && sscanf(r, "%lf:%lf", &lo, &hi) != 2)
            lo = 0, hi = 1;
        cond[i] = (float)(lo + (double)knob * (hi - lo));
        r = r ? strchr(r, ',') : NULL;
        if (r)
            r++;
    }
    hiss_model_free(m);
    return n;
}

void tm_signal(float *x, long n, uint32_t seed, double rate)
{
    const double pi = 3.14159265358979323846;
    uint32_t r = seed * 2654435761u + 12345u;
    double f1 = 82.4 * (1 + seed % 3), f2 = 329.6, f3 = 1318.5 + 37.0 * (seed % 5);
    for (long t = 0; t < n; t++) {
        double tt = (double)t / rate;
        double env = 0.5 + 0.4 * sin(2 * pi * 0.7 * tt);
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        double noise = ((double)r / 4294967296.0 - 0.5) * 0.1;
        double burst = fmod(tt, 0.5) < 0.05 ? 0.3 * sin(2 * pi * 2200 * tt) : 0.0;
        x[t] = (float)(env * (0.3 * sin(2 * pi * f1 * tt) + 0.2 * sin(2 * pi * f2 * tt) +
                              0.1 * sin(2 * pi * f3 * tt)) + noise + burst);
    }
}

int tm_garbage(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs("this is not a safetensors file, but it is long enough to have a header length", f);
    fclose(f);
    return 0;
}
