#include "held.h"

#include <string.h>

void hp_held_clear(hp_held *h)
{
    memset(h, 0, sizeof *h);
}

void hp_held_midi(hp_held *h, const uint8_t *msg, uint32_t len)
{
    /* The same messages hiss_synth_midi accepts, and no others. */
    if (len < 3 || msg[0] < 0x80 || msg[0] >= 0xF0 || (msg[1] & 0x80) || (msg[2] & 0x80))
        return;
    const int type = msg[0] & 0xF0, d1 = msg[1], d2 = msg[2];
    if (type == 0x90 && d2 > 0) {
        h->down[d1] = (uint8_t)d2;
        h->sustained[d1] = 0; /* the key's earlier voice is released by the new note */
    } else if (type == 0x80 || type == 0x90) {
        if (h->down[d1] && h->pedal)
            h->sustained[d1] = h->down[d1];
        h->down[d1] = 0;
    } else if (type == 0xB0 && d1 == 64) {
        h->pedal = d2 >= 64;
        if (!h->pedal)
            memset(h->sustained, 0, sizeof h->sustained);
    } else if (type == 0xB0 && d1 == 120) {
        hp_held_clear(h); /* the synth silences every voice and puts pedal and bend at rest */
    } else if (type == 0xB0 && d1 == 123) {
        memset(h->down, 0, sizeof h->down); /* every gate closes, pedal or not */
        memset(h->sustained, 0, sizeof h->sustained);
    } else if (type == 0xE0) {
        memcpy(h->bend, msg, 3);
        h->bent = d1 != 0 || d2 != 0x40;
    }
}

void hp_held_replay(const hp_held *h, hiss_synth *s)
{
    if (h->bent)
        hiss_synth_midi(s, h->bend, 3);
    if (h->pedal) {
        const uint8_t m[3] = {0xB0, 64, 127};
        hiss_synth_midi(s, m, 3);
    }
    for (int k = 0; k < 128; k++) {
        const uint8_t vel = h->down[k] ? h->down[k] : h->sustained[k];
        if (!vel)
            continue;
        const uint8_t on[3] = {0x90, (uint8_t)k, vel}, off[3] = {0x80, (uint8_t)k, 0};
        hiss_synth_midi(s, on, 3);
        if (!h->down[k])
            hiss_synth_midi(s, off, 3);
    }
}
