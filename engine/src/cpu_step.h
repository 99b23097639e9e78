/* The reference CPU step: one sample of one stream through the whole model. Also used by tools
 * that need the forward pass without a stream object. */
#ifndef HISS_CPU_STEP_H
#define HISS_CPU_STEP_H

#include "model.h"

/* Scratch for one step; sized by hiss_cpu_scratch_floats(cfg). */
size_t hiss_cpu_scratch_floats(const hiss_config *c);
/* Per-stream state floats (internal layout: per layer, conv history [d_conv-1][d_inner] oldest
 * first, then SSM state [d_state][d_inner]). */
size_t hiss_cpu_state_floats(const hiss_config *c);

/* u: [n_in] = audio sample, then conditioning values. Returns the output sample (skip included).
 * The caller checks the result for finiteness. */
float hiss_cpu_step(const hiss_model *m, float *state, const float *u, float delta_scale,
                    float *scratch);

#endif
