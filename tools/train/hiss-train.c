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
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "checkpoint.h"
#include "dataset.h"
#include "hiss.h"
#include "hiss_train.h"
#include "opts.h"
#include "synth_main.h"
#include "train_cli.h"
#include "train_run.h"

enum { EXIT_RUNTIME = HT_EXIT_RUNTIME, EXIT_USAGE = HT_EXIT_USAGE };
enum { MAX_PAIRS = 256 };

static const char *prog = "hiss-train";

typedef struct train_args {
    td_pair pairs[MAX_PAIRS];
    int n_pairs;
    ht_cli cli;
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
            "  --epoch-models DIR      every epoch's model too, as DIR/epoch-NNN.safetensors\n"
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

/* A usage error found by fx_option: said, -1. */
static int refuse(const char *fmt, const char *a, const char *b)
{
    hiss_usage_error(prog, fmt, a, b);
    return -1;
}

/* --cond NAME=VALUE for the pair before it. 1, or -1 (said). */
static int cond_option(train_args *t, const char *v)
{
    if (!t->n_pairs)
        return refuse("--cond '%s' before any --dry/--wet pair%s", v, "");
    td_pair *p = &t->pairs[t->n_pairs - 1];
    const char *eq = strchr(v, '=');
    double x;
    if (!eq || eq == v || (size_t)(eq - v) >= TD_NAME_LEN)
        return refuse("--cond '%s': expected NAME=VALUE (a name of at most 63 characters)%s", v,
                      "");
    if (hiss_parse_double(eq + 1, &x) != 0)
        return refuse("--cond '%s': '%s' is not a number", v, eq + 1);
    if (strchr(v, ',') && strchr(v, ',') < eq)
        return refuse("--cond '%s': a name cannot contain ','%s", v, "");
    if (p->n_cond == TD_MAX_COND)
        return refuse("--cond '%s': at most 16 conditioning inputs%s", v, "");
    for (int k = 0; k < p->n_cond; k++)
        if (strncmp(p->cond_name[k], v, (size_t)(eq - v)) == 0 && p->cond_name[k][eq - v] == '\0')
            return refuse("--cond '%s': set twice for the same pair%s", v, "");
    memcpy(p->cond_name[p->n_cond], v, (size_t)(eq - v));
    p->cond_name[p->n_cond][eq - v] = '\0';
    p->cond_value[p->n_cond++] = x;
    return 1;
}

/* The fx mode's own options (ht_cli_mode.option). */
static int fx_option(hiss_argv *a, void *ctx, int *done)
{
    train_args *t = ctx;
    const char *arg = a->argv[a->i], *v = NULL;
    int m;
    if ((m = opt(a, "h", "help", NULL)) > 0) {
        usage(stdout);
        *done = 1;
    } else if (!m && (m = opt(a, NULL, "version", NULL)) > 0) {
        char sfv[128] = "";
        sf_command(NULL, SFC_GET_LIB_VERSION, sfv, sizeof sfv);
        printf("hiss-train (hiss %s), %s\n", hiss_version(), sfv);
        *done = 1;
    } else if (!m &&
               ((m = opt(a, NULL, "dry", &v)) || (m = opt(a, NULL, "wet", &v)) ||
                (m = opt(a, NULL, "val-dry", &v)) || (m = opt(a, NULL, "val-wet", &v))) &&
               m > 0) {
        const int val = strncmp(arg, "--val-", 6) == 0;
        const char *which = strstr(arg, "dry") ? "dry" : "wet";
        if (!pair_for(t, val, which, v))
            return refuse("too many recording pairs (at most %s)%s", "256", "");
    } else if (!m && (m = opt(a, NULL, "cond", &v)) > 0) {
        return cond_option(t, v);
    } else if (!m && (m = opt(a, NULL, "skip", NULL)) > 0) {
        t->cli.cfg.skip = 1;
    }
    return m;
}

static int parse_args(int argc, char **argv, train_args *t, int *done)
{
    memset(t, 0, sizeof *t);
    ht_cli *c = &t->cli;
    ht_cli_defaults(c, HISS_IO_FX);
    c->o.warmup = 512;
    c->window_min = 2;
    c->epochs = 50;
    t->val_seconds = -1;
    int steps = 0;
    const ht_int_opt ints[] = {
        {"steps-per-epoch", &steps, 1, 100000000},
        {"warmup", &c->o.warmup, 0, 1 << 22},
    };
    const ht_real_opt reals[] = {
        {"pre-emph", &c->o.loss.pre_emph, 0, 0.999},
        {"dc-weight", &c->o.loss.dc_weight, 0, 1e6},
        {"val-seconds", &t->val_seconds, 0, 1e7},
    };
    const ht_cli_mode mode = {ints, sizeof ints / sizeof *ints, reals, sizeof reals / sizeof *reals,
                              fx_option, t, ""};
    const int rc = ht_cli_parse(argc, argv, prog, c, &mode, done);
    if (rc || *done)
        return rc;
    if (!c->out)
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
    if (c->o.warmup >= c->o.window)
        return usage_error("--warmup must be smaller than --window%s%s", "", "");
    t->steps_per_epoch = steps;
    return ht_cli_finish(c, prog);
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

/* Everything an fx run holds, freed in one place however the run ends, and the figures of its
 * last epoch; the context of the epoch loop's callbacks. */
typedef struct fx_job {
    train_args *tp;
    ht_run run;
    td_set train, val;
    ht_data train_data;
    tc_state ck;
    hiss_config cfg;
    hiss_model *model;
    ht_layout L;
    float *P, *pred;
    ht_f_trainer *tr;
    long steps;
    double loss, tesr, lr;
    val_result vr;
} fx_job;

static void fx_job_free(fx_job *j)
{
    ht_f_trainer_free(j->tr);
    ht_layout_free(&j->L);
    hiss_model_free(j->model);
    free(j->P);
    free(j->pred);
    free(j->ck.P);
    free(j->ck.m);
    free(j->ck.v);
    td_set_free(&j->train);
    td_set_free(&j->val);
    for (int i = 0; j->tp && i < j->tp->n_pairs; i++)
        td_free(&j->tp->pairs[i]);
    free(j->tp);
    ht_run_close(&j->run);
    free(j);
}

static int fx_epoch(void *ctx, ht_run *r, int epoch, double *score)
{
    fx_job *x = ctx;
    const ht_train_opts *o = &x->tp->cli.o;
    double loss = 0, tesr = 0;
    ht_step_stats st = {0};
    for (long s = 0; s < x->steps; s++) {
        if (ht_run_stopping())
            return 1;
        if (ht_f_trainer_step(x->tr, &x->train_data, &st)) {
            fprintf(stderr, "%s: could not start the training threads\n", prog);
            return -1;
        }
        if (!isfinite(st.loss)) {
            ht_run_not_finite(r, epoch, s + 1);
            return -1;
        }
        loss += st.loss;
        tesr += st.esr;
        ht_run_progress(r, (int64_t)o->batch * o->window);
    }
    x->loss = loss / (double)x->steps;
    x->tesr = tesr / (double)x->steps;
    x->lr = st.lr;
    x->vr = (val_result){NAN, NAN, NAN};
    hiss_error err;
    char msg[2048];
    if (ht_f_params_to_model(&x->L, x->P, x->model, &err)) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return -1;
    }
    if (x->val.n && validate(x->model, &x->val, (size_t)o->warmup, &o->loss, x->pred, &x->vr, msg,
                             sizeof msg)) {
        fprintf(stderr, "%s: %s\n", prog, msg);
        return -1;
    }
    *score = x->val.n ? x->vr.loss : x->loss;
    return 0;
}

static int fx_save(void *ctx, int epoch, const char *path, hiss_error *err)
{
    fx_job *x = ctx;
    /* "esr" is the descriptive key of docs/model-format.md */
    if (ht_set_meta_num(x->model, "hiss.train.epoch", epoch + 1) ||
        ht_set_meta_num(x->model, "hiss.train.train_loss", x->loss) ||
        (x->val.n && (ht_set_meta_num(x->model, "hiss.train.val_esr", x->vr.esr) ||
                      ht_set_meta_num(x->model, "esr", x->vr.esr)))) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    return hiss_model_save(x->model, path, err) == HISS_OK ? 0 : -1;
}

static void fx_report(void *ctx, const ht_run *r, int epoch, double secs, int improved, FILE *csv,
                      double *train, double *val)
{
    const fx_job *x = ctx;
    fprintf(r->sink,
            "epoch %d/%d: train loss %.4e, ESR %.4e | validation loss %.4e, ESR %.4e, "
            "pre-emphasised %.4e | lr %.2e | %.1f s%s\n",
            epoch + 1, r->cli->epochs, x->loss, x->tesr, x->vr.loss, x->vr.esr, x->vr.esr_pe,
            x->lr, secs, improved ? " (best, saved)" : "");
    fprintf(csv, "%d,%ld,%.6e,%.6e,%.6e,%.6e,%.6e,%.6e,%.2f\n", epoch + 1,
            ht_f_trainer_steps(x->tr), x->lr, x->loss, x->tesr, x->vr.loss, x->vr.esr,
            x->vr.esr_pe, secs);
    *train = x->loss;
    *val = x->vr.esr;
}

static void fx_checkpoint(void *ctx, tc_state *s)
{
    fx_job *x = ctx;
    s->cfg = x->cfg;
    s->n_params = x->L.n_params;
    s->P = x->P;
    s->m = ht_f_trainer_moment(x->tr, 0);
    s->v = ht_f_trainer_moment(x->tr, 1);
    ht_f_trainer_get_counters(x->tr, &s->step, &s->rng);
}

/* The recording pairs read and checked, split into j->train and j->val; their rate and
 * conditioning names. 0, or EXIT_RUNTIME (said). */
static int load_data(fx_job *j, int *rate_out, int *n_cond_out,
                     char cond_names[TD_MAX_COND][TD_NAME_LEN])
{
    train_args *tp = j->tp;
    const ht_train_opts *o = &tp->cli.o;
    FILE *sink = j->run.sink;
    char msg[2048];
    int rate = 0;
    int n_cond = 0;
    int first_train = -1;
    /* the conditioning names first: a mistake there is found before minutes of loading */
    for (int i = 0; i < tp->n_pairs && first_train < 0; i++)
        if (!tp->pairs[i].val) {
            first_train = i;
            n_cond = tp->pairs[i].n_cond;
            memcpy(cond_names, tp->pairs[i].cond_name, sizeof tp->pairs[i].cond_name);
        }
    for (int i = 0; i < tp->n_pairs; i++) {
        const td_pair *p = &tp->pairs[i];
        int same = p->n_cond == n_cond;
        for (int k = 0; same && k < n_cond; k++) {
            int found = 0;
            for (int m = 0; m < p->n_cond; m++)
                found |= strcmp(p->cond_name[m], cond_names[k]) == 0;
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
    const size_t val_total = (size_t)llround(val_s * rate);
    if (val_total >= total) {
        fprintf(stderr, "%s: --val-seconds %g leaves no training data (%.1f s in all)\n", prog,
                val_s, (double)total / rate);
        return EXIT_RUNTIME;
    }
    td_set *train = &j->train, *val = &j->val;
    for (int i = 0; i < tp->n_pairs; i++) {
        const td_pair *p = &tp->pairs[i];
        int bad;
        if (p->val) {
            bad = td_set_append(val, p, 0, p->n, n_cond, cond_names);
        } else {
            const size_t hold = (size_t)((double)val_total * (double)p->n / (double)total);
            bad = td_set_append(train, p, 0, p->n - hold, n_cond, cond_names) ||
                  (hold > 0 && td_set_append(val, p, p->n - hold, p->n, n_cond, cond_names));
        }
        if (bad) {
            fprintf(stderr, "%s: out of memory for the data\n", prog);
            return EXIT_RUNTIME;
        }
    }
    j->train_data = td_set_data(train);
    const size_t n_windows = ht_data_window_count(&j->train_data, o->window);
    if (n_windows == 0) {
        fprintf(stderr,
                "%s: no training recording is as long as one window (%d samples, %.2f s); use a "
                "smaller --window or more data\n",
                prog, o->window, (double)o->window / rate);
        return EXIT_RUNTIME;
    }
    if (val->n && val->n <= (size_t)o->warmup * (size_t)val->n_seg) {
        fprintf(stderr, "%s: the validation recordings are shorter than the warm-up (%d samples)\n",
                prog, o->warmup);
        return EXIT_RUNTIME;
    }
    fprintf(sink, "training data %.1f s, validation %.1f s%s\n", (double)train->n / rate,
            (double)val->n / rate,
            val->n ? "" : " (the best epoch is chosen by the training loss)");
    *rate_out = rate;
    *n_cond_out = n_cond;
    return 0;
}

/* The run after the command line: data, model, trainer, checkpoint, epochs. The exit status. */
static int fx_train(fx_job *j, int argc, char **argv)
{
    train_args *tp = j->tp;
    ht_train_opts *o = &tp->cli.o;
    ht_run *run = &j->run;
    if (ht_run_open(run, prog, &tp->cli))
        return EXIT_RUNTIME;
    FILE *sink = run->sink;
    int rate, n_cond;
    char cond_names[TD_MAX_COND][TD_NAME_LEN];
    int rc = load_data(j, &rate, &n_cond, cond_names);
    if (rc)
        return rc;

    /* ---- model, trainer, checkpoint ---- */
    hiss_config *cfg = &j->cfg;
    *cfg = tp->cli.cfg;
    cfg->sample_rate = rate;
    cfg->n_cond = n_cond;
    tc_state *ck = &j->ck;
    if (ht_run_load_checkpoint(run, ck))
        return EXIT_RUNTIME;
    if (tp->cli.resume) {
        const hiss_config *c = &ck->cfg;
        if (c->n_cond != n_cond || c->sample_rate != rate) {
            fprintf(stderr,
                    "%s: %s: a model with %d conditioning inputs at %g Hz, the data has %d at "
                    "%d Hz\n",
                    prog, run->ckpt_path, c->n_cond, c->sample_rate, n_cond, rate);
            return EXIT_RUNTIME;
        }
        *cfg = *c;
        fprintf(sink, "resuming from %s after epoch %d (step %ld); the model's shape comes from "
                      "the checkpoint\n",
                run->ckpt_path, ck->epoch, ck->step);
    }
    hiss_model *model;
    hiss_error err;
    if (hiss_model_init(cfg, o->seed, &model, &err) != HISS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return EXIT_RUNTIME;
    }
    j->model = model;
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
    const ht_layout *L = &j->L;
    if (ht_run_provenance(model, argc, argv) ||
        ht_set_meta_num(model, "hiss.macs_per_sample",
                        (double)hiss_model_macs_per_sample(model)) ||
        ht_layout_init(&j->L, hiss_model_config(model))) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    if (ht_run_check_params(run, ck, L->n_params))
        return EXIT_RUNTIME;
    j->P = malloc(L->n_params * sizeof *j->P);
    j->pred = malloc((j->val.n ? j->val.n : 1) * sizeof *j->pred);
    if (!j->P || !j->pred || ht_f_params_from_model(L, model, j->P, &err)) {
        fprintf(stderr, "%s: %s\n", prog, j->P && j->pred ? err.msg : "out of memory");
        return EXIT_RUNTIME;
    }
    if (tp->cli.resume)
        memcpy(j->P, ck->P, L->n_params * sizeof *j->P);
    long steps = tp->steps_per_epoch;
    if (!steps) {
        const long per_step = (long)o->batch * (o->window - o->warmup);
        steps = (long)((j->train.n + (size_t)per_step - 1) / (size_t)per_step);
    }
    j->steps = steps;
    o->total_steps = steps * tp->cli.epochs;
    if (o->lr_warmup_steps > o->total_steps / 5)
        o->lr_warmup_steps = o->total_steps / 5;
    j->tr = ht_f_trainer_create(L, o, j->P);
    if (!j->tr)
        return ht_run_no_trainer(run, L, o->window);
    if (tp->cli.resume) {
        ht_f_trainer_set_counters(j->tr, ck->step, ck->rng);
        ht_run_resumed(run, ck, ht_f_trainer_moment(j->tr, 0), ht_f_trainer_moment(j->tr, 1));
    }
    fprintf(sink,
            "model: d_model %d, %d layers, d_inner %d, d_state %d, d_conv %d, dt_rank %d, %d "
            "conditioning input%s, skip %s: %zu parameters\n",
            cfg->d_model, cfg->n_layer, cfg->d_inner, cfg->d_state, cfg->d_conv, cfg->dt_rank,
            n_cond, n_cond == 1 ? "" : "s", cfg->skip ? "on" : "off", L->n_params);
    fprintf(sink,
            "training: %d epochs of %ld steps, %d windows of %d samples (%d warm-up), lr %g to %g "
            "(%s), %d threads, %.0f MB of activations per thread\n",
            tp->cli.epochs, steps, o->batch, o->window, o->warmup, o->lr, o->lr_min,
            o->schedule == HT_SCHED_COSINE ? "cosine" : "step", o->threads,
            ht_acts_reals(L, o->window) * sizeof(float) / 1e6);

    run->csv_header = "epoch,step,lr,train_loss,train_esr,val_loss,val_esr,val_esr_pe,seconds";
    run->hist_col[0] = 3; /* train_loss */
    run->hist_col[1] = 6; /* val_esr */
    run->plot_label[0] = "training loss";
    run->plot_label[1] = "validation ESR";
    run->plot_log = 1;
    run->best_fmt = j->val.n ? "validation loss %.4e" : "training loss %.4e";
    const ht_run_ops ops = {fx_epoch, fx_save, fx_report, fx_checkpoint};
    return ht_run_epochs(run, &ops, j, rate, (int64_t)steps * o->batch * o->window);
}

int main(int argc, char **argv)
{
    if (ht_synth_wanted(argc, argv))
        return ht_synth_main(argc, argv);
    fx_job *j = calloc(1, sizeof *j);
    if (j)
        j->tp = malloc(sizeof *j->tp); /* large: 256 pairs */
    if (!j || !j->tp) {
        fprintf(stderr, "%s: out of memory\n", prog);
        free(j);
        return EXIT_RUNTIME;
    }
    int done;
    int status = parse_args(argc, argv, j->tp, &done);
    if (!status && !done)
        status = fx_train(j, argc, argv);
    fx_job_free(j);
    return status;
}
