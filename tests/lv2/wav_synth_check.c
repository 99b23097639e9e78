/* hiss-wav-synth-check: compares a host's export of the Synth plugin with the engine playing the
 * same notes.
 *
 *   hiss-wav-synth-check EXPORT.wav MODEL BPM NOTES
 *
 * EXPORT.wav is 32-bit float, two channels: channel 1 the plugin's output, channel 2 nothing
 * (must be silent). NOTES is "start:length:key:velocity,..." in ticks of 1/1920 beat at BPM, the
 * notes of the host's MIDI region (placed at the export's frame 0); each note-on and note-off
 * falls on frame ticks * rate * 60 / (BPM * 1920). The engine (hiss_synth API, the plugin's
 * default controls, as the preset sets them) plays those events at those frames from a fresh
 * synth; the export must be the same, sample for sample. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth_models.h"
#include "wav.h"

static int by_frame(const void *a, const void *b)
{
    const ts_event *x = a, *y = b;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: hiss-wav-synth-check EXPORT.wav MODEL BPM NOTES\n");
        return 2;
    }
    double rate = 0;
    float *y = NULL, *y2 = NULL; /* the plugin's output, and the channel that must be silent */
    long n = tw_read_stereo(argv[1], &rate, &y, &y2);
    if (n < 0)
        return 1;
    const double bpm = atof(argv[3]);
    ts_event ev[512];
    int ne = 0, notes = 0;
    for (const char *p = argv[4]; *p && ne < 510;) {
        long start, len;
        int key, vel, used = 0;
        if (sscanf(p, "%ld:%ld:%d:%d%n", &start, &len, &key, &vel, &used) != 4) {
            fprintf(stderr, "FAIL: bad note list at \"%s\"\n", p);
            return 2;
        }
        /* frame = ticks * rate * 60 / (bpm * 1920), in integers: it must come out whole */
        long num = lround(rate) * 60, den = lround(bpm) * 1920;
        if ((start * num) % den != 0 || ((start + len) * num) % den != 0) {
            fprintf(stderr, "FAIL: note %d at tick %ld does not start and end on whole frames\n", key, start);
            return 2;
        }
        ev[ne++] = (ts_event){start * num / den, 3, {0x90, (uint8_t)key, (uint8_t)vel}};
        ev[ne++] = (ts_event){(start + len) * num / den, 3, {0x80, (uint8_t)key, 64}};
        notes++;
        p += used;
        if (*p == ',')
            p++;
    }
    qsort(ev, (size_t)ne, sizeof *ev, by_frame);
    for (int i = 1; i < ne; i++)
        if (ev[i].frame == ev[i - 1].frame) {
            fprintf(stderr, "FAIL: two events on frame %ld: their order in the host is not known\n", ev[i].frame);
            return 2;
        }
    float *ref = calloc((size_t)n, sizeof(float));
    double other = 0, energy = 0, worst = 0;
    long bad = -1;
    for (long t = 0; t < n; t++)
        other = fmax(other, fabs((double)y2[t]));
    hiss_synth_opts o = ts_opts(8, 1.0f, 1.0f, 0);
    if (ts_render(argv[2], &o, ev, ne, 0, ref, n) != 0)
        return 1;
    long first = -1;
    for (long t = 0; t < n; t++) {
        double d = fabs((double)y[t] - (double)ref[t]);
        if (!(d <= worst))
            worst = d;
        if (!(d == 0.0) && bad < 0)
            bad = t;
        if (y[t] != 0.0f && first < 0)
            first = t;
        energy += (double)y[t] * y[t];
    }
    printf("%ld frames at %g Hz; %d notes, first at frame %ld; the plugin's first sound at frame %ld; "
           "output rms %.4f; channel 2 peak %.3g\n", n, rate, notes, ev[0].frame, first, sqrt(energy / (double)n),
           other);
    printf("max |host output - engine with the same notes at the same frames| = %.3g\n", worst);
    if (other != 0.0) {
        fprintf(stderr, "FAIL: channel 2 carries sound: the routing is not what the script set\n");
        return 1;
    }
    if (first != ev[0].frame) {
        fprintf(stderr, "FAIL: the first sound is at frame %ld, the first note at %ld\n", first, ev[0].frame);
        return 1;
    }
    if (bad >= 0) {
        fprintf(stderr, "FAIL: frame %ld: host %.9g, engine %.9g\n", bad, y[bad], ref[bad]);
        return 1;
    }
    printf("host output matches the engine sample for sample\n");
    free(y);
    free(y2);
    free(ref);
    return 0;
}
