/* Self-feed (scheduled sampling, docs/training.md "Synth models"):
 *   - ht_self_feed_chunk against a direct loop over the note written here from the public engine
 *     API (hiss_synth_step from a zero state, the previous input fed back, hiss_synth_sample at
 *     temperature 1, top-p 1 with the generator of the documented hash): with p = 1 every input
 *     after the note-on is exactly the engine's own draw at the sample before; with p = 0.4 it is
 *     the draw exactly where the coin says so (about 40 % of the samples), the recording
 *     elsewhere; with p = 0 the recording. Whatever the chunking (1, 7, 64 samples or the whole
 *     note): inputs and the engine state at the end are the same bytes;
 *   - the trainer, with self-feed 1, trains on those inputs: the cross-entropy it reports for
 *     each chunk of a note (state carried from chunk to chunk, the parameters fixed) is the one
 *     the independent float64 reference (tests/synth_ref.c) gives for the direct loop's inputs
 *     and the recorded targets, to 1e-4; teacher-forced it is another figure;
 *   - the ramp: p e / E over the first E epochs, then p. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hiss_synth.h"
#include "hiss_train.h"
#include "synth_ref.h"

#define RATE 16000.0
#define LEN 300
#define ON_LEN 200
#define NOTE 57
#define VEL 90
#define SEED 77
#define EPOCH 3
#define NOTE_INDEX 0
#define COND "pitch,velocity,gate,sin1,cos1"
#define NC 5

/* The note's conditioning as a voice computes it, float, [LEN * NC]. */
static void note_cond(const hiss_synth_model *m, float *cond)
{
    hiss_synth_note ns = hiss_synth_note_start(NOTE, VEL);
    for (int i = 0; i < LEN; i++) {
        if (i == ON_LEN) {
            ns.gate = 0;
            ns.n_off = 0;
        }
        for (int f = 0; f < NC; f++)
            cond[i * NC + f] = hiss_synth_feature_value(hiss_synth_model_feature(m, f), &ns, RATE);
        hiss_synth_note_advance(&ns, RATE);
    }
}

/* The documented semantics, sample by sample: in[i] the input fed at sample i, state the voice
 * state after the note; returns how many inputs were the engine's draws. */
static int direct(const hiss_synth_model *m, const unsigned char *cls, const float *cond, double p,
                  uint64_t seed, int epoch, int note, unsigned char *in, float *state)
{
    const size_t nsc = hiss_synth_scratch_floats(m);
    float *scratch = malloc(nsc * sizeof *scratch), logits[256];
    hiss_synth_sampler *sw = malloc(sizeof *sw);
    memset(state, 0, hiss_synth_state_floats(m) * sizeof *state);
    int drawn = 0, own = -1;
    for (int i = 0; i < LEN; i++) {
        in[i] = i ? cls[i - 1] : HISS_SYNTH_SILENCE_CLASS;
        if (i > 0) {
            const uint64_t h = ht_self_feed_hash(seed, epoch, note, (size_t)i, HT_SELF_FEED_COIN);
            const double u = (double)(h >> 11) / 9007199254740992.0;
            if (u < p) {
                in[i] = (unsigned char)own;
                drawn++;
            }
        }
        hiss_synth_step(m, state, in[i], cond + i * NC, logits, scratch);
        hiss_synth_rng r;
        hiss_synth_rng_seed(&r, ht_self_feed_hash(seed, epoch, note, (size_t)i, HT_SELF_FEED_DRAW));
        own = hiss_synth_sample(sw, logits, 1.0f, 1.0f, &r);
        if (own < 0) {
            CHECK(0, "the untrained model gave no distribution at sample %d", i);
            own = 128;
        }
    }
    free(scratch);
    free(sw);
    return drawn;
}

/* ht_self_feed_chunk over the note in chunks of `chunk`, state and pending draw carried. */
static void chunked(const hiss_synth_model *m, const unsigned char *cls, const float *cond,
                    double p, int chunk, unsigned char *in, float *state)
{
    ht_self_feed_work w;
    w.scratch = malloc(hiss_synth_scratch_floats(m) * sizeof *w.scratch);
    memset(state, 0, hiss_synth_state_floats(m) * sizeof *state);
    int draw = -1;
    for (int from = 0; from < LEN; from += chunk) {
        const int T = LEN - from < chunk ? LEN - from : chunk;
        for (int t = 0; t < T; t++)
            in[from + t] = from + t ? cls[from + t - 1] : HISS_SYNTH_SILENCE_CLASS;
        ht_self_feed_chunk(m, p, SEED, EPOCH, NOTE_INDEX, (size_t)from, T, cond + from * NC,
                           in + from, state, &draw, &w);
    }
    free(w.scratch);
}

static void check_inputs(const hiss_synth_model *m, const unsigned char *cls, const float *cond,
                         double p)
{
    const size_t nst = hiss_synth_state_floats(m);
    unsigned char want[LEN], got[LEN];
    float *sw = malloc(nst * sizeof *sw), *sg = malloc(nst * sizeof *sg);
    const int drawn = direct(m, cls, cond, p, SEED, EPOCH, NOTE_INDEX, want, sw);
    int recorded = 0;
    for (int i = 1; i < LEN; i++)
        recorded += want[i] == cls[i - 1];
    printf("p = %.1f: %d of %d inputs are the engine's draws; %d equal the recording\n", p, drawn,
           LEN - 1, recorded);
    if (p >= 1)
        CHECK(drawn == LEN - 1 && recorded < LEN / 4,
              "p = 1: every input after the note-on is a draw, and the draws are not the "
              "recording");
    else if (p > 0)
        CHECK(drawn > 0.3 * LEN && drawn < 0.5 * LEN, "p = 0.4: about 40 %% of the inputs drawn");
    else
        CHECK(drawn == 0 && recorded == LEN - 1, "p = 0: the recording alone");
    const int chunks[] = {1, 7, 64, LEN};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        chunked(m, cls, cond, p, chunks[c], got, sg);
        int first = -1;
        for (int i = 0; i < LEN && first < 0; i++)
            if (got[i] != want[i])
                first = i;
        const int same_state = memcmp(sw, sg, nst * sizeof *sw) == 0;
        printf("      chunks of %3d: %s%s\n", chunks[c],
               first < 0 ? "the direct loop's inputs" : "inputs differ from sample ",
               first < 0 ? (same_state ? ", the same state after the note" : ", ANOTHER STATE")
                         : "");
        if (first >= 0)
            printf("      sample %d: %d, the direct loop fed %d\n", first, got[first],
                   want[first]);
        CHECK(first < 0 && same_state, "ht_self_feed_chunk = the direct loop");
    }
    free(sw);
    free(sg);
}

/* The float64 reference's cross-entropy (nats, summed) of samples [from, from + T) given in. */
static double ref_nll(synth_ref *r, const hiss_synth_model *m, const unsigned char *cls,
                      const unsigned char *in, int from, int T, synth_ref_note *rn)
{
    double sum = 0, cond[NC], logits[256];
    for (int i = from; i < from + T; i++) {
        if (i == ON_LEN)
            synth_ref_note_release(rn);
        synth_ref_features(m, rn, cond);
        synth_ref_step(r, in[i], cond, logits);
        double mx = logits[0], e = 0;
        for (int c = 1; c < 256; c++)
            mx = fmax(mx, logits[c]);
        for (int c = 0; c < 256; c++)
            e += exp(logits[c] - mx);
        sum += mx + log(e) - logits[cls[i]];
        synth_ref_note_advance(rn, RATE);
    }
    return sum;
}

/* A trainer of self-feed p on the one note, batch 1, chunks of `window`, its parameters never
 * updated (synth_grad and synth_commit only): the cross-entropy of each chunk against the float64
 * reference fed the direct loop's inputs. Returns the worst relative difference. */
static double trainer_vs_ref(const hiss_synth_model *m, const ht_synth_data *d, double p,
                             int window, const unsigned char *in, double *total)
{
    ht_layout L;
    hiss_error err;
    if (ht_layout_init_synth(&L, hiss_synth_model_config(m), 1))
        return INFINITY;
    float *P = malloc(L.n_params * sizeof *P), *G = malloc(L.n_params * sizeof *G);
    if (ht_f_params_from_synth(&L, m, P, &err))
        return INFINITY;
    ht_train_opts o = ht_train_opts_default();
    o.window = window;
    o.batch = 1;
    o.threads = 1;
    o.seed = SEED;
    o.self_feed = p;
    ht_f_synth_trainer *tr = ht_f_synth_trainer_create(&L, &o, P, d);
    synth_ref *r = synth_ref_new(m);
    if (!tr || !r)
        return INFINITY;
    ht_f_synth_epoch_begin(tr, EPOCH);
    synth_ref_note rn = synth_ref_note_start(NOTE, VEL);
    double worst = 0;
    *total = 0;
    ht_synth_stats st;
    for (int from = 0; ht_f_synth_grad(tr, G, &st) == 0; from += window) {
        const double want = ref_nll(r, m, d->cls, in, from, (int)st.n, &rn);
        const double got = st.nll * (double)st.n;
        worst = fmax(worst, fabs(got - want) / want);
        *total += got;
        ht_f_synth_commit(tr);
    }
    synth_ref_free(r);
    ht_f_synth_trainer_free(tr);
    free(P);
    free(G);
    ht_layout_free(&L);
    return worst;
}

int main(void)
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
    if (hiss_synth_model_init(&c, COND, 1, 9, &m, &err) != HISS_OK) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    /* a decaying tone at the note's pitch, as mu-law classes */
    unsigned char cls[LEN];
    const double hz = 440.0 * pow(2.0, (NOTE - 69) / 12.0);
    for (int i = 0; i < LEN; i++)
        cls[i] = (unsigned char)hiss_synth_mulaw_encode(
            (float)(0.6 * exp(-i / 400.0) * sin(6.283185307179586 * hz * i / RATE)));
    float cond[LEN * NC];
    note_cond(m, cond);
    check_inputs(m, cls, cond, 1.0);
    check_inputs(m, cls, cond, 0.4);
    check_inputs(m, cls, cond, 0.0);

    const ht_note note = {0, LEN, ON_LEN, NOTE, VEL};
    const hiss_synth_feature feat[NC] = {HISS_SYNTH_F_PITCH, HISS_SYNTH_F_VELOCITY,
                                         HISS_SYNTH_F_GATE, HISS_SYNTH_F_SIN1, HISS_SYNTH_F_COS1};
    const ht_synth_data d = {cls, LEN, &note, 1, NC, feat, RATE};
    unsigned char in1[LEN], in0[LEN];
    float *state = malloc(hiss_synth_state_floats(m) * sizeof *state);
    direct(m, cls, cond, 1.0, SEED, EPOCH, NOTE_INDEX, in1, state);
    direct(m, cls, cond, 0.0, SEED, EPOCH, NOTE_INDEX, in0, state);
    free(state);
    double self_total, tf_total;
    const double e1 = trainer_vs_ref(m, &d, 1.0, 64, in1, &self_total);
    const double e0 = trainer_vs_ref(m, &d, 0.0, 64, in0, &tf_total);
    printf("trainer, chunks of 64: self-feed 1 %.4f nats over the note (worst chunk %.1e from the "
           "float64 reference on the direct loop's draws), teacher-forced %.4f (%.1e)\n",
           self_total, e1, tf_total, e0);
    CHECK(e1 < 1e-4, "self-feed 1: the trainer's chunks = the reference on the engine's draws");
    CHECK(e0 < 1e-4, "self-feed 0: the trainer's chunks = the reference on the recording");
    /* an untrained model leans little on its input: the figures differ by about 0.5 %, still
     * thousands of times the agreement above */
    CHECK(fabs(self_total - tf_total) > 1e-3 * tf_total,
          "self-feed 1 trains on other inputs than teacher forcing");

    const double ramp[][4] = {{0.5, 4, 0, 0},   {0.5, 4, 1, 0.125}, {0.5, 4, 3, 0.375},
                              {0.5, 4, 4, 0.5}, {0.5, 4, 9, 0.5},   {0.5, 0, 0, 0.5}};
    for (size_t k = 0; k < sizeof ramp / sizeof *ramp; k++) {
        const double got = ht_self_feed_at(ramp[k][0], (int)ramp[k][1], (int)ramp[k][2]);
        CHECK(fabs(got - ramp[k][3]) < 1e-15, "ramp: p %g over %g epochs, epoch %g: %g, not %g",
              ramp[k][0], ramp[k][1], ramp[k][2], got, ramp[k][3]);
    }
    hiss_synth_model_free(m);
    printf(failures ? "FAIL: %d checks\n" : "self-feed: the engine's own draws, as documented\n",
           failures);
    return failures ? 1 : 0;
}
