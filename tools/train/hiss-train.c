/* hiss-train: train a hiss FX model on recordings of an effect.
 *
 *   hiss-train --dry IN.wav --wet OUT.wav [--cond NAME=VALUE ...] [more pairs] -o MODEL [options]
 *
 * Each pair is the effect's input (dry) and its output (wet), sample-aligned, of one sample rate.
 * Training minimises the pre-emphasised ESR plus a DC term over windows sampled at random from
 * the training part of the data; after every epoch the model is run through the engine on the
 * validation part, the best epoch is written to MODEL, and a checkpoint, a CSV log and a PNG plot
 * of the loss are written beside it. --resume continues from the checkpoint.
 *
 * Exit status: 0 done, 1 runtime error (files, data, model), 2 usage error, 128+N when stopped by
 * signal N (SIGINT, SIGTERM) after writing a checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>

#include "checkpoint.h"
#include "dataset.h"
#include "hiss.h"
#include "hiss_train.h"
#include "opts.h"
#ifdef HISS_HAVE_CAIRO
#include "plot.h"
#endif
#include "progress.h"
#include "synth_main.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
enum { MAX_PAIRS = 256 };

static const char *prog = "hiss-train";

/* The one piece of global state: a signal handler can only talk through a global. The training
 * loop polls it between steps, writes a checkpoint and stops. */
static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

typedef struct train_args {
    td_pair pairs[MAX_PAIRS];
    int n_pairs;
    const char *out, *checkpoint, *log;
    int resume, quiet, no_plot;
    hiss_config cfg;
    int expand;
    ht_train_opts o;
    int epochs;
    int stop_after;       /* epochs to run in this invocation, 0: all */
    long steps_per_epoch; /* 0: from the data */
    double val_seconds;   /* < 0: the default */
} train_args;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --dry IN --wet OUT [--cond NAME=VALUE ...] [--dry ... --wet ...] -o MODEL "
            "[options]\n"
            "Train a hiss FX model (Mamba) on recordings of an effect.\n\n"
            "Data:\n"
            "  --dry FILE, --wet FILE  a recording pair: the effect's input and its output, same\n"
            "                          rate, same length, aligned. Repeat for more pairs.\n"
            "  --cond NAME=VALUE       a conditioning input's value for the pair before it (every\n"
            "                          pair must set the same names)\n"
            "  --val-dry FILE, --val-wet FILE  a validation pair (then --val-seconds is 0)\n"
            "  --val-seconds S         hold out the last S seconds of the pairs, in proportion to\n"
            "                          their lengths (default 10%%, at most 30 s; 0: none)\n"
            "Model:\n"
            "  --d-model N (16)  --n-layer N (2)  --d-state N (16)  --d-conv N (4)\n"
            "  --expand N (2)  --dt-rank N (ceil(d_model/16))\n"
            "  --skip (add the input sample to the output)\n"
            "Training:\n"
            "  --epochs N (50)\n"
            "  --steps-per-epoch N (default: data length / (batch x (window - warmup)))\n"
            "  --stop-after N (end this run after N epochs; --resume continues the schedule)\n"
            "  --lr X (5e-3)  --lr-min X (lr/100)  --lr-warmup N (steps, 100)\n"
            "  --schedule cosine|step (cosine)\n"
            "  --batch N (16)  --window N (4096)  --warmup N (512, samples left out of the loss)\n"
            "  --seed N (1)  --threads N (CPUs)  --weight-decay X (1e-4)  --clip X (1, 0: off)\n"
            "  --pre-emph X (0.85)  --dc-weight X (1)\n"
            "Output:\n"
            "  -o, --output FILE       the model of the best validation epoch (.safetensors)\n"
            "  --checkpoint FILE       (default: MODEL without .safetensors + .ckpt)\n"
            "  --log FILE              CSV per epoch (default: .csv); the plot goes to .png\n"
            "  --no-plot  --resume (continue from the checkpoint)  -q, --quiet (errors only)\n"
            "  -h, --help  --version\n\n"
            "Exit status: 0 done, 1 runtime error, 2 usage error, 128+N stopped by signal N.\n"
            "\nSynth models: hiss-train --synth --notes DIR -o MODEL [options] "
            "(hiss-train --synth --help)\n",
            prog);
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
    return hiss_usage_error(prog, fmt, a, b);
}

static int opt(hiss_argv *a, const char *shortname, const char *longname, const char **v)
{
    return hiss_opt_checked(a, prog, shortname, longname, v);
}

/* Integer options: name, field, range. */
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

static td_pair *pair_for(train_args *t, int val, const char *which, const char *file)
{
    /* a --dry opens a pair, the --wet that follows completes it (or the other way round) */
    td_pair *last = t->n_pairs ? &t->pairs[t->n_pairs - 1] : NULL;
    const int is_dry = strcmp(which, "dry") == 0;
    if (last && last->val == val && (is_dry ? !last->dry : !last->wet)) {
        if (is_dry)
            last->dry = file;
        else
            last->wet = file;
        return last;
    }
    if (t->n_pairs == MAX_PAIRS)
        return NULL;
    td_pair *p = &t->pairs[t->n_pairs++];
    memset(p, 0, sizeof *p);
    p->val = val;
    if (is_dry)
        p->dry = file;
    else
        p->wet = file;
    return p;
}

static int parse_args(int argc, char **argv, train_args *t, int *done)
{
    memset(t, 0, sizeof *t);
    *done = 0;
    t->o = ht_train_opts_default();
    t->o.batch = 16;
    t->o.window = 4096;
    t->o.warmup = 512;
    t->o.lr = 5e-3;
    t->o.lr_min = -1;
    t->o.lr_warmup_steps = 100;
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    t->o.threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1;
    t->cfg.io = HISS_IO_FX;
    t->cfg.d_model = 16;
    t->cfg.n_layer = 2;
    t->cfg.d_state = 16;
    t->cfg.d_conv = 4;
    t->cfg.rms_eps = 1e-5f;
    t->expand = 2;
    t->epochs = 50;
    t->val_seconds = -1;
    int seed = 1, lr_warmup = 100;
    int steps = 0;
    const int_opt ints[] = {
        {"d-model", &t->cfg.d_model, 1, HISS_MAX_D_MODEL},
        {"n-layer", &t->cfg.n_layer, 1, HISS_MAX_LAYERS},
        {"d-state", &t->cfg.d_state, 1, HISS_MAX_D_STATE},
        {"d-conv", &t->cfg.d_conv, 1, HISS_MAX_D_CONV},
        {"expand", &t->expand, 1, 64},
        {"dt-rank", &t->cfg.dt_rank, 1, HISS_MAX_D_INNER},
        {"epochs", &t->epochs, 1, 1000000},
        {"stop-after", &t->stop_after, 1, 1000000},
        {"steps-per-epoch", &steps, 1, 100000000},
        {"batch", &t->o.batch, 1, 65536},
        {"window", &t->o.window, 2, 1 << 22},
        {"warmup", &t->o.warmup, 0, 1 << 22},
        {"seed", &seed, 0, 2147483647},
        {"threads", &t->o.threads, 1, 1024},
        {"lr-warmup", &lr_warmup, 0, 100000000},
    };
    const real_opt reals[] = {
        {"lr", &t->o.lr, 1e-9, 10},
        {"lr-min", &t->o.lr_min, 0, 10},
        {"weight-decay", &t->o.weight_decay, 0, 10},
        {"clip", &t->o.clip, 0, 1e9},
        {"pre-emph", &t->o.loss.pre_emph, 0, 0.999},
        {"dc-weight", &t->o.loss.dc_weight, 0, 1e6},
        {"val-seconds", &t->val_seconds, 0, 1e7},
    };
    hiss_argv a = {argc, argv, 1};
    while (a.i < argc) {
        const char *arg = argv[a.i];
        const char *v = NULL;
        int m = 0;
        if (arg[0] != '-' || arg[1] == '\0')
            return usage_error("unexpected argument '%s'%s", arg, "");
        for (size_t k = 0; !m && k < sizeof ints / sizeof *ints; k++) {
            if ((m = opt(&a, NULL, ints[k].name, &v)) < 0)
                return EXIT_USAGE;
            long x;
            if (m && hiss_parse_long(v, ints[k].lo, ints[k].hi, &x) != 0) {
                char range[64];
                snprintf(range, sizeof range, "a whole number from %ld to %ld", ints[k].lo,
                         ints[k].hi);
                fprintf(stderr, "%s: --%s '%s': expected %s\n", prog, ints[k].name, v, range);
                return EXIT_USAGE;
            }
            if (m)
                *ints[k].field = (int)x;
        }
        for (size_t k = 0; !m && k < sizeof reals / sizeof *reals; k++) {
            if ((m = opt(&a, NULL, reals[k].name, &v)) < 0)
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
        if ((m = opt(&a, "h", "help", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            usage(stdout);
            *done = 1;
            return 0;
        } else if ((m = opt(&a, NULL, "version", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            char sfv[128] = "";
            sf_command(NULL, SFC_GET_LIB_VERSION, sfv, sizeof sfv);
            printf("hiss-train (hiss %s), %s\n", hiss_version(), sfv);
            *done = 1;
            return 0;
        } else if ((m = opt(&a, NULL, "dry", &v)) || (m = opt(&a, NULL, "wet", &v)) ||
                   (m = opt(&a, NULL, "val-dry", &v)) || (m = opt(&a, NULL, "val-wet", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            const int val = strncmp(arg, "--val-", 6) == 0;
            const char *which = strstr(arg, "dry") ? "dry" : "wet";
            if (!pair_for(t, val, which, v))
                return usage_error("too many recording pairs (at most %s)%s", "256", "");
        } else if ((m = opt(&a, NULL, "cond", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (!t->n_pairs)
                return usage_error("--cond '%s' before any --dry/--wet pair%s", v, "");
            td_pair *p = &t->pairs[t->n_pairs - 1];
            const char *eq = strchr(v, '=');
            double x;
            if (!eq || eq == v || (size_t)(eq - v) >= TD_NAME_LEN)
                return usage_error("--cond '%s': expected NAME=VALUE (a name of at most 63 "
                                   "characters)%s",
                                   v, "");
            if (hiss_parse_double(eq + 1, &x) != 0)
                return usage_error("--cond '%s': '%s' is not a number", v, eq + 1);
            if (strchr(v, ',') && strchr(v, ',') < eq)
                return usage_error("--cond '%s': a name cannot contain ','%s", v, "");
            if (p->n_cond == TD_MAX_COND)
                return usage_error("--cond '%s': at most 16 conditioning inputs%s", v, "");
            for (int k = 0; k < p->n_cond; k++)
                if (strncmp(p->cond_name[k], v, (size_t)(eq - v)) == 0 &&
                    p->cond_name[k][eq - v] == '\0')
                    return usage_error("--cond '%s': set twice for the same pair%s", v, "");
            memcpy(p->cond_name[p->n_cond], v, (size_t)(eq - v));
            p->cond_name[p->n_cond][eq - v] = '\0';
            p->cond_value[p->n_cond++] = x;
        } else if ((m = opt(&a, "o", "output", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->out = v;
        } else if ((m = opt(&a, NULL, "checkpoint", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->checkpoint = v;
        } else if ((m = opt(&a, NULL, "log", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            t->log = v;
        } else if ((m = opt(&a, NULL, "schedule", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (strcmp(v, "cosine") == 0)
                t->o.schedule = HT_SCHED_COSINE;
            else if (strcmp(v, "step") == 0)
                t->o.schedule = HT_SCHED_STEP;
            else
                return usage_error("--schedule '%s': expected cosine or step%s", v, "");
        } else if ((m = opt(&a, NULL, "skip", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->cfg.skip = 1;
        } else if ((m = opt(&a, NULL, "resume", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->resume = 1;
        } else if ((m = opt(&a, NULL, "no-plot", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->no_plot = 1;
        } else if ((m = opt(&a, "q", "quiet", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            t->quiet = 1;
        } else {
            return usage_error("unknown option '%s'%s", arg, "");
        }
    }
    if (!t->out)
        return usage_error("no output model (-o MODEL)%s%s", "", "");
    int n_train = 0;
    for (int i = 0; i < t->n_pairs; i++) {
        const td_pair *p = &t->pairs[i];
        if (!p->dry || !p->wet)
            return usage_error("%s '%s' has no partner", p->dry ? "--dry" : "--wet",
                               p->dry ? p->dry : p->wet);
        n_train += !p->val;
    }
    if (!n_train)
        return usage_error("no training data (--dry IN --wet OUT)%s%s", "", "");
    if (t->o.warmup >= t->o.window)
        return usage_error("--warmup must be smaller than --window%s%s", "", "");
    t->o.seed = (uint64_t)seed;
    t->o.lr_warmup_steps = lr_warmup;
    if (t->o.lr_min < 0)
        t->o.lr_min = t->o.lr / 100;
    t->steps_per_epoch = steps;
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

typedef struct val_result {
    double loss, esr, esr_pe;
} val_result;

/* The engine on every validation recording from a zero state, the first `skip` samples of each
 * left out; the loss has the training loss's form (pre-emphasised ESR + DC term). */
static int validate(const hiss_model *m, const td_set *v, size_t skip, const ht_loss_cfg *lc,
                    float *pred, val_result *r, char *msg, size_t msz)
{
    double e2 = 0, t2 = 0, q2 = 0, p2 = 0, es = 0;
    size_t count = 0, begin = 0;
    for (int s = 0; s < v->n_seg; s++) {
        const size_t end = v->seg_end[s], n = end - begin;
        ht_data d = {v->in + begin * (size_t)v->n_in, v->target + begin, n, v->n_in, 0, NULL};
        hiss_error err;
        if (ht_eval_engine(m, &d, skip, lc->pre_emph, NULL, NULL, pred, &err) != HISS_OK) {
            snprintf(msg, msz, "%s", err.msg);
            return -1;
        }
        for (size_t i = skip; i < n; i++) {
            const double t = d.target[i], e = (double)pred[i] - t;
            const double tp = i ? d.target[i - 1] : 0, ep = i ? (double)pred[i - 1] - tp : 0;
            e2 += e * e;
            t2 += t * t;
            q2 += (e - lc->pre_emph * ep) * (e - lc->pre_emph * ep);
            p2 += (t - lc->pre_emph * tp) * (t - lc->pre_emph * tp);
            es += e;
        }
        count += n > skip ? n - skip : 0;
        begin = end;
    }
    if (!count || t2 <= 0 || p2 <= 0) {
        snprintf(msg, msz, "validation data: nothing left after the first %zu samples of each "
                           "recording, or silent",
                 skip);
        return -1;
    }
    r->esr = e2 / t2;
    r->esr_pe = q2 / p2;
    r->loss = r->esr_pe + lc->dc_weight * (es / count) * (es / count) / (t2 / count);
    return 0;
}

/* Earlier epochs from the CSV of a resumed run, for the plot. */
static int read_history(const char *path, double *train, double *val, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        int epoch;
        long step;
        double lr, tl, te, vl, ve;
        if (sscanf(line, "%d,%ld,%lf,%lf,%lf,%lf,%lf", &epoch, &step, &lr, &tl, &te, &vl, &ve) ==
                7 &&
            epoch >= 1 && epoch <= cap) {
            train[epoch - 1] = tl;
            val[epoch - 1] = ve;
            n = epoch > n ? epoch : n;
        }
    }
    fclose(f);
    return n;
}

static int set_meta_num(hiss_model *m, const char *key, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", v);
    return hiss_model_set_meta(m, key, buf) == HISS_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (ht_synth_wanted(argc, argv))
        return ht_synth_main(argc, argv);
    train_args *tp = malloc(sizeof *tp); /* large: 256 pairs */
    if (!tp) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    int done;
    int rc = parse_args(argc, argv, tp, &done);
    if (rc || done) {
        free(tp);
        return rc;
    }
    char msg[2048];
    FILE *info = tp->quiet ? NULL : stdout;
    FILE *sink = info ? info : fopen("/dev/null", "w");
    if (!sink)
        sink = stderr;

    /* ---- data ---- */
    int rate = 0;
    int n_cond = 0;
    char cond_names[TD_MAX_COND][TD_NAME_LEN];
    int first_train = -1;
    /* the conditioning names first: a mistake there is found before minutes of loading */
    for (int i = 0; i < tp->n_pairs && first_train < 0; i++)
        if (!tp->pairs[i].val) {
            first_train = i;
            n_cond = tp->pairs[i].n_cond;
            memcpy(cond_names, tp->pairs[i].cond_name, sizeof cond_names);
        }
    for (int i = 0; i < tp->n_pairs; i++) {
        const td_pair *p = &tp->pairs[i];
        int same = p->n_cond == n_cond;
        for (int k = 0; same && k < n_cond; k++) {
            int found = 0;
            for (int j = 0; j < p->n_cond; j++)
                found |= strcmp(p->cond_name[j], cond_names[k]) == 0;
            same = found;
        }
        if (!same) {
            fprintf(stderr,
                    "%s: pair %d (%s) sets other conditioning inputs than pair %d (%s): every "
                    "pair needs a value for each of the same names\n",
                    prog, i + 1, p->dry, first_train + 1, tp->pairs[first_train].dry);
            return EXIT_RUNTIME;
        }
    }
    for (int i = 0; i < tp->n_pairs; i++) {
        td_pair *p = &tp->pairs[i];
        if (td_load(p, i + 1, sink, msg, sizeof msg)) {
            fprintf(stderr, "%s: %s\n", prog, msg);
            return EXIT_RUNTIME;
        }
        if (!rate)
            rate = p->rate;
        if (p->rate != rate) {
            fprintf(stderr, "%s: %s is %d Hz, the other recordings %d Hz: one model has one rate\n",
                    prog, p->dry, p->rate, rate);
            return EXIT_RUNTIME;
        }
    }
    int have_val_pairs = 0;
    size_t total = 0;
    for (int i = 0; i < tp->n_pairs; i++) {
        have_val_pairs |= tp->pairs[i].val;
        total += tp->pairs[i].val ? 0 : tp->pairs[i].n;
    }
    double val_s = tp->val_seconds;
    if (have_val_pairs)
        val_s = 0;
    else if (val_s < 0)
        val_s = fmin(0.1 * (double)total / rate, 30.0);
    td_set train = {0}, val = {0};
    const size_t val_total = (size_t)llround(val_s * rate);
    if (val_total >= total) {
        fprintf(stderr, "%s: --val-seconds %g leaves no training data (%.1f s in all)\n", prog,
                val_s, (double)total / rate);
        return EXIT_RUNTIME;
    }
    for (int i = 0; i < tp->n_pairs; i++) {
        const td_pair *p = &tp->pairs[i];
        int bad;
        if (p->val) {
            bad = td_set_append(&val, p, 0, p->n, n_cond, cond_names);
        } else {
            const size_t hold = (size_t)((double)val_total * (double)p->n / (double)total);
            bad = td_set_append(&train, p, 0, p->n - hold, n_cond, cond_names) ||
                  (hold > 0 && td_set_append(&val, p, p->n - hold, p->n, n_cond, cond_names));
        }
        if (bad) {
            fprintf(stderr, "%s: out of memory for the data\n", prog);
            return EXIT_RUNTIME;
        }
    }
    const ht_data train_data = td_set_data(&train);
    const size_t n_windows = ht_data_window_count(&train_data, tp->o.window);
    if (n_windows == 0) {
        fprintf(stderr,
                "%s: no training recording is as long as one window (%d samples, %.2f s); use a "
                "smaller --window or more data\n",
                prog, tp->o.window, (double)tp->o.window / rate);
        return EXIT_RUNTIME;
    }
    if (val.n && val.n <= (size_t)tp->o.warmup * (size_t)val.n_seg) {
        fprintf(stderr, "%s: the validation recordings are shorter than the warm-up (%d samples)\n",
                prog, tp->o.warmup);
        return EXIT_RUNTIME;
    }
    fprintf(sink, "training data %.1f s, validation %.1f s%s\n", (double)train.n / rate,
            (double)val.n / rate, val.n ? "" : " (the best epoch is chosen by the training loss)");

    /* ---- model, trainer, checkpoint ---- */
    char *ckpt_path = tp->checkpoint ? strdup(tp->checkpoint) : beside(tp->out, ".ckpt");
    char *log_path = tp->log ? strdup(tp->log) : beside(tp->out, ".csv");
    char *png_path = NULL;
    if (log_path) {
        const size_t n = strlen(log_path);
        png_path = malloc(n + 5);
        if (png_path) {
            strcpy(png_path, log_path);
            char *dot = strrchr(png_path, '.');
            char *slash = strrchr(png_path, '/');
            if (dot && (!slash || dot > slash))
                *dot = '\0';
            strcat(png_path, ".png");
        }
    }
    if (!ckpt_path || !log_path || !png_path) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    hiss_config cfg = tp->cfg;
    cfg.sample_rate = rate;
    cfg.n_cond = n_cond;
    tc_state ck = {0};
    if (tp->resume) {
        if (tc_load(ckpt_path, &ck, msg, sizeof msg)) {
            fprintf(stderr, "%s: --resume: %s\n", prog, msg);
            return EXIT_RUNTIME;
        }
        const hiss_config *c = &ck.cfg;
        if (c->n_cond != n_cond || c->sample_rate != rate) {
            fprintf(stderr,
                    "%s: %s: a model with %d conditioning inputs at %g Hz, the data has %d at "
                    "%d Hz\n",
                    prog, ckpt_path, c->n_cond, c->sample_rate, n_cond, rate);
            return EXIT_RUNTIME;
        }
        cfg = *c;
        fprintf(sink, "resuming from %s after epoch %d (step %ld); the model's shape comes from "
                      "the checkpoint\n",
                ckpt_path, ck.epoch, ck.step);
    }
    hiss_model *model;
    hiss_error err;
    if (hiss_model_init(&cfg, tp->o.seed, &model, &err) != HISS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return EXIT_RUNTIME;
    }
    if (n_cond > 0) {
        char names[TD_MAX_COND * (TD_NAME_LEN + 1)] = "";
        for (int k = 0; k < n_cond; k++) {
            if (k)
                strcat(names, ",");
            strcat(names, cond_names[k]);
        }
        if (hiss_model_set_meta(model, "hiss.cond", names) != HISS_OK) {
            fprintf(stderr, "%s: conditioning names '%s' refused by the engine\n", prog, names);
            return EXIT_RUNTIME;
        }
    }
    /* Provenance: how this model was made, so it can be made again. */
    {
        size_t len = 1;
        for (int k = 0; k < argc; k++)
            len += strlen(argv[k]) + 1;
        char *cmd = malloc(len);
        char when[32];
        /* SOURCE_DATE_EPOCH (the reproducible-builds convention) pins the date, so two runs can
         * give byte-identical files. */
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
        if (!cmd || hiss_model_set_meta(model, "hiss.train.command", cmd) != HISS_OK ||
            hiss_model_set_meta(model, "hiss.train.date", when) != HISS_OK ||
            set_meta_num(model, "hiss.macs_per_sample", (double)hiss_model_macs_per_sample(model))) {
            free(cmd);
            fprintf(stderr, "%s: out of memory\n", prog);
            return EXIT_RUNTIME;
        }
        free(cmd);
    }
    ht_layout L;
    if (ht_layout_init(&L, hiss_model_config(model))) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    if (tp->resume && ck.n_params != L.n_params) {
        fprintf(stderr, "%s: %s holds %zu parameters, the model needs %zu\n", prog, ckpt_path,
                ck.n_params, L.n_params);
        return EXIT_RUNTIME;
    }
    float *P = malloc(L.n_params * sizeof *P);
    if (!P || ht_f_params_from_model(&L, model, P, &err)) {
        fprintf(stderr, "%s: %s\n", prog, P ? err.msg : "out of memory");
        return EXIT_RUNTIME;
    }
    if (tp->resume)
        memcpy(P, ck.P, L.n_params * sizeof *P);
    long steps = tp->steps_per_epoch;
    if (!steps) {
        const long per_step = (long)tp->o.batch * (tp->o.window - tp->o.warmup);
        steps = (long)((train.n + (size_t)per_step - 1) / (size_t)per_step);
    }
    tp->o.total_steps = steps * tp->epochs;
    if (tp->o.lr_warmup_steps > tp->o.total_steps / 5)
        tp->o.lr_warmup_steps = tp->o.total_steps / 5;
    ht_f_trainer *tr = ht_f_trainer_create(&L, &tp->o, P);
    if (!tr) {
        fprintf(stderr, "%s: out of memory for the trainer (%.0f MB of activations per thread)\n",
                prog, ht_acts_reals(&L, tp->o.window) * sizeof(float) / 1e6);
        return EXIT_RUNTIME;
    }
    int epoch0 = 0, best_epoch = 0;
    double best = INFINITY;
    if (tp->resume) {
        memcpy(ht_f_trainer_moment(tr, 0), ck.m, L.n_params * sizeof(float));
        memcpy(ht_f_trainer_moment(tr, 1), ck.v, L.n_params * sizeof(float));
        ht_f_trainer_set_counters(tr, ck.step, ck.rng);
        epoch0 = ck.epoch;
        best_epoch = ck.best_epoch;
        best = best_epoch ? ck.best_val : INFINITY;
        free(ck.P);
        free(ck.m);
        free(ck.v);
    }
    fprintf(sink,
            "model: d_model %d, %d layers, d_inner %d, d_state %d, d_conv %d, dt_rank %d, %d "
            "conditioning input%s, skip %s: %zu parameters\n",
            cfg.d_model, cfg.n_layer, cfg.d_inner, cfg.d_state, cfg.d_conv, cfg.dt_rank, n_cond,
            n_cond == 1 ? "" : "s", cfg.skip ? "on" : "off", L.n_params);
    fprintf(sink,
            "training: %d epochs of %ld steps, %d windows of %d samples (%d warm-up), lr %g to %g "
            "(%s), %d threads, %.0f MB of activations per thread\n",
            tp->epochs, steps, tp->o.batch, tp->o.window, tp->o.warmup, tp->o.lr, tp->o.lr_min,
            tp->o.schedule == HT_SCHED_COSINE ? "cosine" : "step", tp->o.threads,
            ht_acts_reals(&L, tp->o.window) * sizeof(float) / 1e6);

    double *hist_train = malloc((size_t)tp->epochs * sizeof(double));
    double *hist_val = malloc((size_t)tp->epochs * sizeof(double));
    float *pred = malloc((val.n ? val.n : 1) * sizeof *pred);
    if (!hist_train || !hist_val || !pred) {
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
        fprintf(csv, "epoch,step,lr,train_loss,train_esr,val_loss,val_esr,val_esr_pe,seconds\n");
    fflush(csv);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    hiss_progress bar;
    const int64_t frames_per_step = (int64_t)tp->o.batch * tp->o.window;
    const int run_epochs = tp->stop_after && tp->stop_after < tp->epochs - epoch0
                               ? tp->stop_after
                               : tp->epochs - epoch0;
    hiss_progress_start(&bar, (int64_t)run_epochs * steps * frames_per_step, rate,
                        !tp->quiet && isatty(2));
    const double t0 = hiss_now();
    int status = 0;
    int epoch = epoch0;
    const int end = tp->stop_after && epoch0 + tp->stop_after < tp->epochs
                        ? epoch0 + tp->stop_after
                        : tp->epochs;
    for (; epoch < end && !g_signal; epoch++) {
        double loss = 0, tesr = 0;
        long s = 0;
        ht_step_stats st = {0};
        for (; s < steps && !g_signal; s++) {
            if (ht_f_trainer_step(tr, &train_data, &st)) {
                fprintf(stderr, "%s: could not start the training threads\n", prog);
                status = EXIT_RUNTIME;
                break;
            }
            if (!isfinite(st.loss)) {
                hiss_progress_end(&bar);
                fprintf(stderr,
                        "%s: the loss is no longer finite (epoch %d, step %ld): lower --lr; the "
                        "last checkpoint and the best model are kept\n",
                        prog, epoch + 1, s + 1);
                status = EXIT_RUNTIME;
                break;
            }
            loss += st.loss;
            tesr += st.esr;
            hiss_progress_update(&bar, ((int64_t)(epoch - epoch0) * steps + s + 1) * tp->o.batch *
                                           tp->o.window);
        }
        if (status || s < steps)
            break; /* a signal: the epoch is not complete, the checkpoint below says so */
        loss /= (double)steps;
        tesr /= (double)steps;
        val_result vr = {NAN, NAN, NAN};
        if (ht_f_params_to_model(&L, P, model, &err)) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            status = EXIT_RUNTIME;
            break;
        }
        if (val.n && validate(model, &val, (size_t)tp->o.warmup, &tp->o.loss, pred, &vr, msg,
                              sizeof msg)) {
            fprintf(stderr, "%s: %s\n", prog, msg);
            status = EXIT_RUNTIME;
            break;
        }
        const double score = val.n ? vr.loss : loss;
        const int improved = score < best;
        hiss_progress_end(&bar);
        if (improved) {
            best = score;
            best_epoch = epoch + 1;
            /* "esr" is the descriptive key of docs/model-format.md */
            if (set_meta_num(model, "hiss.train.epoch", epoch + 1) ||
                set_meta_num(model, "hiss.train.train_loss", loss) ||
                (val.n && (set_meta_num(model, "hiss.train.val_esr", vr.esr) ||
                           set_meta_num(model, "esr", vr.esr)))) {
                fprintf(stderr, "%s: out of memory\n", prog);
                status = EXIT_RUNTIME;
                break;
            }
            if (hiss_model_save(model, tp->out, &err) != HISS_OK) {
                fprintf(stderr, "%s: %s\n", prog, err.msg);
                status = EXIT_RUNTIME;
                break;
            }
        }
        const double secs = hiss_now() - t0;
        fprintf(sink,
                "epoch %d/%d: train loss %.4e, ESR %.4e | validation loss %.4e, ESR %.4e, "
                "pre-emphasised %.4e | lr %.2e | %.1f s%s\n",
                epoch + 1, tp->epochs, loss, tesr, vr.loss, vr.esr, vr.esr_pe, st.lr, secs,
                improved ? " (best, saved)" : "");
        fflush(sink);
        fprintf(csv, "%d,%ld,%.6e,%.6e,%.6e,%.6e,%.6e,%.6e,%.2f\n", epoch + 1,
                ht_f_trainer_steps(tr), st.lr, loss, tesr, vr.loss, vr.esr, vr.esr_pe, secs);
        fflush(csv);
        hist_train[epoch] = loss;
        hist_val[epoch] = vr.esr;
#ifdef HISS_HAVE_CAIRO
        if (!tp->no_plot && plot_loss_png(png_path, hist_train, hist_val, epoch + 1))
            fprintf(stderr, "%s: warning: %s: could not write the plot\n", prog, png_path);
#endif
        tc_state out = {cfg, L.n_params, 0, 0, epoch + 1, best_epoch, best, P,
                        ht_f_trainer_moment(tr, 0), ht_f_trainer_moment(tr, 1), 0, ""};
        ht_f_trainer_get_counters(tr, &out.step, &out.rng);
        if (tc_save(ckpt_path, &out, msg, sizeof msg)) {
            fprintf(stderr, "%s: %s\n", prog, msg);
            status = EXIT_RUNTIME;
            break;
        }
    }
    hiss_progress_end(&bar);
    fclose(csv);
    if (g_signal && !status) {
        /* the parameters moved within an unfinished epoch: keep them, count the epoch as not
         * done, so --resume repeats it from here */
        tc_state out = {cfg, L.n_params, 0, 0, epoch, best_epoch, best, P,
                        ht_f_trainer_moment(tr, 0), ht_f_trainer_moment(tr, 1), 0, ""};
        ht_f_trainer_get_counters(tr, &out.step, &out.rng);
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
        fprintf(sink, "done: best epoch %d, %s %.4e; model %s, log %s%s%s\n", best_epoch,
                val.n ? "validation loss" : "training loss", best, tp->out, log_path,
                tp->no_plot ? "" : ", plot ", tp->no_plot ? "" : png_path);
    }
    ht_f_trainer_free(tr);
    ht_layout_free(&L);
    hiss_model_free(model);
    free(P);
    free(pred);
    free(hist_train);
    free(hist_val);
    free(ckpt_path);
    free(log_path);
    free(png_path);
    for (int i = 0; i < tp->n_pairs; i++)
        td_free(&tp->pairs[i]);
    free(tp);
    td_set_free(&train);
    td_set_free(&val);
    if (sink != stdout && sink != stderr)
        fclose(sink);
    return status;
}
