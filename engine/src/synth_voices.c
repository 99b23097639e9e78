/* The voice allocator's rules (synth_voices.h). Constant time per sample per voice, no
 * allocation: it runs on the audio thread. */
#include <math.h>
#include <string.h>

#include "synth_voices.h"

void hiss_synth_voices_init(hiss_synth_voices *vs, hiss_synth_voice *v, int n, double rate,
                            float silence_db, float silence_ms, float release_max_s)
{
    memset(vs, 0, sizeof *vs);
    vs->v = v;
    vs->n = n;
    /* 10 ms: short enough to follow a decay, long enough not to call the zero crossings of a
     * low note silence. */
    vs->rate = rate;
    vs->ms_coef = 1.0 - exp(-1.0 / (0.010 * rate));
    vs->ms_threshold = pow(10.0, (double)silence_db / 10.0);
    vs->quiet_len = (uint64_t)ceil((double)silence_ms * 1e-3 * rate);
    if (vs->quiet_len < 1)
        vs->quiet_len = 1;
    vs->release_max = (uint64_t)ceil((double)release_max_s * rate);
    hiss_synth_voices_clear(vs);
}

void hiss_synth_voices_clear(hiss_synth_voices *vs)
{
    memset(vs->v, 0, sizeof *vs->v * (size_t)vs->n);
    vs->pedal = 0;
    vs->bend = 0.0;
}

static void close_gate(hiss_synth_voice *v)
{
    if (v->note.gate) {
        v->note.gate = 0;
        v->note.n_off = 0;
        v->quiet = 0;
    }
}

int hiss_synth_voices_note_on(hiss_synth_voices *vs, int key, int velocity, int *stolen)
{
    for (int k = 0; k < vs->n; k++) {
        hiss_synth_voice *v = &vs->v[k];
        if (v->active && v->key == key && v->note.gate) {
            v->key_down = 0;
            close_gate(v);
        }
    }
    int pick = -1;
    for (int k = 0; k < vs->n && pick < 0; k++)
        if (!vs->v[k].active)
            pick = k;
    *stolen = pick < 0;
    if (pick < 0) {
        /* The quietest released voice; the older among equals. */
        for (int k = 0; k < vs->n; k++) {
            const hiss_synth_voice *v = &vs->v[k];
            if (v->note.gate)
                continue;
            if (pick < 0 || v->ms < vs->v[pick].ms ||
                (v->ms == vs->v[pick].ms && v->order < vs->v[pick].order))
                pick = k;
        }
    }
    if (pick < 0) {
        for (int k = 0; k < vs->n; k++)
            if (pick < 0 || vs->v[k].order < vs->v[pick].order)
                pick = k;
    }
    hiss_synth_voice *v = &vs->v[pick];
    memset(v, 0, sizeof *v);
    v->active = 1;
    v->key = key;
    v->key_down = 1;
    v->note = hiss_synth_note_start((double)key + vs->bend, velocity);
    v->order = vs->next_order++;
    return pick;
}

int hiss_synth_voices_note_off(hiss_synth_voices *vs, int key)
{
    int count = 0;
    for (int k = 0; k < vs->n; k++) {
        hiss_synth_voice *v = &vs->v[k];
        if (!v->active || !v->key_down || v->key != key)
            continue;
        v->key_down = 0;
        if (!vs->pedal)
            close_gate(v);
        count++;
    }
    return count;
}

void hiss_synth_voices_sustain(hiss_synth_voices *vs, int down)
{
    vs->pedal = down ? 1 : 0;
    if (down)
        return;
    for (int k = 0; k < vs->n; k++) {
        hiss_synth_voice *v = &vs->v[k];
        if (v->active && !v->key_down)
            close_gate(v);
    }
}

void hiss_synth_voices_bend(hiss_synth_voices *vs, double semitones)
{
    vs->bend = semitones;
    for (int k = 0; k < vs->n; k++)
        vs->v[k].note.pitch = (double)vs->v[k].key + semitones;
}

void hiss_synth_voices_all_off(hiss_synth_voices *vs)
{
    for (int k = 0; k < vs->n; k++) {
        hiss_synth_voice *v = &vs->v[k];
        if (v->active) {
            v->key_down = 0;
            close_gate(v);
        }
    }
}

int hiss_synth_voices_advance(hiss_synth_voices *vs, int k, float x)
{
    hiss_synth_voice *v = &vs->v[k];
    hiss_synth_note_advance(&v->note, vs->rate);
    v->ms += vs->ms_coef * ((double)x * (double)x - v->ms);
    if (v->note.gate)
        return 0;
    v->quiet = v->ms < vs->ms_threshold ? v->quiet + 1 : 0;
    if (v->quiet >= vs->quiet_len || v->note.n_off >= vs->release_max) {
        v->active = 0;
        return 1;
    }
    return 0;
}

int hiss_synth_voices_active(const hiss_synth_voices *vs)
{
    int n = 0;
    for (int k = 0; k < vs->n; k++)
        n += vs->v[k].active;
    return n;
}
