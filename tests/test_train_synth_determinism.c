/* The synth trainer is deterministic: the same seed gives the same model file, byte for byte,
 * after training over several epochs (streams crossing notes and epochs, the batch shrinking at
 * each epoch's end), and for any thread count (each stream's gradient has its own buffer, summed
 * in stream order); another seed gives another file (so the comparison can fail), and training
 * changed the parameters at all. Likewise with input noise and with self-feed (the engine playing
 * each chunk from its own draws, which must not depend on which thread plays it either). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "hiss_train.h"
#include "ref_rng.h"

#define RATE 16000.0
#define N_NOTES 9
#define EPOCHS 3

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* Trains a fresh model (same initialisation every time) and writes it to path; returns the
 * number of steps taken, or -1. */
static long train(const ht_synth_data *d, int threads, uint64_t seed, int noise, double self_feed,
                  const char *path)
{
    hiss_config c = {0};
    c.io = HISS_IO_SYNTH;
    c.d_model = 8;
    c.n_layer = 2;
    c.d_state = 4;
    c.d_conv = 4;
    c.sample_rate = RATE;
    hiss_synth_model *m;
    hiss_error err;
    ht_layout L;
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,sin1,cos1", 1, 9, &m, &err) != HISS_OK ||
        ht_layout_init_synth(&L, hiss_synth_model_config(m), 1))
        return -1;
    float *P = malloc(L.n_params * sizeof *P);
    if (ht_f_params_from_synth(&L, m, P, &err))
        return -1;
    ht_train_opts o = ht_train_opts_default();
    o.window = 100;
    o.batch = 5; /* not a multiple of the thread count */
    o.threads = threads;
    o.seed = seed;
    o.input_noise = noise;
    o.self_feed = self_feed;
    o.lr_warmup_steps = 3;
    o.total_steps = 60;
    ht_f_synth_trainer *tr = ht_f_synth_trainer_create(&L, &o, P, d);
    if (!tr)
        return -1;
    for (int e = 0; e < EPOCHS; e++) {
        ht_f_synth_epoch_begin(tr, e);
        int r;
        while ((r = ht_f_synth_step(tr, NULL)) == 0)
            ;
        if (r < 0)
            return -1;
    }
    const long steps = ht_f_synth_trainer_steps(tr);
    if (ht_f_params_to_synth(&L, P, m, &err) || hiss_synth_model_save(m, path, &err) != HISS_OK) {
        printf("FAIL: %s\n", err.msg);
        return -1;
    }
    ht_f_synth_trainer_free(tr);
    free(P);
    ht_layout_free(&L);
    hiss_synth_model_free(m);
    return steps;
}

int main(void)
{
    ht_note notes[N_NOTES];
    size_t n = 0;
    ref_rng r = ref_rng_seed(3);
    for (int k = 0; k < N_NOTES; k++) {
        notes[k].start = n;
        notes[k].len = 150 + (size_t)ref_rng_below(&r, 300);
        notes[k].on_len = notes[k].len / 2;
        notes[k].note = 50 + 3 * k;
        notes[k].velocity = 40 + 9 * k;
        n += notes[k].len;
    }
    unsigned char *cls = malloc(n);
    for (size_t i = 0; i < n; i++)
        cls[i] = (unsigned char)(128 + (int)(60 * ref_rng_sym(&r)));
    hiss_synth_feature feat[5] = {HISS_SYNTH_F_PITCH, HISS_SYNTH_F_VELOCITY, HISS_SYNTH_F_GATE,
                                  HISS_SYNTH_F_SIN1, HISS_SYNTH_F_COS1};
    const ht_synth_data d = {cls, n, notes, N_NOTES, 5, feat, RATE};

    char pa[1024], pb[1024], pc[1024], p0[1024], p1[1024], p3[1024];
    snprintf(pa, sizeof pa, "%s/synth_det_a.safetensors", HISS_TEST_TMP);
    snprintf(pb, sizeof pb, "%s/synth_det_b.safetensors", HISS_TEST_TMP);
    snprintf(pc, sizeof pc, "%s/synth_det_c.safetensors", HISS_TEST_TMP);
    snprintf(p0, sizeof p0, "%s/synth_det_0.safetensors", HISS_TEST_TMP);
    snprintf(p1, sizeof p1, "%s/synth_det_1.safetensors", HISS_TEST_TMP);
    snprintf(p3, sizeof p3, "%s/synth_det_3.safetensors", HISS_TEST_TMP);
    const long sa = train(&d, 2, 4, 0, 0, pa), sb = train(&d, 2, 4, 0, 0, pb);
    const long sc = train(&d, 2, 5, 0, 0, pc);
    const long s1 = train(&d, 1, 4, 0, 0, p1), s3 = train(&d, 3, 4, 0, 0, p3);
    char pn1[1024], pn3[1024];
    snprintf(pn1, sizeof pn1, "%s/synth_det_n1.safetensors", HISS_TEST_TMP);
    snprintf(pn3, sizeof pn3, "%s/synth_det_n3.safetensors", HISS_TEST_TMP);
    const long sn1 = train(&d, 1, 4, 3, 0, pn1), sn3 = train(&d, 3, 4, 3, 0, pn3);
    char pf1[1024], pf2[1024];
    snprintf(pf1, sizeof pf1, "%s/synth_det_f1.safetensors", HISS_TEST_TMP);
    snprintf(pf2, sizeof pf2, "%s/synth_det_f2.safetensors", HISS_TEST_TMP);
    const long sf1 = train(&d, 1, 4, 0, 0.5, pf1), sf2 = train(&d, 2, 4, 0, 0.5, pf2);
    /* an untrained model of the same initialisation: 0 epochs */
    hiss_config c = {0};
    c.io = HISS_IO_SYNTH;
    c.d_model = 8;
    c.n_layer = 2;
    c.d_state = 4;
    c.d_conv = 4;
    c.sample_rate = RATE;
    hiss_synth_model *m0;
    hiss_error err;
    if (sa < 0 || sb < 0 || sc < 0 || s1 < 0 || s3 < 0 || sn1 < 0 || sn3 < 0 || sf1 < 0 ||
        sf2 < 0 ||
        hiss_synth_model_init(&c, "pitch,velocity,gate,sin1,cos1", 1, 9, &m0, &err) != HISS_OK ||
        hiss_synth_model_save(m0, p0, &err) != HISS_OK) {
        printf("FAIL: training or saving\n");
        return 1;
    }
    hiss_synth_model_free(m0);
    long planned = 0;
    for (int e = 0; e < EPOCHS; e++)
        planned += ht_synth_epoch_steps(&d, 5, 100, 4, e);
    size_t na, nb, nc, n0, n1, n3;
    char *a = slurp(pa, &na), *b = slurp(pb, &nb), *cc = slurp(pc, &nc), *z = slurp(p0, &n0);
    char *o1 = slurp(p1, &n1), *o3 = slurp(p3, &n3);
    int fails = 0;
    printf("%d notes, %zu samples; %d epochs of batch 5, window 100: %ld steps (planned %ld)\n",
           N_NOTES, n, EPOCHS, sa, planned);
    fails += sa != planned;
    const int same = a && b && na == nb && memcmp(a, b, na) == 0;
    fails += !same;
    printf("same seed, 2 threads twice: model files %s\n", same ? "identical" : "DIFFER  FAIL");
    const int threads_same = a && o1 && o3 && na == n1 && na == n3 && memcmp(a, o1, na) == 0 &&
                             memcmp(a, o3, na) == 0;
    fails += !threads_same;
    printf("same seed, 1 and 3 threads: %s\n",
           threads_same ? "the same file as with 2" : "OTHER FILES  FAIL");
    const int diff = a && cc && (na != nc || memcmp(a, cc, na) != 0);
    fails += !diff;
    printf("another seed: %s\n", diff ? "another file" : "the same file  FAIL");
    const int moved = a && z && (na != n0 || memcmp(a, z, na) != 0);
    fails += !moved;
    printf("training changed the model: %s\n", moved ? "yes" : "no  FAIL");
    size_t nn1, nn3;
    char *q1 = slurp(pn1, &nn1), *q3 = slurp(pn3, &nn3);
    const int noise_same = q1 && q3 && nn1 == nn3 && memcmp(q1, q3, nn1) == 0;
    const int noise_moved = q1 && a && (nn1 != na || memcmp(q1, a, na) != 0);
    fails += !noise_same + !noise_moved;
    printf("input noise 3, 1 and 3 threads: %s; %s the noiseless model\n",
           noise_same ? "identical files" : "OTHER FILES  FAIL",
           noise_moved ? "differs from" : "SAME AS (FAIL)");
    free(q1);
    free(q3);
    remove(pn1);
    remove(pn3);
    size_t nf1, nf2;
    char *f1 = slurp(pf1, &nf1), *f2 = slurp(pf2, &nf2);
    const int feed_same = f1 && f2 && nf1 == nf2 && memcmp(f1, f2, nf1) == 0;
    const int feed_moved = f1 && a && (nf1 != na || memcmp(f1, a, na) != 0);
    fails += !feed_same + !feed_moved;
    printf("self-feed 0.5, 1 and 2 threads: %s; %s the teacher-forced model\n",
           feed_same ? "identical files" : "OTHER FILES  FAIL",
           feed_moved ? "differs from" : "SAME AS (FAIL)");
    free(f1);
    free(f2);
    remove(pf1);
    remove(pf2);
    printf(fails ? "FAIL: %d checks\n" : "deterministic\n", fails);
    free(a);
    free(b);
    free(cc);
    free(z);
    free(o1);
    free(o3);
    free(cls);
    remove(pa);
    remove(pb);
    remove(pc);
    remove(p0);
    remove(p1);
    remove(p3);
    return fails ? 1 : 0;
}
