/* hiss-train --synth end to end, as a user runs it, on notes the test writes in the format of
 * tools/data/make-synth-data.sh (a manifest, float WAVs, notes files; the checksums in the
 * manifest by the system's sha256sum, an implementation independent of hiss-train's):
 *   - the model, checkpoint, CSV log and PNG plot are written; the model loads as a synth
 *     model with the features asked for; its metadata hold the data files' SHA-256 (as
 *     sha256sum computes them), the instrument of the manifest, the MACs per sample, and the
 *     validation cross-entropy, which the test recomputes through the engine itself;
 *   - stopping after one epoch and resuming gives the parameters and checkpoint bytes of one
 *     uninterrupted run;
 *   - a data file changed after the manifest was written is refused, naming it; a missing
 *     --notes is a usage error. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hiss_synth.h"
#include "ref_rng.h"

#define RATE 16000
#define N_TRAIN 10
#define N_VAL 3

static char dir[1024];
static int fails;

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    fails += !ok;
}

static char *slurp(const char *name, size_t *len)
{
    char p[1200];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return b;
}

static int contains(const char *file, const char *needle)
{
    char *s = slurp(file, NULL);
    const int r = s && strstr(s, needle);
    if (!r && s)
        printf("---- %s ----\n%s-----\n", file, s);
    free(s);
    return r;
}

static int run(const char *args, const char *log)
{
    char cmd[4096], lp[1200];
    path(lp, sizeof lp, log);
    snprintf(cmd, sizeof cmd, "cd '%s' && SOURCE_DATE_EPOCH=1 '%s' --synth %s > '%s' 2>&1", dir,
             HT_TRAIN_EXE, args, lp);
    const int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* sha256sum's digest of a file in dir (hex), or "" */
static void sha256sum(const char *name, char hex[65])
{
    char cmd[1400];
    hex[0] = 0;
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum '%s' 2>/dev/null", dir, name);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (fscanf(p, "%64s", hex) != 1)
        hex[0] = 0;
    pclose(p);
}

static void write_wav(const char *name, const float *x, size_t n)
{
    char p[1200];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    const uint32_t data = (uint32_t)(n * 4), riff = 4 + 8 + 16 + 8 + data;
    const uint16_t tag = 3, ch = 1, align = 4, bits = 32;
    const uint32_t rate = RATE, bps = RATE * 4, fmt = 16;
    fwrite("RIFF", 1, 4, f);
    fwrite(&riff, 4, 1, f);
    fwrite("WAVEfmt ", 1, 8, f);
    fwrite(&fmt, 4, 1, f);
    fwrite(&tag, 2, 1, f);
    fwrite(&ch, 2, 1, f);
    fwrite(&rate, 4, 1, f);
    fwrite(&bps, 4, 1, f);
    fwrite(&align, 2, 1, f);
    fwrite(&bits, 2, 1, f);
    fwrite("data", 1, 4, f);
    fwrite(&data, 4, 1, f);
    fwrite(x, 4, n, f); /* little-endian hosts (x86, ARM) */
    fclose(f);
}

typedef struct split {
    int count;
    int note[16], vel[16];
    size_t len[16], on[16];
    float *x;
    size_t n;
} split;

/* A plucked-ish tone at each note's pitch: decaying while held, faster after the key-up. */
static split make_split(const char *name, int count, uint64_t seed)
{
    ref_rng r = ref_rng_seed(seed);
    split s = {count, {0}, {0}, {0}, {0}, NULL, 0};
    for (int k = 0; k < count; k++) {
        s.note[k] = 48 + ref_rng_below(&r, 37);
        s.vel[k] = 30 + ref_rng_below(&r, 98);
        s.on[k] = (size_t)(0.05 * RATE) + (size_t)ref_rng_below(&r, RATE / 20);
        s.len[k] = s.on[k] + RATE / 20;
        s.n += s.len[k];
    }
    s.x = malloc(s.n * sizeof *s.x);
    char notes[64], buf[256];
    snprintf(notes, sizeof notes, "%s.notes", name);
    char p[1200];
    path(p, sizeof p, notes);
    FILE *f = fopen(p, "w");
    fprintf(f, "hiss-synth-notes 1\nsample_rate %d\n# start length on_length note velocity\n",
            RATE);
    size_t at = 0;
    for (int k = 0; k < count; k++) {
        const double hz = 440.0 * pow(2.0, (s.note[k] - 69) / 12.0);
        double env = 0.8 * s.vel[k] / 127.0;
        for (size_t i = 0; i < s.len[k]; i++) {
            env *= i < s.on[k] ? 0.9998 : 0.998;
            s.x[at + i] = (float)(env * sin(6.283185307179586 * hz * (double)i / RATE));
        }
        snprintf(buf, sizeof buf, "%zu %zu %zu %d %d\n", at, s.len[k], s.on[k], s.note[k],
                 s.vel[k]);
        fputs(buf, f);
        at += s.len[k];
    }
    fclose(f);
    char wav[64];
    snprintf(wav, sizeof wav, "%s.wav", name);
    write_wav(wav, s.x, s.n);
    return s;
}

static int write_manifest(void)
{
    char h[4][65];
    const char *files[4] = {"train.wav", "train.notes", "val.wav", "val.notes"};
    for (int i = 0; i < 4; i++) {
        sha256sum(files[i], h[i]);
        if (strlen(h[i]) != 64)
            return -1;
    }
    char p[1200];
    path(p, sizeof p, "manifest.json");
    FILE *f = fopen(p, "w");
    fprintf(f,
            "{\"format\": \"hiss-synth-notes 1\", \"sample_rate\": %d,\n"
            " \"instrument\": {\"soundfont\": \"/nowhere/test.sf2\", \"soundfont_sha256\": \"%064d\","
            " \"name\": \"Test Tone\", \"bank\": 0, \"program\": 42},\n"
            " \"splits\": {\"train\": {\"audio\": \"train.wav\", \"audio_sha256\": \"%s\", "
            "\"notes\": \"train.notes\", \"notes_sha256\": \"%s\"},\n"
            "  \"val\": {\"audio\": \"val.wav\", \"audio_sha256\": \"%s\", \"notes\": "
            "\"val.notes\", \"notes_sha256\": \"%s\"}}}\n",
            RATE, 0, h[0], h[1], h[2], h[3]);
    fclose(f);
    return 0;
}

/* Teacher-forced cross-entropy of the val notes through the engine, bits per sample. */
static double val_bits(const hiss_synth_model *m, const split *s)
{
    float state[4096], scratch[4096], cond[16], logits[256];
    if (hiss_synth_state_floats(m) > 4096 || hiss_synth_scratch_floats(m) > 4096)
        return NAN;
    const int nc = hiss_synth_model_config(m)->n_cond;
    double sum = 0;
    size_t at = 0;
    for (int k = 0; k < s->count; k++) {
        memset(state, 0, sizeof state);
        hiss_synth_note ns = hiss_synth_note_start(s->note[k], s->vel[k]);
        int prev = HISS_SYNTH_SILENCE_CLASS;
        for (size_t i = 0; i < s->len[k]; i++) {
            if (i == s->on[k]) {
                ns.gate = 0;
                ns.n_off = 0;
            }
            for (int f = 0; f < nc; f++)
                cond[f] = hiss_synth_feature_value(hiss_synth_model_feature(m, f), &ns, RATE);
            hiss_synth_step(m, state, prev, cond, logits, scratch);
            double mx = logits[0], e = 0;
            for (int c = 1; c < 256; c++)
                mx = fmax(mx, logits[c]);
            for (int c = 0; c < 256; c++)
                e += exp(logits[c] - mx);
            const int y = hiss_synth_mulaw_encode(s->x[at + i]);
            sum += mx + log(e) - logits[y];
            prev = y;
            hiss_synth_note_advance(&ns, RATE);
        }
        at += s->len[k];
    }
    return sum / (double)s->n / log(2.0);
}

static int same_tensors(const char *a, const char *b)
{
    char pa[1200], pb[1200];
    path(pa, sizeof pa, a);
    path(pb, sizeof pb, b);
    hiss_synth_model *ma = NULL, *mb = NULL;
    const char *names[] = {"embedding.weight", "cond_proj.weight", "cond_proj.bias",
                           "backbone.layers.0.mixer.in_proj.weight",
                           "backbone.layers.0.mixer.A_log", "backbone.norm_f.weight",
                           "lm_head.weight", "lm_head.bias"};
    int same = hiss_synth_model_load(pa, &ma, NULL) == HISS_OK &&
               hiss_synth_model_load(pb, &mb, NULL) == HISS_OK &&
               hiss_synth_model_param_count(ma) == hiss_synth_model_param_count(mb);
    for (size_t i = 0; same && i < sizeof names / sizeof *names; i++) {
        hiss_tensor ta = hiss_synth_model_tensor_by_name(ma, names[i]);
        hiss_tensor tb = hiss_synth_model_tensor_by_name(mb, names[i]);
        same = ta.data && tb.data && ta.numel == tb.numel &&
               memcmp(ta.data, tb.data, ta.numel * sizeof(float)) == 0;
    }
    hiss_synth_model_free(ma);
    hiss_synth_model_free(mb);
    return same;
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    const int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", HT_TMP_DIR);
    mkdir(dir, 0755);
    split tr = make_split("train", N_TRAIN, 1), va = make_split("val", N_VAL, 2);
    if (write_manifest()) {
        printf("skipped: sha256sum (coreutils) is needed to write the test's manifest\n");
        return 77;
    }
    const char *common = "--notes . --cond pitch,velocity,gate,sin1,cos1 --d-model 8 --n-layer 1 "
                         "--d-state 4 --epochs 3 --window 256 --batch 3 --threads 2";
    char args[2048];
    snprintf(args, sizeof args, "%s -o A.safetensors", common);
    int st = run(args, "A.log");
    check(st == 0, "a three-epoch run succeeds");
    check(contains("A.log", "epoch 3/3") && contains("A.log", "done: best epoch"),
          "it reports every epoch and the best one");
    char *csv = slurp("A.csv", NULL);
    int lines = 0;
    for (char *c = csv; c && *c; c++)
        lines += *c == '\n';
    check(csv && strncmp(csv, "epoch,step,lr,train_bits,val_bits", 33) == 0 && lines == 4,
          "the CSV log has a header and one line per epoch");
    free(csv);
#ifdef HT_HAVE_PLOT
    size_t png_len = 0;
    char *png = slurp("A.png", &png_len);
    check(png && png_len > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "the plot is a PNG");
    free(png);
#endif
    char mp[1200];
    path(mp, sizeof mp, "A.safetensors");
    hiss_synth_model *m = NULL;
    hiss_error err;
    const int loaded = hiss_synth_model_load(mp, &m, &err) == HISS_OK;
    check(loaded, "the model loads as a synth model");
    if (loaded) {
        const hiss_config *c = hiss_synth_model_config(m);
        check(c->d_model == 8 && c->n_layer == 1 && c->d_state == 4 && c->n_cond == 5 &&
                  c->sample_rate == RATE && hiss_synth_model_feature(m, 3) == HISS_SYNTH_F_SIN1,
              "with the configuration and features asked for");
        char want[65], needle[128];
        sha256sum("train.wav", want);
        snprintf(needle, sizeof needle, "train.wav=%s", want);
        const char *ds = hiss_synth_model_meta(m, "hiss.train.data_sha256");
        check(ds && strstr(ds, needle), "it records train.wav's SHA-256 as sha256sum has it");
        sha256sum("val.notes", want);
        snprintf(needle, sizeof needle, "val.notes=%s", want);
        check(ds && strstr(ds, needle), "and val.notes's");
        const char *ins = hiss_synth_model_meta(m, "hiss.synth.instrument");
        const char *prog = hiss_synth_model_meta(m, "hiss.synth.program");
        check(ins && strstr(ins, "Test Tone") && prog && strcmp(prog, "42") == 0,
              "it names the instrument of the manifest");
        /* docs/model-format.md's count per layer, and the synth head */
        const long dm = 8, di = 16, N = 4, R = 1, K = 4, nc = 5;
        const long macs = 2 * di * dm + di * K + (R + 2 * N) * di + di * R + 3 * di * N + di +
                          dm * di + 2 * dm + nc * dm + dm + 2 * dm + 256 * dm + 256;
        const char *mc = hiss_synth_model_meta(m, "hiss.macs_per_sample");
        check(mc && atol(mc) == macs, "it records the MACs per sample");
        const char *vb = hiss_synth_model_meta(m, "hiss.train.val_nll_bits");
        const double mine = val_bits(m, &va);
        printf("      validation: recorded %s bits/sample, recomputed %.6f\n", vb ? vb : "(none)",
               mine);
        check(vb && fabs(atof(vb) - mine) < 1e-5 * mine,
              "the recorded validation cross-entropy is the engine's, teacher-forced");
        hiss_synth_model_free(m);
    }

    snprintf(args, sizeof args, "%s -o B.safetensors --stop-after 1", common);
    st = run(args, "B1.log");
    check(st == 0 && contains("B1.log", "continue with --resume"), "--stop-after 1 stops");
    snprintf(args, sizeof args, "%s -o B.safetensors --resume", common);
    st = run(args, "B2.log");
    check(st == 0 && contains("B2.log", "resuming from"), "--resume continues");
    check(same_tensors("A.safetensors", "B.safetensors") && same_file("A.ckpt", "B.ckpt"),
          "stop + resume gives the parameters and checkpoint bytes of one uninterrupted run");

    /* a notes file edited after the manifest was written */
    char np[1200];
    path(np, sizeof np, "val.notes");
    FILE *f = fopen(np, "a");
    fputs("# edited\n", f);
    fclose(f);
    st = run("--notes . -o C.safetensors --epochs 1", "C.log");
    check(st == 1 && contains("C.log", "val.notes: SHA-256") &&
              contains("C.log", "changed since it was made"),
          "a data file that changed after its manifest is refused, naming it");
    st = run("-o D.safetensors", "D.log");
    check(st == 2 && contains("D.log", "--notes"), "no --notes is a usage error");
    printf(fails ? "FAIL: %d checks\n" : "hiss-train --synth works end to end\n", fails);
    free(tr.x);
    free(va.x);
    return fails ? 1 : 0;
}
