/* hiss-jack-synth-check: records what a JACK MIDI source sends to a plugin host and what the host
 * plays back, and compares it with the engine playing the same MIDI at the same frames.
 *
 *   hiss-jack-synth-check CLIENT MODEL SECONDS SOURCE_PORT
 *
 * One JACK client with a MIDI input and an audio input. It connects CLIENT:out to its audio
 * input, then SOURCE_PORT to its MIDI input and only then to CLIENT:control, so it hears every
 * event the host gets, each with its frame (the period's first frame plus the event's offset).
 * It records SECONDS seconds. The host's synth was loaded before: it is silent until its first
 * note-on, and no class decodes to 0, so the first non-zero output frame F is the first note-on
 * the host received. From F on, the engine (hiss_synth API, the plugin's default controls) fed
 * every recorded event at its frame must give the recorded output. */
#include <jack/jack.h>
#include <jack/midiport.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jack_util.h"
#include "synth_models.h"

#define WHO "hiss-jack-synth-check"

#define MAX_EV 8192

typedef struct rec {
    jack_client_t *c;
    jack_port_t *midi, *audio;
    float *y;
    long total;
    ts_event ev[MAX_EV];
    atomic_int n_ev;
    atomic_int dropped;        /* events that did not fit, or longer than 3 bytes */
    atomic_long base;          /* frame time of the first recorded frame, -1 before */
    atomic_long recorded;
    atomic_int armed;          /* set once the source is connected to both */
} rec;

static int process(jack_nframes_t n, void *arg)
{
    rec *r = arg;
    jack_nframes_t now = jack_last_frame_time(r->c);
    long base = atomic_load(&r->base);
    if (base < 0) {
        if (!atomic_load(&r->armed))
            return 0;
        base = (long)now;
        atomic_store(&r->base, base);
    }
    const float *in = jack_port_get_buffer(r->audio, n);
    void *mb = jack_port_get_buffer(r->midi, n);
    long got = atomic_load(&r->recorded);
    for (jack_nframes_t i = 0; i < n; i++) {
        long t = (long)now + (long)i - base;
        if (t >= 0 && t < r->total) {
            r->y[t] = in[i];
            got = t + 1;
        }
    }
    uint32_t ne = jack_midi_get_event_count(mb);
    for (uint32_t k = 0; k < ne; k++) {
        jack_midi_event_t e;
        if (jack_midi_event_get(&e, mb, k) != 0)
            continue;
        long t = (long)now + (long)e.time - base;
        int i = atomic_load(&r->n_ev);
        if (t < 0 || t >= r->total)
            continue;
        if (i >= MAX_EV || e.size > 3 || e.size == 0) {
            atomic_fetch_add(&r->dropped, 1);
            continue;
        }
        r->ev[i].frame = t;
        r->ev[i].len = (uint8_t)e.size;
        memcpy(r->ev[i].msg, e.buffer, e.size);
        atomic_store(&r->n_ev, i + 1);
    }
    atomic_store(&r->recorded, got);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: hiss-jack-synth-check CLIENT MODEL SECONDS SOURCE_PORT\n");
        return 2;
    }
    const char *client = argv[1], *model = argv[2], *source = argv[4];
    static rec r;
    atomic_init(&r.n_ev, 0);
    atomic_init(&r.dropped, 0);
    atomic_init(&r.base, -1);
    atomic_init(&r.recorded, 0);
    atomic_init(&r.armed, 0);
    jack_status_t st;
    r.c = jack_client_open("hiss_synth_rec", JackNoStartServer, &st);
    if (!r.c) {
        fprintf(stderr, "hiss-jack-synth-check: no JACK server (status 0x%x)\n", (unsigned)st);
        return 1;
    }
    double rate = jack_get_sample_rate(r.c);
    r.total = (long)(atof(argv[3]) * rate);
    r.y = calloc((size_t)r.total, sizeof(float));
    r.midi = jack_port_register(r.c, "midi_in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
    r.audio = jack_port_register(r.c, "in", JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
    jack_set_process_callback(r.c, process, &r);
    if (jack_activate(r.c)) {
        fprintf(stderr, "hiss-jack-synth-check: cannot activate\n");
        return 1;
    }
    char out[256], ctl[256];
    snprintf(out, sizeof out, "%s:out", client);
    snprintf(ctl, sizeof ctl, "%s:control", client);
    /* Recorder first: from then on it hears all the host can hear. */
    if (tj_connect_retry(r.c, out, jack_port_name(r.audio), WHO) ||
        tj_connect_retry(r.c, source, jack_port_name(r.midi), WHO))
        return 1;
    atomic_store(&r.armed, 1);
    if (tj_connect_retry(r.c, source, ctl, WHO))
        return 1;
    printf("recording %s and the MIDI of %s for %.1f s at %g Hz\n", out, source, r.total / rate, rate);
    time_t t0 = time(NULL);
    while (atomic_load(&r.recorded) < r.total && difftime(time(NULL), t0) < r.total / rate + 60.0)
        tj_nap(20);
    jack_deactivate(r.c);
    jack_client_close(r.c);
    if (atomic_load(&r.recorded) < r.total) {
        fprintf(stderr, "FAIL: recorded %ld of %ld frames\n", atomic_load(&r.recorded), r.total);
        return 1;
    }
    int ne = atomic_load(&r.n_ev);
    if (atomic_load(&r.dropped)) {
        fprintf(stderr, "FAIL: %d MIDI events could not be recorded\n", atomic_load(&r.dropped));
        return 1;
    }

    long F = -1;
    for (long t = 0; t < r.total && F < 0; t++)
        if (r.y[t] != 0.0f)
            F = t;
    if (F < 0) {
        fprintf(stderr, "FAIL: the host's output is silent over %ld frames (%d MIDI events heard)\n", r.total, ne);
        return 1;
    }
    int note_at_F = 0, ons = 0, offs = 0;
    for (int i = 0; i < ne; i++) {
        int on = (r.ev[i].msg[0] & 0xF0) == 0x90 && r.ev[i].len == 3 && r.ev[i].msg[2] > 0;
        if (r.ev[i].frame == F && on)
            note_at_F = 1;
        if (r.ev[i].frame >= F) {
            ons += on;
            offs += !on && ((r.ev[i].msg[0] & 0xF0) == 0x80 || (r.ev[i].msg[0] & 0xF0) == 0x90);
        }
    }
    printf("%d MIDI events recorded; the first sound at frame %ld, %s\n", ne, F,
           note_at_F ? "on a note-on's frame" : "on NO note-on");
    if (!note_at_F) {
        fprintf(stderr, "FAIL: the output starts at frame %ld, where the source sent no note-on\n", F);
        return 1;
    }
    float *ref = calloc((size_t)r.total, sizeof(float));
    hiss_synth_opts o = ts_opts(8, 1.0f, 1.0f, 0);
    if (ts_render(model, &o, r.ev, ne, F, ref + F, r.total - F) != 0)
        return 1;
    double worst = 0, energy = 0;
    long bad = -1;
    for (long t = F; t < r.total; t++) {
        double d = fabs((double)r.y[t] - (double)ref[t]);
        if (!(d <= worst))
            worst = d;
        if (!(d == 0.0) && bad < 0)
            bad = t;
        energy += (double)r.y[t] * r.y[t];
    }
    double rmsv = sqrt(energy / (double)(r.total - F));
    printf("frames [%ld, %ld): %d note-ons, %d note-offs from the source; host output rms %.4f\n", F, r.total,
           ons, offs, rmsv);
    printf("max |host output - engine with the same events at the same frames| = %.3g\n", worst);
    if (ons < 4) {
        fprintf(stderr, "FAIL: only %d note-ons reached the synth\n", ons);
        return 1;
    }
    if (bad >= 0) {
        fprintf(stderr, "FAIL: frame %ld: host %.9g, engine %.9g\n", bad, r.y[bad], ref[bad]);
        return 1;
    }
    printf("host output matches the engine sample for sample\n");
    free(ref);
    free(r.y);
    return 0;
}
