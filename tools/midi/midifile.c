/* The Standard MIDI File reader. Every read is checked against the end of the chunk it belongs
 * to; a track is parsed into (tick, message) pairs, the tracks are merged by a stable sort, and
 * ticks become seconds through the tempo map (or the SMPTE rate) with one rounding per event:
 * time = (sum over tempo segments of ticks * microseconds per quarter) / (1e6 * division). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "midifile.h"

/* 2^36 ticks: a year at 960 ticks per quarter and 120 bpm. Keeps ticks * tempo (< 2^24) exact in
 * 64 bits. */
#define TICK_LIMIT (1ull << 36)
#define MAX_FILE_BYTES (256u * 1024u * 1024u)

typedef struct tempo_ev {
    uint64_t tick;
    int track;
    uint32_t index;
    uint32_t usq; /* microseconds per quarter note */
} tempo_ev;

typedef struct parser {
    const uint8_t *b;
    size_t len;
    const char *name;
    char *err;
    size_t errlen;
    hiss_midi_event *ev;
    size_t n, cap;
    tempo_ev *tempo;
    size_t nt, ct;
    uint64_t end_tick;
} parser;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(parser *p, const char *fmt, ...)
{
    if (p->err && p->errlen) {
        int o = snprintf(p->err, p->errlen, "%s: ", p->name);
        if (o < 0 || (size_t)o >= p->errlen)
            return -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + o, p->errlen - (size_t)o, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Variable-length quantity: at most 4 bytes, 7 bits each, top bit set on all but the last. */
static int vlq(parser *p, int track, size_t end, size_t *pos, uint32_t *out, const char *what)
{
    uint32_t v = 0;
    const size_t at = *pos;
    for (int i = 0; i < 4; i++) {
        if (*pos >= end)
            return fail(p, "track %d, byte %zu: %s runs past the end of the track", track, at, what);
        const uint8_t c = p->b[(*pos)++];
        v = v << 7 | (c & 0x7Fu);
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return fail(p, "track %d, byte %zu: %s is longer than 4 bytes", track, at, what);
}

static int push_event(parser *p, const hiss_midi_event *e)
{
    if (p->n == p->cap) {
        if (p->cap >= HISS_MIDI_MAX_EVENTS)
            return fail(p, "more than %u events", HISS_MIDI_MAX_EVENTS);
        size_t cap = p->cap ? p->cap * 2 : 256;
        hiss_midi_event *ne = realloc(p->ev, cap * sizeof *ne);
        if (!ne)
            return fail(p, "out of memory for %zu events", cap);
        p->ev = ne;
        p->cap = cap;
    }
    p->ev[p->n++] = *e;
    return 0;
}

static int push_tempo(parser *p, const tempo_ev *t)
{
    if (p->nt == p->ct) {
        if (p->ct >= HISS_MIDI_MAX_EVENTS)
            return fail(p, "more than %u tempo changes", HISS_MIDI_MAX_EVENTS);
        size_t cap = p->ct ? p->ct * 2 : 16;
        tempo_ev *nt = realloc(p->tempo, cap * sizeof *nt);
        if (!nt)
            return fail(p, "out of memory for %zu tempo changes", cap);
        p->tempo = nt;
        p->ct = cap;
    }
    p->tempo[p->nt++] = *t;
    return 0;
}

static int parse_track(parser *p, int track, size_t pos, size_t end)
{
    uint64_t tick = 0;
    uint8_t running = 0;
    uint32_t index = 0;
    while (pos < end) {
        uint32_t delta = 0;
        if (vlq(p, track, end, &pos, &delta, "delta time") < 0)
            return -1;
        tick += delta;
        if (tick > TICK_LIMIT)
            return fail(p, "track %d, byte %zu: time runs past %llu ticks", track, pos,
                        (unsigned long long)TICK_LIMIT);
        if (pos >= end)
            return fail(p, "track %d, byte %zu: delta time without an event", track, pos);
        const size_t at = pos;
        const uint8_t s = p->b[pos];
        if (s == 0xFF) {
            pos++;
            if (pos >= end)
                return fail(p, "track %d, byte %zu: meta event without a type", track, at);
            const uint8_t type = p->b[pos++];
            uint32_t len = 0;
            if (vlq(p, track, end, &pos, &len, "meta event length") < 0)
                return -1;
            if (len > end - pos)
                return fail(p, "track %d, byte %zu: meta event 0x%02X of %u bytes runs past the end of the "
                            "track", track, at, type, len);
            if (type == 0x51) {
                if (len != 3)
                    return fail(p, "track %d, byte %zu: tempo event of %u bytes, expected 3", track, at, len);
                const uint32_t usq = (uint32_t)p->b[pos] << 16 | (uint32_t)p->b[pos + 1] << 8 | p->b[pos + 2];
                if (usq == 0)
                    return fail(p, "track %d, byte %zu: tempo of 0 microseconds per quarter note", track, at);
                tempo_ev t = {tick, track, index++, usq};
                if (push_tempo(p, &t) < 0)
                    return -1;
            }
            pos += len;
            /* Meta events cancel running status (SMF 1.0). */
            running = 0;
            if (type == 0x2F)
                break; /* end of track: whatever follows in the chunk is not music */
            continue;
        }
        if (s == 0xF0 || s == 0xF7) {
            pos++;
            uint32_t len = 0;
            if (vlq(p, track, end, &pos, &len, "sysex length") < 0)
                return -1;
            if (len > end - pos)
                return fail(p, "track %d, byte %zu: sysex of %u bytes runs past the end of the track", track, at,
                            len);
            pos += len;
            running = 0;
            continue;
        }
        if (s >= 0xF0)
            return fail(p, "track %d, byte %zu: status byte 0x%02X cannot appear in a MIDI file", track, at, s);
        uint8_t status;
        if (s & 0x80) {
            status = s;
            running = s;
            pos++;
        } else {
            if (!running)
                return fail(p, "track %d, byte %zu: data byte 0x%02X without a status (no running status in "
                            "effect)", track, at, s);
            status = running;
        }
        const int type = status & 0xF0;
        const size_t nd = type == 0xC0 || type == 0xD0 ? 1 : 2;
        if (end - pos < nd)
            return fail(p, "track %d, byte %zu: message 0x%02X runs past the end of the track", track, at, status);
        hiss_midi_event e;
        memset(&e, 0, sizeof e);
        e.tick = tick;
        e.track = track;
        e.index = index++;
        e.msg[0] = status;
        e.len = (uint8_t)(1 + nd);
        for (size_t i = 0; i < nd; i++) {
            const uint8_t d = p->b[pos + i];
            if (d & 0x80)
                return fail(p, "track %d, byte %zu: data byte 0x%02X of message 0x%02X has its top bit set",
                            track, pos + i, d, status);
            e.msg[1 + i] = d;
        }
        pos += nd;
        if (type == 0x90 && e.msg[2] == 0)
            e.msg[0] = (uint8_t)(0x80 | (status & 0x0F));
        if (push_event(p, &e) < 0)
            return -1;
    }
    if (tick > p->end_tick)
        p->end_tick = tick;
    return 0;
}

static int cmp_event(const void *a, const void *b)
{
    const hiss_midi_event *x = a, *y = b;
    if (x->tick != y->tick)
        return x->tick < y->tick ? -1 : 1;
    if (x->track != y->track)
        return x->track < y->track ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_tempo(const void *a, const void *b)
{
    const tempo_ev *x = a, *y = b;
    if (x->tick != y->tick)
        return x->tick < y->tick ? -1 : 1;
    if (x->track != y->track)
        return x->track < y->track ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Ticks to seconds along the tempo map; calls must come in non-decreasing tick order. */
typedef struct clock {
    const tempo_ev *tempo;
    size_t nt, next;
    uint64_t seg_tick, acc; /* acc: sum of ticks * usq up to seg_tick */
    uint32_t usq;
    double smpte_tps;       /* ticks per second for SMPTE division, else 0 */
    int division;
} clock;

static double clock_time(clock *c, uint64_t tick)
{
    if (c->smpte_tps > 0.0)
        return (double)tick / c->smpte_tps;
    while (c->next < c->nt && c->tempo[c->next].tick <= tick) {
        c->acc += (c->tempo[c->next].tick - c->seg_tick) * c->usq;
        c->seg_tick = c->tempo[c->next].tick;
        c->usq = c->tempo[c->next].usq;
        c->next++;
    }
    const uint64_t a = c->acc + (tick - c->seg_tick) * c->usq;
    return (double)a / (1e6 * (double)c->division);
}

int hiss_midi_parse(const uint8_t *b, size_t len, const char *name, hiss_midi_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    parser p;
    memset(&p, 0, sizeof p);
    p.b = b;
    p.len = len;
    p.name = name ? name : "<memory>";
    p.err = err;
    p.errlen = errlen;
    if (err && errlen)
        err[0] = 0;
    if (len < 14 || memcmp(b, "MThd", 4) != 0)
        return fail(&p, "not a Standard MIDI File (no MThd header)");
    const uint32_t hlen = be32(b + 4);
    if (hlen < 6 || hlen > len - 8)
        return fail(&p, "header chunk of %u bytes does not fit (6 or more, within the file's %zu)", hlen, len);
    const int format = b[8] << 8 | b[9];
    const int ntrks = b[10] << 8 | b[11];
    const int division = b[12] << 8 | b[13];
    if (format > 1)
        return fail(&p, "format %d is not supported (formats 0 and 1 are)", format);
    if (ntrks < 1 || ntrks > HISS_MIDI_MAX_TRACKS)
        return fail(&p, "header announces %d tracks (1 to %d accepted)", ntrks, HISS_MIDI_MAX_TRACKS);
    if (format == 0 && ntrks != 1)
        return fail(&p, "format 0 file announces %d tracks, expected 1", ntrks);
    clock ck;
    memset(&ck, 0, sizeof ck);
    ck.usq = 500000; /* 120 bpm until told otherwise */
    ck.division = division;
    if (division & 0x8000) {
        const int fps = -(int)(int8_t)(uint8_t)(division >> 8), tpf = division & 0xFF;
        if ((fps != 24 && fps != 25 && fps != 29 && fps != 30) || tpf == 0)
            return fail(&p, "SMPTE division 0x%04X: %d frames per second, %d ticks per frame (24, 25, 29 or 30 "
                        "fps and at least 1 tick expected)", division, fps, tpf);
        ck.smpte_tps = (fps == 29 ? 30000.0 / 1001.0 : (double)fps) * tpf;
    } else if (division == 0) {
        return fail(&p, "division of 0 ticks per quarter note");
    }

    size_t pos = 8 + (size_t)hlen;
    int found = 0;
    while (found < ntrks) {
        if (len - pos < 8) {
            fail(&p, "header announces %d tracks, the file holds %d (byte %zu: %s)", ntrks, found, pos,
                 pos == len ? "end of file" : "truncated chunk header");
            goto fail;
        }
        const uint32_t clen = be32(b + pos + 4);
        if (clen > len - pos - 8) {
            char type[20];
            const uint8_t *t = b + pos;
            if (t[0] >= 32 && t[0] < 127 && t[1] >= 32 && t[1] < 127 && t[2] >= 32 && t[2] < 127 && t[3] >= 32 &&
                t[3] < 127)
                snprintf(type, sizeof type, "%c%c%c%c", t[0], t[1], t[2], t[3]);
            else
                snprintf(type, sizeof type, "%02X%02X%02X%02X", t[0], t[1], t[2], t[3]);
            fail(&p, "byte %zu: chunk %s of %u bytes runs past the end of the file (%zu bytes left)", pos, type,
                 clen, len - pos - 8);
            goto fail;
        }
        if (memcmp(b + pos, "MTrk", 4) == 0) {
            if (parse_track(&p, found, pos + 8, pos + 8 + clen) < 0)
                goto fail;
            found++;
        }
        /* Chunks of other types are skipped, as SMF 1.0 asks. */
        pos += 8 + (size_t)clen;
    }

    if (p.n)
        qsort(p.ev, p.n, sizeof *p.ev, cmp_event);
    if (p.nt)
        qsort(p.tempo, p.nt, sizeof *p.tempo, cmp_tempo);
    ck.tempo = p.tempo;
    ck.nt = p.nt;
    for (size_t i = 0; i < p.n; i++)
        p.ev[i].time = clock_time(&ck, p.ev[i].tick);
    out->duration = clock_time(&ck, p.end_tick);
    out->format = format;
    out->n_tracks = ntrks;
    out->division = division;
    out->events = p.ev;
    out->n_events = p.n;
    out->n_tempo_changes = (int)p.nt;
    free(p.tempo);
    return 0;
fail:
    free(p.ev);
    free(p.tempo);
    return -1;
}

int hiss_midi_load(const char *path, hiss_midi_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, MAX_FILE_BYTES);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, size);
        fclose(f);
        return -1;
    }
    const size_t got = fread(buf, 1, size, f);
    const int rerr = ferror(f);
    fclose(f);
    if (got != size || rerr) {
        snprintf(err, errlen, "%s: read error", path);
        free(buf);
        return -1;
    }
    const int r = hiss_midi_parse(buf, size, path, out, err, errlen);
    free(buf);
    return r;
}

void hiss_midi_free(hiss_midi_file *f)
{
    free(f->events);
    memset(f, 0, sizeof *f);
}
