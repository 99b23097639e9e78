/* PNG (ISO/IEC 15948): signature, IHDR, one IDAT holding a zlib stream (RFC 1950), IEND. Each
 * row starts with filter type 0 (none). The deflate stream (RFC 1951) is one block with the fixed
 * Huffman codes, and its only matches are repeats at distance 1 (a run of one byte value), 3 (a
 * run of one colour) or one row up: a plot is mostly such runs, so this gives most of what a
 * full LZ77 search would, in a few lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png.h"

static void crc_init(uint32_t *t)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[n] = c;
    }
}

static uint32_t crc_update(const uint32_t *t, uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        crc = t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int chunk(FILE *f, const uint32_t *t, const char *type, const uint8_t *data, size_t n)
{
    uint8_t hdr[8];
    be32(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    uint32_t crc = crc_update(t, 0xFFFFFFFFu, hdr + 4, 4);
    crc = crc_update(t, crc, data, n) ^ 0xFFFFFFFFu;
    uint8_t tail[4];
    be32(tail, crc);
    return fwrite(hdr, 1, 8, f) == 8 && fwrite(data, 1, n, f) == n && fwrite(tail, 1, 4, f) == 4
               ? 0
               : -1;
}

/* Bits go out least significant first; Huffman codes are defined most significant first. */
typedef struct bits {
    uint8_t *p;
    size_t n;      /* bytes written */
    uint32_t acc;  /* pending bits */
    int have;
} bits;

static void put(bits *b, uint32_t v, int n)
{
    b->acc |= v << b->have;
    b->have += n;
    while (b->have >= 8) {
        b->p[b->n++] = (uint8_t)b->acc;
        b->acc >>= 8;
        b->have -= 8;
    }
}

static void put_code(bits *b, uint32_t code, int n)
{
    uint32_t r = 0;
    for (int i = 0; i < n; i++)
        r |= ((code >> i) & 1u) << (n - 1 - i);
    put(b, r, n);
}

static void put_symbol(bits *b, int v)
{
    if (v < 144)
        put_code(b, 0x30u + (uint32_t)v, 8);
    else if (v < 256)
        put_code(b, 0x190u + (uint32_t)(v - 144), 9);
    else if (v < 280)
        put_code(b, (uint32_t)(v - 256), 7);
    else
        put_code(b, 0xC0u + (uint32_t)(v - 280), 8);
}

static const int LEN_BASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const int LEN_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const int DIST_BASE[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                  33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                  1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const int DIST_EXTRA[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void put_match(bits *b, int len, int dist)
{
    int k = 28;
    while (LEN_BASE[k] > len)
        k--;
    put_symbol(b, 257 + k);
    put(b, (uint32_t)(len - LEN_BASE[k]), LEN_EXTRA[k]);
    int d = 29;
    while (DIST_BASE[d] > dist)
        d--;
    put_code(b, (uint32_t)d, 5);
    put(b, (uint32_t)(dist - DIST_BASE[d]), DIST_EXTRA[d]);
}

/* Deflate of raw into out (room for the worst case: 9 bits a byte, plus a little). */
static size_t deflate_runs(const uint8_t *raw, size_t n, size_t row, uint8_t *out)
{
    bits b = {out, 0, 0, 0};
    put(&b, 1, 1); /* final block */
    put(&b, 1, 2); /* fixed Huffman codes */
    const size_t dists[3] = {1, 3, row};
    for (size_t i = 0; i < n;) {
        size_t best = 0, best_d = 0;
        for (int k = 0; k < 3; k++) {
            const size_t d = dists[k];
            if (d > i || d > 32768)
                continue;
            size_t len = 0;
            while (len < 258 && i + len < n && raw[i + len] == raw[i + len - d])
                len++;
            if (len > best) {
                best = len;
                best_d = d;
            }
        }
        if (best >= 3) {
            put_match(&b, (int)best, (int)best_d);
            i += best;
        } else {
            put_symbol(&b, raw[i]);
            i++;
        }
    }
    put_symbol(&b, 256); /* end of block */
    if (b.have)
        put(&b, 0, 8 - b.have);
    return b.n;
}

int png_write_rgb(const char *path, const uint8_t *rgb, int w, int h)
{
    uint32_t crc_table[256];
    crc_init(crc_table);
    const size_t row = (size_t)w * 3 + 1, raw_len = row * (size_t)h;
    const size_t z_cap = 2 + raw_len + raw_len / 8 + 64 + 4;
    uint8_t *raw = malloc(raw_len), *z = malloc(z_cap);
    if (!raw || !z) {
        free(raw);
        free(z);
        return -1;
    }
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * row] = 0;
        memcpy(raw + (size_t)y * row + 1, rgb + (size_t)y * w * 3, (size_t)w * 3);
    }
    size_t o = 0;
    z[o++] = 0x78; /* deflate, 32K window */
    z[o++] = 0x01; /* check bits: 0x7801 % 31 == 0 */
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_len; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    o += deflate_runs(raw, raw_len, row, z + o);
    be32(z + o, (b << 16) | a);
    o += 4;
    uint8_t ihdr[13];
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* truecolour */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    FILE *f = fopen(path, "wb");
    int bad = !f;
    if (f) {
        bad = fwrite(sig, 1, 8, f) != 8 || chunk(f, crc_table, "IHDR", ihdr, 13) ||
              chunk(f, crc_table, "IDAT", z, o) || chunk(f, crc_table, "IEND", ihdr, 0);
        bad = fclose(f) != 0 || bad;
    }
    free(raw);
    free(z);
    return bad ? -1 : 0;
}
