/* A small strict JSON parser (RFC 8259) for safetensors headers. It builds a tree of values from a
 * buffer of explicit length (the header is not NUL-terminated in the file), refuses anything the
 * RFC does not allow, and also refuses duplicate object keys, lone surrogates, nesting deeper than
 * JSON_MAX_DEPTH, more than JSON_MAX_NODES values and numbers beyond the range of a double, so a
 * consumer never has to wonder which of two values it got, nor pay more than a bounded amount of
 * memory for any text. No global state; safe on any input. */
#ifndef HISS_JSON_H
#define HISS_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum json_type {
    JSON_NULL = 0,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    int is_int;         /* NUMBER written as a plain integer (no '.', no exponent) within int64 */
    int64_t i;          /* its exact value when is_int */
    double num;         /* NUMBER: the value as a double (nearest, or within one ulp; see json.c) */
    char *str;          /* STRING: UTF-8, NUL-terminated; \u0000 can put NULs inside, see len */
    size_t len;         /* STRING: bytes in str; ARRAY, OBJECT: number of items */
    json_value *items;  /* ARRAY, OBJECT: the items in document order */
    char *key;          /* item of an OBJECT: its member name, NUL-terminated (see key_len) */
    size_t key_len;
    size_t pos;         /* byte offset in the text where the value starts */
};

#define JSON_MAX_DEPTH 64
/* A tree node costs ~80 bytes for as little as 2 bytes of text; the cap keeps a hostile 64 MiB
 * header from asking for gigabytes. A million values is ~70000 tensor entries. */
#define JSON_MAX_NODES (1u << 20)

typedef enum json_status { JSON_OK = 0, JSON_ESYNTAX, JSON_ENOMEM } json_status;

typedef struct json_error {
    size_t offset;      /* byte offset of the fault in the text */
    int duplicate;      /* the fault is a repeated key (valid RFC 8259 syntax, refused here) */
    char msg[192];
    char path[160];     /* where: member names and [index]es from the root, e.g. w/shape[1] */
} json_error;

/* Parse exactly len bytes (one value, surrounded by optional whitespace). On failure *out is left
 * zeroed and err (if not NULL) says what and where. */
json_status json_parse(const char *text, size_t len, json_value *out, json_error *err);
/* Free what json_parse allocated; leaves *v zeroed. Safe on a zeroed value. */
void json_free(json_value *v);
/* Member of an object by name (a name holding a NUL can only be found by walking items); NULL when
 * absent or when obj is not an object. */
const json_value *json_get(const json_value *obj, const char *key);
/* "null", "false", "true", "number", "string", "array", "object". */
const char *json_type_name(json_type t);
/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int json_utf8_valid(const char *s, size_t n);
/* A printable, bounded rendering of s[0..len) for messages: control bytes, DEL, invalid UTF-8,
 * '"' and '\\' escaped, cut with "..." to fit cap bytes including the NUL. */
void json_show(char *dst, size_t cap, const char *s, size_t len);

#endif
