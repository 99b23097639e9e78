/* hiss-render: run a hiss model over an audio file, or play a synth model from a MIDI file,
 * offline.
 *
 *   hiss-render -m MODEL [options] IN OUT           an effect model ("hiss.io": "fx")
 *   hiss-render -m MODEL [options] --out-dir DIR IN...   several files (render_files.c)
 *   hiss-render --midi SONG.mid -m MODEL [options] OUT   a synth model ("synth")
 *
 * An effect model's output has IN's frame count and sample rate and is time-aligned with IN: any
 * latency of the processing (the resampler's, or a GPU backend's) is removed by dropping that
 * many frames at the start and feeding silence at the end. With the CUDA backend at the model's
 * rate (or --whole) each channel goes through the time-parallel offline render, the file read,
 * rendered and written a segment at a time, overlapped (render_segments.c); otherwise it streams
 * block by block (here). The MIDI path is render_midi.c. OUT is written to a temporary file
 * beside it and renamed into place only when everything succeeded, so a failed or interrupted run
 * leaves no partial OUT and an existing OUT untouched.
 *
 * Exit status: 0 done, 1 runtime error (files, model, rates, backend), 2 usage error,
 * 128+N when stopped by signal N (SIGINT, SIGTERM). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "audiofile.h"
#include "hiss.h"
#include "hiss_synth.h"
#include "opts.h"
#include "progress.h"
#include "render.h"
#ifdef HISS_HAVE_SOXR
#include "resampler.h"
#include <soxr.h>
#endif

/* The one piece of global state: a signal handler can only talk through a global, and it only
 * records which signal arrived; the render loop polls it and cleans up. */
static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

static const char *prog = RENDER_PROG;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s -m MODEL [options] IN OUT\n"
            "       %s -m MODEL [options] --out-dir DIR IN...\n"
            "       %s --midi SONG.mid -m MODEL [options] OUT\n"
            "Run an effect model (.safetensors) over the audio file IN and write OUT, or over\n"
            "several files, each written to DIR under its own name, or play a synth model from\n"
            "the Standard MIDI File SONG.mid (format 0 or 1) into OUT.\n"
            "\n"
            "  -m, --model FILE      the model (required)\n"
            "      --mono            mix the channels down to one (their mean) and write mono\n"
            "      --block N         frames per process call (default 512)\n"
            "      --gain-in DB      gain before the model (default 0)\n"
            "      --gain-out DB     gain after the dry/wet mix (default 0)\n"
            "      --mix X           dry/wet, 0..1: out = (1-X)*dry + X*wet (default 1)\n"
            "      --cond NAME=VALUE set a conditioning input of the model (repeatable)\n"
            "      --rate-mode MODE  when IN's rate differs from the model's:\n"
            "                          strict   refuse (default)\n"
            "                          delta    run at IN's rate, time steps scaled\n"
            "                          resample convert to the model's rate and back (libsoxr)\n"
            "      --quality Q       resampler quality: hq (default) or vhq\n"
            "      --format F        output samples: float, 24 or 16 (default: IN's when it is\n"
            "                        one of these, else float; what OUT's container can hold)\n"
            "      --backend B       cpu, cuda or auto (default auto); with cuda at the model's\n"
            "                        rate the file takes the whole-file path (--whole)\n"
            "      --whole           render each channel as one signal (hiss_offline, the\n"
            "                        numbers of hiss_render_offline over the whole file) on any\n"
            "                        backend, reading, rendering and writing a segment at a\n"
            "                        time, overlapped; needs IN at the model's rate\n"
            "      --segment-frames N\n"
            "                        the whole-file path of one file: frames per segment\n"
            "                        (default 1048576); memory: about 6 floats per frame and\n"
            "                        channel\n"
            "      --out-dir DIR     render every IN to DIR/<IN's file name> (same container);\n"
            "                        files the whole-file path takes (cuda, or --whole) are\n"
            "                        read and written by worker threads and rendered together,\n"
            "                        every channel of every file one sequence of a batch\n"
            "                        (hiss_render_offline_batch); the others stream one by one.\n"
            "                        A file that fails is named and skipped; the exit status\n"
            "                        is then 1\n"
            "      --batch-samples N --out-dir: at most N samples (all channels of all files)\n"
            "                        in one batch (default 8388608); the workers read the next\n"
            "                        batch and write the last while one renders\n"
            "      --io-threads N    --out-dir: worker threads reading and writing (default 2)\n"
            "  -q, --quiet           no summary line\n"
            "  -h, --help            this text\n"
            "      --version         version numbers\n"
            "\n"
            "synth (--midi) options:\n"
            "      --midi FILE       play this MIDI file (each event at sample\n"
            "                        llround(time * rate), as hiss-host --midi-file does)\n"
            "      --voices N        polyphony, 1 to 64 (default 8)\n"
            "      --temperature T   sampling temperature, 0 to 100 (default: the model's\n"
            "                        hiss.synth.temperature, else 1; 0: the most probable class)\n"
            "      --top-p P         nucleus mass, (0, 1] (default 1: no truncation)\n"
            "      --seed N          sampler seed (default 0): a seed and a file give one render\n"
            "      --tail SECONDS    after the file's end, render on until every voice is free,\n"
            "                        at most this long (default 10)\n"
            "      --release-max S   a released voice stops after this long even if not yet\n"
            "                        silent (default 10)\n"
            "  --format, --gain-out, --backend and --quiet apply too; --backend cuda runs the\n"
            "  voices as one batch on the GPU, auto means cpu (the CPU's render is the same on\n"
            "  every machine; the GPU's can part from it at a draw, docs/synth.md)\n"
            "\n"
            "OUT's container comes from its extension (wav, flac, aiff, ogg, caf, w64, ...).\n"
            "An effect model's OUT has IN's length and rate and is time-aligned with IN; a\n"
            "synth's OUT is mono at the model's rate. Exit status: 0 done, 1 runtime error,\n"
            "2 usage error.\n",
            prog, prog, prog);
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
    return hiss_usage_error(prog, fmt, a, b);
}

static int opt(hiss_argv *a, const char *shortname, const char *longname, const char **v)
{
    return hiss_opt_checked(a, prog, shortname, longname, v);
}

static void print_version(void)
{
    char sfv[128] = "";
    sf_command(NULL, SFC_GET_LIB_VERSION, sfv, sizeof sfv);
    printf("hiss-render (hiss %s), %s", hiss_version(), sfv);
#ifdef HISS_HAVE_SOXR
    printf(", %s", soxr_version());
#else
    printf(", without libsoxr");
#endif
    printf(", CUDA backend %s\n",
           hiss_backend_available(HISS_BACKEND_CUDA) ? "available" : "not available");
}

static int parse_args(int argc, char **argv, render_opts *o, int *done)
{
    memset(o, 0, sizeof *o);
    o->block = 512;
    o->mix = 1.0;
    o->rate_mode = HISS_RATE_STRICT;
    o->backend = HISS_BACKEND_AUTO;
    o->voices = 8;
    o->temperature = -1.0; /* the model's */
    o->top_p = 1.0;
    o->tail_s = 10.0;
    o->release_max_s = 10.0;
    o->batch_samples = RENDER_BATCH_SAMPLES;
    o->io_threads = RENDER_IO_THREADS;
    o->segment_frames = RENDER_SEGMENT_FRAMES;
    *done = 0;
    /* Options that belong to one kind of model, to refuse them with the other. */
    const char *fx_only = NULL, *synth_only = NULL, *files_only = NULL, *one_file_only = NULL;
    /* every positional argument: IN OUT, or with --out-dir the inputs */
    const char **pos = (const char **)calloc((size_t)argc, sizeof *pos);
    if (!pos)
        return usage_error("out of memory%s%s", "", "");
    o->inputs = pos;
    int n_pos = 0;
    int only_pos = 0;
    hiss_argv a = {argc, argv, 1};
    while (a.i < argc) {
        const char *arg = argv[a.i];
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            pos[n_pos++] = arg;
            a.i++;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            a.i++;
            continue;
        }
        const char *v = NULL;
        int m;
        if ((m = opt(&a, "h", "help", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            usage(stdout);
            *done = 1;
            return 0;
        } else if ((m = opt(&a, NULL, "version", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            print_version();
            *done = 1;
            return 0;
        } else if ((m = opt(&a, "m", "model", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            o->model_path = v;
        } else if ((m = opt(&a, NULL, "mono", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            o->mono = 1;
            fx_only = "--mono";
        } else if ((m = opt(&a, NULL, "whole", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            o->whole = 1;
            fx_only = "--whole";
        } else if ((m = opt(&a, NULL, "out-dir", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (!*v)
                return usage_error("--out-dir: expected a directory%s%s", "", "");
            o->out_dir = v;
            fx_only = "--out-dir";
        } else if ((m = opt(&a, NULL, "batch-samples", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_long(v, 1, 1L << 40, &o->batch_samples) != 0)
                return usage_error("--batch-samples '%s': expected a whole number from 1 to 2^40%s", v, "");
            fx_only = files_only = "--batch-samples";
        } else if ((m = opt(&a, NULL, "io-threads", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_long(v, 1, 64, &o->io_threads) != 0)
                return usage_error("--io-threads '%s': expected a whole number from 1 to 64%s", v, "");
            fx_only = files_only = "--io-threads";
        } else if ((m = opt(&a, NULL, "segment-frames", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_long(v, 1, 1L << 30, &o->segment_frames) != 0)
                return usage_error("--segment-frames '%s': expected a whole number from 1 to 2^30%s", v, "");
            fx_only = one_file_only = "--segment-frames";
        } else if ((m = opt(&a, NULL, "midi", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            o->midi_path = v;
        } else if ((m = opt(&a, NULL, "voices", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_long(v, 1, 64, &o->voices) != 0)
                return usage_error("--voices '%s': expected a whole number from 1 to 64%s", v, "");
            synth_only = "--voices";
        } else if ((m = opt(&a, NULL, "seed", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_long(v, 0, 0x7FFFFFFFFFFFFFFFL, &o->seed) != 0)
                return usage_error("--seed '%s': expected a whole number from 0 to 2^63-1%s", v, "");
            synth_only = "--seed";
        } else if ((m = opt(&a, NULL, "temperature", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_double(v, &o->temperature) != 0 || o->temperature < 0.0 || o->temperature > 100.0)
                return usage_error("--temperature '%s': expected a number from 0 to 100%s", v, "");
            synth_only = "--temperature";
        } else if ((m = opt(&a, NULL, "top-p", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_double(v, &o->top_p) != 0 || !(o->top_p > 0.0 && o->top_p <= 1.0))
                return usage_error("--top-p '%s': expected a number in (0, 1]%s", v, "");
            synth_only = "--top-p";
        } else if ((m = opt(&a, NULL, "tail", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_double(v, &o->tail_s) != 0 || o->tail_s < 0.0 || o->tail_s > 3600.0)
                return usage_error("--tail '%s': expected seconds from 0 to 3600%s", v, "");
            synth_only = "--tail";
        } else if ((m = opt(&a, NULL, "release-max", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_double(v, &o->release_max_s) != 0 || !(o->release_max_s > 0.0) ||
                o->release_max_s > 3600.0)
                return usage_error("--release-max '%s': expected seconds in (0, 3600]%s", v, "");
            synth_only = "--release-max";
        } else if ((m = opt(&a, "q", "quiet", NULL))) {
            if (m < 0)
                return EXIT_USAGE;
            o->quiet = 1;
        } else if ((m = opt(&a, NULL, "block", &v))) {
            long b;
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_long(v, 1, MAX_BLOCK, &b) != 0)
                return usage_error("--block '%s': expected a whole number from 1 to 1048576%s", v,
                                   "");
            o->block = (int)b;
            fx_only = "--block";
        } else if ((m = opt(&a, NULL, "gain-in", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_double(v, &o->gain_in_db) != 0 || fabs(o->gain_in_db) > 200.0)
                return usage_error("--gain-in '%s': expected a number of dB (-200..200)%s", v, "");
            fx_only = "--gain-in";
        } else if ((m = opt(&a, NULL, "gain-out", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_double(v, &o->gain_out_db) != 0 || fabs(o->gain_out_db) > 200.0)
                return usage_error("--gain-out '%s': expected a number of dB (-200..200)%s", v, "");
        } else if ((m = opt(&a, NULL, "mix", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (hiss_parse_double(v, &o->mix) != 0 || o->mix < 0.0 || o->mix > 1.0)
                return usage_error("--mix '%s': expected a number from 0 to 1%s", v, "");
            fx_only = "--mix";
        } else if ((m = opt(&a, NULL, "cond", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v)
                return usage_error("--cond '%s': expected NAME=VALUE%s", v, "");
            if (o->n_conds == MAX_CONDS)
                return usage_error("too many --cond options%s%s", "", "");
            cond_arg *c = &o->conds[o->n_conds++];
            c->name = v;
            c->name_len = (size_t)(eq - v);
            if (hiss_parse_double(eq + 1, &c->value) != 0)
                return usage_error("--cond '%s': '%s' is not a number", v, eq + 1);
            fx_only = "--cond";
        } else if ((m = opt(&a, NULL, "rate-mode", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (strcmp(v, "strict") == 0)
                o->rate_mode = HISS_RATE_STRICT;
            else if (strcmp(v, "delta") == 0)
                o->rate_mode = HISS_RATE_DELTA;
            else if (strcmp(v, "resample") == 0)
                o->rate_mode = HISS_RATE_RESAMPLE;
            else
                return usage_error("--rate-mode '%s': expected strict, delta or resample%s", v, "");
            fx_only = "--rate-mode";
        } else if ((m = opt(&a, NULL, "quality", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (strcmp(v, "hq") == 0)
                o->vhq = 0;
            else if (strcmp(v, "vhq") == 0)
                o->vhq = 1;
            else
                return usage_error("--quality '%s': expected hq or vhq%s", v, "");
            fx_only = "--quality";
        } else if ((m = opt(&a, NULL, "format", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (strcmp(v, "float") == 0)
                o->format = SF_FORMAT_FLOAT;
            else if (strcmp(v, "24") == 0)
                o->format = SF_FORMAT_PCM_24;
            else if (strcmp(v, "16") == 0)
                o->format = SF_FORMAT_PCM_16;
            else
                return usage_error("--format '%s': expected float, 24 or 16%s", v, "");
        } else if ((m = opt(&a, NULL, "backend", &v))) {
            if (m < 0)
                return EXIT_USAGE;
            if (strcmp(v, "cpu") == 0)
                o->backend = HISS_BACKEND_CPU;
            else if (strcmp(v, "cuda") == 0)
                o->backend = HISS_BACKEND_CUDA;
            else if (strcmp(v, "auto") == 0)
                o->backend = HISS_BACKEND_AUTO;
            else
                return usage_error("--backend '%s': expected cpu, cuda or auto%s", v, "");
        } else {
            return usage_error("unknown option '%s'%s", arg, "");
        }
    }
    if (!o->model_path)
        return usage_error("no model given (-m MODEL)%s%s", "", "");
    if (o->midi_path) {
        if (fx_only)
            return usage_error("%s applies to effect models, not to --midi (a synth model)%s", fx_only, "");
        if (n_pos == 0)
            return usage_error("missing OUT%s%s", "", "");
        if (n_pos > 1)
            return usage_error("with --midi, give only OUT (the MIDI file is the input); unexpected '%s'%s",
                               pos[1], "");
        o->out_path = pos[0];
        return 0;
    }
    if (synth_only)
        return usage_error("%s applies to synth models played from a MIDI file (--midi FILE)%s", synth_only, "");
    if (o->out_dir) {
        if (one_file_only)
            return usage_error("%s applies to one file (IN OUT), not to --out-dir%s", one_file_only, "");
        if (n_pos == 0)
            return usage_error("--out-dir: no input files given%s%s", "", "");
        o->n_inputs = n_pos;
        return 0;
    }
    if (files_only)
        return usage_error("%s applies to several files (--out-dir DIR)%s", files_only, "");
    if (n_pos < 2)
        return usage_error("%s%s", n_pos == 0 ? "missing IN and OUT" : "missing OUT", "");
    if (n_pos > 2)
        return usage_error("unexpected argument '%s' (to render several files, give --out-dir DIR)%s", pos[2], "");
    o->in_path = pos[0];
    o->out_path = pos[1];
    return 0;
}

/* Either a plain stream (strict, delta) or the resampling wrapper. */
typedef struct processor {
    hiss_stream *stream;
#ifdef HISS_HAVE_SOXR
    hiss_resampler *rs;
#endif
    int latency;
} processor;

static hiss_stream *proc_stream(processor *p)
{
#ifdef HISS_HAVE_SOXR
    if (p->rs)
        return hiss_resampler_stream(p->rs);
#endif
    return p->stream;
}

static hiss_status proc_run(processor *p, float *const *io, int n)
{
#ifdef HISS_HAVE_SOXR
    if (p->rs)
        return hiss_resampler_process(p->rs, (const float *const *)io, io, n);
#endif
    return hiss_stream_process(p->stream, (const float *const *)io, io, n);
}

static void proc_free(processor *p)
{
#ifdef HISS_HAVE_SOXR
    hiss_resampler_free(p->rs);
    p->rs = NULL;
#endif
    hiss_stream_free(p->stream);
    p->stream = NULL;
}

/* Everything a run owns, so one cleanup path frees it whatever failed. */
typedef struct job {
    SNDFILE *in;
    SF_INFO in_info;
    const hiss_model *model; /* borrowed */
    processor proc;
    hiss_af_writer out;
    int out_open;
    float *rbuf;   /* interleaved input block */
    float *wbuf;   /* interleaved output block */
    float **wet;   /* [ch][block] */
    float **dry;   /* [ch][dry_cap] delay line */
    int ch;
    int dry_cap;
} job;

static void job_free(job *j)
{
    if (j->out_open)
        hiss_af_writer_abort(&j->out);
    j->out_open = 0;
    proc_free(&j->proc);
    if (j->in)
        sf_close(j->in);
    free(j->rbuf);
    free(j->wbuf);
    for (int c = 0; c < j->ch; c++) {
        if (j->wet)
            free(j->wet[c]);
        if (j->dry)
            free(j->dry[c]);
    }
    free(j->wet);
    free(j->dry);
    memset(j, 0, sizeof *j);
}

static int fail(job *j, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    job_free(j);
    return EXIT_RUNTIME;
}

static const char *rate_mode_name(hiss_rate_mode m)
{
    return m == HISS_RATE_DELTA ? "delta" : m == HISS_RATE_RESAMPLE ? "resample" : "strict";
}

/* The whole-file path around render_fx_segments: output file, conditioning, summary. */
static int render_whole_job(job *j, const render_opts *o, const int *cond_idx, int ch, int out_format,
                            hiss_backend backend)
{
    char msg[1024];
    float cond[HISS_MAX_COND] = {0};
    for (int k = 0; k < o->n_conds; k++)
        cond[cond_idx[k]] = (float)o->conds[k].value;
    if (whole_open_out(&j->out, o->out_path, j->in_info.samplerate, ch, out_format, msg, sizeof msg) != 0)
        return fail(j, "%s%s", msg, "");
    j->out_open = 1;
    const double t0 = hiss_now();
    whole_stats st = {0};
    int stopped = 0;
    hiss_fpguard fpg = hiss_fp_enter();
    const int r = render_fx_segments(j->in, &j->in_info, j->model, cond, o, ch, backend, j->out.sf, &g_signal,
                                     &stopped, &st, msg, sizeof msg);
    hiss_fp_leave(fpg);
    if (r != 0)
        return fail(j, "%s%s", msg, "");
    if (stopped || g_signal) {
        const int sig = g_signal;
        fprintf(stderr, "%s: interrupted by signal %d; %s not written\n", prog, sig, o->out_path);
        job_free(j);
        return 128 + sig;
    }
    if (hiss_af_writer_commit(&j->out, msg, sizeof msg) != 0) {
        j->out_open = 0;
        return fail(j, "%s%s", msg, "");
    }
    j->out_open = 0;
    const double elapsed = hiss_now() - t0;
    if (!o->quiet) {
        const double rate = (double)j->in_info.samplerate, secs = (double)st.frames / rate;
        char extra[256] = "";
        size_t used = 0;
        if (st.nonfinite)
            used += (size_t)snprintf(extra + used, sizeof extra - used, ", %llu non-finite input samples set to 0",
                                     (unsigned long long)st.nonfinite);
        if (st.clamped && used < sizeof extra)
            used += (size_t)snprintf(extra + used, sizeof extra - used, ", %llu input samples clamped to +-%g",
                                     (unsigned long long)st.clamped, HISS_INPUT_LIMIT);
        fprintf(stderr,
                "%s: %s -> %s: %llu frames (%.3f s) x %d ch in %.3f s, RTF %.1fx, whole file (model %g Hz), "
                "%s backend%s\n",
                prog, o->in_path, o->out_path, (unsigned long long)st.frames, secs, ch, elapsed,
                elapsed > 0 ? secs / elapsed : 0.0, rate, hiss_backend_name(backend), extra);
    }
    job_free(j);
    return 0;
}

/* Resolve the --cond names against the model into cond_idx; 0, or EXIT_USAGE having said why. */
static int cond_indices(const render_opts *o, const hiss_model *m, int *cond_idx)
{
    const hiss_config *cfg = hiss_model_config(m);
    for (int k = 0; k < o->n_conds; k++) {
        cond_idx[k] = -1;
        for (int i = 0; i < cfg->n_cond; i++) {
            const char *nm = hiss_model_cond_name(m, i);
            if (nm && strlen(nm) == o->conds[k].name_len &&
                strncmp(nm, o->conds[k].name, o->conds[k].name_len) == 0)
                cond_idx[k] = i;
        }
        if (cond_idx[k] < 0) {
            char names[900] = "";
            size_t used = 0;
            for (int i = 0; i < cfg->n_cond && used < sizeof names - 1; i++) {
                int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 hiss_model_cond_name(m, i));
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            fprintf(stderr, "%s: --cond %.*s: %s has no conditioning input of that name; %s%s\n",
                    prog, (int)o->conds[k].name_len, o->conds[k].name, o->model_path,
                    cfg->n_cond ? "valid names: " : "it has no conditioning inputs", names);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* Everything after the options: the model, then one file, several, or a MIDI render. */
static int run(const render_opts *po)
{
    render_opts o = *po;
    if (!o.midi_path && !o.out_dir) {
        int major = hiss_af_major_for_path(o.out_path);
        if (!major) {
            char exts[1024];
            hiss_af_list_extensions(exts, sizeof exts);
            fprintf(stderr, "%s: %s: unknown output file type (extension); known: %s\n", prog,
                    o.out_path, exts);
            return EXIT_USAGE;
        }
    }

    /* From here on Ctrl-C and SIGTERM are polled: the work stops and leaves no OUT. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (o.midi_path)
        return render_midi(&o, &g_signal);
    if (!o.out_dir && hiss_af_same_file(o.in_path, o.out_path)) {
        fprintf(stderr, "%s: %s and %s are the same file; refusing to overwrite the input\n", prog,
                o.in_path, o.out_path);
        return EXIT_USAGE;
    }

    hiss_error err = {0};
    /* A synth model is refused before the input is looked at: IN is not what it needs. */
    hiss_io io = HISS_IO_FX;
    if (hiss_synth_file_io(o.model_path, &io, &err) == HISS_OK && io == HISS_IO_SYNTH) {
        fprintf(stderr, "%s: %s is a synth model (\"hiss.io\": \"synth\"): it plays MIDI, not audio; give the "
                "MIDI file with --midi (hiss-render --midi SONG.mid -m %s OUT)\n", prog, o.model_path, o.model_path);
        return EXIT_RUNTIME;
    }
    hiss_model *model = NULL;
    if (hiss_model_load(o.model_path, &model, &err) != HISS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return EXIT_RUNTIME;
    }
    int rc;
    int cond_idx[MAX_CONDS];
    if (hiss_model_config(model)->io != HISS_IO_FX) {
        fprintf(stderr, "%s: %s: not an effect model (hiss.io is not \"fx\"); hiss-render runs fx models\n", prog,
                o.model_path);
        rc = EXIT_RUNTIME;
    } else if ((rc = cond_indices(&o, model, cond_idx)) != 0) {
        /* said */
    } else if (o.out_dir) {
        rc = render_files(&o, model, cond_idx, &g_signal);
    } else {
        rc = render_fx_file(&o, model, cond_idx);
    }
    hiss_model_free(model);
    return rc;
}

int main(int argc, char **argv)
{
    render_opts o;
    int done = 0;
    int rc = parse_args(argc, argv, &o, &done);
    if (rc == 0 && !done)
        rc = run(&o);
    free((void *)o.inputs);
    return rc;
}

int render_fx_file(const render_opts *po, const hiss_model *model, const int *cond_idx)
{
    const render_opts o = *po;
    job j;
    memset(&j, 0, sizeof j);
    j.model = model;
    char msg[1024];
    char num[64], num2[64];
    hiss_error err = {0};
    const int major = hiss_af_major_for_path(o.out_path);

    j.in = sf_open(o.in_path, SFM_READ, &j.in_info);
    if (!j.in)
        return fail(&j, "%s: cannot read: %s", o.in_path, sf_strerror(NULL));
    if (j.in_info.channels < 1 || j.in_info.samplerate < 1)
        return fail(&j, "%s: %s", o.in_path, "no channels or no sample rate");
    const hiss_config *cfg = hiss_model_config(j.model);

    const int in_ch = j.in_info.channels;
    const int ch = o.mono ? 1 : in_ch;
    const double host_rate = (double)j.in_info.samplerate;
    const double model_rate = cfg->sample_rate;

    int out_format = 0;
    if (hiss_af_pick_format(major, o.format, j.in_info.format, ch, j.in_info.samplerate,
                            &out_format, msg, sizeof msg) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, o.out_path, msg);
        job_free(&j);
        return o.format ? EXIT_USAGE : EXIT_RUNTIME;
    }

    if (o.backend == HISS_BACKEND_CUDA && !hiss_backend_available(HISS_BACKEND_CUDA))
        return fail(&j, "%s%s", RENDER_NO_CUDA, "");

    if (host_rate != model_rate && o.rate_mode == HISS_RATE_STRICT) {
        snprintf(num, sizeof num, "%g", host_rate);
        snprintf(num2, sizeof num2, "%g", model_rate);
        fprintf(stderr,
                "%s: %s is at %s Hz but the model %s runs at %s Hz; use --rate-mode delta (run at "
                "%s Hz, time steps scaled) or --rate-mode resample (convert to %s Hz and back)\n",
                prog, o.in_path, num, o.model_path, num2, num, num2);
        job_free(&j);
        return EXIT_RUNTIME;
    }

    /* The whole file at once: the CUDA backend's time-parallel render (streaming a GPU block by
     * block leaves it idle between blocks), or any backend with --whole. */
    const int cuda = o.backend == HISS_BACKEND_CUDA ||
                     (o.backend == HISS_BACKEND_AUTO && hiss_backend_available(HISS_BACKEND_CUDA));
    if (o.whole && host_rate != model_rate) {
        snprintf(num, sizeof num, "%g", host_rate);
        snprintf(num2, sizeof num2, "%g", model_rate);
        fprintf(stderr, "%s: --whole: %s is at %s Hz but the model runs at %s Hz; the whole-file render runs "
                "at the model's rate (leave out --whole to stream with --rate-mode %s)\n", prog, o.in_path, num,
                num2, rate_mode_name(o.rate_mode));
        job_free(&j);
        return EXIT_USAGE;
    }
    if (host_rate == model_rate && (o.whole || cuda))
        return render_whole_job(&j, &o, cond_idx, ch, out_format, cuda ? HISS_BACKEND_CUDA : HISS_BACKEND_CPU);

    if (o.rate_mode == HISS_RATE_RESAMPLE) {
#ifdef HISS_HAVE_SOXR
        hiss_resampler_opts ro = hiss_resampler_opts_default();
        ro.quality = o.vhq ? HISS_RESAMPLE_VHQ : HISS_RESAMPLE_HQ;
        ro.backend = o.backend;
        if (hiss_resampler_create(j.model, host_rate, ch, o.block, &ro, &j.proc.rs, &err) !=
            HISS_OK)
            return fail(&j, "%s: %s", o.model_path, err.msg);
        j.proc.latency = hiss_resampler_latency_frames(j.proc.rs);
#else
        return fail(&j, "--rate-mode resample: %s%s",
                    "this hiss-render was built without libsoxr; use --rate-mode delta", "");
#endif
    } else {
        hiss_stream_opts so = hiss_stream_opts_default();
        so.n_streams = ch;
        so.max_block = o.block;
        so.host_rate = host_rate;
        so.rate_mode = o.rate_mode;
        so.backend = o.backend;
        if (hiss_stream_create(j.model, &so, &j.proc.stream, &err) != HISS_OK)
            return fail(&j, "%s: %s", o.model_path, err.msg);
        j.proc.latency = hiss_stream_latency(j.proc.stream);
    }
    for (int k = 0; k < o.n_conds; k++)
        hiss_stream_set_cond(proc_stream(&j.proc), -1, cond_idx[k], (float)o.conds[k].value);

    /* Buffers. The dry path is delayed by the latency so that it meets its own wet result. */
    const int block = o.block;
    const int lat = j.proc.latency;
    j.ch = ch;
    j.dry_cap = lat + block;
    j.rbuf = malloc((size_t)block * (size_t)in_ch * sizeof(float));
    j.wbuf = malloc((size_t)block * (size_t)ch * sizeof(float));
    j.wet = calloc((size_t)ch, sizeof *j.wet);
    j.dry = calloc((size_t)ch, sizeof *j.dry);
    if (!j.rbuf || !j.wbuf || !j.wet || !j.dry)
        return fail(&j, "%s%s", "out of memory", "");
    for (int c = 0; c < ch; c++) {
        j.wet[c] = calloc((size_t)block, sizeof(float));
        j.dry[c] = calloc((size_t)j.dry_cap, sizeof(float));
        if (!j.wet[c] || !j.dry[c])
            return fail(&j, "%s%s", "out of memory", "");
    }

    SF_INFO out_info = {0};
    out_info.samplerate = j.in_info.samplerate;
    out_info.channels = ch;
    out_info.format = out_format;
    if (hiss_af_writer_open(&j.out, o.out_path, &out_info, msg, sizeof msg) != 0)
        return fail(&j, "%s%s", msg, "");
    j.out_open = 1;
    /* No PEAK chunk: it carries the time of writing, and a render is to be reproducible to the byte. */
    sf_command(j.out.sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    int sub = out_format & SF_FORMAT_SUBMASK;
    if (sub != SF_FORMAT_FLOAT && sub != SF_FORMAT_DOUBLE)
        sf_command(j.out.sf, SFC_SET_CLIPPING, NULL, SF_TRUE);

    const float g_in = (float)pow(10.0, o.gain_in_db / 20.0);
    const float g_out = (float)pow(10.0, o.gain_out_db / 20.0);
    const float mix = (float)o.mix;
    const float w_dry = g_out * (1.0f - mix), w_wet = g_out * mix;

    hiss_progress prog_bar;
    int64_t total = j.in_info.seekable ? (int64_t)j.in_info.frames : -1;
    hiss_progress_start(&prog_bar, total, host_rate, isatty(STDERR_FILENO) && !o.quiet);

    uint64_t fed = 0;       /* frames given to the model (input, then silence) */
    uint64_t in_frames = 0; /* frames read from IN */
    uint64_t written = 0;
    uint64_t nonfinite = 0;
    int eof = 0;
    hiss_fpguard fpg = hiss_fp_enter();
    while (!g_signal) {
        int n;
        if (!eof) {
            sf_count_t got = sf_readf_float(j.in, j.rbuf, block);
            if (got < 0 || sf_error(j.in) != SF_ERR_NO_ERROR) {
                hiss_fp_leave(fpg);
                hiss_progress_end(&prog_bar);
                return fail(&j, "%s: read error: %s", o.in_path, sf_strerror(j.in));
            }
            n = (int)got;
            if (n == 0)
                eof = 1;
            in_frames += (uint64_t)n;
        }
        if (eof) {
            /* flush: silence until every input frame has come out */
            if (written >= in_frames)
                break;
            uint64_t left = in_frames + (uint64_t)lat - fed;
            n = left < (uint64_t)block ? (int)left : block;
            memset(j.rbuf, 0, (size_t)n * (size_t)in_ch * sizeof(float));
        }
        /* De-interleave (mixing down for --mono); non-finite samples become 0 (and are
         * counted) so that the dry path cannot carry them either. */
        for (int i = 0; i < n; i++) {
            const float *fr = j.rbuf + (size_t)i * (size_t)in_ch;
            size_t dpos = (size_t)((fed + (uint64_t)i) % (uint64_t)j.dry_cap);
            if (o.mono) {
                float s = 0.0f;
                for (int c = 0; c < in_ch; c++) {
                    float v = fr[c];
                    if (!isfinite(v)) {
                        v = 0.0f;
                        nonfinite++;
                    }
                    s += v;
                }
                s /= (float)in_ch;
                j.dry[0][dpos] = s;
                j.wet[0][i] = s * g_in;
            } else {
                for (int c = 0; c < ch; c++) {
                    float v = fr[c];
                    if (!isfinite(v)) {
                        v = 0.0f;
                        nonfinite++;
                    }
                    j.dry[c][dpos] = v;
                    j.wet[c][i] = v * g_in;
                }
            }
        }
        hiss_status st = proc_run(&j.proc, j.wet, n);
        if (st != HISS_OK) {
            hiss_fp_leave(fpg);
            hiss_progress_end(&prog_bar);
            return fail(&j, "%s: processing failed: %s", o.in_path, hiss_status_name(st));
        }
        /* Output frame g of the processor is input frame g - lat. */
        int k = 0;
        for (int i = 0; i < n; i++) {
            uint64_t g = fed + (uint64_t)i;
            if (g < (uint64_t)lat)
                continue;
            uint64_t src = g - (uint64_t)lat;
            if (eof && src >= in_frames)
                break;
            size_t dpos = (size_t)(src % (uint64_t)j.dry_cap);
            float *w = j.wbuf + (size_t)k * (size_t)ch;
            for (int c = 0; c < ch; c++)
                w[c] = w_dry * j.dry[c][dpos] + w_wet * j.wet[c][i];
            k++;
        }
        fed += (uint64_t)n;
        if (k > 0) {
            sf_count_t put = sf_writef_float(j.out.sf, j.wbuf, k);
            if (put != k) {
                hiss_fp_leave(fpg);
                hiss_progress_end(&prog_bar);
                return fail(&j, "%s: write error: %s", o.out_path, sf_strerror(j.out.sf));
            }
            written += (uint64_t)k;
        }
        hiss_progress_update(&prog_bar, (int64_t)in_frames);
    }
    hiss_fp_leave(fpg);
    hiss_progress_end(&prog_bar);
    if (g_signal) {
        int sig = g_signal;
        fprintf(stderr, "%s: interrupted by signal %d; %s not written\n", prog, sig, o.out_path);
        job_free(&j);
        return 128 + sig;
    }
    if (hiss_af_writer_commit(&j.out, msg, sizeof msg) != 0) {
        j.out_open = 0;
        return fail(&j, "%s%s", msg, "");
    }
    j.out_open = 0;
    double elapsed = hiss_now() - prog_bar.t0;

    if (!o.quiet) {
        hiss_counters sum = {0};
        hiss_stream *s = proc_stream(&j.proc);
        for (int c = 0; c < hiss_stream_count(s); c++) {
            hiss_counters cc = hiss_stream_counters(s, c);
            sum.state_resets += cc.state_resets;
            sum.clamped_inputs += cc.clamped_inputs;
        }
        double secs = (double)in_frames / host_rate;
        char extra[256] = "";
        size_t used = 0;
        if (nonfinite)
            used += (size_t)snprintf(extra + used, sizeof extra - used,
                                     ", %llu non-finite input samples set to 0",
                                     (unsigned long long)nonfinite);
        if (sum.clamped_inputs && used < sizeof extra)
            used += (size_t)snprintf(extra + used, sizeof extra - used,
                                     ", %llu input samples clamped to +-%g",
                                     (unsigned long long)sum.clamped_inputs, HISS_INPUT_LIMIT);
        if (sum.state_resets && used < sizeof extra)
            used += (size_t)snprintf(extra + used, sizeof extra - used,
                                     ", %llu state resets (non-finite state)",
                                     (unsigned long long)sum.state_resets);
        char latency[64] = "";
        if (lat > 0)
            snprintf(latency, sizeof latency, ", latency %d frames removed", lat);
        fprintf(stderr,
                "%s: %s -> %s: %llu frames (%.3f s) x %d ch in %.3f s, RTF %.1fx, rate mode %s "
                "(file %g Hz, model %g Hz%s), %s backend%s\n",
                prog, o.in_path, o.out_path, (unsigned long long)in_frames, secs, ch, elapsed,
                elapsed > 0 ? secs / elapsed : 0.0, rate_mode_name(o.rate_mode), host_rate,
                model_rate, latency, hiss_backend_name(hiss_stream_backend(s)), extra);
    }
    job_free(&j);
    return 0;
}
