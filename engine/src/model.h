/* The in-memory model: every tensor float32 in one arena, views per layer. Internal to the engine
 * and its backends (kernels/ reads it to upload weights). */
#ifndef HISS_MODEL_H
#define HISS_MODEL_H

#include "hiss.h"

typedef struct hiss_layer {
    const float *norm_w;    /* [d_model] */
    const float *in_proj;   /* [2*d_inner, d_model] */
    const float *conv_w;    /* [d_inner, 1, d_conv] */
    const float *conv_b;    /* [d_inner] */
    const float *x_proj;    /* [dt_rank + 2*d_state, d_inner] */
    const float *dt_proj_w; /* [d_inner, dt_rank] */
    const float *dt_proj_b; /* [d_inner] */
    const float *A_log;     /* [d_inner, d_state] */
    const float *D;         /* [d_inner] */
    const float *out_proj;  /* [d_model, d_inner] */
    const float *A;         /* derived: -exp(A_log), [d_inner, d_state] */
    /* Derived layouts for the CPU step: weights transposed to [in][out] so each matrix-vector
     * product is a sequence of element-wise multiply-adds over the output (vectorisable, fixed
     * summation order); A and the conv taps transposed so the scan runs along d_inner. */
    const float *in_proj_t;  /* [d_model][2*d_inner] */
    const float *conv_t;     /* [d_conv][d_inner] */
    const float *x_proj_t;   /* [d_inner][dt_rank + 2*d_state] */
    const float *dt_proj_t;  /* [dt_rank][d_inner] */
    const float *A_t;        /* [d_state][d_inner] */
    const float *out_proj_t; /* [d_inner][d_model] */
} hiss_layer;

typedef struct hiss_tensor_rec {
    char name[96];
    int ndim;
    int64_t shape[4];
    size_t offset; /* in floats, into arena */
    size_t numel;
} hiss_tensor_rec;

typedef struct hiss_meta {
    char *key;
    char *value;
} hiss_meta;

struct hiss_model {
    hiss_config cfg;
    int n_in;               /* FX: 1 + n_cond */
    float *arena;           /* all parameter tensors */
    size_t arena_len;       /* floats */
    float *derived;         /* A and the transposed layouts of every layer (hiss_model_finish) */
    size_t derived_len;
    hiss_tensor_rec *tensors;
    int n_tensors;
    hiss_layer *layers;
    /* FX head */
    const float *in_w, *in_b, *out_w, *out_b;
    const float *in_w_t;    /* derived: [n_in][d_model] */
    const float *norm_f;
    hiss_meta *meta;
    int n_meta;
    char **cond_names;      /* n_cond entries */
    char *path;             /* the file it was loaded from, absolute (NULL: made in memory) */
};

/* FNV-1a over the configuration and every parameter: a client of hiss-server and the server,
 * each holding its own copy of a model file, check that they run the same weights. */
uint64_t hiss_model_fingerprint(const hiss_model *m);

/* The tensors a configuration requires, in canonical order. Calls fn for each; used by the loader
 * (to check), init (to allocate) and save (to write). Returns the count. */
typedef void (*hiss_spec_fn)(void *ctx, const char *name, int ndim, const int64_t *shape);
int hiss_model_spec(const hiss_config *cfg, hiss_spec_fn fn, void *ctx);

/* Allocate the arena for cfg, fill tensor records and views (data zeroed). */
hiss_status hiss_model_alloc(const hiss_config *cfg, hiss_model **out, hiss_error *err);
/* Recompute derived tensors (A, transposed layouts) and views after the arena is filled.
 * Tools that change parameters (the trainer) call it before using the model again. */
void hiss_model_finish(hiss_model *m);
size_t hiss_model_derived_len(const hiss_config *c);
/* Parse a comma-separated "hiss.cond" list into the model's conditioning names. */
hiss_status hiss_model_set_cond_names(hiss_model *m, const char *file, const char *list, hiss_error *err);

/* A whole model file in memory (regular files only, capped at the largest model hiss accepts);
 * shared by every loader. The caller frees *data. */
hiss_status hiss_read_model_file(const char *path, uint8_t **data, size_t *len, hiss_error *err);

void hiss_seterr(hiss_error *err, hiss_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
