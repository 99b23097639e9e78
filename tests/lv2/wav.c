#include "wav.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

long tw_read(const char *path, int *nch, double *rate, float **samples)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)size);
    if (!d || fread(d, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(d);
        return -1;
    }
    fclose(f);
    long frames = -1;
    int fmt = 0, bits = 0;
    *nch = 0;
    if (size < 12 || memcmp(d, "RIFF", 4) || memcmp(d + 8, "WAVE", 4))
        goto done;
    for (long i = 12; i + 8 <= size;) {
        uint32_t n = u32(d + i + 4);
        if (!memcmp(d + i, "fmt ", 4) && n >= 16) {
            fmt = d[i + 8] | d[i + 9] << 8;
            if (fmt == 0xFFFE && n >= 40) /* WAVE_FORMAT_EXTENSIBLE: the subformat's first bytes */
                fmt = d[i + 32] | d[i + 33] << 8;
            *nch = d[i + 10] | d[i + 11] << 8;
            *rate = u32(d + i + 12);
            bits = d[i + 22] | d[i + 23] << 8;
        } else if (!memcmp(d + i, "data", 4) && fmt == 3 && bits == 32 && *nch > 0) {
            long avail = size - (i + 8) < (long)n ? size - (i + 8) : (long)n;
            frames = avail / (4L * *nch);
            *samples = malloc((size_t)frames * (size_t)*nch * sizeof(float));
            memcpy(*samples, d + i + 8, (size_t)frames * (size_t)*nch * sizeof(float));
            break;
        }
        i += 8 + (long)n + (long)(n & 1);
    }
done:
    free(d);
    return frames;
}

long tw_read_stereo(const char *path, double *rate, float **ch1, float **ch2)
{
    int nch = 0;
    float *s = NULL;
    long n = tw_read(path, &nch, rate, &s);
    if (n <= 0 || nch != 2) {
        fprintf(stderr, "FAIL: %s is not a two-channel 32-bit float WAV\n", path);
        free(s);
        return -1;
    }
    *ch1 = malloc((size_t)n * sizeof(float));
    *ch2 = malloc((size_t)n * sizeof(float));
    for (long t = 0; t < n; t++) {
        (*ch1)[t] = s[2 * t];
        (*ch2)[t] = s[2 * t + 1];
    }
    free(s);
    return n;
}

static void put32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fwrite(b, 1, 4, f);
}

static void put16(FILE *f, unsigned v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    fwrite(b, 1, 2, f);
}

int tw_write(const char *path, int nch, double rate, const float *samples, long frames)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint32_t data = (uint32_t)(frames * nch * 4);
    fwrite("RIFF", 1, 4, f);
    put32(f, 36 + data);
    fwrite("WAVEfmt ", 1, 8, f);
    put32(f, 16);
    put16(f, 3); /* IEEE float */
    put16(f, (unsigned)nch);
    put32(f, (uint32_t)rate);
    put32(f, (uint32_t)rate * 4u * (uint32_t)nch);
    put16(f, 4u * (unsigned)nch);
    put16(f, 32);
    fwrite("data", 1, 4, f);
    put32(f, data);
    fwrite(samples, sizeof(float), (size_t)frames * (size_t)nch, f); /* little-endian hosts */
    return fclose(f) == 0 ? 0 : -1;
}
