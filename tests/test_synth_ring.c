/* The lock-free SPSC ring of hiss-host (tools/host/spsc.c): a producer thread writes a counting
 * sequence in chunks of varying size while a consumer thread reads in other sizes; every element
 * must arrive once, in order, and a full ring must refuse (not overwrite). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "spsc.h"

#define TOTAL 1000000u

static hiss_spsc ring;

static void *producer(void *arg)
{
    (void)arg;
    uint32_t next = 0, chunk[97];
    uint64_t x = 1;
    while (next < TOTAL) {
        x = x * 6364136223846793005ull + 1;
        size_t n = 1 + (size_t)(x >> 58);
        if (n > TOTAL - next)
            n = TOTAL - next;
        for (size_t i = 0; i < n; i++)
            chunk[i] = next + (uint32_t)i;
        next += (uint32_t)hiss_spsc_write(&ring, chunk, n);
    }
    return NULL;
}

int main(void)
{
    if (hiss_spsc_init(&ring, sizeof(uint32_t), 1000) != 0) {
        printf("FAIL: init\n");
        return 1;
    }
    int fail = 0;
    /* Single-threaded: capacity is the next power of two, a full ring refuses. */
    uint32_t v[2048];
    for (uint32_t i = 0; i < 2048; i++)
        v[i] = i;
    size_t put = hiss_spsc_write(&ring, v, 2048);
    size_t more = hiss_spsc_write(&ring, v, 1);
    size_t got = hiss_spsc_read(&ring, v, 2048);
    if (put != 1024 || more != 0 || got != 1024 || v[1023] != 1023 || hiss_spsc_available(&ring) != 0) {
        printf("FAIL: capacity: wrote %zu then %zu, read %zu\n", put, more, got);
        fail = 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, producer, NULL);
    uint32_t expect = 0, buf[64];
    uint64_t x = 7;
    long errors = 0;
    while (expect < TOTAL) {
        x = x * 6364136223846793005ull + 1;
        const size_t n = hiss_spsc_read(&ring, buf, 1 + (size_t)(x >> 59) * 2);
        for (size_t i = 0; i < n; i++)
            errors += buf[i] != expect++;
    }
    pthread_join(th, NULL);
    if (errors || hiss_spsc_available(&ring) != 0) {
        printf("FAIL: %ld elements out of order or corrupted\n", errors);
        fail = 1;
    }
    printf("%s ring: %u elements through a 1024-slot ring between two threads, %ld out of order\n",
           fail ? "FAIL" : "ok", TOTAL, errors);
    hiss_spsc_free(&ring);
    return fail;
}
