/* hiss-train end to end, as a user runs it: two recording pairs with a conditioning input
 * written as WAV files, a short training run, and then what it promises:
 *   - the model, checkpoint, CSV log and PNG plot are written; the model loads in the engine
 *     with the conditioning input's name and the training metadata;
 *   - stopping after one epoch and resuming gives the same model and checkpoint bytes as one
 *     uninterrupted run (the checkpoint holds everything the run depends on);
 *   - --epoch-models writes every epoch's model, the best of them the same as -o's;
 *   - bad data is refused with a message naming the file (lengths that differ), a delayed wet
 *     file is warned about, and a usage error exits with 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"
#include "ref_rng.h"
#include "train_cli_util.h"

#define RATE 48000
#define N (3 * RATE)

/* Every parameter tensor bit-identical (the metadata records the command line and date, which
 * differ between the runs by design). */
static int same_tensors(const tcli *t, const char *a, const char *b)
{
    hiss_model *ma = NULL, *mb = NULL;
    char pa[1200], pb[1200];
    tcli_path(t, pa, sizeof pa, a);
    tcli_path(t, pb, sizeof pb, b);
    int same = hiss_model_load(pa, &ma, NULL) == HISS_OK && hiss_model_load(pb, &mb, NULL) == HISS_OK &&
               hiss_model_tensor_count(ma) == hiss_model_tensor_count(mb);
    for (int i = 0; same && i < hiss_model_tensor_count(ma); i++) {
        hiss_tensor ta = hiss_model_tensor(ma, i), tb = hiss_model_tensor(mb, i);
        same = ta.numel == tb.numel && memcmp(ta.data, tb.data, ta.numel * sizeof(float)) == 0;
    }
    hiss_model_free(ma);
    hiss_model_free(mb);
    return same;
}

int main(void)
{
    tcli T;
    tcli *t = &T;
    tcli_init(t, HT_TMP_DIR, HT_TRAIN_EXE, "", "");
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int k = 0; k < 2; k++) {
        ref_rng r = ref_rng_seed(10 + k);
        const double drive = k ? 0.8 : 0.2;
        double lp = 0;
        for (int i = 0; i < N; i++) {
            x[i] = (float)(0.4 * ref_rng_sym(&r) + 0.3 * sin(0.01 * i));
            lp += 0.25 * (x[i] - lp);
            y[i] = (float)tanh((1 + 4 * drive) * lp);
        }
        char dn[32], wn[32];
        snprintf(dn, sizeof dn, "dry%d.wav", k);
        snprintf(wn, sizeof wn, "wet%d.wav", k);
        if (tcli_write_wav(t, dn, x, N, RATE) || tcli_write_wav(t, wn, y, N, RATE)) {
            printf("FAIL: cannot write the test's WAV files in %s\n", t->dir);
            return 1;
        }
        if (k == 0) {
            /* the same wet, 10 ms late; and one 1 s short */
            float *late = calloc(N, sizeof *late);
            memcpy(late + RATE / 100, y, (N - RATE / 100) * sizeof *late);
            if (tcli_write_wav(t, "wet0_late.wav", late, N, RATE) ||
                tcli_write_wav(t, "wet0_short.wav", y, N - RATE, RATE))
                return 1;
            free(late);
        }
    }
    const char *common = "--dry dry0.wav --wet wet0.wav --cond drive=0.2 --dry dry1.wav --wet "
                         "wet1.wav --cond drive=0.8 --d-model 8 --d-state 4 --epochs 2 "
                         "--steps-per-epoch 6 --window 1024 --warmup 128 --batch 4 --threads 2 "
                         "--val-seconds 0.5";
    char args[2048];
    snprintf(args, sizeof args, "%s -o A.safetensors --epoch-models em", common);
    int st = tcli_run(t, args, "A.log");
    tcli_check(t, st == 0, "a two-epoch run succeeds");
    tcli_check(t, tcli_contains(t, "A.log", "epoch 2/2") &&
                      tcli_contains(t, "A.log", "done: best epoch"),
               "it reports every epoch and the best one");
    tcli_check_csv(t, "A.csv", "epoch,step,lr,train_loss", 2);
    tcli_check_png(t, "A.png");

    char mp[1200];
    tcli_path(t, mp, sizeof mp, "A.safetensors");
    hiss_model *m = NULL;
    hiss_error err;
    const int loaded = hiss_model_load(mp, &m, &err) == HISS_OK;
    tcli_check(t, loaded, "the model loads in the engine");
    if (loaded) {
        const hiss_config *c = hiss_model_config(m);
        const char *ve = hiss_model_meta(m, "hiss.train.val_esr");
        tcli_check(t,
                   c->d_model == 8 && c->d_state == 4 && c->n_cond == 1 && c->sample_rate == RATE,
                   "with the configuration asked for");
        tcli_check(t, strcmp(hiss_model_cond_name(m, 0), "drive") == 0,
                   "its conditioning input is named drive");
        tcli_check(t, ve && isfinite(atof(ve)), "it records the validation ESR");
        const char *isa = hiss_model_meta(m, "hiss.train.isa");
        tcli_check(t,
                   isa && (strcmp(isa, "baseline") == 0 || strcmp(isa, "avx2") == 0 ||
                           strcmp(isa, "avx512") == 0 || strcmp(isa, "native") == 0),
                   "it records the float math's instruction set");
        hiss_model_free(m);
    }

    /* --epoch-models: both epochs written, each naming its epoch; the best one is -o's */
    int best = 0;
    if (hiss_model_load(mp, &m, NULL) == HISS_OK) {
        const char *e = hiss_model_meta(m, "hiss.train.epoch");
        best = e ? atoi(e) : 0;
        hiss_model_free(m);
    }
    for (int e = 1; e <= 2; e++) {
        char name[64];
        snprintf(name, sizeof name, "em/epoch-%03d.safetensors", e);
        tcli_path(t, mp, sizeof mp, name);
        const char *v = NULL;
        if (hiss_model_load(mp, &m, NULL) == HISS_OK) {
            v = hiss_model_meta(m, "hiss.train.epoch");
            tcli_check(t, v && atoi(v) == e, "--epoch-models: each epoch's model names its epoch");
            hiss_model_free(m);
        } else
            tcli_check(t, 0, "--epoch-models: every epoch's model is written and loads");
    }
    char bn[64];
    snprintf(bn, sizeof bn, "em/epoch-%03d.safetensors", best);
    tcli_check(t, best >= 1 && best <= 2 && same_tensors(t, bn, "A.safetensors"),
               "--epoch-models: the best epoch's model is the one -o holds");

    tcli_check_stop_resume(t, common, "B", "A", same_tensors);

    st = tcli_run(t, "--dry dry0.wav --wet wet0_short.wav -o C.safetensors", "C.log");
    tcli_check(t,
               st == 1 &&
                   tcli_contains(t, "C.log", "dry0.wav has 144000 frames and wet0_short.wav 96000"),
               "files of different lengths are refused, naming the files");
    snprintf(args, sizeof args,
             "--dry dry0.wav --wet wet0_late.wav -o D.safetensors --epochs 1 --steps-per-epoch 1 "
             "--window 1024 --warmup 128 --batch 2");
    st = tcli_run(t, args, "D.log");
    tcli_check(t, st == 0 && tcli_contains(t, "D.log", "behind the dry one by 480 samples"),
               "a wet file 10 ms late is warned about");
    st = tcli_run(t, "--dry dry0.wav -o E.safetensors", "E.log");
    tcli_check(t, st == 2 && tcli_contains(t, "E.log", "has no partner"),
               "a --dry without --wet is a usage error");
    tcli bad = *t;
    bad.prefix = "HISS_TRAIN_ISA=avx3000 ";
    st = tcli_run(&bad, "--dry dry0.wav --wet wet0.wav -o F.safetensors --epochs 1", "F.log");
    tcli_check(t, st == 1 && tcli_contains(t, "F.log", "HISS_TRAIN_ISA=avx3000: unknown"),
               "an unknown HISS_TRAIN_ISA is refused, naming it");
    printf(t->fails ? "FAIL: %d checks\n" : "hiss-train works end to end\n", t->fails);
    free(x);
    free(y);
    return t->fails ? 1 : 0;
}
