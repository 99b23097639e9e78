/* Worker threads that run queued tasks in the order they were queued, so that hiss-render can
 * read the next files and write the last ones while a batch renders. A task marks its own done
 * flag through the queue, and the caller waits for the flags it needs. */
#ifndef HISS_RENDER_IO_QUEUE_H
#define HISS_RENDER_IO_QUEUE_H

typedef struct io_queue io_queue;

/* Up to `threads` workers (fewer when some cannot be started; with none, io_queue_push runs the
 * task itself). NULL when out of memory. */
io_queue *io_queue_create(int threads);
/* Queue fn(arg); *done becomes 1 once it has returned. 0, or -1 when out of memory (then fn has
 * not run and *done stays 0). */
int io_queue_push(io_queue *q, void (*fn)(void *), void *arg, int *done);
/* Block until *done (set by the task io_queue_push was given it with). */
void io_queue_wait(io_queue *q, const int *done);
/* Run what is queued, then stop the workers and free q. */
void io_queue_free(io_queue *q);

#endif
