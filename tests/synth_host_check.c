/* Helper of tests/synth_host_test.sh: makes the small models and the MIDI file the test plays, and
 * checks hiss-host's recordings against offline renders through the engine:
 *   make-synth PATH RATE          a tiny synth model (random weights: no trainer needed)
 *   make-fx PATH RATE             a tiny fx model
 *   make-midi PATH                a type-1 MIDI file: tempo change, chords, sustain pedal
 *   compare-synth MODEL MIDI WAV VOICES SEED TEMP TOP_P RELEASE_MAX
 *                                 the recording equals the file rendered offline, each event at
 *                                 sample llround(time * rate), to the bit
 *   compare-fx MODEL WAV [DELAY]  the recording equals the model run on silence, to the bit
 *                                 (DELAY frames late: a stream on hiss-server)
 *   level WAV MIN_DBFS            the recording's peak reaches MIN_DBFS (something was played) */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"
#include "hiss_synth.h"
#include "midifile.h"

static float *read_wav(const char *path, long *n, int *rate)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, sf_strerror(NULL));
        return NULL;
    }
    if (info.channels != 1 || (info.format & SF_FORMAT_SUBMASK) != SF_FORMAT_FLOAT) {
        fprintf(stderr, "%s: expected mono float, got %d channels, format 0x%x\n", path, info.channels, info.format);
        sf_close(f);
        return NULL;
    }
    float *x = malloc(((size_t)info.frames + 1) * sizeof(float));
    *n = (long)sf_readf_float(f, x, info.frames);
    *rate = info.samplerate;
    sf_close(f);
    return x;
}

static int compare(const float *got, const float *want, long n, const char *what)
{
    long first = -1, diff = 0;
    double e = 0.0, peak = 0.0;
    for (long t = 0; t < n; t++) {
        if (got[t] != want[t]) {
            diff++;
            if (first < 0)
                first = t;
        }
        e += (double)want[t] * want[t];
        peak = fmax(peak, fabs((double)want[t]));
    }
    printf("%s: %ld samples (rms %.4f, peak %.4f), %ld differ", what, n, sqrt(e / (n ? n : 1)), peak, diff);
    if (diff)
        printf(", first at %ld: %.9g vs %.9g", first, (double)got[first], (double)want[first]);
    printf("\n");
    return diff ? 1 : 0;
}

static int make_synth(const char *path, double rate)
{
    hiss_config c = {0};
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 4;
    c.d_conv = 4;
    c.sample_rate = rate;
    hiss_synth_model *m;
    hiss_error err;
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release", 1, 42, &m, &err) != HISS_OK ||
        hiss_synth_model_save(m, path, &err) != HISS_OK) {
        fprintf(stderr, "make-synth: %s\n", err.msg);
        return 1;
    }
    hiss_synth_model_free(m);
    return 0;
}

static int make_fx(const char *path, double rate)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 4;
    c.d_conv = 4;
    c.sample_rate = rate;
    hiss_model *m;
    hiss_error err;
    if (hiss_model_init(&c, 3, &m, &err) != HISS_OK) {
        fprintf(stderr, "make-fx: %s\n", err.msg);
        return 1;
    }
    /* A non-zero output bias so that silence in gives a signal out that depends on the state. */
    hiss_tensor b = hiss_model_tensor_by_name(m, "output_proj.bias");
    hiss_tensor bi = hiss_model_tensor_by_name(m, "input_proj.bias");
    b.data[0] = 0.05f;
    for (size_t i = 0; i < bi.numel; i++)
        bi.data[i] = 0.3f * (float)((i % 3) - 1.0);
    if (hiss_model_save(m, path, &err) != HISS_OK) {
        fprintf(stderr, "make-fx: %s\n", err.msg);
        return 1;
    }
    hiss_model_free(m);
    return 0;
}

static void be32(FILE *f, unsigned v)
{
    fputc((int)(v >> 24) & 255, f);
    fputc((int)(v >> 16) & 255, f);
    fputc((int)(v >> 8) & 255, f);
    fputc((int)v & 255, f);
}

static int make_midi(const char *path)
{
    /* 480 ticks per quarter; 120 bpm, then 150 bpm from tick 960 (1.0 s). */
    static const unsigned char tempo_track[] = {0x00, 0xFF, 0x51, 3, 0x07, 0xA1, 0x20, 0x87, 0x40, 0xFF, 0x51,
                                                3,    0x06, 0x1A, 0x80, 0x00, 0xFF, 0x2F, 0};
    static const unsigned char notes[] = {
        0x00, 0x90, 60, 100,       /* t=0 */
        0x00, 64, 90,              /* running status */
        0x83, 0x60, 67, 80,        /* +480: 0.5 s */
        0x81, 0x70, 0xB0, 64, 127, /* +240: pedal down */
        0x00, 0x80, 60, 0,         /* note off under the pedal */
        0x81, 0x70, 0x90, 64, 0,   /* +240 (tick 960, 1.0 s): off 64 (velocity 0) */
        0x83, 0x60, 0xB0, 64, 0,   /* +480 (1.4 s): pedal up */
        0x00, 0x80, 67, 0,
        0x00, 0xE0, 0x00, 0x50,    /* bend up */
        0x00, 0x90, 72, 110,
        0x83, 0x60, 0x80, 72, 0,   /* +480 (1.8 s) */
        0x00, 0xFF, 0x2F, 0};
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    fwrite("MThd", 1, 4, f);
    be32(f, 6);
    const unsigned char hd[6] = {0, 1, 0, 2, 0x01, 0xE0};
    fwrite(hd, 1, 6, f);
    fwrite("MTrk", 1, 4, f);
    be32(f, sizeof tempo_track);
    fwrite(tempo_track, 1, sizeof tempo_track, f);
    fwrite("MTrk", 1, 4, f);
    be32(f, sizeof notes);
    fwrite(notes, 1, sizeof notes, f);
    return fclose(f) ? 1 : 0;
}

static int compare_synth(char **a)
{
    hiss_synth_model *m;
    hiss_error err;
    if (hiss_synth_model_load(a[0], &m, &err) != HISS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    hiss_midi_file mf;
    char msg[512];
    if (hiss_midi_load(a[1], &mf, msg, sizeof msg) != 0) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    long n;
    int rate;
    float *got = read_wav(a[2], &n, &rate);
    if (!got)
        return 1;
    const double mr = hiss_synth_model_config(m)->sample_rate;
    if (rate != (int)mr) {
        fprintf(stderr, "%s: rate %d, model %g\n", a[2], rate, mr);
        return 1;
    }
    hiss_synth_opts o = hiss_synth_opts_default();
    o.n_voices = atoi(a[3]);
    o.seed = strtoull(a[4], NULL, 10);
    o.temperature = strtof(a[5], NULL);
    o.top_p = strtof(a[6], NULL);
    o.release_max_s = strtof(a[7], NULL);
    hiss_synth *s;
    if (hiss_synth_create(m, &o, &s, &err) != HISS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float *want = calloc((size_t)n + 1, sizeof(float));
    size_t e = 0;
    long t = 0;
    while (t < n) {
        while (e < mf.n_events && (long)llround(mf.events[e].time * mr) <= t) {
            hiss_synth_midi(s, mf.events[e].msg, mf.events[e].len);
            e++;
        }
        long until = n;
        if (e < mf.n_events && llround(mf.events[e].time * mr) < until)
            until = (long)llround(mf.events[e].time * mr);
        hiss_synth_process(s, want + t, (int)(until - t));
        t = until;
    }
    printf("%zu MIDI events, %llu notes, ", mf.n_events, (unsigned long long)hiss_synth_get_counters(s).notes);
    const int r = compare(got, want, n, "synth recording vs offline render");
    const int short_file = n < (long)(mf.duration * mr);
    if (short_file)
        printf("the recording (%ld samples) is shorter than the MIDI file (%.3f s)\n", n, mf.duration);
    hiss_synth_free(s);
    hiss_synth_model_free(m);
    hiss_midi_free(&mf);
    free(got);
    free(want);
    return r || short_file;
}

static int compare_fx(char **a)
{
    hiss_model *m;
    hiss_error err;
    if (hiss_model_load(a[0], &m, &err) != HISS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    long n;
    int rate;
    float *got = read_wav(a[1], &n, &rate);
    if (!got)
        return 1;
    hiss_stream_opts so = hiss_stream_opts_default();
    so.max_block = 4096;
    hiss_stream *s;
    if (hiss_stream_create(m, &so, &s, &err) != HISS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float *want = calloc((size_t)n + 4096, sizeof(float)), *zero = calloc(4096, sizeof(float));
    for (long t = 0; t < n; t += 4096) {
        const float *in = zero;
        float *out = want + t;
        hiss_stream_process(s, &in, &out, (int)(n - t < 4096 ? n - t : 4096));
    }
    const long delay = a[2] ? atol(a[2]) : 0;
    if (delay > 0 && delay < n) {
        memmove(want + delay, want, (size_t)(n - delay) * sizeof(float));
        memset(want, 0, (size_t)delay * sizeof(float));
    }
    const int r = compare(got, want, n, "fx recording vs offline run on silence");
    hiss_stream_free(s);
    hiss_model_free(m);
    free(got);
    free(want);
    free(zero);
    return r;
}

static int level(char **a)
{
    long n;
    int rate;
    float *x = read_wav(a[0], &n, &rate);
    if (!x)
        return 1;
    double peak = 0.0;
    for (long t = 0; t < n; t++)
        peak = fmax(peak, fabs((double)x[t]));
    const double db = peak > 0 ? 20.0 * log10(peak) : -999.0;
    printf("%s: %ld samples, peak %.1f dBFS (needs %s)\n", a[0], n, db, a[1]);
    free(x);
    return db >= atof(a[1]) ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "make-synth"))
        return make_synth(argv[2], atof(argv[3]));
    if (argc >= 4 && !strcmp(argv[1], "make-fx"))
        return make_fx(argv[2], atof(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "make-midi"))
        return make_midi(argv[2]);
    if (argc >= 10 && !strcmp(argv[1], "compare-synth"))
        return compare_synth(argv + 2);
    if (argc >= 4 && !strcmp(argv[1], "compare-fx"))
        return compare_fx(argv + 2);
    if (argc >= 4 && !strcmp(argv[1], "level"))
        return level(argv + 2);
    fprintf(stderr, "usage: see the comment at the top of synth_host_check.c\n");
    return 2;
}
