/* What tests/data/golden* hold, shared by the generator (make_golden.c) and the test that reads
 * them (test_engine_golden.c). Changing anything here means regenerating the files. */
#ifndef REF_GOLDEN_SPEC_H
#define REF_GOLDEN_SPEC_H

#include "ref_model.h"

#define GOLDEN_MODEL "golden.safetensors"
#define GOLDEN_IN "golden_in.f32"
#define GOLDEN_OUT "golden_out.f32"
#define GOLDEN_N 4800
#define GOLDEN_MODEL_SEED 20240611u
#define GOLDEN_SIGNAL_SEED 7u
#define GOLDEN_COND_NAME "drive"

/* d_model, n_layer, d_inner, d_state, d_conv, dt_rank, n_cond, skip, rms_eps, sample_rate */
static const ref_config golden_config = {8, 2, 16, 4, 4, 1, 1, 1, 1e-5, 48000.0};

/* The conditioning input: value from sample `at` on. */
typedef struct golden_cond {
    int at;
    float value;
} golden_cond;
static const golden_cond golden_conds[] = {{0, 0.25f}, {1600, -0.5f}, {3200, 0.8f}};
#define GOLDEN_N_CONDS ((int)(sizeof golden_conds / sizeof golden_conds[0]))

#endif
