/* Helper of tests/render/midi_test.sh (hiss-render --midi): makes a synth model and MIDI files,
 * and renders the same song independently through the hiss_synth API to compare with what
 * hiss-render wrote.
 *   mksynth PATH RATE SEED [T]       a small randomly initialised synth model (features include the
 *                                    phase: pitch,velocity,gate,onset,decay,release,sin1,cos1);
 *                                    T: its "hiss.synth.temperature"
 *   mkmidi PATH KIND                 the song as KIND: type0, type1 (the same events, a tempo map
 *                                    with two changes, running status, pedal, bend), or a broken
 *                                    file: truncated, badheader, notracks, format2
 *   render MODEL WAV SEED VOICES TEMPERATURE TOP_P TAIL RELEASE_MAX [GAIN [BACKEND]]
 *                                    the song rendered here, sample by sample, from the score
 *                                    below (its own tick-to-second conversion, not tools/midi's),
 *                                    each event at sample llround(seconds * rate); the length rule
 *                                    of hiss-render (the file's end, then until every voice is
 *                                    free, at most TAIL s); WAV (float) must equal it exactly.
 *                                    BACKEND cpu (default) or cuda: the synth's, which hiss-render
 *                                    must have passed on (the GPU's output does not depend on how
 *                                    the samples are cut into calls, test_cuda_synth)
 *   cmp A B same|differ              two WAVs: identical samples, or some differ
 *   format WAV SUBTYPE RATE          WAV is mono at RATE with SUBTYPE float, 24 or 16
 * Exit 0 pass, 1 fail, 2 usage. */
#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"

/* ---- the song ---------------------------------------------------------------------------- */

#define DIVISION 480

typedef struct note_ev {
    uint32_t tick;
    int track; /* 1 or 2 in the type-1 file */
    uint8_t msg[3];
    int len;
} note_ev;

/* In (tick, track) order, which is also the order of the type-0 file's single track. */
static const note_ev SONG[] = {
    {0, 1, {0x90, 60, 100}, 3},   {0, 2, {0x91, 36, 90}, 3},    {480, 1, {0x80, 60, 64}, 3},
    {480, 1, {0x90, 64, 80}, 3},  {600, 2, {0xB1, 64, 127}, 3}, {700, 2, {0x81, 36, 0}, 3},
    {1200, 1, {0xE0, 0x00, 0x50}, 3}, {1440, 1, {0x90, 64, 0}, 3}, {1440, 1, {0x90, 67, 70}, 3},
    {1680, 1, {0xE0, 0x00, 0x40}, 3}, {1920, 2, {0x91, 48, 60}, 3}, {1920, 2, {0x91, 55, 60}, 3},
    {2000, 2, {0xB1, 64, 0}, 3},  {2400, 1, {0x80, 67, 0}, 3},  {2640, 2, {0x81, 48, 0}, 3},
    {2640, 2, {0x81, 55, 0}, 3},
};
#define N_SONG (sizeof SONG / sizeof *SONG)
#define END_TICK 3120

/* Tempo map: (tick, microseconds per quarter). */
static const uint32_t TEMPO[][2] = {{0, 500000}, {960, 666667}, {1920, 400000}};
#define N_TEMPO 3

/* Seconds at a tick, segment by segment, in double. */
static double seconds_at(uint32_t tick)
{
    double s = 0.0;
    for (int i = 0; i < N_TEMPO; i++) {
        const uint32_t a = TEMPO[i][0], b = i + 1 < N_TEMPO ? TEMPO[i + 1][0] : UINT32_MAX;
        if (tick <= a)
            break;
        const uint32_t upto = tick < b ? tick : b;
        s += (double)(upto - a) * TEMPO[i][1] / (1e6 * DIVISION);
    }
    return s;
}

/* ---- writing MIDI files ------------------------------------------------------------------ */

typedef struct buf {
    uint8_t b[8192];
    size_t n;
} buf;

static void put(buf *w, const void *x, size_t n)
{
    memcpy(w->b + w->n, x, n);
    w->n += n;
}

static void byte(buf *w, int v)
{
    w->b[w->n++] = (uint8_t)v;
}

static void be(buf *w, uint32_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        byte(w, (int)(v >> (8 * i)) & 0xFF);
}

static void vlq(buf *w, uint32_t v)
{
    uint8_t tmp[5];
    int n = 0;
    tmp[n++] = v & 0x7F;
    while (v >>= 7)
        tmp[n++] = (uint8_t)(0x80 | (v & 0x7F));
    while (n)
        byte(w, tmp[--n]);
}

/* One track holding the song's events of `track` (0: all of them) and, when with_tempo, the tempo
 * map; running status where the status repeats. */
static void track(buf *w, int which, int with_tempo)
{
    put(w, "MTrk", 4);
    const size_t len_at = w->n;
    be(w, 0, 4);
    uint32_t now = 0;
    int running = -1, ti = with_tempo ? 0 : N_TEMPO;
    size_t e = 0;
    for (;;) {
        while (e < N_SONG && which && SONG[e].track != which)
            e++;
        const int have_e = e < N_SONG, have_t = ti < N_TEMPO;
        if (!have_e && !have_t)
            break;
        if (have_t && (!have_e || TEMPO[ti][0] <= SONG[e].tick)) {
            vlq(w, TEMPO[ti][0] - now);
            now = TEMPO[ti][0];
            byte(w, 0xFF);
            byte(w, 0x51);
            byte(w, 3);
            be(w, TEMPO[ti][1], 3);
            running = -1;
            ti++;
            continue;
        }
        const note_ev *x = &SONG[e++];
        vlq(w, x->tick - now);
        now = x->tick;
        if (x->msg[0] != running)
            byte(w, x->msg[0]);
        running = x->msg[0];
        put(w, x->msg + 1, (size_t)x->len - 1);
    }
    vlq(w, END_TICK - now);
    byte(w, 0xFF);
    byte(w, 0x2F);
    byte(w, 0);
    const uint32_t len = (uint32_t)(w->n - len_at - 4);
    for (int i = 0; i < 4; i++)
        w->b[len_at + (size_t)i] = (uint8_t)(len >> (24 - 8 * i));
}

static void header(buf *w, int format, int ntrks)
{
    put(w, "MThd", 4);
    be(w, 6, 4);
    be(w, (uint32_t)format, 2);
    be(w, (uint32_t)ntrks, 2);
    be(w, DIVISION, 2);
}

static int cmd_mkmidi(const char *path, const char *kind)
{
    buf w = {{0}, 0};
    if (!strcmp(kind, "type0") || !strcmp(kind, "truncated")) {
        header(&w, 0, 1);
        track(&w, 0, 1);
        if (!strcmp(kind, "truncated"))
            w.n -= 9; /* the chunk now runs past the end of the file */
    } else if (!strcmp(kind, "type1") || !strcmp(kind, "format2")) {
        header(&w, !strcmp(kind, "type1") ? 1 : 2, 3);
        /* Conductor track with the tempo map, then the two parts. */
        put(&w, "MTrk", 4);
        buf t = {{0}, 0};
        uint32_t now = 0;
        for (int i = 0; i < N_TEMPO; i++) {
            vlq(&t, TEMPO[i][0] - now);
            now = TEMPO[i][0];
            byte(&t, 0xFF);
            byte(&t, 0x51);
            byte(&t, 3);
            be(&t, TEMPO[i][1], 3);
        }
        vlq(&t, END_TICK - now);
        byte(&t, 0xFF);
        byte(&t, 0x2F);
        byte(&t, 0);
        be(&w, (uint32_t)t.n, 4);
        put(&w, t.b, t.n);
        track(&w, 1, 0);
        track(&w, 2, 0);
    } else if (!strcmp(kind, "badheader")) {
        put(&w, "RIFF", 4);
        be(&w, 6, 4);
        be(&w, 0, 2);
        be(&w, 1, 2);
        be(&w, DIVISION, 2);
    } else if (!strcmp(kind, "notracks")) {
        header(&w, 1, 0);
    } else {
        fprintf(stderr, "mkmidi: unknown kind %s\n", kind);
        return 2;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(w.b, 1, w.n, f) != w.n || fclose(f) != 0) {
        fprintf(stderr, "mkmidi: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* ---- models and renders ------------------------------------------------------------------ */

static int cmd_mksynth(const char *path, double rate, long seed, const char *temperature)
{
    hiss_config c = {0};
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 4;
    c.d_conv = 4;
    c.sample_rate = rate;
    hiss_synth_model *m;
    hiss_error err;
    snprintf(err.msg, sizeof err.msg, "cannot set hiss.synth.temperature to '%s'", temperature ? temperature : "");
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release,sin1,cos1", 1, (uint64_t)seed, &m,
                              &err) != HISS_OK ||
        (temperature && hiss_synth_model_set_meta(m, "hiss.synth.temperature", temperature) != HISS_OK) ||
        hiss_synth_model_save(m, path, &err) != HISS_OK) {
        fprintf(stderr, "mksynth: %s\n", err.msg);
        return 1;
    }
    hiss_synth_model_free(m);
    return 0;
}

static float *read_wav(const char *path, long *n, SF_INFO *info)
{
    memset(info, 0, sizeof *info);
    SNDFILE *f = sf_open(path, SFM_READ, info);
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, sf_strerror(NULL));
        return NULL;
    }
    float *x = malloc(((size_t)info->frames + 1) * sizeof(float) * (size_t)info->channels);
    *n = (long)sf_readf_float(f, x, info->frames);
    sf_close(f);
    return x;
}

static int cmd_render(int argc, char **argv)
{
    if (argc < 10)
        return 2;
    const char *model_path = argv[2], *wav = argv[3];
    hiss_synth_model *m;
    hiss_error err;
    if (hiss_synth_model_load(model_path, &m, &err) != HISS_OK) {
        fprintf(stderr, "render: %s\n", err.msg);
        return 1;
    }
    const double rate = hiss_synth_model_config(m)->sample_rate;
    hiss_synth_opts o = hiss_synth_opts_default();
    o.seed = (uint64_t)atoll(argv[4]);
    o.n_voices = atoi(argv[5]);
    o.temperature = (float)atof(argv[6]);
    o.top_p = (float)atof(argv[7]);
    const double tail = atof(argv[8]);
    o.release_max_s = (float)atof(argv[9]);
    const float gain = argc > 10 ? (float)pow(10.0, atof(argv[10]) / 20.0) : 1.0f;
    if (argc > 11 && strcmp(argv[11], "cpu") && strcmp(argv[11], "cuda")) {
        fprintf(stderr, "render: backend %s: expected cpu or cuda\n", argv[11]);
        hiss_synth_model_free(m);
        return 2;
    }
    o.backend = argc > 11 && !strcmp(argv[11], "cuda") ? HISS_BACKEND_CUDA : HISS_BACKEND_CPU;
    hiss_synth *s;
    if (hiss_synth_create(m, &o, &s, &err) != HISS_OK) {
        fprintf(stderr, "render: %s\n", err.msg);
        return 1;
    }
    uint64_t frame[N_SONG];
    uint64_t end = (uint64_t)llround(seconds_at(END_TICK) * rate);
    for (size_t i = 0; i < N_SONG; i++) {
        frame[i] = (uint64_t)llround(seconds_at(SONG[i].tick) * rate);
        if (frame[i] > end)
            end = frame[i];
    }
    const uint64_t tail_max = (uint64_t)llround(tail * rate);
    size_t cap = (size_t)(end + tail_max + 1), n = 0, next = 0;
    float *want = malloc(cap * sizeof(float));
    for (uint64_t t = 0;; t++) {
        if (t >= end && (t - end >= tail_max || (next == N_SONG && hiss_synth_active_voices(s) == 0)))
            break;
        while (next < N_SONG && frame[next] == t) {
            hiss_synth_midi(s, SONG[next].msg, (size_t)SONG[next].len);
            next++;
        }
        hiss_synth_process(s, &want[n], 1);
        want[n] *= gain;
        n++;
    }
    const int active = hiss_synth_active_voices(s);
    hiss_synth_free(s);
    hiss_synth_model_free(m);

    SF_INFO info;
    long got_n = 0;
    float *got = read_wav(wav, &got_n, &info);
    if (!got)
        return 1;
    long diff = 0, first = -1;
    double e = 0.0, peak = 0.0;
    for (long t = 0; t < (long)n && t < got_n; t++) {
        if (got[t] != want[t]) {
            diff++;
            if (first < 0)
                first = t;
        }
        e += (double)want[t] * want[t];
        peak = fmax(peak, fabs((double)want[t]));
    }
    printf("render: here %zu samples (%.3f s; the file ends at sample %llu, tail %llu samples, %d voices left; rms "
           "%.4f, peak %.4f); %s has %ld samples, %ld differ",
           n, (double)n / rate, (unsigned long long)end, (unsigned long long)(n - end), active,
           sqrt(e / (double)(n ? n : 1)), peak, wav, got_n, diff);
    if (first >= 0)
        printf(", first at %ld: %.9g vs %.9g", first, (double)got[first], (double)want[first]);
    printf("\n");
    const int ok = info.channels == 1 && info.samplerate == (int)rate && got_n == (long)n && diff == 0 && e > 0.0;
    free(got);
    free(want);
    return ok ? 0 : 1;
}

static int cmd_cmp(const char *a, const char *b, const char *mode)
{
    SF_INFO ia, ib;
    long na, nb;
    float *x = read_wav(a, &na, &ia), *y = read_wav(b, &nb, &ib);
    if (!x || !y)
        return 1;
    long diff = 0;
    double md = 0.0;
    for (long t = 0; t < na && t < nb; t++) {
        diff += x[t] != y[t];
        md = fmax(md, fabs((double)x[t] - y[t]));
    }
    printf("cmp %s %s: %ld and %ld samples, %ld differ (largest difference %.3g)\n", a, b, na, nb, diff, md);
    free(x);
    free(y);
    if (!strcmp(mode, "same"))
        return na == nb && diff == 0 ? 0 : 1;
    return diff > 0 || na != nb ? 0 : 1;
}

static int cmd_format(const char *path, const char *sub, int rate)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, sf_strerror(NULL));
        return 1;
    }
    sf_close(f);
    const int want = !strcmp(sub, "float") ? SF_FORMAT_FLOAT : !strcmp(sub, "24") ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_16;
    printf("format %s: %d channel(s), %d Hz, subtype 0x%x, %lld frames\n", path, info.channels, info.samplerate,
           info.format & SF_FORMAT_SUBMASK, (long long)info.frames);
    return info.channels == 1 && info.samplerate == rate && (info.format & SF_FORMAT_SUBMASK) == want ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "mksynth"))
        return cmd_mksynth(argv[2], atof(argv[3]), atol(argv[4]), argc >= 6 ? argv[5] : NULL);
    if (argc >= 4 && !strcmp(argv[1], "mkmidi"))
        return cmd_mkmidi(argv[2], argv[3]);
    if (argc >= 10 && !strcmp(argv[1], "render"))
        return cmd_render(argc, argv);
    if (argc >= 5 && !strcmp(argv[1], "cmp"))
        return cmd_cmp(argv[2], argv[3], argv[4]);
    if (argc >= 5 && !strcmp(argv[1], "format"))
        return cmd_format(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: see the header of synth_check.c\n");
    return 2;
}
