/* An independent float64 implementation of the synth model's equations (docs/synth.md), written
 * from the document, not from the engine: the oracle of the synth tests. Weights are copied in
 * double from a hiss_synth_model through the public tensor API. */
#ifndef SYNTH_REF_H
#define SYNTH_REF_H

#include "hiss_synth.h"

typedef struct synth_ref synth_ref;

synth_ref *synth_ref_new(const hiss_synth_model *m);
void synth_ref_free(synth_ref *r);
/* Zero the state (the start of a note). */
void synth_ref_reset(synth_ref *r);
/* One sample: logits[256] from the previous class and the conditioning values. */
void synth_ref_step(synth_ref *r, int prev_class, const double *cond, double *logits);

/* The conditioning of docs/synth.md ("Conditioning features"), from the note's own clocks: a
 * note is started and advanced here, independently of hiss_synth_note_advance, with the phase
 * accumulated as the document says (f = 440 * 2^((pitch - 69) / 12) Hz, phase += f / rate in
 * double, wrapped to [0, 1) each sample). */
typedef struct synth_ref_note {
    double pitch;   /* note number plus bend, semitones */
    int velocity;
    int gate;
    long long n_on, n_off;
    double phase;   /* cycles */
} synth_ref_note;

synth_ref_note synth_ref_note_start(double pitch, int velocity);
/* One sample on: clocks count, the phase advances by the frequency of the current pitch. */
void synth_ref_note_advance(synth_ref_note *n, double rate);
/* Close the gate: n_off starts at 0 on the next sample's features. */
void synth_ref_note_release(synth_ref_note *n);
/* The value of the feature called name (the document's table), in double. Exits on an unknown name. */
double synth_ref_feature(const char *name, const synth_ref_note *n, double rate);
/* The n_cond features of model m, in its order. */
void synth_ref_features(const hiss_synth_model *m, const synth_ref_note *n, double *out);

/* Note k's generator (the k-th note-on since creation, reset or a seed change) as
 * docs/synth.md's "Generator" gives it. */
void synth_ref_note_rng(hiss_synth_rng *r, uint64_t seed, uint64_t k);

/* Mu-law from the formulas of docs/synth.md. */
int synth_ref_mulaw_encode(double x);
double synth_ref_mulaw_decode(int c);

#endif
