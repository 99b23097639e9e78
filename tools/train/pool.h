/* The trainers' threads: one call runs a function once per worker, worker 0 on the calling
 * thread and the others on threads of their own, and returns when all are done. A thread that
 * cannot be started is not an error: its worker runs on the caller instead, so the work done,
 * and the trainers' bytes, are the same either way. */
#ifndef HISS_TRAIN_POOL_H
#define HISS_TRAIN_POOL_H

#include <pthread.h>
#include <stddef.h>

typedef struct ht_pool {
    int n; /* workers */
    pthread_t *th;
    int *started;
} ht_pool;

/* 0, or -1 when out of memory (then ht_pool_free is still safe). */
int ht_pool_init(ht_pool *p, int n);
void ht_pool_free(ht_pool *p);

/* fn(args + k * stride) for every worker k < p->n. Workers 1 .. n_threads-1 get threads (fewer
 * when there is less work than workers); the rest, and any whose thread did not start, run on
 * the caller after worker 0, in order. */
void ht_pool_run(ht_pool *p, int n_threads, void *(*fn)(void *), void *args, size_t stride);

#endif
