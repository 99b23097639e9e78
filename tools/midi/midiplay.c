/* The event schedule of midiplay.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "midiplay.h"

int hiss_midi_player_init(hiss_midi_player *p, const hiss_midi_file *f, double rate, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (!f)
        return 0;
    p->frame = malloc((f->n_events ? f->n_events : 1) * sizeof *p->frame);
    if (!p->frame) {
        snprintf(err, errlen, "out of memory for %zu MIDI events", f->n_events);
        return -1;
    }
    p->events = f->events;
    p->n = f->n_events;
    for (size_t i = 0; i < p->n; i++)
        p->frame[i] = (uint64_t)llround(f->events[i].time * rate);
    p->end = (uint64_t)llround(f->duration * rate);
    if (p->n && p->frame[p->n - 1] > p->end)
        p->end = p->frame[p->n - 1];
    return 0;
}

void hiss_midi_player_free(hiss_midi_player *p)
{
    free(p->frame);
    memset(p, 0, sizeof *p);
}

void hiss_midi_player_process(hiss_midi_player *p, hiss_synth *s, float *out, int n)
{
    int t = 0;
    while (t < n) {
        const uint64_t now = p->now + (uint64_t)t;
        while (p->next < p->n && p->frame[p->next] <= now) {
            const hiss_midi_event *e = &p->events[p->next++];
            hiss_synth_midi(s, e->msg, e->len);
        }
        int m = n - t;
        if (p->next < p->n && p->frame[p->next] < now + (uint64_t)m)
            m = (int)(p->frame[p->next] - now);
        hiss_synth_process(s, out + t, m);
        t += m;
    }
    p->now += (uint64_t)n;
}

int hiss_midi_player_done(const hiss_midi_player *p)
{
    return p->next == p->n;
}
