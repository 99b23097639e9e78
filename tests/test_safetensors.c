/* safetensors reader/writer and the JSON parser under it, against references written here:
 *  - F16 and BF16 decoding over all 65536 bit patterns against the float64 formula
 *    sign * 2^(e-bias) * (1 + m/2^k) (subnormals sign * 2^(1-bias) * m/2^k, inf, NaN);
 *  - files built by hand in this test (its own f32 -> F16/BF16 round-to-nearest-even converters,
 *    its own header text) parsed back value by value;
 *  - st_write_f32 files checked byte by byte (layout, padding, little-endian data) and parsed back;
 *  - every rejection the format requires, each checked for HISS_ERR_FORMAT and for a message that
 *    names the file and the tensor or field at fault;
 *  - JSON numbers against the C library's strtod, strings against hand-encoded UTF-8.
 * argv[1]: a directory where scratch files may be written (a private subdirectory is made). */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hiss.h"
#include "json.h"
#include "safetensors.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        checks++;                                                                                   \
        if (!(cond)) {                                                                              \
            failures++;                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
        }                                                                                           \
    } while (0)

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* ---- references --------------------------------------------------------------------------- */

/* The value a 16-bit pattern stands for, from the definition of the format. */
static double ref_half(uint16_t h, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    double sign = (h >> 15) ? -1.0 : 1.0;
    int e = (h >> mbits) & ((1 << ebits) - 1);
    int m = h & ((1 << mbits) - 1);
    double frac = (double)m / (double)(1 << mbits);
    if (e == (1 << ebits) - 1)
        return m ? NAN : sign * INFINITY;
    if (e == 0)
        return sign * ldexp(frac, 1 - bias);
    return sign * ldexp(1.0 + frac, e - bias);
}
static double ref_f16(uint16_t h) { return ref_half(h, 5, 10); }
static double ref_bf16(uint16_t h) { return ref_half(h, 8, 7); }

/* f32 -> 16-bit float with round-to-nearest-even, done on values (not bits): find the quantum
 * of x's binade, round x/quantum to an integer, then encode the rounded value. */
static uint16_t to_half(float x, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1, emax = (1 << ebits) - 1;
    uint16_t sign = (uint16_t)((fbits(x) >> 31) << 15);
    if (isnan(x))
        return (uint16_t)(sign | (emax << mbits) | (1 << (mbits - 1)));
    double a = fabs((double)x);
    double maxv = ldexp(2.0 - ldexp(1.0, -mbits), bias);
    double halfway_up = maxv + ldexp(1.0, bias - mbits - 1);
    if (a >= halfway_up)
        return (uint16_t)(sign | (emax << mbits));
    if (a == 0)
        return sign;
    int E;
    frexp(a, &E); /* a = f * 2^E, f in [0.5, 1): a lies in binade 2^(E-1) */
    int e = E - 1;
    if (e < 1 - bias)
        e = 1 - bias; /* subnormal range shares the quantum of the lowest binade */
    double q = ldexp(1.0, e - mbits);
    double n = a / q, fl = floor(n), rem = n - fl;
    if (rem > 0.5 || (rem == 0.5 && fmod(fl, 2.0) == 1.0))
        fl += 1.0;
    double v = fl * q;
    if (v == 0)
        return sign;
    if (v < ldexp(1.0, 1 - bias))
        return (uint16_t)(sign | (uint16_t)(v / ldexp(1.0, 1 - bias - mbits)));
    frexp(v, &E);
    e = E - 1;
    double m = (v / ldexp(1.0, e) - 1.0) * (double)(1 << mbits);
    return (uint16_t)(sign | ((e + bias) << mbits) | (int)m);
}
static uint16_t to_f16(float x) { return to_half(x, 5, 10); }
static uint16_t to_bf16(float x) { return to_half(x, 8, 7); }

/* ---- helpers ------------------------------------------------------------------------------ */

/* ' stands for " so headers stay readable here. */
static char *q(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

/* 8-byte length + header (hlen bytes) + data, in a buffer of exactly that size so the address
 * sanitizer sees any read past the end. */
static uint8_t *mkfile_n(const char *hdr, size_t hlen, const uint8_t *data, size_t dlen, size_t *len)
{
    *len = 8 + hlen + dlen;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    if (dlen) {
        if (data)
            memcpy(b + 8 + hlen, data, dlen);
        else
            memset(b + 8 + hlen, 0, dlen);
    }
    return b;
}

static int zeroed(const st_file *f)
{
    return !f->tensors && !f->n_tensors && !f->meta && !f->n_meta && !f->has_meta && !f->data && !f->data_len;
}

static const char *NAME = "case.safetensors";
static int n_rejects;

static void expect_reject_buf(int line, const uint8_t *buf, size_t len, const char *n1, const char *n2)
{
    st_file f;
    hiss_error err = {0};
    memset(&f, 0xAB, sizeof f);
    hiss_status st = st_parse(buf, len, NAME, &f, &err);
    n_rejects++;
    CHECK(st == HISS_ERR_FORMAT, "line %d: status %d, expected HISS_ERR_FORMAT (msg: %s)", line, (int)st,
          err.msg);
    CHECK(err.status == HISS_ERR_FORMAT, "line %d: err.status %d", line, (int)err.status);
    CHECK(strncmp(err.msg, "case.safetensors: ", 18) == 0, "line %d: message does not start with the file "
          "name: %s", line, err.msg);
    CHECK(!n1 || strstr(err.msg, n1), "line %d: message lacks \"%s\": %s", line, n1, err.msg);
    CHECK(!n2 || strstr(err.msg, n2), "line %d: message lacks \"%s\": %s", line, n2, err.msg);
    CHECK(zeroed(&f), "line %d: st_file not zeroed after an error", line);
    printf("  reject: %s\n", err.msg);
    if (st == HISS_OK)
        st_free(&f);
}

/* Header in ' notation with dlen zero data bytes. */
static void expect_reject(int line, const char *hdr, size_t dlen, const char *n1, const char *n2)
{
    char *h = q(hdr);
    size_t len;
    uint8_t *b = mkfile_n(h, strlen(h), NULL, dlen, &len);
    expect_reject_buf(line, b, len, n1, n2);
    free(b);
    free(h);
}
#define REJ(hdr, dlen, n1, n2) expect_reject(__LINE__, hdr, dlen, n1, n2)

/* Header taken literally (no ' translation), for bytes the ' notation cannot express. */
static void expect_reject_raw(int line, const char *hdr, size_t hlen, size_t dlen, const char *n1,
                              const char *n2)
{
    size_t len;
    uint8_t *b = mkfile_n(hdr, hlen, NULL, dlen, &len);
    expect_reject_buf(line, b, len, n1, n2);
    free(b);
}
#define REJ_RAW(hdr, dlen, n1, n2) expect_reject_raw(__LINE__, hdr, sizeof(hdr) - 1, dlen, n1, n2)

static int parse_ok(int line, const char *hdr_q, size_t dlen, st_file *f)
{
    char *h = q(hdr_q);
    size_t len;
    uint8_t *b = mkfile_n(h, strlen(h), NULL, dlen, &len);
    hiss_error err = {0};
    hiss_status st = st_parse(b, len, NAME, f, &err);
    CHECK(st == HISS_OK, "line %d: valid header refused: %s", line, err.msg);
    /* The caller only looks at the header-derived fields; the data pointer dies with b. */
    f->data = NULL;
    free(b);
    free(h);
    return st == HISS_OK;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    return b;
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Every 16-bit pattern as a [256,256] tensor in a hand-built file, decoded through st_to_f32. */
static void test_half_exhaustive(const char *dtype, double (*ref)(uint16_t), int mbits)
{
    uint8_t *data = malloc(131072);
    for (uint32_t i = 0; i < 65536; i++) {
        data[2 * i] = (uint8_t)i;
        data[2 * i + 1] = (uint8_t)(i >> 8);
    }
    char hdr[200];
    snprintf(hdr, sizeof hdr, "{\"all\":{\"dtype\":\"%s\",\"shape\":[256,256],\"data_offsets\":[0,131072]}}",
             dtype);
    size_t len;
    uint8_t *b = mkfile_n(hdr, strlen(hdr), data, 131072, &len);
    st_file f;
    hiss_error err = {0};
    CHECK(st_parse(b, len, NAME, &f, &err) == HISS_OK, "%s exhaustive file refused: %s", dtype, err.msg);
    const st_tensor *t = st_find(&f, "all");
    CHECK(t && t->numel == 65536 && t->ndim == 2, "%s tensor shape", dtype);
    if (t) {
        float *out = malloc(65536 * sizeof *out);
        st_to_f32(&f, t, out);
        int bad = 0, nans = 0, subn = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            double want = ref((uint16_t)h);
            float got = out[h];
            int ok;
            if (isnan(want)) {
                /* NaN stays NaN with its sign and payload (the 16-bit mantissa on top of f32's). */
                uint32_t gb = fbits(got);
                uint32_t payload = (gb >> (23 - mbits)) & ((1u << mbits) - 1);
                ok = isnan(got) && (gb >> 31) == (h >> 15) && payload == (h & ((1u << mbits) - 1)) &&
                     (gb & ((1u << (23 - mbits)) - 1)) == 0;
                nans++;
            } else {
                ok = (double)got == want && !!signbit(got) == !!signbit(want);
                subn += want != 0 && fabs(want) < ldexp(1.0, mbits == 10 ? -14 : -126);
            }
            if (!ok && bad++ < 5)
                CHECK(0, "%s 0x%04X: got %.9g (0x%08X), want %.17g", dtype, h, (double)got, fbits(got), want);
            /* The stand-alone helper must agree with the tensor path. */
            float single = mbits == 10 ? st_f16_to_f32((uint16_t)h) : st_bf16_to_f32((uint16_t)h);
            if (fbits(single) != fbits(got) && bad++ < 5)
                CHECK(0, "%s 0x%04X: helper gives 0x%08X, tensor path 0x%08X", dtype, h, fbits(single),
                      fbits(got));
        }
        CHECK(bad == 0, "%s: %d of 65536 patterns wrong", dtype, bad);
        printf("%s: all 65536 patterns exact (%d NaN patterns, %d subnormals)\n", dtype, nans, subn);
        free(out);
    }
    st_free(&f);
    free(b);
    free(data);
}

/* The test's own converters: nearest value, ties to even, checked on values. */
static void test_own_converters(void)
{
    CHECK(to_f16(1.0f) == 0x3C00, "to_f16(1)");
    CHECK(to_f16(-2.0f) == 0xC000, "to_f16(-2)");
    CHECK(to_f16(65504.0f) == 0x7BFF, "to_f16(max)");
    CHECK(to_f16(65519.0f) == 0x7BFF, "to_f16(65519) rounds down");
    CHECK(to_f16(65520.0f) == 0x7C00, "to_f16(65520) ties to even = inf");
    CHECK(to_f16(1.0f + 0x1p-11f) == 0x3C00, "to_f16 tie to even (down)");
    CHECK(to_f16(1.0f + 3 * 0x1p-11f) == 0x3C02, "to_f16 tie to even (up)");
    CHECK(to_f16(0x1p-24f) == 0x0001, "to_f16 smallest subnormal");
    CHECK(to_f16(0x1p-25f) == 0x0000, "to_f16 half the smallest subnormal ties to 0");
    CHECK(to_f16(0x1.8p-25f) == 0x0001, "to_f16 above half rounds up");
    CHECK(to_f16(0x1.ff8p-15f) == 0x03FF, "to_f16 largest subnormal");
    CHECK(to_f16(0x1.ffcp-15f) == 0x0400, "to_f16 subnormal tie rounding up into the normals");
    CHECK(to_bf16(1.0f) == 0x3F80, "to_bf16(1)");
    CHECK(to_bf16(bitsf(0x3F808000)) == 0x3F80, "to_bf16 tie to even (down)");
    CHECK(to_bf16(bitsf(0x3F818000)) == 0x3F82, "to_bf16 tie to even (up)");
    CHECK(to_bf16(FLT_MAX) == 0x7F80, "to_bf16(FLT_MAX) = inf");
    CHECK(to_bf16(bitsf(0x00000001)) == 0x0000, "to_bf16(min f32 subnormal) = 0");
    CHECK(to_bf16(bitsf(0x00010000)) == 0x0001, "to_bf16 bf16 subnormal");
    /* Random floats: the result must be a nearest representable value (checked against both
     * neighbours), which makes these converters a trustworthy source of test data. */
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float x = bitsf((uint32_t)rnd());
        if (isnan(x) || isinf(x))
            continue;
        for (int k = 0; k < 2; k++) {
            uint16_t h = k ? to_bf16(x) : to_f16(x);
            double (*ref)(uint16_t) = k ? ref_bf16 : ref_f16;
            double v = ref(h), err = fabs((double)x - v);
            uint16_t mag = h & 0x7FFF, s = h & 0x8000;
            uint16_t inf = k ? 0x7F80 : 0x7C00;
            int ok = 1;
            if (mag == inf) {
                double maxv = ref(inf - 1), ulp = maxv - ref(inf - 2);
                ok = fabs((double)x) >= maxv + ulp / 2;
            } else {
                if (mag > 0)
                    ok &= err <= fabs((double)x - ref((uint16_t)(s | (mag - 1))));
                if (mag + 1 < inf)
                    ok &= err <= fabs((double)x - ref((uint16_t)(s | (mag + 1))));
                /* On an exact tie the even mantissa wins. */
                if (mag > 0 && mag + 1 < inf && err == fabs((double)x - ref((uint16_t)(s | (mag + 1)))))
                    ok &= (h & 1) == 0;
                if (mag > 0 && err == fabs((double)x - ref((uint16_t)(s | (mag - 1)))))
                    ok &= (h & 1) == 0;
            }
            if (!ok && bad++ < 5)
                CHECK(0, "own %s converter: x=%.9g -> 0x%04X (%.9g)", k ? "bf16" : "f16", (double)x, h, v);
        }
    }
    CHECK(bad == 0, "own converters: %d results not nearest-even", bad);
}

/* A hand-built F16/BF16/F32 file with metadata, parsed back value by value. */
static void test_hand_built(void)
{
    enum { N16 = 15, NB = 8, N32 = 3, NS = 10 };
    float x16[N16], xb[NB], x32[N32];
    for (int i = 0; i < N16; i++)
        x16[i] = (float)((double)(int64_t)rnd() / 9.2e18 * 300.0);
    for (int i = 0; i < NB; i++)
        xb[i] = (float)((double)(int64_t)rnd() / 9.2e18 * 1e30);
    for (int i = 0; i < N32; i++)
        x32[i] = (float)((double)(int64_t)rnd() / 9.2e18);
    const float xs[NS] = {0.0f, -0.0f, 65504.0f, 65520.0f, 0x1p-24f, -0x1p-20f, 1e-9f, NAN, -INFINITY,
                          0x1.004p0f};
    uint8_t data[2 * N16 + 2 * NB + 4 * N32 + 2 * NS];
    uint16_t h16[N16], hb[NB], hs[NS];
    size_t o = 0;
    for (int i = 0; i < N16; i++) {
        h16[i] = to_f16(x16[i]);
        data[o++] = (uint8_t)h16[i];
        data[o++] = (uint8_t)(h16[i] >> 8);
    }
    for (int i = 0; i < NB; i++) {
        hb[i] = to_bf16(xb[i]);
        data[o++] = (uint8_t)hb[i];
        data[o++] = (uint8_t)(hb[i] >> 8);
    }
    for (int i = 0; i < N32; i++) {
        uint32_t u = fbits(x32[i]);
        for (int k = 0; k < 4; k++)
            data[o++] = (uint8_t)(u >> (8 * k));
    }
    for (int i = 0; i < NS; i++) {
        hs[i] = to_f16(xs[i]);
        data[o++] = (uint8_t)hs[i];
        data[o++] = (uint8_t)(hs[i] >> 8);
    }
    /* Header order differs from data order on purpose: the format allows it. */
    char hdr[1024];
    size_t a = 2 * N16, b = a + 2 * NB, c = b + 4 * N32, d = c + 2 * NS;
    snprintf(hdr, sizeof hdr,
             "{\"specials\":{\"dtype\":\"F16\",\"shape\":[10],\"data_offsets\":[%zu,%zu]},"
             "\"__metadata__\":{\"hiss.io\":\"fx\",\"note\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\"},"
             "\"layer.h16\":{\"dtype\":\"F16\",\"shape\":[3,5],\"data_offsets\":[0,%zu]},"
             "\"layer.bf16\":{\"shape\":[2,2,2],\"data_offsets\":[%zu,%zu],\"dtype\":\"BF16\"},"
             "\"f32\":{\"dtype\":\"F32\",\"data_offsets\":[%zu,%zu],\"shape\":[3]}}   ",
             c, d, a, a, b, b, c);
    size_t len;
    uint8_t *buf = mkfile_n(hdr, strlen(hdr), data, d, &len);
    st_file f;
    hiss_error err = {0};
    CHECK(st_parse(buf, len, NAME, &f, &err) == HISS_OK, "hand-built file refused: %s", err.msg);
    CHECK(f.n_tensors == 4 && f.n_meta == 2 && f.has_meta, "hand-built counts %d %d", f.n_tensors, f.n_meta);
    CHECK(f.data == buf + 8 + strlen(hdr) && f.data_len == d, "data span");
    CHECK(f.n_tensors == 4 && strcmp(f.tensors[0].name, "specials") == 0 &&
          strcmp(f.tensors[1].name, "layer.h16") == 0 && strcmp(f.tensors[3].name, "f32") == 0,
          "tensors keep header order");
    const char *note = st_meta(&f, "note");
    CHECK(note && strcmp(note, "caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\"") == 0, "metadata escapes decoded: %s",
          note ? note : "(null)");
    CHECK(st_meta(&f, "hiss.io") && strcmp(st_meta(&f, "hiss.io"), "fx") == 0, "metadata hiss.io");
    CHECK(st_meta(&f, "missing") == NULL && st_find(&f, "missing") == NULL, "absent lookups");

    const st_tensor *t = st_find(&f, "layer.h16");
    CHECK(t && t->dtype == ST_F16 && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 5 && t->numel == 15 &&
          t->begin == 0 && t->end == a, "layer.h16 record");
    float out[32];
    if (t) {
        st_to_f32(&f, t, out);
        for (int i = 0; i < N16; i++)
            CHECK((double)out[i] == ref_f16(h16[i]), "h16[%d]: %.9g vs %.17g (from %.9g)", i, (double)out[i],
                  ref_f16(h16[i]), (double)x16[i]);
    }
    t = st_find(&f, "layer.bf16");
    CHECK(t && t->dtype == ST_BF16 && t->ndim == 3 && t->numel == 8 && t->begin == a && t->end == b,
          "layer.bf16 record");
    if (t) {
        st_to_f32(&f, t, out);
        for (int i = 0; i < NB; i++)
            CHECK((double)out[i] == ref_bf16(hb[i]), "bf16[%d]: %.9g vs %.17g", i, (double)out[i],
                  ref_bf16(hb[i]));
    }
    t = st_find(&f, "f32");
    CHECK(t && t->dtype == ST_F32 && t->numel == 3, "f32 record");
    if (t) {
        st_to_f32(&f, t, out);
        for (int i = 0; i < N32; i++)
            CHECK(fbits(out[i]) == fbits(x32[i]), "f32[%d] bit-exact", i);
    }
    t = st_find(&f, "specials");
    CHECK(t && t->begin == c && t->end == d, "specials record");
    if (t) {
        st_to_f32(&f, t, out);
        CHECK(out[0] == 0 && !signbit(out[0]) && out[1] == 0 && signbit(out[1]), "signed zeros");
        CHECK(out[2] == 65504.0f, "f16 max");
        CHECK(isinf(out[3]) && out[3] > 0, "65520 rounds to +inf");
        CHECK(out[4] == 0x1p-24f, "smallest subnormal");
        CHECK(out[5] == -0x1p-20f, "negative subnormal");
        CHECK(out[6] == 0.0f, "1e-9 underflows to 0 in F16");
        CHECK(isnan(out[7]), "nan");
        CHECK(isinf(out[8]) && out[8] < 0, "-inf");
        CHECK(out[9] == 0x1.004p0f, "1 + 2^-8");
    }
    st_free(&f);
    CHECK(zeroed(&f), "st_free zeroes");
    st_free(&f); /* twice is harmless */
    free(buf);
}

static void test_writer(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    const float nanp = bitsf(0x7FC12345u);
    float a[6] = {-0.0f, INFINITY, -INFINITY, nanp, FLT_MIN / 8, FLT_MAX};
    float scalar = 3.25f;
    float c[8];
    for (int i = 0; i < 8; i++)
        c[i] = (float)((double)(int64_t)rnd() / 9.2e18 * 1e4);
    int64_t sa[2] = {2, 3}, se[2] = {0, 5}, sc[3] = {2, 2, 2};
    const char *odd_name = "w\xC3\xA9/\"q\"\\\n\x01";
    st_out_tensor ts[4] = {
        {"a", 2, sa, a}, {"scalar", 0, NULL, &scalar}, {"empty", 2, se, NULL}, {odd_name, 3, sc, c}};
    st_kv meta[4] = {{"hiss.io", "fx"},
                     {"desc", "line1\nline2 \"q\" \\ \t \xC3\xA9 \xF0\x9F\x98\x80"},
                     {"empty", ""},
                     {"ctl", "\x01\x1f\x7f"}};
    hiss_error err = {0};
    hiss_status st = st_write_f32(path, ts, 4, meta, 4, &err);
    CHECK(st == HISS_OK, "st_write_f32: %s", err.msg);
    CHECK(count_tmp_files(dir) == 0, "temporary file left behind");
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644, "new file mode %o", (unsigned)sb.st_mode & 0777);

    size_t len = 0;
    uint8_t *buf = read_all(path, &len);
    CHECK(buf != NULL, "cannot read back %s", path);
    if (!buf)
        return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    size_t data_bytes = 4 * (6 + 1 + 0 + 8);
    CHECK(hlen % 8 == 0, "header length %llu is not a multiple of 8", (unsigned long long)hlen);
    CHECK(len == 8 + hlen + data_bytes, "file length %zu, want %llu", len,
          (unsigned long long)(8 + hlen + data_bytes));
    CHECK(hlen > 16 && memcmp(buf + 8, "{\"__metadata__\":{", 17) == 0, "metadata first in the header");
    size_t last = 8 + hlen - 1;
    while (last > 8 && buf[last] == ' ')
        last--;
    CHECK(buf[last] == '}' && 8 + hlen - 1 - last < 8, "header padded with fewer than 8 spaces after '}'");
    /* Data: little-endian bytes of the inputs, in the order given. */
    const float *srcs[4] = {a, &scalar, NULL, c};
    size_t counts[4] = {6, 1, 0, 8}, off = 8 + hlen;
    int data_ok = 1;
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < counts[k]; i++, off += 4) {
            uint32_t u = fbits(srcs[k][i]);
            for (int j = 0; j < 4; j++)
                data_ok &= buf[off + j] == (uint8_t)(u >> (8 * j));
        }
    CHECK(data_ok, "data bytes are the little-endian inputs in order");

    st_file f;
    st = st_parse(buf, len, path, &f, &err);
    CHECK(st == HISS_OK, "written file refused: %s", err.msg);
    if (st == HISS_OK) {
        CHECK(f.n_tensors == 4 && f.n_meta == 4 && f.has_meta, "counts %d %d", f.n_tensors, f.n_meta);
        const char *names[4] = {"a", "scalar", "empty", odd_name};
        const int ndims[4] = {2, 0, 2, 3};
        const int64_t *shapes[4] = {sa, NULL, se, sc};
        uint64_t at = 0;
        for (int k = 0; k < 4 && k < f.n_tensors; k++) {
            const st_tensor *t = &f.tensors[k];
            CHECK(strcmp(t->name, names[k]) == 0, "tensor %d name", k);
            CHECK(t->dtype == ST_F32 && t->ndim == ndims[k] && t->numel == counts[k], "tensor %d record", k);
            for (int d = 0; d < ndims[k]; d++)
                CHECK(t->shape[d] == shapes[k][d], "tensor %d shape[%d]", k, d);
            CHECK(t->begin == at && t->end == at + 4 * counts[k], "tensor %d offsets", k);
            at = t->end;
            float out[8] = {0};
            st_to_f32(&f, t, out);
            for (size_t i = 0; i < counts[k]; i++)
                CHECK(fbits(out[i]) == fbits(srcs[k][i]), "tensor %d value %zu: 0x%08X vs 0x%08X", k, i,
                      fbits(out[i]), fbits(srcs[k][i]));
        }
        CHECK(st_find(&f, odd_name) == &f.tensors[3], "odd name found");
        for (int k = 0; k < 4; k++) {
            const char *v = st_meta(&f, meta[k].key);
            CHECK(v && strcmp(v, meta[k].value) == 0, "metadata %s round trip", meta[k].key);
        }
        st_free(&f);
    }
    free(buf);

    /* Replacing a file keeps its permissions. */
    chmod(path, 0640);
    CHECK(st_write_f32(path, ts, 1, NULL, 0, &err) == HISS_OK, "overwrite: %s", err.msg);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "replaced file mode %o",
          (unsigned)sb.st_mode & 0777);
    buf = read_all(path, &len);
    st = st_parse(buf, len, path, &f, &err);
    /* The header text exactly as the format spells it, padded to a multiple of 8. */
    const char *want_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
    size_t wl = strlen(want_hdr), padded = (wl + 7) / 8 * 8;
    int hdr_ok = len == 8 + padded + 24 && buf[0] == padded && memcmp(buf + 8, want_hdr, wl) == 0;
    for (size_t i = wl; hdr_ok && i < padded; i++)
        hdr_ok = buf[8 + i] == ' ';
    CHECK(hdr_ok, "header bytes of a one-tensor file");
    CHECK(st == HISS_OK && f.n_tensors == 1 && !f.has_meta, "overwritten file: %s, %zu bytes", err.msg, len);
    if (st == HISS_OK)
        st_free(&f);
    free(buf);

    /* Nothing at all: "{}" padded to 8. */
    CHECK(st_write_f32(path, NULL, 0, NULL, 0, &err) == HISS_OK, "empty file: %s", err.msg);
    buf = read_all(path, &len);
    CHECK(len == 16 && memcmp(buf, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0, "empty file bytes");
    st = st_parse(buf, len, path, &f, &err);
    CHECK(st == HISS_OK && f.n_tensors == 0 && !f.has_meta, "empty file parses: %s", err.msg);
    free(buf);

    /* I/O failures name the path and leave nothing behind. */
    const char *nodir = "/nonexistent-hiss-dir/x.safetensors";
    st = st_write_f32(nodir, ts, 1, NULL, 0, &err);
    CHECK(st == HISS_ERR_IO && strstr(err.msg, nodir), "missing directory: %d %s", (int)st, err.msg);
    printf("  io error: %s\n", err.msg);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/is_a_dir.safetensors", dir);
    mkdir(sub, 0755);
    st = st_write_f32(sub, ts, 4, meta, 4, &err);
    CHECK(st == HISS_ERR_IO && strstr(err.msg, sub) && strstr(err.msg, "rename"), "rename over a directory: %s",
          err.msg);
    printf("  io error: %s\n", err.msg);
    CHECK(count_tmp_files(dir) == 0, "temporary file left behind after a failed rename");
    CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode), "target untouched");
    rmdir(sub);

    /* Input the reader would refuse is refused before a file exists. */
    char bad_path[4200];
    snprintf(bad_path, sizeof bad_path, "%s/bad.safetensors", dir);
    int64_t neg[1] = {-1};
    st_out_tensor dup[2] = {{"x", 0, NULL, &scalar}, {"x", 0, NULL, &scalar}};
    st_out_tensor negt[1] = {{"n", 1, neg, &scalar}};
    st_out_tensor reserved[1] = {{"__metadata__", 0, NULL, &scalar}};
    st_out_tensor badutf[1] = {{"\xFF", 0, NULL, &scalar}};
    st_out_tensor nodata[1] = {{"nd", 2, sa, NULL}};
    st_kv dupm[2] = {{"k", "1"}, {"k", "2"}};
    struct {
        const st_out_tensor *t;
        int n;
        const st_kv *m;
        int nm;
        const char *needle;
    } cases[] = {{dup, 2, NULL, 0, "tensor name \"x\" appears twice"},
                 {negt, 1, NULL, 0, "tensor n: shape[0] is -1"},
                 {reserved, 1, NULL, 0, "__metadata__"},
                 {badutf, 1, NULL, 0, "UTF-8"},
                 {nodata, 1, NULL, 0, "tensor nd has no data"},
                 {ts, 1, dupm, 2, "metadata key \"k\" appears twice"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        st = st_write_f32(bad_path, cases[i].t, cases[i].n, cases[i].m, cases[i].nm, &err);
        CHECK(st == HISS_ERR_ARG && strstr(err.msg, bad_path) && strstr(err.msg, cases[i].needle),
              "writer case %zu: %d %s", i, (int)st, err.msg);
        CHECK(access(bad_path, F_OK) != 0, "writer case %zu created a file", i);
        printf("  writer refuses: %s\n", err.msg);
    }
    CHECK(count_tmp_files(dir) == 0, "temporary files left behind");
    unlink(path);
}

static void test_valid_edge_cases(void)
{
    st_file f;
    if (parse_ok(__LINE__, "{}", 0, &f)) {
        CHECK(f.n_tensors == 0 && !f.has_meta && f.data_len == 0, "{}");
        st_free(&f);
    }
    if (parse_ok(__LINE__, "{'__metadata__':{}}", 0, &f)) {
        CHECK(f.n_tensors == 0 && f.has_meta && f.n_meta == 0, "empty metadata");
        st_free(&f);
    }
    if (parse_ok(__LINE__, " \n\t{ 'w' : { 'shape' : [ 2 ] , 'dtype' : 'F32' ,\r\n 'data_offsets' : [ 0 , 8 ] } }"
                 "        ", 8, &f)) {
        CHECK(f.n_tensors == 1 && f.tensors[0].numel == 2 && f.data_len == 8, "whitespace everywhere");
        st_free(&f);
    }
    /* Scalars, empty tensors (also at the very end and with a dimension at the limit). */
    if (parse_ok(__LINE__, "{'s':{'dtype':'F32','shape':[],'data_offsets':[0,4]},"
                 "'z':{'dtype':'F16','shape':[0,3],'data_offsets':[4,4]},"
                 "'b':{'dtype':'BF16','shape':[3],'data_offsets':[4,10]},"
                 "'z2':{'dtype':'F32','shape':[0,268435456],'data_offsets':[10,10]}}", 10, &f)) {
        const st_tensor *s = st_find(&f, "s"), *z = st_find(&f, "z"), *z2 = st_find(&f, "z2");
        CHECK(s && s->ndim == 0 && s->numel == 1, "scalar");
        CHECK(z && z->ndim == 2 && z->numel == 0 && z->begin == 4 && z->end == 4, "empty tensor");
        CHECK(z2 && z2->numel == 0 && z2->shape[1] == 268435456, "empty tensor with a large dimension");
        st_free(&f);
    }
    /* Name escapes decode to UTF-8; "-0" is the integer 0. */
    if (parse_ok(__LINE__, "{'a\\u00e9\\ud83d\\ude00\\n\\/':{'dtype':'F32','shape':[1],'data_offsets':[-0,4]}}",
                 4, &f)) {
        CHECK(st_find(&f, "a\xC3\xA9\xF0\x9F\x98\x80\n/") != NULL, "escaped name decoded");
        st_free(&f);
    }
    /* Eight dimensions is the maximum. */
    if (parse_ok(__LINE__, "{'d8':{'dtype':'F32','shape':[1,2,1,2,1,2,1,2],'data_offsets':[0,64]}}", 64, &f)) {
        CHECK(f.tensors[0].ndim == 8 && f.tensors[0].numel == 16, "8 dimensions");
        st_free(&f);
    }
}

static void test_rejections(const char *dir)
{
    (void)dir;
    static const uint8_t zeros[8] = {0};
    for (size_t n = 0; n < 8; n++)
        expect_reject_buf(__LINE__, n ? zeros : NULL, n, "too short", NULL);
    /* Header length field. */
    {
        uint8_t b[16] = {0};
        expect_reject_buf(__LINE__, b, sizeof b, "header length is 0", NULL);
        uint64_t big = (uint64_t)HISS_MAX_HEADER + 1;
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(big >> (8 * i));
        expect_reject_buf(__LINE__, b, sizeof b, "header length 67108865", "limit");
        memset(b, 0xFF, 8);
        expect_reject_buf(__LINE__, b, sizeof b, "header length 18446744073709551615", "limit");
        memset(b, 0, 8);
        b[0] = 9;
        expect_reject_buf(__LINE__, b, sizeof b, "header length 9 runs past the end", NULL);
    }
#define W(x) "{'w':{'dtype':'F32','shape':[2],'data_offsets':" x "}}"
    /* JSON syntax. */
    REJ("{'w':}", 0, "not valid JSON", "expected a value");
    REJ("{'a':1,}", 0, "not valid JSON", "member name");
    REJ("{'a':[1,]}", 0, "not valid JSON", "expected a value");
    REJ("{'a':[1 2]}", 0, "expected ',' or ']'", NULL);
    REJ("{'w':{'dtype':'F32','shape':[2,[1,-]],'data_offsets':[0,8]}}", 8, "in w/shape[1][1]", NULL);
    REJ("{'a' 1}", 0, "expected ':'", NULL);
    REJ("{'a", 0, "unterminated string", NULL);
    REJ("{'a':'\\", 0, "unterminated string", NULL);
    REJ("{'a':tru}", 0, "invalid literal", NULL);
    REJ("{'a':NaN}", 0, "unexpected 'N'", NULL);
    REJ("{'a':Infinity}", 0, "unexpected 'I'", NULL);
    REJ("{'a':01}", 0, "leading zero", NULL);
    REJ("{'a':1.}", 0, "after '.'", NULL);
    REJ("{'a':.5}", 0, "unexpected '.'", NULL);
    REJ("{'a':1e}", 0, "exponent", NULL);
    REJ("{'a':+1}", 0, "unexpected '+'", NULL);
    REJ("{'a':-}", 0, "expected a digit", NULL);
    REJ("{'a':1e999}", 0, "out of range", NULL);
    REJ("{'a':'\\x'}", 0, "invalid escape \\x", NULL);
    REJ("{'a':'\\u12G4'}", 0, "invalid \\u escape", NULL);
    REJ("{'a':'\\ud800'}", 0, "high surrogate \\uD800 not followed", NULL);
    REJ("{'a':'\\ud800\\u0041'}", 0, "high surrogate", NULL);
    REJ("{'a':'\\udc00'}", 0, "lone low surrogate", NULL);
    REJ("{} x", 0, "after the end of the value", NULL);
    REJ("{}{}", 0, "after the end of the value", NULL);
    REJ("", 0, NULL, NULL); /* header length 0, through the same path */
    REJ_RAW("{'a':1}", 0, "member name", NULL);
    REJ_RAW("{\"a\x01\":1}", 0, "control character 0x01", NULL);
    REJ_RAW("{\"a\":\"tab\there\"}", 0, "control character 0x09", NULL);
    REJ_RAW("{\"\xC0\x80\":1}", 0, "invalid UTF-8", NULL);
    REJ_RAW("{\"\xED\xA0\x80\":1}", 0, "invalid UTF-8", NULL);
    REJ_RAW("{\"\xF4\x90\x80\x80\":1}", 0, "invalid UTF-8", NULL);
    REJ_RAW("{\"\xE2\x82\":1}", 0, "invalid UTF-8", NULL);
    REJ_RAW("{\"\xFF\":1}", 0, "invalid UTF-8", NULL);
    REJ_RAW("\xEF\xBB\xBF{}", 0, "not valid JSON", NULL);
    REJ_RAW("{}\0\0\0\0\0\0", 0, "byte 0x00", NULL);
    REJ_RAW("{\"a\":1\0}", 0, "byte 0x00", NULL);
    /* Nesting: 64 containers are JSON (the object then fails as a tensor), 65 are not. */
    for (int n = 63; n <= 64; n++) {
        char deep[300];
        size_t o = (size_t)sprintf(deep, "{'a':");
        for (int i = 0; i < n; i++)
            deep[o++] = '[';
        for (int i = 0; i < n; i++)
            deep[o++] = ']';
        strcpy(deep + o, "}");
        REJ(deep, 0, n == 63 ? "tensor a is an array" : "nesting deeper than 64", NULL);
    }
    /* The value budget: JSON_MAX_NODES values parse (the root and the array count too), one more
     * does not. */
    for (unsigned extra = 0; extra < 2; extra++) {
        unsigned n = JSON_MAX_NODES - 2 + extra;
        char *big = malloc(16 + 2 * (size_t)n);
        size_t o = (size_t)sprintf(big, "{'a':[");
        for (unsigned i = 0; i < n; i++) {
            big[o++] = '0';
            big[o++] = ',';
        }
        strcpy(big + o - 1, "]}");
        REJ(big, 0, extra ? "more than 1048576 values in a[1048574]" : "tensor a is an array", NULL);
        free(big);
    }
    /* Not an object. */
    REJ("[]", 0, "header is a JSON array, expected an object", NULL);
    REJ("'x'", 0, "header is a JSON string", NULL);
    REJ("12", 0, "header is a JSON number", NULL);
    REJ("null", 0, "header is a JSON null", NULL);
    /* Duplicate keys, at each level. */
    REJ("{'w':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'w':{'dtype':'F32','shape':[2],"
        "'data_offsets':[8,16]}}", 16, "header has a duplicate key \"w\" (at byte", NULL);
    REJ("{'w':{'dtype':'F32','dtype':'F16','shape':[2],'data_offsets':[0,8]}}", 8, "duplicate key \"dtype\" in w",
        NULL);
    REJ("{'__metadata__':{'k':'1','j':'2','k':'3'}}", 0, "duplicate key \"k\" in __metadata__", NULL);
    REJ("{'__metadata__':{},'__metadata__':{}}", 0, "duplicate key \"__metadata__\"", NULL);
    /* Tensor entries: fields missing, extra, of the wrong type. */
    REJ("{'w':{'shape':[2],'data_offsets':[0,8]}}", 8, "tensor w has no dtype", NULL);
    REJ("{'w':{'dtype':'F32','data_offsets':[0,8]}}", 8, "tensor w has no shape", NULL);
    REJ("{'w':{'dtype':'F32','shape':[2]}}", 8, "tensor w has no data_offsets", NULL);
    REJ("{'w':{'dtype':'F32','shape':[2],'data_offsets':[0,8],'foo':1}}", 8, "tensor w", "unknown field \"foo\"");
    REJ("{'w':[1]}", 0, "tensor w is an array", NULL);
    REJ("{'w':'F32'}", 0, "tensor w is a string", NULL);
    REJ("{'w':{'dtype':32,'shape':[2],'data_offsets':[0,8]}}", 8, "tensor w: dtype is 32", NULL);
    REJ("{'w':{'dtype':null,'shape':[2],'data_offsets':[0,8]}}", 8, "tensor w: dtype is null", NULL);
    REJ("{'w':{'dtype':'F32','shape':'2','data_offsets':[0,8]}}", 8, "tensor w: shape is a string", NULL);
    REJ("{'w':{'dtype':'F32','shape':{},'data_offsets':[0,8]}}", 8, "tensor w: shape is an object", NULL);
    REJ("{'w':{'dtype':'F32','shape':[2],'data_offsets':'0,8'}}", 8, "tensor w: data_offsets must be", NULL);
    /* dtypes. */
    REJ("{'x':{'dtype':'I64','shape':[1],'data_offsets':[0,8]}}", 8,
        "case.safetensors: tensor x has dtype I64; only F32, F16, BF16 are accepted", NULL);
    REJ("{'x':{'dtype':'F64','shape':[1],'data_offsets':[0,8]}}", 8, "tensor x has dtype F64", NULL);
    REJ("{'x':{'dtype':'f32','shape':[1],'data_offsets':[0,4]}}", 4, "tensor x has dtype f32", NULL);
    REJ("{'x':{'dtype':'F32\\u0000','shape':[1],'data_offsets':[0,4]}}", 4, "tensor x has dtype F32\\x00", NULL);
    /* Shapes. */
    REJ("{'w':{'dtype':'F32','shape':[-1],'data_offsets':[0,8]}}", 8, "tensor w: shape[0] is -1", NULL);
    REJ("{'w':{'dtype':'F32','shape':[2.0],'data_offsets':[0,8]}}", 8, "tensor w: shape[0] is 2.0", NULL);
    REJ("{'w':{'dtype':'F32','shape':[1,2e0],'data_offsets':[0,8]}}", 8, "tensor w: shape[1] is 2e0", NULL);
    REJ("{'w':{'dtype':'F32','shape':[true],'data_offsets':[0,8]}}", 8, "tensor w: shape[0] is true", NULL);
    REJ("{'w':{'dtype':'F32','shape':['2'],'data_offsets':[0,8]}}", 8, "tensor w: shape[0] is a string", NULL);
    REJ("{'w':{'dtype':'F32','shape':[[2]],'data_offsets':[0,8]}}", 8, "tensor w: shape[0] is an array", NULL);
    REJ("{'w':{'dtype':'F32','shape':[9223372036854775808],'data_offsets':[0,8]}}", 8,
        "tensor w: shape[0] is 9223372036854775808", NULL);
    REJ("{'w':{'dtype':'F32','shape':[268435457],'data_offsets':[0,8]}}", 8, "tensor w: shape[0] is 268435457",
        "limit");
    REJ("{'w':{'dtype':'F32','shape':[65536,65536],'data_offsets':[0,8]}}", 8, "tensor w has shape [65536,65536]",
        "limit");
    REJ("{'w':{'dtype':'F32','shape':[268435456,268435456,268435456],'data_offsets':[0,8]}}", 8,
        "tensor w has shape", "limit");
    REJ("{'w':{'dtype':'F32','shape':[1,1,1,1,1,1,1,1,1],'data_offsets':[0,4]}}", 4, "tensor w", "9 dimensions");
    /* data_offsets. */
    REJ(W("[0]"), 8, "tensor w: data_offsets must be an array of 2", NULL);
    REJ(W("[0,8,8]"), 8, "tensor w: data_offsets must be an array of 2", NULL);
    REJ(W("[-1,8]"), 8, "tensor w: data_offsets[0] is -1", NULL);
    REJ(W("[0.0,8]"), 8, "tensor w: data_offsets[0] is 0.0", NULL);
    REJ(W("[0,8e0]"), 8, "tensor w: data_offsets[1] is 8e0", NULL);
    REJ(W("[0,1e3]"), 8, "tensor w: data_offsets[1] is 1e3", NULL);
    REJ(W("['0',8]"), 8, "tensor w: data_offsets[0] is a string", NULL);
    REJ(W("[0,18446744073709551615]"), 8, "tensor w: data_offsets[1] is 18446744073709551615", NULL);
    REJ(W("[8,0]"), 8, "tensor w has data_offsets [8, 0]: begin is after end", NULL);
    REJ(W("[0,16]"), 8, "tensor w has data_offsets [0, 16], past the end of the data (8 bytes", NULL);
    REJ(W("[0,4]"), 8, "tensor w has data_offsets [0, 4] (4 bytes) but shape [2] of F32 needs 8 bytes", NULL);
    REJ("{'h':{'dtype':'F16','shape':[2],'data_offsets':[0,8]}}", 8, "tensor h", "of F16 needs 4 bytes");
    REJ("{'h':{'dtype':'BF16','shape':[3],'data_offsets':[0,4]}}", 4, "tensor h", "of BF16 needs 6 bytes");
    /* Coverage of the data. */
    REJ("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[2],"
        "'data_offsets':[4,12]}}", 12, "tensor b (data_offsets [4, 12]) overlaps tensor a", NULL);
    REJ("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[2],"
        "'data_offsets':[0,8]}}", 8, "overlaps", NULL);
    REJ("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'z':{'dtype':'F32','shape':[0],"
        "'data_offsets':[4,4]}}", 8, "tensor z (data_offsets [4, 4]) overlaps tensor a", NULL);
    REJ("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[2],"
        "'data_offsets':[12,20]}}", 20, "data bytes [8, 12) between tensor a and tensor b", NULL);
    REJ("{'a':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}", 12, "data bytes [0, 4) before tensor a", NULL);
    REJ("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 12, "4 trailing data bytes after tensor a",
        NULL);
    REJ("{}", 4, "names no tensor but 4 bytes", NULL);
    REJ("{'__metadata__':{'k':'v'}}", 1, "names no tensor but 1 bytes", NULL);
    /* Metadata. */
    REJ("{'__metadata__':'x'}", 0, "__metadata__ is a string", NULL);
    REJ("{'__metadata__':['a']}", 0, "__metadata__ is an array", NULL);
    REJ("{'__metadata__':{'k':1}}", 0, "__metadata__ entry \"k\" is a number", NULL);
    REJ("{'__metadata__':{'k':null}}", 0, "__metadata__ entry \"k\" is a null", NULL);
    REJ("{'__metadata__':{'k':{}}}", 0, "__metadata__ entry \"k\" is an object", NULL);
    REJ("{'__metadata__':{'k':'a\\u0000b'}}", 0, "__metadata__ entry \"k\"", "NUL");
    REJ("{'__metadata__':{'k\\u0000':'v'}}", 0, "__metadata__ key \"k\\x00\"", "NUL");
    /* Names. */
    REJ("{'a\\u0000b':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4, "tensor name \"a\\x00b\"", "NUL");
    {
        char long_hdr[700];
        char nm[401];
        memset(nm, 'n', 400);
        nm[400] = 0;
        snprintf(long_hdr, sizeof long_hdr, "{'%s':{'dtype':'I8','shape':[1],'data_offsets':[0,1]}}", nm);
        REJ(long_hdr, 1, "tensor nnnnnnnnnn", "...");
        REJ(long_hdr, 1, "has dtype I8", NULL);
    }
#undef W
    /* A very long file name keeps its tail, and the tensor still fits in the message. */
    {
        char longname[2000];
        memset(longname, 'p', sizeof longname - 20);
        strcpy(longname + sizeof longname - 20, "/end.safetensors");
        char *h = q("{'x':{'dtype':'I64','shape':[1],'data_offsets':[0,8]}}");
        size_t len;
        uint8_t *b = mkfile_n(h, strlen(h), NULL, 8, &len);
        st_file f;
        hiss_error err = {0};
        CHECK(st_parse(b, len, longname, &f, &err) == HISS_ERR_FORMAT && strstr(err.msg, "end.safetensors: ") &&
              strstr(err.msg, "tensor x has dtype I64"), "long file name: %s", err.msg);
        free(b);
        free(h);
    }
}

static void test_json(void)
{
    json_value v;
    json_error je;
    /* Numbers against strtod (the test runs in the C locale). */
    const char *nums[] = {"0", "-0", "1", "-1", "0.1", "0.5", "1e-300", "5e-324", "2.4703282292062328e-324",
                          "2.2250738585072014e-308", "2.2250738585072009e-308", "1.7976931348623157e308",
                          "123456789012345678901234567890", "3.141592653589793", "1E+2", "-12.5e-3",
                          "9007199254740993", "18446744073709551616", "1e22", "1e23", "4.9406564584124654e-324",
                          "0.000001", "100000000000000000000000e-20", "0.0000000000000000000000001e25"};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        json_status s = json_parse(nums[i], strlen(nums[i]), &v, &je);
        double want = strtod(nums[i], NULL);
        CHECK(s == JSON_OK && v.type == JSON_NUMBER && v.num == want && !!signbit(v.num) == !!signbit(want),
              "number %s: %.17g, strtod %.17g (%s)", nums[i], v.num, want, je.msg);
        json_free(&v);
    }
    /* Random doubles written with 17 digits: exact in all but rare near-halfway cases, never off
     * by more than one ulp. */
    int exact = 0, total = 20000, far = 0;
    for (int i = 0; i < total; i++) {
        double x;
        do {
            uint64_t u = rnd();
            memcpy(&x, &u, 8);
        } while (!isfinite(x));
        char s[40];
        snprintf(s, sizeof s, "%.17g", x);
        if (json_parse(s, strlen(s), &v, &je) != JSON_OK) {
            CHECK(0, "random number %s refused: %s", s, je.msg);
            continue;
        }
        double want = strtod(s, NULL);
        if (v.num == want)
            exact++;
        else if (!(nextafter(want, INFINITY) == v.num || nextafter(want, -INFINITY) == v.num) && far++ < 5)
            CHECK(0, "random number %s: %.17g vs strtod %.17g", s, v.num, want);
        json_free(&v);
    }
    printf("json: %d of %d random 17-digit doubles exact, the rest within one ulp\n", exact, total);
    CHECK(far == 0, "%d random numbers more than one ulp off", far);
    CHECK(exact >= total * 99 / 100, "only %d of %d exact", exact, total);

    struct {
        const char *s;
        int is_int;
        int64_t i;
    } ints[] = {{"9223372036854775807", 1, INT64_MAX}, {"-9223372036854775808", 1, INT64_MIN},
                {"9223372036854775808", 0, 0},        {"-9223372036854775809", 0, 0},
                {"1.0", 0, 0},                       {"1e3", 0, 0},
                {"0", 1, 0},                         {"-0", 1, 0},
                {"268435456", 1, 268435456}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        json_status s = json_parse(ints[i].s, strlen(ints[i].s), &v, &je);
        CHECK(s == JSON_OK && v.is_int == ints[i].is_int && (!v.is_int || v.i == ints[i].i), "integer %s",
              ints[i].s);
        json_free(&v);
    }

    const char *str = "[\"\\u00e9\\ud83d\\ude00\\u0000x\\/\\b\\f\\n\\r\\t\\\"\\\\\", \"\xE2\x82\xAC\"]";
    CHECK(json_parse(str, strlen(str), &v, &je) == JSON_OK, "strings: %s", je.msg);
    if (v.type == JSON_ARRAY && v.len == 2) {
        const char want[] = "\xC3\xA9\xF0\x9F\x98\x80\0x/\b\f\n\r\t\"\\";
        CHECK(v.items[0].len == sizeof want - 1 && memcmp(v.items[0].str, want, sizeof want - 1) == 0,
              "escapes decode (len %zu)", v.items[0].len);
        CHECK(strcmp(v.items[1].str, "\xE2\x82\xAC") == 0, "raw UTF-8 kept");
        CHECK(v.items[1].pos == strlen(str) - 6, "value position %zu", v.items[1].pos);
    }
    json_free(&v);

    const char *obj = "{\"a\":{\"b\":[true,false,null]},\"c\":\"d\"}";
    CHECK(json_parse(obj, strlen(obj), &v, &je) == JSON_OK, "object: %s", je.msg);
    const json_value *a = json_get(&v, "a"), *b = json_get(a, "b");
    CHECK(b && b->type == JSON_ARRAY && b->len == 3 && b->items[0].type == JSON_TRUE &&
          b->items[1].type == JSON_FALSE && b->items[2].type == JSON_NULL, "nested lookup");
    CHECK(json_get(&v, "zz") == NULL && json_get(b, "a") == NULL, "absent lookups");
    json_free(&v);

    const char *dup = "{\"x\":{\"p\":1,\"q\":2,\"p\":3}}";
    CHECK(json_parse(dup, strlen(dup), &v, &je) == JSON_ESYNTAX && strstr(je.msg, "duplicate key \"p\"") &&
          je.offset == 22 && je.duplicate && strcmp(je.path, "x") == 0, "nested duplicate: %s at %zu in %s",
          je.msg, je.offset, je.path);
    CHECK(v.type == JSON_NULL && v.items == NULL, "value zeroed after failure");

    /* The input is read only within len: a valid prefix followed by garbage is fine. */
    CHECK(json_parse("[1]xyz", 3, &v, &je) == JSON_OK && v.len == 1, "length respected");
    json_free(&v);
    CHECK(json_parse("\"abc", 4, &v, &je) == JSON_ESYNTAX, "no terminator within len");
    CHECK(json_parse(NULL, 0, &v, &je) == JSON_ESYNTAX, "empty input");

    char show[16];
    json_show(show, sizeof show, "abcdefghijklmnopqrstuvwxyz", 26);
    CHECK(strcmp(show, "abcdefghijkl...") == 0, "json_show cut: %s", show);
    json_show(show, sizeof show, "abcdefghijklmno", 15);
    CHECK(strcmp(show, "abcdefghijklmno") == 0, "json_show exact fit: %s", show);
    json_show(show, sizeof show, "a\nb\"\xFF", 5);
    CHECK(strcmp(show, "a\\x0Ab\\\"\\xFF") == 0, "json_show escapes: %s", show);
    json_show(show, 8, "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", 9);
    CHECK(strcmp(show, "\xE2\x82\xAC...") == 0, "json_show keeps UTF-8 whole: %s", show);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "/tmp";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/st-test-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "cannot create a scratch directory under %s\n", base);
        return 1;
    }
    test_half_exhaustive("F16", ref_f16, 10);
    test_half_exhaustive("BF16", ref_bf16, 7);
    test_own_converters();
    test_hand_built();
    test_valid_edge_cases();
    test_writer(dir);
    test_rejections(dir);
    test_json();
    rmdir(dir);
    printf("%d rejection cases; %d checks, %d failed\n", n_rejects, checks, failures);
    return failures ? 1 : 0;
}
