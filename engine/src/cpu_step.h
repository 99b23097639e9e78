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
/* The backbone alone, for heads other than fx: scratch[0 .. d_model) holds the head's output h
 * on entry; returns the final normalised residual stream (inside scratch). */
const float *hiss_cpu_backbone(const hiss_model *m, float *state, float delta_scale, float *scratch);

typedef float (*hiss_cpu_step_fn)(const hiss_model *m, float *state, const float *u, float delta_scale,
                                  float *scratch);
float hiss_cpu_step(const hiss_model *m, float *state, const float *u, float delta_scale,
                    float *scratch);

/* The same step compiled for wider vector units (cpu_step.c built again with other flags; see
 * engine/CMakeLists.txt). Results agree with the baseline to rounding, not to the bit, so one
 * stream always uses one variant. */
float hiss_cpu_step_avx2(const hiss_model *m, float *state, const float *u, float delta_scale,
                         float *scratch);
float hiss_cpu_step_avx512(const hiss_model *m, float *state, const float *u, float delta_scale,
                           float *scratch);
/* The best variant this CPU runs; HISS_CPU=sse2|avx2|avx512 in the environment forces one (for
 * benchmarks). Call off the real-time thread. */
hiss_cpu_step_fn hiss_cpu_step_select(const char **name);

#endif
