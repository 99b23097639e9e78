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

/* Mu-law from the formulas of docs/synth.md. */
int synth_ref_mulaw_encode(double x);
double synth_ref_mulaw_decode(int c);

#endif
