/* A single-producer single-consumer ring of fixed-size elements, lock-free (C11 atomics): the
 * only way data crosses between the audio thread and the others in hiss-host. The producer owns
 * `head`, the consumer `tail`; each publishes its index with release order and reads the other's
 * with acquire order, so an element is fully written before the consumer can see it. */
#ifndef HISS_SPSC_H
#define HISS_SPSC_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct hiss_spsc {
    unsigned char *buf;
    size_t elem;          /* bytes per element */
    size_t cap;           /* elements, a power of two */
    _Atomic size_t head;  /* elements ever written */
    _Atomic size_t tail;  /* elements ever read */
} hiss_spsc;

/* At least min_cap elements of elem bytes. 0, or -1 when out of memory (or atomics would lock). */
int hiss_spsc_init(hiss_spsc *r, size_t elem, size_t min_cap);
void hiss_spsc_free(hiss_spsc *r);
/* Write up to n elements; returns how many fitted. Producer only. */
size_t hiss_spsc_write(hiss_spsc *r, const void *src, size_t n);
/* Read up to n elements; returns how many there were. Consumer only. */
size_t hiss_spsc_read(hiss_spsc *r, void *dst, size_t n);
/* Elements waiting (exact for the consumer, a lower bound for anyone else). */
size_t hiss_spsc_available(hiss_spsc *r);

#endif
