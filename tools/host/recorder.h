/* --record: the audio thread hands its output to a lock-free ring; a writer thread of its own
 * drains the ring into the file (libsndfile), so disk latency never reaches the callback. The
 * file is written under a temporary name and renamed into place when recording stops. */
#ifndef HISS_HOST_RECORDER_H
#define HISS_HOST_RECORDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "audiofile.h"
#include "spsc.h"

typedef struct hiss_recorder {
    hiss_spsc ring;                 /* float samples, mono */
    hiss_af_writer w;
    pthread_t thread;
    int running;
    atomic_int stop;
    atomic_int failed;
    _Atomic uint64_t dropped;       /* samples the ring had no room for (audio thread) */
    uint64_t written;               /* samples in the file (writer thread, read after join) */
    char err[512];
} hiss_recorder;

/* Create path (format from its extension, float where the container allows it), a ring of
 * ring_seconds at rate, and start the writer. 0, or -1 with msg. */
int hiss_recorder_open(hiss_recorder *r, const char *path, int rate, double ring_seconds, char *msg, size_t n);
/* Audio thread: queue n samples; what does not fit is counted as dropped, never waited for. */
void hiss_recorder_push(hiss_recorder *r, const float *x, size_t n);
/* Stop the writer once the ring is drained, finish and rename the file. 0, or -1 with msg. */
int hiss_recorder_close(hiss_recorder *r, char *msg, size_t n);

#endif
