/* hiss-train --synth end to end, as a user runs it, on notes the test writes in the format of
 * tools/data/make-synth-data.sh (a manifest, float WAVs, notes files; the checksums in the
 * manifest by the system's sha256sum, an implementation independent of hiss-train's):
 *   - the model, checkpoint, CSV log and PNG plot are written; the model loads as a synth
 *     model with the features asked for; its metadata hold the data files' SHA-256 (as
 *     sha256sum computes them), the instrument of the manifest, the MACs per sample, and the
 *     validation cross-entropy, which the test recomputes through the engine itself;
 *   - stopping after one epoch and resuming gives the parameters and checkpoint bytes of one
 *     uninterrupted run; with --input-noise too, which the checkpoint keeps: the resumed run
 *     needs no --input-noise, refuses another, and a version 2 checkpoint (written before it
 *     was kept) resumes with the one given;
 *   - --self-feed 0 trains the very model (and checkpoint bytes) of a run without the option;
 *     --self-feed 0.5 another one, the same for 1 and 2 threads; the checkpoint keeps it and its
 *     ramp (a stopped run resumed without them is the uninterrupted run; another value is
 *     refused, naming the checkpoint and both); a version 3 checkpoint (before self-feed) resumes
 *     as trained without it; values out of range are usage errors naming the option;
 *   - a data file changed after the manifest was written is refused, naming it; a missing
 *     --notes is a usage error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "ref_rng.h"
#include "train_cli_util.h"

#define RATE 16000
#define N_TRAIN 10
#define N_VAL 3

/* sha256sum's digest of a file in dir (hex), or "" */
static void sha256sum(const tcli *t, const char *name, char hex[65])
{
    char cmd[1400];
    hex[0] = 0;
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum '%s' 2>/dev/null", t->dir, name);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (fscanf(p, "%64s", hex) != 1)
        hex[0] = 0;
    pclose(p);
}

typedef struct split {
    int count;
    int note[16], vel[16];
    size_t len[16], on[16];
    float *x;
    size_t n;
} split;

/* A plucked-ish tone at each note's pitch: decaying while held, faster after the key-up. */
static split make_split(const tcli *t, const char *name, int count, uint64_t seed)
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
    tcli_path(t, p, sizeof p, notes);
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
    if (tcli_write_wav(t, wav, s.x, s.n, RATE))
        s.count = 0; /* main says it */
    return s;
}

static int write_manifest(const tcli *t)
{
    char h[4][65];
    const char *files[4] = {"train.wav", "train.notes", "val.wav", "val.notes"};
    for (int i = 0; i < 4; i++) {
        sha256sum(t, files[i], h[i]);
        if (strlen(h[i]) != 64)
            return -1;
    }
    char p[1200];
    tcli_path(t, p, sizeof p, "manifest.json");
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

static int same_tensors(const tcli *t, const char *a, const char *b)
{
    char pa[1200], pb[1200];
    tcli_path(t, pa, sizeof pa, a);
    tcli_path(t, pb, sizeof pb, b);
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

/* The checkpoint `name` rewritten as an older version: 2, the synth checkpoint before it kept
 * the input noise, or 3, before it kept self-feed: the same bytes with that version and without
 * the fields it did not have, which follow the feature list (tools/train/checkpoint.c: magic,
 * version, 6 numbers, 10 fields, head bias, feature list length and text, input noise,
 * self-feed, its ramp, then the tensors). 0, or -1. */
static int checkpoint_as(const tcli *t, const char *name, int version)
{
    size_t n;
    unsigned char *b = (unsigned char *)tcli_slurp(t, name, &n);
    const size_t at_len = 8 + 8 + 6 * 8 + 10 * 8 + 8;
    if (!b || n < at_len + 8 || b[8] != 4) {
        free(b);
        return -1;
    }
    uint64_t nc = 0;
    for (int i = 0; i < 8; i++)
        nc |= (uint64_t)b[at_len + (size_t)i] << (8 * i);
    const size_t noise = at_len + 8 + (size_t)nc, cut = version == 2 ? noise : noise + 8;
    const size_t drop = noise + 24 - cut;
    if (noise + 24 > n) {
        free(b);
        return -1;
    }
    b[8] = (unsigned char)version;
    char p[1200];
    tcli_path(t, p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    const int bad = !f || fwrite(b, 1, cut, f) != cut ||
                    fwrite(b + cut + drop, 1, n - cut - drop, f) != n - cut - drop;
    if (f)
        fclose(f);
    free(b);
    return bad ? -1 : 0;
}

int main(void)
{
    tcli T;
    tcli *t = &T;
    tcli_init(t, HT_TMP_DIR, HT_TRAIN_EXE, "SOURCE_DATE_EPOCH=1 ", "--synth ");
    split tr = make_split(t, "train", N_TRAIN, 1), va = make_split(t, "val", N_VAL, 2);
    if (!tr.count || !va.count) {
        printf("FAIL: cannot write the test's WAV files in %s\n", t->dir);
        return 1;
    }
    if (write_manifest(t)) {
        printf("skipped: sha256sum (coreutils) is needed to write the test's manifest\n");
        return 77;
    }
    const char *common = "--notes . --cond pitch,velocity,gate,sin1,cos1 --d-model 8 --n-layer 1 "
                         "--d-state 4 --epochs 3 --window 256 --batch 3 --threads 2";
    char args[2048];
    snprintf(args, sizeof args, "%s -o A.safetensors", common);
    int st = tcli_run(t, args, "A.log");
    tcli_check(t, st == 0, "a three-epoch run succeeds");
    tcli_check(t, tcli_contains(t, "A.log", "epoch 3/3") &&
                      tcli_contains(t, "A.log", "done: best epoch"),
               "it reports every epoch and the best one");
    tcli_check_csv(t, "A.csv", "epoch,step,lr,train_bits,val_bits", 3);
#ifdef HT_HAVE_PLOT
    tcli_check_png(t, "A.png");
#endif
    char mp[1200];
    tcli_path(t, mp, sizeof mp, "A.safetensors");
    hiss_synth_model *m = NULL;
    hiss_error err;
    const int loaded = hiss_synth_model_load(mp, &m, &err) == HISS_OK;
    tcli_check(t, loaded, "the model loads as a synth model");
    if (loaded) {
        const hiss_config *c = hiss_synth_model_config(m);
        tcli_check(t,
                   c->d_model == 8 && c->n_layer == 1 && c->d_state == 4 && c->n_cond == 5 &&
                       c->sample_rate == RATE &&
                       hiss_synth_model_feature(m, 3) == HISS_SYNTH_F_SIN1,
                   "with the configuration and features asked for");
        char want[65], needle[128];
        sha256sum(t, "train.wav", want);
        snprintf(needle, sizeof needle, "train.wav=%s", want);
        const char *ds = hiss_synth_model_meta(m, "hiss.train.data_sha256");
        tcli_check(t, ds && strstr(ds, needle),
                   "it records train.wav's SHA-256 as sha256sum has it");
        sha256sum(t, "val.notes", want);
        snprintf(needle, sizeof needle, "val.notes=%s", want);
        tcli_check(t, ds && strstr(ds, needle), "and val.notes's");
        const char *ins = hiss_synth_model_meta(m, "hiss.synth.instrument");
        const char *prog = hiss_synth_model_meta(m, "hiss.synth.program");
        tcli_check(t, ins && strstr(ins, "Test Tone") && prog && strcmp(prog, "42") == 0,
                   "it names the instrument of the manifest");
        /* docs/model-format.md's count per layer, and the synth head */
        const long dm = 8, di = 16, N = 4, R = 1, K = 4, nc = 5;
        const long macs = 2 * di * dm + di * K + (R + 2 * N) * di + di * R + 3 * di * N + di +
                          dm * di + 2 * dm + nc * dm + dm + 2 * dm + 256 * dm + 256;
        const char *mc = hiss_synth_model_meta(m, "hiss.macs_per_sample");
        tcli_check(t, mc && atol(mc) == macs, "it records the MACs per sample");
        const char *vb = hiss_synth_model_meta(m, "hiss.train.val_nll_bits");
        const double mine = val_bits(m, &va);
        printf("      validation: recorded %s bits/sample, recomputed %.6f\n", vb ? vb : "(none)",
               mine);
        tcli_check(t, vb && fabs(atof(vb) - mine) < 1e-5 * mine,
                   "the recorded validation cross-entropy is the engine's, teacher-forced");
        hiss_synth_model_free(m);
    }

    tcli_check_stop_resume(t, common, "B", "A", same_tensors);

    /* --input-noise: kept by the checkpoint, so the resumed run below is given none */
    char noisy[1024];
    snprintf(noisy, sizeof noisy, "%s --input-noise 2", common);
    snprintf(args, sizeof args, "%s -o N.safetensors", noisy);
    st = tcli_run(t, args, "N.log");
    tcli_check(t, st == 0 && !same_tensors(t, "A.safetensors", "N.safetensors"),
               "--input-noise 2 trains another model than no noise");
    snprintf(args, sizeof args, "%s -o M.safetensors --stop-after 1", noisy);
    st = tcli_run(t, args, "M1.log");
    snprintf(args, sizeof args, "%s -o M.safetensors --resume", common);
    int st2 = tcli_run(t, args, "M2.log");
    tcli_check(t,
               st == 0 && st2 == 0 && tcli_contains(t, "M2.log", "input noise come from") &&
                   same_tensors(t, "N.safetensors", "M.safetensors") &&
                   tcli_same_file(t, "N.ckpt", "M.ckpt"),
               "--resume without --input-noise continues with the checkpoint's: the parameters "
               "and checkpoint bytes of one uninterrupted run");
    snprintf(args, sizeof args, "%s -o X.safetensors --checkpoint M.ckpt --resume --input-noise 3",
             common);
    st = tcli_run(t, args, "X.log");
    tcli_check(t,
               st == 1 && tcli_contains(t, "X.log", "--input-noise 3, but M.ckpt was trained "
                                                    "with --input-noise 2"),
               "--resume with another --input-noise is refused, naming the checkpoint and both");
    snprintf(args, sizeof args, "%s -o O.safetensors --stop-after 1", noisy);
    st = tcli_run(t, args, "O1.log");
    const int v2 = st == 0 ? checkpoint_as(t, "O.ckpt", 2) : -1;
    snprintf(args, sizeof args, "%s -o O.safetensors --resume", noisy);
    st = tcli_run(t, args, "O2.log");
    tcli_check(t,
               v2 == 0 && st == 0 &&
                   tcli_contains(t, "O2.log", "does not record the input noise") &&
                   same_tensors(t, "N.safetensors", "O.safetensors"),
               "a version 2 checkpoint resumes with the --input-noise given");

    /* --self-feed */
    snprintf(args, sizeof args, "%s -o Z.safetensors --self-feed 0", common);
    st = tcli_run(t, args, "Z.log");
    tcli_check(t,
               st == 0 && same_tensors(t, "A.safetensors", "Z.safetensors") &&
                   tcli_same_file(t, "A.ckpt", "Z.ckpt"),
               "--self-feed 0 trains the model and checkpoint of a run without the option");
    char fed[1024];
    snprintf(fed, sizeof fed, "%s --self-feed 0.5", common);
    snprintf(args, sizeof args, "%s -o S.safetensors", fed);
    st = tcli_run(t, args, "S.log");
    tcli_check(t,
               st == 0 && tcli_contains(t, "S.log", "own draw with probability 0.5") &&
                   !same_tensors(t, "A.safetensors", "S.safetensors"),
               "--self-feed 0.5 trains another model than teacher forcing, and says so");
    snprintf(args, sizeof args, "%s -o S1.safetensors --threads 1", fed);
    st = tcli_run(t, args, "S1.log");
    tcli_check(t,
               st == 0 && same_tensors(t, "S.safetensors", "S1.safetensors") &&
                   tcli_same_file(t, "S.ckpt", "S1.ckpt"),
               "--self-feed 0.5: 1 thread trains the model and checkpoint of 2 threads");
    snprintf(args, sizeof args, "%s -o SR.safetensors --stop-after 1", fed);
    st = tcli_run(t, args, "SR1.log");
    snprintf(args, sizeof args, "%s -o SR.safetensors --resume", common);
    st2 = tcli_run(t, args, "SR2.log");
    tcli_check(t,
               st == 0 && st2 == 0 && tcli_contains(t, "SR2.log", "self-feed and input noise") &&
                   same_tensors(t, "S.safetensors", "SR.safetensors") &&
                   tcli_same_file(t, "S.ckpt", "SR.ckpt"),
               "--resume without --self-feed continues with the checkpoint's: the uninterrupted "
               "run");
    snprintf(args, sizeof args,
             "%s -o X.safetensors --checkpoint SR.ckpt --resume --self-feed 0.25", common);
    st = tcli_run(t, args, "XS.log");
    tcli_check(t,
               st == 1 && tcli_contains(t, "XS.log", "--self-feed 0.25, but SR.ckpt was trained "
                                                     "with --self-feed 0.5"),
               "--resume with another --self-feed is refused, naming the checkpoint and both");
    snprintf(args, sizeof args, "%s -o X.safetensors --checkpoint SR.ckpt --resume "
                                "--self-feed-ramp 2",
             common);
    st = tcli_run(t, args, "XR.log");
    tcli_check(t,
               st == 1 && tcli_contains(t, "XR.log", "--self-feed-ramp 2, but SR.ckpt was "
                                                     "trained with --self-feed-ramp 0"),
               "--resume with another --self-feed-ramp is refused likewise");
    /* the ramp: epoch 0 at 0, epoch 1 at 0.25, epoch 2 at 0.5; kept across a resume */
    snprintf(args, sizeof args, "%s -o R.safetensors --self-feed-ramp 2", fed);
    st = tcli_run(t, args, "R.log");
    snprintf(args, sizeof args, "%s -o RR.safetensors --self-feed-ramp 2 --stop-after 1", fed);
    st2 = tcli_run(t, args, "RR1.log");
    snprintf(args, sizeof args, "%s -o RR.safetensors --resume", common);
    const int st3 = tcli_run(t, args, "RR2.log");
    tcli_check(t,
               st == 0 && st2 == 0 && st3 == 0 &&
                   tcli_contains(t, "R.log", "ramped up from 0 over the first 2 epochs") &&
                   !same_tensors(t, "R.safetensors", "S.safetensors") &&
                   !same_tensors(t, "R.safetensors", "A.safetensors") &&
                   same_tensors(t, "R.safetensors", "RR.safetensors") &&
                   tcli_same_file(t, "R.ckpt", "RR.ckpt"),
               "--self-feed-ramp 2 trains a third model; resumed without options, the "
               "uninterrupted run");
    /* a version 3 checkpoint: trained before self-feed existed, so without it */
    snprintf(args, sizeof args, "%s -o V.safetensors --stop-after 1", common);
    st = tcli_run(t, args, "V1.log");
    const int v3 = st == 0 ? checkpoint_as(t, "V.ckpt", 3) : -1;
    snprintf(args, sizeof args, "%s -o W.safetensors --checkpoint V.ckpt --resume --self-feed 0.5",
             common);
    st = tcli_run(t, args, "W.log");
    tcli_check(t,
               v3 == 0 && st == 1 && tcli_contains(t, "W.log", "trained with --self-feed 0:"),
               "a version 3 checkpoint was trained without self-feed: --self-feed 0.5 is refused");
    snprintf(args, sizeof args, "%s -o V.safetensors --resume", common);
    st = tcli_run(t, args, "V2.log");
    tcli_check(t,
               v3 == 0 && st == 0 && same_tensors(t, "A.safetensors", "V.safetensors") &&
                   tcli_same_file(t, "A.ckpt", "V.ckpt"),
               "a version 3 checkpoint resumes as before (and is written back as version 4)");
    const char *bad_values[][2] = {{"--self-feed 1.5", "--self-feed '1.5'"},
                                   {"--self-feed -0.1", "--self-feed '-0.1'"},
                                   {"--self-feed nan", "--self-feed 'nan'"},
                                   {"--self-feed-ramp -1", "--self-feed-ramp '-1'"}};
    for (size_t k = 0; k < sizeof bad_values / sizeof *bad_values; k++) {
        snprintf(args, sizeof args, "%s -o U.safetensors %s", common, bad_values[k][0]);
        st = tcli_run(t, args, "U.log");
        char what[160];
        snprintf(what, sizeof what, "%s is a usage error naming the option", bad_values[k][0]);
        tcli_check(t, st == 2 && tcli_contains(t, "U.log", bad_values[k][1]), what);
    }
    st = tcli_run(t, "--help", "H.log");
    tcli_check(t,
               st == 0 && tcli_contains(t, "H.log", "--self-feed P") &&
                   tcli_contains(t, "H.log", "--self-feed-ramp E"),
               "--help describes --self-feed and --self-feed-ramp");

    /* a notes file edited after the manifest was written */
    char np[1200];
    tcli_path(t, np, sizeof np, "val.notes");
    FILE *f = fopen(np, "a");
    fputs("# edited\n", f);
    fclose(f);
    st = tcli_run(t, "--notes . -o C.safetensors --epochs 1", "C.log");
    tcli_check(t,
               st == 1 && tcli_contains(t, "C.log", "val.notes: SHA-256") &&
                   tcli_contains(t, "C.log", "changed since it was made"),
               "a data file that changed after its manifest is refused, naming it");
    st = tcli_run(t, "-o D.safetensors", "D.log");
    tcli_check(t, st == 2 && tcli_contains(t, "D.log", "--notes"), "no --notes is a usage error");
    printf(t->fails ? "FAIL: %d checks\n" : "hiss-train --synth works end to end\n", t->fails);
    free(tr.x);
    free(va.x);
    return t->fails ? 1 : 0;
}
