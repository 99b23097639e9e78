/* The synth trainer learns an instrument the test builds itself: each note a sine at the note's
 * pitch (phase 0 at the note-on), its amplitude following the velocity, a 5 ms attack, a slow
 * decay while the key is down and a 20 ms release after, plus a little noise, mu-law coded.
 * After a fixed number of epochs the teacher-forced cross-entropy on held-out notes (other
 * pitches, velocities and lengths), measured through the engine (hiss_synth_step), must be
 * below the entropy of the held-out notes' class histogram (what a model that ignored the past
 * and the conditioning could at best reach) by a clear margin, and far below where it started. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "hiss_train.h"
#include "ref_rng.h"

#define RATE 16000.0
#define N_TRAIN 24
#define N_VAL 8
#define EPOCHS 16
#define MARGIN_BITS 2.0

typedef struct notes {
    ht_note *n;
    int count;
    unsigned char *cls;
    size_t len;
} notes;

/* The instrument. */
static void render(const ht_note *nt, unsigned char *cls, ref_rng *r)
{
    const double f = 440.0 * pow(2.0, (nt->note - 69) / 12.0);
    const double amp = 0.7 * nt->velocity / 127.0;
    double env = 0, rel = 1;
    for (size_t i = 0; i < nt->len; i++) {
        const double attack = fmin(1.0, (double)i / (0.005 * RATE));
        if (i < nt->on_len)
            env = attack * exp(-(double)i / (0.5 * RATE));
        else
            rel *= exp(-1.0 / (0.02 * RATE));
        const double x = amp * env * rel * sin(6.283185307179586 * f * (double)i / RATE) +
                         0.002 * ref_rng_sym(r);
        cls[i] = (unsigned char)hiss_synth_mulaw_encode((float)x);
    }
}

/* count notes of pitches 48..84 and velocities 30..127 drawn from seed, 0.08 to 0.2 s held. */
static notes make(int count, uint64_t seed)
{
    ref_rng r = ref_rng_seed(seed);
    notes s = {calloc((size_t)count, sizeof(ht_note)), count, NULL, 0};
    for (int k = 0; k < count; k++) {
        ht_note *nt = &s.n[k];
        nt->note = 48 + ref_rng_below(&r, 37);
        nt->velocity = 30 + ref_rng_below(&r, 98);
        nt->on_len = (size_t)((0.08 + 0.12 * ref_rng_unit(&r)) * RATE);
        nt->len = nt->on_len + (size_t)(0.1 * RATE);
        nt->start = s.len;
        s.len += nt->len;
    }
    s.cls = malloc(s.len);
    for (int k = 0; k < count; k++)
        render(&s.n[k], s.cls + s.n[k].start, &r);
    return s;
}

static double entropy_bits(const unsigned char *c, size_t n)
{
    double h[256] = {0}, e = 0;
    for (size_t i = 0; i < n; i++)
        h[c[i]]++;
    for (int k = 0; k < 256; k++)
        if (h[k] > 0)
            e -= h[k] / n * log2(h[k] / n);
    return e;
}

int main(void)
{
    const char *cond = "pitch,velocity,gate,release,sin1,cos1";
    hiss_config c = {0};
    c.io = HISS_IO_SYNTH;
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 8;
    c.d_conv = 4;
    c.sample_rate = RATE;
    hiss_synth_model *m;
    hiss_error err;
    if (hiss_synth_model_init(&c, cond, 1, 3, &m, &err) != HISS_OK) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    const hiss_config *mc = hiss_synth_model_config(m);
    ht_layout L;
    if (ht_layout_init_synth(&L, mc, 1)) {
        printf("FAIL: layout\n");
        return 1;
    }
    hiss_synth_feature feat[16];
    for (int i = 0; i < mc->n_cond; i++)
        feat[i] = hiss_synth_model_feature(m, i);
    notes tr = make(N_TRAIN, 11), va = make(N_VAL, 22);
    const ht_synth_data dt = {tr.cls, tr.len, tr.n, tr.count, mc->n_cond, feat, RATE};
    const ht_synth_data dv = {va.cls, va.len, va.n, va.count, mc->n_cond, feat, RATE};
    const double H = entropy_bits(va.cls, va.len);
    double before;
    if (ht_synth_eval_engine(m, &dv, 2, &before, &err) != HISS_OK) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    printf("%d training notes (%.2f s), %d held-out notes (%.2f s) at %.0f Hz\n", N_TRAIN,
           tr.len / RATE, N_VAL, va.len / RATE, RATE);
    printf("held-out class histogram entropy %.3f bits; untrained model %.3f bits/sample\n", H,
           before);

    float *P = malloc(L.n_params * sizeof *P);
    if (ht_f_params_from_synth(&L, m, P, &err)) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    ht_train_opts o = ht_train_opts_default();
    o.window = 512;
    o.batch = 8;
    o.threads = 2;
    o.seed = 5;
    o.lr = 2e-2;
    o.lr_min = 1e-4;
    o.lr_warmup_steps = 20;
    o.total_steps = 0;
    for (int e = 0; e < EPOCHS; e++)
        o.total_steps += ht_synth_epoch_steps(&dt, o.batch, o.window, o.seed, e);
    ht_f_synth_trainer *t = ht_f_synth_trainer_create(&L, &o, P, &dt);
    if (!t) {
        printf("FAIL: trainer\n");
        return 1;
    }
    double after = INFINITY;
    for (int e = 0; e < EPOCHS; e++) {
        ht_f_synth_epoch_begin(t, e);
        ht_synth_stats st;
        double sum = 0;
        long n = 0;
        int r;
        while ((r = ht_f_synth_step(t, &st)) == 0) {
            sum += st.bits * st.n;
            n += st.n;
        }
        if (r < 0) {
            printf("FAIL: step\n");
            return 1;
        }
        if (e % 4 != 3 && e != 0)
            continue;
        if (ht_f_params_to_synth(&L, P, m, &err) ||
            ht_synth_eval_engine(m, &dv, 2, &after, &err) != HISS_OK) {
            printf("FAIL: %s\n", err.msg);
            return 1;
        }
            printf("epoch %2d: train %.3f bits/sample over %ld samples, held-out %.3f\n", e + 1,
                   sum / n, n, after);
    }
    const int ok = after < H - MARGIN_BITS && after < before - 3.0;
    printf("held-out %.3f bits/sample after %d epochs: %.3f bits below the histogram entropy "
           "(required: more than %.1f), %.3f below the untrained model (required: 3)%s\n",
           after, EPOCHS, H - after, MARGIN_BITS, before - after, ok ? "" : "  FAIL");
    ht_f_synth_trainer_free(t);
    free(P);
    ht_layout_free(&L);
    hiss_synth_model_free(m);
    free(tr.n);
    free(tr.cls);
    free(va.n);
    free(va.cls);
    return ok ? 0 : 1;
}
