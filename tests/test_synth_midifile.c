/* The MIDI-file reader on files built byte by byte here: format 0 with running status, sysex and
 * meta events in the way, note-on velocity 0; format 1 with a tempo map in track 0 (times checked
 * exactly against hand-computed seconds) and tracks merged in order; SMPTE division; unknown
 * chunks; each malformed case refused with its message; then every truncation and 20000 random
 * mutations of a valid file: refused or parsed, never a crash (the sanitizer build checks every
 * read), and what parses is time-ordered and well-formed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "midifile.h"

#include "check.h"

typedef struct buf {
    uint8_t b[4096];
    size_t n;
    size_t chunk; /* start of the open chunk's length field */
} buf;

static void put(buf *w, const uint8_t *x, size_t n)
{
    memcpy(w->b + w->n, x, n);
    w->n += n;
}
#define PUT(w, ...)                                                                                 \
    do {                                                                                            \
        const uint8_t x_[] = {__VA_ARGS__};                                                         \
        put(w, x_, sizeof x_);                                                                      \
    } while (0)

static void vlq(buf *w, uint32_t v)
{
    uint8_t t[5];
    int n = 0;
    t[n++] = v & 0x7F;
    while (v >>= 7)
        t[n++] = (uint8_t)(0x80 | (v & 0x7F));
    while (n)
        w->b[w->n++] = t[--n];
}

static void header(buf *w, int format, int ntrks, int division)
{
    w->n = 0;
    PUT(w, 'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, (uint8_t)format, (uint8_t)(ntrks >> 8), (uint8_t)ntrks,
        (uint8_t)(division >> 8), (uint8_t)division);
}

static void chunk_open(buf *w, const char *type)
{
    put(w, (const uint8_t *)type, 4);
    w->chunk = w->n;
    PUT(w, 0, 0, 0, 0);
}

static void chunk_close(buf *w)
{
    const size_t len = w->n - w->chunk - 4;
    w->b[w->chunk] = (uint8_t)(len >> 24);
    w->b[w->chunk + 1] = (uint8_t)(len >> 16);
    w->b[w->chunk + 2] = (uint8_t)(len >> 8);
    w->b[w->chunk + 3] = (uint8_t)len;
}

static void tempo(buf *w, uint32_t delta, uint32_t usq)
{
    vlq(w, delta);
    PUT(w, 0xFF, 0x51, 3, (uint8_t)(usq >> 16), (uint8_t)(usq >> 8), (uint8_t)usq);
}

static void eot(buf *w, uint32_t delta)
{
    vlq(w, delta);
    PUT(w, 0xFF, 0x2F, 0);
}

static int parse(const buf *w, hiss_midi_file *f, char *err)
{
    return hiss_midi_parse(w->b, w->n, "test.mid", f, err, 512);
}

static void expect_event(const hiss_midi_file *f, size_t i, double t, int s, int d1, int d2, int track)
{
    if (i >= f->n_events) {
        CHECK(0, "event %zu missing (%zu events)", i, f->n_events);
        return;
    }
    const hiss_midi_event *e = &f->events[i];
    CHECK(fabs(e->time - t) <= 1e-12 * fmax(1.0, t) && e->msg[0] == s && e->msg[1] == d1 &&
              (e->len == 2 || e->msg[2] == d2) && e->track == track,
          "event %zu: t=%.12f %02X %d %d track %d, expected t=%.12f %02X %d %d track %d", i, e->time, e->msg[0],
          e->msg[1], e->msg[2], e->track, t, s, d1, d2, track);
}

static void test_format0(void)
{
    buf w;
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0xFF, 0x03, 4, 'l', 'e', 'a', 'd'); /* track name */
    vlq(&w, 0);
    PUT(&w, 0x91, 60, 100);                    /* note on, channel 2 */
    vlq(&w, 48);
    PUT(&w, 64, 90);                           /* running status: note on 64 */
    vlq(&w, 48);
    PUT(&w, 60, 0);                            /* running status, velocity 0: note off 60 */
    vlq(&w, 0);
    PUT(&w, 0xF0, 3, 0x7E, 0x01, 0xF7);        /* sysex: skipped, cancels running status */
    vlq(&w, 96);
    PUT(&w, 0xC1, 5);                          /* program change: one data byte */
    vlq(&w, 200);                              /* a two-byte delta */
    PUT(&w, 0xE1, 0x00, 0x40);                 /* pitch bend */
    vlq(&w, 0);
    PUT(&w, 0x81, 64, 0);                      /* explicit note off */
    eot(&w, 0);
    chunk_close(&w);
    hiss_midi_file f;
    char err[512];
    if (parse(&w, &f, err) != 0) {
        CHECK(0, "format 0: %s", err);
        return;
    }
    /* 96 ticks per quarter at the default 120 bpm: a tick is 1/192 s. */
    CHECK(f.n_events == 6 && f.format == 0 && f.n_tracks == 1, "format 0: %zu events", f.n_events);
    expect_event(&f, 0, 0.0, 0x91, 60, 100, 0);
    expect_event(&f, 1, 0.25, 0x91, 64, 90, 0);
    expect_event(&f, 2, 0.5, 0x81, 60, 0, 0);
    expect_event(&f, 3, 1.0, 0xC1, 5, 0, 0);
    expect_event(&f, 4, 1.0 + 200.0 / 192.0, 0xE1, 0, 64, 0);
    expect_event(&f, 5, 1.0 + 200.0 / 192.0, 0x81, 64, 0, 0);
    CHECK(f.events[3].len == 2 && f.events[0].len == 3, "message lengths");
    hiss_midi_free(&f);

    /* After the sysex, a data byte with no status must be refused. */
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0x90, 60, 100);
    vlq(&w, 0);
    PUT(&w, 0xF0, 1, 0xF7);
    vlq(&w, 10);
    PUT(&w, 62, 100);
    eot(&w, 0);
    chunk_close(&w);
    CHECK(parse(&w, &f, err) != 0 && strstr(err, "test.mid: track 0, byte 31: data byte 0x3E without a status"),
          "running status after sysex: %s", err);
    printf("ok format 0: running status, velocity-0 note-off, sysex and meta skipped, exact times\n");
}

static void test_format1(void)
{
    buf w;
    header(&w, 1, 3, 480);
    /* Track 0: tempo map. 120 bpm, at tick 960 60 bpm, at tick 1920 240 bpm. */
    chunk_open(&w, "MTrk");
    tempo(&w, 0, 500000);
    tempo(&w, 960, 1000000);
    tempo(&w, 960, 250000);
    eot(&w, 0);
    chunk_close(&w);
    chunk_open(&w, "XFIH"); /* an unknown chunk: skipped */
    PUT(&w, 1, 2, 3, 4, 5);
    chunk_close(&w);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0x90, 60, 100);
    vlq(&w, 960);
    PUT(&w, 0x80, 60, 64);
    vlq(&w, 0);
    PUT(&w, 0x90, 62, 100);
    vlq(&w, 960);
    PUT(&w, 0x80, 62, 0);
    vlq(&w, 480);
    PUT(&w, 0x90, 64, 100);
    eot(&w, 480);
    chunk_close(&w);
    chunk_open(&w, "MTrk");
    vlq(&w, 480);
    PUT(&w, 0xB0, 64, 127);
    vlq(&w, 480);
    PUT(&w, 0xB0, 64, 0); /* same tick as track 1's events: after them (higher track) */
    vlq(&w, 1440);
    PUT(&w, 0xB0, 7, 100);
    eot(&w, 0);
    chunk_close(&w);
    hiss_midi_file f;
    char err[512];
    if (parse(&w, &f, err) != 0) {
        CHECK(0, "format 1: %s", err);
        return;
    }
    /* Seconds: tick 480 = 0.5, 960 = 1.0, 1440 = 1.0 + 480/480 * 1.0 = 2.0, 1920 = 3.0,
     * 2400 = 3.0 + 0.25 * (480/480) = 3.25, 2880 = 3.5. */
    CHECK(f.n_events == 8 && f.n_tempo_changes == 3 && f.n_tracks == 3, "format 1: %zu events, %d tempos",
          f.n_events, f.n_tempo_changes);
    expect_event(&f, 0, 0.0, 0x90, 60, 100, 1);
    expect_event(&f, 1, 0.5, 0xB0, 64, 127, 2);
    expect_event(&f, 2, 1.0, 0x80, 60, 64, 1);
    expect_event(&f, 3, 1.0, 0x90, 62, 100, 1);
    expect_event(&f, 4, 1.0, 0xB0, 64, 0, 2);
    expect_event(&f, 5, 3.0, 0x80, 62, 0, 1);
    expect_event(&f, 6, 3.25, 0x90, 64, 100, 1);
    expect_event(&f, 7, 3.25, 0xB0, 7, 100, 2);
    CHECK(fabs(f.duration - 3.5) < 1e-12, "duration %.12f, expected 3.5", f.duration);
    hiss_midi_free(&f);
    printf("ok format 1: tempo map across tracks, exact seconds, merge order, unknown chunk skipped\n");
}

static void test_smpte(void)
{
    buf w;
    /* 25 fps, 40 ticks per frame: 1000 ticks per second. */
    header(&w, 0, 1, (uint16_t)((uint8_t)-25 << 8 | 40));
    chunk_open(&w, "MTrk");
    tempo(&w, 0, 100000); /* ignored under SMPTE time */
    vlq(&w, 1500);
    PUT(&w, 0x90, 70, 1);
    eot(&w, 500);
    chunk_close(&w);
    hiss_midi_file f;
    char err[512];
    if (parse(&w, &f, err) != 0) {
        CHECK(0, "smpte: %s", err);
        return;
    }
    expect_event(&f, 0, 1.5, 0x90, 70, 1, 0);
    CHECK(fabs(f.duration - 2.0) < 1e-12, "smpte duration %.12f", f.duration);
    hiss_midi_free(&f);
    printf("ok SMPTE: 25 fps x 40 ticks, tempo ignored\n");
}

static void expect_error(const buf *w, const char *want, const char *what)
{
    hiss_midi_file f;
    char err[512];
    const int r = parse(w, &f, err);
    CHECK(r != 0 && strstr(err, want) && f.events == NULL && f.n_events == 0, "%s: expected \"%s\", got %d \"%s\"",
          what, want, r, r ? err : "");
    if (r == 0)
        hiss_midi_free(&f);
    else
        printf("ok refused %s: %s\n", what, err);
}

static void test_errors(void)
{
    buf w;
    w.n = 0;
    PUT(&w, 'R', 'I', 'F', 'F', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96);
    expect_error(&w, "test.mid: not a Standard MIDI File (no MThd header)", "not MIDI");
    header(&w, 2, 1, 96);
    expect_error(&w, "format 2 is not supported", "format 2");
    header(&w, 0, 2, 96);
    expect_error(&w, "format 0 file announces 2 tracks", "format 0 with 2 tracks");
    header(&w, 1, 2, 96);
    chunk_open(&w, "MTrk");
    eot(&w, 0);
    chunk_close(&w);
    expect_error(&w, "header announces 2 tracks, the file holds 1", "missing track");
    header(&w, 0, 1, 0);
    expect_error(&w, "division of 0 ticks", "zero division");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0x90, 60);
    chunk_close(&w);
    expect_error(&w, "track 0, byte 23: message 0x90 runs past the end of the track", "short message");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    PUT(&w, 0x81, 0x80, 0x80, 0x80, 0x00, 0x90, 60, 1);
    chunk_close(&w);
    expect_error(&w, "track 0, byte 22: delta time is longer than 4 bytes", "long delta");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 60, 100);
    chunk_close(&w);
    expect_error(&w, "data byte 0x3C without a status", "no running status");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    tempo(&w, 0, 0);
    chunk_close(&w);
    expect_error(&w, "tempo of 0 microseconds", "zero tempo");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0xFF, 0x51, 2, 1, 2);
    chunk_close(&w);
    expect_error(&w, "tempo event of 2 bytes, expected 3", "short tempo");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0xF4, 1, 2);
    chunk_close(&w);
    expect_error(&w, "status byte 0xF4 cannot appear", "system common status");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0x90, 60, 0xC8);
    chunk_close(&w);
    expect_error(&w, "data byte 0xC8 of message 0x90 has its top bit set", "bad data byte");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    vlq(&w, 0);
    PUT(&w, 0xF0, 0x20, 1, 2, 3);
    chunk_close(&w);
    expect_error(&w, "sysex of 32 bytes runs past the end of the track", "long sysex");
    header(&w, 0, 1, 96);
    chunk_open(&w, "MTrk");
    eot(&w, 0);
    chunk_close(&w);
    w.b[w.chunk + 3] = 40;
    expect_error(&w, "chunk MTrk of 40 bytes runs past the end of the file", "chunk length");
    header(&w, 0, 1, (uint16_t)((uint8_t)-23 << 8 | 4));
    expect_error(&w, "23 frames per second", "SMPTE rate");
}

/* What a parse returns must be ordered and well-formed, whatever the input. */
static int well_formed(const hiss_midi_file *f)
{
    for (size_t i = 0; i < f->n_events; i++) {
        const hiss_midi_event *e = &f->events[i];
        if (e->msg[0] < 0x80 || e->msg[0] > 0xEF || e->msg[1] > 127 || (e->len == 3 && e->msg[2] > 127) ||
            (e->len != 2 && e->len != 3) || !(e->time >= 0.0) || !isfinite(e->time))
            return 0;
        if (i && (e->tick < f->events[i - 1].tick || e->time < f->events[i - 1].time))
            return 0;
        if ((e->msg[0] & 0xF0) == 0x90 && e->msg[2] == 0)
            return 0;
    }
    return isfinite(f->duration) && f->duration >= 0.0;
}

static void test_fuzz(void)
{
    hiss_midi_file f;
    char err[512];
    buf v;
    header(&v, 1, 2, 480);
    chunk_open(&v, "MTrk");
    tempo(&v, 0, 400000);
    tempo(&v, 300, 700000);
    eot(&v, 10);
    chunk_close(&v);
    chunk_open(&v, "MTrk");
    vlq(&v, 0);
    PUT(&v, 0x90, 30, 30);
    for (int i = 1; i < 20; i++) {
        vlq(&v, (uint32_t)(i * 37));
        if (i % 3)
            PUT(&v, (uint8_t)(0x90 | (i % 4)), (uint8_t)(40 + i), (uint8_t)(i * 5));
        else
            PUT(&v, (uint8_t)(40 + i), 0);
        if (i == 7) {
            vlq(&v, 0);
            PUT(&v, 0xF0, 2, 0x41, 0xF7);
            vlq(&v, 0);
            PUT(&v, 0x80, 1, 1);
        }
    }
    eot(&v, 0);
    chunk_close(&v);
    if (parse(&v, &f, err) != 0) {
        CHECK(0, "fuzz seed file: %s", err);
        return;
    }
    CHECK(well_formed(&f), "seed file well-formed");
    const size_t n_seed = f.n_events;
    hiss_midi_free(&f);

    int refused = 0, parsed = 0, bad = 0;
    for (size_t len = 0; len < v.n; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, v.b, len);
        if (hiss_midi_parse(cut, len, "cut.mid", &f, err, sizeof err) == 0) {
            parsed++;
            bad += !well_formed(&f);
            hiss_midi_free(&f);
        } else {
            refused++;
            bad += err[0] == 0;
        }
        free(cut);
    }
    uint64_t x = 0x243F6A8885A308D3ull;
    int m_ok = 0, m_refused = 0;
    uint8_t *mut = malloc(v.n);
    for (int i = 0; i < 20000; i++) {
        memcpy(mut, v.b, v.n);
        const int flips = 1 + i % 5;
        for (int j = 0; j < flips; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const size_t at = (size_t)(x % v.n);
            if ((x >> 40) & 1)
                mut[at] ^= (uint8_t)(1u << ((x >> 32) % 8));
            else
                mut[at] = (uint8_t)(x >> 48);
        }
        if (hiss_midi_parse(mut, v.n, "mut.mid", &f, err, sizeof err) == 0) {
            m_ok++;
            bad += !well_formed(&f);
            hiss_midi_free(&f);
        } else {
            m_refused++;
            bad += err[0] == 0;
        }
    }
    free(mut);
    CHECK(bad == 0, "fuzz: %d results malformed or refusals without a message", bad);
    printf("ok fuzz: seed file of %zu bytes and %zu events; truncations %d refused, %d parsed; 20000 mutations %d refused, %d parsed; all parsed results ordered and well-formed\n",
           v.n, n_seed, refused, parsed, m_refused, m_ok);
}

int main(void)
{
    test_format0();
    test_format1();
    test_smpte();
    test_errors();
    test_fuzz();
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
