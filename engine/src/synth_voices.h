/* Voice allocation for the synth: which voice a note takes, when its gate closes, when it is
 * freed. Bookkeeping only (no model), so its rules can be tested on their own:
 *  - a note-on takes a free voice; with none free it steals the quietest released voice (lowest
 *    output mean square, the older among equals), or, when every voice is still held, the oldest;
 *  - a note-on of a key whose earlier voice is still gated (held or sustained) releases that voice;
 *  - note-off closes the gate, unless the sustain pedal is down: then the gate closes when the
 *    pedal comes up;
 *  - a released voice is freed once the mean square of its output (one pole, 10 ms) has stayed
 *    below silence_db for silence_ms, or release_max_s after its release in any case. */
#ifndef HISS_SYNTH_VOICES_H
#define HISS_SYNTH_VOICES_H

#include <stdint.h>

#include "hiss_synth.h"

typedef struct hiss_synth_voice {
    int active;             /* sounding: held, sustained or releasing */
    int key;                /* MIDI note number */
    int key_down;           /* the key has not been released */
    hiss_synth_note note;   /* what the conditioning is computed from */
    uint64_t order;         /* note-on sequence number: lower is older */
    double ms;              /* mean square of the voice's output */
    uint64_t quiet;         /* released samples in a row with ms below the threshold */
} hiss_synth_voice;

typedef struct hiss_synth_voices {
    hiss_synth_voice *v;
    int n;
    int pedal;
    double bend;            /* semitones, applied to every voice's pitch */
    uint64_t next_order;
    double ms_coef;         /* one-pole smoothing per sample */
    double ms_threshold;
    uint64_t quiet_len;     /* samples */
    uint64_t release_max;   /* samples */
    double rate;            /* the model's sample rate, Hz */
} hiss_synth_voices;

/* v has n entries; rate is the model's sample rate. */
void hiss_synth_voices_init(hiss_synth_voices *vs, hiss_synth_voice *v, int n, double rate,
                            float silence_db, float silence_ms, float release_max_s);
/* Silence every voice at once (all sound off); pedal and bend back to rest. */
void hiss_synth_voices_clear(hiss_synth_voices *vs);
/* The voice the note takes, set up from scratch; *stolen is 1 when it was sounding. */
int hiss_synth_voices_note_on(hiss_synth_voices *vs, int key, int velocity, int *stolen);
/* Number of voices whose key this releases. */
int hiss_synth_voices_note_off(hiss_synth_voices *vs, int key);
void hiss_synth_voices_sustain(hiss_synth_voices *vs, int down);
void hiss_synth_voices_bend(hiss_synth_voices *vs, double semitones);
void hiss_synth_voices_all_off(hiss_synth_voices *vs);
/* After voice k produced sample x: advance its clocks and level; 1 when this freed it. */
int hiss_synth_voices_advance(hiss_synth_voices *vs, int k, float x);
int hiss_synth_voices_active(const hiss_synth_voices *vs);

#endif
