/* hiss-bench-synth: what a synth voice costs per sample, in its parts: the sampler alone
 * (hiss_synth_sample on logits the model produced), the model step alone (hiss_synth_step), and
 * the whole instrument (hiss_synth_process with every voice held). Medians over runs, as
 * hiss-bench does; machines here are noisy, compare figures taken side by side. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hiss_synth.h"

#define N_LOGITS 512

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hiss-bench-synth [options]\n"
            "  --size DMxNL       a freshly initialised synth model (default 16x2), d_state 16\n"
            "  --rate HZ          its sample rate (default 16000)\n"
            "  --voices N         voices held in the instrument run (default 8)\n"
            "  --seconds S        audio per instrument run (default 2)\n"
            "  --draws N          draws per sampler run (default 200000)\n"
            "  --runs R           runs; the median is reported (default 5)\n"
            "  --temperature T    (default 1)\n"
            "  --top-p P          (default 1)\n"
            "  --logit-scale X    multiply the recorded logits by X for the sampler run, to mimic\n"
            "                     the peaked distributions of a trained model (default 1)\n"
            "Prints ns per draw (sampler), per step (model) and per voice-sample (instrument).\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    const double v = s ? strtod(s, &end) : 0.0;
    if (!s || errno || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "hiss-bench-synth: %s needs a number from %g to %g\n", opt, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    int dm = 16, nl = 2, voices = 8, runs = 5;
    double rate = 16000.0, seconds = 2.0, draws = 200000, temp = 1.0, top_p = 1.0, scale = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--size") && v) {
            if (sscanf(v, "%dx%d", &dm, &nl) != 2 || dm < 1 || nl < 1) {
                fprintf(stderr, "hiss-bench-synth: --size %s: expected DMxNL, e.g. 32x4\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--rate")) {
            rate = num(a, v, 1000, 192000), i++;
        } else if (!strcmp(a, "--voices")) {
            voices = (int)num(a, v, 1, HISS_SYNTH_MAX_VOICES), i++;
        } else if (!strcmp(a, "--seconds")) {
            seconds = num(a, v, 0.01, 3600), i++;
        } else if (!strcmp(a, "--draws")) {
            draws = num(a, v, 1, 1e9), i++;
        } else if (!strcmp(a, "--runs")) {
            runs = (int)num(a, v, 1, 1000), i++;
        } else if (!strcmp(a, "--temperature")) {
            temp = num(a, v, 0, 100), i++;
        } else if (!strcmp(a, "--top-p")) {
            top_p = num(a, v, 1e-6, 1), i++;
        } else if (!strcmp(a, "--logit-scale")) {
            scale = num(a, v, 0, 1000), i++;
        } else {
            fprintf(stderr, "hiss-bench-synth: unknown or incomplete option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    hiss_config c = {0};
    c.d_model = dm;
    c.n_layer = nl;
    c.d_state = 16;
    c.d_conv = 4;
    c.sample_rate = rate;
    hiss_synth_model *m;
    hiss_error err;
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release,sin1,cos1", 1, 1, &m, &err) != HISS_OK) {
        fprintf(stderr, "hiss-bench-synth: %s\n", err.msg);
        return 1;
    }
    const hiss_config *mc = hiss_synth_model_config(m);

    /* Logits the model gives along a note, teacher-forced on a sine. */
    float *logits = malloc(sizeof(float) * HISS_SYNTH_CLASSES * N_LOGITS);
    float *state = calloc(hiss_synth_state_floats(m), sizeof(float));
    float *scratch = calloc(hiss_synth_scratch_floats(m), sizeof(float));
    double *t = malloc(sizeof(double) * (size_t)runs);
    if (!logits || !state || !scratch || !t) {
        fprintf(stderr, "hiss-bench-synth: out of memory\n");
        return 1;
    }
    hiss_synth_note note = hiss_synth_note_start(60.0, 100);
    float cond[HISS_MAX_COND];
    int prev = HISS_SYNTH_SILENCE_CLASS;
    for (int k = 0; k < N_LOGITS; k++) {
        for (int i = 0; i < mc->n_cond; i++)
            cond[i] = hiss_synth_feature_value(hiss_synth_model_feature(m, i), &note, rate);
        float *l = logits + (size_t)k * HISS_SYNTH_CLASSES;
        hiss_synth_step(m, state, prev, cond, l, scratch);
        prev = hiss_synth_mulaw_encode((float)(0.5 * sin(6.283185307179586 * 261.63 * k / rate)));
        hiss_synth_note_advance(&note, rate);
        for (int j = 0; j < HISS_SYNTH_CLASSES; j++)
            l[j] *= (float)scale;
    }

    /* The sampler alone. The checksum keeps the draws from being optimised away. */
    hiss_synth_sampler w;
    hiss_synth_rng r;
    long sum = 0;
    const long nd = (long)draws;
    for (int run = 0; run < runs; run++) {
        hiss_synth_rng_seed(&r, (uint64_t)run);
        const double t0 = now_s();
        for (long i = 0; i < nd; i++)
            sum += hiss_synth_sample(&w, logits + (size_t)(i % N_LOGITS) * HISS_SYNTH_CLASSES, (float)temp,
                                     (float)top_p, &r);
        t[run] = (now_s() - t0) / (double)nd;
    }
    const double t_sample = median(t, runs);

    /* The step alone. */
    const long ns = 20000;
    for (int run = 0; run < runs; run++) {
        memset(state, 0, hiss_synth_state_floats(m) * sizeof(float));
        const double t0 = now_s();
        for (long i = 0; i < ns; i++)
            hiss_synth_step(m, state, (int)(i & 255), cond, logits, scratch);
        t[run] = (now_s() - t0) / (double)ns;
    }
    const double t_step = median(t, runs);

    /* The instrument, every voice held. */
    hiss_synth_opts o = hiss_synth_opts_default();
    o.n_voices = voices;
    o.temperature = (float)temp;
    o.top_p = (float)top_p;
    hiss_synth *s;
    if (hiss_synth_create(m, &o, &s, &err) != HISS_OK) {
        fprintf(stderr, "hiss-bench-synth: %s\n", err.msg);
        return 1;
    }
    const int n = (int)(seconds * rate), block = 256;
    float *out = malloc(sizeof(float) * (size_t)block);
    for (int run = 0; run < runs; run++) {
        hiss_synth_reset(s);
        for (int v = 0; v < voices; v++)
            hiss_synth_note_on(s, 48 + 3 * v, 100);
        const double t0 = now_s();
        for (int done = 0; done < n; done += block)
            hiss_synth_process(s, out, n - done < block ? n - done : block);
        t[run] = (now_s() - t0) / ((double)n * voices);
    }
    const double t_inst = median(t, runs);
    const int active = hiss_synth_active_voices(s);

    printf("synth model %dx%d, d_state 16, %g Hz, %llu params, %llu MACs/sample | temperature %g, top_p %g, "
           "logit scale %g | runs %d (medians)\n",
           dm, nl, rate, (unsigned long long)hiss_synth_model_param_count(m),
           (unsigned long long)hiss_synth_model_macs_per_sample(m), temp, top_p, scale, runs);
    printf("sampler    %8.1f ns/draw          (%ld draws per run, checksum %ld)\n", t_sample * 1e9, nd, sum);
    printf("step       %8.1f ns/step\n", t_step * 1e9);
    printf("instrument %8.1f ns/voice-sample  (%d voices, %d still active; %.2f us per voice-sample over "
           "step + sampler = %.2f us) | real-time voices at %g Hz: %.1f\n",
           t_inst * 1e9, voices, active, t_inst * 1e6, (t_step + t_sample) * 1e6, rate, 1.0 / (t_inst * rate));
    hiss_synth_free(s);
    hiss_synth_model_free(m);
    free(out);
    free(logits);
    free(state);
    free(scratch);
    free(t);
    return 0;
}
