/* The synth trainer's gradients and forward, on tiny models:
 *   - its hand-written backward against float64 central finite differences of its own batch loss,
 *     for every tensor of the model (head, backbone, lm_head with and without bias), at a step
 *     where the streams are inside their notes, so the chunks start from a carried state (conv
 *     history and SSM state) and one crosses the note-off;
 *   - the float build of the same code against the double one;
 *   - its forward against the independent float64 reference of the synth equations
 *     (tests/synth_ref.c) on whole notes, teacher-forced, with the conditioning computed by the
 *     reference's own note clocks: the cross-entropy must agree to 1e-9;
 *   - a note trained in chunks with the state carried gives the cross-entropy of the note in one
 *     window (to 1e-12);
 *   - ht_synth_eval_engine (the engine's float step) agrees with the double forward to 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "hiss_train.h"
#include "ref_rng.h"
#include "synth_ref.h"
#include "train_grad_util.h"

#define RATE 16000.0
#define N_NOTES 5
#define WINDOW 16
#define STREAMS 3
#define MAX_CHECK 40
/* the loss is ~6 nats and the smallest gradients ~1e-5: a step of 1e-5 keeps both the rounding
 * (~1e-16 * 6 / h) and the truncation (~h^2) far below the limit */
#define FD_H 1e-5
#define TOL_FD 1e-4
#define TOL_FLOAT 1e-4

typedef struct setup {
    int dm, nl, di, ds, dc, dr, head_bias;
    const char *cond;
    const char *label;
} setup;

static int fails;
static double worst_fd;
static const char *worst_fd_name = "";
static char worst_fd_buf[160];

static void check(int ok, const char *fmt, double a, double b)
{
    printf(fmt, a, b);
    printf("%s\n", ok ? "" : "  FAIL");
    fails += !ok;
}

/* Notes of a decaying tone at their pitch with some noise, mu-law coded: every class path of the
 * head is exercised and the targets are not constant. */
static void make_notes(ht_note *notes, unsigned char **cls_out, size_t *n_out, ref_rng *r)
{
    const int lens[N_NOTES] = {41, 70, 23, 57, 88};
    size_t n = 0;
    for (int k = 0; k < N_NOTES; k++)
        n += (size_t)lens[k];
    unsigned char *cls = malloc(n);
    size_t at = 0;
    for (int k = 0; k < N_NOTES; k++) {
        ht_note *nt = &notes[k];
        nt->start = at;
        nt->len = (size_t)lens[k];
        nt->on_len = nt->len * 2 / 3;
        nt->note = 48 + 9 * k;
        nt->velocity = 30 + 20 * k;
        const double f = 440.0 * pow(2.0, (nt->note - 69) / 12.0);
        for (size_t i = 0; i < nt->len; i++) {
            const double x = 0.6 * exp(-(double)i / 40.0) * sin(6.283185307179586 * f * i / RATE) +
                             0.05 * ref_rng_sym(r);
            cls[at + i] = (unsigned char)hiss_synth_mulaw_encode((float)x);
        }
        at += nt->len;
    }
    *cls_out = cls;
    *n_out = n;
}

/* Cross-entropy (nats) of note k through the float64 reference with the weights of m, the
 * conditioning from the reference's own note clocks, rounded to float as a voice's are (so the
 * comparison is of the network, to double precision). *feat_err: the largest difference between
 * those features and the trainer's (ht_synth_frames), and between the inputs and targets the
 * test builds (previous recorded class, 128 at the note-on) and the trainer's. */
static double ref_note_nll(const hiss_synth_model *m, const ht_synth_data *d, int k,
                           double *feat_err, int *frames_bad)
{
    synth_ref *ref = synth_ref_new(m);
    const ht_note *nt = &d->notes[k];
    synth_ref_note rn = synth_ref_note_start((double)nt->note, nt->velocity);
    hiss_synth_note ns = hiss_synth_note_start((double)nt->note, nt->velocity);
    double cond[64], logits[256], sum = 0;
    float tcond[64];
    unsigned char tin, ttgt;
    int prev = HISS_SYNTH_SILENCE_CLASS;
    for (size_t i = 0; i < nt->len; i++) {
        if (i == nt->on_len)
            synth_ref_note_release(&rn);
        synth_ref_features(m, &rn, cond);
        ht_synth_frames(d, k, i, 1, &ns, &tin, &ttgt, tcond);
        for (int f = 0; f < d->n_cond; f++) {
            *feat_err = fmax(*feat_err, fabs(cond[f] - tcond[f]));
            cond[f] = (float)cond[f];
        }
        *frames_bad |= tin != prev || ttgt != d->cls[nt->start + i];
        synth_ref_step(ref, prev, cond, logits);
        double mx = logits[0];
        for (int c = 1; c < 256; c++)
            mx = fmax(mx, logits[c]);
        double s = 0;
        for (int c = 0; c < 256; c++)
            s += exp(logits[c] - mx);
        const int y = d->cls[nt->start + i];
        sum += mx + log(s) - logits[y];
        prev = y;
        synth_ref_note_advance(&rn, RATE);
    }
    synth_ref_free(ref);
    return sum;
}

/* Cross-entropy of note k through the trainer's double forward, in chunks of T with the state
 * carried (T >= the note's length: one window). */
static double trainer_note_nll(const ht_layout *L, const double *P, const ht_synth_data *d, int k,
                               int T)
{
    const ht_note *nt = &d->notes[k];
    ht_d_acts *a = ht_d_acts_create(L, T);
    unsigned char in[256], tgt[256];
    float cf[256 * 16];
    double cd[256 * 16];
    double *state = calloc(ht_state_reals(L), sizeof *state);
    hiss_synth_note ns = hiss_synth_note_start((double)nt->note, nt->velocity);
    double sum = 0;
    for (size_t pos = 0; pos < nt->len;) {
        const int len = nt->len - pos < (size_t)T ? (int)(nt->len - pos) : T;
        ht_synth_frames(d, k, pos, len, &ns, in, tgt, cf);
        for (int i = 0; i < len * d->n_cond; i++)
            cd[i] = cf[i];
        sum += ht_d_synth_window(L, P, a, len, in, cd, tgt, pos ? state : NULL, NULL, 1.0);
        ht_d_state_out(L, a, state);
        pos += (size_t)len;
    }
    free(state);
    ht_d_acts_free(a);
    return sum;
}

/* The batch loss at the current parameters, for the finite differences. */
typedef struct fd_ctx {
    ht_d_synth_trainer *tr;
    double *G; /* scratch */
} fd_ctx;

static double fd_loss(void *ctx)
{
    fd_ctx *c = ctx;
    ht_synth_stats st;
    ht_d_synth_grad(c->tr, c->G, &st);
    return st.nll;
}

static void run(const setup *s, uint64_t seed)
{
    printf("%s\n", s->label);
    hiss_config c = {0};
    c.io = HISS_IO_SYNTH;
    c.d_model = s->dm;
    c.n_layer = s->nl;
    c.d_inner = s->di;
    c.d_state = s->ds;
    c.d_conv = s->dc;
    c.dt_rank = s->dr;
    c.sample_rate = RATE;
    c.rms_eps = 1e-5f;
    hiss_synth_model *m;
    hiss_error err;
    if (hiss_synth_model_init(&c, s->cond, s->head_bias, seed, &m, &err) != HISS_OK) {
        printf("FAIL: %s\n", err.msg);
        fails++;
        return;
    }
    const hiss_config *mc = hiss_synth_model_config(m);
    ht_layout L;
    if (ht_layout_init_synth(&L, mc, s->head_bias)) {
        printf("FAIL: layout\n");
        fails++;
        return;
    }
    ref_rng r = ref_rng_seed(seed);
    double *P = calloc(L.n_params, sizeof *P), *Ga = calloc(L.n_params, sizeof *Ga);
    double *Gx = calloc(L.n_params, sizeof *Gx);
    float *Pf = calloc(L.n_params, sizeof *Pf), *Gf = calloc(L.n_params, sizeof *Gf);
    tgrad_random_params(&L, P, &r);
    /* through the model and back: the parameters are then exactly the model's floats, so the
     * reference (which reads the model) and the trainer use the same numbers */
    if (ht_d_params_to_synth(&L, P, m, &err) || ht_d_params_from_synth(&L, m, P, &err)) {
        printf("FAIL: %s\n", err.msg);
        fails++;
        return;
    }
    ht_note notes[N_NOTES];
    unsigned char *cls;
    size_t n;
    make_notes(notes, &cls, &n, &r);
    hiss_synth_feature feat[64];
    for (int i = 0; i < mc->n_cond; i++)
        feat[i] = hiss_synth_model_feature(m, i);
    const ht_synth_data d = {cls, n, notes, N_NOTES, mc->n_cond, feat, RATE};

    /* forward: reference, one window, chunks, engine */
    double ref_sum = 0, one_sum = 0, chunk_sum = 0, worst_ref = 0, worst_chunk = 0, feat_err = 0;
    int frames_bad = 0;
    size_t total = 0;
    for (int k = 0; k < N_NOTES; k++) {
        const double a = ref_note_nll(m, &d, k, &feat_err, &frames_bad);
        const double b = trainer_note_nll(&L, P, &d, k, 128);
        const double c2 = trainer_note_nll(&L, P, &d, k, 7);
        worst_ref = fmax(worst_ref, fabs(a - b) / a);
        worst_chunk = fmax(worst_chunk, fabs(c2 - b) / b);
        ref_sum += a;
        one_sum += b;
        chunk_sum += c2;
        total += notes[k].len;
    }
    check(feat_err < 1e-6 && !frames_bad,
          "  conditioning vs the reference's note clocks: largest difference %.2e (limit %.0e)",
          feat_err, 1e-6);
    printf("    teacher-forced inputs and targets %s\n", frames_bad ? "DIFFER" : "as built here");
    check(worst_ref < 1e-12, "  forward vs float64 reference: %.12f vs %.12f nats/sample",
          one_sum / total, ref_sum / total);
    printf("    worst note relative error %.2e (limit 1e-12)\n", worst_ref);
    check(worst_chunk < 1e-12, "  chunks of 7 with the state carried vs one window: %.12f vs %.12f",
          chunk_sum / total, one_sum / total);
    printf("    worst note relative error %.2e (limit 1e-12)\n", worst_chunk);
    double bits;
    if (ht_synth_eval_engine(m, &d, 2, &bits, &err) != HISS_OK) {
        printf("FAIL: %s\n", err.msg);
        fails++;
    } else {
        const double want = one_sum / total / log(2.0);
        check(fabs(bits - want) / want < 1e-4, "  engine (float) %.7f vs trainer %.7f bits/sample",
              bits, want);
    }

    /* gradients at the third step: streams inside their notes, from carried states */
    ht_train_opts o = ht_train_opts_default();
    o.window = WINDOW;
    o.batch = STREAMS;
    o.threads = 2;
    o.seed = seed;
    ht_d_synth_trainer *tr = ht_d_synth_trainer_create(&L, &o, P, &d);
    ht_synth_stats st;
    if (!tr) {
        printf("FAIL: trainer\n");
        fails++;
        return;
    }
    for (int k = 0; k < 2; k++) {
        ht_d_synth_grad(tr, Gx, &st);
        ht_d_synth_commit(tr);
    }
    if (ht_d_synth_grad(tr, Ga, &st)) {
        printf("FAIL: no batch\n");
        fails++;
        return;
    }
    printf("  %zu parameters; batch of %d streams, %ld samples: %.6f nats/sample, grad norm %.4g\n",
           L.n_params, st.streams, st.n, st.nll, st.grad_norm);
    for (int k = 0; k < L.n_tensors; k++) {
        const ht_tensor_info *t = &L.t[k];
        size_t idx[MAX_CHECK];
        int cnt = 0;
        if (t->numel <= MAX_CHECK) {
            for (size_t j = 0; j < t->numel; j++)
                idx[cnt++] = t->offset + j;
        } else if (strcmp(t->name, "embedding.weight") == 0) {
            /* rows the batch looked up (the others have zero gradient, checked below) */
            for (size_t j = 0; j < t->numel && cnt < MAX_CHECK; j++)
                if (Ga[t->offset + j] != 0 && ref_rng_below(&r, 4) == 0)
                    idx[cnt++] = t->offset + j;
        } else {
            for (; cnt < MAX_CHECK; cnt++)
                idx[cnt] = t->offset + (size_t)ref_rng_below(&r, (int)t->numel);
        }
        fd_ctx fc = {tr, Gx};
        double na;
        const double rel = tgrad_fd_rel_err(P, Ga, idx, cnt, FD_H, fd_loss, &fc, &na);
        const int bad = !(rel < TOL_FD) || cnt == 0;
        fails += bad;
        if (!(rel <= worst_fd)) {
            worst_fd = rel;
            snprintf(worst_fd_buf, sizeof worst_fd_buf, "%s (%s)", t->name, s->label);
            worst_fd_name = worst_fd_buf;
        }
        printf("  %-40s %3d of %5zu  |g| %.3e  rel err %.2e%s\n", t->name, cnt, t->numel, na,
               rel, bad ? "  FAIL" : "");
    }
    /* an embedding row no input of the batch used has no gradient, and its finite difference
     * is zero too: one unused row checked */
    {
        unsigned char used[256] = {0};
        for (size_t i = 0; i < n; i++)
            used[cls[i]] = 1;
        used[HISS_SYNTH_SILENCE_CLASS] = 1;
        int row = -1;
        for (int c2 = 0; c2 < 256 && row < 0; c2++)
            if (!used[c2])
                row = c2;
        double g = 0;
        for (int i = 0; row >= 0 && i < L.d_model; i++)
            g += fabs(Ga[L.emb + (size_t)row * L.d_model + i]);
        check(row >= 0 && g == 0, "  unused embedding row %.0f: |g| %.1g", (double)row, g);
    }

    /* the float build at the same point */
    for (size_t j = 0; j < L.n_params; j++)
        Pf[j] = (float)P[j];
    ht_f_synth_trainer *trf = ht_f_synth_trainer_create(&L, &o, Pf, &d);
    ht_synth_stats stf;
    for (int k = 0; trf && k < 2; k++) {
        ht_f_synth_grad(trf, Gf, &stf);
        ht_f_synth_commit(trf);
    }
    if (!trf || ht_f_synth_grad(trf, Gf, &stf)) {
        printf("FAIL: float trainer\n");
        fails++;
        return;
    }
    const char *worst_name;
    const double worst = tgrad_float_worst(&L, Gf, Ga, &worst_name);
    const int badf = !(worst < TOL_FLOAT) || !(fabs(stf.nll - st.nll) < 1e-5 * st.nll);
    fails += badf;
    printf("  float vs double: loss %.7f vs %.7f, worst tensor %s rel err %.2e%s\n", stf.nll,
           st.nll, worst_name, worst, badf ? "  FAIL" : "");
    ht_f_synth_trainer_free(trf);
    ht_d_synth_trainer_free(tr);
    free(P);
    free(Ga);
    free(Gx);
    free(Pf);
    free(Gf);
    free(cls);
    ht_layout_free(&L);
    hiss_synth_model_free(m);
}

int main(void)
{
    if (tgrad_isa_or_skip())
        return 77;
    const setup s[] = {
        {4, 1, 8, 2, 2, 1, 1, "pitch,gate,sin1", "d_model 4, 1 layer, d_state 2, d_conv 2, bias"},
        {6, 2, 10, 3, 3, 2, 0, "pitch,velocity,gate,onset,decay,release,sin1,cos1,sin2,cos2",
         "d_model 6, 2 layers, d_inner 10, d_state 3, dt_rank 2, all ten features, no bias"},
        {8, 2, 16, 4, 4, 1, 1, "release,cos1,pitch,velocity",
         "d_model 8, 2 layers, d_state 4, d_conv 4, bias"},
    };
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        run(&s[i], 77 + i);
    printf("worst gradient relative error %.2e (limit %.0e): %s\n", worst_fd, TOL_FD, worst_fd_name);
    printf(fails ? "FAIL: %d checks\n" : "all synth gradients and forwards agree\n", fails);
    return fails ? 1 : 0;
}
