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
 * to MODEL, with a checkpoint, a CSV log and a PNG plot beside it (train_run.c, as for fx
 * models). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "hiss_train.h"
#include "opts.h"
#include "synth_files.h"
#include "synth_main.h"
#include "synth_model.h"
#include "train_cli.h"
#include "train_run.h"

enum { EXIT_RUNTIME = HT_EXIT_RUNTIME, EXIT_USAGE = HT_EXIT_USAGE };

static const char *prog = "hiss-train --synth";

#define DEFAULT_COND "pitch,velocity,gate,onset,decay,release,sin1,cos1"

typedef struct synth_args {
    ht_cli cli;
    const char *notes, *cond;
    int head_bias;
    int input_noise; /* -1: not given (0, or the checkpoint's on --resume) */
    double self_feed; /* -1: not given, likewise */
    int self_feed_ramp; /* -1: not given, likewise */
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
            "                      gate, onset, decay, release, sin1, cos1, ..., sin8, cos8\n"
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
            "            so the model learns to play from its own draws; --resume keeps the\n"
            "            checkpoint's)\n"
            "  --self-feed P (0: off; 0 to 1) scheduled sampling: each input is, with probability\n"
            "            P, the class the model drew (temperature 1, top-p 1) from its own logits\n"
            "            at the sample before, the chunk played by the engine from the note's\n"
            "            state, else the recorded one (targets stay the recording); about 1.5x\n"
            "            the time per sample; --resume keeps the checkpoint's\n"
            "  --self-feed-ramp E (0) P grows linearly from 0 over the first E epochs\n"
            "            (epoch e uses P e/E), then stays; --resume keeps the checkpoint's\n"
            "Output:\n"
            "  -o, --output FILE   the model of the best validation epoch (.safetensors)\n"
            "  --checkpoint FILE   (default: MODEL without .safetensors + .ckpt)\n"
            "  --log FILE          CSV per epoch (default: .csv); the plot goes to .png\n"
            "  --epoch-models DIR  every epoch's model too, as DIR/epoch-NNN.safetensors\n"
            "  --no-plot  --resume (continue from the checkpoint)  -q, --quiet (errors only)\n"
            "  -h, --help\n\n"
            "Exit status: 0 done, 1 runtime error, 2 usage error, 128+N stopped by signal N.\n");
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
    return hiss_usage_error(prog, fmt, a, b);
}

/* The synth mode's own options (ht_cli_mode.option). */
static int synth_option(hiss_argv *a, void *ctx, int *done)
{
    synth_args *t = ctx;
    const char *v = NULL;
    int m;
    if ((m = hiss_opt_checked(a, prog, NULL, "synth", NULL))) {
        /* what chose this mode */
    } else if ((m = hiss_opt_checked(a, prog, "h", "help", NULL)) > 0) {
        ht_synth_usage(stdout);
        *done = 1;
    } else if (!m && (m = hiss_opt_checked(a, prog, NULL, "notes", &v)) > 0) {
        t->notes = v;
    } else if (!m && (m = hiss_opt_checked(a, prog, NULL, "cond", &v)) > 0) {
        t->cond = v;
    } else if (!m && (m = hiss_opt_checked(a, prog, NULL, "no-head-bias", NULL)) > 0) {
        t->head_bias = 0;
    }
    return m;
}

static int parse_args(int argc, char **argv, synth_args *t, int *done)
{
    memset(t, 0, sizeof *t);
    ht_cli *c = &t->cli;
    ht_cli_defaults(c, HISS_IO_SYNTH);
    c->o.warmup = 0;
    c->epochs = 30;
    t->head_bias = 1;
    t->cond = DEFAULT_COND;
    t->input_noise = -1;
    t->self_feed = -1;
    t->self_feed_ramp = -1;
    const ht_int_opt ints[] = {{"input-noise", &t->input_noise, 0, 64},
                               {"self-feed-ramp", &t->self_feed_ramp, 0, 1000000}};
    const ht_real_opt reals[] = {{"self-feed", &t->self_feed, 0, 1}};
    const ht_cli_mode mode = {
        ints, sizeof ints / sizeof *ints, reals, sizeof reals / sizeof *reals, synth_option, t,
        " (fx options do not apply to --synth; see hiss-train --synth --help)"};
    const int rc = ht_cli_parse(argc, argv, prog, c, &mode, done);
    if (rc || *done)
        return rc;
    if (!t->notes)
        return usage_error("no training data (--notes DIR_OR_MANIFEST)%s%s", "", "");
    if (!c->out)
        return usage_error("no output model (-o MODEL)%s%s", "", "");
    return ht_cli_finish(c, prog);
}

/* hiss_synth.h has no metadata setter yet; the synth model keeps its metadata in its backbone's
 * hiss_model (synth_model.h), which hiss_synth_model_save writes. */
static int set_meta(hiss_synth_model *m, const char *key, const char *value)
{
    return hiss_model_set_meta(m->bb, key, value) == HISS_OK ? 0 : -1;
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

/* With --resume, the input noise is the checkpoint's (it shapes the rest of the schedule as the
 * model's shape does); one given that differs is refused rather than silently replaced. A
 * version 2 checkpoint does not hold it: then the command line's, as before. 0, or -1 (said). */
static int resolve_input_noise(synth_args *t, const tc_state *ck, const char *ckpt_path,
                               FILE *sink)
{
    int noise = t->input_noise;
    if (t->cli.resume && ck->input_noise >= 0) {
        if (noise >= 0 && noise != ck->input_noise) {
            fprintf(stderr,
                    "%s: --input-noise %d, but %s was trained with --input-noise %d: a resumed "
                    "run keeps it (leave the option out, or start a new run)\n",
                    prog, noise, ckpt_path, ck->input_noise);
            return -1;
        }
        noise = ck->input_noise;
    } else if (t->cli.resume) {
        fprintf(sink, "%s does not record the input noise (an older checkpoint): --input-noise %d "
                      "as given\n",
                ckpt_path, noise < 0 ? 0 : noise);
    }
    t->cli.o.input_noise = noise < 0 ? 0 : noise;
    return 0;
}

/* Self-feed and its ramp, likewise; every synth checkpoint holds them (those written before
 * self-feed existed were trained without it: 0). 0, or -1 (said). */
static int resolve_self_feed(synth_args *t, const tc_state *ck, const char *ckpt_path)
{
    ht_train_opts *o = &t->cli.o;
    if (t->cli.resume) {
        if (t->self_feed >= 0 && t->self_feed != ck->self_feed) {
            fprintf(stderr,
                    "%s: --self-feed %g, but %s was trained with --self-feed %g: a resumed run "
                    "keeps it (leave the option out, or start a new run)\n",
                    prog, t->self_feed, ckpt_path, ck->self_feed);
            return -1;
        }
        if (t->self_feed_ramp >= 0 && t->self_feed_ramp != ck->self_feed_ramp) {
            fprintf(stderr,
                    "%s: --self-feed-ramp %d, but %s was trained with --self-feed-ramp %d: a "
                    "resumed run keeps it (leave the option out, or start a new run)\n",
                    prog, t->self_feed_ramp, ckpt_path, ck->self_feed_ramp);
            return -1;
        }
        o->self_feed = ck->self_feed;
        o->self_feed_ramp = ck->self_feed_ramp;
        return 0;
    }
    o->self_feed = t->self_feed < 0 ? 0 : t->self_feed;
    o->self_feed_ramp = t->self_feed_ramp < 0 ? 0 : t->self_feed_ramp;
    return 0;
}

/* Everything a synth run holds, freed in one place however the run ends, and the figures of its
 * last epoch; the context of the epoch loop's callbacks. */
typedef struct synth_job {
    synth_args a;
    ht_run run;
    hs_manifest man;
    hs_split train, val;
    tc_state ck;
    hiss_config cfg;
    const char *cond;
    int head_bias;
    hiss_synth_model *model;
    ht_layout L;
    float *P;
    hiss_synth_feature feat[HISS_MAX_COND];
    ht_synth_data td, vd;
    ht_f_synth_trainer *tr;
    double bits, vbits, lr;
} synth_job;

static void synth_job_free(synth_job *j)
{
    ht_f_synth_trainer_free(j->tr);
    ht_layout_free(&j->L);
    hiss_synth_model_free(j->model);
    free(j->P);
    free(j->ck.P);
    free(j->ck.m);
    free(j->ck.v);
    hs_split_free(&j->train);
    hs_split_free(&j->val);
    ht_run_close(&j->run);
    free(j);
}

static int synth_epoch(void *ctx, ht_run *r, int epoch, double *score)
{
    synth_job *x = ctx;
    ht_f_synth_epoch_begin(x->tr, epoch);
    double bits = 0;
    long n = 0;
    ht_synth_stats st = {0};
    int e = 0;
    while (!ht_run_stopping() && (e = ht_f_synth_step(x->tr, &st)) == 0) {
        if (!isfinite(st.nll)) {
            ht_run_not_finite(r, epoch, ht_f_synth_trainer_steps(x->tr));
            return -1;
        }
        bits += st.bits * (double)st.n;
        n += st.n;
        ht_run_progress(r, st.n);
    }
    if (e < 0) {
        fprintf(stderr, "%s: could not start the training threads\n", prog);
        return -1;
    }
    if (ht_run_stopping())
        return 1;
    x->bits = bits / (n > 0 ? (double)n : 1);
    x->lr = st.lr;
    x->vbits = NAN;
    hiss_error err;
    if (ht_f_params_to_synth(&x->L, x->P, x->model, &err) ||
        ht_synth_eval_engine(x->model, &x->vd, x->a.cli.o.threads, &x->vbits, &err) != HISS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return -1;
    }
    *score = x->vbits;
    return 0;
}

static int synth_save(void *ctx, int epoch, const char *path, hiss_error *err)
{
    synth_job *x = ctx;
    if (ht_set_meta_num(x->model->bb, "hiss.train.epoch", epoch + 1) ||
        ht_set_meta_num(x->model->bb, "hiss.train.train_nll_bits", x->bits) ||
        ht_set_meta_num(x->model->bb, "hiss.train.val_nll_bits", x->vbits)) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    return hiss_synth_model_save(x->model, path, err) == HISS_OK ? 0 : -1;
}

static void synth_report(void *ctx, const ht_run *r, int epoch, double secs, int improved,
                         FILE *csv, double *train, double *val)
{
    const synth_job *x = ctx;
    fprintf(r->sink,
            "epoch %d/%d: train %.4f bits/sample | validation %.4f bits/sample | lr %.2e | "
            "%.1f s%s\n",
            epoch + 1, r->cli->epochs, x->bits, x->vbits, x->lr, secs,
            improved ? " (best, saved)" : "");
    fprintf(csv, "%d,%ld,%.6e,%.6f,%.6f,%.2f\n", epoch + 1, ht_f_synth_trainer_steps(x->tr), x->lr,
            x->bits, x->vbits, secs);
    *train = x->bits;
    *val = x->vbits;
}

static void synth_checkpoint(void *ctx, tc_state *s)
{
    synth_job *x = ctx;
    s->cfg = x->cfg;
    s->n_params = x->L.n_params;
    s->step = ht_f_synth_trainer_steps(x->tr);
    s->P = x->P;
    s->m = ht_f_synth_trainer_moment(x->tr, 0);
    s->v = ht_f_synth_trainer_moment(x->tr, 1);
    s->head_bias = x->head_bias;
    snprintf(s->cond, sizeof s->cond, "%s", x->cond);
    s->input_noise = x->a.cli.o.input_noise;
    s->self_feed = x->a.cli.o.self_feed;
    s->self_feed_ramp = x->a.cli.o.self_feed_ramp;
}

/* The run after the command line: data, model, trainer, checkpoint, epochs. The exit status. */
static int synth_train(synth_job *j, int argc, char **argv)
{
    synth_args *tp = &j->a;
    ht_train_opts *o = &tp->cli.o;
    ht_run *run = &j->run;
    char msg[2048];
    if (ht_run_open(run, prog, &tp->cli))
        return EXIT_RUNTIME;
    FILE *sink = run->sink;

    /* ---- data ---- */
    hs_manifest *man = &j->man;
    if (hs_manifest_load(tp->notes, man, msg, sizeof msg) ||
        hs_split_load(man, "train", &j->train, msg, sizeof msg) ||
        hs_split_load(man, "val", &j->val, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", prog, msg);
        return EXIT_RUNTIME;
    }
    const hs_split *train = &j->train, *val = &j->val;
    fprintf(sink, "instrument: %s (bank %d, program %d) of %s, %g Hz\n", man->instrument,
            man->bank, man->program, man->soundfont, man->rate);
    report_split(sink, train, man->rate);
    report_split(sink, val, man->rate);
    if (train->peak < 1e-4 || val->peak < 1e-4) {
        fprintf(stderr, "%s: %s is silent\n", prog,
                train->peak < 1e-4 ? train->audio : val->audio);
        return EXIT_RUNTIME;
    }

    /* ---- model, trainer, checkpoint ---- */
    hiss_config *cfg = &j->cfg;
    *cfg = tp->cli.cfg;
    cfg->sample_rate = man->rate;
    j->cond = tp->cond;
    j->head_bias = tp->head_bias;
    tc_state *ck = &j->ck;
    if (ht_run_load_checkpoint(run, ck))
        return EXIT_RUNTIME;
    if (tp->cli.resume) {
        if (ck->cfg.io != HISS_IO_SYNTH || ck->cfg.sample_rate != man->rate) {
            fprintf(stderr, "%s: %s: %s model at %g Hz, the data is %g Hz synth notes\n", prog,
                    run->ckpt_path, ck->cfg.io == HISS_IO_SYNTH ? "a synth" : "an fx",
                    ck->cfg.sample_rate, man->rate);
            return EXIT_RUNTIME;
        }
        *cfg = ck->cfg;
        j->cond = ck->cond;
        j->head_bias = ck->head_bias;
        fprintf(sink, "resuming from %s after epoch %d (step %ld); the model's shape%s come from "
                      "the checkpoint\n",
                run->ckpt_path, ck->epoch, ck->step,
                ck->input_noise >= 0 ? ", features, self-feed and input noise"
                                     : ", features and self-feed");
    }
    if (resolve_input_noise(tp, ck, run->ckpt_path, sink) ||
        resolve_self_feed(tp, ck, run->ckpt_path))
        return EXIT_RUNTIME;
    hiss_synth_model *model;
    hiss_error err;
    if (hiss_synth_model_init(cfg, j->cond, j->head_bias, o->seed, &model, &err) != HISS_OK) {
        fprintf(stderr, "%s: --cond %s: %s\n", prog, j->cond, err.msg);
        return EXIT_RUNTIME;
    }
    j->model = model;
    *cfg = *hiss_synth_model_config(model);
    const ht_layout *L = &j->L;
    if (ht_layout_init_synth(&j->L, cfg, j->head_bias)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    if (ht_run_check_params(run, ck, L->n_params))
        return EXIT_RUNTIME;
    /* Provenance: how this model was made and from what, so it can be made again. */
    {
        char line[8192], num[32];
        snprintf(line, sizeof line, "%s=%s,%s=%s,%s=%s,%s=%s,%s=%s", base_name(man->path),
                 man->sha, base_name(train->audio), train->audio_sha, base_name(train->notes),
                 train->notes_sha, base_name(val->audio), val->audio_sha, base_name(val->notes),
                 val->notes_sha);
        int bad = ht_run_provenance(model->bb, argc, argv) ||
                  set_meta(model, "hiss.train.data_sha256", line) ||
                  ht_set_meta_num(model->bb, "hiss.macs_per_sample",
                                  (double)ht_synth_macs_per_sample(L));
        snprintf(line, sizeof line, "%s (bank %d, program %d) of %s", man->instrument, man->bank,
                 man->program, base_name(man->soundfont));
        bad = bad || set_meta(model, "hiss.synth.instrument", line) ||
              set_meta(model, "hiss.synth.soundfont", man->soundfont) ||
              set_meta(model, "hiss.synth.soundfont_sha256", man->soundfont_sha);
        snprintf(num, sizeof num, "%d", man->program);
        bad = bad || set_meta(model, "hiss.synth.program", num) ||
              set_meta(model, "hiss.synth.temperature", "1");
        if (bad) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return EXIT_RUNTIME;
        }
    }
    j->P = malloc(L->n_params * sizeof *j->P);
    if (!j->P || ht_f_params_from_synth(L, model, j->P, &err)) {
        fprintf(stderr, "%s: %s\n", prog, j->P ? err.msg : "out of memory");
        return EXIT_RUNTIME;
    }
    if (tp->cli.resume)
        memcpy(j->P, ck->P, L->n_params * sizeof *j->P);
    j->td = data_of(train, model, man->rate, j->feat);
    j->vd = data_of(val, model, man->rate, j->feat);
    /* the schedule: every epoch's steps, known from the note order alone */
    const int epochs = tp->cli.epochs;
    o->total_steps = 0;
    for (int e = 0; e < epochs; e++)
        o->total_steps += ht_synth_epoch_steps(&j->td, o->batch, o->window, o->seed, e);
    if (o->lr_warmup_steps > o->total_steps / 5)
        o->lr_warmup_steps = o->total_steps / 5;
    j->tr = ht_f_synth_trainer_create(L, o, j->P, &j->td);
    if (!j->tr)
        return ht_run_no_trainer(run, L, o->window);
    if (tp->cli.resume) {
        ht_f_synth_trainer_set_steps(j->tr, ck->step);
        ht_run_resumed(run, ck, ht_f_synth_trainer_moment(j->tr, 0),
                       ht_f_synth_trainer_moment(j->tr, 1));
    }
    fprintf(sink,
            "model: d_model %d, %d layers, d_inner %d, d_state %d, d_conv %d, dt_rank %d, "
            "features %s, lm_head bias %s: %zu parameters, %llu MACs per sample\n",
            cfg->d_model, cfg->n_layer, cfg->d_inner, cfg->d_state, cfg->d_conv, cfg->dt_rank,
            j->cond, j->head_bias ? "on" : "off", L->n_params,
            (unsigned long long)ht_synth_macs_per_sample(L));
    fprintf(sink,
            "training: %d epochs of about %ld steps, %d notes side by side in chunks of %d "
            "samples, lr %g to %g (%s), %d threads, %.0f MB of activations per thread\n",
            epochs, o->total_steps / epochs, o->batch, o->window, o->lr, o->lr_min,
            o->schedule == HT_SCHED_COSINE ? "cosine" : "step", o->threads,
            ht_acts_reals(L, o->window) * sizeof(float) / 1e6);
    if (o->self_feed > 0 && o->self_feed_ramp > 0)
        fprintf(sink, "self-feed: each input the model's own draw with probability %g, ramped up "
                      "from 0 over the first %d epochs\n",
                o->self_feed, o->self_feed_ramp);
    else if (o->self_feed > 0)
        fprintf(sink, "self-feed: each input the model's own draw with probability %g\n",
                o->self_feed);

    run->csv_header = "epoch,step,lr,train_bits,val_bits,seconds";
    run->hist_col[0] = 3; /* train_bits */
    run->hist_col[1] = 4; /* val_bits */
    run->plot_label[0] = "training bits/sample";
    run->plot_label[1] = "validation bits/sample";
    run->plot_log = 0;
    run->best_fmt = "validation %.4f bits/sample";
    const ht_run_ops ops = {synth_epoch, synth_save, synth_report, synth_checkpoint};
    return ht_run_epochs(run, &ops, j, man->rate, (int64_t)train->n);
}

int ht_synth_main(int argc, char **argv)
{
    synth_job *j = calloc(1, sizeof *j);
    if (!j) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_RUNTIME;
    }
    int done;
    int status = parse_args(argc, argv, &j->a, &done);
    if (!status && !done)
        status = synth_train(j, argc, argv);
    synth_job_free(j);
    return status;
}
