/* The conditioning a synth voice gives its model each sample, from the state of its note. The
 * time constants are fixed here (and in docs/synth.md) because a model is trained with them: a
 * trainer computes the same numbers through this same function. Each value stays in [-6, 6] so
 * that no feature dominates cond_proj at initialisation. */
#include <math.h>
#include <string.h>

#include "hiss_synth.h"

static const char *const names[HISS_SYNTH_F_COUNT] = {
    "pitch", "velocity", "gate", "onset", "decay", "release", "sin1", "cos1", "sin2", "cos2",
    "sin3",  "cos3",     "sin4", "cos4",  "sin5",  "cos5",    "sin6", "cos6", "sin7", "cos7",
    "sin8",  "cos8"};

/* Seconds. onset marks the attack transient, decay the slow evolution of a held note, release
 * the tail after the key goes up. */
#define TAU_ONSET 0.02
#define TAU_DECAY 1.0
#define TAU_RELEASE 0.2

static const double TWO_PI = 6.283185307179586476925286766559;

const char *hiss_synth_feature_name(hiss_synth_feature f)
{
    return (int)f >= 0 && f < HISS_SYNTH_F_COUNT ? names[f] : NULL;
}

int hiss_synth_feature_by_name(const char *name)
{
    for (int i = 0; i < HISS_SYNTH_F_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

float hiss_synth_feature_value(hiss_synth_feature f, const hiss_synth_note *n, double sample_rate)
{
    switch (f) {
    case HISS_SYNTH_F_PITCH:
        return (float)((n->pitch - 69.0) / 12.0);
    case HISS_SYNTH_F_VELOCITY:
        return (float)((double)n->velocity / 127.0);
    case HISS_SYNTH_F_GATE:
        return n->gate ? 1.0f : 0.0f;
    case HISS_SYNTH_F_ONSET:
        return (float)exp(-(double)n->n_on / (TAU_ONSET * sample_rate));
    case HISS_SYNTH_F_DECAY:
        return (float)exp(-(double)n->n_on / (TAU_DECAY * sample_rate));
    case HISS_SYNTH_F_RELEASE:
        return n->gate ? 0.0f : (float)exp(-(double)n->n_off / (TAU_RELEASE * sample_rate));
    case HISS_SYNTH_F_COUNT:
        return 0.0f;
    default:
        break;
    }
    if ((int)f < HISS_SYNTH_F_SIN1 || f >= HISS_SYNTH_F_COUNT)
        return 0.0f;
    /* the harmonics: sin1, cos1, sin2, cos2, ... in pairs, harmonic k = pair index + 1 */
    const int h = (int)f - HISS_SYNTH_F_SIN1;
    const double arg = (double)(h / 2 + 1) * TWO_PI * n->phase;
    return (float)(h % 2 ? cos(arg) : sin(arg));
}

hiss_synth_note hiss_synth_note_start(double pitch, int velocity)
{
    hiss_synth_note n;
    memset(&n, 0, sizeof n);
    n.pitch = pitch;
    n.velocity = velocity;
    n.gate = 1;
    return n;
}

void hiss_synth_note_advance(hiss_synth_note *n, double sample_rate)
{
    n->n_on++;
    if (!n->gate)
        n->n_off++;
    /* Accumulated rather than computed from n_on, so a pitch bend glides instead of jumping
     * the phase; the wrap keeps the sum exact over notes of any length. */
    const double f = 440.0 * exp2((n->pitch - 69.0) / 12.0);
    double p = n->phase + f / sample_rate;
    p -= floor(p);
    n->phase = p;
}
