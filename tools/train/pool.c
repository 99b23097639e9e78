#include <stdlib.h>

#include "pool.h"

int ht_pool_init(ht_pool *p, int n)
{
    p->n = n;
    p->th = calloc((size_t)n, sizeof *p->th);
    p->started = calloc((size_t)n, sizeof *p->started);
    return p->th && p->started ? 0 : -1;
}

void ht_pool_free(ht_pool *p)
{
    free(p->th);
    free(p->started);
    p->th = NULL;
    p->started = NULL;
}

void ht_pool_run(ht_pool *p, int n_threads, void *(*fn)(void *), void *args, size_t stride)
{
    char *a = args;
    for (int k = 1; k < p->n; k++)
        p->started[k] =
            k < n_threads && pthread_create(&p->th[k], NULL, fn, a + (size_t)k * stride) == 0;
    fn(a);
    for (int k = 1; k < p->n; k++) {
        if (p->started[k])
            pthread_join(p->th[k], NULL);
        else
            fn(a + (size_t)k * stride);
    }
}
