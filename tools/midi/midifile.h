/* Standard MIDI Files (SMF) in: formats 0 and 1, running status, tempo changes, SMPTE time,
 * sysex and other meta events skipped, note-on with velocity 0 turned into note-off. The result
 * is every channel message of every track, merged into one list ordered by time, with times in
 * seconds. Malformed input is refused with a message naming the file, track and byte offset;
 * nothing outside the buffer is ever read. */
#ifndef HISS_MIDIFILE_H
#define HISS_MIDIFILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hiss_midi_event {
    double time;     /* seconds from the start of the file */
    uint64_t tick;   /* absolute time in ticks */
    int track;       /* 0-based index among the MTrk chunks */
    uint32_t index;  /* position within its track: orders events of the same tick and track */
    uint8_t msg[3];  /* a channel message: status 0x80..0xEF (with channel), then data bytes */
    uint8_t len;     /* 2 (program change, channel pressure) or 3 */
} hiss_midi_event;

typedef struct hiss_midi_file {
    int format;              /* 0 or 1 */
    int n_tracks;
    int division;            /* the header's raw division word */
    hiss_midi_event *events; /* ordered by tick, then track, then index */
    size_t n_events;
    int n_tempo_changes;     /* tempo meta events seen (all tracks) */
    double duration;         /* seconds to the last end-of-track (or last event) */
} hiss_midi_file;

/* Limits a hostile file cannot exceed. */
#define HISS_MIDI_MAX_TRACKS 4096
#define HISS_MIDI_MAX_EVENTS (16u * 1024u * 1024u)

/* 0 on success; -1 with a message in err ("song.mid: track 2, byte 1234: ...") on failure, in
 * which case *out is left empty. name prefixes messages. */
int hiss_midi_parse(const uint8_t *buf, size_t len, const char *name, hiss_midi_file *out, char *err,
                    size_t errlen);
int hiss_midi_load(const char *path, hiss_midi_file *out, char *err, size_t errlen);
/* Safe on an empty (zeroed) file; leaves it zeroed. */
void hiss_midi_free(hiss_midi_file *f);

#endif
