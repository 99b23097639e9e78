/* The polyphonic instrument end to end: one voice equals a loop written here from docs/synth.md
 * (features from the reference's own note clocks and phase, through a pitch bend and the
 * release; step, sampler, per-note seeding, mu-law decoding), renders do not depend on block
 * sizes, two notes sound as the sum of each alone (whatever voice they land in), seeds
 * reproduce, raw MIDI bytes act as the calls they stand for, voices are freed by the silence rule
 * at the predicted sample, and a model that gives NaN logits has its voice cut. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "synth_ref.h"

#include "check.h"

#define N 3000

static hiss_synth_model *model;

static void test_one_voice(void)
{
    const hiss_config *c = hiss_synth_model_config(model);
    hiss_synth_opts o = hiss_synth_opts_default();
    o.n_voices = 3;
    o.temperature = 0.9f;
    o.top_p = 0.95f;
    o.seed = 31337;
    hiss_synth *s;
    hiss_error err;
    if (hiss_synth_create(model, &o, &s, &err) != HISS_OK) {
        CHECK(0, "create: %s", err.msg);
        return;
    }
    float *out = calloc(N, sizeof(float)), *want = calloc(N, sizeof(float));
    hiss_synth_note_on(s, 57, 90);
    hiss_synth_process(s, out, 700);
    hiss_synth_pitch_bend(s, -0.75f); /* -1.5 semitones at the default range of 2 */
    hiss_synth_process(s, out + 700, 500);
    hiss_synth_note_off(s, 57);
    hiss_synth_process(s, out + 1200, N - 1200);

    float *state = calloc(hiss_synth_state_floats(model), sizeof(float));
    float *scratch = calloc(hiss_synth_scratch_floats(model), sizeof(float));
    float logits[256], cond[HISS_MAX_COND];
    double cd[HISS_MAX_COND];
    hiss_synth_sampler w;
    hiss_synth_rng r;
    synth_ref_note_rng(&r, 31337, 0);
    synth_ref_note note = synth_ref_note_start(57.0, 90);
    int prev = 128;
    for (int t = 0; t < N; t++) {
        if (t == 700)
            note.pitch = 57.0 - 1.5;
        if (t == 1200)
            synth_ref_note_release(&note);
        synth_ref_features(model, &note, cd);
        for (int i = 0; i < c->n_cond; i++)
            cond[i] = (float)cd[i];
        hiss_synth_step(model, state, prev, cond, logits, scratch);
        prev = hiss_synth_sample(&w, logits, 0.9f, 0.95f, &r);
        want[t] = hiss_synth_mulaw_decode(prev);
        synth_ref_note_advance(&note, c->sample_rate);
    }
    int diff = 0;
    double e = 0.0;
    for (int t = 0; t < N; t++) {
        diff += out[t] != want[t];
        e += (double)want[t] * want[t];
    }
    CHECK(diff == 0, "one voice: %d of %d samples differ from the documented loop", diff, N);
    printf("ok one voice: %d samples equal to the loop of docs/synth.md (rms %.4f)\n", N, sqrt(e / N));
    free(state);
    free(scratch);
    free(out);
    free(want);
    hiss_synth_free(s);
}

/* A render of a fixed score in blocks of `block` frames (events at fixed samples). */
typedef struct ev {
    int at;
    uint8_t msg[3];
} ev;
static const ev score[] = {{0, {0x90, 60, 100}},  {300, {0x90, 64, 80}},   {301, {0xB0, 64, 127}},
                           {700, {0x80, 60, 0}},  {900, {0x90, 67, 0}},    {950, {0xE0, 0x00, 0x50}},
                           {1100, {0x90, 62, 40}}, {1500, {0xB0, 64, 0}},  {1800, {0x90, 64, 0}},
                           {2000, {0xB0, 123, 0}}};

static void render(uint64_t seed, int block, int voices, float *out)
{
    hiss_synth_opts o = hiss_synth_opts_default();
    o.seed = seed;
    o.n_voices = voices;
    hiss_synth *s;
    hiss_synth_create(model, &o, &s, NULL);
    int t = 0;
    size_t e = 0;
    while (t < N) {
        while (e < sizeof score / sizeof *score && score[e].at == t) {
            hiss_synth_midi(s, score[e].msg, 3);
            e++;
        }
        int n = block;
        if (t + n > N)
            n = N - t;
        if (e < sizeof score / sizeof *score && score[e].at - t < n)
            n = score[e].at - t;
        hiss_synth_process(s, out + t, n);
        t += n;
    }
    hiss_synth_free(s);
}

static void test_blocks_seeds(void)
{
    float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float));
    render(5, 1, 8, a);
    int worst = 0;
    const int blocks[] = {7, 64, 480, 4096};
    for (int i = 0; i < 4; i++) {
        render(5, blocks[i], 8, b);
        int d = memcmp(a, b, N * sizeof(float)) != 0;
        CHECK(!d, "block size %d changes the render", blocks[i]);
        worst |= d;
    }
    render(5, 64, 8, b);
    CHECK(!memcmp(a, b, N * sizeof(float)), "the same seed must give the same render");
    render(6, 64, 8, b);
    int differ = 0;
    for (int t = 0; t < N; t++)
        differ += a[t] != b[t];
    CHECK(differ > N / 2, "seeds 5 and 6 give %d different samples of %d", differ, N);
    printf("ok blocks and seeds: blocks 1/7/64/480/4096 identical, seed 6 differs in %d of %d samples\n", differ, N);
    free(a);
    free(b);
}

/* Note 0 alone, note 1 alone (after a silenced dummy note so that it is note 1), and both
 * together: the sum must match to the bit (voices are summed in double). */
static void test_sum(void)
{
    float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float)), *ab = calloc(N, sizeof(float));
    hiss_synth_opts o = hiss_synth_opts_default();
    o.seed = 11;
    hiss_synth *s;
    hiss_synth_create(model, &o, &s, NULL);
    const uint8_t off_all[3] = {0xB0, 120, 0};
    hiss_synth_note_on(s, 48, 110);
    hiss_synth_process(s, a, N);
    hiss_synth_reset(s);
    hiss_synth_note_on(s, 1, 1);
    hiss_synth_midi(s, off_all, 3); /* all sound off: voices go, the note count stays */
    hiss_synth_note_on(s, 55, 70);
    hiss_synth_process(s, b, N);
    hiss_synth_reset(s);
    hiss_synth_note_on(s, 48, 110);
    hiss_synth_note_on(s, 55, 70);
    hiss_synth_process(s, ab, N);
    int diff = 0;
    for (int t = 0; t < N; t++)
        diff += ab[t] != (float)((double)a[t] + (double)b[t]);
    CHECK(diff == 0, "two notes: %d of %d samples differ from the sum of each alone", diff, N);
    CHECK(hiss_synth_active_voices(s) == 2, "two voices active, got %d", hiss_synth_active_voices(s));
    hiss_synth_counters cn = hiss_synth_get_counters(s);
    CHECK(cn.notes == 5 && cn.frames == 3 * N, "counters: %llu notes, %llu frames", (unsigned long long)cn.notes,
          (unsigned long long)cn.frames);
    /* Steals: 2 voices, 3 held notes. */
    hiss_synth_free(s);
    o.n_voices = 2;
    hiss_synth_create(model, &o, &s, NULL);
    hiss_synth_note_on(s, 40, 100);
    hiss_synth_note_on(s, 41, 100);
    hiss_synth_note_on(s, 42, 100);
    cn = hiss_synth_get_counters(s);
    CHECK(cn.steals == 1 && hiss_synth_active_voices(s) == 2, "2 voices, 3 notes: %llu steals",
          (unsigned long long)cn.steals);
    hiss_synth_free(s);
    printf("ok polyphony: two notes are the bitwise sum of each alone; stealing counted\n");
    free(a);
    free(b);
    free(ab);
}

static void test_midi_bytes(void)
{
    float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float));
    hiss_synth_opts o = hiss_synth_opts_default();
    o.bend_range = 12.0f;
    hiss_synth *s, *t;
    hiss_synth_create(model, &o, &s, NULL);
    hiss_synth_create(model, &o, &t, NULL);
    const uint8_t on[3] = {0x93, 62, 77}, off0[3] = {0x93, 62, 0}, bend[3] = {0xE5, 0x7F, 0x7F};
    hiss_synth_midi(s, on, 3);
    hiss_synth_midi(s, bend, 3);
    hiss_synth_note_on(t, 62, 77);
    hiss_synth_pitch_bend(t, 8191.0f / 8192.0f);
    hiss_synth_process(s, a, 500);
    hiss_synth_process(t, b, 500);
    hiss_synth_midi(s, off0, 3);
    hiss_synth_note_off(t, 62);
    hiss_synth_process(s, a + 500, N - 500);
    hiss_synth_process(t, b + 500, N - 500);
    CHECK(!memcmp(a, b, N * sizeof(float)), "MIDI bytes and calls must render the same");
    const uint8_t junk[][3] = {{0x12, 0x34, 0x56}, {0xF8, 0, 0}, {0x90, 200, 200}};
    for (int i = 0; i < 3; i++)
        hiss_synth_midi(s, junk[i], 3);
    hiss_synth_midi(s, on, 2); /* short message: ignored */
    CHECK(hiss_synth_active_voices(s) <= 1, "junk bytes must not start notes");
    hiss_synth_free(s);
    hiss_synth_free(t);
    free(a);
    free(b);
    printf("ok midi bytes: note-on velocity 0, pitch bend and channel bytes act as the calls\n");
}

static void test_free_and_nan(void)
{
    hiss_error err;
    hiss_synth_model *m;
    hiss_config c = {0};
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 4;
    c.d_conv = 2;
    c.sample_rate = 16000;
    if (hiss_synth_model_init(&c, "gate,velocity", 1, 3, &m, &err) != HISS_OK) {
        CHECK(0, "init: %s", err.msg);
        return;
    }
    /* Logits are the bias alone: class 128 (8.6e-5, -81 dBFS) has e^50 times any other's weight. */
    hiss_tensor w = hiss_synth_model_tensor_by_name(m, "lm_head.weight");
    hiss_tensor b = hiss_synth_model_tensor_by_name(m, "lm_head.bias");
    memset(w.data, 0, w.numel * sizeof(float));
    for (int k = 0; k < 256; k++)
        b.data[k] = k == 128 ? 50.0f : 0.0f;
    hiss_synth_model_finish(m);
    hiss_synth_opts o = hiss_synth_opts_default();
    hiss_synth *s;
    hiss_synth_create(m, &o, &s, NULL);
    float x[1];
    hiss_synth_note_on(s, 60, 100);
    for (int t = 0; t < 1000; t++)
        hiss_synth_process(s, x, 1);
    hiss_synth_note_off(s, 60);
    long freed = -1;
    for (long n = 1; n <= 2000 && freed < 0; n++) {
        hiss_synth_process(s, x, 1);
        if (hiss_synth_active_voices(s) == 0)
            freed = n;
    }
    CHECK(freed == 800, "a silent voice must be freed 50 ms (800 samples) after release, was %ld", freed);
    CHECK(hiss_synth_get_counters(s).freed == 1, "freed counter");
    /* NaN logits: the voice is cut and counted, the output stays finite. */
    b.data[17] = NAN;
    hiss_synth_model_finish(m);
    hiss_synth_note_on(s, 61, 100);
    float y[64];
    hiss_synth_process(s, y, 64);
    int finite = 1;
    for (int t = 0; t < 64; t++)
        finite &= y[t] == 0.0f;
    CHECK(finite && hiss_synth_active_voices(s) == 0 && hiss_synth_get_counters(s).voice_resets == 1,
          "NaN logits: voice cut (%d active, %llu resets)", hiss_synth_active_voices(s),
          (unsigned long long)hiss_synth_get_counters(s).voice_resets);
    hiss_synth_free(s);
    hiss_synth_model_free(m);
    printf("ok freeing: silent voice freed %ld samples (50 ms) after release; NaN logits cut the voice\n", freed);
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
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release,sin1,cos1", 0, 99, &model, &err) != HISS_OK) {
        printf("FAIL init: %s\n", err.msg);
        return 1;
    }
    test_one_voice();
    test_blocks_seeds();
    test_sum();
    test_midi_bytes();
    test_free_and_nan();
    hiss_synth_model_free(model);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
