/* hiss_resampler_process and hiss_resampler_reset must not allocate once the wrapper is created
 * (libsoxr grows its FIFOs with realloc while it finds their working size; create() is meant to
 * have done that). Measured, not assumed: this program replaces malloc, calloc, realloc,
 * posix_memalign and aligned_alloc for the whole process (libsoxr and libhiss included) with
 * counting versions that forward to glibc, and counts calls during 400k frames of random block
 * sizes at several rate pairs, with resets in between.
 *
 * glibc only, and not under AddressSanitizer (which owns malloc): skipped there, saying so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"
#include "resampler.h"

#if defined(__SANITIZE_ADDRESS__)
#define HISS_NOALLOC_SKIP "built with AddressSanitizer, which replaces malloc"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HISS_NOALLOC_SKIP "built with AddressSanitizer, which replaces malloc"
#endif
#endif
#if !defined(HISS_NOALLOC_SKIP) && !defined(__GLIBC__)
#define HISS_NOALLOC_SKIP "not glibc: no __libc_malloc to forward to"
#endif

#ifndef HISS_NOALLOC_SKIP
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile int counting;
static volatile long n_alloc;

void *malloc(size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (counting)
        n_alloc++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_realloc(p, n);
}

int posix_memalign(void **p, size_t align, size_t n)
{
    if (counting)
        n_alloc++;
    *p = __libc_memalign(align, n);
    return *p ? 0 : 12 /* ENOMEM */;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_memalign(align, n);
}

static int run_case(double host, double model_rate, int channels, int max_block,
                    hiss_resample_quality q)
{
    hiss_config c;
    memset(&c, 0, sizeof c);
    c.io = HISS_IO_FX;
    c.d_model = 8;
    c.n_layer = 1;
    c.d_inner = 16;
    c.d_state = 4;
    c.d_conv = 4;
    c.dt_rank = 1;
    c.sample_rate = model_rate;
    hiss_model *m = NULL;
    hiss_error err = {0};
    if (hiss_model_init(&c, 1, &m, &err) != HISS_OK) {
        printf("FAIL init: %s\n", err.msg);
        return 1;
    }
    hiss_resampler_opts o = hiss_resampler_opts_default();
    o.quality = q;
    o.backend = HISS_BACKEND_CPU;
    hiss_resampler *r = NULL;
    if (hiss_resampler_create(m, host, channels, max_block, &o, &r, &err) != HISS_OK) {
        printf("FAIL create: %s\n", err.msg);
        return 1;
    }
    float *buf[4];
    for (int k = 0; k < channels; k++)
        buf[k] = calloc((size_t)max_block, sizeof(float));
    unsigned s = 42;
    long total = 0, resets = 0;
    n_alloc = 0;
    counting = 1;
    for (long done = 0; done < 400000;) {
        s = s * 1664525u + 1013904223u;
        int n = (int)((s >> 8) % (unsigned)max_block) + 1;
        if ((s >> 4) % 7 == 0)
            n = max_block;
        for (int k = 0; k < channels; k++)
            for (int i = 0; i < n; i++)
                buf[k][i] = (float)((int)((s >> (i % 16)) % 2001u) - 1000) * 5e-4f;
        hiss_resampler_process(r, (const float *const *)buf, buf, n);
        done += n;
        total += n;
        if (done > 100000 * (resets + 1)) {
            hiss_resampler_reset(r);
            resets++;
        }
    }
    counting = 0;
    printf("%g -> %g Hz, %d ch, blocks up to %d, %s: %ld frames, %ld resets, %ld allocations, "
           "%llu underruns\n",
           host, model_rate, channels, max_block, q == HISS_RESAMPLE_VHQ ? "VHQ" : "HQ", total,
           resets, n_alloc, (unsigned long long)hiss_resampler_underruns(r));
    int bad = n_alloc != 0 || hiss_resampler_underruns(r) != 0;
    for (int k = 0; k < channels; k++)
        free(buf[k]);
    hiss_resampler_free(r);
    hiss_model_free(m);
    return bad;
}

int main(void)
{
    int bad = 0;
    bad |= run_case(44100.0, 48000.0, 1, 512, HISS_RESAMPLE_HQ);
    bad |= run_case(48000.0, 44100.0, 2, 64, HISS_RESAMPLE_HQ);
    bad |= run_case(44100.0, 48000.0, 2, 4096, HISS_RESAMPLE_VHQ);
    bad |= run_case(96000.0, 48000.0, 1, 1, HISS_RESAMPLE_HQ);
    bad |= run_case(22050.0, 48000.0, 1, 333, HISS_RESAMPLE_VHQ);
    if (bad) {
        printf("FAIL: the resampler allocated (or underran) after creation\n");
        return 1;
    }
    printf("no allocation in process/reset after creation\n");
    return 0;
}
#else
int main(void)
{
    printf("SKIP: %s\n", HISS_NOALLOC_SKIP);
    return 77;
}
#endif
