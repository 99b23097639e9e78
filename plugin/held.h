/* What the keys, the sustain pedal and the pitch bend are doing now, followed from the MIDI the
 * synth receives, so that a synth built while notes sound (a model swap, another voice count)
 * carries them on instead of falling silent. Real-time safe. */
#ifndef HP_HELD_H
#define HP_HELD_H

#include <stdint.h>

#include "hiss_synth.h"

typedef struct hp_held {
    uint8_t down[128];      /* velocity of a key held down, 0 when up */
    uint8_t sustained[128]; /* velocity of a key released while the pedal holds it */
    int pedal;
    uint8_t bend[3];        /* the last pitch-bend message */
    int bent;               /* it is away from the centre */
} hp_held;

void hp_held_clear(hp_held *h);

/* Follow one MIDI message as hiss_synth_midi reads it (channels merged, velocity 0 is note-off,
 * CC 64 sustain, CC 120 all sound off, CC 123 all notes off, pitch bend). */
void hp_held_midi(hp_held *h, const uint8_t *msg, uint32_t len);

/* Play into a synth that was just built or reset what sounds now: the bend, the pedal, then for
 * each held key in ascending order a note-on at its velocity, followed at once by a note-off
 * for the keys only the pedal holds. The notes restart from their attack. */
void hp_held_replay(const hp_held *h, hiss_synth *s);

#endif
