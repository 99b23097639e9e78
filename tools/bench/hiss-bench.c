/* hiss-bench: time the engine on a model, one or many streams, and report the median over runs.
 * Machines here are noisy; medians of several runs and side-by-side comparisons are what count. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hiss.h"

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
            "  --backend B     cpu, cuda or auto (default cpu)\n"
            "Prints: model, params, MACs/sample, block, streams, median and min ns per stream-sample,\n"
            "real-time factor at 48 kHz per stream, and real-time 48 kHz streams (aggregate).\n");
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

int main(int argc, char **argv)
{
    const char *path = NULL, *size = NULL;
    long block = 64, runs = 5, streams = 1, d_state = 16;
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
            else {
                fprintf(stderr, "hiss-bench: --backend must be cpu, cuda or auto\n");
                return 2;
            }
        } else {
            fprintf(stderr, "hiss-bench: unknown or incomplete option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
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
