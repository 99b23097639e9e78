/* Playing a MIDI file into a synth, each event at its own sample: the one schedule that
 * hiss-host --midi-file (live, in its audio callback) and hiss-render --midi (offline) share, so
 * that a file renders the same both ways. An event at `time` seconds plays at sample
 * llround(time * rate) from the start, before that sample is processed; events of one sample
 * play in the file's order. */
#ifndef HISS_MIDIPLAY_H
#define HISS_MIDIPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "hiss_synth.h"
#include "midifile.h"

typedef struct hiss_midi_player {
    const hiss_midi_event *events; /* the file's (not owned), or NULL: no events */
    uint64_t *frame;               /* [n]: the sample each event plays at (owned) */
    size_t n, next;
    uint64_t now;                  /* samples processed so far */
    uint64_t end;                  /* llround(duration * rate), at least the last event's sample */
} hiss_midi_player;

/* Schedule the events of f (which must outlive the player) at rate Hz; f may be NULL (no
 * events: the player then just runs the synth). 0, or -1 with a message (out of memory). */
int hiss_midi_player_init(hiss_midi_player *p, const hiss_midi_file *f, double rate, char *err, size_t errlen);
void hiss_midi_player_free(hiss_midi_player *p);

/* n samples of s, each event given to s at its sample (cut where events fall, so the result
 * does not depend on how a caller cuts its blocks). Real-time safe: no allocation, lock or I/O. */
void hiss_midi_player_process(hiss_midi_player *p, hiss_synth *s, float *out, int n);

/* 1 once every event has been given to the synth. */
int hiss_midi_player_done(const hiss_midi_player *p);

#endif
