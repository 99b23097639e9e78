/* The voice allocator's rules (engine/src/synth_voices.h), driven with chosen output levels:
 * free voices first, stealing the oldest held voice or the quietest released one, retriggered
 * keys, the sustain pedal, pitch bend, and voices freed after the silence rule (mean square below
 * -60 dBFS for 50 ms, predicted here from the one-pole formula) or after release_max. */
#include <math.h>
#include <stdio.h>

#include "synth_voices.h"

#include "check.h"

#define RATE 1000.0

static hiss_synth_voice v[4];
static hiss_synth_voices vs;

/* One sample: voice k outputs level[k] (active voices only). Returns a bit mask of freed voices. */
static int tick(const float *level)
{
    int freed = 0;
    for (int k = 0; k < vs.n; k++)
        if (v[k].active && hiss_synth_voices_advance(&vs, k, level[k]))
            freed |= 1 << k;
    return freed;
}

static void test_steal(void)
{
    hiss_synth_voices_init(&vs, v, 4, RATE, -60.0f, 50.0f, 2.0f);
    int stolen;
    for (int i = 0; i < 4; i++) {
        int k = hiss_synth_voices_note_on(&vs, 60 + i, 100, &stolen);
        CHECK(k == i && !stolen, "note %d took voice %d (stolen %d), expected %d", 60 + i, k, stolen, i);
    }
    const float lv[4] = {0.1f, 0.5f, 0.01f, 0.2f};
    for (int t = 0; t < 100; t++)
        tick(lv);
    int k = hiss_synth_voices_note_on(&vs, 64, 90, &stolen);
    CHECK(k == 0 && stolen, "with every voice held the oldest (0) must be stolen, got %d", k);
    CHECK(v[0].key == 64 && v[0].note.gate && v[0].note.n_on == 0 && v[0].note.velocity == 90,
          "a stolen voice starts afresh");
    /* Release 61 (loud) and 62 (quiet): the next note takes the quieter released voice, 2. */
    CHECK(hiss_synth_voices_note_off(&vs, 61) == 1 && hiss_synth_voices_note_off(&vs, 62) == 1,
          "note-off must release one voice each");
    CHECK(!v[1].note.gate && !v[2].note.gate && v[3].note.gate, "gates after note-off");
    for (int t = 0; t < 10; t++)
        tick(lv);
    k = hiss_synth_voices_note_on(&vs, 65, 80, &stolen);
    CHECK(k == 2 && stolen, "the quietest released voice (2) must be stolen, got %d", k);
    /* Two released voices equally quiet: the older goes. */
    hiss_synth_voices_note_off(&vs, 64); /* voice 0, order 4 */
    hiss_synth_voices_note_off(&vs, 63); /* voice 3, order 3 */
    v[0].ms = v[3].ms = 0.01; /* below voice 1 (about 0.25) */
    k = hiss_synth_voices_note_on(&vs, 66, 80, &stolen);
    CHECK(k == 3, "equal levels: the older released voice (3) must be stolen, got %d", k);
    CHECK(hiss_synth_voices_note_off(&vs, 99) == 0, "note-off of a key not playing releases nothing");
    printf("ok steal: free voices first, oldest held, quietest released, older among equals\n");
}

static void test_retrigger_pedal_bend(void)
{
    hiss_synth_voices_init(&vs, v, 4, RATE, -60.0f, 50.0f, 2.0f);
    int stolen;
    int a = hiss_synth_voices_note_on(&vs, 72, 100, &stolen);
    int b = hiss_synth_voices_note_on(&vs, 72, 100, &stolen);
    CHECK(a != b && v[a].active && !v[a].note.gate && v[b].note.gate,
          "a second note-on of a held key releases the first voice and takes another");
    CHECK(hiss_synth_voices_note_off(&vs, 72) == 1, "then one note-off releases the second");
    hiss_synth_voices_clear(&vs);
    CHECK(hiss_synth_voices_active(&vs) == 0, "clear silences every voice");

    hiss_synth_voices_sustain(&vs, 1);
    a = hiss_synth_voices_note_on(&vs, 50, 100, &stolen);
    b = hiss_synth_voices_note_on(&vs, 55, 100, &stolen);
    hiss_synth_voices_note_off(&vs, 50);
    const float z[4] = {0};
    tick(z);
    CHECK(v[a].note.gate && !v[a].key_down, "with the pedal down a note-off leaves the gate open");
    hiss_synth_voices_sustain(&vs, 0);
    CHECK(!v[a].note.gate && v[a].note.n_off == 0 && v[b].note.gate,
          "pedal up closes the gates of released keys only");
    hiss_synth_voices_bend(&vs, -1.5);
    CHECK(v[a].note.pitch == 48.5 && v[b].note.pitch == 53.5, "bend moves every voice (%g, %g)", v[a].note.pitch,
          v[b].note.pitch);
    int c = hiss_synth_voices_note_on(&vs, 60, 100, &stolen);
    CHECK(v[c].note.pitch == 58.5, "a new note starts bent (%g)", v[c].note.pitch);
    hiss_synth_voices_all_off(&vs);
    int gated = 0;
    for (int k = 0; k < 4; k++)
        gated += v[k].active && v[k].note.gate;
    CHECK(gated == 0, "all notes off closes every gate (%d still open)", gated);
    printf("ok keys: retrigger, sustain pedal, pitch bend, all notes off\n");
}

/* The sample (counted from release, 1-based) at which the rule frees a voice whose mean square is
 * ms0 at release and whose output is zero from then on. */
static long predicted_free(double ms0)
{
    const double a = 1.0 - exp(-1.0 / (0.010 * RATE)), thr = 1e-6;
    long quiet = 0;
    double ms = ms0;
    for (long n = 1; n < 100000; n++) {
        ms += a * (0.0 - ms);
        quiet = ms < thr ? quiet + 1 : 0;
        if (quiet >= 50)
            return n;
    }
    return -1;
}

static void test_free(void)
{
    hiss_synth_voices_init(&vs, v, 4, RATE, -60.0f, 50.0f, 2.0f);
    int stolen;
    /* Voice 0 plays 0.3 for 0.5 s then goes silent at release; voice 1 stays at 0.3 after its
     * release; voice 2 is silent all along. */
    hiss_synth_voices_note_on(&vs, 40, 100, &stolen);
    hiss_synth_voices_note_on(&vs, 41, 100, &stolen);
    hiss_synth_voices_note_on(&vs, 42, 100, &stolen);
    float lv[4] = {0.3f, 0.3f, 0.0f, 0.0f};
    for (int t = 0; t < 500; t++)
        CHECK(tick(lv) == 0, "no held voice may be freed");
    const double ms0 = v[0].ms;
    hiss_synth_voices_note_off(&vs, 40);
    hiss_synth_voices_note_off(&vs, 41);
    hiss_synth_voices_note_off(&vs, 42);
    lv[0] = 0.0f;
    long freed_at[3] = {-1, -1, -1};
    for (long n = 1; n <= 2100; n++) {
        int f = tick(lv);
        for (int k = 0; k < 3; k++)
            if (f & (1 << k))
                freed_at[k] = n;
    }
    const long want0 = predicted_free(ms0);
    CHECK(freed_at[0] == want0, "decaying voice freed at %ld samples after release, predicted %ld", freed_at[0],
          want0);
    CHECK(freed_at[2] == 50, "silent voice freed at %ld samples after release, expected 50 (50 ms)", freed_at[2]);
    CHECK(freed_at[1] == 2000, "loud voice freed at %ld samples after release, expected 2000 (release_max 2 s)",
          freed_at[1]);
    CHECK(hiss_synth_voices_active(&vs) == 0, "all voices freed");
    /* A voice at -59 dBFS stays; at -61 dBFS it goes after 50 ms. */
    hiss_synth_voices_init(&vs, v, 4, RATE, -60.0f, 50.0f, 100.0f);
    hiss_synth_voices_note_on(&vs, 40, 100, &stolen);
    hiss_synth_voices_note_on(&vs, 41, 100, &stolen);
    lv[0] = (float)pow(10.0, -59.0 / 20.0);
    lv[1] = (float)pow(10.0, -61.0 / 20.0);
    hiss_synth_voices_note_off(&vs, 40);
    hiss_synth_voices_note_off(&vs, 41);
    /* Start both at their steady level, then run 5 s. */
    v[0].ms = (double)lv[0] * lv[0];
    v[1].ms = (double)lv[1] * lv[1];
    long f1 = -1;
    for (long n = 1; n <= 5000; n++)
        if (tick(lv) & 2)
            f1 = n;
    CHECK(v[0].active && f1 == 50, "-59 dBFS must keep sounding (%d), -61 dBFS freed at 50 (%ld)", v[0].active, f1);
    printf("ok free: silence rule at %ld samples (predicted %ld), 50 ms when silent, release_max 2000, "
           "threshold -60 dBFS\n", freed_at[0], want0);
}

int main(void)
{
    test_steal();
    test_retrigger_pedal_bend();
    test_free();
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
