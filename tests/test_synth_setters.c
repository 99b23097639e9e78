/* The real-time setters of the CPU synth (hiss_synth_set_sampling, _set_seed, _set_deadline):
 * a performance whose sampling changes between process calls, with notes sounding, equals a
 * loop written here from docs/synth.md (features from the reference's own note clocks, the
 * public step and sampler, each note's generator seeded by the documented formula) that
 * switches temperature and top-p at the same samples; refused values return HISS_ERR_ARG and
 * change nothing (the render equals one never given them, bit for bit); after set_seed the next
 * notes sound as the first notes of a synth created with that seed, while sounding notes keep
 * their generators; set_deadline accepts 0 to 1e7 us, refuses the rest and leaves the CPU
 * render unchanged. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "synth_ref.h"

#include "check.h"

#define N 3000

static hiss_synth_model *model;

/* A score: events given before the sample `at` is processed, in list order. */
typedef enum { EV_ON, EV_OFF, EV_SAMPLING, EV_SEED, EV_CUT, EV_END } ev_kind;
typedef struct ev {
    int at;
    ev_kind kind;
    int note, velocity;
    float temperature, top_p;
    uint64_t seed;
} ev;

static hiss_synth_opts opts(float temperature, float top_p, uint64_t seed)
{
    hiss_synth_opts o = hiss_synth_opts_default();
    o.n_voices = 4;
    o.temperature = temperature;
    o.top_p = top_p;
    o.seed = seed;
    /* Never free a voice by the silence rule (mu-law has no class quieter than -81 dBFS), so
     * the reference needs no model of it. */
    o.silence_db = -200.0f;
    return o;
}

static hiss_synth *make(const hiss_synth_opts *o)
{
    hiss_synth *s = NULL;
    hiss_error err;
    if (hiss_synth_create(model, o, &s, &err) != HISS_OK) {
        printf("FAIL create: %s\n", err.msg);
        exit(1);
    }
    return s;
}

/* Play score through the API into out[0..n), cutting the samples into blocks of `block` and at
 * every event. Returns the number of set_sampling calls that did not return HISS_OK. */
static int play(hiss_synth *s, const ev *score, int n, int block, float *out)
{
    int refused = 0;
    int t = 0;
    const ev *e = score;
    while (t < n) {
        for (; e->kind != EV_END && e->at == t; e++) {
            switch (e->kind) {
            case EV_ON:
                hiss_synth_note_on(s, e->note, e->velocity);
                break;
            case EV_OFF:
                hiss_synth_note_off(s, e->note);
                break;
            case EV_SAMPLING:
                refused += hiss_synth_set_sampling(s, e->temperature, e->top_p) != HISS_OK;
                break;
            case EV_SEED:
                hiss_synth_set_seed(s, e->seed);
                break;
            case EV_CUT: {
                const uint8_t all_sound_off[3] = {0xB0, 120, 0};
                hiss_synth_midi(s, all_sound_off, 3);
                break;
            }
            case EV_END:
                break;
            }
        }
        int len = block < n - t ? block : n - t;
        if (e->kind != EV_END && e->at - t < len)
            len = e->at - t;
        hiss_synth_process(s, out + t, len);
        t += len;
    }
    return refused;
}

/* The same score by the documented loop: each note its own state, previous class, generator
 * (note k since the last seed change, synth_ref_note_rng) and clocks; the sampling in force at
 * each sample taken from the score; the voices summed in double. */
typedef struct ref_voice {
    int on, note;
    float *state;
    int prev;
    hiss_synth_rng rng;
    synth_ref_note clock;
} ref_voice;

static void reference(const ev *score, int n, float temperature, float top_p, uint64_t seed, float *out)
{
    const hiss_config *c = hiss_synth_model_config(model);
    enum { MAXV = 8 };
    ref_voice v[MAXV];
    const size_t sf = hiss_synth_state_floats(model);
    for (int i = 0; i < MAXV; i++) {
        v[i].on = 0;
        v[i].state = calloc(sf, sizeof(float));
    }
    float *scratch = calloc(hiss_synth_scratch_floats(model), sizeof(float));
    float logits[HISS_SYNTH_CLASSES], cond[HISS_MAX_COND];
    double cd[HISS_MAX_COND];
    hiss_synth_sampler w;
    uint64_t k = 0;
    const ev *e = score;
    for (int t = 0; t < n; t++) {
        for (; e->kind != EV_END && e->at == t; e++) {
            if (e->kind == EV_ON) {
                int i = 0;
                while (i < MAXV && v[i].on)
                    i++;
                if (i == MAXV) {
                    printf("FAIL reference: more than %d notes\n", MAXV);
                    exit(1);
                }
                v[i].on = 1;
                v[i].note = e->note;
                memset(v[i].state, 0, sf * sizeof(float));
                v[i].prev = HISS_SYNTH_SILENCE_CLASS;
                synth_ref_note_rng(&v[i].rng, seed, k++);
                v[i].clock = synth_ref_note_start(e->note, e->velocity);
            } else if (e->kind == EV_OFF) {
                for (int i = 0; i < MAXV; i++)
                    if (v[i].on && v[i].note == e->note)
                        synth_ref_note_release(&v[i].clock);
            } else if (e->kind == EV_SAMPLING) {
                temperature = e->temperature;
                top_p = e->top_p;
            } else if (e->kind == EV_SEED) {
                seed = e->seed;
                k = 0;
            } else if (e->kind == EV_CUT) {
                for (int i = 0; i < MAXV; i++)
                    v[i].on = 0;
            }
        }
        double sum = 0.0;
        for (int i = 0; i < MAXV; i++) {
            if (!v[i].on)
                continue;
            synth_ref_features(model, &v[i].clock, cd);
            for (int j = 0; j < c->n_cond; j++)
                cond[j] = (float)cd[j];
            hiss_synth_step(model, v[i].state, v[i].prev, cond, logits, scratch);
            v[i].prev = hiss_synth_sample(&w, logits, temperature, top_p, &v[i].rng);
            sum += hiss_synth_mulaw_decode(v[i].prev);
            synth_ref_note_advance(&v[i].clock, c->sample_rate);
        }
        out[t] = (float)sum;
    }
    for (int i = 0; i < MAXV; i++)
        free(v[i].state);
    free(scratch);
}

static int count_diff(const float *a, const float *b, int n)
{
    int d = 0;
    for (int t = 0; t < n; t++)
        d += a[t] != b[t];
    return d;
}

static int first_diff(const float *a, const float *b, int n)
{
    for (int t = 0; t < n; t++)
        if (a[t] != b[t])
            return t;
    return -1;
}

/* (a) Sampling changed between process calls while two notes sound, then a note started under
 * the new values, then greedy decoding (temperature 0), then back to a full distribution. */
static void test_sampling(void)
{
    const ev score[] = {{0, EV_ON, 60, 100, 0, 0, 0},          {400, EV_ON, 67, 80, 0, 0, 0},
                        {900, EV_SAMPLING, 0, 0, 0.7f, 0.9f, 0}, {1500, EV_OFF, 60, 0, 0, 0, 0},
                        {1800, EV_ON, 64, 90, 0, 0, 0},          {2200, EV_SAMPLING, 0, 0, 0.0f, 0.5f, 0},
                        {2600, EV_SAMPLING, 0, 0, 1.3f, 1.0f, 0}, {0, EV_END, 0, 0, 0, 0, 0}};
    const ev plain[] = {{0, EV_ON, 60, 100, 0, 0, 0},  {400, EV_ON, 67, 80, 0, 0, 0}, {1500, EV_OFF, 60, 0, 0, 0, 0},
                        {1800, EV_ON, 64, 90, 0, 0, 0}, {0, EV_END, 0, 0, 0, 0, 0}};
    float *out = calloc(N, sizeof(float)), *want = calloc(N, sizeof(float)), *same = calloc(N, sizeof(float));
    const hiss_synth_opts o = opts(1.0f, 1.0f, 777);
    hiss_synth *s = make(&o);
    int refused = play(s, score, N, 97, out);
    CHECK(refused == 0, "set_sampling refused %d valid settings", refused);
    const hiss_synth_counters cn = hiss_synth_get_counters(s);
    CHECK(hiss_synth_active_voices(s) == 3 && cn.voice_resets == 0 && cn.notes == 3,
          "after the changes: %d voices active (3 expected), %llu cut, %llu notes", hiss_synth_active_voices(s),
          (unsigned long long)cn.voice_resets, (unsigned long long)cn.notes);
    hiss_synth_free(s);
    reference(score, N, 1.0f, 1.0f, 777, want);
    const int diff = count_diff(out, want, N);
    CHECK(diff == 0, "set_sampling: %d of %d samples differ from the documented loop (first at %d)", diff, N,
          first_diff(out, want, N));

    /* The change is heard from sample 900 on and not before: against the synth left at T 1. */
    s = make(&o);
    play(s, plain, N, 97, same);
    hiss_synth_free(s);
    const int before = count_diff(out, same, 900), after = count_diff(out + 900, same + 900, N - 900);
    CHECK(before == 0 && after > (N - 900) / 2,
          "against the unchanged synth: %d differences before the change (0 expected), %d of %d after", before,
          after, N - 900);
    /* And the loop reproduces the unchanged synth too: the two loops differ only by the
     * switches, which the first comparison therefore checks. */
    reference(plain, N, 1.0f, 1.0f, 777, want);
    CHECK(count_diff(same, want, N) == 0, "the unchanged synth differs from the loop");
    printf("ok set_sampling: %d samples equal to the loop switching T/top-p at 900, 2200, 2600 (3 voices, none "
           "cut); unchanged synth equal before 900, differs in %d of %d after\n",
           N, after, N - 900);
    free(out);
    free(want);
    free(same);
}

/* (b) Refused values: HISS_ERR_ARG, and the old values stay (a partial update would be heard:
 * the valid half of each pair differs from the synth's setting). */
static void test_sampling_refused(void)
{
    const struct {
        float temperature, top_p;
    } bad[] = {{NAN, 0.5f},      {-1.0f, 0.9f},           {0.5f, 0.0f},        {0.5f, 1.5f},
               {0.5f, NAN},      {INFINITY, 1.0f},        {-INFINITY, 1.0f},   {0.5f, -0.5f},
               {0.5f, INFINITY}, {nextafterf(100.0f, 200.0f), 1.0f}, {-FLT_MIN, 0.5f}, {0.5f, nextafterf(1.0f, 2.0f)},
               {1.0f, -0.0f}};
    const int nb = (int)(sizeof bad / sizeof *bad);
    const ev score[] = {{0, EV_ON, 60, 100, 0, 0, 0}, {300, EV_ON, 72, 60, 0, 0, 0}, {1200, EV_OFF, 60, 0, 0, 0, 0},
                        {0, EV_END, 0, 0, 0, 0, 0}};
    float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float));
    const hiss_synth_opts o = opts(0.8f, 0.9f, 5);
    hiss_synth *s = make(&o), *ref = make(&o);
    play(ref, score, N, 64, b);
    /* Every refused pair at once before the first sample, then one at each of several samples
     * while the notes sound. */
    int wrong = 0;
    for (int i = 0; i < nb; i++)
        wrong += hiss_synth_set_sampling(s, bad[i].temperature, bad[i].top_p) != HISS_ERR_ARG;
    hiss_synth_note_on(s, 60, 100);
    int t = 0;
    for (int i = 0; t < N; i++) {
        int len = 137;
        if (t < 300 && t + len > 300)
            len = 300 - t;
        if (t < 1200 && t + len > 1200)
            len = 1200 - t;
        if (t + len > N)
            len = N - t;
        hiss_synth_process(s, a + t, len);
        t += len;
        if (t == 300)
            hiss_synth_note_on(s, 72, 60);
        if (t == 1200)
            hiss_synth_note_off(s, 60);
        wrong += hiss_synth_set_sampling(s, bad[i % nb].temperature, bad[i % nb].top_p) != HISS_ERR_ARG;
    }
    CHECK(wrong == 0, "%d refused settings did not return HISS_ERR_ARG", wrong);
    const int diff = count_diff(a, b, N);
    CHECK(diff == 0, "refused settings changed %d of %d samples (first at %d)", diff, N, first_diff(a, b, N));
    /* The edges of the ranges are accepted. */
    CHECK(hiss_synth_set_sampling(s, 100.0f, 1.0f) == HISS_OK && hiss_synth_set_sampling(s, 0.0f, FLT_MIN) == HISS_OK &&
              hiss_synth_set_sampling(s, -0.0f, 1.0f) == HISS_OK,
          "the edges of the ranges (temperature 0 and 100, top_p just above 0 and 1) must be accepted");
    hiss_synth_free(s);
    hiss_synth_free(ref);
    printf("ok set_sampling refused: %d bad pairs (NaN, +-inf, -1, > 100, top_p <= 0 or > 1) return HISS_ERR_ARG "
           "and leave T 0.8 / top-p 0.9: %d samples equal\n",
           nb, N);
    free(a);
    free(b);
}

/* (c) set_seed: later notes sound as the first notes of a synth created with the seed; a note
 * already sounding keeps its generator. */
static void test_seed(void)
{
    float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float)), *c = calloc(N, sizeof(float));
    const hiss_synth_opts o1 = opts(1.0f, 0.95f, 1), o2 = opts(1.0f, 0.95f, 4242);

    /* After everything is silenced: notes 0 and 1 of seed 4242, against a fresh synth. */
    const ev cut[] = {{0, EV_ON, 60, 100, 0, 0, 0},      {300, EV_ON, 62, 100, 0, 0, 0}, {700, EV_CUT, 0, 0, 0, 0, 0},
                      {700, EV_SEED, 0, 0, 0, 0, 4242}, {700, EV_ON, 64, 90, 0, 0, 0},   {1100, EV_ON, 67, 70, 0, 0, 0},
                      {1600, EV_OFF, 64, 0, 0, 0, 0},    {0, EV_END, 0, 0, 0, 0, 0}};
    const ev fresh[] = {{0, EV_ON, 64, 90, 0, 0, 0}, {400, EV_ON, 67, 70, 0, 0, 0}, {900, EV_OFF, 64, 0, 0, 0, 0},
                        {0, EV_END, 0, 0, 0, 0, 0}};
    hiss_synth *s = make(&o1);
    play(s, cut, N, 128, a);
    hiss_synth_free(s);
    s = make(&o2);
    play(s, fresh, N - 700, 128, b);
    hiss_synth_free(s);
    int diff = count_diff(a + 700, b, N - 700);
    CHECK(diff == 0, "after set_seed(4242): %d of %d samples differ from a synth created with seed 4242 (first at %d)",
          diff, N - 700, first_diff(a + 700, b, N - 700));
    /* Without set_seed the same notes are notes 2 and 3 of seed 1: audibly others. */
    ev noseed[sizeof cut / sizeof *cut];
    memcpy(noseed, cut, sizeof cut);
    noseed[3].kind = EV_CUT; /* a second cut in the same sample changes nothing */
    s = make(&o1);
    play(s, noseed, N, 128, c);
    hiss_synth_free(s);
    const int other = count_diff(c + 700, b, N - 700);
    CHECK(other > (N - 700) / 2, "without set_seed only %d of %d samples differ", other, N - 700);

    /* Mid-note: note 0 of seed 1 plays on unchanged; the note started after set_seed is note 0
     * of seed 4242, and the output is the sum of the two (exact in double). */
    const ev mid[] = {{0, EV_ON, 60, 100, 0, 0, 0}, {700, EV_SEED, 0, 0, 0, 0, 4242}, {1000, EV_ON, 64, 90, 0, 0, 0},
                      {0, EV_END, 0, 0, 0, 0, 0}};
    const ev alone[] = {{0, EV_ON, 60, 100, 0, 0, 0}, {0, EV_END, 0, 0, 0, 0, 0}};
    const ev second[] = {{0, EV_ON, 64, 90, 0, 0, 0}, {0, EV_END, 0, 0, 0, 0, 0}};
    s = make(&o1);
    play(s, mid, N, 128, a);
    hiss_synth_free(s);
    s = make(&o1);
    play(s, alone, N, 128, c);
    hiss_synth_free(s);
    s = make(&o2);
    play(s, second, N - 1000, 128, b);
    hiss_synth_free(s);
    int kept = 0, summed = 0;
    for (int t = 0; t < N; t++) {
        const float want = t < 1000 ? c[t] : (float)((double)c[t] + (double)b[t - 1000]);
        kept += t < 1000 && a[t] != want;
        summed += t >= 1000 && a[t] != want;
    }
    CHECK(kept == 0 && summed == 0,
          "set_seed mid-note: %d samples before the new note differ from the note alone, %d after from the "
          "sum with note 0 of seed 4242",
          kept, summed);
    /* The same performance by the loop (its seed change at 700, its note count restarting). */
    reference(mid, N, 1.0f, 0.95f, 1, c);
    diff = count_diff(a, c, N);
    CHECK(diff == 0, "set_seed mid-note: %d of %d samples differ from the documented loop", diff, N);
    printf("ok set_seed: after a cut, notes equal a fresh seed-4242 synth's first two (%d samples; %d differ "
           "without it); mid-note the sounding note keeps its generator and the new one is note 0 of seed 4242 "
           "(%d samples equal to the sum and to the loop)\n",
           N - 700, other, N);
    free(a);
    free(b);
    free(c);
}

/* (d) set_deadline on the CPU: the range is checked, the render is not touched. */
static void test_deadline(void)
{
    const double good[] = {0.0, 1e-3, 1.0, 2666.5, 1e6, 1e7};
    const double badv[] = {-1.0, -1e-300, -INFINITY, NAN, INFINITY, 1e7 * (1.0 + DBL_EPSILON)};
    const int ng = (int)(sizeof good / sizeof *good), nbad = (int)(sizeof badv / sizeof *badv);
    const ev score[] = {{0, EV_ON, 60, 100, 0, 0, 0}, {200, EV_ON, 65, 100, 0, 0, 0}, {1400, EV_OFF, 65, 0, 0, 0, 0},
                        {0, EV_END, 0, 0, 0, 0, 0}};
    float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float));
    const hiss_synth_opts o = opts(0.9f, 0.97f, 9);
    hiss_synth *s = make(&o), *ref = make(&o);
    play(ref, score, N, 50, b);
    int ok = 0, refused = 0;
    hiss_synth_note_on(s, 60, 100);
    for (int t = 0, i = 0; t < N; t += 50, i++) {
        if (t == 200)
            hiss_synth_note_on(s, 65, 100);
        if (t == 1400)
            hiss_synth_note_off(s, 65);
        ok += hiss_synth_set_deadline(s, good[i % ng]) == HISS_OK;
        refused += hiss_synth_set_deadline(s, badv[i % nbad]) == HISS_ERR_ARG;
        hiss_synth_process(s, a + t, 50);
    }
    const int calls = N / 50;
    CHECK(ok == calls && refused == calls, "set_deadline: %d of %d in-range values accepted, %d of %d others refused",
          ok, calls, refused, calls);
    const int diff = count_diff(a, b, N);
    CHECK(diff == 0, "set_deadline changed %d of %d CPU samples", diff, N);
    CHECK(hiss_synth_get_counters(s).deadline_misses == 0, "the CPU synth counted deadline misses");
    hiss_synth_free(s);
    hiss_synth_free(ref);
    printf("ok set_deadline (cpu): 0..1e7 us accepted, negative/NaN/inf/above 1e7 refused, %d samples unchanged\n",
           N);
    free(a);
    free(b);
}

int main(void)
{
    hiss_config c = {0};
    c.d_model = 16;
    c.n_layer = 2;
    c.d_state = 8;
    c.d_conv = 4;
    c.sample_rate = 16000;
    hiss_error err;
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release,sin1,cos1", 0, 99, &model, &err) !=
        HISS_OK) {
        printf("FAIL init: %s\n", err.msg);
        return 1;
    }
    test_sampling();
    test_sampling_refused();
    test_seed();
    test_deadline();
    hiss_synth_model_free(model);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
