/* An independent float64 implementation of the hiss FX model, written from the equations of
 * docs/model-format.md (not from the engine), used as the oracle for the engine's tests.
 *
 * Weights live in double. Tensors are kept by name in the official mamba_ssm layout so that
 * ref_writer can store them as a safetensors file the engine loads. */
#ifndef REF_MODEL_H
#define REF_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_config {
    int d_model;
    int n_layer;
    int d_inner;
    int d_state;
    int d_conv;
    int dt_rank;
    int n_cond;
    int skip;
    double rms_eps;
    double sample_rate;
} ref_config;

#define REF_NAME_LEN 96

typedef struct ref_tensor {
    char name[REF_NAME_LEN];
    int ndim;
    int64_t shape[4];
    size_t numel;
    double *data;
} ref_tensor;

/* Views into the tensors of one layer. */
typedef struct ref_layer {
    double *norm_w;   /* [d_model] */
    double *in_proj;  /* [2*d_inner, d_model] */
    double *conv_w;   /* [d_inner, 1, d_conv] */
    double *conv_b;   /* [d_inner] */
    double *x_proj;   /* [dt_rank + 2*d_state, d_inner] */
    double *dt_w;     /* [d_inner, dt_rank] */
    double *dt_b;     /* [d_inner] */
    double *A_log;    /* [d_inner, d_state] */
    double *D;        /* [d_inner] */
    double *out_proj; /* [d_model, d_inner] */
} ref_layer;

typedef struct ref_model {
    ref_config cfg;
    ref_tensor *tensors;
    int n_tensors;
    ref_layer *layers;
    double *in_w, *in_b;   /* input_proj [d_model, n_in], [d_model] */
    double *norm_f;        /* [d_model] */
    double *out_w, *out_b; /* output_proj [1, d_model], [1] */
} ref_model;

/* A model of configuration cfg with zeroed weights; NULL when out of memory or cfg is invalid. */
ref_model *ref_model_alloc(const ref_config *cfg);
/* Random weights scaled so that activations stay O(1): A_log = log(1..d_state) + noise, dt bias
 * the inverse softplus of a log-uniform delta in [1e-3, 1e-1]. Deterministic in seed. */
ref_model *ref_model_random(const ref_config *cfg, uint64_t seed);
void ref_model_free(ref_model *m);
ref_tensor *ref_model_find(ref_model *m, const char *name);

/* Per-stream state: per layer the last d_conv-1 inputs of the conv (oldest first) and the SSM
 * state [d_inner x d_state], plus scratch. It keeps A = -exp(A_log) of the model as it was at
 * ref_state_new: change (or round) the weights before creating states. */
typedef struct ref_state ref_state;
ref_state *ref_state_new(const ref_model *m);
void ref_state_zero(ref_state *st);
void ref_state_free(ref_state *st);
/* With on = 1 the SSM state is rounded to float32 after every update. Not the model: a measure
 * of the error that any float32 implementation makes (a state whose decay is close to 1 cannot
 * be held closer than its rounding allows at that time constant), used to check that a test
 * fixture is well conditioned enough for its tolerance. */
void ref_state_round_f32(ref_state *st, int on);
/* Copies the state (not the scratch) from src to dst; both of the same model. */
void ref_state_copy(ref_state *dst, const ref_state *src);

/* One sample: u = [x, cond_0 .. cond_{n_cond-1}]. delta_scale multiplies delta after the
 * softplus (model_rate / host_rate in the engine's HISS_RATE_DELTA mode, else 1). Inputs are
 * taken as given: sanitising non-finite or huge samples is the caller's business. */
double ref_step(const ref_model *m, ref_state *st, const double *u, double delta_scale);

#endif
