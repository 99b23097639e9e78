/* safetensors reader and F32 writer. The reader trusts nothing: every number in the header is
 * checked against the buffer before it is used, and the data must be tiled exactly by the tensors
 * (no overlaps, holes or trailing bytes), which is what the official format requires and what
 * guarantees that a parsed file describes every byte it carries. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "model.h"
#include "safetensors.h"

#define META_KEY "__metadata__"

const char *st_dtype_name(st_dtype d)
{
    switch (d) {
    case ST_F32: return "F32";
    case ST_F16: return "F16";
    case ST_BF16: return "BF16";
    }
    return "?";
}

size_t st_dtype_size(st_dtype d)
{
    return d == ST_F32 ? 4 : 2;
}

/* ---- conversion ----------------------------------------------------------------------------- */

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    if (e == 0x1F) /* inf, or NaN with its payload moved to the top of the f32 mantissa */
        return bits_f32(sign | 0x7F800000u | (m << 13));
    if (e != 0)
        return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
    if (m == 0)
        return bits_f32(sign);
    /* Subnormal m * 2^-24: normalise so the leading bit at position p becomes the implicit one. */
    int p = 9;
    while (!(m & (1u << p)))
        p--;
    return bits_f32(sign | ((uint32_t)(p + 103) << 23) | ((m << (23 - p)) & 0x7FFFFFu));
}

float st_bf16_to_f32(uint16_t b)
{
    return bits_f32((uint32_t)b << 16);
}

void st_to_f32(const st_file *f, const st_tensor *t, float *dst)
{
    const uint8_t *p = f->data + t->begin;
    /* Byte-wise little-endian reads: right on any host, any alignment. */
    switch (t->dtype) {
    case ST_F32:
        for (size_t i = 0; i < t->numel; i++, p += 4)
            dst[i] = bits_f32((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
        break;
    case ST_F16:
        for (size_t i = 0; i < t->numel; i++, p += 2)
            dst[i] = st_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        break;
    case ST_BF16:
        for (size_t i = 0; i < t->numel; i++, p += 2)
            dst[i] = st_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        break;
    }
}

/* ---- lookup --------------------------------------------------------------------------------- */

const st_tensor *st_find(const st_file *f, const char *tensor_name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, tensor_name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

void st_free(st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    memset(f, 0, sizeof *f);
}

/* ---- parsing -------------------------------------------------------------------------------- */

typedef struct pctx {
    const char *file;   /* shown form of the name */
    hiss_error *err;
    const char *hdr;    /* header text, for quoting numbers as written */
    size_t hdr_len;
} pctx;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static hiss_status bad(const pctx *c, hiss_status st, const char *fmt, ...)
{
    if (c->err) {
        char msg[HISS_ERROR_LEN];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        hiss_seterr(c->err, st, "%s: %s", c->file, msg);
    }
    return st;
}

/* A number exactly as the header wrote it, so "shape[0] is 2.0" says what is wrong with it. */
static const char *raw_number(const pctx *c, const json_value *v, char *buf, size_t n)
{
    size_t k = v->pos, o = 0;
    while (k < c->hdr_len && o + 4 < n && strchr("+-.eE0123456789", c->hdr[k]) && c->hdr[k])
        buf[o++] = c->hdr[k++];
    if (k < c->hdr_len && strchr("+-.eE0123456789", c->hdr[k]) && c->hdr[k])
        buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    buf[o] = 0;
    return buf;
}

/* "is -1", "is 2.0", "is a string", "is null": what a value that should have been something else is. */
static const char *describe(const pctx *c, const json_value *v, char *buf, size_t n)
{
    char num[40];
    switch (v->type) {
    case JSON_NUMBER: snprintf(buf, n, "is %s", raw_number(c, v, num, sizeof num)); break;
    case JSON_NULL: case JSON_TRUE: case JSON_FALSE: snprintf(buf, n, "is %s", json_type_name(v->type)); break;
    case JSON_STRING: snprintf(buf, n, "is a string"); break;
    case JSON_ARRAY: snprintf(buf, n, "is an array"); break;
    case JSON_OBJECT: snprintf(buf, n, "is an object"); break;
    }
    return buf;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int nonneg_int(const json_value *v)
{
    return v->type == JSON_NUMBER && v->is_int && v->i >= 0;
}

static hiss_status parse_meta(const pctx *c, const json_value *m, st_file *out)
{
    if (m->type != JSON_OBJECT)
        return bad(c, HISS_ERR_FORMAT, META_KEY " is %s %s, expected an object of strings",
                   m->type == JSON_ARRAY ? "an" : "a", json_type_name(m->type));
    out->has_meta = 1;
    if (m->len == 0)
        return HISS_OK;
    out->meta = calloc(m->len, sizeof *out->meta);
    if (!out->meta)
        return bad(c, HISS_ERR_NOMEM, "out of memory reading " META_KEY);
    for (size_t i = 0; i < m->len; i++) {
        const json_value *kv = &m->items[i];
        char key[160];
        json_show(key, sizeof key, kv->key, kv->key_len);
        if (strlen(kv->key) != kv->key_len)
            return bad(c, HISS_ERR_FORMAT, META_KEY " key \"%s\" contains a NUL character", key);
        if (kv->type != JSON_STRING)
            return bad(c, HISS_ERR_FORMAT, META_KEY " entry \"%s\" is %s %s, expected a string", key,
                       kv->type == JSON_ARRAY || kv->type == JSON_OBJECT ? "an" : "a",
                       json_type_name(kv->type));
        if (strlen(kv->str) != kv->len)
            return bad(c, HISS_ERR_FORMAT, META_KEY " entry \"%s\" has a value containing a NUL character",
                       key);
        st_kv *d = &out->meta[out->n_meta];
        d->key = dup_bytes(kv->key, kv->key_len);
        d->value = dup_bytes(kv->str, kv->len);
        out->n_meta++; /* counted before the check so st_free releases a half-made pair */
        if (!d->key || !d->value)
            return bad(c, HISS_ERR_NOMEM, "out of memory reading " META_KEY);
    }
    return HISS_OK;
}

static hiss_status parse_tensor(const pctx *c, const json_value *e, uint64_t data_len, st_tensor *t)
{
    char name[200], what[64];
    json_show(name, sizeof name, e->key, e->key_len);
    if (strlen(e->key) != e->key_len)
        return bad(c, HISS_ERR_FORMAT, "tensor name \"%s\" contains a NUL character", name);
    if (e->type != JSON_OBJECT)
        return bad(c, HISS_ERR_FORMAT, "tensor %s is %s %s, expected an object with dtype, shape and "
                   "data_offsets", name, e->type == JSON_ARRAY || e->type == JSON_OBJECT ? "an" : "a",
                   json_type_name(e->type));
    const json_value *dtype = NULL, *shape = NULL, *offs = NULL;
    for (size_t i = 0; i < e->len; i++) {
        const json_value *f = &e->items[i];
        if (f->key_len == 5 && memcmp(f->key, "dtype", 5) == 0)
            dtype = f;
        else if (f->key_len == 5 && memcmp(f->key, "shape", 5) == 0)
            shape = f;
        else if (f->key_len == 12 && memcmp(f->key, "data_offsets", 12) == 0)
            offs = f;
        else {
            char field[96];
            json_show(field, sizeof field, f->key, f->key_len);
            return bad(c, HISS_ERR_FORMAT, "tensor %s has an unknown field \"%s\" (only dtype, shape, "
                       "data_offsets are allowed)", name, field);
        }
    }
    if (!dtype || !shape || !offs)
        return bad(c, HISS_ERR_FORMAT, "tensor %s has no %s", name,
                   !dtype ? "dtype" : !shape ? "shape" : "data_offsets");

    if (dtype->type != JSON_STRING)
        return bad(c, HISS_ERR_FORMAT, "tensor %s: dtype %s, expected a string such as \"F32\"", name,
                   describe(c, dtype, what, sizeof what));
    if (dtype->len == 3 && memcmp(dtype->str, "F32", 3) == 0)
        t->dtype = ST_F32;
    else if (dtype->len == 3 && memcmp(dtype->str, "F16", 3) == 0)
        t->dtype = ST_F16;
    else if (dtype->len == 4 && memcmp(dtype->str, "BF16", 4) == 0)
        t->dtype = ST_BF16;
    else {
        char dt[64];
        json_show(dt, sizeof dt, dtype->str, dtype->len);
        return bad(c, HISS_ERR_FORMAT, "tensor %s has dtype %s; only F32, F16, BF16 are accepted", name, dt);
    }

    if (shape->type != JSON_ARRAY)
        return bad(c, HISS_ERR_FORMAT, "tensor %s: shape %s, expected an array of integers", name,
                   describe(c, shape, what, sizeof what));
    if (shape->len > ST_MAX_DIMS)
        return bad(c, HISS_ERR_FORMAT, "tensor %s has a shape of %zu dimensions; at most %d are accepted",
                   name, shape->len, ST_MAX_DIMS);
    t->ndim = (int)shape->len;
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        const json_value *v = &shape->items[d];
        if (!nonneg_int(v))
            return bad(c, HISS_ERR_FORMAT, "tensor %s: shape[%d] %s, expected a non-negative integer", name,
                       d, describe(c, v, what, sizeof what));
        if ((uint64_t)v->i > HISS_MAX_PARAMS)
            return bad(c, HISS_ERR_FORMAT, "tensor %s: shape[%d] is %lld, more than the limit of %u "
                       "elements", name, d, (long long)v->i, HISS_MAX_PARAMS);
        t->shape[d] = v->i;
    }
    /* Each factor is at most 2^28 and the running product is kept at most 2^28 unless a later
     * factor is 0, so nothing overflows; a 0 anywhere makes an empty tensor. */
    int empty = 0;
    for (int d = 0; d < t->ndim; d++)
        empty |= t->shape[d] == 0;
    for (int d = 0; d < t->ndim && !empty; d++) {
        numel *= (uint64_t)t->shape[d];
        if (numel > HISS_MAX_PARAMS) {
            char s[200];
            shape_str(s, sizeof s, t->ndim, t->shape);
            return bad(c, HISS_ERR_FORMAT, "tensor %s has shape %s, more than the limit of %u elements",
                       name, s, HISS_MAX_PARAMS);
        }
    }
    t->numel = empty ? 0 : (size_t)numel;

    if (offs->type != JSON_ARRAY || offs->len != 2)
        return bad(c, HISS_ERR_FORMAT, "tensor %s: data_offsets must be an array of 2 integers "
                   "[begin, end]", name);
    for (int k = 0; k < 2; k++)
        if (!nonneg_int(&offs->items[k]))
            return bad(c, HISS_ERR_FORMAT, "tensor %s: data_offsets[%d] %s, expected a non-negative integer",
                       name, k, describe(c, &offs->items[k], what, sizeof what));
    t->begin = (uint64_t)offs->items[0].i;
    t->end = (uint64_t)offs->items[1].i;
    if (t->begin > t->end)
        return bad(c, HISS_ERR_FORMAT, "tensor %s has data_offsets [%llu, %llu]: begin is after end", name,
                   (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_len)
        return bad(c, HISS_ERR_FORMAT, "tensor %s has data_offsets [%llu, %llu], past the end of the data "
                   "(%llu bytes after the header)", name, (unsigned long long)t->begin,
                   (unsigned long long)t->end, (unsigned long long)data_len);
    uint64_t want = (uint64_t)t->numel * st_dtype_size(t->dtype);
    if (t->end - t->begin != want) {
        char s[200];
        shape_str(s, sizeof s, t->ndim, t->shape);
        return bad(c, HISS_ERR_FORMAT, "tensor %s has data_offsets [%llu, %llu] (%llu bytes) but shape %s "
                   "of %s needs %llu bytes", name, (unsigned long long)t->begin, (unsigned long long)t->end,
                   (unsigned long long)(t->end - t->begin), s, st_dtype_name(t->dtype),
                   (unsigned long long)want);
    }
    t->name = dup_bytes(e->key, e->key_len);
    if (!t->name)
        return bad(c, HISS_ERR_NOMEM, "out of memory reading tensor %s", name);
    return HISS_OK;
}

static int by_offset(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Sorted by offset, every tensor must start where the previous one ended and the last must end at
 * the end of the data. */
static hiss_status check_coverage(const pctx *c, const st_file *f)
{
    if (f->n_tensors == 0) {
        if (f->data_len)
            return bad(c, HISS_ERR_FORMAT, "the header names no tensor but %llu bytes of data follow it",
                       (unsigned long long)f->data_len);
        return HISS_OK;
    }
    const st_tensor **ix = malloc((size_t)f->n_tensors * sizeof *ix);
    if (!ix)
        return bad(c, HISS_ERR_NOMEM, "out of memory checking tensor offsets");
    for (int i = 0; i < f->n_tensors; i++)
        ix[i] = &f->tensors[i];
    qsort(ix, (size_t)f->n_tensors, sizeof *ix, by_offset);
    const st_tensor *prev = NULL;
    uint64_t at = 0;
    hiss_status st = HISS_OK;
    char a[200], b[200];
    for (int i = 0; i < f->n_tensors && st == HISS_OK; i++) {
        const st_tensor *t = ix[i];
        json_show(b, sizeof b, t->name, strlen(t->name));
        if (prev)
            json_show(a, sizeof a, prev->name, strlen(prev->name));
        if (t->begin > at) {
            if (prev)
                st = bad(c, HISS_ERR_FORMAT, "data bytes [%llu, %llu) between tensor %s and tensor %s belong "
                         "to no tensor", (unsigned long long)at, (unsigned long long)t->begin, a, b);
            else
                st = bad(c, HISS_ERR_FORMAT, "data bytes [0, %llu) before tensor %s belong to no tensor",
                         (unsigned long long)t->begin, b);
        } else if (t->begin < at) {
            st = bad(c, HISS_ERR_FORMAT, "tensor %s (data_offsets [%llu, %llu]) overlaps tensor %s "
                     "(data_offsets [%llu, %llu])", b, (unsigned long long)t->begin,
                     (unsigned long long)t->end, a, (unsigned long long)prev->begin,
                     (unsigned long long)prev->end);
        }
        prev = t;
        at = t->end;
    }
    if (st == HISS_OK && at != f->data_len) {
        json_show(a, sizeof a, prev->name, strlen(prev->name));
        st = bad(c, HISS_ERR_FORMAT, "%llu trailing data bytes after tensor %s (it ends at %llu, the data "
                 "is %llu bytes)", (unsigned long long)(f->data_len - at), a, (unsigned long long)at,
                 (unsigned long long)f->data_len);
    }
    free(ix);
    return st;
}

hiss_status st_parse(const uint8_t *buf, size_t len, const char *name, st_file *out, hiss_error *err)
{
    memset(out, 0, sizeof *out);
    /* A very long path would crowd the tensor out of the message; its tail names the file. */
    char file[320];
    const char *nm = name ? name : "<memory>";
    size_t nl = strlen(nm);
    if (nl < sizeof file)
        memcpy(file, nm, nl + 1);
    else
        snprintf(file, sizeof file, "...%s", nm + nl - (sizeof file - 4));
    pctx c = {file, err, NULL, 0};
    if (!buf)
        len = 0;

    if (len < 8)
        return bad(&c, HISS_ERR_FORMAT, "file is %zu bytes, too short for a safetensors header (8-byte "
                   "length, then JSON)", len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen == 0)
        return bad(&c, HISS_ERR_FORMAT, "header length is 0");
    if (hlen > HISS_MAX_HEADER)
        return bad(&c, HISS_ERR_FORMAT, "header length %llu is more than the limit of %u bytes",
                   (unsigned long long)hlen, HISS_MAX_HEADER);
    if (hlen > len - 8)
        return bad(&c, HISS_ERR_FORMAT, "header length %llu runs past the end of the file (%zu bytes "
                   "follow the length field)", (unsigned long long)hlen, len - 8);
    c.hdr = (const char *)buf + 8;
    c.hdr_len = (size_t)hlen;
    out->data = buf + 8 + hlen;
    out->data_len = len - 8 - hlen;

    json_value root;
    json_error je;
    json_status js = json_parse(c.hdr, c.hdr_len, &root, &je);
    if (js == JSON_ENOMEM) {
        memset(out, 0, sizeof *out);
        return bad(&c, HISS_ERR_NOMEM, "out of memory parsing the header");
    }
    if (js != JSON_OK) {
        memset(out, 0, sizeof *out);
        const char *in = je.path[0] ? " in " : "";
        if (je.duplicate)
            return bad(&c, HISS_ERR_FORMAT, "header has a %s%s%s (at byte %zu of the header)", je.msg, in,
                       je.path, je.offset);
        return bad(&c, HISS_ERR_FORMAT, "header is not valid JSON: %s%s%s (at byte %zu of the header)", je.msg,
                   in, je.path, je.offset);
    }
    hiss_status st = HISS_OK;
    if (root.type != JSON_OBJECT) {
        st = bad(&c, HISS_ERR_FORMAT, "header is a JSON %s, expected an object", json_type_name(root.type));
        goto done;
    }
    size_t n_tensors = 0;
    for (size_t i = 0; i < root.len; i++) {
        const json_value *e = &root.items[i];
        if (e->key_len == strlen(META_KEY) && memcmp(e->key, META_KEY, e->key_len) == 0) {
            st = parse_meta(&c, e, out);
            if (st != HISS_OK)
                goto done;
        } else {
            n_tensors++;
        }
    }
    if (n_tensors) {
        out->tensors = calloc(n_tensors, sizeof *out->tensors);
        if (!out->tensors) {
            st = bad(&c, HISS_ERR_NOMEM, "out of memory reading %zu tensor entries", n_tensors);
            goto done;
        }
    }
    for (size_t i = 0; i < root.len; i++) {
        const json_value *e = &root.items[i];
        if (e->key_len == strlen(META_KEY) && memcmp(e->key, META_KEY, e->key_len) == 0)
            continue;
        st = parse_tensor(&c, e, out->data_len, &out->tensors[out->n_tensors]);
        if (st != HISS_OK)
            goto done;
        out->n_tensors++;
    }
    st = check_coverage(&c, out);
done:
    json_free(&root);
    if (st != HISS_OK)
        st_free(out);
    return st;
}

/* ---- writing -------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0)
        sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void sb_cs(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"' || *u == '\\') {
            char e[2] = {'\\', (char)*u};
            sb_put(b, e, 2);
        } else if (*u < 0x20) {
            sb_fmt(b, "\\u%04x", *u);
        } else {
            sb_put(b, (const char *)u, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first string that appears twice, or NULL. */
static const char *find_duplicate(const char **v, int n, int *oom)
{
    *oom = 0;
    if (n < 2)
        return NULL;
    const char **s = malloc((size_t)n * sizeof *s);
    if (!s) {
        *oom = 1;
        return NULL;
    }
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, str_cmp);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0)
            dup = s[i];
    free(s);
    return dup;
}

/* Everything st_parse would refuse is refused here, before a file is created. */
static hiss_status check_output(const char *path, const st_out_tensor *t, int n, const st_kv *meta,
                                int n_meta, hiss_error *err)
{
    char nm[200];
    if (n < 0 || n_meta < 0 || (n > 0 && !t) || (n_meta > 0 && !meta)) {
        hiss_seterr(err, HISS_ERR_ARG, "%s: invalid tensor or metadata list", path);
        return HISS_ERR_ARG;
    }
    for (int i = 0; i < n; i++) {
        if (!t[i].name) {
            hiss_seterr(err, HISS_ERR_ARG, "%s: tensor %d has no name", path, i);
            return HISS_ERR_ARG;
        }
        json_show(nm, sizeof nm, t[i].name, strlen(t[i].name));
        if (!json_utf8_valid(t[i].name, strlen(t[i].name)) || strcmp(t[i].name, META_KEY) == 0) {
            hiss_seterr(err, HISS_ERR_ARG, "%s: tensor name \"%s\" is not valid UTF-8 or is reserved", path,
                        nm);
            return HISS_ERR_ARG;
        }
        if (t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS || (t[i].ndim > 0 && !t[i].shape)) {
            hiss_seterr(err, HISS_ERR_ARG, "%s: tensor %s has %d dimensions; 0 to %d are accepted", path, nm,
                        t[i].ndim, ST_MAX_DIMS);
            return HISS_ERR_ARG;
        }
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0 || (uint64_t)t[i].shape[d] > HISS_MAX_PARAMS) {
                hiss_seterr(err, HISS_ERR_ARG, "%s: tensor %s: shape[%d] is %lld, outside 0..%u", path, nm, d,
                            (long long)t[i].shape[d], HISS_MAX_PARAMS);
                return HISS_ERR_ARG;
            }
            numel = numel * (uint64_t)t[i].shape[d];
            if (numel > HISS_MAX_PARAMS) {
                hiss_seterr(err, HISS_ERR_ARG, "%s: tensor %s has more than %u elements", path, nm,
                            HISS_MAX_PARAMS);
                return HISS_ERR_ARG;
            }
        }
        if (numel && !t[i].data) {
            hiss_seterr(err, HISS_ERR_ARG, "%s: tensor %s has no data", path, nm);
            return HISS_ERR_ARG;
        }
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value) {
            hiss_seterr(err, HISS_ERR_ARG, "%s: metadata entry %d has no key or no value", path, i);
            return HISS_ERR_ARG;
        }
        if (!json_utf8_valid(meta[i].key, strlen(meta[i].key)) ||
            !json_utf8_valid(meta[i].value, strlen(meta[i].value))) {
            json_show(nm, sizeof nm, meta[i].key, strlen(meta[i].key));
            hiss_seterr(err, HISS_ERR_ARG, "%s: metadata entry \"%s\" is not valid UTF-8", path, nm);
            return HISS_ERR_ARG;
        }
    }
    int oom = 0;
    int nn = n > n_meta ? n : n_meta;
    const char **names = malloc((size_t)(nn ? nn : 1) * sizeof *names);
    if (!names) {
        hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory", path);
        return HISS_ERR_NOMEM;
    }
    for (int pass = 0; pass < 2; pass++) {
        int k = pass ? n_meta : n;
        for (int i = 0; i < k; i++)
            names[i] = pass ? meta[i].key : t[i].name;
        const char *dup = find_duplicate(names, k, &oom);
        if (dup || oom) {
            free(names);
            if (oom) {
                hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory", path);
                return HISS_ERR_NOMEM;
            }
            json_show(nm, sizeof nm, dup, strlen(dup));
            hiss_seterr(err, HISS_ERR_ARG, "%s: %s \"%s\" appears twice", path,
                        pass ? "metadata key" : "tensor name", nm);
            return HISS_ERR_ARG;
        }
    }
    free(names);
    return HISS_OK;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static void errtext(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
}

/* Make the rename itself durable; a failure here loses nothing that is not already written. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? dup_bytes(path, slash == path ? 1 : (size_t)(slash - path)) : dup_bytes(".", 1);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

hiss_status st_write_f32(const char *path, const st_out_tensor *t, int n, const st_kv *meta, int n_meta,
                         hiss_error *err)
{
    if (!path) {
        hiss_seterr(err, HISS_ERR_ARG, "st_write_f32: no path");
        return HISS_ERR_ARG;
    }
    hiss_status st = check_output(path, t, n, meta, n_meta, err);
    if (st != HISS_OK)
        return st;

    sbuf h = {0};
    sb_cs(&h, "{");
    int first = 1;
    if (n_meta > 0) {
        sb_cs(&h, "\"" META_KEY "\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                sb_put(&h, ",", 1);
            sb_str(&h, meta[i].key);
            sb_put(&h, ":", 1);
            sb_str(&h, meta[i].value);
        }
        sb_put(&h, "}", 1);
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        if (!first)
            sb_put(&h, ",", 1);
        first = 0;
        sb_str(&h, t[i].name);
        sb_cs(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            sb_fmt(&h, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
            numel *= (uint64_t)t[i].shape[d];
        }
        sb_fmt(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
               (unsigned long long)(off + numel * 4));
        off += numel * 4;
    }
    sb_put(&h, "}", 1);
    while (h.n % 8)
        sb_put(&h, " ", 1);
    if (h.oom) {
        free(h.p);
        hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory building the header", path);
        return HISS_ERR_NOMEM;
    }
    if (h.n > HISS_MAX_HEADER) {
        free(h.p);
        hiss_seterr(err, HISS_ERR_ARG, "%s: the header would be %zu bytes, more than the limit of %u", path,
                    h.n, HISS_MAX_HEADER);
        return HISS_ERR_ARG;
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 12);
    enum { CHUNK = 4096 };
    uint8_t *chunk = malloc(CHUNK * 4);
    if (!tmp || !chunk) {
        free(h.p);
        free(tmp);
        free(chunk);
        hiss_seterr(err, HISS_ERR_NOMEM, "%s: out of memory", path);
        return HISS_ERR_NOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", 12);
    char why[128];
    const char *step = "cannot create a temporary file";
    int created = 0;
    int fd = mkstemp(tmp);
    if (fd < 0)
        goto io_fail;
    created = 1;
    /* mkstemp makes the file private (0600); a model should end up readable like any file the user
     * writes. Keep the mode of a file being replaced, else rw-r--r--. */
    struct stat sb;
    mode_t mode = 0644;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        mode = sb.st_mode & 0777;
    step = "cannot set the permissions of the temporary file";
    if (fchmod(fd, mode) != 0)
        goto io_fail;

    step = "write failed";
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    if (write_all(fd, len8, 8) || write_all(fd, h.p, h.n))
        goto io_fail;
    /* Little-endian bytes whatever the host order, a chunk at a time. */
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= (size_t)t[i].shape[d];
        for (size_t j = 0; j < numel;) {
            size_t k = numel - j < CHUNK ? numel - j : CHUNK;
            for (size_t q = 0; q < k; q++) {
                uint32_t u;
                memcpy(&u, &t[i].data[j + q], 4);
                chunk[4 * q] = (uint8_t)u;
                chunk[4 * q + 1] = (uint8_t)(u >> 8);
                chunk[4 * q + 2] = (uint8_t)(u >> 16);
                chunk[4 * q + 3] = (uint8_t)(u >> 24);
            }
            if (write_all(fd, chunk, 4 * k))
                goto io_fail;
            j += k;
        }
    }
    step = "fsync failed";
    if (fsync(fd) != 0)
        goto io_fail;
    step = "closing the temporary file failed";
    int rc = close(fd);
    fd = -1;
    if (rc != 0)
        goto io_fail;
    step = "cannot rename the temporary file into place";
    if (rename(tmp, path) != 0)
        goto io_fail;
    sync_dir(path);
    free(h.p);
    free(tmp);
    free(chunk);
    return HISS_OK;

io_fail:
    errtext(errno, why, sizeof why);
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    hiss_seterr(err, HISS_ERR_IO, "%s: %s (%s): %s", path, step, tmp, why);
    free(h.p);
    free(tmp);
    free(chunk);
    return HISS_ERR_IO;
}
