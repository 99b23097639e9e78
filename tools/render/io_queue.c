#include "io_queue.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct task {
    void (*fn)(void *);
    void *arg;
    int *done;
    struct task *next;
} task;

struct io_queue {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a task was queued, or the queue is closing */
    pthread_cond_t done; /* a task finished */
    task *head, *tail;
    int closing;
    int n;
    pthread_t th[64];
};

static void *worker(void *p)
{
    io_queue *q = p;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->closing)
            pthread_cond_wait(&q->work, &q->mu);
        task *t = q->head;
        if (!t)
            break; /* closing and nothing left */
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        t->fn(t->arg);
        pthread_mutex_lock(&q->mu);
        *t->done = 1;
        free(t);
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

io_queue *io_queue_create(int threads)
{
    io_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    const int want = threads < 0 ? 0 : threads > 64 ? 64 : threads;
    for (int i = 0; i < want; i++)
        if (pthread_create(&q->th[q->n], NULL, worker, q) == 0)
            q->n++;
    return q;
}

int io_queue_push(io_queue *q, void (*fn)(void *), void *arg, int *done)
{
    if (q->n == 0) {
        fn(arg);
        *done = 1;
        return 0;
    }
    task *t = malloc(sizeof *t);
    if (!t)
        return -1;
    t->fn = fn;
    t->arg = arg;
    t->done = done;
    t->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void io_queue_wait(io_queue *q, const int *done)
{
    pthread_mutex_lock(&q->mu);
    while (!*done)
        pthread_cond_wait(&q->done, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

void io_queue_free(io_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->closing = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n; i++)
        pthread_join(q->th[i], NULL);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
