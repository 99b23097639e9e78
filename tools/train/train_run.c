#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef HISS_HAVE_CAIRO
#include "plot.h"
#endif
#include "train_run.h"

/* The one piece of global state: a signal handler can only talk through a global. The epoch
 * loop polls it between steps, writes a checkpoint and stops. */
static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

int ht_run_stopping(void)
{
    return g_signal != 0;
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

int ht_run_open(ht_run *r, const char *prog, const ht_cli *cli)
{
    memset(r, 0, sizeof *r);
    r->prog = prog;
    r->cli = cli;
    r->best = INFINITY;
    r->sink = cli->quiet ? fopen("/dev/null", "w") : stdout;
    if (!r->sink)
        r->sink = stderr;
    r->ckpt_path = cli->checkpoint ? strdup(cli->checkpoint) : beside(cli->out, ".ckpt");
    r->log_path = cli->log ? strdup(cli->log) : beside(cli->out, ".csv");
    /* the plot beside the log: its extension replaced by .png */
    r->png_path = r->log_path ? malloc(strlen(r->log_path) + 5) : NULL;
    if (!r->ckpt_path || !r->log_path || !r->png_path) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return HT_EXIT_RUNTIME;
    }
    strcpy(r->png_path, r->log_path);
    char *dot = strrchr(r->png_path, '.'), *slash = strrchr(r->png_path, '/');
    if (dot && (!slash || dot > slash))
        *dot = '\0';
    strcat(r->png_path, ".png");
    /* made now, so a directory that cannot be is said before the first epoch, not after it */
    struct stat st;
    if (cli->epoch_models && mkdir(cli->epoch_models, 0777) &&
        !(stat(cli->epoch_models, &st) == 0 && S_ISDIR(st.st_mode))) {
        fprintf(stderr, "%s: --epoch-models %s: cannot make the directory\n", prog,
                cli->epoch_models);
        return HT_EXIT_RUNTIME;
    }
    /* a HISS_TRAIN_ISA the trainer cannot honour is said here, not as a trainer that could not
     * be made */
    ht_isa isa;
    hiss_error err;
    if (ht_isa_select(&isa, &err)) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return HT_EXIT_RUNTIME;
    }
    fprintf(r->sink, "float math: %s%s\n", ht_isa_name(isa),
            getenv("HISS_TRAIN_ISA") && *getenv("HISS_TRAIN_ISA") ? " (HISS_TRAIN_ISA)" : "");
    return 0;
}

void ht_run_close(ht_run *r)
{
    free(r->ckpt_path);
    free(r->log_path);
    free(r->png_path);
    r->ckpt_path = r->log_path = r->png_path = NULL;
    if (r->sink && r->sink != stdout && r->sink != stderr)
        fclose(r->sink);
    r->sink = NULL;
}

int ht_run_load_checkpoint(const ht_run *r, tc_state *ck)
{
    char msg[2048];
    memset(ck, 0, sizeof *ck);
    if (r->cli->resume && tc_load(r->ckpt_path, ck, msg, sizeof msg)) {
        fprintf(stderr, "%s: --resume: %s\n", r->prog, msg);
        return HT_EXIT_RUNTIME;
    }
    return 0;
}

int ht_run_check_params(const ht_run *r, const tc_state *ck, size_t n_params)
{
    if (r->cli->resume && ck->n_params != n_params) {
        fprintf(stderr, "%s: %s holds %zu parameters, the model needs %zu\n", r->prog,
                r->ckpt_path, ck->n_params, n_params);
        return HT_EXIT_RUNTIME;
    }
    return 0;
}

void ht_run_resumed(ht_run *r, tc_state *ck, float *m, float *v)
{
    memcpy(m, ck->m, ck->n_params * sizeof *m);
    memcpy(v, ck->v, ck->n_params * sizeof *v);
    r->epoch0 = ck->epoch;
    r->best_epoch = ck->best_epoch;
    r->best = ck->best_epoch ? ck->best_val : INFINITY;
    free(ck->P);
    free(ck->m);
    free(ck->v);
    ck->P = ck->m = ck->v = NULL;
}

int ht_run_no_trainer(const ht_run *r, const ht_layout *L, int window)
{
    fprintf(stderr, "%s: out of memory for the trainer (%.0f MB of activations per thread)\n",
            r->prog, ht_acts_reals(L, window) * sizeof(float) / 1e6);
    return HT_EXIT_RUNTIME;
}

int ht_set_meta_num(hiss_model *m, const char *key, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", v);
    return hiss_model_set_meta(m, key, buf) == HISS_OK ? 0 : -1;
}

int ht_run_provenance(hiss_model *m, int argc, char **argv)
{
    size_t len = 1;
    for (int k = 0; k < argc; k++)
        len += strlen(argv[k]) + 1;
    char *cmd = malloc(len);
    if (!cmd)
        return -1;
    cmd[0] = 0;
    for (int k = 0; k < argc; k++) {
        if (k)
            strcat(cmd, " ");
        strcat(cmd, argv[k]);
    }
    /* SOURCE_DATE_EPOCH (the reproducible-builds convention) pins the date */
    char when[32];
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    time_t now = sde && *sde ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    /* the instruction set too: the same command gives the same bytes only under the same one */
    ht_isa isa;
    const int bad = hiss_model_set_meta(m, "hiss.train.command", cmd) != HISS_OK ||
                    hiss_model_set_meta(m, "hiss.train.date", when) != HISS_OK ||
                    ht_isa_select(&isa, NULL) ||
                    hiss_model_set_meta(m, "hiss.train.isa", ht_isa_name(isa)) != HISS_OK;
    free(cmd);
    return bad ? -1 : 0;
}

void ht_run_progress(ht_run *r, int64_t n)
{
    r->frames_done += n;
    hiss_progress_update(&r->bar, r->frames_done);
}

void ht_run_not_finite(ht_run *r, int epoch, long step)
{
    hiss_progress_end(&r->bar);
    fprintf(stderr,
            "%s: the loss is no longer finite (epoch %d, step %ld): lower --lr; the last "
            "checkpoint and the best model are kept\n",
            r->prog, epoch + 1, step);
}

/* Earlier epochs from the CSV of a resumed run, for the plot: columns col[0] and col[1] of the
 * lines that start with an epoch number. */
static void read_history(const char *path, const int col[2], double *a, double *b, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    const int n_cols = 1 + (col[0] > col[1] ? col[0] : col[1]);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        double v[16];
        char *p = line, *end;
        const long epoch = strtol(p, &end, 10);
        int got = end != p && n_cols <= 16;
        for (int i = 1; got && i < n_cols; i++) {
            p = end;
            got = *p == ',';
            v[i] = got ? strtod(p + 1, &end) : 0;
            got = got && end != p + 1;
        }
        if (got && epoch >= 1 && epoch <= cap) {
            a[epoch - 1] = v[col[0]];
            b[epoch - 1] = v[col[1]];
        }
    }
    fclose(f);
}

/* The checkpoint after `done` epochs. 0, or -1 (said). */
static int save_checkpoint(const ht_run *r, const ht_run_ops *ops, void *ctx, int done)
{
    char msg[2048];
    tc_state s;
    memset(&s, 0, sizeof s);
    ops->checkpoint(ctx, &s);
    s.epoch = done;
    s.best_epoch = r->best_epoch;
    s.best_val = r->best;
    if (tc_save(r->ckpt_path, &s, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", r->prog, msg);
        return -1;
    }
    return 0;
}

/* The epoch's model: to cli->out when it is the best so far, and with --epoch-models to
 * DIR/epoch-NNN.safetensors whatever its score (the saved epoch is chosen by a teacher-forced or
 * held-out measure; a synth's playing is judged by other ones, afterwards). 0, or -1 (said). */
static int save_epoch(const ht_run *r, const ht_run_ops *ops, void *ctx, int epoch, int best)
{
    hiss_error err;
    int bad = best && ops->save(ctx, epoch, r->cli->out, &err);
    if (!bad && r->cli->epoch_models) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/epoch-%03d.safetensors", r->cli->epoch_models,
                     epoch + 1) >= (int)sizeof path) {
            snprintf(err.msg, sizeof err.msg, "--epoch-models %s: path too long",
                     r->cli->epoch_models);
            bad = 1;
        } else
            bad = ops->save(ctx, epoch, path, &err);
    }
    if (bad)
        fprintf(stderr, "%s: %s\n", r->prog, err.msg);
    return bad ? -1 : 0;
}

int ht_run_epochs(ht_run *r, const ht_run_ops *ops, void *ctx, double rate,
                  int64_t frames_per_epoch)
{
    const ht_cli *c = r->cli;
    double *hist_train = malloc((size_t)c->epochs * sizeof(double));
    double *hist_val = malloc((size_t)c->epochs * sizeof(double));
    if (!hist_train || !hist_val) {
        fprintf(stderr, "%s: out of memory\n", r->prog);
        free(hist_train);
        free(hist_val);
        return HT_EXIT_RUNTIME;
    }
    for (int e = 0; e < c->epochs; e++)
        hist_train[e] = hist_val[e] = NAN;
    if (c->resume)
        read_history(r->log_path, r->hist_col, hist_train, hist_val, c->epochs);
    FILE *csv = fopen(r->log_path, c->resume ? "a" : "w");
    if (!csv) {
        fprintf(stderr, "%s: %s: cannot write the log\n", r->prog, r->log_path);
        free(hist_train);
        free(hist_val);
        return HT_EXIT_RUNTIME;
    }
    if (!c->resume)
        fprintf(csv, "%s\n", r->csv_header);
    fflush(csv);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const int end = c->stop_after && r->epoch0 + c->stop_after < c->epochs
                        ? r->epoch0 + c->stop_after
                        : c->epochs;
    hiss_progress_start(&r->bar, (int64_t)(end - r->epoch0) * frames_per_epoch, rate,
                        !c->quiet && isatty(2));
    r->frames_done = 0;
    const double t0 = hiss_now();
    int status = 0;
    int epoch = r->epoch0;
    for (; epoch < end && !g_signal; epoch++) {
        double score;
        const int e = ops->epoch(ctx, r, epoch, &score);
        if (e < 0)
            status = HT_EXIT_RUNTIME;
        if (e != 0)
            break; /* a signal: the epoch is not complete, the checkpoint below says so */
        const int improved = score < r->best;
        hiss_progress_end(&r->bar);
        if (improved) {
            r->best = score;
            r->best_epoch = epoch + 1;
        }
        if (save_epoch(r, ops, ctx, epoch, improved)) {
            status = HT_EXIT_RUNTIME;
            break;
        }
        ops->report(ctx, r, epoch, hiss_now() - t0, improved, csv, &hist_train[epoch],
                    &hist_val[epoch]);
        fflush(r->sink);
        fflush(csv);
#ifdef HISS_HAVE_CAIRO
        if (!c->no_plot && plot_curves_png(r->png_path, hist_train, hist_val, epoch + 1,
                                           r->plot_label[0], r->plot_label[1], r->plot_log))
            fprintf(stderr, "%s: warning: %s: could not write the plot\n", r->prog, r->png_path);
#endif
        if (save_checkpoint(r, ops, ctx, epoch + 1)) {
            status = HT_EXIT_RUNTIME;
            break;
        }
    }
    hiss_progress_end(&r->bar);
    fclose(csv);
    free(hist_train);
    free(hist_val);
    if (g_signal && !status) {
        /* The parameters moved within an unfinished epoch: they are kept, and the epoch counted
         * as not done, so --resume repeats it from here. */
        if (!save_checkpoint(r, ops, ctx, epoch))
            fprintf(stderr, "%s: stopped by signal %d; %s written, continue with --resume\n",
                    r->prog, (int)g_signal, r->ckpt_path);
        status = 128 + g_signal;
    } else if (!status && epoch < c->epochs) {
        fprintf(r->sink, "stopped after epoch %d of %d as asked; continue with --resume\n", epoch,
                c->epochs);
    } else if (!status) {
        char best[128];
        snprintf(best, sizeof best, r->best_fmt, r->best);
        fprintf(r->sink, "done: best epoch %d, %s; model %s, log %s%s%s\n", r->best_epoch, best,
                c->out, r->log_path, c->no_plot ? "" : ", plot ", c->no_plot ? "" : r->png_path);
    }
    return status;
}
