/* safetensors: an 8-byte little-endian header length, a JSON header naming every tensor (dtype,
 * shape, byte range in the data), then the raw little-endian data. The reader validates all of it
 * against the buffer it was given before anyone touches a byte of data; the writer produces F32
 * files the way the official writer lays them out. */
#ifndef HISS_SAFETENSORS_H
#define HISS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "hiss.h" /* hiss_error, hiss_status; messages go through hiss_seterr (model.h) */

typedef enum st_dtype { ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2 } st_dtype;
#define ST_MAX_DIMS 8
typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end; /* byte offsets into data */
    size_t numel;
} st_tensor;
typedef struct st_kv {
    char *key;
    char *value;
} st_kv;
typedef struct st_file {
    st_tensor *tensors;
    int n_tensors;
    st_kv *meta;
    int n_meta;
    int has_meta;            /* __metadata__ present */
    const uint8_t *data;
    uint64_t data_len;       /* points into the caller's buffer, not owned */
} st_file;

/* Parse and validate a whole file held in memory. name is used as message prefix
 * ("model.safetensors: ..."). Returns HISS_OK, or HISS_ERR_FORMAT with err->msg naming the file and
 * the thing at fault (HISS_ERR_NOMEM when memory runs out). Never reads outside [buf, buf+len).
 * On error *out is left freed/zeroed. Tensors keep the order of the header. */
hiss_status st_parse(const uint8_t *buf, size_t len, const char *name, st_file *out, hiss_error *err);
/* Safe on a zeroed st_file; leaves it zeroed. */
void st_free(st_file *f);
const st_tensor *st_find(const st_file *f, const char *tensor_name);
const char *st_meta(const st_file *f, const char *key);
/* Convert one tensor's data to float32 (F16 and BF16 exactly, including subnormals, inf, nan;
 * NaN payloads and signs are kept). dst holds t->numel floats. */
void st_to_f32(const st_file *f, const st_tensor *t, float *dst);

/* Write a F32 safetensors file: n tensors (name, ndim, shape, data), metadata pairs. Tensors in the
 * order given, data contiguous in that order, header padded with spaces to a multiple of 8 bytes
 * (as the official writer does). Writes to path+".tmp-XXXXXX" (mkstemp) then fsync + rename, so a
 * failed write leaves nothing. Returns HISS_ERR_IO with a message naming the path on failure,
 * HISS_ERR_ARG for input the reader would refuse (duplicate or invalid UTF-8 names, bad shapes). */
typedef struct st_out_tensor {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} st_out_tensor;
hiss_status st_write_f32(const char *path, const st_out_tensor *t, int n, const st_kv *meta, int n_meta,
                         hiss_error *err);

/* Helpers. */
const char *st_dtype_name(st_dtype d); /* "F32", "F16", "BF16" */
size_t st_dtype_size(st_dtype d);      /* bytes per element */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);

#endif
