/* The safetensors writer of the reference: written from the format description (8-byte LE length,
 * JSON header, data), sharing nothing with the engine's loader or saver. */
#include "ref_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ref_dtype_name(ref_dtype t)
{
    switch (t) {
    case REF_F16: return "F16";
    case REF_BF16: return "BF16";
    default: return "F32";
    }
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ref_f32_to_f16(float f)
{
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    uint32_t e = x >> 23, m = x & 0x7fffffu;
    if (e == 0xff) /* Inf stays Inf, NaN stays a (quiet) NaN */
        return (uint16_t)(sign | 0x7c00u | (m ? 0x200u | (m >> 13) : 0u));
    if (e >= 143) /* >= 2^16: beyond the largest half even after rounding */
        return (uint16_t)(sign | 0x7c00u);
    if (e >= 113) { /* a normal half: 10 of the 23 mantissa bits survive */
        uint32_t h = ((e - 112) << 10) | (m >> 13);
        uint32_t rem = m & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
            h++; /* a carry into the exponent is right, up to Inf */
        return (uint16_t)(sign | h);
    }
    if (e < 102) /* below half of the smallest subnormal (2^-25): rounds to zero */
        return sign;
    /* Subnormal half: value = q * 2^-24, with the float's 24-bit significand shifted down. */
    uint32_t sig = m | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = sig >> shift;
    uint32_t rem = sig & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}

float ref_f16_to_f32(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v;
    if (e == 0)
        v = ldexpf((float)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(1024 + m), e - 25);
    return (h & 0x8000) ? -v : v;
}

uint16_t ref_f32_to_bf16(float f)
{
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float ref_bf16_to_f32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

double ref_dtype_round(ref_dtype t, double v)
{
    float f = (float)v;
    switch (t) {
    case REF_F16: return ref_f16_to_f32(ref_f32_to_f16(f));
    case REF_BF16: return ref_bf16_to_f32(ref_f32_to_bf16(f));
    default: return f;
    }
}

static ref_dtype tensor_dtype(const ref_write_opts *o, int i)
{
    return o->per_tensor ? o->per_tensor[i] : o->dtype;
}

static size_t dtype_size(ref_dtype t)
{
    return t == REF_F32 ? 4 : 2;
}

void ref_model_round(ref_model *m, const ref_write_opts *opts)
{
    for (int i = 0; i < m->n_tensors; i++) {
        ref_tensor *t = &m->tensors[i];
        ref_dtype dt = tensor_dtype(opts, i);
        for (size_t j = 0; j < t->numel; j++)
            t->data[j] = ref_dtype_round(dt, t->data[j]);
    }
    m->cfg.rms_eps = opts->omit_rms_eps ? (double)1e-5f : (double)(float)m->cfg.rms_eps;
}

/* A growable string for the JSON header. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int fail;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->fail)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->fail = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(sbuf *b, unsigned long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", v);
    sb_put(b, tmp, (size_t)n);
}

static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = *s;
            sb_put(b, esc, 2);
        } else if ((unsigned char)*s < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)(unsigned char)*s);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_meta(sbuf *b, int *first, const char *k, const char *v)
{
    if (!*first)
        sb_str(b, ",");
    *first = 0;
    sb_json_string(b, k);
    sb_str(b, ":");
    sb_json_string(b, v);
}

static void put_le16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int ref_serialize(const ref_model *m, const ref_write_opts *opts, unsigned char **out,
                  size_t *out_len)
{
    const ref_config *c = &m->cfg;
    int n = m->n_tensors;
    size_t *offs = calloc((size_t)n + 1, sizeof *offs);
    if (!offs)
        return -1;
    /* Data offsets in the (possibly reversed) storage order. */
    size_t pos = 0;
    for (int j = 0; j < n; j++) {
        int i = opts->reverse ? n - 1 - j : j;
        offs[i] = pos;
        pos += m->tensors[i].numel * dtype_size(tensor_dtype(opts, i));
    }
    size_t data_len = pos;

    sbuf b = {0};
    char val[64];
    int first = 1;
    sb_str(&b, "{\"__metadata__\":{");
    sb_meta(&b, &first, "hiss.io", "fx");
    snprintf(val, sizeof val, "%.17g", c->sample_rate);
    sb_meta(&b, &first, "sample_rate", val);
    if (!opts->omit_rms_eps) {
        /* The shortest text that reads back as the same float: "1e-05", not "9.99999975e-06". */
        float eps = (float)c->rms_eps;
        for (int prec = 1; prec <= 9; prec++) {
            snprintf(val, sizeof val, "%.*g", prec, (double)eps);
            if (strtof(val, NULL) == eps)
                break;
        }
        sb_meta(&b, &first, "rms_eps", val);
    }
    sb_meta(&b, &first, "hiss.skip", c->skip ? "1" : "0");
    if (opts->cond_names)
        sb_meta(&b, &first, "hiss.cond", opts->cond_names);
    for (int i = 0; i < opts->n_extra; i++)
        sb_meta(&b, &first, opts->extra[2 * i], opts->extra[2 * i + 1]);
    sb_str(&b, "}");
    for (int i = 0; i < n; i++) {
        const ref_tensor *t = &m->tensors[i];
        sb_str(&b, ",");
        sb_json_string(&b, t->name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, ref_dtype_name(tensor_dtype(opts, i)));
        sb_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d)
                sb_str(&b, ",");
            sb_u64(&b, (unsigned long long)t->shape[d]);
        }
        size_t end = offs[i] + t->numel * dtype_size(tensor_dtype(opts, i));
        sb_str(&b, "],\"data_offsets\":[");
        sb_u64(&b, offs[i]);
        sb_str(&b, ",");
        sb_u64(&b, end);
        sb_str(&b, "]}");
    }
    sb_str(&b, "}");
    /* Pad with spaces so the data starts 8-byte aligned, as common writers do. */
    while (!b.fail && (8 + b.len) % 8)
        sb_str(&b, " ");
    if (b.fail) {
        free(b.p);
        free(offs);
        return -1;
    }

    size_t total = 8 + b.len + data_len;
    unsigned char *buf = malloc(total);
    if (!buf) {
        free(b.p);
        free(offs);
        return -1;
    }
    uint64_t hl = b.len;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + 8, b.p, b.len);
    unsigned char *data = buf + 8 + b.len;
    for (int i = 0; i < n; i++) {
        const ref_tensor *t = &m->tensors[i];
        ref_dtype dt = tensor_dtype(opts, i);
        unsigned char *p = data + offs[i];
        for (size_t j = 0; j < t->numel; j++) {
            float f = (float)t->data[j];
            if (dt == REF_F32) {
                put_le32(p, f2u(f));
                p += 4;
            } else {
                put_le16(p, dt == REF_F16 ? ref_f32_to_f16(f) : ref_f32_to_bf16(f));
                p += 2;
            }
        }
    }
    free(b.p);
    free(offs);
    *out = buf;
    *out_len = total;
    return 0;
}

int ref_write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "%s: cannot open for writing\n", path);
        return -1;
    }
    size_t w = fwrite(buf, 1, len, f);
    int bad = fclose(f) != 0 || w != len;
    if (bad)
        fprintf(stderr, "%s: write failed\n", path);
    return bad ? -1 : 0;
}

int ref_write_file(const ref_model *m, const ref_write_opts *opts, const char *path)
{
    unsigned char *buf;
    size_t len;
    if (ref_serialize(m, opts, &buf, &len) != 0) {
        fprintf(stderr, "%s: out of memory while serialising\n", path);
        return -1;
    }
    int rc = ref_write_bytes(path, buf, len);
    free(buf);
    return rc;
}
