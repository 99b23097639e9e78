/* hiss-bench: time the engine on a model, one or many streams, and report the median over runs.
 * Machines here are noisy; medians of several runs and side-by-side comparisons are what count. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hiss.h"
#include "hiss_synth.h"
#ifdef HISS_BENCH_CUDA
#include "hiss_cuda_render.h"
#include "hiss_cuda_stream.h"
#include "hiss_cuda_synth.h"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hiss-bench (-m MODEL | --size DMxNL) [options]\n"
            "  -m MODEL        a model file\n"
            "  --size DMxNL    a freshly initialised model: d_model x n_layer, d_state 16 (e.g. 32x4)\n"
            "  --d-state N     d_state for --size (default 16)\n"
            "  --block N       frames per process call (default 64)\n"
            "  --seconds S     audio per run, at 48 kHz (default 10)\n"
            "  --runs R        runs; the median is reported (default 5)\n"
            "  --streams N     streams advanced together (default 1)\n"
            "  --backend B     cpu, cuda, auto or server (default cpu)\n"
            "  --instances N   N stream objects of --streams streams each, processed one after another\n"
            "                  in every cycle of --block frames, each cycle started at its real-time\n"
            "                  slot (as a host runs N plugin instances): prints the host's time per\n"
            "                  cycle (p50/p99/max), the cycles over budget and, with --backend server,\n"
            "                  the blocks the server did not finish in time (deadline misses)\n"
            "  --server PATH   --backend server: the hiss-server socket (default: its default)\n"
            "  --latency N     instead of the throughput runs, time N single process calls and\n"
            "                  print p50/p99/p99.9/max microseconds per block and the calls over\n"
            "                  the real-time budget (block / 48 kHz)\n"
            "  --offline       time hiss_render_offline over --seconds of audio (one stream, from\n"
            "                  a zero state) instead of streaming\n"
            "  --files K       --offline: K different signals of --seconds each in one call of\n"
            "                  hiss_render_offline_batch (default 1: hiss_render_offline); the\n"
            "                  real-time factor is the aggregate, K x --seconds over the time\n"
            "  --calls N       --offline: through hiss_offline in calls of N samples instead (a\n"
            "                  fresh renderer each run; N = 1048576 runs one call's passes)\n"
            "  --sync M        cuda: wait (default), deadline or pipelined (see hiss.h)\n"
            "  --deadline-us U cuda, --sync deadline: the most a call waits for the device\n"
            "  --paced         --latency: start each call at its real-time slot (block / 48 kHz),\n"
            "                  as an audio callback would, instead of back to back\n"
            "  --synth         a synth instead: --size makes a fresh synth model (all ten features,\n"
            "                  lm_head bias) and --voices voices are held through hiss_synth_process\n"
            "                  calls of --block samples (on cuda, more than 64 voices run as one\n"
            "                  batch of the CUDA synth below hiss_synth; on cpu, as several synths)\n"
            "  --voices N      --synth: voices sounding (default 8)\n"
            "  --rate HZ       --synth: the model's sample rate (default 48000)\n"
            "  --temperature T, --top-p P   --synth: sampling (default 1, 1)\n"
            "  --parts         --synth: also time the CPU synth's parts, one voice: the sampler alone\n"
            "                  (hiss_synth_sample on logits the model gave along a note) and the\n"
            "                  model step alone (hiss_synth_step)\n"
            "  --draws N       --parts: draws per sampler run (default 200000)\n"
            "  --logit-scale X --parts: multiply those logits by X, to mimic the peaked\n"
            "                  distributions of a trained model (default 1)\n"
            "Prints: model, params, MACs/sample, block, streams, median and min ns per stream-sample,\n"
            "real-time factor at 48 kHz per stream, and real-time 48 kHz streams (aggregate).\n"
            "--synth prints us per sample (all voices), ns per voice-sample and the real-time factor\n"
            "at the model's rate, medians over runs, and the p50/p99 of the calls; --parts adds ns\n"
            "per draw (sampler) and per step (model).\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || v < lo || v > hi) {
        fprintf(stderr, "hiss-bench: %s needs an integer from %ld to %ld\n", opt, lo, hi);
        exit(2);
    }
    return v;
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    const double v = s ? strtod(s, &end) : 0.0;
    if (!s || errno || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "hiss-bench: %s needs a number from %g to %g\n", opt, lo, hi);
        exit(2);
    }
    return v;
}

/* One signal through a fresh hiss_offline in calls of `calls` samples. */
static hiss_status offline_calls(const hiss_model *m, const float *in, float *out, size_t n, size_t calls,
                                 hiss_backend backend, hiss_error *err)
{
    hiss_offline *r = NULL;
    hiss_status st = hiss_offline_create(m, backend, NULL, &r, err);
    for (size_t t = 0; t < n && st == HISS_OK; t += calls)
        st = hiss_offline_render(r, in + t, out + t, n - t < calls ? n - t : calls, err);
    hiss_offline_free(r);
    return st;
}

/* A whole file at once: hiss_render_offline, the median of several runs; with files > 1, that many
 * files of `seconds` each in one hiss_render_offline_batch call; with calls > 0, hiss_offline in
 * calls of that many samples. */
static int offline_run(hiss_model *m, const char *label, hiss_backend backend, double seconds,
                       long runs, long files, long calls)
{
    const size_t n = (size_t)(seconds * 48000.0), total = n * (size_t)files;
    float *in = malloc(sizeof(float) * (total ? total : 1)), *out = malloc(sizeof(float) * (total ? total : 1));
    double *t = malloc(sizeof(double) * (size_t)runs);
    const float **ip = malloc(sizeof *ip * (size_t)files);
    float **op = malloc(sizeof *op * (size_t)files);
    size_t *len = malloc(sizeof *len * (size_t)files);
    if (!in || !out || !t || !ip || !op || !len) {
        fprintf(stderr, "hiss-bench: out of memory\n");
        return 1;
    }
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < total; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        in[i] = 0.5f * ((float)(x >> 40) / 8388608.0f - 1.0f);
    }
    for (long k = 0; k < files; k++) {
        ip[k] = in + (size_t)k * n;
        op[k] = out + (size_t)k * n;
        len[k] = n;
    }
    hiss_error err = {0};
    int rc = 0;
    for (long r = 0; r < runs && !rc; r++) {
        double t0 = now_s();
        const hiss_status st =
            calls > 0   ? offline_calls(m, in, out, n, (size_t)calls, backend, &err)
            : files == 1 ? hiss_render_offline(m, in, out, n, backend, NULL, &err)
                         : hiss_render_offline_batch(m, ip, op, len, (int)files, NULL, backend, &err);
        if (st != HISS_OK) {
            fprintf(stderr, "hiss-bench: %s\n", err.msg);
            rc = 1;
        }
        t[r] = now_s() - t0;
    }
    if (!rc) {
        qsort(t, (size_t)runs, sizeof *t, cmp_double);
        double med = runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
        printf("model %s | params %llu | MACs/sample %llu | offline render, backend %s\n", label,
               (unsigned long long)hiss_model_param_count(m),
               (unsigned long long)hiss_model_macs_per_sample(m), hiss_backend_name(backend));
        if (calls > 0)
            printf("offline: %.1f s of 48 kHz audio (%zu samples) through hiss_offline in calls of %ld, median "
                   "%.3f s, min %.3f s | RTF %.0fx | %.2f ns/sample | runs %ld\n",
                   seconds, n, calls, med, t[0], seconds / med, med / (double)n * 1e9, runs);
        else if (files == 1)
            printf("offline: %.1f s of 48 kHz audio (%zu samples) in median %.3f s, min %.3f s | "
                   "RTF %.0fx | %.2f ns/sample | runs %ld\n",
                   seconds, n, med, t[0], seconds / med, med / (double)n * 1e9, runs);
        else
            printf("offline batch: %ld files x %.1f s of 48 kHz audio (%zu samples) in one call, median %.3f s, "
                   "min %.3f s | aggregate RTF %.0fx | %.2f ns/sample | runs %ld\n",
                   files, seconds, total, med, t[0], seconds * (double)files / med, med / (double)total * 1e9,
                   runs);
    }
    free(in);
    free(out);
    free(t);
    free(ip);
    free(op);
    free(len);
    hiss_model_free(m);
    return rc;
}

/* Per-call latency: what a real-time host sees, one block at a time, the state carried on. */
static int latency_run(hiss_stream *s, hiss_model *m, const char *label, float *in, float *out,
                       long frames, long block, long streams, long calls, const float **ip,
                       float **op, int paced)
{
    double *lat = malloc(sizeof *lat * (size_t)calls);
    if (!lat) {
        fprintf(stderr, "hiss-bench: out of memory\n");
        return 1;
    }
    const long nb = frames / block;
    const double budget = (double)block / 48000.0;
    long over = 0;
    hiss_status st = HISS_OK;
    const double start = now_s();
    for (long c = 0; c < calls && st == HISS_OK; c++) {
        const long b = c % nb;
        for (long k = 0; k < streams; k++) {
            ip[k] = in + (size_t)k * frames + b * block;
            op[k] = out + (size_t)k * frames + b * block;
        }
        if (paced)
            while (now_s() < start + (double)c * budget)
                ;
        double t0 = now_s();
        st = hiss_stream_process(s, ip, op, (int)block);
        lat[c] = now_s() - t0;
        over += lat[c] > budget;
    }
    if (st != HISS_OK) {
        fprintf(stderr, "hiss-bench: process failed: %s\n", hiss_status_name(st));
        free(lat);
        return 1;
    }
    qsort(lat, (size_t)calls, sizeof *lat, cmp_double);
    const double p50 = lat[calls / 2], p99 = lat[(size_t)((double)calls * 0.99)];
    const double p999 = lat[(size_t)((double)calls * 0.999)], mx = lat[calls - 1];
    printf("model %s | params %llu | MACs/sample %llu | backend %s | block %ld | streams %ld\n", label,
           (unsigned long long)hiss_model_param_count(m),
           (unsigned long long)hiss_model_macs_per_sample(m), hiss_backend_name(hiss_stream_backend(s)),
           block, streams);
    const long misses = (long)hiss_stream_deadline_misses(s), added = hiss_stream_latency(s);
    printf("latency per block over %ld%s calls: p50 %.1f us p99 %.1f us p99.9 %.1f us max %.1f us | "
           "p50 per sample %.3f us | budget %.1f us, over budget %ld | deadline misses %ld | "
           "added latency %ld frames\n",
           calls, paced ? " paced" : "", p50 * 1e6, p99 * 1e6, p999 * 1e6, mx * 1e6,
           p50 * 1e6 / (double)block, budget * 1e6, over, misses, added);
    free(lat);
    return 0;
}


/* N plugin-like instances, paced: see --instances in the usage. */
static int instances_run(hiss_model *m, const char *label, hiss_backend backend, const char *server,
                         long n_inst, long streams, long block, double seconds)
{
    hiss_stream **inst = calloc((size_t)n_inst, sizeof *inst);
    const long cycles = (long)(seconds * 48000.0) / block;
    double *cyc = malloc(sizeof *cyc * (size_t)(cycles > 0 ? cycles : 1));
    float *buf = calloc((size_t)(streams * block * 2), sizeof(float));
    const float **ip = malloc(sizeof *ip * (size_t)streams);
    float **op = malloc(sizeof *op * (size_t)streams);
    int rc = 1;
    if (!inst || !cyc || !buf || !ip || !op || cycles < 1) {
        fprintf(stderr, "hiss-bench: out of memory\n");
        goto done;
    }
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = (int)streams;
    o.max_block = (int)block;
    o.backend = backend;
    o.server = server;
    const double t_create = now_s();
    for (long i = 0; i < n_inst; i++) {
        hiss_error err = {0};
        if (hiss_stream_create(m, &o, &inst[i], &err) != HISS_OK) {
            fprintf(stderr, "hiss-bench: instance %ld: %s\n", i, err.msg);
            goto done;
        }
    }
    const double create_s = now_s() - t_create;
    for (long k = 0; k < streams; k++) {
        ip[k] = buf + (size_t)k * block;
        op[k] = buf + (size_t)(streams + k) * block;
    }
    uint64_t x = 88172645463325252ull;
    const double budget = (double)block / 48000.0;
    long over = 0;
    uint64_t miss0 = 0;
    const long warm = cycles / 10; /* the first tenth: groups fill, caches warm; not counted */
    const double start = now_s();
    for (long c = 0; c < cycles + warm; c++) {
        if (c == warm) {
            for (long i = 0; i < n_inst; i++)
                miss0 += hiss_stream_deadline_misses(inst[i]);
        }
        while (now_s() < start + (double)c * budget)
            ;
        const double t0 = now_s();
        for (long i = 0; i < n_inst; i++) {
            for (long k = 0; k < streams * block; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[k] = 0.5f * ((float)(x >> 40) / 8388608.0f - 1.0f);
            }
            hiss_stream_process(inst[i], ip, op, (int)block);
        }
        const double dt = now_s() - t0;
        if (c >= warm) {
            cyc[c - warm] = dt;
            over += dt > budget;
        }
    }
    uint64_t misses = 0;
    for (long i = 0; i < n_inst; i++)
        misses += hiss_stream_deadline_misses(inst[i]);
    misses -= miss0;
    qsort(cyc, (size_t)cycles, sizeof *cyc, cmp_double);
    printf("model %s | params %llu | MACs/sample %llu | backend %s | block %ld | instances %ld x %ld stream(s)\n",
           label, (unsigned long long)hiss_model_param_count(m), (unsigned long long)hiss_model_macs_per_sample(m),
           hiss_backend_name(hiss_stream_backend(inst[0])), block, n_inst, streams);
    printf("host time per cycle over %ld cycles (%.1f s): p50 %.1f us p99 %.1f us max %.1f us | budget %.1f us, "
           "cycles over budget %ld | deadline misses %llu of %ld blocks | added latency %d frames | "
           "instances created in %.3f s\n",
           cycles, (double)cycles * budget, cyc[cycles / 2] * 1e6, cyc[(size_t)((double)cycles * 0.99)] * 1e6,
           cyc[cycles - 1] * 1e6, budget * 1e6, over, (unsigned long long)misses, cycles * n_inst,
           hiss_stream_latency(inst[0]), create_s);
    rc = 0;
done:
    if (inst)
        for (long i = 0; i < n_inst; i++)
            hiss_stream_free(inst[i]);
    free(inst);
    free(cyc);
    free(buf);
    free(ip);
    free(op);
    return rc;
}

static double median_of(double *t, long n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* --synth --parts: the CPU synth's two costs per voice-sample apart, one voice, medians over
 * runs. The sampler draws from logits the model gave along a note teacher-forced on a sine, so
 * its distributions are the model's, not made up. */
static void synth_parts(const hiss_synth_model *m, double rate, long runs, long draws, double logit_scale,
                        float temperature, float top_p)
{
    enum { N_LOGITS = 512 };
    const int nc = hiss_synth_model_config(m)->n_cond;
    float *logits = malloc(sizeof(float) * HISS_SYNTH_CLASSES * N_LOGITS);
    float *state = calloc(hiss_synth_state_floats(m), sizeof(float));
    float *scratch = calloc(hiss_synth_scratch_floats(m), sizeof(float));
    double *t = malloc(sizeof(double) * (size_t)runs);
    if (!logits || !state || !scratch || !t) {
        fprintf(stderr, "hiss-bench: out of memory\n");
        exit(1);
    }
    hiss_synth_note note = hiss_synth_note_start(60.0, 100);
    float cond[HISS_MAX_COND];
    int prev = HISS_SYNTH_SILENCE_CLASS;
    for (int k = 0; k < N_LOGITS; k++) {
        for (int i = 0; i < nc; i++)
            cond[i] = hiss_synth_feature_value(hiss_synth_model_feature(m, i), &note, rate);
        float *l = logits + (size_t)k * HISS_SYNTH_CLASSES;
        hiss_synth_step(m, state, prev, cond, l, scratch);
        prev = hiss_synth_mulaw_encode((float)(0.5 * sin(6.283185307179586 * 261.63 * k / rate)));
        hiss_synth_note_advance(&note, rate);
        for (int j = 0; j < HISS_SYNTH_CLASSES; j++)
            l[j] *= (float)logit_scale;
    }
    /* the checksum keeps the draws from being optimised away */
    hiss_synth_sampler w;
    hiss_synth_rng r;
    long sum = 0;
    for (long run = 0; run < runs; run++) {
        hiss_synth_rng_seed(&r, (uint64_t)run);
        const double t0 = now_s();
        for (long i = 0; i < draws; i++)
            sum += hiss_synth_sample(&w, logits + (size_t)(i % N_LOGITS) * HISS_SYNTH_CLASSES, temperature, top_p,
                                     &r);
        t[run] = (now_s() - t0) / (double)draws;
    }
    const double t_sample = median_of(t, runs);
    const long steps = 20000;
    for (long run = 0; run < runs; run++) {
        memset(state, 0, hiss_synth_state_floats(m) * sizeof(float));
        const double t0 = now_s();
        for (long i = 0; i < steps; i++)
            hiss_synth_step(m, state, (int)(i & 255), cond, logits, scratch);
        t[run] = (now_s() - t0) / (double)steps;
    }
    const double t_step = median_of(t, runs);
    printf("parts (cpu, one voice): sampler %.1f ns/draw (%ld draws per run, logit scale %g, checksum %ld) | "
           "step %.1f ns/step | step + sampler %.2f us per voice-sample\n",
           t_sample * 1e9, draws, logit_scale, sum, t_step * 1e9, (t_step + t_sample) * 1e6);
    free(logits);
    free(state);
    free(scratch);
    free(t);
}

/* --synth: every voice held for the whole run; calls of block samples, timed one by one. */
static int synth_run(const char *size, long d_state, double rate, long voices, long block, double seconds,
                     long runs, hiss_backend backend, float temperature, float top_p, long parts_draws,
                     double logit_scale)
{
    int dm, nl;
    if (!size || sscanf(size, "%dx%d", &dm, &nl) != 2 || dm < 1 || nl < 1) {
        fprintf(stderr, "hiss-bench: --synth needs --size DMxNL\n");
        return 2;
    }
    hiss_config c = {0};
    c.io = HISS_IO_SYNTH;
    c.d_model = dm;
    c.n_layer = nl;
    c.d_state = (int)d_state;
    c.d_conv = 4;
    c.sample_rate = rate;
    hiss_synth_model *m = NULL;
    hiss_error err = {0};
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release,sin1,cos1,sin2,cos2", 1, 1, &m,
                              &err) != HISS_OK) {
        fprintf(stderr, "hiss-bench: %s\n", err.msg);
        return 1;
    }
    const long calls_per_run = (long)(seconds * rate) / block > 0 ? (long)(seconds * rate) / block : 1;
    const int batch = backend == HISS_BACKEND_CUDA && voices > HISS_SYNTH_MAX_VOICES;
    const long n_synths = batch ? 0 : (voices + HISS_SYNTH_MAX_VOICES - 1) / HISS_SYNTH_MAX_VOICES;
    hiss_synth **syn = calloc((size_t)(n_synths > 0 ? n_synths : 1), sizeof *syn);
    float *out = malloc(sizeof(float) * (size_t)block);
    double *call = malloc(sizeof(double) * (size_t)(calls_per_run * runs));
    double *run_t = malloc(sizeof(double) * (size_t)runs);
    int rc = 0;
    if (!syn || !out || !call || !run_t) {
        fprintf(stderr, "hiss-bench: out of memory\n");
        return 1;
    }
    char how[300] = "";
#ifdef HISS_BENCH_CUDA
    hc_synth *dev = NULL;
    int *slots = NULL;
    hc_synth_note *notes = NULL;
    if (backend == HISS_BACKEND_CUDA) {
        /* the layout the CUDA synth chose, for the record (the same whichever path runs) */
        hc_synth *probe = NULL;
        if (hc_synth_create(m, (int)(voices < 1024 ? voices : 1024), (int)block, temperature, top_p, &probe,
                            &err) != HISS_OK) {
            fprintf(stderr, "hiss-bench: %s\n", err.msg);
            return 1;
        }
        snprintf(how, sizeof how, " | %s", hc_synth_describe(probe));
        hc_synth_free(probe);
    }
    if (batch) {
        if (hc_synth_create(m, (int)voices, (int)block, temperature, top_p, &dev, &err) != HISS_OK) {
            fprintf(stderr, "hiss-bench: %s\n", err.msg);
            return 1;
        }
        slots = malloc(sizeof(int) * (size_t)voices);
        notes = malloc(sizeof *notes * (size_t)voices);
        for (long k = 0; k < voices; k++) {
            hiss_synth_rng r;
            hiss_synth_rng_seed(&r, (uint64_t)k);
            hc_synth_start(dev, (int)k, &r);
            slots[k] = (int)k;
            const hiss_synth_note nt = hiss_synth_note_start(36.0 + (double)(k % 60), 100);
            notes[k].pitch = nt.pitch;
            notes[k].phase = 0.0;
            notes[k].inc = 440.0 * exp2((nt.pitch - 69.0) / 12.0) / rate;
            notes[k].n_on = 0;
            notes[k].n_off = 0;
            notes[k].velocity = nt.velocity;
            notes[k].gate = 1;
        }
    }
#else
    if (backend == HISS_BACKEND_CUDA) {
        fprintf(stderr, "hiss-bench: --synth --backend cuda needs a build with the CUDA backend\n");
        return 2;
    }
#endif
    for (long i = 0; i < n_synths; i++) {
        hiss_synth_opts o = hiss_synth_opts_default();
        const long left = voices - i * HISS_SYNTH_MAX_VOICES;
        o.n_voices = (int)(left < HISS_SYNTH_MAX_VOICES ? left : HISS_SYNTH_MAX_VOICES);
        o.temperature = temperature;
        o.top_p = top_p;
        o.seed = (uint64_t)i;
        o.backend = backend;
        if (hiss_synth_create(m, &o, &syn[i], &err) != HISS_OK) {
            fprintf(stderr, "hiss-bench: %s\n", err.msg);
            return 1;
        }
        for (int k = 0; k < o.n_voices; k++)
            hiss_synth_note_on(syn[i], 36 + (k * 7) % 60, 100);
    }
    /* one call's work: every synth (or the batch) advances block samples */
    long nc = 0;
    for (long r = -1; r < runs && !rc; r++) { /* run -1: warm-up, not timed */
        const double r0 = now_s();
        for (long b = 0; b < (r < 0 ? 4 : calls_per_run); b++) {
            const double t0 = now_s();
            for (long i = 0; i < n_synths; i++)
                hiss_synth_process(syn[i], out, (int)block);
#ifdef HISS_BENCH_CUDA
            if (batch) {
                const float *y;
                const int *bad;
                if (hc_synth_run(dev, slots, notes, (int)voices, (int)block, &y, &bad) != HISS_OK) {
                    fprintf(stderr, "hiss-bench: the CUDA synth run failed\n");
                    rc = 1;
                    break;
                }
                for (long k = 0; k < voices; k++)
                    notes[k].n_on += (uint64_t)block;
            }
#endif
            if (r >= 0)
                call[nc++] = now_s() - t0;
        }
        if (r >= 0)
            run_t[r] = now_s() - r0;
    }
    if (!rc) {
        const double med = median_of(run_t, runs);
        const double samples = (double)calls_per_run * (double)block;
        const double per_sample = med / samples;
        const double p50 = median_of(call, nc), p99 = call[(size_t)((double)nc * 0.99)];
        printf("synth model d_model %d, %d layers, d_state %ld, 10 features, %g Hz | params %llu | "
               "backend %s%s | voices %ld%s | block %ld | T %g top-p %g\n",
               dm, nl, d_state, rate, (unsigned long long)hiss_synth_model_param_count(m),
               hiss_backend_name(backend), how, voices,
               batch ? " (one CUDA synth batch)" : n_synths > 1 ? " (several synths)" : "", block,
               (double)temperature, (double)top_p);
        printf("synth: %.3f us per sample (all voices), %.1f ns per voice-sample, RTF %.2fx at %g Hz | "
               "per call p50 %.1f us p99 %.1f us | runs %ld x %ld calls\n",
               per_sample * 1e6, per_sample / (double)voices * 1e9, 1.0 / (per_sample * rate), rate,
               p50 * 1e6, p99 * 1e6, runs, calls_per_run);
        if (parts_draws > 0)
            synth_parts(m, rate, runs, parts_draws, logit_scale, temperature, top_p);
    }
    for (long i = 0; i < n_synths; i++)
        hiss_synth_free(syn[i]);
#ifdef HISS_BENCH_CUDA
    hc_synth_free(dev);
    free(slots);
    free(notes);
#endif
    free(syn);
    free(out);
    free(call);
    free(run_t);
    hiss_synth_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *size = NULL;
    long block = 64, runs = 5, streams = 1, d_state = 16, latency = 0, files = 0, calls = 0;
    int offline = 0, paced = 0, sync = 0, synth = 0, parts = 0;
    long instances = 0;
    const char *server = NULL;
    long voices = 8, draws = 200000;
    double rate_arg = 48000.0, temperature = 1.0, top_p = 1.0, logit_scale = 1.0;
    double deadline_us = 0.0;
    double seconds = 10.0;
    hiss_backend backend = HISS_BACKEND_CPU;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") && v) path = v, i++;
        else if (!strcmp(a, "--size") && v) size = v, i++;
        else if (!strcmp(a, "--d-state")) d_state = parse_long(a, v, 1, HISS_MAX_D_STATE), i++;
        else if (!strcmp(a, "--block")) block = parse_long(a, v, 1, 1 << 20), i++;
        else if (!strcmp(a, "--runs")) runs = parse_long(a, v, 1, 1000), i++;
        else if (!strcmp(a, "--streams")) streams = parse_long(a, v, 1, 1 << 20), i++;
        else if (!strcmp(a, "--latency")) latency = parse_long(a, v, 1, 100000000), i++;
        else if (!strcmp(a, "--offline")) offline = 1;
        else if (!strcmp(a, "--files")) files = parse_long(a, v, 1, 1 << 20), i++;
        else if (!strcmp(a, "--calls")) calls = parse_long(a, v, 1, 1L << 40), i++;
        else if (!strcmp(a, "--paced")) paced = 1;
        else if (!strcmp(a, "--instances")) instances = parse_long(a, v, 1, 1 << 16), i++;
        else if (!strcmp(a, "--server") && v) server = v, i++;
        else if (!strcmp(a, "--synth")) synth = 1;
        else if (!strcmp(a, "--voices")) voices = parse_long(a, v, 1, 1 << 16), i++;
        else if (!strcmp(a, "--parts")) parts = 1;
        else if (!strcmp(a, "--draws")) draws = parse_long(a, v, 1, 1000000000), i++;
        else if (!strcmp(a, "--rate")) rate_arg = parse_num(a, v, 1000.0, 1e6), i++;
        else if (!strcmp(a, "--temperature")) temperature = parse_num(a, v, 0.0, 100.0), i++;
        else if (!strcmp(a, "--top-p")) top_p = parse_num(a, v, 1e-6, 1.0), i++;
        else if (!strcmp(a, "--logit-scale")) logit_scale = parse_num(a, v, 0.0, 1000.0), i++;
        else if (!strcmp(a, "--sync") && v) {
            i++;
            if (!strcmp(v, "wait")) sync = 0;
            else if (!strcmp(v, "deadline")) sync = 1;
            else if (!strcmp(v, "pipelined")) sync = 2;
            else {
                fprintf(stderr, "hiss-bench: --sync must be wait, deadline or pipelined\n");
                return 2;
            }
        } else if (!strcmp(a, "--deadline-us") && v) {
            deadline_us = atof(v);
            i++;
        }
        else if (!strcmp(a, "--seconds") && v) {
            seconds = atof(v);
            i++;
            if (!(seconds > 0.0 && seconds < 1e5)) {
                fprintf(stderr, "hiss-bench: --seconds needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--backend") && v) {
            i++;
            if (!strcmp(v, "cpu")) backend = HISS_BACKEND_CPU;
            else if (!strcmp(v, "cuda")) backend = HISS_BACKEND_CUDA;
            else if (!strcmp(v, "auto")) backend = HISS_BACKEND_AUTO;
            else if (!strcmp(v, "server")) backend = HISS_BACKEND_SERVER;
            else {
                fprintf(stderr, "hiss-bench: --backend must be cpu, cuda, auto or server\n");
                return 2;
            }
        } else {
            fprintf(stderr, "hiss-bench: unknown or incomplete option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (synth)
        return synth_run(size, d_state, rate_arg, voices, block, seconds, runs, backend, (float)temperature,
                         (float)top_p, parts ? draws : 0, logit_scale);
    if (parts) {
        fprintf(stderr, "hiss-bench: --parts times a synth's parts: it needs --synth\n");
        return 2;
    }
    if (!path == !size) {
        fprintf(stderr, "hiss-bench: give exactly one of -m MODEL or --size DMxNL\n");
        return 2;
    }
    hiss_model *m = NULL;
    hiss_error err = {0};
    char label[256];
    if (path) {
        if (hiss_model_load(path, &m, &err) != HISS_OK) {
            fprintf(stderr, "hiss-bench: %s\n", err.msg);
            return 1;
        }
        snprintf(label, sizeof label, "%s", path);
    } else {
        int dm, nl;
        if (sscanf(size, "%dx%d", &dm, &nl) != 2 || dm < 1 || nl < 1) {
            fprintf(stderr, "hiss-bench: --size wants d_model x n_layer, e.g. 32x4\n");
            return 2;
        }
        hiss_config c = {0};
        c.io = HISS_IO_FX;
        c.d_model = dm;
        c.n_layer = nl;
        c.d_state = (int)d_state;
        c.d_conv = 4;
        c.d_inner = 2 * dm;
        if (hiss_model_init(&c, 1, &m, &err) != HISS_OK) {
            fprintf(stderr, "hiss-bench: %s\n", err.msg);
            return 1;
        }
        snprintf(label, sizeof label, "d_model %d, %d layers, d_state %ld", dm, nl, d_state);
    }
    if (offline && files > 1 && calls) {
        fprintf(stderr, "hiss-bench: --calls renders one signal: it does not go with --files\n");
        hiss_model_free(m);
        return 2;
    }
    if (offline)
        return offline_run(m, label, backend, seconds, runs, files ? files : 1, calls);
    if (calls) {
        fprintf(stderr, "hiss-bench: --calls times hiss_offline: it needs --offline\n");
        hiss_model_free(m);
        return 2;
    }
    if (files) {
        fprintf(stderr, "hiss-bench: --files times the batched offline render: it needs --offline\n");
        hiss_model_free(m);
        return 2;
    }
    if (instances > 0) {
        /* A server loads the model from its file: a --size model gets one for the run. */
        char tmp[128] = "";
        if (backend == HISS_BACKEND_SERVER && !path) {
            hiss_model *back = NULL;
            snprintf(tmp, sizeof tmp, "/tmp/hiss-bench-%d.safetensors", (int)getpid());
            if (hiss_model_save(m, tmp, &err) != HISS_OK || hiss_model_load(tmp, &back, &err) != HISS_OK) {
                fprintf(stderr, "hiss-bench: %s\n", err.msg);
                hiss_model_free(m);
                return 1;
            }
            hiss_model_free(m);
            m = back;
        }
        const int rc = instances_run(m, label, backend, server, instances, streams, block, seconds);
        if (tmp[0])
            unlink(tmp);
        hiss_model_free(m);
        return rc;
    }
    if (backend == HISS_BACKEND_SERVER) {
        fprintf(stderr, "hiss-bench: --backend server is timed with --instances\n");
        hiss_model_free(m);
        return 2;
    }
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = (int)streams;
    o.max_block = (int)block;
    o.backend = backend;
    hiss_stream *s;
    if (hiss_stream_create(m, &o, &s, &err) != HISS_OK) {
        fprintf(stderr, "hiss-bench: %s\n", err.msg);
        hiss_model_free(m);
        return 1;
    }
    if (sync) {
#ifdef HISS_BENCH_CUDA
        if (hiss_stream_set_sync(s, (hiss_sync_mode)sync, deadline_us) != HISS_OK) {
            fprintf(stderr, "hiss-bench: --sync needs the cuda backend (and --deadline-us > 0 "
                            "for deadline)\n");
            hiss_stream_free(s);
            hiss_model_free(m);
            return 2;
        }
#else
        (void)deadline_us;
        fprintf(stderr, "hiss-bench: --sync needs a build with the CUDA backend\n");
        hiss_stream_free(s);
        hiss_model_free(m);
        return 2;
#endif
    }
    const double rate = 48000.0;
    long frames = (long)(seconds * rate);
    if (frames < block)
        frames = block;
    frames -= frames % block;
    float *in = malloc(sizeof(float) * (size_t)frames * (size_t)streams);
    float *out = malloc(sizeof(float) * (size_t)frames * (size_t)streams);
    const float **ip = malloc(sizeof *ip * (size_t)streams);
    float **op = malloc(sizeof *op * (size_t)streams);
    double *t = malloc(sizeof *t * (size_t)runs);
    if (!in || !out || !ip || !op || !t) {
        fprintf(stderr, "hiss-bench: out of memory\n");
        return 1;
    }
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < frames * streams; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        in[i] = 0.5f * ((float)(x >> 40) / 8388608.0f - 1.0f);
    }
    /* A short warm-up run, then the timed runs; the state carries on, as in a live stream. */
    for (long b = 0; b < (frames < 4800 ? frames : 4800) / block; b++) {
        for (long k = 0; k < streams; k++) {
            ip[k] = in + (size_t)k * frames + b * block;
            op[k] = out + (size_t)k * frames + b * block;
        }
        hiss_stream_process(s, ip, op, (int)block);
    }
    if (latency > 0) {
        int rc = latency_run(s, m, label, in, out, frames, block, streams, latency, ip, op, paced);
        free(in);
        free(out);
        free(ip);
        free(op);
        free(t);
        hiss_stream_free(s);
        hiss_model_free(m);
        return rc;
    }
    for (long r = 0; r < runs; r++) {
        double t0 = now_s();
        for (long b = 0; b < frames / block; b++) {
            for (long k = 0; k < streams; k++) {
                ip[k] = in + (size_t)k * frames + b * block;
                op[k] = out + (size_t)k * frames + b * block;
            }
            hiss_stream_process(s, ip, op, (int)block);
        }
        t[r] = now_s() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    double med = runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
    double per = (double)frames * (double)streams;
    double ns_med = med / per * 1e9, ns_min = t[0] / per * 1e9;
    double audio_s = (double)frames / rate;
    printf("model %s | params %llu | MACs/sample %llu | backend %s | block %ld | streams %ld\n", label,
           (unsigned long long)hiss_model_param_count(m),
           (unsigned long long)hiss_model_macs_per_sample(m), hiss_backend_name(hiss_stream_backend(s)), block,
           streams);
    printf("ns/sample median %.1f min %.1f | RTF(48k) per stream %.1fx | real-time 48k streams %.1f | "
           "runs %ld x %.1f s\n",
           ns_med, ns_min, audio_s / med, audio_s * (double)streams / med, runs, audio_s);
    free(in);
    free(out);
    free(ip);
    free(op);
    free(t);
    hiss_stream_free(s);
    hiss_model_free(m);
    return 0;
}
