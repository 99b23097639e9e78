/* The SPSC ring (spsc.h). Indices run freely and wrap through the power-of-two mask, so full and
 * empty are told apart without a spare slot. */
#include <stdlib.h>
#include <string.h>

#include "spsc.h"

int hiss_spsc_init(hiss_spsc *r, size_t elem, size_t min_cap)
{
    memset(r, 0, sizeof *r);
    if (!atomic_is_lock_free(&r->head))
        return -1;
    size_t cap = 1;
    while (cap < min_cap)
        cap <<= 1;
    r->buf = calloc(cap, elem);
    if (!r->buf)
        return -1;
    r->elem = elem;
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void hiss_spsc_free(hiss_spsc *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Copy n elements between the ring at index i (wrapping) and a flat buffer. */
static void copy(hiss_spsc *r, size_t i, void *flat, size_t n, int to_ring)
{
    const size_t at = i & (r->cap - 1);
    const size_t first = n < r->cap - at ? n : r->cap - at;
    unsigned char *ring = r->buf + at * r->elem, *f = flat;
    if (to_ring) {
        memcpy(ring, f, first * r->elem);
        memcpy(r->buf, f + first * r->elem, (n - first) * r->elem);
    } else {
        memcpy(f, ring, first * r->elem);
        memcpy(f + first * r->elem, r->buf, (n - first) * r->elem);
    }
}

size_t hiss_spsc_write(hiss_spsc *r, const void *src, size_t n)
{
    const size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    const size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    const size_t space = r->cap - (head - tail);
    if (n > space)
        n = space;
    if (n) {
        copy(r, head, (void *)src, n, 1);
        atomic_store_explicit(&r->head, head + n, memory_order_release);
    }
    return n;
}

size_t hiss_spsc_read(hiss_spsc *r, void *dst, size_t n)
{
    const size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    const size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    const size_t have = head - tail;
    if (n > have)
        n = have;
    if (n) {
        copy(r, tail, dst, n, 0);
        atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    }
    return n;
}

size_t hiss_spsc_available(hiss_spsc *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_acquire);
}
