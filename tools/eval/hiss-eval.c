/* hiss-eval: how close a model comes to an effect on a dry/wet pair it was not trained on.
 * ESR = sum((pred - wet)^2) / sum(wet^2), plain and on pre-emphasised signals (1 - 0.85 z^-1),
 * the figures the trainer reports, computed in double from the engine's output. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "audiofile.h"
#include "hiss.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hiss-eval -m MODEL --dry DRY --wet WET [--cond NAME=VALUE]... [--skip-seconds S]\n"
               "Prints the model's ESR against WET when it processes DRY (mono files at the model's rate).\n"
               "  --skip-seconds S  leave the first S seconds out of the sums (default 0)\n");
}

static float *read_mono(const char *path, double want_rate, sf_count_t *frames)
{
    char msg[512];
    float *x;
    size_t n;
    int ch, rate;
    if (hiss_af_read(path, &x, &n, &ch, &rate, msg, sizeof msg) != 0) {
        fprintf(stderr, "hiss-eval: %s\n", msg);
        return NULL;
    }
    if (ch != 1 || rate != (int)want_rate) {
        fprintf(stderr, "hiss-eval: %s: need a mono file at %g Hz (it has %d channels at %d Hz)\n", path,
                want_rate, ch, rate);
        free(x);
        return NULL;
    }
    *frames = (sf_count_t)n;
    return x;
}

int main(int argc, char **argv)
{
    const char *mpath = NULL, *dry = NULL, *wet = NULL;
    const char *conds[HISS_MAX_COND];
    int n_conds = 0;
    double skip_s = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") && v) mpath = v, i++;
        else if (!strcmp(a, "--dry") && v) dry = v, i++;
        else if (!strcmp(a, "--wet") && v) wet = v, i++;
        else if (!strcmp(a, "--cond") && v && n_conds < HISS_MAX_COND) conds[n_conds++] = v, i++;
        else if (!strcmp(a, "--skip-seconds") && v) skip_s = atof(v), i++;
        else {
            fprintf(stderr, "hiss-eval: unknown or incomplete option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!mpath || !dry || !wet) {
        usage(stderr);
        return 2;
    }
    hiss_model *m;
    hiss_error err = {0};
    if (hiss_model_load(mpath, &m, &err) != HISS_OK) {
        fprintf(stderr, "hiss-eval: %s\n", err.msg);
        return 1;
    }
    const hiss_config *c = hiss_model_config(m);
    sf_count_t nd = 0, nw = 0;
    float *x = read_mono(dry, c->sample_rate, &nd);
    float *y = x ? read_mono(wet, c->sample_rate, &nw) : NULL;
    if (!x || !y || nd != nw) {
        if (x && y)
            fprintf(stderr, "hiss-eval: %s has %lld frames and %s %lld\n", dry, (long long)nd, wet, (long long)nw);
        return 1;
    }
    hiss_stream_opts o = hiss_stream_opts_default();
    o.max_block = 4096;
    hiss_stream *s;
    if (hiss_stream_create(m, &o, &s, &err) != HISS_OK) {
        fprintf(stderr, "hiss-eval: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < n_conds; i++) {
        const char *eq = strchr(conds[i], '=');
        int found = -1;
        for (int j = 0; eq && j < c->n_cond; j++)
            if (strlen(hiss_model_cond_name(m, j)) == (size_t)(eq - conds[i]) &&
                !strncmp(hiss_model_cond_name(m, j), conds[i], (size_t)(eq - conds[i])))
                found = j;
        if (found < 0) {
            fprintf(stderr, "hiss-eval: --cond %s: the model has no such conditioning input\n", conds[i]);
            return 2;
        }
        hiss_stream_set_cond(s, 0, found, (float)atof(eq + 1));
    }
    float *p = malloc(sizeof(float) * (size_t)nd);
    for (sf_count_t t = 0; t < nd; t += 4096) {
        int n = (int)(nd - t < 4096 ? nd - t : 4096);
        const float *in[1] = {x + t};
        float *out[1] = {p + t};
        hiss_stream_process(s, in, out, n);
    }
    sf_count_t start = (sf_count_t)(skip_s * c->sample_rate);
    double e2 = 0, t2 = 0, q2 = 0, r2 = 0;
    for (sf_count_t t = start > 0 ? start : 1; t < nd; t++) {
        double d = (double)p[t] - y[t];
        e2 += d * d;
        t2 += (double)y[t] * y[t];
        double pe_p = (double)p[t] - 0.85 * p[t - 1], pe_y = (double)y[t] - 0.85 * y[t - 1];
        q2 += (pe_p - pe_y) * (pe_p - pe_y);
        r2 += pe_y * pe_y;
    }
    printf("esr %.6e\nesr_pre_emphasis %.6e\nframes %lld\n", t2 > 0 ? e2 / t2 : NAN, r2 > 0 ? q2 / r2 : NAN,
           (long long)nd);
    free(p);
    free(x);
    free(y);
    hiss_stream_free(s);
    hiss_model_free(m);
    return 0;
}
