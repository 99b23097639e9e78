/* The quality gates of a shipped synth model (docs/training.md, "Quality gates"):
 *
 *   (a) held-out cross-entropy: the model teacher-forced through hiss_synth_step over a held-out
 *       clip (notes of the test split, never trained on, with their conditioning file), in bits
 *       per sample; it must be at least 1 bit below the entropy of the clip's mu-law class
 *       histogram (what a model that ignored both the past and the conditioning could reach);
 *   (b) pitch: notes across three octaves played through hiss_synth (one voice, fixed seed, the
 *       temperature the model names in "hiss.synth.temperature", else 1, top-p 1), the
 *       fundamental of each estimated by YIN over 0.3 .. 0.8 s; at least 80 % within 50 cents;
 *   (c) a held note (C4, velocity 100) is neither silence nor noise: RMS over 0.3 .. 0.8 s above
 *       -40 dBFS, and its harmonicity (normalised autocorrelation at the estimated period) at
 *       least 0.5 (noise is near 0, the recorded instrument near 1).
 *
 * The estimators are checked first on the recorded notes of the clip, which must pass (b) and
 * (c)'s harmonicity: a gate whose estimator failed on the real instrument would mean nothing.
 *
 *   synth_gate MODEL_OR_DIR CLIP_DIR [TEMPERATURE]
 *   synth_gate --untrained CLIP_DIR TMP_DIR
 *
 * With a directory, every synth model in it (hiss.io "synth") is gated; none: prints that it
 * skipped and exits 77. A model's clip is CLIP_DIR/<hiss.test.clip>.{wav,notes}, by default
 * synth-organ-clip. Exit status 0 all gates pass, 1 a gate failed, 2 usage or files.
 * TEMPERATURE overrides the model's, to explore (the test never gives it).
 * --untrained gates a freshly initialised model (it plays noise), which must fail gate (a): the
 * gates can fail, and the estimators pass on the recording, without a shipped model. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiofile.h"
#include "hiss_synth.h"

#define NC HISS_SYNTH_CLASSES
#define NLL_MARGIN_BITS 1.0
#define PITCH_CENTS 50.0
#define PITCH_SHARE 0.8
#define RMS_MIN_DB -40.0
#define HARMONICITY_MIN 0.5
#define YIN_THRESHOLD 0.15
#define HELD_NOTE 60
#define HELD_VELOCITY 100

typedef struct note {
    size_t start, len, on_len;
    int note, velocity;
} note;

/* The notes file of tools/data/synth_data.py: a header, "sample_rate R", then per note
 * "start length on_length note velocity". */
static int read_notes(const char *path, note **out, int *count, double *rate)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0, cap = 0;
    note *v = NULL;
    *rate = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long s, l, on;
        int p, vel;
        if (strncmp(line, "sample_rate ", 12) == 0)
            *rate = atof(line + 12);
        else if (sscanf(line, "%llu %llu %llu %d %d", &s, &l, &on, &p, &vel) == 5) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                v = realloc(v, (size_t)cap * sizeof *v);
            }
            v[n++] = (note){(size_t)s, (size_t)l, (size_t)on, p, vel};
        }
    }
    fclose(f);
    *out = v;
    *count = n;
    return n > 0 && *rate > 0 ? 0 : -1;
}

static double midi_hz(double n)
{
    return 440.0 * pow(2.0, (n - 69.0) / 12.0);
}

/* YIN (de Cheveigne and Kawahara 2002): the difference function, its cumulative-mean
 * normalisation, the first lag below the threshold (at its local minimum; else the global
 * minimum), refined by a parabola. Lags for 50 .. 2000 Hz. Returns Hz, or 0. */
static double yin(const float *x, size_t n, double rate)
{
    const int tmin = (int)(rate / 2000.0), tmax = (int)(rate / 50.0);
    const size_t w = n - (size_t)tmax - 2;
    if (n < (size_t)tmax * 3)
        return 0;
    double *d = calloc((size_t)tmax + 2, sizeof *d), *dn = calloc((size_t)tmax + 2, sizeof *dn);
    for (int tau = 1; tau <= tmax + 1; tau++) {
        double s = 0;
        for (size_t i = 0; i < w; i++) {
            const double e = (double)x[i] - x[i + (size_t)tau];
            s += e * e;
        }
        d[tau] = s;
    }
    double run = 0;
    dn[0] = 1;
    for (int tau = 1; tau <= tmax + 1; tau++) {
        run += d[tau];
        dn[tau] = run > 0 ? d[tau] * tau / run : 1;
    }
    int best = -1;
    for (int tau = tmin > 2 ? tmin : 2; tau <= tmax; tau++)
        if (dn[tau] < YIN_THRESHOLD) {
            while (tau + 1 <= tmax && dn[tau + 1] < dn[tau])
                tau++;
            best = tau;
            break;
        }
    if (best < 0) {
        best = tmin > 2 ? tmin : 2;
        for (int tau = best; tau <= tmax; tau++)
            if (dn[tau] < dn[best])
                best = tau;
    }
    const double a = dn[best - 1], b = dn[best], c = dn[best + 1];
    const double den = a - 2 * b + c;
    const double shift = den > 0 ? 0.5 * (a - c) / den : 0;
    free(d);
    free(dn);
    return rate / ((double)best + shift);
}

static double rms_db(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s > 0 ? 10 * log10(s / (double)n) : -INFINITY;
}

/* sum x_t x_{t+T} / sqrt(sum x_t^2 sum x_{t+T}^2) at the period T nearest rate / f0. */
static double harmonicity(const float *x, size_t n, double rate, double f0)
{
    if (!(f0 > 0))
        return 0;
    const size_t T = (size_t)lround(rate / f0);
    if (T == 0 || T >= n)
        return 0;
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i + T < n; i++) {
        xy += (double)x[i] * x[i + T];
        xx += (double)x[i] * x[i];
        yy += (double)x[i + T] * x[i + T];
    }
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
}

typedef struct measure {
    double f0, cents, rms, harm;
} measure;

/* Over 0.3 .. 0.8 s of a note. */
static measure measure_note(const float *x, size_t n, double rate, int pitch)
{
    measure m = {0, INFINITY, -INFINITY, 0};
    const size_t a = (size_t)(0.3 * rate), b = (size_t)(0.8 * rate);
    if (n < b)
        return m;
    m.f0 = yin(x + a, b - a, rate);
    m.cents = m.f0 > 0 ? 1200.0 * log2(m.f0 / midi_hz(pitch)) : INFINITY;
    m.rms = rms_db(x + a, b - a);
    m.harm = harmonicity(x + a, b - a, rate, m.f0);
    return m;
}

/* (a) */
static double clip_nll_bits(const hiss_synth_model *m, const unsigned char *cls, const note *nt,
                            int count, double rate)
{
    const int nc = hiss_synth_model_config(m)->n_cond;
    float *state = malloc(hiss_synth_state_floats(m) * sizeof *state);
    float *scratch = malloc(hiss_synth_scratch_floats(m) * sizeof *scratch);
    float cond[64], logits[NC];
    double sum = 0;
    size_t total = 0;
    for (int k = 0; k < count; k++) {
        memset(state, 0, hiss_synth_state_floats(m) * sizeof *state);
        hiss_synth_note ns = hiss_synth_note_start((double)nt[k].note, nt[k].velocity);
        int prev = HISS_SYNTH_SILENCE_CLASS;
        for (size_t i = 0; i < nt[k].len; i++) {
            if (i == nt[k].on_len) {
                ns.gate = 0;
                ns.n_off = 0;
            }
            for (int f = 0; f < nc; f++)
                cond[f] = hiss_synth_feature_value(hiss_synth_model_feature(m, f), &ns, rate);
            hiss_synth_step(m, state, prev, cond, logits, scratch);
            double mx = logits[0], s = 0;
            for (int c = 1; c < NC; c++)
                mx = fmax(mx, logits[c]);
            for (int c = 0; c < NC; c++)
                s += exp(logits[c] - mx);
            const int y = cls[nt[k].start + i];
            sum += mx + log(s) - logits[y];
            prev = y;
            hiss_synth_note_advance(&ns, rate);
        }
        total += nt[k].len;
    }
    free(state);
    free(scratch);
    return sum / (double)total / log(2.0);
}

static int gate_model(const char *path, const char *clip_dir, const char *t_override,
                      uint64_t seed)
{
    hiss_synth_model *m;
    hiss_error err;
    if (hiss_synth_model_load(path, &m, &err) != HISS_OK) {
        printf("%s: %s\n", path, err.msg);
        return 2;
    }
    const double rate = hiss_synth_model_config(m)->sample_rate;
    const char *clip = hiss_synth_model_meta(m, "hiss.test.clip");
    char wav[2048], notes_path[2048];
    snprintf(wav, sizeof wav, "%s/%s.wav", clip_dir, clip ? clip : "synth-organ-clip");
    snprintf(notes_path, sizeof notes_path, "%s/%s.notes", clip_dir, clip ? clip : "synth-organ-clip");
    float *x;
    size_t n;
    int wrate, channels;
    char msg[1024];
    note *nt;
    int count;
    double nrate;
    if (hiss_af_read(wav, &x, &n, &channels, &wrate, msg, sizeof msg)) {
        printf("%s: the clip: %s\n", path, msg);
        return 2;
    }
    if (channels != 1) {
        printf("%s: the clip %s has %d channels, expected one\n", path, wav, channels);
        free(x);
        return 2;
    }
    if (read_notes(notes_path, &nt, &count, &nrate) || wrate != rate || nrate != rate ||
        nt[count - 1].start + nt[count - 1].len != n) {
        printf("%s: the clip %s / %s: notes unreadable, not at the model's %g Hz, or not "
               "covering the audio\n",
               path, wav, notes_path, rate);
        free(x);
        return 2;
    }
    const char *tmeta = hiss_synth_model_meta(m, "hiss.synth.temperature");
    const float temperature = t_override ? (float)atof(t_override)
                              : tmeta    ? (float)atof(tmeta)
                                         : 1.0f;
    printf("%s: %s\n", path, hiss_synth_model_meta(m, "hiss.synth.instrument")
                                 ? hiss_synth_model_meta(m, "hiss.synth.instrument")
                                 : "(no hiss.synth.instrument)");
    int fails = 0;

    /* the estimators on the recorded notes */
    int est_bad = 0;
    for (int k = 0; k < count; k++) {
        const measure r = measure_note(x + nt[k].start, nt[k].on_len, rate, nt[k].note);
        const int ok = fabs(r.cents) <= PITCH_CENTS && r.harm >= HARMONICITY_MIN;
        est_bad += !ok;
        printf("  recorded note %d velocity %d: f0 %.2f Hz (%+.1f cents), RMS %.1f dBFS, "
               "harmonicity %.3f%s\n",
               nt[k].note, nt[k].velocity, r.f0, r.cents, r.rms, r.harm,
               ok ? "" : "  ESTIMATOR FAILS ON THE RECORDING");
    }
    fails += est_bad;

    /* (a) */
    unsigned char *cls = malloc(n);
    double hist[NC] = {0}, H = 0;
    for (size_t i = 0; i < n; i++) {
        cls[i] = (unsigned char)hiss_synth_mulaw_encode(x[i]);
        hist[cls[i]]++;
    }
    for (int c = 0; c < NC; c++)
        if (hist[c] > 0)
            H -= hist[c] / (double)n * log2(hist[c] / (double)n);
    const double nll = clip_nll_bits(m, cls, nt, count, rate);
    const int a_ok = nll <= H - NLL_MARGIN_BITS;
    fails += !a_ok;
    printf("  (a) held-out clip (%d notes, %.2f s): %.3f bits/sample; class histogram entropy "
           "%.3f bits; margin %.3f (at least %.1f)%s\n",
           count, n / rate, nll, H, H - nll, NLL_MARGIN_BITS, a_ok ? "" : "  FAIL");

    /* (b) and (c) */
    hiss_synth_opts so = hiss_synth_opts_default();
    so.n_voices = 1;
    so.temperature = temperature;
    so.top_p = 1.0f;
    so.seed = seed;
    hiss_synth *s;
    if (hiss_synth_create(m, &so, &s, &err) != HISS_OK) {
        printf("  %s\n", err.msg);
        return 2;
    }
    const size_t held = (size_t)(1.0 * rate), len = held + (size_t)(0.3 * rate);
    float *y = malloc(len * sizeof *y);
    int within = 0, total = 0, c_ok = 0;
    measure hm = {0, INFINITY, -INFINITY, 0};
    for (int p = 48; p <= 84; p += 3) {
        hiss_synth_reset(s);
        hiss_synth_note_on(s, p, HELD_VELOCITY);
        hiss_synth_process(s, y, (int)held);
        hiss_synth_note_off(s, p);
        hiss_synth_process(s, y + held, (int)(len - held));
        const measure r = measure_note(y, held, rate, p);
        const int in = fabs(r.cents) <= PITCH_CENTS;
        within += in;
        total++;
        printf("  played note %d: f0 %.2f Hz (%+.1f cents)%s, RMS %.1f dBFS, harmonicity %.3f\n",
               p, r.f0, r.cents, in ? "" : " off", r.rms, r.harm);
        if (p == HELD_NOTE)
            hm = r;
    }
    const int b_ok = within >= PITCH_SHARE * total;
    fails += !b_ok;
    printf("  (b) pitch: %d of %d notes within %.0f cents (at least %.0f %%), temperature %g, "
           "seed %llu%s\n",
           within, total, PITCH_CENTS, 100 * PITCH_SHARE, temperature, (unsigned long long)seed,
           b_ok ? "" : "  FAIL");
    c_ok = hm.rms > RMS_MIN_DB && hm.harm >= HARMONICITY_MIN;
    fails += !c_ok;
    printf("  (c) held note %d velocity %d: RMS %.1f dBFS (above %.0f), harmonicity %.3f (at "
           "least %.2f)%s\n",
           HELD_NOTE, HELD_VELOCITY, hm.rms, RMS_MIN_DB, hm.harm, HARMONICITY_MIN,
           c_ok ? "" : "  FAIL");
    const hiss_synth_counters ct = hiss_synth_get_counters(s);
    if (ct.voice_resets)
        printf("  note: %llu voice(s) cut for non-finite logits\n",
               (unsigned long long)ct.voice_resets);
    hiss_synth_free(s);
    hiss_synth_model_free(m);
    free(y);
    free(x);
    free(cls);
    free(nt);
    return fails ? 1 : 0;
}

/* A small untrained model through the gates: 0 when they fail as they must. Small, so that the
 * check stays short under the sanitizers. */
static int untrained(const char *clip_dir, const char *tmp)
{
    hiss_config c = {0};
    c.io = HISS_IO_SYNTH;
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 4;
    c.d_conv = 4;
    c.sample_rate = 48000;
    hiss_synth_model *m;
    hiss_error err;
    char path[2048];
    snprintf(path, sizeof path, "%s/synth_gate_untrained.safetensors", tmp);
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release,sin1,cos1", 1, 1, &m,
                              &err) != HISS_OK ||
        hiss_synth_model_save(m, path, &err) != HISS_OK) {
        printf("%s\n", err.msg);
        return 1;
    }
    hiss_synth_model_free(m);
    const int r = gate_model(path, clip_dir, NULL, 1);
    remove(path);
    printf("untrained model: %s\n", r == 1 ? "fails the gates, as it must" : "NOT REFUSED  FAIL");
    return r == 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--untrained") == 0)
        return untrained(argv[2], argv[3]);
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: synth_gate MODEL_OR_DIR CLIP_DIR [TEMPERATURE [SEED]] | "
                        "--untrained CLIP_DIR TMP_DIR\n");
        return 2;
    }
    /* the gates play seed 1; other temperatures and seeds are for judging a model by hand */
    const char *t_override = argc >= 4 ? argv[3] : NULL;
    const uint64_t seed = argc == 5 ? strtoull(argv[4], NULL, 10) : 1;
    hiss_io io;
    hiss_error err;
    DIR *d = opendir(argv[1]);
    if (!d) {
        if (hiss_synth_file_io(argv[1], &io, &err) != HISS_OK || io != HISS_IO_SYNTH) {
            printf("%s: not a synth model\n", argv[1]);
            return 2;
        }
        return gate_model(argv[1], argv[2], t_override, seed);
    }
    int worst = 0, found = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        const size_t l = strlen(e->d_name);
        if (l < 12 || strcmp(e->d_name + l - 12, ".safetensors") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        if (hiss_synth_file_io(path, &io, &err) != HISS_OK || io != HISS_IO_SYNTH)
            continue;
        found++;
        const int r = gate_model(path, argv[2], t_override, seed);
        worst = r > worst ? r : worst;
    }
    closedir(d);
    if (!found) {
        printf("skipped: no synth model (hiss.io \"synth\") in %s\n", argv[1]);
        return 77;
    }
    return worst;
}
