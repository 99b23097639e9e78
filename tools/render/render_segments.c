/* One file on the whole-file path (--backend cuda, or --whole), a segment at a time: the reader
 * thread reads segment k+1 while the main thread renders segment k, each channel through its own
 * hiss_offline renderer (which carries the state from one segment to the next), and the writer
 * thread writes segment k-1. Reading and writing a long file took about twice as long as the GPU's
 * render of it; now they overlap it, and memory is three segments rather than the whole file.
 * The numbers are those of reading the file whole (render_whole.c: the same per-frame arithmetic)
 * and rendering each channel in one hiss_render_offline call: to the bit on the CPU, and on CUDA
 * too for a mono file, since segments of the CUDA render's own length (the default) run its very
 * passes. Three slots go round: the one being read, the one being rendered, the one being
 * written. Each queue has one thread, so reads, and writes, happen in order, one at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_queue.h"
#include "render.h"

enum { IO_FRAMES = 1 << 16, SLOTS = 3 };

typedef struct seg_run seg_run;

typedef struct slot {
    seg_run *run;
    float **dry, **wet; /* [ch][seg] */
    /* set by the reader */
    size_t frames;
    int eof, read_failed, read_stopped;
    uint64_t nonfinite, clamped;
    char read_msg[1024];
    /* set by the writer */
    int write_failed, write_stopped;
    char write_msg[1024];
    /* set through the queues; 1 while the slot is free */
    int read_done, write_done;
} slot;

struct seg_run {
    SNDFILE *in, *out;
    const render_opts *o;
    const volatile sig_atomic_t *stop;
    int in_ch, ch;
    size_t seg;
    float *rio; /* the reader's interleaved frames */
    float *wio; /* the writer's */
    int write_off; /* the writer's own: a write failed or stopped, so the rest is not written */
    slot s[SLOTS];
};

static void read_task(void *p)
{
    slot *s = p;
    seg_run *r = s->run;
    /* as on the main thread of the old whole-file path: denormals are zero */
    hiss_fpguard g = hiss_fp_enter();
    s->frames = 0;
    s->nonfinite = s->clamped = 0;
    while (s->frames < r->seg) {
        if (*r->stop) {
            s->read_stopped = 1;
            break;
        }
        const size_t want = r->seg - s->frames < IO_FRAMES ? r->seg - s->frames : IO_FRAMES;
        const sf_count_t got = sf_readf_float(r->in, r->rio, (sf_count_t)want);
        if (got < 0 || sf_error(r->in) != SF_ERR_NO_ERROR) {
            snprintf(s->read_msg, sizeof s->read_msg, "%s: read error: %s", r->o->in_path, sf_strerror(r->in));
            s->read_failed = 1;
            break;
        }
        if (got == 0) {
            s->eof = 1;
            break;
        }
        s->nonfinite += whole_split(r->rio, (size_t)got, r->in_ch, r->o->mono, s->dry, s->frames);
        s->frames += (size_t)got;
    }
    if (!s->read_failed && !s->read_stopped)
        for (int c = 0; c < r->ch; c++)
            s->clamped += whole_gain_in(r->o, s->dry[c], s->wet[c], s->frames);
    hiss_fp_leave(g);
}

static void write_task(void *p)
{
    slot *s = p;
    seg_run *r = s->run;
    if (r->write_off)
        return;
    hiss_fpguard g = hiss_fp_enter();
    for (size_t t0 = 0; t0 < s->frames; t0 += IO_FRAMES) {
        const size_t len = s->frames - t0 < IO_FRAMES ? s->frames - t0 : IO_FRAMES;
        whole_mix(r->o, r->wio, len, r->ch, (const float *const *)s->dry, (const float *const *)s->wet, t0);
        if (sf_writef_float(r->out, r->wio, (sf_count_t)len) != (sf_count_t)len) {
            snprintf(s->write_msg, sizeof s->write_msg, "%s: write error: %s", r->o->out_path, sf_strerror(r->out));
            s->write_failed = 1;
            r->write_off = 1;
            break;
        }
        if (*r->stop) {
            s->write_stopped = 1;
            r->write_off = 1;
            break;
        }
    }
    hiss_fp_leave(g);
}

static void free_slots(seg_run *r)
{
    for (int k = 0; k < SLOTS; k++) {
        for (int c = 0; c < r->ch; c++) {
            if (r->s[k].dry)
                free(r->s[k].dry[c]);
            if (r->s[k].wet)
                free(r->s[k].wet[c]);
        }
        free(r->s[k].dry);
        free(r->s[k].wet);
    }
    free(r->rio);
    free(r->wio);
}

static int alloc_slots(seg_run *r)
{
    r->rio = malloc(IO_FRAMES * (size_t)r->in_ch * sizeof(float));
    r->wio = malloc(IO_FRAMES * (size_t)r->ch * sizeof(float));
    int ok = r->rio && r->wio;
    for (int k = 0; k < SLOTS; k++) {
        slot *s = &r->s[k];
        s->run = r;
        s->read_done = s->write_done = 1;
        s->dry = calloc((size_t)r->ch, sizeof *s->dry);
        s->wet = calloc((size_t)r->ch, sizeof *s->wet);
        ok = ok && s->dry && s->wet;
        for (int c = 0; ok && c < r->ch; c++) {
            s->dry[c] = malloc(r->seg * sizeof(float));
            s->wet[c] = malloc(r->seg * sizeof(float));
            ok = s->dry[c] && s->wet[c];
        }
    }
    return ok ? 0 : -1;
}

static int push(io_queue *q, void (*fn)(void *), slot *s, int *done, char *msg, size_t n)
{
    *done = 0;
    if (io_queue_push(q, fn, s, done) == 0)
        return 0;
    *done = 1;
    snprintf(msg, n, "%s: out of memory", s->run->o->in_path);
    return -1;
}

int render_fx_segments(SNDFILE *in, const SF_INFO *info, const hiss_model *m, const float *cond,
                       const render_opts *o, int ch, hiss_backend backend, SNDFILE *out,
                       const volatile sig_atomic_t *stop, int *stopped, whole_stats *st, char *msg, size_t n)
{
    *stopped = 0;
    memset(st, 0, sizeof *st);
    seg_run r;
    memset(&r, 0, sizeof r);
    r.in = in;
    r.out = out;
    r.o = o;
    r.stop = stop;
    r.in_ch = info->channels;
    r.ch = ch;
    r.seg = (size_t)o->segment_frames;
    /* a file known to be shorter needs no more */
    if (info->frames > 0 && (uint64_t)info->frames < (uint64_t)r.seg)
        r.seg = (size_t)info->frames;
    hiss_offline **rd = calloc((size_t)ch, sizeof *rd);
    io_queue *rq = NULL, *wq = NULL;
    int rc = 0;
    if (!rd || alloc_slots(&r) != 0) {
        snprintf(msg, n, "%s: out of memory for segments of %zu frames x %d channels; give a smaller --segment-frames",
                 o->in_path, r.seg, ch);
        rc = -1;
        goto done;
    }
    for (int c = 0; c < ch; c++) {
        hiss_error err = {0};
        if (hiss_offline_create(m, backend, cond, &rd[c], &err) != HISS_OK) {
            snprintf(msg, n, "%s: %s backend: %s", o->model_path, hiss_backend_name(backend), err.msg);
            rc = -1;
            goto done;
        }
    }
    rq = io_queue_create(1);
    wq = io_queue_create(1);
    if (!rq || !wq) {
        snprintf(msg, n, "%s: out of memory", o->in_path);
        rc = -1;
        goto done;
    }
    if (push(rq, read_task, &r.s[0], &r.s[0].read_done, msg, n) != 0) {
        rc = -1;
        goto done;
    }
    for (int k = 0;; k++) {
        slot *s = &r.s[k % SLOTS];
        io_queue_wait(rq, &s->read_done);
        if (s->read_failed) {
            snprintf(msg, n, "%s", s->read_msg);
            rc = -1;
            break;
        }
        if (s->read_stopped) {
            *stopped = 1;
            break;
        }
        st->frames += s->frames;
        st->nonfinite += s->nonfinite;
        st->clamped += s->clamped;
        const int last = s->eof || s->frames < r.seg;
        if (!last) {
            /* the slot of segment k+1 was segment k-2's: once that is written */
            slot *next = &r.s[(k + 1) % SLOTS];
            io_queue_wait(wq, &next->write_done);
            if (next->write_failed || next->write_stopped)
                break; /* said below */
            next->eof = next->read_failed = next->read_stopped = 0;
            if (push(rq, read_task, next, &next->read_done, msg, n) != 0) {
                rc = -1;
                break;
            }
        }
        if (s->frames == 0)
            break;
        for (int c = 0; c < ch && rc == 0; c++) {
            hiss_error err = {0};
            if (hiss_offline_render(rd[c], s->wet[c], s->wet[c], s->frames, &err) != HISS_OK) {
                snprintf(msg, n, "%s: %s backend: %s", o->model_path, hiss_backend_name(backend), err.msg);
                rc = -1;
            }
        }
        if (rc != 0)
            break;
        if (*stop) {
            *stopped = 1;
            break;
        }
        if (push(wq, write_task, s, &s->write_done, msg, n) != 0) {
            rc = -1;
            break;
        }
        if (last)
            break;
    }
done:
    /* what is queued runs (a stop makes it quick), then the threads end: nothing touches the
     * slots after this */
    io_queue_free(rq);
    io_queue_free(wq);
    for (int k = 0; k < SLOTS && rc == 0; k++)
        if (r.s[k].write_failed) {
            snprintf(msg, n, "%s", r.s[k].write_msg);
            rc = -1;
        } else if (r.s[k].write_stopped) {
            *stopped = 1;
        }
    for (int c = 0; rd && c < ch; c++)
        hiss_offline_free(rd[c]);
    free(rd);
    free_slots(&r);
    return rc;
}
