/* hiss-train --synth: train a synth model (docs/synth.md) on recorded notes.
 *
 *   hiss-train --synth --notes DIR_OR_MANIFEST -o MODEL [--cond pitch,velocity,...] [options]
 *
 * The data is what tools/data/make-synth-data.sh writes: per split, the notes end to end in a
 * mono WAV and a text file saying what each note was. Training minimises the cross-entropy of
 * the 256 mu-law classes with teacher forcing (the input at sample t is the class of the recorded
 * sample t-1, 128 at a note's first sample; the target the class of sample t), walking each note
 * from its note-on in chunks with the state carried (synth_trainer.c). After every epoch the
 * model is run through the engine on the held-out notes ("val" split); the best epoch is written
 * to MODEL, with a checkpoint, a CSV log and a PNG plot beside it. Reads WAV itself: needs no
 * libsndfile. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "hiss_train.h"
#include "opts.h"
#include "synth_files.h"
#include "synth_main.h"
#include "synth_model.h"
#ifdef HISS_HAVE_CAIRO
#include "plot.h"
#endif
#include "progress.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static const char *prog = "hiss-train --synth";

/* As in hiss-train.c: the handler can only talk through a global; the loop polls it. */
static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

#define DEFAULT_COND "pitch,velocity,gate,onset,decay,release,sin1,cos1"

typedef struct synth_args {
    const char *notes, *out, *checkpoint, *log, *cond;
    int resume, quiet, no_plot, head_bias;
    hiss_config cfg;
    int expand, epochs, stop_after;
    ht_train_opts o;
} synth_args;

int ht_synth_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--synth") == 0)
            return 1;
    return 0;
}

void ht_synth_usage(FILE *f)
{
    fprintf(f,
            "Usage: hiss-train --synth --notes DIR_OR_MANIFEST -o MODEL [options]\n"
            "Train a hiss synth model (docs/synth.md) on recorded notes: cross-entropy of the 256\n"
            "mu-law classes, teacher-forced, each note from its note-on.\n\n"
            "Data:\n"
            "  --notes PATH        a directory with manifest.json, or the manifest, as written by\n"
            "                      tools/data/make-synth-data.sh; its \"train\" split is trained\n"
            "                      on, its \"val\" split (held-out notes) chooses the best epoch\n"
            "  --cond LIST         conditioning features, comma-separated, from pitch, velocity,\n"
            "                      gate, onset, decay, release, sin1, cos1, sin2, cos2\n"
            "                      (default " DEFAULT_COND ")\n"
            "Model:\n"
            "  --d-model N (16)  --n-layer N (2)  --d-state N (16)  --d-conv N (4)\n"
            "  --expand N (2)  --dt-rank N (ceil(d_model/16))  --no-head-bias (no lm_head.bias)\n"
            "Training:\n"
            "  --epochs N (30; an epoch plays every training note once)\n"
            "  --stop-after N (end this run after N epochs; --resume continues the schedule)\n"
            "  --lr X (5e-3)  --lr-min X (lr/100)  --lr-warmup N (steps, 100)\n"
            "  --schedule cosine|step (cosine)\n"
            "  --batch N (16 notes played side by side)  --window N (4096: samples per chunk;\n"
            "            gradients stop at a chunk's start, the state carries on)\n"
            "  --seed N (1)  --threads N (CPUs)  --weight-decay X (1e-4)  --clip X (1, 0: off)\n"
            "  --input-noise N (0: move each teacher-forced input class by a uniform -N..N,\n"
            "            so the model learns to play from its own draws)\n"
            "Output:\n"
            "  -o, --output FILE   the model of the best validation epoch (.safetensors)\n"
            "  --checkpoint FILE   (default: MODEL without .safetensors + .ckpt)\n"
            "  --log FILE          CSV per epoch (default: .csv); the plot goes to .png\n"
            "  --no-plot  --resume (continue from the checkpoint)  -q, --quiet (errors only)\n"
            "  -h, --help\n\n"
            "Exit status: 0 done, 1 runtime error, 2 usage error, 128+N stopped by signal N.\n");
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
    return hiss_usage_error(prog, fmt, a, b);
}

typedef struct int_opt {
    const char *name;
    int *field;
    long lo, hi;
} int_opt;

typedef struct real_opt {
    const char *name;
    double *field;
    double lo, hi;
} real_opt;

static int parse_args(int argc, char **argv, synth_args *t, int *done)
{
    memset(t, 0, sizeof *t);
    *done = 0;
    t->o = ht_train_opts_default();
    t->o.batch = 16;
    t->o.window = 4096;
    t->o.warmup = 0;
    t->o.lr = 5e-3;
    t->o.lr_min = -1;
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    t->o.threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1;
    t->cfg.io = HISS_IO_SYNTH;
    t->cfg.d_model = 16;
    t->cfg.n_layer = 2;
    t->cfg.d_state = 16;
    t->cfg.d_conv = 4;
    t->cfg.rms_eps = 1e-5f;
    t->expand = 2;
    t->epochs = 30;
    t->head_bias = 1;
    t->cond = DEFAULT_COND;
    int seed = 1, lr_warmup = 100;
    const int_opt ints[] = {
        {"d-model", &t->cfg.d_model, 1, HISS_MAX_D_MODEL},
        {"n-layer", &t->cfg.n_layer, 1, HISS_MAX_LAYERS},
        {"d-state", &t->cfg.d_state, 1, HISS_MAX_D_STATE},
        {"d-conv", &t->cfg.d_conv, 1, HISS_MAX_D_CONV},
        {"expand", &t->expand, 1, 64},
        {"dt-rank", &t->cfg.dt_rank, 1, HISS_MAX_D_INNER},
        {"epochs", &t->epochs, 1, 1000000},
        {"stop-after", &t->stop_after, 1, 1000000},
        {"batch", &t->o.batch, 1, 65536},
        {"window", &t->o.window, 1, 1 << 22},
        {"seed", &seed, 0, 2147483647},
        {"threads", &t->o.threads, 1, 1024},
        {"lr-warmup", &lr_warmup, 0, 100000000},
        {"input-noise", &t->o.input_noise, 0, 64},
    };
    const real_opt reals[] = {
        {"lr", &t->o.lr, 1e-9, 10},
        {"lr-min", &t->o.lr_min, 0, 10},
        {"weight-decay", &t->o.weight_decay, 0, 10},
        {"clip", &t->o.clip, 0, 1e9},
    };
    hiss_argv a = {argc, argv, 1};
    while (a.i < argc) {
        const char *arg = argv[a.i];
        const char *v = NULL;
        int m = 0;
        if (arg[0] != '-' || arg[1] == '\0')
            return usage_error("unexpected argument '%s'%s", arg, "");
        for (size_t k = 0; !m && k < sizeof ints / sizeof *ints; k++) {
            if ((m = hiss_opt_checked(&a, prog, NULL, ints[k].name, &v)) < 0)
                return EXIT_USAGE;
            long x;
            if (m && hiss_parse_long(v, ints[k].lo, ints[k].hi, &x) != 0) {
                fprintf(stderr, "%s: --%s '%s': expected a whole number from %ld to %ld\n", prog,
                        ints[k].name, v, ints[k].lo, ints[k].hi);
                return EXIT_USAGE;
            }
            if (m)
                *ints[k].field = (int)x;
        }
        for (size_t k = 0; !m && k < sizeof reals / sizeof *reals; k++) {
            if ((m = hiss_opt_checked(&a, prog, NULL, reals[k].name, &v)) < 0)
                return EXIT_USAGE;
            double x;
            if (m && (hiss_parse_double(v, &x) != 0 || x < reals[k].lo || x > reals[k].hi)) {
                fprintf(stderr, "%s: --%s '%s': expected a number from %g to %g\n", prog,
                        reals[k].name, v, reals[k].lo, reals[k].hi);
                return EXIT_USAGE;
            }
            if (m)
                *reals[k].field = x;
        }
        if (m)
            continue;
        if ((m = hiss_opt_checked(&a, prog, NULL, "synth", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
        } else if ((m = hiss_opt_checked(&a, prog, "h", "help", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            ht_synth_usage(stdout);
            *done = 1;
            return 0;
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "notes", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->notes = v;
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "cond", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->cond = v;
        } else if ((m = hiss_opt_checked(&a, prog, "o", "output", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->out = v;
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "checkpoint", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->checkpoint = v;
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "log", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->log = v;
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "schedule", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (strcmp(v, "cosine") == 0)
                t->o.schedule = HT_SCHED_COSINE;
            else if (strcmp(v, "step") == 0)
                t->o.schedule = HT_SCHED_STEP;
            else
                return usage_error("--schedule '%s': expected cosine or step%s", v, "");
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "no-head-bias", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->head_bias = 0;
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "resume", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->resume = 1;
        } else if ((m = hiss_opt_checked(&a, prog, NULL, "no-plot", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->no_plot = 1;
        } else if ((m = hiss_opt_checked(&a, prog, "q", "quiet", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->quiet = 1;
        } else {
            return usage_error("unknown option '%s' (fx options do not apply to --synth; see "
                               "hiss-train --synth --help)%s",
                               arg, "");
        }
    }
    if (!t->notes)
        return usage_error("no training data (--notes DIR_OR_MANIFEST)%s%s", "", "");
    if (!t->out)
        return usage_error("no output model (-o MODEL)%s%s", "", "");
    t->o.seed = (uint64_t)seed;
    t->o.lr_warmup_steps = lr_warmup;
    if (t->o.lr_min < 0)
        t->o.lr_min = t->o.lr / 100;
    t->cfg.d_inner = t->expand * t->cfg.d_model;
    if (t->cfg.d_inner > HISS_MAX_D_INNER)
        return usage_error("--expand x --d-model is above the engine's limit for d_inner%s%s", "",
                           "");
    if (!t->cfg.dt_rank)
        t->cfg.dt_rank = (t->cfg.d_model + 15) / 16;
    return 0;
}

/* "model.safetensors" -> "model" + ext */
static char *beside(const char *out, const char *ext)
{
    const char *suffix = ".safetensors";
    size_t n = strlen(out);
    if (n > strlen(suffix) && strcmp(out + n - strlen(suffix), suffix) == 0)
        n -= strlen(suffix);
    char *s = malloc(n + strlen(ext) + 1);
    if (s) {
        memcpy(s, out, n);
        strcpy(s + n, ext);
    }
    return s;
}

/* hiss_synth.h has no metadata setter yet; the synth model keeps its metadata in its backbone's
 * hiss_model (synth_model.h), which hiss_synth_model_save writes. */
static int set_meta(hiss_synth_model *m, const char *key, const char *value)
{
    return hiss_model_set_meta(m->bb, key, value) == HISS_OK ? 0 : -1;
}

static int set_meta_num(hiss_synth_model *m, const char *key, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", v);
    return set_meta(m, key, buf);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static double entropy_bits(const unsigned char *c, size_t n)
{
    double h[256] = {0}, e = 0;
    for (size_t i = 0; i < n; i++)
        h[c[i]]++;
    for (int k = 0; k < 256; k++)
        if (h[k] > 0)
            e -= h[k] / (double)n * log2(h[k] / (double)n);
    return e;
}

/* Earlier epochs from the CSV of a resumed run, for the plot. */
static void read_history(const char *path, double *train, double *val, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int epoch;
        long step;
        double lr, tb, vb;
        if (sscanf(line, "%d,%ld,%lf,%lf,%lf", &epoch, &step, &lr, &tb, &vb) == 5 && epoch >= 1 &&
            epoch <= cap) {
            train[epoch - 1] = tb;
            val[epoch - 1] = vb;
        }
    }
    fclose(f);
}

static ht_synth_data data_of(const hs_split *s, const hiss_synth_model *m, double rate,
                             hiss_synth_feature *feat)
{
    const hiss_config *c = hiss_synth_model_config(m);
    for (int i = 0; i < c->n_cond; i++)
        feat[i] = hiss_synth_model_feature(m, i);
    ht_synth_data d = {s->cls, s->n, s->note, s->n_notes, c->n_cond, feat, rate};
    return d;
}

static void report_split(FILE *f, const hs_split *s, double rate)
{
    fprintf(f, "%s: %d notes, %.1f s (%s, %s); peak %.1f dBFS, class histogram entropy %.3f "
               "bits\n",
            s->name, s->n_notes, (double)s->n / rate, s->audio, s->notes,
            s->peak > 0 ? 20 * log10(s->peak) : -INFINITY, entropy_bits(s->cls, s->n));
}

int ht_synth_main(int argc, char **argv)
{
    synth_args ta;
    int done;
    int rc = parse_args(argc, argv, &ta, &done);
    if (rc || done)
        return rc;
    synth_args *tp = &ta;
    char msg[2048];
    FILE *sink = tp->quiet ? fopen("/dev/null", "w") : stdout;
    if (!sink)
        sink = stderr;
    int status = 0;

    /* ---- data ---- */
    hs_manifest man;
    hs_split train, val;
    memset(&train, 0, sizeof train);
    memset(&val, 0, sizeof val);
    if (hs_manifest_load(tp->notes, &man, msg, sizeof msg) ||
        hs_split_load(&man, "train", &train, msg, sizeof msg) ||
        hs_split_load(&man, "val", &val, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", prog, msg);
        hs_split_free(&train);
        hs_split_free(&val);
        return EXIT_RUNTIME;
    }
    fprintf(sink, "instrument: %s (bank %d, program %d) of %s, %g Hz\n", man.instrument, man.bank,
            man.program, man.soundfont, man.rate);
    report_split(sink, &train, man.rate);
    report_split(sink, &val, man.rate);
    if (train.peak < 1e-4 || val.peak < 1e-4) {
        fprintf(stderr, "%s: %s is silent\n", prog, train.peak < 1e-4 ? train.audio : val.audio);
        return EXIT_RUNTIME;
    }

    /* ---- model, trainer, checkpoint ---- */
    char *ckpt_path = tp->checkpoint ? strdup(tp->checkpoint) : beside(tp->out, ".ckpt");
    char *log_path = tp->log ? strdup(tp->log) : beside(tp->out, ".csv");
    char *png_path = log_path ? malloc(strlen(log_path) + 5) : NULL;
    if (!ckpt_path || !log_path || !png_path) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    strcpy(png_path, log_path);
    {
        char *dot = strrchr(png_path, '.'), *slash = strrchr(png_path, '/');
        if (dot && (!slash || dot > slash))
            *dot = '\0';
        strcat(png_path, ".png");
    }
    hiss_config cfg = tp->cfg;
    cfg.sample_rate = man.rate;
    const char *cond = tp->cond;
    int head_bias = tp->head_bias;
    tc_state ck;
    memset(&ck, 0, sizeof ck);
    if (tp->resume) {
        if (tc_load(ckpt_path, &ck, msg, sizeof msg)) {
            fprintf(stderr, "%s: --resume: %s\n", prog, msg);
            return EXIT_RUNTIME;
        }
        if (ck.cfg.io != HISS_IO_SYNTH || ck.cfg.sample_rate != man.rate) {
            fprintf(stderr, "%s: %s: %s model at %g Hz, the data is %g Hz synth notes\n", prog,
                    ckpt_path, ck.cfg.io == HISS_IO_SYNTH ? "a synth" : "an fx",
                    ck.cfg.sample_rate, man.rate);
            return EXIT_RUNTIME;
        }
        cfg = ck.cfg;
        cond = ck.cond;
        head_bias = ck.head_bias;
        fprintf(sink, "resuming from %s after epoch %d (step %ld); the model's shape and "
                      "features come from the checkpoint\n",
                ckpt_path, ck.epoch, ck.step);
    }
    hiss_synth_model *model;
    hiss_error err;
    if (hiss_synth_model_init(&cfg, cond, head_bias, tp->o.seed, &model, &err) != HISS_OK) {
        fprintf(stderr, "%s: --cond %s: %s\n", prog, cond, err.msg);
        return EXIT_RUNTIME;
    }
    cfg = *hiss_synth_model_config(model);
    ht_layout L;
    if (ht_layout_init_synth(&L, &cfg, head_bias)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    if (tp->resume && ck.n_params != L.n_params) {
        fprintf(stderr, "%s: %s holds %zu parameters, the model needs %zu\n", prog, ckpt_path,
                ck.n_params, L.n_params);
        return EXIT_RUNTIME;
    }
    /* Provenance: how this model was made and from what, so it can be made again. */
    {
        size_t len = 1;
        for (int k = 0; k < argc; k++)
            len += strlen(argv[k]) + 1;
        char *cmd = malloc(len);
        char when[32], line[8192], num[32];
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        time_t now = sde && *sde ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
        struct tm tmv;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
        if (cmd) {
            cmd[0] = 0;
            for (int k = 0; k < argc; k++) {
                if (k)
                    strcat(cmd, " ");
                strcat(cmd, argv[k]);
            }
        }
        snprintf(line, sizeof line, "%s=%s,%s=%s,%s=%s,%s=%s,%s=%s", base_name(man.path), man.sha,
                 base_name(train.audio), train.audio_sha, base_name(train.notes), train.notes_sha,
                 base_name(val.audio), val.audio_sha, base_name(val.notes), val.notes_sha);
        int bad = !cmd || set_meta(model, "hiss.train.command", cmd) ||
                  set_meta(model, "hiss.train.date", when) ||
                  set_meta(model, "hiss.train.data_sha256", line) ||
                  set_meta_num(model, "hiss.macs_per_sample",
                               (double)ht_synth_macs_per_sample(&L));
        snprintf(line, sizeof line, "%s (bank %d, program %d) of %s", man.instrument, man.bank,
                 man.program, base_name(man.soundfont));
        bad = bad || set_meta(model, "hiss.synth.instrument", line) ||
              set_meta(model, "hiss.synth.soundfont", man.soundfont) ||
              set_meta(model, "hiss.synth.soundfont_sha256", man.soundfont_sha);
        snprintf(num, sizeof num, "%d", man.program);
        bad = bad || set_meta(model, "hiss.synth.program", num) ||
              set_meta(model, "hiss.synth.temperature", "1");
        free(cmd);
        if (bad) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return EXIT_RUNTIME;
        }
    }
    float *P = malloc(L.n_params * sizeof *P);
    if (!P || ht_f_params_from_synth(&L, model, P, &err)) {
        fprintf(stderr, "%s: %s\n", prog, P ? err.msg : "out of memory");
        return EXIT_RUNTIME;
    }
    if (tp->resume)
        memcpy(P, ck.P, L.n_params * sizeof *P);
    hiss_synth_feature feat[HISS_MAX_COND];
    const ht_synth_data td = data_of(&train, model, man.rate, feat);
    const ht_synth_data vd = data_of(&val, model, man.rate, feat);
    /* the schedule: every epoch's steps, known from the note order alone */
    long *epoch_steps = malloc((size_t)tp->epochs * sizeof *epoch_steps);
    if (!epoch_steps) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    tp->o.total_steps = 0;
    for (int e = 0; e < tp->epochs; e++) {
        epoch_steps[e] = ht_synth_epoch_steps(&td, tp->o.batch, tp->o.window, tp->o.seed, e);
        tp->o.total_steps += epoch_steps[e];
    }
    if (tp->o.lr_warmup_steps > tp->o.total_steps / 5)
        tp->o.lr_warmup_steps = tp->o.total_steps / 5;
    ht_f_synth_trainer *tr = ht_f_synth_trainer_create(&L, &tp->o, P, &td);
    if (!tr) {
        fprintf(stderr, "%s: out of memory for the trainer (%.0f MB of activations per thread)\n",
                prog, ht_acts_reals(&L, tp->o.window) * sizeof(float) / 1e6);
        return EXIT_RUNTIME;
    }
    int epoch0 = 0, best_epoch = 0;
    double best = INFINITY;
    if (tp->resume) {
        memcpy(ht_f_synth_trainer_moment(tr, 0), ck.m, L.n_params * sizeof(float));
        memcpy(ht_f_synth_trainer_moment(tr, 1), ck.v, L.n_params * sizeof(float));
        ht_f_synth_trainer_set_steps(tr, ck.step);
        epoch0 = ck.epoch;
        best_epoch = ck.best_epoch;
        best = best_epoch ? ck.best_val : INFINITY;
        free(ck.P);
        free(ck.m);
        free(ck.v);
    }
    fprintf(sink,
            "model: d_model %d, %d layers, d_inner %d, d_state %d, d_conv %d, dt_rank %d, "
            "features %s, lm_head bias %s: %zu parameters, %llu MACs per sample\n",
            cfg.d_model, cfg.n_layer, cfg.d_inner, cfg.d_state, cfg.d_conv, cfg.dt_rank, cond,
            head_bias ? "on" : "off", L.n_params,
            (unsigned long long)ht_synth_macs_per_sample(&L));
    fprintf(sink,
            "training: %d epochs of about %ld steps, %d notes side by side in chunks of %d "
            "samples, lr %g to %g (%s), %d threads, %.0f MB of activations per thread\n",
            tp->epochs, tp->o.total_steps / tp->epochs, tp->o.batch, tp->o.window, tp->o.lr,
            tp->o.lr_min, tp->o.schedule == HT_SCHED_COSINE ? "cosine" : "step", tp->o.threads,
            ht_acts_reals(&L, tp->o.window) * sizeof(float) / 1e6);

    double *hist_train = malloc((size_t)tp->epochs * sizeof(double));
    double *hist_val = malloc((size_t)tp->epochs * sizeof(double));
    if (!hist_train || !hist_val) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    for (int e = 0; e < tp->epochs; e++)
        hist_train[e] = hist_val[e] = NAN;
    if (tp->resume)
        read_history(log_path, hist_train, hist_val, tp->epochs);
    FILE *csv = fopen(log_path, tp->resume ? "a" : "w");
    if (!csv) {
        fprintf(stderr, "%s: %s: cannot write the log\n", prog, log_path);
        return EXIT_RUNTIME;
    }
    if (!tp->resume)
        fprintf(csv, "epoch,step,lr,train_bits,val_bits,seconds\n");
    fflush(csv);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const int end = tp->stop_after && epoch0 + tp->stop_after < tp->epochs
                        ? epoch0 + tp->stop_after
                        : tp->epochs;
    hiss_progress bar;
    hiss_progress_start(&bar, (int64_t)(end - epoch0) * (int64_t)train.n, man.rate,
                        !tp->quiet && isatty(2));
    const double t0 = hiss_now();
    int epoch = epoch0;
    int64_t frames_done = 0;
    for (; epoch < end && !g_signal; epoch++) {
        ht_f_synth_epoch_begin(tr, epoch);
        double bits = 0;
        long n = 0;
        ht_synth_stats st = {0};
        int r = 0;
        while (!g_signal && (r = ht_f_synth_step(tr, &st)) == 0) {
            if (!isfinite(st.nll)) {
                hiss_progress_end(&bar);
                fprintf(stderr,
                        "%s: the loss is no longer finite (epoch %d, step %ld): lower --lr; the "
                        "last checkpoint and the best model are kept\n",
                        prog, epoch + 1, ht_f_synth_trainer_steps(tr));
                r = -2;
                break;
            }
            bits += st.bits * (double)st.n;
            n += st.n;
            frames_done += st.n;
            hiss_progress_update(&bar, frames_done);
        }
        if (r == -1)
            fprintf(stderr, "%s: could not start the training threads\n", prog);
        if (r < 0) {
            status = EXIT_RUNTIME;
            break;
        }
        if (g_signal)
            break; /* the epoch is not complete: the checkpoint below says so */
        bits /= n > 0 ? (double)n : 1;
        double vbits = NAN;
        if (ht_f_params_to_synth(&L, P, model, &err) ||
            ht_synth_eval_engine(model, &vd, tp->o.threads, &vbits, &err) != HISS_OK) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            status = EXIT_RUNTIME;
            break;
        }
        const int improved = vbits < best;
        hiss_progress_end(&bar);
        if (improved) {
            best = vbits;
            best_epoch = epoch + 1;
            if (set_meta_num(model, "hiss.train.epoch", epoch + 1) ||
                set_meta_num(model, "hiss.train.train_nll_bits", bits) ||
                set_meta_num(model, "hiss.train.val_nll_bits", vbits)) {
                fprintf(stderr, "%s: out of memory\n", prog);
                status = EXIT_RUNTIME;
                break;
            }
            if (hiss_synth_model_save(model, tp->out, &err) != HISS_OK) {
                fprintf(stderr, "%s: %s\n", prog, err.msg);
                status = EXIT_RUNTIME;
                break;
            }
        }
        const double secs = hiss_now() - t0;
        fprintf(sink,
                "epoch %d/%d: train %.4f bits/sample | validation %.4f bits/sample | lr %.2e | "
                "%.1f s%s\n",
                epoch + 1, tp->epochs, bits, vbits, st.lr, secs,
                improved ? " (best, saved)" : "");
        fflush(sink);
        fprintf(csv, "%d,%ld,%.6e,%.6f,%.6f,%.2f\n", epoch + 1, ht_f_synth_trainer_steps(tr),
                st.lr, bits, vbits, secs);
        fflush(csv);
        hist_train[epoch] = bits;
        hist_val[epoch] = vbits;
#ifdef HISS_HAVE_CAIRO
        if (!tp->no_plot && plot_curves_png(png_path, hist_train, hist_val, epoch + 1,
                                            "training bits/sample", "validation bits/sample", 0))
            fprintf(stderr, "%s: warning: %s: could not write the plot\n", prog, png_path);
#endif
        tc_state out = {cfg, L.n_params, ht_f_synth_trainer_steps(tr), 0, epoch + 1, best_epoch,
                        best, P, ht_f_synth_trainer_moment(tr, 0),
                        ht_f_synth_trainer_moment(tr, 1), head_bias, ""};
        snprintf(out.cond, sizeof out.cond, "%s", cond);
        if (tc_save(ckpt_path, &out, msg, sizeof msg)) {
            fprintf(stderr, "%s: %s\n", prog, msg);
            status = EXIT_RUNTIME;
            break;
        }
    }
    hiss_progress_end(&bar);
    fclose(csv);
    if (g_signal && !status) {
        /* The epoch restarts from its beginning on --resume (its note order is a function of
         * the seed and the epoch); the parameters and step count keep what it did. */
        tc_state out = {cfg, L.n_params, ht_f_synth_trainer_steps(tr), 0, epoch, best_epoch, best,
                        P, ht_f_synth_trainer_moment(tr, 0), ht_f_synth_trainer_moment(tr, 1),
                        head_bias, ""};
        snprintf(out.cond, sizeof out.cond, "%s", cond);
        if (tc_save(ckpt_path, &out, msg, sizeof msg))
            fprintf(stderr, "%s: %s\n", prog, msg);
        else
            fprintf(stderr, "%s: stopped by signal %d; %s written, continue with --resume\n", prog,
                    (int)g_signal, ckpt_path);
        status = 128 + g_signal;
    } else if (!status && epoch < tp->epochs) {
        fprintf(sink, "stopped after epoch %d of %d as asked; continue with --resume\n", epoch,
                tp->epochs);
    } else if (!status) {
        fprintf(sink, "done: best epoch %d, validation %.4f bits/sample; model %s, log %s%s%s\n",
                best_epoch, best, tp->out, log_path, tp->no_plot ? "" : ", plot ",
                tp->no_plot ? "" : png_path);
    }
    ht_f_synth_trainer_free(tr);
    ht_layout_free(&L);
    hiss_synth_model_free(model);
    free(P);
    free(epoch_steps);
    free(hist_train);
    free(hist_val);
    free(ckpt_path);
    free(log_path);
    free(png_path);
    hs_split_free(&train);
    hs_split_free(&val);
    if (sink != stdout && sink != stderr)
        fclose(sink);
    return status;
}
