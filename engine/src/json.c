/* Strict recursive-descent JSON (RFC 8259). The input is a length-delimited buffer that nothing
 * guarantees to be terminated or well formed, so every read is checked against len and every
 * failure leaves one message with the byte offset at fault.
 *
 * Numbers: plain integers are exact (is_int/i). Doubles are computed from at most 19 significant
 * digits scaled by a power of ten in long double; that is the nearest double except in rare
 * near-halfway cases, where it is one ulp off. Nothing in a safetensors header needs more: shapes
 * and offsets must be plain integers. Values beyond the range of a double are refused rather than
 * turned into infinities. */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    size_t nodes;
    json_error *err;
    json_status status;
} parser;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(parser *p, size_t at, const char *fmt, ...)
{
    if (p->status != JSON_OK)
        return -1;
    p->status = JSON_ESYNTAX;
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
        va_end(ap);
        p->err->offset = at;
    }
    return -1;
}

/* Failures unwind through every enclosing container, each adding its part of the path. */
static void prepend_path(parser *p, const char *key, size_t key_len, size_t index)
{
    if (!p->err || p->status != JSON_ESYNTAX)
        return;
    char seg[64], tmp[sizeof p->err->path];
    if (key)
        json_show(seg, sizeof seg, key, key_len);
    else
        snprintf(seg, sizeof seg, "[%zu]", index);
    const char *old = p->err->path;
    const char *sep = old[0] && old[0] != '[' ? "/" : "";
    const char *parts[3] = {seg, sep, old};
    size_t o = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);
        if (n > sizeof tmp - 1 - o)
            n = sizeof tmp - 1 - o; /* a path this deep is cut; the byte offset still pins it */
        memcpy(tmp + o, parts[i], n);
        o += n;
    }
    tmp[o] = 0;
    memcpy(p->err->path, tmp, o + 1);
}

static int nomem(parser *p)
{
    if (p->status == JSON_OK) {
        p->status = JSON_ENOMEM;
        if (p->err) {
            snprintf(p->err->msg, sizeof p->err->msg, "out of memory");
            p->err->offset = p->pos;
        }
    }
    return -1;
}

/* What the parser is looking at, for messages. */
static const char *here(const parser *p, char *buf, size_t n)
{
    if (p->pos >= p->len)
        snprintf(buf, n, "end of input");
    else if (p->s[p->pos] > 0x20 && p->s[p->pos] < 0x7F)
        snprintf(buf, n, "'%c'", p->s[p->pos]);
    else
        snprintf(buf, n, "byte 0x%02X", p->s[p->pos]);
    return buf;
}

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7: no overlongs, no surrogates,
 * nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

int json_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* One character of json_show's rendering into tmp: returns its length, *adv the bytes it uses. */
static size_t show_char(const unsigned char *u, size_t left, char *tmp, size_t *adv)
{
    size_t n = utf8_seq(u, left);
    if (n > 1) {
        memcpy(tmp, u, n);
        *adv = n;
        return n;
    }
    *adv = 1;
    if (u[0] < 0x20 || u[0] >= 0x7F)
        return (size_t)snprintf(tmp, 8, "\\x%02X", u[0]);
    if (u[0] == '"' || u[0] == '\\')
        return (size_t)snprintf(tmp, 8, "\\%c", u[0]);
    tmp[0] = (char)u[0];
    return 1;
}

void json_show(char *dst, size_t cap, const char *s, size_t len)
{
    if (!cap)
        return;
    const unsigned char *u = (const unsigned char *)s;
    char tmp[8];
    size_t total = 0, adv;
    for (size_t i = 0; i < len && total < cap; i += adv)
        total += show_char(u + i, len - i, tmp, &adv);
    /* When it does not all fit, keep room for "..." so the cut is always marked. */
    size_t room = total < cap ? cap - 1 : (cap >= 4 ? cap - 4 : 0);
    size_t o = 0;
    for (size_t i = 0; i < len; i += adv) {
        size_t k = show_char(u + i, len - i, tmp, &adv);
        if (o + k > room)
            break;
        memcpy(dst + o, tmp, k);
        o += k;
    }
    if (total >= cap && cap >= 4) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = 0;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At an opening quote. The decoded string is never longer than its source text (every escape
 * shrinks or keeps its size), so one allocation of the raw length suffices. */
static int parse_string(parser *p, char **out, size_t *out_len)
{
    size_t open = p->pos++;
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len)
        return fail(p, open, "unterminated string");
    unsigned char *buf = malloc(end - p->pos + 1);
    if (!buf)
        return nomem(p);
    size_t o = 0;
    while (p->pos < end) {
        unsigned char c = p->s[p->pos];
        if (c == '\\') {
            /* The scan above skipped the byte after every backslash and decoding stays in step
             * with it, so this cannot trigger; it keeps the reads below provably in bounds. */
            if (end - p->pos < 2) {
                free(buf);
                return fail(p, p->pos, "unterminated escape in string");
            }
            unsigned char e = p->s[p->pos + 1];
            size_t at = p->pos;
            p->pos += 2;
            switch (e) {
            case '"': case '\\': case '/': buf[o++] = e; break;
            case 'b': buf[o++] = '\b'; break;
            case 'f': buf[o++] = '\f'; break;
            case 'n': buf[o++] = '\n'; break;
            case 'r': buf[o++] = '\r'; break;
            case 't': buf[o++] = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (end - p->pos < 4 || !hex4(p->s + p->pos, &cp)) {
                    free(buf);
                    return fail(p, at, "invalid \\u escape (4 hex digits expected)");
                }
                p->pos += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    free(buf);
                    return fail(p, at, "lone low surrogate \\u%04X in string", cp);
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (end - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                        !hex4(p->s + p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        free(buf);
                        return fail(p, at, "high surrogate \\u%04X not followed by a low surrogate", cp);
                    }
                    p->pos += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o += put_utf8(buf + o, cp);
                break;
            }
            default: {
                free(buf);
                if (e > 0x20 && e < 0x7F)
                    return fail(p, at, "invalid escape \\%c in string", e);
                return fail(p, at, "invalid escape (backslash then byte 0x%02X) in string", e);
            }
            }
        } else if (c < 0x20) {
            free(buf);
            return fail(p, p->pos, "control character 0x%02X in string (must be escaped)", c);
        } else {
            size_t k = utf8_seq(p->s + p->pos, end - p->pos);
            if (!k) {
                free(buf);
                return fail(p, p->pos, "invalid UTF-8 in string (byte 0x%02X)", c);
            }
            memcpy(buf + o, p->s + p->pos, k);
            o += k;
            p->pos += k;
        }
    }
    buf[o] = 0;
    p->pos = end + 1;
    *out = (char *)buf;
    *out_len = o;
    return 0;
}

static int is_digit(const parser *p)
{
    return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

static int parse_number(parser *p, json_value *v)
{
    size_t start = p->pos;
    int neg = 0;
    if (p->s[p->pos] == '-') {
        neg = 1;
        p->pos++;
    }
    if (!is_digit(p)) {
        char h[24];
        return fail(p, p->pos, "invalid number: expected a digit, found %s", here(p, h, sizeof h));
    }
    size_t int_start = p->pos;
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (is_digit(p))
            return fail(p, start, "invalid number: leading zero");
    } else {
        while (is_digit(p))
            p->pos++;
    }
    size_t int_end = p->pos, frac_start = 0, frac_end = 0;
    int plain = 1;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        plain = 0;
        frac_start = ++p->pos;
        while (is_digit(p))
            p->pos++;
        frac_end = p->pos;
        if (frac_end == frac_start)
            return fail(p, start, "invalid number: expected a digit after '.'");
    }
    long exp10 = 0;
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        plain = 0;
        p->pos++;
        int eneg = 0;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            eneg = p->s[p->pos++] == '-';
        if (!is_digit(p))
            return fail(p, start, "invalid number: expected a digit in the exponent");
        while (is_digit(p)) {
            if (exp10 < 1000000) /* saturate: beyond this the value is 0 or out of range anyway */
                exp10 = exp10 * 10 + (p->s[p->pos] - '0');
            p->pos++;
        }
        if (eneg)
            exp10 = -exp10;
    }

    v->type = JSON_NUMBER;
    if (plain) {
        uint64_t mag = 0;
        int over = 0;
        for (size_t k = int_start; k < int_end; k++) {
            unsigned d = p->s[k] - '0';
            if (mag > (UINT64_MAX - d) / 10)
                over = 1;
            else
                mag = mag * 10 + d;
        }
        const uint64_t lim = (uint64_t)INT64_MAX;
        if (!over && (neg ? mag <= lim + 1 : mag <= lim)) {
            v->is_int = 1;
            v->i = neg ? (mag == lim + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        }
        if (!over && mag <= ((uint64_t)1 << 53)) {
            v->num = neg ? -(double)mag : (double)mag;
            return 0;
        }
    }

    uint64_t sig = 0;
    int nd = 0;
    long e10 = exp10;
    for (size_t k = int_start; k < int_end; k++) {
        unsigned d = p->s[k] - '0';
        if (sig == 0 && d == 0)
            continue;
        if (nd < 19) {
            sig = sig * 10 + d;
            nd++;
        } else {
            e10++;
        }
    }
    for (size_t k = frac_start; k < frac_end; k++) {
        unsigned d = p->s[k] - '0';
        if (sig == 0 && d == 0) {
            e10--;
        } else if (nd < 19) {
            sig = sig * 10 + d;
            nd++;
            e10--;
        }
    }
    double d;
    if (sig == 0 || e10 + nd < -330) {
        d = 0.0;
    } else if (e10 + nd > 310) {
        return fail(p, start, "number out of range");
    } else {
        long double x = (long double)sig;
        long e = e10;
        if (e > 0) {
            x *= powl(10.0L, (long double)e);
        } else if (e < 0) {
            if (e < -300) {
                x /= 1e300L;
                e += 300;
            }
            x /= powl(10.0L, (long double)-e);
        }
        d = (double)x;
        if (isinf(d))
            return fail(p, start, "number out of range");
    }
    v->num = neg ? -d : d;
    return 0;
}

static int parse_value(parser *p, json_value *v, int depth);

static int grow(parser *p, json_value *v, size_t *cap)
{
    if (v->len < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 4;
    if (n > SIZE_MAX / sizeof *v->items)
        return nomem(p);
    json_value *items = realloc(v->items, n * sizeof *items);
    if (!items)
        return nomem(p);
    v->items = items;
    *cap = n;
    return 0;
}

static void shrink(json_value *v)
{
    if (!v->len)
        return;
    json_value *items = realloc(v->items, v->len * sizeof *items);
    if (items)
        v->items = items;
}

static int parse_array(parser *p, json_value *v, int depth)
{
    size_t open = p->pos++;
    v->type = JSON_ARRAY;
    if (depth >= JSON_MAX_DEPTH)
        return fail(p, open, "nesting deeper than %d levels", JSON_MAX_DEPTH);
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    size_t cap = 0;
    for (;;) {
        if (grow(p, v, &cap))
            return -1;
        json_value *it = &v->items[v->len++];
        memset(it, 0, sizeof *it);
        if (parse_value(p, it, depth + 1)) {
            prepend_path(p, NULL, 0, v->len - 1);
            return -1;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            break;
        }
        char h[24];
        return fail(p, p->pos, "expected ',' or ']' in the array opened at byte %zu, found %s", open,
                    here(p, h, sizeof h));
    }
    shrink(v);
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const json_value *x = *(const json_value *const *)a, *y = *(const json_value *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Sorting pointers keeps the check O(n log n): a header may hold a great many keys. */
static int check_duplicates(parser *p, const json_value *v)
{
    if (v->len < 2)
        return 0;
    const json_value **ix = malloc(v->len * sizeof *ix);
    if (!ix)
        return nomem(p);
    for (size_t k = 0; k < v->len; k++)
        ix[k] = &v->items[k];
    qsort(ix, v->len, sizeof *ix, key_cmp);
    for (size_t k = 1; k < v->len; k++)
        if (key_cmp(&ix[k - 1], &ix[k]) == 0) {
            const json_value *second = ix[k]->pos > ix[k - 1]->pos ? ix[k] : ix[k - 1];
            char name[96];
            json_show(name, sizeof name, second->key, second->key_len);
            free(ix);
            fail(p, second->pos, "duplicate key \"%s\"", name);
            if (p->err)
                p->err->duplicate = 1;
            return -1;
        }
    free(ix);
    return 0;
}

static int parse_object(parser *p, json_value *v, int depth)
{
    size_t open = p->pos++;
    v->type = JSON_OBJECT;
    if (depth >= JSON_MAX_DEPTH)
        return fail(p, open, "nesting deeper than %d levels", JSON_MAX_DEPTH);
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    size_t cap = 0;
    char h[24];
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return fail(p, p->pos, "expected a member name (a string) in the object opened at byte %zu, "
                        "found %s", open, here(p, h, sizeof h));
        if (grow(p, v, &cap))
            return -1;
        json_value *it = &v->items[v->len++];
        memset(it, 0, sizeof *it);
        if (parse_string(p, &it->key, &it->key_len))
            return -1;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return fail(p, p->pos, "expected ':' after a member name, found %s", here(p, h, sizeof h));
        p->pos++;
        if (parse_value(p, it, depth + 1)) {
            prepend_path(p, it->key, it->key_len, 0);
            return -1;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            break;
        }
        return fail(p, p->pos, "expected ',' or '}' in the object opened at byte %zu, found %s", open,
                    here(p, h, sizeof h));
    }
    shrink(v);
    return check_duplicates(p, v);
}

static int literal(parser *p, json_value *v, const char *word, json_type t)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, p->pos, "invalid literal (expected %s)", word);
    p->pos += n;
    v->type = t;
    return 0;
}

/* v is zeroed by the caller (an object member already carries its key). */
static int parse_value(parser *p, json_value *v, int depth)
{
    skip_ws(p);
    v->pos = p->pos;
    if (p->pos >= p->len)
        return fail(p, p->pos, "unexpected end of input, expected a value");
    if (++p->nodes > JSON_MAX_NODES)
        return fail(p, p->pos, "more than %u values", JSON_MAX_NODES);
    switch (p->s[p->pos]) {
    case '{': return parse_object(p, v, depth);
    case '[': return parse_array(p, v, depth);
    case '"': v->type = JSON_STRING; return parse_string(p, &v->str, &v->len);
    case 't': return literal(p, v, "true", JSON_TRUE);
    case 'f': return literal(p, v, "false", JSON_FALSE);
    case 'n': return literal(p, v, "null", JSON_NULL);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(p, v);
    default: {
        char h[24];
        return fail(p, p->pos, "unexpected %s, expected a value", here(p, h, sizeof h));
    }
    }
}

json_status json_parse(const char *text, size_t len, json_value *out, json_error *err)
{
    memset(out, 0, sizeof *out);
    if (err) {
        err->offset = 0;
        err->duplicate = 0;
        err->msg[0] = 0;
        err->path[0] = 0;
    }
    parser p = {(const unsigned char *)text, text ? len : 0, 0, 0, err, JSON_OK};
    if (parse_value(&p, out, 0) == 0) {
        skip_ws(&p);
        if (p.pos != p.len) {
            char h[24];
            fail(&p, p.pos, "unexpected %s after the end of the value", here(&p, h, sizeof h));
        }
    }
    if (p.status != JSON_OK)
        json_free(out);
    return p.status;
}

void json_free(json_value *v)
{
    if (!v)
        return;
    for (size_t k = 0; (v->type == JSON_ARRAY || v->type == JSON_OBJECT) && k < v->len; k++) {
        free(v->items[k].key);
        json_free(&v->items[k]);
    }
    free(v->items);
    free(v->str);
    memset(v, 0, sizeof *v);
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t k = 0; k < obj->len; k++)
        if (obj->items[k].key_len == n && memcmp(obj->items[k].key, key, n) == 0)
            return &obj->items[k];
    return NULL;
}

const char *json_type_name(json_type t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_FALSE: return "false";
    case JSON_TRUE: return "true";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "value";
}
