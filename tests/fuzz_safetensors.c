/* Mutation fuzzing of st_parse. A valid file (F32, F16, BF16, scalar and empty tensors, metadata
 * with escapes) is cut at every length and mutated many times with a fixed seed. Every input must
 * either fail with a message naming the file, or parse into a result that is consistent with the
 * bytes it came from (checked here independently). Each input lives in a buffer of exactly its
 * size, so in a sanitizer build any read past it aborts the test.
 * Usage: fuzz_safetensors [mutations] [seed] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"
#include "safetensors.h"

static const char *NAME = "fuzz.safetensors";
static int failures;

#define FAIL(...)                                                                                   \
    do {                                                                                            \
        if (failures++ < 20) {                                                                      \
            fprintf(stderr, "FAIL: ");                                                              \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
        }                                                                                           \
    } while (0)

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}
static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* The seed file. Offsets: a 0..24, h 24..36, b 36..44, s 44..48, e 48..48, c 48..56. */
static uint8_t *seed_file(size_t *len, size_t *hlen_out)
{
    const char *hdr =
        "{\"__metadata__\":{\"hiss.io\":\"fx\",\"sample_rate\":\"48000\",\"note\":\"caf\\u00e9 \\ud83d\\ude00 "
        "\\\"q\\\" \\\\ \\n\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[24,36]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,1,2],\"data_offsets\":[36,44]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[44,48]},"
        "\"e\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[48,48]},"
        "\"c\":{\"shape\":[2],\"data_offsets\":[48,56],\"dtype\":\"F32\"}}     ";
    size_t hlen = strlen(hdr), dlen = 56;
    *len = 8 + hlen + dlen;
    *hlen_out = hlen;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    for (size_t i = 0; i < dlen; i++)
        b[8 + hlen + i] = (uint8_t)rnd();
    return b;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* A parsed file must describe exactly the bytes it was parsed from. */
static void check_consistent(const uint8_t *buf, size_t len, const st_file *f, const char *what)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (len < 8 || hlen == 0 || hlen > len - 8 || f->data != buf + 8 + hlen || f->data_len != len - 8 - hlen) {
        FAIL("%s: data span does not match the length field", what);
        return;
    }
    if (f->n_tensors < 0 || f->n_meta < 0 || (f->n_meta && !f->has_meta)) {
        FAIL("%s: bad counts", what);
        return;
    }
    const st_tensor **ix = malloc(((size_t)f->n_tensors + 1) * sizeof *ix);
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        ix[i] = t;
        if (!t->name || t->ndim < 0 || t->ndim > ST_MAX_DIMS || (unsigned)t->dtype > ST_BF16) {
            FAIL("%s: tensor %d record", what, i);
            continue;
        }
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || t->shape[d] > (int64_t)HISS_MAX_PARAMS)
                FAIL("%s: tensor %s dimension %lld", what, t->name, (long long)t->shape[d]);
            n *= (uint64_t)t->shape[d];
        }
        uint64_t es = t->dtype == ST_F32 ? 4 : 2;
        if (n != t->numel || n > HISS_MAX_PARAMS || t->begin > t->end || t->end > f->data_len ||
            t->end - t->begin != n * es)
            FAIL("%s: tensor %s numel %zu / offsets [%llu,%llu] inconsistent", what, t->name, t->numel,
                 (unsigned long long)t->begin, (unsigned long long)t->end);
        if (st_find(f, t->name) != t)
            FAIL("%s: st_find(%s) does not find it (duplicate name?)", what, t->name);
        /* Conversion reads exactly [begin, end): the sanitizer checks the bounds. */
        float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
        st_to_f32(f, t, out);
        for (size_t k = 0; t->dtype == ST_F32 && k < t->numel; k++) {
            const uint8_t *p = f->data + t->begin + 4 * k;
            uint32_t want = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24, got;
            memcpy(&got, &out[k], 4);
            if (got != want) {
                FAIL("%s: tensor %s value %zu is not its little-endian bytes", what, t->name, k);
                break;
            }
        }
        free(out);
    }
    qsort(ix, (size_t)f->n_tensors, sizeof *ix, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        if (ix[i]->begin != at)
            FAIL("%s: tensors do not tile the data at byte %llu", what, (unsigned long long)at);
        at = ix[i]->end;
    }
    if (at != f->data_len)
        FAIL("%s: tensors end at %llu, data is %llu bytes", what, (unsigned long long)at,
             (unsigned long long)f->data_len);
    free(ix);
    for (int i = 0; i < f->n_meta; i++) {
        if (!f->meta[i].key || !f->meta[i].value || st_meta(f, f->meta[i].key) != f->meta[i].value)
            FAIL("%s: metadata %d lookup", what, i);
    }
}

typedef struct tally {
    long ok, failed;
} tally;

/* Parse a copy of exactly len bytes. */
static int run_one(const uint8_t *src, size_t len, const char *what, tally *t)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (len)
        memcpy(buf, src, len);
    st_file f;
    hiss_error err = {0};
    hiss_status st = st_parse(len ? buf : NULL, len, NAME, &f, &err);
    if (st == HISS_OK) {
        t->ok++;
        check_consistent(buf, len, &f, what);
        st_free(&f);
    } else {
        t->failed++;
        if ((st != HISS_ERR_FORMAT && st != HISS_ERR_NOMEM) || err.status != st ||
            strncmp(err.msg, "fuzz.safetensors: ", 18) != 0 || strlen(err.msg) < 24)
            FAIL("%s: status %d with message \"%s\"", what, (int)st, err.msg);
        if (f.tensors || f.meta || f.n_tensors || f.n_meta || f.data)
            FAIL("%s: st_file not zeroed after an error", what);
    }
    free(buf);
    return st == HISS_OK;
}

static const char interesting[] = "{}[]\":,\\0123456789-+.eEu \t\n\x00\x01\x7f\x80\xbf\xc3\xed\xf0\xff";

/* One random edit. Most land in the header, where the parser's decisions are. hlen is updated
 * when the edit changes the header's size (and the length field is then rewritten to match, so
 * the JSON itself is what gets tested). */
static size_t mutate(uint8_t *b, size_t len, size_t cap, size_t *hlen)
{
    size_t hend = 8 + *hlen;
    size_t pos = below(4) ? 8 + below(*hlen) : below(len);
    switch (below(8)) {
    case 0: b[pos] ^= (uint8_t)(1u << below(8)); break;
    case 1: b[pos] = (uint8_t)rnd(); break;
    case 2: b[pos] = (uint8_t)interesting[below(sizeof interesting - 1)]; break;
    case 3: /* a digit becomes another digit: offsets and shapes change, the syntax does not */
        for (size_t k = 0; k < 64; k++) {
            size_t p = 8 + below(*hlen);
            if (b[p] >= '0' && b[p] <= '9') {
                b[p] = (uint8_t)('0' + below(10));
                break;
            }
        }
        break;
    case 4: { /* delete bytes from the header */
        size_t p = 8 + below(*hlen), n = 1 + below(4);
        if (p + n > hend || n >= *hlen)
            break;
        memmove(b + p, b + p + n, len - p - n);
        len -= n;
        *hlen -= n;
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)((uint64_t)*hlen >> (8 * i));
        break;
    }
    case 5: { /* insert bytes into the header */
        size_t p = 8 + below(*hlen + 1), n = 1 + below(4);
        if (len + n > cap)
            break;
        memmove(b + p + n, b + p, len - p);
        for (size_t k = 0; k < n; k++)
            b[p + k] = (uint8_t)interesting[below(sizeof interesting - 1)];
        len += n;
        *hlen += n;
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)((uint64_t)*hlen >> (8 * i));
        break;
    }
    case 6: { /* the length field alone, near its true value or anywhere */
        uint64_t v = below(2) ? *hlen + below(33) - 16 : rnd() >> below(64);
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(v >> (8 * i));
        break;
    }
    default: /* cut the file short */
        len = below(len + 1);
        break;
    }
    return len;
}

int main(int argc, char **argv)
{
    long n_mut = argc > 1 ? atol(argv[1]) : 20000;
    rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5EEDF00Dull;
    if (!rng)
        rng = 1;
    size_t len, hlen;
    uint8_t *seed = seed_file(&len, &hlen);
    tally t = {0, 0};

    if (!run_one(seed, len, "seed", &t))
        FAIL("the seed file does not parse");

    /* Every truncation is an error: the header or the data always comes up short. */
    tally cut = {0, 0};
    for (size_t n = 0; n < len; n++) {
        char what[64];
        snprintf(what, sizeof what, "truncation to %zu bytes", n);
        if (run_one(seed, n, what, &cut))
            FAIL("%s parsed", what);
    }
    printf("truncations: %zu lengths, %ld refused, %ld parsed\n", len, cut.failed, cut.ok);

    size_t cap = len + 64;
    uint8_t *b = malloc(cap);
    for (long i = 0; i < n_mut; i++) {
        memcpy(b, seed, len);
        size_t l = len, h = hlen;
        int edits = 1 + (int)below(4);
        /* Edits stop once the file has been cut short of its header. */
        for (int k = 0; k < edits && l >= 8 + h && h > 1; k++)
            l = mutate(b, l, cap, &h);
        char what[64];
        snprintf(what, sizeof what, "mutation %ld", i);
        run_one(b, l, what, &t);
    }
    printf("mutations: %ld, %ld parsed (checked consistent), %ld refused with a message\n", n_mut, t.ok - 1,
           t.failed);
    /* Both outcomes must occur, or the mutations are not exercising the parser. */
    if (n_mut >= 1000 && (t.ok < 10 || t.failed < 10))
        FAIL("mutations too one-sided: %ld parsed, %ld refused", t.ok, t.failed);
    free(b);
    free(seed);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
