/* Live MIDI input through RtMidi's C API: a port of the system's MIDI (ALSA sequencer, JACK), or a
 * virtual port other programs connect to. RtMidi calls back on its own thread; the callback only
 * queues the message on a lock-free ring that the audio thread drains at the start of each block. */
#ifndef HISS_HOST_MIDI_IN_H
#define HISS_HOST_MIDI_IN_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "spsc.h"

typedef struct hiss_midi_msg {
    uint8_t len;
    uint8_t b[3];
} hiss_midi_msg;

typedef struct hiss_midi_in {
    void *dev;                   /* RtMidiInPtr */
    hiss_spsc ring;              /* hiss_midi_msg */
    _Atomic uint64_t received;
    _Atomic uint64_t dropped;    /* ring full */
    char port_name[256];
} hiss_midi_in;

/* Every compiled API's input ports, to out. api: "alsa", "jack" or NULL for all. */
int hiss_midi_in_list(const char *api, FILE *out);
/* Open an input: port is a number or a part of a port's name; virtual_name opens a virtual port
 * of that name instead. api as above (NULL: RtMidi's default order). 0, or -1 with msg. */
int hiss_midi_in_open(hiss_midi_in *m, const char *api, const char *port, const char *virtual_name,
                      char *msg, size_t n);
void hiss_midi_in_close(hiss_midi_in *m);

#endif
