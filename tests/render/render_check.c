/* render_check: the numeric side of the hiss-render tests (tests/render/render_test.sh).
 *
 *   render_check mkmodel OUT [--rate R] [--cond a,b] [--identity] [--bias] [--seed S]
 *       a small model (hiss_model_init). --identity: skip on, output_proj zero, so out = in.
 *       --bias: a non-zero input_proj.bias. hiss_model_init zeroes it (as mamba_ssm does), and
 *       then at near-silence every RMSNorm works on a near-zero residual with a gain of up to
 *       1/sqrt(eps): float rounding differences of 1e-8 in the input (e.g. from resampling at
 *       another block alignment) grow to 1e-4 at the output. With the bias, comparisons at
 *       1e-5 are about the tool, not the model's sensitivity.
 *   render_check engine MODEL IN OUT [--mono] [--gain-in DB] [--gain-out DB] [--mix X]
 *                       [--cond IDX=V]... [--delta] [--clip BITS] [--tol T]
 *       the expected OUT computed independently of hiss-render: every channel of IN alone
 *       through its own fresh one-stream engine (other block size than the renderer's), then
 *       out = g_out * ((1-mix)*x + mix*wet); with --clip BITS (an integer OUT), clamped to
 *       what BITS-bit PCM holds, [-1, 1 - 2^(1-BITS)]; fails when max |OUT - expected| > tol.
 *   render_check cmp A B [--scale S] [--tol T] [--min-diff D]
 *       same shape, max |B - S*A| <= tol (or, with --min-diff, > D: the files must differ).
 *   render_check aligned IN OUT [--max-err-db DB] [--max-lag L] [--peak]
 *       OUT is IN up to a small error: same length, error energy below DB (relative to IN),
 *       cross-correlation peak at lag 0 (searched over +-L), and with --peak the
 *       largest-magnitude sample at the same index in both (for a click).
 *   render_check format FILE MAJOR SUBTYPE CHANNELS FRAMES RATE
 *       MAJOR: wav|flac|aiff, SUBTYPE: float|24|16; -1 to skip a number.
 *   render_check nanfile OUT  a float wav with 3 non-finite samples among a sine
 *   render_check click OUT RATE FRAMES AT   a float wav, silent but for 0.5 at frame AT
 *   render_check finite FILE   every sample finite, and not all silent
 *
 * Exit 0 pass, 1 fail (with the numbers), 2 usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "hiss.h"

typedef struct audio {
    int frames, channels, rate, format;
    float *x; /* interleaved */
} audio;

static int load(const char *path, audio *a)
{
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) {
        fprintf(stderr, "render_check: %s: %s\n", path, sf_strerror(NULL));
        return -1;
    }
    a->frames = (int)info.frames;
    a->channels = info.channels;
    a->rate = info.samplerate;
    a->format = info.format;
    a->x = malloc((size_t)a->frames * (size_t)a->channels * sizeof(float) + 1);
    sf_count_t got = sf_readf_float(f, a->x, info.frames);
    sf_close(f);
    if (got != info.frames) {
        fprintf(stderr, "render_check: %s: short read\n", path);
        return -1;
    }
    return 0;
}

static const char *arg_after(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc - 1; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int has_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static double num_after(int argc, char **argv, const char *name, double dflt)
{
    const char *v = arg_after(argc, argv, name);
    return v ? atof(v) : dflt;
}

static int cmd_mkmodel(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    hiss_config c;
    memset(&c, 0, sizeof c);
    c.io = HISS_IO_FX;
    c.d_model = 8;
    c.n_layer = 2;
    c.d_inner = 16;
    c.d_state = 4;
    c.d_conv = 4;
    c.dt_rank = 1;
    c.sample_rate = num_after(argc, argv, "--rate", 48000.0);
    c.rms_eps = 1e-5f;
    const char *conds = arg_after(argc, argv, "--cond");
    if (conds) {
        c.n_cond = 1;
        for (const char *p = conds; *p; p++)
            c.n_cond += *p == ',';
    }
    int identity = has_flag(argc, argv, "--identity");
    c.skip = identity;
    uint64_t seed = (uint64_t)num_after(argc, argv, "--seed", 1.0);
    hiss_model *m = NULL;
    hiss_error err = {0};
    if (hiss_model_init(&c, seed, &m, &err) != HISS_OK) {
        fprintf(stderr, "render_check: init: %s\n", err.msg);
        return 1;
    }
    if (conds && hiss_model_set_meta(m, "hiss.cond", conds) != HISS_OK) {
        fprintf(stderr, "render_check: cannot name the conditioning inputs %s\n", conds);
        return 1;
    }
    if (has_flag(argc, argv, "--bias")) {
        hiss_tensor b = hiss_model_tensor_by_name(m, "input_proj.bias");
        for (size_t i = 0; i < b.numel; i++)
            b.data[i] = (float)(0.5 * sin(1.0 + 2.0 * (double)i));
    }
    if (identity) {
        const char *names[2] = {"output_proj.weight", "output_proj.bias"};
        for (int k = 0; k < 2; k++) {
            hiss_tensor t = hiss_model_tensor_by_name(m, names[k]);
            if (!t.data) {
                fprintf(stderr, "render_check: no tensor %s\n", names[k]);
                return 1;
            }
            memset(t.data, 0, t.numel * sizeof(float));
        }
    }
    if (hiss_model_save(m, argv[2], &err) != HISS_OK) {
        fprintf(stderr, "render_check: save: %s\n", err.msg);
        return 1;
    }
    hiss_model_free(m);
    return 0;
}

static int cmd_engine(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    hiss_model *m = NULL;
    hiss_error err = {0};
    if (hiss_model_load(argv[2], &m, &err) != HISS_OK) {
        fprintf(stderr, "render_check: %s\n", err.msg);
        return 1;
    }
    audio in, out;
    if (load(argv[3], &in) || load(argv[4], &out))
        return 1;
    int mono = has_flag(argc, argv, "--mono");
    double gin = pow(10.0, num_after(argc, argv, "--gain-in", 0.0) / 20.0);
    double gout = pow(10.0, num_after(argc, argv, "--gain-out", 0.0) / 20.0);
    double mix = num_after(argc, argv, "--mix", 1.0);
    double tol = num_after(argc, argv, "--tol", 1e-6);
    int clip_bits = (int)num_after(argc, argv, "--clip", 0.0);
    double clip_hi = clip_bits ? 1.0 - ldexp(1.0, 1 - clip_bits) : INFINITY;
    double clip_lo = clip_bits ? -1.0 : -INFINITY;
    long n_clipped = 0;
    int ch = mono ? 1 : in.channels;
    if (out.channels != ch || out.frames != in.frames || out.rate != in.rate) {
        fprintf(stderr, "FAIL engine: OUT is %d ch x %d frames at %d Hz, expected %d x %d at %d\n",
                out.channels, out.frames, out.rate, ch, in.frames, in.rate);
        return 1;
    }
    const int blk = 4096;
    float *x = malloc((size_t)in.frames * sizeof(float) + 1);
    float *y = malloc((size_t)in.frames * sizeof(float) + 1);
    double max_err = 0.0, max_ref = 0.0, worst_out = 0.0, worst_exp = 0.0;
    int worst_i = -1;
    for (int c = 0; c < ch; c++) {
        for (int i = 0; i < in.frames; i++) {
            double s = 0.0;
            if (mono) {
                for (int k = 0; k < in.channels; k++)
                    s += in.x[(size_t)i * in.channels + k];
                s /= in.channels;
            } else {
                s = in.x[(size_t)i * in.channels + c];
            }
            x[i] = (float)s;
            y[i] = (float)(s * gin);
        }
        hiss_stream_opts so = hiss_stream_opts_default();
        so.n_streams = 1;
        so.max_block = blk;
        so.host_rate = in.rate;
        so.rate_mode = has_flag(argc, argv, "--delta") ? HISS_RATE_DELTA : HISS_RATE_STRICT;
        so.backend = HISS_BACKEND_CPU;
        hiss_stream *s = NULL;
        if (hiss_stream_create(m, &so, &s, &err) != HISS_OK) {
            fprintf(stderr, "render_check: %s\n", err.msg);
            return 1;
        }
        for (int i = 0; i < argc - 1; i++)
            if (strcmp(argv[i], "--cond") == 0) {
                int idx = atoi(argv[i + 1]);
                const char *eq = strchr(argv[i + 1], '=');
                hiss_stream_set_cond(s, 0, idx, (float)atof(eq ? eq + 1 : "0"));
            }
        for (int i = 0; i < in.frames; i += blk) {
            int n = in.frames - i < blk ? in.frames - i : blk;
            float *p = y + i;
            hiss_stream_process(s, (const float *const *)&p, &p, n);
        }
        hiss_stream_free(s);
        for (int i = 0; i < in.frames; i++) {
            double e = gout * ((1.0 - mix) * x[i] + mix * y[i]);
            if (e > clip_hi || e < clip_lo) {
                e = e > clip_hi ? clip_hi : clip_lo;
                n_clipped++;
            }
            double d = fabs(out.x[(size_t)i * ch + c] - e);
            if (d > max_err) {
                max_err = d;
                worst_i = i;
                worst_out = out.x[(size_t)i * ch + c];
                worst_exp = e;
            }
            if (fabs(e) > max_ref)
                max_ref = fabs(e);
        }
    }
    printf("engine: %d ch x %d frames, max |expected| %.6g, %ld clipped, max error %.3g (tol %.3g)"
           " at frame %d (%.9g, expected %.9g)\n",
           ch, in.frames, max_ref, n_clipped, max_err, tol, worst_i, worst_out, worst_exp);
    hiss_model_free(m);
    free(x);
    free(y);
    free(in.x);
    free(out.x);
    if (max_ref < 1e-3) {
        fprintf(stderr, "FAIL engine: the expected output is silent; the test proves nothing\n");
        return 1;
    }
    if (!(max_err <= tol)) {
        fprintf(stderr, "FAIL engine: max error %.3g > %.3g\n", max_err, tol);
        return 1;
    }
    return 0;
}

static int cmd_cmp(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    audio a, b;
    if (load(argv[2], &a) || load(argv[3], &b))
        return 1;
    if (a.frames != b.frames || a.channels != b.channels) {
        fprintf(stderr, "FAIL cmp: %d x %d vs %d x %d\n", a.channels, a.frames, b.channels,
                b.frames);
        return 1;
    }
    double scale = num_after(argc, argv, "--scale", 1.0);
    double tol = num_after(argc, argv, "--tol", 0.0);
    const char *min_diff = arg_after(argc, argv, "--min-diff");
    double max_err = 0.0, max_a = 0.0;
    size_t n = (size_t)a.frames * (size_t)a.channels;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)b.x[i] - scale * (double)a.x[i]);
        if (!(d <= max_err))
            max_err = d;
        if (fabs(a.x[i]) > max_a)
            max_a = fabs(a.x[i]);
    }
    printf("cmp: %zu samples, max |A| %.6g, max |B - %g*A| = %.3g\n", n, max_a, scale, max_err);
    free(a.x);
    free(b.x);
    if (max_a < 1e-3) {
        fprintf(stderr, "FAIL cmp: A is silent; the test would prove nothing\n");
        return 1;
    }
    if (min_diff) {
        if (!(max_err > atof(min_diff))) {
            fprintf(stderr, "FAIL cmp: files differ by %.3g, expected more than %s\n", max_err,
                    min_diff);
            return 1;
        }
        return 0;
    }
    if (!(max_err <= tol)) {
        fprintf(stderr, "FAIL cmp: %.3g > tol %.3g\n", max_err, tol);
        return 1;
    }
    return 0;
}

static int cmd_aligned(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    audio a, b;
    if (load(argv[2], &a) || load(argv[3], &b))
        return 1;
    if (a.frames != b.frames || a.channels != b.channels) {
        fprintf(stderr, "FAIL aligned: %d x %d vs %d x %d frames\n", a.channels, a.frames,
                b.channels, b.frames);
        return 1;
    }
    double max_db = num_after(argc, argv, "--max-err-db", -60.0);
    int max_lag = (int)num_after(argc, argv, "--max-lag", 64);
    size_t n = (size_t)a.frames * (size_t)a.channels;
    double e = 0.0, r = 0.0;
    size_t pa = 0, pb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)b.x[i] - (double)a.x[i];
        e += d * d;
        r += (double)a.x[i] * a.x[i];
        if (fabs(a.x[i]) > fabs(a.x[pa]))
            pa = i;
        if (fabs(b.x[i]) > fabs(b.x[pb]))
            pb = i;
    }
    double err_db = 10.0 * log10(e / r);
    int best = 0;
    double best_v = -1e300;
    for (int lag = -max_lag; lag <= max_lag; lag++) {
        double acc = 0.0;
        for (int i = 0; i < a.frames; i++) {
            int k = i + lag;
            if (k < 0 || k >= a.frames)
                continue;
            for (int c = 0; c < a.channels; c++)
                acc += (double)a.x[(size_t)i * a.channels + c] * b.x[(size_t)k * a.channels + c];
        }
        if (acc > best_v) {
            best_v = acc;
            best = lag;
        }
    }
    printf("aligned: %d frames, error %.2f dB (limit %.1f), xcorr peak at lag %d, peaks at %zu / "
           "%zu\n",
           a.frames, err_db, max_db, best, pa / (size_t)a.channels, pb / (size_t)a.channels);
    free(a.x);
    free(b.x);
    int ok = err_db <= max_db && best == 0 && (!has_flag(argc, argv, "--peak") || pa == pb);
    if (!ok)
        fprintf(stderr, "FAIL aligned\n");
    return ok ? 0 : 1;
}

static int cmd_format(int argc, char **argv)
{
    if (argc < 8)
        return 2;
    SF_INFO info = {0};
    SNDFILE *f = sf_open(argv[2], SFM_READ, &info);
    if (!f) {
        fprintf(stderr, "FAIL format: %s: %s\n", argv[2], sf_strerror(NULL));
        return 1;
    }
    sf_close(f);
    int major = info.format & SF_FORMAT_TYPEMASK, sub = info.format & SF_FORMAT_SUBMASK;
    int want_major = strcmp(argv[3], "flac") == 0 ? SF_FORMAT_FLAC
                     : strcmp(argv[3], "aiff") == 0 ? SF_FORMAT_AIFF
                                                    : SF_FORMAT_WAV;
    int want_sub = strcmp(argv[4], "float") == 0 ? SF_FORMAT_FLOAT
                   : strcmp(argv[4], "24") == 0  ? SF_FORMAT_PCM_24
                                                 : SF_FORMAT_PCM_16;
    long ch = atol(argv[5]), frames = atol(argv[6]), rate = atol(argv[7]);
    printf("format: %s major %#x sub %#x, %d ch, %ld frames, %d Hz\n", argv[2], major, sub,
           info.channels, (long)info.frames, info.samplerate);
    if (major != want_major || sub != want_sub || (ch >= 0 && info.channels != ch) ||
        (frames >= 0 && info.frames != frames) || (rate >= 0 && info.samplerate != rate)) {
        fprintf(stderr, "FAIL format: expected %s/%s, %ld ch, %ld frames, %ld Hz\n", argv[3],
                argv[4], ch, frames, rate);
        return 1;
    }
    return 0;
}

static int cmd_click(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    SF_INFO info = {0};
    info.samplerate = atoi(argv[3]);
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    int n = atoi(argv[4]), at = atoi(argv[5]);
    if (n < 1 || at < 0 || at >= n)
        return 2;
    SNDFILE *f = sf_open(argv[2], SFM_WRITE, &info);
    if (!f)
        return 1;
    float *x = calloc((size_t)n, sizeof(float));
    x[at] = 0.5f;
    sf_writef_float(f, x, n);
    sf_close(f);
    free(x);
    return 0;
}

static int cmd_finite(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    audio a;
    if (load(argv[2], &a))
        return 1;
    size_t n = (size_t)a.frames * (size_t)a.channels, bad = 0;
    double peak = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a.x[i]))
            bad++;
        else if (fabs(a.x[i]) > peak)
            peak = fabs(a.x[i]);
    }
    printf("finite: %zu samples, %zu non-finite, peak %.4f\n", n, bad, peak);
    free(a.x);
    if (bad || peak < 1e-3) {
        fprintf(stderr, "FAIL finite\n");
        return 1;
    }
    return 0;
}

static int cmd_nanfile(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    SF_INFO info = {0};
    info.samplerate = 48000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *f = sf_open(argv[2], SFM_WRITE, &info);
    if (!f)
        return 1;
    enum { N = 4800 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = 0.5f * sinf(2.0f * 3.14159265f * 440.0f * (float)i / 48000.0f);
    x[100] = NAN;
    x[2000] = INFINITY;
    x[3000] = -INFINITY;
    sf_writef_float(f, x, N);
    sf_close(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: render_check "
                        "mkmodel|engine|cmp|aligned|format|nanfile|finite|click ...\n");
        return 2;
    }
    const char *c = argv[1];
    int rc = strcmp(c, "mkmodel") == 0 ? cmd_mkmodel(argc, argv)
             : strcmp(c, "engine") == 0  ? cmd_engine(argc, argv)
             : strcmp(c, "cmp") == 0     ? cmd_cmp(argc, argv)
             : strcmp(c, "aligned") == 0 ? cmd_aligned(argc, argv)
             : strcmp(c, "format") == 0  ? cmd_format(argc, argv)
             : strcmp(c, "nanfile") == 0 ? cmd_nanfile(argc, argv)
             : strcmp(c, "finite") == 0  ? cmd_finite(argc, argv)
             : strcmp(c, "click") == 0   ? cmd_click(argc, argv)
                                         : 2;
    if (rc == 2)
        fprintf(stderr, "render_check: bad arguments for '%s'\n", c);
    return rc;
}
