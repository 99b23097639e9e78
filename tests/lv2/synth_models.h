/* Synth test models (random, written with the engine's hiss_synth_model_init + save) and the
 * reference: the same model played through the hiss_synth API with the same MIDI events at the
 * same sample positions, the way the plugin should play it. */
#ifndef TS_SYNTH_MODELS_H
#define TS_SYNTH_MODELS_H

#include <stdint.h>

#include "hiss_synth.h"

typedef struct ts_event {
    long frame;
    uint8_t len;
    uint8_t msg[3];
} ts_event;

/* A random model at rate, conditioned on pitch, velocity, gate, onset, decay, release and the
 * phase (sin1, cos1). 0, or -1 (says why). */
int ts_make(const char *path, double rate, int d_model, int n_layer, uint64_t seed);

/* The options the plugin's controls stand for (the engine's defaults for the rest). */
hiss_synth_opts ts_opts(int voices, float temperature, float top_p, uint32_t seed);

/* The model played from creation: each event with start <= frame applied before the sample at
 * frame - start (events in order), out[0..n). Under flush-to-zero, as the plugin runs. */
int ts_render(const char *path, const hiss_synth_opts *o, const ts_event *ev, int n_ev, long start,
              float *out, long n);

/* A control change made through the engine's real-time setters, as the plugin makes it at the
 * first frame of a block: hiss_synth_set_seed(seed) when is_seed, else
 * hiss_synth_set_sampling(temperature, top_p). */
typedef struct ts_ctl {
    long frame;
    int is_seed;
    float temperature, top_p;
    uint64_t seed;
} ts_ctl;

/* ts_render with the changes ctl[0..n_ctl) (in frame order) too: each with start <= frame
 * applied before the MIDI events of its frame. */
int ts_render_ctl(const char *path, const hiss_synth_opts *o, const ts_event *ev, int n_ev,
                  const ts_ctl *ctl, int n_ctl, long start, float *out, long n);

/* The events a synth built at frame `at` is given so the notes held then sound on, following the
 * plugin's documented rule (README, hiss.ttl): pitch bend when off centre, sustain when down,
 * then each held key in ascending order at its velocity, with a note-off straight after for a
 * key only the pedal holds. Worked out from ev[] before `at`; written at frame `at` into out
 * (room for 260). Returns how many. */
int ts_held_at(const ts_event *ev, int n_ev, long at, ts_event *out);

/* out = held_at(at) followed by every event at or after at. *n_out is set; free() the result. */
ts_event *ts_segment(const ts_event *ev, int n_ev, long at, int *n_out);

#endif
