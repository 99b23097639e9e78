/* hiss-render --out-dir DIR IN...: many files through one model. Files the whole-file path takes
 * (--backend cuda, or --whole, at the model's rate) are grouped into batches of at most
 * --batch-samples samples; every channel of every file of a batch is one sequence of a single
 * hiss_render_offline_batch call, so the GPU sees them all in one set of launches. Worker threads
 * read the files of the next batch and write those of the last while the main thread renders
 * one, so that disk and codec work overlaps the render. A file is read, rendered and written
 * exactly as alone (the same options, the same numbers); one that fails is named and skipped,
 * and every output goes through a temporary file renamed into place, so a failure leaves the
 * other outputs whole. Files that stream (another rate with --rate-mode delta or resample, or
 * the CPU without --whole) go one after another through render_fx_file, as alone. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audiofile.h"
#include "io_queue.h"
#include "progress.h"
#include "render.h"

typedef struct files_ctx files_ctx;

typedef struct rfile {
    files_ctx *ctx;
    const char *in_path;
    char *out_path; /* out_dir/<in's file name> */
    SF_INFO info;   /* from the header pass */
    int ch, out_format;
    int batch;      /* batch index; -1: streamed (or failed before) */
    int failed;     /* it was said why */
    int written;
    int stopped;
    whole_file f;
    int read_done, write_done; /* set by the queue */
} rfile;

struct files_ctx {
    const render_opts *o;
    const volatile sig_atomic_t *stop;
    hiss_backend backend;
    int n_batches;
};

static void say(const char *fmt, const char *a, const char *b)
{
    char line[2048];
    snprintf(line, sizeof line, fmt, a, b);
    fprintf(stderr, "%s: %s\n", RENDER_PROG, line);
}

static void read_task(void *p)
{
    rfile *r = p;
    const files_ctx *c = r->ctx;
    char msg[1024];
    if (*c->stop) {
        r->stopped = 1;
        return;
    }
    SF_INFO info = {0};
    SNDFILE *in = sf_open(r->in_path, SFM_READ, &info);
    if (!in) {
        say("%s: cannot read: %s", r->in_path, sf_strerror(NULL));
        r->failed = 1;
        return;
    }
    int stopped = 0;
    if (whole_read(in, &info, c->o, r->in_path, r->ch, &r->f, c->stop, &stopped, msg, sizeof msg) != 0) {
        say("%s%s", msg, "");
        r->failed = 1;
    }
    r->stopped = stopped;
    sf_close(in);
    if (r->failed || r->stopped)
        whole_free(&r->f);
}

static void write_task(void *p)
{
    rfile *r = p;
    const files_ctx *c = r->ctx;
    char msg[1024];
    if (r->failed || r->stopped || *c->stop) {
        r->stopped = !r->failed;
        whole_free(&r->f);
        return;
    }
    hiss_af_writer w;
    memset(&w, 0, sizeof w);
    int stopped = 0;
    if (whole_open_out(&w, r->out_path, r->info.samplerate, r->ch, r->out_format, msg, sizeof msg) != 0 ||
        whole_write(&r->f, c->o, r->out_path, w.sf, c->stop, &stopped, msg, sizeof msg) != 0) {
        hiss_af_writer_abort(&w);
        say("%s%s", msg, "");
        r->failed = 1;
    } else if (stopped || *c->stop) {
        hiss_af_writer_abort(&w);
        r->stopped = 1;
    } else if (hiss_af_writer_commit(&w, msg, sizeof msg) != 0) {
        say("%s%s", msg, "");
        r->failed = 1;
    } else {
        r->written = 1;
    }
    if (r->written && !c->o->quiet) {
        const double rate = (double)r->info.samplerate;
        char line[1024], extra[256] = "";
        size_t used = 0;
        if (r->f.st.nonfinite)
            used += (size_t)snprintf(extra + used, sizeof extra - used, ", %llu non-finite input samples set to 0",
                                     (unsigned long long)r->f.st.nonfinite);
        if (r->f.st.clamped && used < sizeof extra)
            snprintf(extra + used, sizeof extra - used, ", %llu input samples clamped to +-%g",
                     (unsigned long long)r->f.st.clamped, HISS_INPUT_LIMIT);
        snprintf(line, sizeof line, "%llu frames (%.3f s) x %d ch, whole file (model %g Hz), batch %d of %d, %s backend%s",
                 (unsigned long long)r->f.frames, (double)r->f.frames / rate, r->ch, rate, r->batch + 1,
                 c->n_batches, hiss_backend_name(c->backend), extra);
        fprintf(stderr, "%s: %s -> %s: %s\n", RENDER_PROG, r->in_path, r->out_path, line);
    }
    whole_free(&r->f);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Outputs named, none twice, none an input; every failure here is a usage error. */
static int name_outputs(const render_opts *o, rfile *fs)
{
    const int n = o->n_inputs;
    const size_t dl = strlen(o->out_dir);
    for (int i = 0; i < n; i++) {
        const char *b = base_name(fs[i].in_path);
        if (!*b) {
            say("%s: names a directory, not a file", fs[i].in_path, "");
            return EXIT_USAGE;
        }
        fs[i].out_path = malloc(dl + strlen(b) + 2);
        if (!fs[i].out_path) {
            say("out of memory%s%s", "", "");
            return EXIT_RUNTIME;
        }
        sprintf(fs[i].out_path, "%s%s%s", o->out_dir, dl && o->out_dir[dl - 1] == '/' ? "" : "/", b);
        if (!hiss_af_major_for_path(fs[i].out_path)) {
            char exts[1024], line[1400];
            hiss_af_list_extensions(exts, sizeof exts);
            snprintf(line, sizeof line, "unknown output file type (extension); known: %s", exts);
            say("%s: %s", fs[i].out_path, line);
            return EXIT_USAGE;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(fs[i].out_path, fs[j].out_path) == 0) {
                fprintf(stderr, "%s: %s and %s would both be written to %s; give each input its own file name\n",
                        RENDER_PROG, fs[j].in_path, fs[i].in_path, fs[i].out_path);
                return EXIT_USAGE;
            }
    /* an output that is an input (the same file under another name too): by device and inode */
    const size_t cap = n > 0 ? (size_t)n : 1;
    struct stat *ins = malloc(cap * sizeof *ins);
    char *have = calloc(cap, 1);
    int rc = ins && have ? 0 : EXIT_RUNTIME;
    for (int i = 0; i < n && !rc; i++)
        have[i] = stat(fs[i].in_path, &ins[i]) == 0;
    for (int i = 0; i < n && !rc; i++) {
        struct stat so;
        if (stat(fs[i].out_path, &so) != 0)
            continue;
        for (int j = 0; j < n && !rc; j++)
            if (have[j] && ins[j].st_dev == so.st_dev && ins[j].st_ino == so.st_ino) {
                fprintf(stderr, "%s: %s (the output of %s) is the input %s; refusing to overwrite an input\n",
                        RENDER_PROG, fs[i].out_path, fs[i].in_path, fs[j].in_path);
                rc = EXIT_USAGE;
            }
    }
    if (rc == EXIT_RUNTIME)
        say("out of memory%s%s", "", "");
    free(ins);
    free(have);
    return rc;
}

/* The header of each file: its channels, rate and output format decide its path. */
static void plan_file(const render_opts *o, const hiss_model *m, int cuda, rfile *r)
{
    char msg[1024], num[64], num2[64];
    r->batch = -1;
    SNDFILE *in = sf_open(r->in_path, SFM_READ, &r->info);
    if (!in) {
        say("%s: cannot read: %s", r->in_path, sf_strerror(NULL));
        r->failed = 1;
        return;
    }
    sf_close(in);
    if (r->info.channels < 1 || r->info.samplerate < 1) {
        say("%s: %s", r->in_path, "no channels or no sample rate");
        r->failed = 1;
        return;
    }
    r->ch = o->mono ? 1 : r->info.channels;
    if (hiss_af_pick_format(hiss_af_major_for_path(r->out_path), o->format, r->info.format, r->ch,
                            r->info.samplerate, &r->out_format, msg, sizeof msg) != 0) {
        say("%s: %s", r->out_path, msg);
        r->failed = 1;
        return;
    }
    const double host_rate = (double)r->info.samplerate, model_rate = hiss_model_config(m)->sample_rate;
    snprintf(num, sizeof num, "%g", host_rate);
    snprintf(num2, sizeof num2, "%g", model_rate);
    if (host_rate != model_rate && o->rate_mode == HISS_RATE_STRICT) {
        fprintf(stderr,
                "%s: %s is at %s Hz but the model %s runs at %s Hz; use --rate-mode delta (run at "
                "%s Hz, time steps scaled) or --rate-mode resample (convert to %s Hz and back)\n",
                RENDER_PROG, r->in_path, num, o->model_path, num2, num, num2);
        r->failed = 1;
    } else if (o->whole && host_rate != model_rate) {
        fprintf(stderr, "%s: --whole: %s is at %s Hz but the model runs at %s Hz; the whole-file render runs "
                "at the model's rate (leave out --whole to stream it)\n", RENDER_PROG, r->in_path, num, num2);
        r->failed = 1;
    } else if (host_rate == model_rate && (o->whole || cuda)) {
        r->batch = 0; /* numbered below */
    }
}

/* One batch on the main thread: every channel of every file read is a sequence. */
static void render_batch(const render_opts *o, const hiss_model *m, const float *cond, hiss_backend backend,
                         rfile *fs, int lo, int hi, double *render_s)
{
    int count = 0;
    for (int i = lo; i < hi; i++)
        if (fs[i].batch >= 0 && !fs[i].failed && !fs[i].stopped)
            count += fs[i].ch;
    if (count == 0)
        return;
    const float **ip = malloc((size_t)count * sizeof *ip), **cp = malloc((size_t)count * sizeof *cp);
    float **op = malloc((size_t)count * sizeof *op);
    size_t *len = malloc((size_t)count * sizeof *len);
    hiss_error err = {0};
    hiss_status st = HISS_ERR_NOMEM;
    snprintf(err.msg, sizeof err.msg, "out of memory");
    if (ip && cp && op && len) {
        int k = 0;
        for (int i = lo; i < hi; i++)
            if (fs[i].batch >= 0 && !fs[i].failed && !fs[i].stopped)
                for (int c = 0; c < fs[i].ch; c++, k++) {
                    ip[k] = op[k] = fs[i].f.wet[c];
                    cp[k] = cond;
                    len[k] = fs[i].f.frames;
                }
        const double t0 = hiss_now();
        hiss_fpguard g = hiss_fp_enter();
        st = hiss_render_offline_batch(m, ip, op, len, count, cp, backend, &err);
        hiss_fp_leave(g);
        *render_s += hiss_now() - t0;
    }
    free(ip);
    free(cp);
    free(op);
    free(len);
    if (st == HISS_OK)
        return;
    for (int i = lo; i < hi; i++)
        if (fs[i].batch >= 0 && !fs[i].failed && !fs[i].stopped) {
            fprintf(stderr, "%s: %s: not written: the batch it was rendered in failed: %s: %s backend: %s\n",
                    RENDER_PROG, fs[i].in_path, o->model_path, hiss_backend_name(backend), err.msg);
            fs[i].failed = 1;
        }
}

/* The first render of a process pays for the CUDA context and for loading the kernels (about
 * 0.13 s on an H100): two one-sample sequences (the kernels that cut between sequences) and one
 * (those that do not) pay it while the workers read the first batch. */
static void warm_up(const hiss_model *m, hiss_backend backend)
{
    float x[2] = {0.0f, 0.0f}, y[2];
    const float *ip[2] = {x, x + 1};
    float *op[2] = {y, y + 1};
    const size_t len[2] = {1, 1};
    hiss_render_offline_batch(m, ip, op, len, 2, NULL, backend, NULL);
    hiss_render_offline_batch(m, ip, op, len, 1, NULL, backend, NULL);
}

int render_files(const render_opts *o, const hiss_model *m, const int *cond_idx, const volatile sig_atomic_t *stop)
{
    struct stat sd;
    if (stat(o->out_dir, &sd) != 0 || !S_ISDIR(sd.st_mode)) {
        say("--out-dir %s: not a directory%s", o->out_dir, "");
        return EXIT_RUNTIME;
    }
    if (o->backend == HISS_BACKEND_CUDA && !hiss_backend_available(HISS_BACKEND_CUDA)) {
        say("%s%s", RENDER_NO_CUDA, "");
        return EXIT_RUNTIME;
    }
    const int n = o->n_inputs;
    const int cuda = o->backend == HISS_BACKEND_CUDA ||
                     (o->backend == HISS_BACKEND_AUTO && hiss_backend_available(HISS_BACKEND_CUDA));
    files_ctx ctx = {o, stop, cuda ? HISS_BACKEND_CUDA : HISS_BACKEND_CPU, 0};
    rfile *fs = calloc((size_t)n, sizeof *fs);
    if (!fs) {
        say("out of memory%s%s", "", "");
        return EXIT_RUNTIME;
    }
    for (int i = 0; i < n; i++) {
        fs[i].ctx = &ctx;
        fs[i].in_path = o->inputs[i];
    }
    int rc = name_outputs(o, fs);
    io_queue *q = NULL;
    const double t0 = hiss_now();
    double render_s = 0.0;
    int streamed = 0, stream_failed = 0;
    if (rc != 0)
        goto done;

    /* Batches in input order, each up to --batch-samples (a longer file alone). */
    long acc = 0;
    for (int i = 0; i < n && !*stop; i++) {
        plan_file(o, m, cuda, &fs[i]);
        if (fs[i].batch < 0)
            continue;
        const long need = fs[i].info.frames > 0 ? (long)fs[i].info.frames * fs[i].ch : o->batch_samples;
        if (ctx.n_batches == 0 || (acc > 0 && acc + need > o->batch_samples)) {
            ctx.n_batches++;
            acc = 0;
        }
        acc += need;
        fs[i].batch = ctx.n_batches - 1;
    }
    float cond[HISS_MAX_COND] = {0};
    for (int k = 0; k < o->n_conds; k++)
        cond[cond_idx[k]] = (float)o->conds[k].value;

    if (ctx.n_batches > 0) {
        q = io_queue_create((int)o->io_threads);
        if (!q) {
            say("out of memory%s%s", "", "");
            rc = EXIT_RUNTIME;
            goto done;
        }
    }
    /* Reads run a batch ahead: while batch b renders, the workers write batch b - 1 and read
     * batch b + 1 (queued in that order). At most three batches are in memory. */
    int next = 0; /* first file not yet queued for reading */
    for (int b = 0; b < ctx.n_batches && !*stop; b++) {
        int lo = -1, hi = -1;
        for (int i = 0; i < n; i++)
            if (fs[i].batch == b) {
                lo = lo < 0 ? i : lo;
                hi = i + 1;
            }
        for (; next < n && (fs[next].batch < 0 || fs[next].batch <= b + 1); next++)
            if (fs[next].batch >= 0 && io_queue_push(q, read_task, &fs[next], &fs[next].read_done) != 0)
                fs[next].failed = 1, say("%s: out of memory%s", fs[next].in_path, "");
        if (b == 0 && ctx.backend == HISS_BACKEND_CUDA)
            warm_up(m, ctx.backend);
        for (int i = lo; i < hi; i++)
            if (fs[i].batch == b && !fs[i].failed)
                io_queue_wait(q, &fs[i].read_done);
        if (*stop)
            break;
        render_batch(o, m, cond, ctx.backend, fs, lo, hi, &render_s);
        for (int i = lo; i < hi; i++)
            if (fs[i].batch == b && io_queue_push(q, write_task, &fs[i], &fs[i].write_done) != 0) {
                fs[i].failed = 1;
                say("%s: out of memory%s", fs[i].in_path, "");
                whole_free(&fs[i].f);
            }
    }
    io_queue_free(q); /* the last writes; after a signal, what is queued skips itself */
    q = NULL;

    for (int i = 0; i < n && !*stop; i++) {
        if (fs[i].failed || fs[i].batch >= 0)
            continue;
        render_opts fo = *o;
        fo.in_path = fs[i].in_path;
        fo.out_path = fs[i].out_path;
        fo.out_dir = NULL;
        const int r = render_fx_file(&fo, m, cond_idx);
        if (r >= 128)
            break; /* interrupted: said */
        streamed++;
        fs[i].written = r == 0;
        stream_failed += r != 0;
    }

    int written = 0, failed = 0;
    double audio_s = 0.0;
    for (int i = 0; i < n; i++) {
        written += fs[i].written;
        failed += fs[i].failed;
        if (fs[i].written)
            audio_s += fs[i].info.samplerate > 0 ? (double)fs[i].info.frames / fs[i].info.samplerate : 0.0;
    }
    failed += stream_failed;
    if (*stop) {
        const int sig = *stop;
        fprintf(stderr, "%s: interrupted by signal %d; %d of %d files written, the others not\n", RENDER_PROG,
                sig, written, n);
        rc = 128 + sig;
        goto done;
    }
    const double elapsed = hiss_now() - t0;
    if (!o->quiet)
        fprintf(stderr,
                "%s: %d of %d files written (%.3f s of audio) in %.3f s, RTF %.1fx: %d batch%s on the %s backend "
                "(render %.3f s, reads and writes on %ld threads), %d streamed, %d failed\n",
                RENDER_PROG, written, n, audio_s, elapsed, elapsed > 0 ? audio_s / elapsed : 0.0, ctx.n_batches,
                ctx.n_batches == 1 ? "" : "es", hiss_backend_name(ctx.backend), render_s, o->io_threads, streamed, failed);
    rc = failed ? EXIT_RUNTIME : 0;
done:
    io_queue_free(q);
    for (int i = 0; i < n; i++) {
        whole_free(&fs[i].f);
        free(fs[i].out_path);
    }
    free(fs);
    return rc;
}
