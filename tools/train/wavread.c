/* RIFF/WAVE: "RIFF" size "WAVE", then chunks (id, little-endian size, data padded to even
 * length); "fmt " gives the format tag, channels, rate and bits, "data" the samples. A
 * WAVE_FORMAT_EXTENSIBLE header carries the real tag in its sub-format GUID. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wavread.h"

#define TAG_PCM 1
#define TAG_FLOAT 3
#define TAG_EXTENSIBLE 0xFFFE

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

int ht_wav_read(const char *path, float **x, size_t *n, int *rate, char *msg, size_t msz)
{
    *x = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msz, "%s: cannot open", path);
        return -1;
    }
    unsigned char h[12], ch[8], fmt[40];
    unsigned tag = 0, chans = 0, bits = 0;
    uint32_t sr = 0;
    int have_fmt = 0;
    if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVE", 4) != 0) {
        snprintf(msg, msz, "%s: not a RIFF/WAVE file", path);
        fclose(f);
        return -1;
    }
    for (;;) {
        if (fread(ch, 1, 8, f) != 8) {
            snprintf(msg, msz, "%s: no data chunk", path);
            fclose(f);
            return -1;
        }
        const uint32_t size = le32(ch + 4);
        if (memcmp(ch, "fmt ", 4) == 0) {
            const size_t take = size < sizeof fmt ? size : sizeof fmt;
            if (size < 16 || fread(fmt, 1, take, f) != take ||
                (size > take && fseek(f, (long)(size - take), SEEK_CUR) != 0)) {
                snprintf(msg, msz, "%s: bad fmt chunk", path);
                fclose(f);
                return -1;
            }
            tag = le16(fmt);
            chans = le16(fmt + 2);
            sr = le32(fmt + 4);
            bits = le16(fmt + 14);
            if (tag == TAG_EXTENSIBLE && take >= 26)
                tag = le16(fmt + 24);
            have_fmt = 1;
            if (size & 1)
                fseek(f, 1, SEEK_CUR);
        } else if (memcmp(ch, "data", 4) == 0) {
            break;
        } else if (fseek(f, (long)size + (long)(size & 1), SEEK_CUR) != 0) {
            snprintf(msg, msz, "%s: truncated", path);
            fclose(f);
            return -1;
        }
    }
    const uint32_t size = le32(ch + 4);
    const int ok_fmt = (tag == TAG_PCM && (bits == 16 || bits == 24 || bits == 32)) ||
                       (tag == TAG_FLOAT && bits == 32);
    if (!have_fmt || !ok_fmt || chans != 1 || sr == 0) {
        snprintf(msg, msz,
                 "%s: %u channel(s), format tag %u, %u bits: expected one channel of 16/24/32-bit "
                 "PCM or 32-bit float",
                 path, chans, tag, bits);
        fclose(f);
        return -1;
    }
    const size_t width = bits / 8, frames = size / width;
    unsigned char *raw = malloc(frames * width + 1);
    float *out = malloc((frames ? frames : 1) * sizeof *out);
    if (!raw || !out || fread(raw, width, frames, f) != frames) {
        snprintf(msg, msz, "%s: %s", path, raw && out ? "truncated data chunk" : "out of memory");
        free(raw);
        free(out);
        fclose(f);
        return -1;
    }
    fclose(f);
    for (size_t i = 0; i < frames; i++) {
        const unsigned char *p = raw + i * width;
        if (tag == TAG_FLOAT) {
            const uint32_t u = le32(p);
            memcpy(&out[i], &u, 4);
        } else if (bits == 16) {
            out[i] = (float)(int16_t)le16(p) / 32768.0f;
        } else if (bits == 24) {
            const int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 |
                                        (uint32_t)p[2] << 24) / 256;
            out[i] = (float)v / 8388608.0f;
        } else {
            out[i] = (float)((double)(int32_t)le32(p) / 2147483648.0);
        }
    }
    free(raw);
    *x = out;
    *n = frames;
    *rate = (int)sr;
    return 0;
}
