/* hiss-train end to end, as a user runs it: two recording pairs with a conditioning input
 * written as WAV files, a short training run, and then what it promises:
 *   - the model, checkpoint, CSV log and PNG plot are written; the model loads in the engine
 *     with the conditioning input's name and the training metadata;
 *   - stopping after one epoch and resuming gives the same model and checkpoint bytes as one
 *     uninterrupted run (the checkpoint holds everything the run depends on);
 *   - bad data is refused with a message naming the file (lengths that differ), a delayed wet
 *     file is warned about, and a usage error exits with 2. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sndfile.h>

#include "hiss.h"
#include "ref_rng.h"

#define RATE 48000
#define N (3 * RATE)

static char dir[1024];
static int fails;

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static int write_wav(const char *name, const float *x, int n)
{
    char p[1200];
    path(p, sizeof p, name);
    SF_INFO info = {0};
    info.samplerate = RATE;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *sf = sf_open(p, SFM_WRITE, &info);
    if (!sf)
        return -1;
    const sf_count_t w = sf_writef_float(sf, x, n);
    sf_close(sf);
    return w == n ? 0 : -1;
}

/* Runs hiss-train with args, output to log; returns the exit status. */
static int run(const char *args, const char *log)
{
    char cmd[4096], lp[1200];
    path(lp, sizeof lp, log);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > '%s' 2>&1", dir, HT_TRAIN_EXE, args, lp);
    const int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    fails += !ok;
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

static int contains(const char *file, const char *needle)
{
    char *s = slurp(file, NULL);
    const int r = s && strstr(s, needle);
    if (!r && s)
        printf("---- %s ----\n%s-----\n", file, s);
    free(s);
    return r;
}

/* Every parameter tensor bit-identical (the metadata records the command line and date, which
 * differ between the runs by design). */
static int same_tensors(const char *a, const char *b)
{
    hiss_model *ma = NULL, *mb = NULL;
    char pa[1200], pb[1200];
    path(pa, sizeof pa, a);
    path(pb, sizeof pb, b);
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
    snprintf(dir, sizeof dir, "%s", HT_TMP_DIR);
    mkdir(dir, 0755);
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int k = 0; k < 2; k++) {
        ref_rng r = ref_rng_seed(10 + k);
        const double drive = k ? 0.8 : 0.2;
        double lp = 0;
        for (int t = 0; t < N; t++) {
            x[t] = (float)(0.4 * ref_rng_sym(&r) + 0.3 * sin(0.01 * t));
            lp += 0.25 * (x[t] - lp);
            y[t] = (float)tanh((1 + 4 * drive) * lp);
        }
        char dn[32], wn[32];
        snprintf(dn, sizeof dn, "dry%d.wav", k);
        snprintf(wn, sizeof wn, "wet%d.wav", k);
        if (write_wav(dn, x, N) || write_wav(wn, y, N)) {
            printf("FAIL: cannot write the test's WAV files in %s\n", dir);
            return 1;
        }
        if (k == 0) {
            /* the same wet, 10 ms late; and one 1 s short */
            float *late = calloc(N, sizeof *late);
            memcpy(late + RATE / 100, y, (N - RATE / 100) * sizeof *late);
            if (write_wav("wet0_late.wav", late, N) || write_wav("wet0_short.wav", y, N - RATE))
                return 1;
            free(late);
        }
    }
    const char *common = "--dry dry0.wav --wet wet0.wav --cond drive=0.2 --dry dry1.wav --wet "
                         "wet1.wav --cond drive=0.8 --d-model 8 --d-state 4 --epochs 2 "
                         "--steps-per-epoch 6 --window 1024 --warmup 128 --batch 4 --threads 2 "
                         "--val-seconds 0.5";
    char args[2048];
    snprintf(args, sizeof args, "%s -o A.safetensors", common);
    int st = run(args, "A.log");
    check(st == 0, "a two-epoch run succeeds");
    check(contains("A.log", "epoch 2/2") && contains("A.log", "done: best epoch"),
          "it reports every epoch and the best one");
    char *csv = slurp("A.csv", NULL);
    int lines = 0;
    for (char *c = csv; c && *c; c++)
        lines += *c == '\n';
    check(csv && strncmp(csv, "epoch,step,lr,train_loss", 24) == 0 && lines == 3,
          "the CSV log has a header and one line per epoch");
    free(csv);
    size_t png_len = 0;
    char *png = slurp("A.png", &png_len);
    check(png && png_len > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "the plot is a PNG");
    free(png);

    char mp[1200];
    path(mp, sizeof mp, "A.safetensors");
    hiss_model *m = NULL;
    hiss_error err;
    const int loaded = hiss_model_load(mp, &m, &err) == HISS_OK;
    check(loaded, "the model loads in the engine");
    if (loaded) {
        const hiss_config *c = hiss_model_config(m);
        const char *ve = hiss_model_meta(m, "hiss.train.val_esr");
        check(c->d_model == 8 && c->d_state == 4 && c->n_cond == 1 && c->sample_rate == RATE,
              "with the configuration asked for");
        check(strcmp(hiss_model_cond_name(m, 0), "drive") == 0, "its conditioning input is "
                                                                "named drive");
        check(ve && isfinite(atof(ve)), "it records the validation ESR");
        hiss_model_free(m);
    }

    snprintf(args, sizeof args, "%s -o B.safetensors --stop-after 1", common);
    st = run(args, "B1.log");
    check(st == 0 && contains("B1.log", "continue with --resume"), "--stop-after 1 stops");
    snprintf(args, sizeof args, "%s -o B.safetensors --resume", common);
    st = run(args, "B2.log");
    check(st == 0 && contains("B2.log", "resuming from"), "--resume continues");
    check(same_tensors("A.safetensors", "B.safetensors") && same_file("A.ckpt", "B.ckpt"),
          "stop + resume gives the parameters and checkpoint bytes of one uninterrupted run");

    st = run("--dry dry0.wav --wet wet0_short.wav -o C.safetensors", "C.log");
    check(st == 1 && contains("C.log", "dry0.wav has 144000 frames and wet0_short.wav 96000"),
          "files of different lengths are refused, naming the files");
    snprintf(args, sizeof args,
             "--dry dry0.wav --wet wet0_late.wav -o D.safetensors --epochs 1 --steps-per-epoch 1 "
             "--window 1024 --warmup 128 --batch 2");
    st = run(args, "D.log");
    check(st == 0 && contains("D.log", "behind the dry one by 480 samples"),
          "a wet file 10 ms late is warned about");
    st = run("--dry dry0.wav -o E.safetensors", "E.log");
    check(st == 2 && contains("E.log", "has no partner"), "a --dry without --wet is a usage error");
    printf(fails ? "FAIL: %d checks\n" : "hiss-train works end to end\n", fails);
    free(x);
    free(y);
    return fails ? 1 : 0;
}
