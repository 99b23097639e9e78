#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <time.h>

double hiss_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void hiss_format_duration(double seconds, char *buf, int n)
{
    if (!(seconds >= 0.0) || seconds > 1e7) {
        snprintf(buf, (size_t)n, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, (size_t)n, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        snprintf(buf, (size_t)n, "%ld:%02ld", s / 60, s % 60);
}

void hiss_progress_start(hiss_progress *p, int64_t total_frames, double sample_rate, int enabled)
{
    p->enabled = enabled;
    p->drawn = 0;
    p->t0 = hiss_now();
    p->last = -1.0;
    p->total = total_frames;
    p->sample_rate = sample_rate > 0.0 ? sample_rate : 1.0;
}

void hiss_progress_update(hiss_progress *p, int64_t done)
{
    if (!p->enabled)
        return;
    double now = hiss_now();
    if (p->last >= 0.0 && now - p->last < 0.1)
        return;
    p->last = now;
    double elapsed = now - p->t0;
    double audio = (double)done / p->sample_rate;
    char el[32], eta[32], rtf[32];
    hiss_format_duration(elapsed, el, sizeof el);
    if (audio > 0.0)
        snprintf(rtf, sizeof rtf, "%.1fx", audio / elapsed);
    else
        snprintf(rtf, sizeof rtf, "-");
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    if (p->total > 0) {
        double frac = (double)done / (double)p->total;
        if (frac > 1.0)
            frac = 1.0;
        int fill = (int)(frac * WIDTH);
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[WIDTH] = '\0';
        double left = done > 0 ? elapsed * (double)(p->total - done) / (double)done : -1.0;
        hiss_format_duration(left, eta, sizeof eta);
        fprintf(stderr, "\r[%s] %5.1f%%  elapsed %s  ETA %s  RTF %s ", bar, 100.0 * frac, el, eta,
                rtf);
    } else {
        fprintf(stderr, "\r%.1f s of audio  elapsed %s  RTF %s ", audio, el, rtf);
    }
    fflush(stderr);
    p->drawn = 1;
}

void hiss_progress_end(hiss_progress *p)
{
    if (p->enabled && p->drawn) {
        /* ANSI "erase line": the bar is only drawn on a terminal. */
        fprintf(stderr, "\r\033[2K");
        fflush(stderr);
    }
    p->drawn = 0;
}
