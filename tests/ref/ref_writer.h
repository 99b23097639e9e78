/* A safetensors writer for reference models, independent of the engine's: 8-byte little-endian
 * header length, JSON header (with __metadata__), raw little-endian data. Tensors can be stored
 * as F32, F16 or BF16 (rounded to nearest, ties to even); ref_model_round then puts exactly the
 * stored values back into the reference so that the reference and the engine see the same
 * weights. */
#ifndef REF_WRITER_H
#define REF_WRITER_H

#include "ref_model.h"

#include <stddef.h>
#include <stdint.h>

typedef enum ref_dtype { REF_F32 = 0, REF_F16 = 1, REF_BF16 = 2 } ref_dtype;

const char *ref_dtype_name(ref_dtype t);

uint16_t ref_f32_to_f16(float f);
float ref_f16_to_f32(uint16_t h);
uint16_t ref_f32_to_bf16(float f);
float ref_bf16_to_f32(uint16_t h);
/* What a value becomes once stored as t and read back. */
double ref_dtype_round(ref_dtype t, double v);

typedef struct ref_write_opts {
    ref_dtype dtype;             /* every tensor, unless per_tensor is given */
    const ref_dtype *per_tensor; /* [n_tensors] or NULL */
    int reverse;                 /* data section in reverse tensor order (header order kept) */
    int omit_rms_eps;            /* leave "rms_eps" out: the default 1e-5 applies */
    const char *cond_names;      /* "hiss.cond" value; NULL: not written */
    const char *const *extra;    /* further metadata, key/value pairs */
    int n_extra;
} ref_write_opts;

/* Round m's weights (and rms_eps, which the engine holds as float) to what a file written with
 * opts holds. Call before writing and before running the reference. */
void ref_model_round(ref_model *m, const ref_write_opts *opts);

/* The file's bytes in a malloc'd buffer (*buf, *len); 0 on success. */
int ref_serialize(const ref_model *m, const ref_write_opts *opts, unsigned char **buf,
                  size_t *len);
/* Writes path; 0 on success, else prints why to stderr. */
int ref_write_file(const ref_model *m, const ref_write_opts *opts, const char *path);
/* Writes raw bytes (used to craft broken files); 0 on success. */
int ref_write_bytes(const char *path, const void *buf, size_t len);

#endif
