/* The recorder's writer thread (recorder.h). It polls the ring every few milliseconds rather than
 * being signalled, because signalling a condition variable from the audio thread would mean
 * taking its mutex. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "recorder.h"

#define CHUNK 4096

static void *writer(void *arg)
{
    hiss_recorder *r = arg;
    float buf[CHUNK];
    for (;;) {
        /* Read the flag before draining: samples pushed before stop was set are all in the ring
         * by the time the flag is seen, so this last pass gets them. */
        const int stopping = atomic_load(&r->stop);
        size_t got;
        while ((got = hiss_spsc_read(&r->ring, buf, CHUNK)) > 0) {
            if (!atomic_load(&r->failed) && sf_writef_float(r->w.sf, buf, (sf_count_t)got) != (sf_count_t)got) {
                snprintf(r->err, sizeof r->err, "%s: write failed: %s", r->w.path, sf_strerror(r->w.sf));
                atomic_store(&r->failed, 1);
            }
            r->written += got;
        }
        if (stopping)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int hiss_recorder_open(hiss_recorder *r, const char *path, int rate, double ring_seconds, char *msg, size_t n)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->stop, 0);
    atomic_init(&r->failed, 0);
    atomic_init(&r->dropped, 0);
    const int major = hiss_af_major_for_path(path);
    if (!major) {
        char ext[512];
        hiss_af_list_extensions(ext, sizeof ext);
        snprintf(msg, n, "%s: unknown file type (known extensions: %s)", path, ext);
        return -1;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.channels = 1;
    info.samplerate = rate;
    if (hiss_af_pick_format(major, 0, 0, 1, rate, &info.format, msg, n) != 0)
        return -1;
    if (hiss_spsc_init(&r->ring, sizeof(float), (size_t)(ring_seconds * rate) + CHUNK) != 0) {
        snprintf(msg, n, "%s: out of memory for the recording buffer", path);
        return -1;
    }
    if (hiss_af_writer_open(&r->w, path, &info, msg, n) != 0) {
        hiss_spsc_free(&r->ring);
        return -1;
    }
    if (pthread_create(&r->thread, NULL, writer, r) != 0) {
        snprintf(msg, n, "%s: cannot start the writer thread", path);
        hiss_af_writer_abort(&r->w);
        hiss_spsc_free(&r->ring);
        return -1;
    }
    r->running = 1;
    return 0;
}

void hiss_recorder_push(hiss_recorder *r, const float *x, size_t n)
{
    const size_t put = hiss_spsc_write(&r->ring, x, n);
    if (put < n)
        atomic_fetch_add_explicit(&r->dropped, n - put, memory_order_relaxed);
}

int hiss_recorder_close(hiss_recorder *r, char *msg, size_t n)
{
    if (!r->running)
        return 0;
    atomic_store(&r->stop, 1);
    pthread_join(r->thread, NULL);
    r->running = 0;
    hiss_spsc_free(&r->ring);
    if (atomic_load(&r->failed)) {
        snprintf(msg, n, "%s", r->err);
        hiss_af_writer_abort(&r->w);
        return -1;
    }
    return hiss_af_writer_commit(&r->w, msg, n);
}
