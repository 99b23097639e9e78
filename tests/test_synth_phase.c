/* The phase features (sin1, cos1, sin2, cos2) against their closed form, computed here in float64
 * independently of the engine's accumulation: at constant pitch the phase at sample n_on is
 * frac(n_on * f / rate), f = 440 * 2^((pitch - 69) / 12) Hz. Notes of 10 minutes are advanced
 * sample by sample through hiss_synth_note_advance (what voices and trainers call); the features
 * are compared at every sample of the first and last second and every 97th in between.
 *
 * Tolerance, derived rather than tuned (N samples, inc = f / rate < 0.5, h the harmonic):
 *  - engine: each step rounds phase + inc (< 2) once: at most 2^-53; inc itself carries the
 *    rounding of (pitch - 69) / 12, exp2 (glibc: < 1 ulp), * 440 and / rate: below 2^-49
 *    relative (generous); over N steps the phase is off by at most N (2^-53 + inc 2^-49) cycles;
 *  - closed form here: inc through pow instead of exp2 (the same 2^-49 relative), the products
 *    and the sum of the bend case rounded (2^-52 relative in all) and the frac exact:
 *    N inc (2^-49 + 2^-52);
 *  - then 2 pi h times that in the argument, plus the arguments' own roundings (2^-50 h), sin and
 *    cos (1 ulp each side, 2^-51) and the result's rounding to float (2^-25 for |value| < 1).
 * At 10 minutes of 48 kHz (N = 2.88e7) and pitch 127 (inc 0.26) the bound is 4.3e-7 for sin2,
 * about seven float ulps at 1; a phase accumulated in float, or a wrong frequency, misses it by
 * orders of magnitude. The phase itself (hiss_synth_note.phase, double) is checked against the
 * first two items alone: there the measured drift is 10 to 60 times below the bound, while the
 * features' errors are dominated by the float rounding, which is reached (ratios near 1). Pitch 69 at 48 kHz has an exact rational phase (11 n mod 1200) / 1200:
 * checked too.
 * A pitch bend mid-note: the phase after it is frac(n1 f1 / rate + (n - n1) f2 / rate), the same
 * bound with both increments, and the step across the bend is one increment of the old pitch
 * then one of the new (no jump, no reset). Closing the gate does not disturb the phase. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "hiss_synth.h"

#include "check.h"

static const double TWO_PI = 6.283185307179586476925286766559;
static const hiss_synth_feature PHASE_F[4] = {HISS_SYNTH_F_SIN1, HISS_SYNTH_F_COS1, HISS_SYNTH_F_SIN2,
                                              HISS_SYNTH_F_COS2};

static double freq(double pitch)
{
    return 440.0 * pow(2.0, (pitch - 69.0) / 12.0);
}

static double frac(double x)
{
    return x - floor(x);
}

/* The four features of a phase, in double. */
static void closed_form(double phase, double v[4])
{
    v[0] = sin(TWO_PI * phase);
    v[1] = cos(TWO_PI * phase);
    v[2] = sin(2.0 * TWO_PI * phase);
    v[3] = cos(2.0 * TWO_PI * phase);
}

/* The bound of the header on the phase, in cycles, after n samples whose increments add up to
 * sum_inc; then on the value of harmonic h. */
static double phase_bound(double n, double sum_inc)
{
    return n * 0x1p-53 + sum_inc * 0x1p-49 + sum_inc * (0x1p-49 + 0x1p-52);
}

static double bound(double n, double sum_inc, int h)
{
    return TWO_PI * h * phase_bound(n, sum_inc) + h * 0x1p-50 + 0x1p-51 + 0x1p-25;
}

typedef struct err_track {
    double worst[4];   /* largest |engine - reference| per feature */
    double ratio;      /* largest error / bound */
    double phase;      /* largest phase error, cycles */
    double phase_ratio;
    long checked;
} err_track;

static void compare(err_track *e, const hiss_synth_note *note, double rate, double ref_phase, double pbound,
                    const double ref[4], double bnd1, double bnd2)
{
    double dp = fabs(note->phase - ref_phase);
    dp = fmin(dp, 1.0 - dp); /* across the wrap */
    if (!(dp <= e->phase))
        e->phase = dp == dp ? dp : INFINITY;
    if (!(dp / pbound <= e->phase_ratio))
        e->phase_ratio = dp == dp ? dp / pbound : INFINITY;
    for (int i = 0; i < 4; i++) {
        const double v = (double)hiss_synth_feature_value(PHASE_F[i], note, rate);
        const double d = fabs(v - ref[i]);
        const double b = i < 2 ? bnd1 : bnd2;
        if (d > e->worst[i] || d != d)
            e->worst[i] = d == d ? d : INFINITY;
        if (d / b > e->ratio || d != d)
            e->ratio = d == d ? d / b : INFINITY;
    }
    e->checked++;
}

static int sampled(uint64_t n, uint64_t total, uint64_t every, double rate)
{
    const uint64_t edge = (uint64_t)rate;
    return n < edge || n + edge >= total || n % every == 0;
}

/* A note of `seconds` at constant pitch; exact: use the rational phase of pitch 69 at 48 kHz. */
static void constant_pitch(double pitch, double rate, double seconds, int exact)
{
    const uint64_t total = (uint64_t)llround(seconds * rate);
    const double f = freq(pitch), inc = f / rate;
    hiss_synth_note note = hiss_synth_note_start(pitch, 100);
    err_track e = {{0}, 0, 0, 0, 0};
    int in_range = 1, release_at = (int)(total / 2);
    for (uint64_t n = 0; n < total; n++) {
        if (n == (uint64_t)release_at) {
            note.gate = 0; /* the release changes nothing of the phase */
            note.n_off = 0;
        }
        in_range &= note.phase >= 0.0 && note.phase < 1.0;
        if (sampled(n, total, 97, rate)) {
            const double ph = exact ? (double)((11u * n) % 1200u) / 1200.0 : frac((double)n * inc);
            double ref[4];
            closed_form(ph, ref);
            const double sum_inc = (double)n * inc;
            compare(&e, &note, rate, ph, phase_bound((double)n, sum_inc) + 0x1p-53, ref, bound((double)n, sum_inc, 1),
                    bound((double)n, sum_inc, 2));
        }
        hiss_synth_note_advance(&note, rate);
    }
    const int ok = e.ratio <= 1.0 && e.phase_ratio <= 1.0 && in_range;
    CHECK(ok, "pitch %.2f at %g Hz: worst error / bound %.3g (phase %.3g), phase in [0, 1): %d", pitch, rate,
          e.ratio, e.phase_ratio, in_range);
    printf("%s pitch %6.2f (%9.3f Hz) at %g Hz, %.0f s%s: %ld samples checked; phase error %.2e cycles (bound at "
           "the end %.2e); worst |error| sin1 %.2e cos1 %.2e sin2 %.2e cos2 %.2e (bound at the end %.2e / %.2e; "
           "worst error / bound %.2f)\n",
           ok ? "ok" : "FAIL", pitch, f, rate, seconds, exact ? " (exact rational phase)" : "", e.checked, e.phase,
           phase_bound((double)total, total * inc), e.worst[0], e.worst[1], e.worst[2], e.worst[3],
           bound((double)total, total * inc, 1), bound((double)total, total * inc, 2), e.ratio);
}

static void start_values(void)
{
    const hiss_synth_note n = hiss_synth_note_start(61.3, 64);
    const double rate = 44100.0;
    const float v[4] = {hiss_synth_feature_value(HISS_SYNTH_F_SIN1, &n, rate),
                        hiss_synth_feature_value(HISS_SYNTH_F_COS1, &n, rate),
                        hiss_synth_feature_value(HISS_SYNTH_F_SIN2, &n, rate),
                        hiss_synth_feature_value(HISS_SYNTH_F_COS2, &n, rate)};
    CHECK(n.phase == 0.0 && n.n_on == 0 && n.gate == 1 && v[0] == 0.0f && v[1] == 1.0f && v[2] == 0.0f &&
              v[3] == 1.0f,
          "note-on: phase %g, features %g %g %g %g (expected 0, 1, 0, 1)", n.phase, v[0], v[1], v[2], v[3]);
    for (int i = 0; i < 4; i++) {
        const char *name = hiss_synth_feature_name(PHASE_F[i]);
        CHECK(name && hiss_synth_feature_by_name(name) == (int)PHASE_F[i], "feature name %d", i);
    }
    printf("ok note-on: phase 0, sin1 0, cos1 1, sin2 0, cos2 1 exactly; names sin1 cos1 sin2 cos2\n");
}

/* A bend at sample n1 (the voices set note.pitch between samples): from then on the phase is
 * frac(n1 inc1 + (n - n1) inc2). Ten minutes at 48 kHz after the bend. */
static void bend(void)
{
    const double rate = 48000.0, p1 = 64.0, p2 = 64.0 + 1.37;
    const double inc1 = freq(p1) / rate, inc2 = freq(p2) / rate;
    const uint64_t n1 = 12345, total = n1 + (uint64_t)(600 * rate);
    hiss_synth_note note = hiss_synth_note_start(p1, 90);
    err_track e = {{0}, 0, 0, 0, 0};
    double before = 0.0, at = 0.0, after = 0.0;
    for (uint64_t n = 0; n < total; n++) {
        if (n == n1)
            note.pitch = p2;
        if (n == n1 - 1)
            before = note.phase;
        if (n == n1)
            at = note.phase;
        if (n == n1 + 1)
            after = note.phase;
        if (sampled(n, total, 97, rate) || (n + 1000 > n1 && n < n1 + 1000)) {
            const double sum = n <= n1 ? (double)n * inc1 : (double)n1 * inc1 + (double)(n - n1) * inc2;
            double ref[4];
            closed_form(frac(sum), ref);
            compare(&e, &note, rate, frac(sum), phase_bound((double)n, sum) + 0x1p-53, ref, bound((double)n, sum, 1),
                    bound((double)n, sum, 2));
        }
        hiss_synth_note_advance(&note, rate);
    }
    /* Across the bend: one old increment, then one new, modulo 1 (to the rounding of one step). */
    const double step1 = frac(at - before + 1.0), step2 = frac(after - at + 1.0);
    const double d1 = fabs(step1 - inc1), d2 = fabs(step2 - inc2);
    const int ok = e.ratio <= 1.0 && e.phase_ratio <= 1.0 && d1 < 1e-15 && d2 < 1e-15;
    CHECK(ok, "bend: worst error / bound %.3g (phase %.3g), steps across the bend off by %.2e and %.2e", e.ratio,
          e.phase_ratio, d1, d2);
    printf("%s bend %.2f -> %.2f at sample %llu, then 600 s: %ld samples checked; phase error %.2e cycles; worst "
           "|error| sin1 %.2e cos1 %.2e sin2 %.2e cos2 %.2e (worst error / bound %.2f); steps across the bend "
           "%.12f then %.12f cycles (old and new increments %.12f, %.12f)\n",
           ok ? "ok" : "FAIL", p1, p2, (unsigned long long)n1, e.checked, e.phase, e.worst[0], e.worst[1],
           e.worst[2], e.worst[3], e.ratio, step1, step2, inc1, inc2);
}

int main(void)
{
    start_values();
    constant_pitch(69.0, 48000.0, 600.0, 1);
    constant_pitch(127.0, 48000.0, 600.0, 0);
    constant_pitch(60.37, 44100.0, 600.0, 0);
    constant_pitch(0.0, 16000.0, 600.0, 0);
    constant_pitch(33.5, 96000.0, 60.0, 0);
    bend();
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
