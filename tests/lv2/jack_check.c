/* hiss-jack-check: plays a signal into a plugin host's JACK ports, records what comes back, and
 * compares it with the engine run directly.
 *
 *   hiss-jack-check CLIENT CHANNELS MODEL SILENCE_S SIGNAL_S READY_FILE
 *
 * Two JACK clients (player and recorder), so the graph player -> CLIENT -> recorder has no
 * cycle and the recorder hears, in each period, what the plugin made of that period's input.
 * It plays SILENCE_S seconds of silence, creating READY_FILE once running so the caller can load
 * a preset into the host meanwhile, then SIGNAL_S seconds of signal. Until the model takes over
 * the plugin passes the silence through (exact zeros); the first non-zero output frame T is the
 * swap (the crossfade's first gain is above 0). The engine, started at T on the same input
 * (knobs at the preset's 0.5), must give the recorded output after the 20 ms crossfade. */
#include <jack/jack.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hiss.h"
#include "jack_util.h"
#include "models.h"

#define WHO "hiss-jack-check"

typedef struct io {
    jack_client_t *play, *rec;
    jack_port_t *out[2], *in[2];
    int nch;
    float *x[2], *y[2];
    long total;
    atomic_int start;          /* set by main: the player starts at its next period */
    atomic_long base;          /* frame time of the first played frame, -1 before */
    atomic_long recorded;      /* frames the recorder has stored */
} io;

static int play_cb(jack_nframes_t n, void *arg)
{
    io *c = arg;
    jack_nframes_t now = jack_last_frame_time(c->play);
    long base = atomic_load(&c->base);
    if (base < 0 && atomic_load(&c->start)) {
        base = (long)now;
        atomic_store(&c->base, base);
    }
    for (int k = 0; k < c->nch; k++) {
        float *o = jack_port_get_buffer(c->out[k], n);
        for (jack_nframes_t i = 0; i < n; i++) {
            long t = base < 0 ? -1 : (long)now + (long)i - base;
            o[i] = t >= 0 && t < c->total ? c->x[k][t] : 0.0f;
        }
    }
    return 0;
}

static int rec_cb(jack_nframes_t n, void *arg)
{
    io *c = arg;
    long base = atomic_load(&c->base);
    if (base < 0)
        return 0;
    long now = (long)jack_last_frame_time(c->rec);
    long got = 0;
    for (int k = 0; k < c->nch; k++) {
        const float *in = jack_port_get_buffer(c->in[k], n);
        for (jack_nframes_t i = 0; i < n; i++) {
            long t = now + (long)i - base;
            if (t >= 0 && t < c->total) {
                c->y[k][t] = in[i];
                if (t + 1 > got)
                    got = t + 1;
            }
        }
    }
    if (got > atomic_load(&c->recorded))
        atomic_store(&c->recorded, got);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: hiss-jack-check CLIENT CHANNELS MODEL SILENCE_S SIGNAL_S READY_FILE\n");
        return 2;
    }
    const char *client = argv[1], *model = argv[3], *ready = argv[6];
    io c;
    memset(&c, 0, sizeof c);
    c.nch = atoi(argv[2]) == 2 ? 2 : 1;
    atomic_init(&c.start, 0);
    atomic_init(&c.base, -1);
    atomic_init(&c.recorded, 0);
    jack_status_t st;
    c.play = jack_client_open("hiss_play", JackNoStartServer, &st);
    c.rec = jack_client_open("hiss_rec", JackNoStartServer, &st);
    if (!c.play || !c.rec) {
        fprintf(stderr, "hiss-jack-check: no JACK server (status 0x%x)\n", (unsigned)st);
        return 1;
    }
    double rate = jack_get_sample_rate(c.play);
    long silence = (long)(atof(argv[4]) * rate), signal = (long)(atof(argv[5]) * rate);
    c.total = silence + signal;
    for (int k = 0; k < c.nch; k++) {
        c.x[k] = calloc((size_t)c.total, sizeof(float));
        c.y[k] = calloc((size_t)c.total, sizeof(float));
        tm_signal(c.x[k] + silence, signal, 21u + 5u * (uint32_t)k, rate);
        char name[16];
        snprintf(name, sizeof name, "out_%d", k + 1);
        c.out[k] = jack_port_register(c.play, name, JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
        snprintf(name, sizeof name, "in_%d", k + 1);
        c.in[k] = jack_port_register(c.rec, name, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
    }
    jack_set_process_callback(c.play, play_cb, &c);
    jack_set_process_callback(c.rec, rec_cb, &c);
    if (jack_activate(c.play) || jack_activate(c.rec)) {
        fprintf(stderr, "hiss-jack-check: cannot activate the clients\n");
        return 1;
    }
    const char *sym_in[2] = {c.nch == 2 ? "in_l" : "in", "in_r"};
    const char *sym_out[2] = {c.nch == 2 ? "out_l" : "out", "out_r"};
    for (int k = 0; k < c.nch; k++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "%s:%s", client, sym_in[k]);
        snprintf(b, sizeof b, "%s:%s", client, sym_out[k]);
        if (tj_connect_retry(c.play, jack_port_name(c.out[k]), a, WHO) ||
            tj_connect_retry(c.rec, b, jack_port_name(c.in[k]), WHO))
            return 1;
    }
    atomic_store(&c.start, 1);
    while (atomic_load(&c.base) < 0)
        tj_nap(5);
    FILE *rf = fopen(ready, "w");
    if (rf)
        fclose(rf);
    printf("playing %.1f s of silence, then %.1f s of signal at %g Hz through %s\n", silence / rate,
           signal / rate, rate, client);
    double limit = (double)c.total / rate + 60.0;
    time_t t0 = time(NULL);
    while (atomic_load(&c.recorded) < c.total && difftime(time(NULL), t0) < limit)
        tj_nap(20);
    jack_deactivate(c.play);
    jack_deactivate(c.rec);
    jack_client_close(c.play);
    jack_client_close(c.rec);
    if (atomic_load(&c.recorded) < c.total) {
        fprintf(stderr, "FAIL: recorded %ld of %ld frames\n", atomic_load(&c.recorded), c.total);
        return 1;
    }

    long T = -1;
    for (long t = 0; t < c.total && T < 0; t++)
        for (int k = 0; k < c.nch; k++)
            if (c.y[k][t] != 0.0f)
                T = t;
    if (T < 0 || T >= silence) {
        fprintf(stderr, "FAIL: the model did not take over during the silence (first non-zero output at "
                "frame %ld, silence ends at %ld)\n", T, silence);
        return 1;
    }
    printf("the model took over at frame %ld (%.3f s)\n", T, T / rate);

    /* Knobs at 0.5 (the preset's value), mapped onto the model's ranges. */
    float cond[4];
    int n_cond = tm_knob_conds(model, 0.5f, cond);
    if (n_cond < 0)
        return 1;
    float *ref[2] = {NULL, NULL};
    const float *ip[2];
    float *op[2];
    for (int k = 0; k < c.nch; k++) {
        ref[k] = calloc((size_t)c.total, sizeof(float));
        ip[k] = c.x[k] + T;
        op[k] = ref[k] + T;
    }
    if (tm_render(model, rate, c.nch, ip, op, c.total - T, cond, n_cond) != 0)
        return 1;
    long from = T + (long)(0.025 * rate);
    double worst = 0;
    long bad = -1;
    for (int k = 0; k < c.nch; k++)
        for (long t = from; t < c.total; t++) {
            double d = fabs((double)c.y[k][t] - ref[k][t]);
            if (!(d <= worst))
                worst = d;
            if (!(d <= 1e-6) && bad < 0)
                bad = t;
        }
    printf("frames [%ld, %ld) x %d channel(s): max |host output - engine| = %.3g\n", from, c.total, c.nch, worst);
    if (bad >= 0) {
        fprintf(stderr, "FAIL: frame %ld differs by more than 1e-6\n", bad);
        return 1;
    }
    printf("host output matches the engine\n");
    return 0;
}
