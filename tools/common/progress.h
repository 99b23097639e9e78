/* A one-line progress bar for long offline jobs: percent, elapsed time, ETA and the real-time
 * factor as everywhere in hiss (seconds of audio per second of processing: above 1 is faster
 * than real time). It draws on stderr
 * only when the caller enables it (a tool passes isatty(2)), and redraws at most ~10 times a
 * second so that a fast job does not spend its time printing. */
#ifndef HISS_PROGRESS_H
#define HISS_PROGRESS_H

#include <stdint.h>

typedef struct hiss_progress {
    int enabled;
    int drawn;          /* something is on the line and must be cleared */
    double t0;          /* start, seconds (monotonic) */
    double last;        /* last redraw */
    int64_t total;      /* frames; <= 0 when unknown */
    double sample_rate; /* to turn frames into audio seconds */
} hiss_progress;

/* Monotonic clock, seconds. */
double hiss_now(void);

void hiss_progress_start(hiss_progress *p, int64_t total_frames, double sample_rate, int enabled);
void hiss_progress_update(hiss_progress *p, int64_t done_frames);
/* Clear the bar's line so that the next message starts clean. */
void hiss_progress_end(hiss_progress *p);

/* "1:05" or "1:02:03". */
void hiss_format_duration(double seconds, char *buf, int n);

#endif
