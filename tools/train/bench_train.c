/* hiss-train-bench: the trainer's speed, in samples (forward + backward + optimiser step) per
 * second per thread, for synth or fx models of given sizes, on synthetic data (the cost does not
 * depend on the values). One thread unless --threads says otherwise (then the figure is divided
 * by the threads, so it shows how well they scale). Also per second of the process's CPU time,
 * which other work on a shared machine disturbs less, and the instruction set of the float math
 * (HISS_TRAIN_ISA chooses it; see hiss_train.h).
 *
 *   hiss-train-bench [--fx] [--d-model N] [--n-layer N] [--d-state N] [--window N]
 *                    [--batch N] [--threads N] [--seconds S] [--self-feed P]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hiss_train.h"
#include "opts.h"
#include "progress.h"

static int arg_int(const char *s, const char *name, long lo, long hi, int *out)
{
    long v;
    if (hiss_parse_long(s, lo, hi, &v)) {
        fprintf(stderr, "hiss-train-bench: --%s '%s': expected %ld to %ld\n", name, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int fx = 0, dm = 16, nl = 2, ds = 16, window = 4096, batch = 16, threads = 1;
    double seconds = 10, self_feed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        int bad = 0;
        if (strcmp(a, "--fx") == 0)
            fx = 1;
        else if (strcmp(a, "--d-model") == 0 && ++i)
            bad = arg_int(v, "d-model", 1, HISS_MAX_D_MODEL, &dm);
        else if (strcmp(a, "--n-layer") == 0 && ++i)
            bad = arg_int(v, "n-layer", 1, HISS_MAX_LAYERS, &nl);
        else if (strcmp(a, "--d-state") == 0 && ++i)
            bad = arg_int(v, "d-state", 1, HISS_MAX_D_STATE, &ds);
        else if (strcmp(a, "--window") == 0 && ++i)
            bad = arg_int(v, "window", 16, 1 << 20, &window);
        else if (strcmp(a, "--batch") == 0 && ++i)
            bad = arg_int(v, "batch", 1, 4096, &batch);
        else if (strcmp(a, "--threads") == 0 && ++i)
            bad = arg_int(v, "threads", 1, 1024, &threads);
        else if (strcmp(a, "--seconds") == 0 && ++i)
            bad = hiss_parse_double(v, &seconds) || !(seconds > 0);
        else if (strcmp(a, "--self-feed") == 0 && ++i)
            bad = hiss_parse_double(v, &self_feed) || !(self_feed >= 0 && self_feed <= 1);
        else {
            fprintf(stderr, "usage: hiss-train-bench [--fx] [--d-model N] [--n-layer N] "
                            "[--d-state N] [--window N] [--batch N] [--threads N] [--seconds S] "
                            "[--self-feed P]\n");
            return 2;
        }
        if (bad)
            return 2;
    }
    ht_isa isa;
    hiss_error err;
    if (ht_isa_select(&isa, &err)) {
        fprintf(stderr, "hiss-train-bench: %s\n", err.msg);
        return 2;
    }
    hiss_config c = {0};
    c.io = fx ? HISS_IO_FX : HISS_IO_SYNTH;
    c.d_model = dm;
    c.n_layer = nl;
    c.d_inner = 2 * dm;
    c.d_state = ds;
    c.d_conv = 4;
    c.dt_rank = (dm + 15) / 16;
    c.n_cond = fx ? 0 : 8;
    c.sample_rate = 48000;
    c.rms_eps = 1e-5f;
    ht_layout L;
    if (fx ? ht_layout_init(&L, &c) : ht_layout_init_synth(&L, &c, 1)) {
        fprintf(stderr, "hiss-train-bench: bad configuration\n");
        return 1;
    }
    float *P = calloc(L.n_params, sizeof *P);
    for (size_t j = 0; j < L.n_params; j++)
        P[j] = 0.01f * (float)((int)(j * 2654435761u % 200) - 100);
    ht_train_opts o = ht_train_opts_default();
    o.window = window;
    o.warmup = fx ? window / 8 : 0;
    o.batch = batch;
    o.threads = threads;
    o.total_steps = 1000000;
    o.self_feed = fx ? 0 : self_feed;
    /* data: 64 notes of 1 s (synth) or 64 s of audio (fx) */
    const size_t n = 64 * 48000;
    unsigned char *cls = malloc(n);
    float *in = malloc(n * sizeof *in), *tgt = malloc(n * sizeof *tgt);
    ht_note notes[64];
    for (int k = 0; k < 64; k++)
        notes[k] = (ht_note){(size_t)k * 48000, 48000, 36000, 48 + k % 37, 20 + k};
    for (size_t i = 0; i < n; i++) {
        cls[i] = (unsigned char)(i * 2654435761u >> 24);
        in[i] = tgt[i] = (float)((int)cls[i] - 128) / 256.0f;
    }
    const hiss_synth_feature feat[8] = {HISS_SYNTH_F_PITCH, HISS_SYNTH_F_VELOCITY,
                                        HISS_SYNTH_F_GATE,  HISS_SYNTH_F_ONSET,
                                        HISS_SYNTH_F_DECAY, HISS_SYNTH_F_RELEASE,
                                        HISS_SYNTH_F_SIN1,  HISS_SYNTH_F_COS1};
    const ht_synth_data sd = {cls, n, notes, 64, 8, feat, 48000};
    const ht_data fd = {in, tgt, n, 1, 0, NULL};
    ht_f_synth_trainer *st = fx ? NULL : ht_f_synth_trainer_create(&L, &o, P, &sd);
    ht_f_trainer *ft = fx ? ht_f_trainer_create(&L, &o, P) : NULL;
    if (!st && !ft) {
        fprintf(stderr, "hiss-train-bench: out of memory\n");
        return 1;
    }
    long samples = 0, steps = 0;
    int epoch = 0;
    const double t0 = hiss_now(), c0 = cpu_seconds();
    double t = t0;
    while (t - t0 < seconds) {
        if (fx) {
            ht_step_stats s;
            ht_f_trainer_step(ft, &fd, &s);
            samples += (long)batch * window;
        } else {
            ht_synth_stats s;
            int r = ht_f_synth_step(st, &s);
            if (r == 1) {
                ht_f_synth_epoch_begin(st, ++epoch);
                continue;
            }
            samples += s.n;
        }
        steps++;
        t = hiss_now();
    }
    const double cpu = cpu_seconds() - c0;
    if (!fx && self_feed > 0)
        printf("self-feed %g (each chunk played through the engine first):\n", self_feed);
    printf("%s d_model %d, %d layers, d_state %d, %zu parameters, window %d, batch %d, %d "
           "thread%s: %ld steps, %.0f samples/s per thread (forward + backward + AdamW), %.0f "
           "per CPU-second, isa %s\n",
           fx ? "fx" : "synth", dm, nl, ds, L.n_params, window, batch, threads,
           threads == 1 ? "" : "s", steps, (double)samples / (t - t0) / threads,
           (double)samples / cpu, ht_isa_name(isa));
    ht_f_synth_trainer_free(st);
    ht_f_trainer_free(ft);
    free(P);
    free(cls);
    free(in);
    free(tgt);
    ht_layout_free(&L);
    return 0;
}
