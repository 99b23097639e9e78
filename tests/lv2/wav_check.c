/* hiss-wav-check: compares a host's export with the engine.
 *
 *   hiss-wav-check EXPORT.wav MODEL SETTLE_S [LATENCY]
 *
 * EXPORT.wav is 32-bit float, two channels: channel 1 the input as it reached the plugin (a
 * track without the plugin, fed from the same source), channel 2 the plugin's output. The host
 * ran the plugin on that source before the exported range (pre-roll, monitoring), so the plugin's
 * state at the range's start is unknown; the engine, started from the zero state at the range's
 * start, forgets that difference as its state decays. After SETTLE_S seconds the two must agree:
 * the tool first measures that the model has forgotten its start by then (the engine started at
 * 0 and at SETTLE_S/3 agree after SETTLE_S), then compares the host with the engine. LATENCY:
 * the plugin's reported latency in frames, which the host did not compensate (a live input,
 * monitored): the output is compared with the engine's that many frames earlier. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "wav.h"

/* max |a[t] - b[t - lag]| over [from, to) */
static double max_diff(const float *a, const float *b, long lag, long from, long to)
{
    double m = 0;
    for (long t = from; t < to; t++) {
        double d = fabs((double)a[t] - (double)b[t - lag]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: hiss-wav-check EXPORT.wav MODEL SETTLE_S [LATENCY]\n");
        return 2;
    }
    double rate = 0;
    float *x = NULL, *y = NULL; /* the input as it reached the plugin, the plugin's output */
    long n = tw_read_stereo(argv[1], &rate, &x, &y);
    if (n < 0)
        return 1;
    float *ref = calloc((size_t)n, sizeof(float)), *ref2 = calloc((size_t)n, sizeof(float));
    long settle = (long)(atof(argv[3]) * rate);
    const long lag = argc == 5 ? atol(argv[4]) : 0;
    if (lag < 0 || lag >= settle) {
        fprintf(stderr, "FAIL: latency %ld is not 0 to the settling time\n", lag);
        return 1;
    }
    if (settle >= n) {
        fprintf(stderr, "FAIL: the export (%ld frames) is shorter than the settling time\n", n);
        return 1;
    }
    float cond[4];
    int n_cond = tm_knob_conds(argv[2], 0.5f, cond);
    const float *ip = x;
    float *op = ref;
    if (n_cond < 0 || tm_render(argv[2], rate, 1, &ip, &op, n, cond, n_cond) != 0)
        return 1;
    long late = settle / 3;
    ip = x + late;
    op = ref2 + late;
    if (tm_render(argv[2], rate, 1, &ip, &op, n - late, cond, n_cond) != 0)
        return 1;
    double forget = max_diff(ref, ref2, 0, settle, n);
    double err = max_diff(y, ref, lag, settle, n);
    double rms = 0;
    for (long t = settle; t < n; t++)
        rms += (double)y[t] * y[t];
    rms = sqrt(rms / (double)(n - settle));
    printf("%ld frames at %g Hz; output rms %.4f; compared from %.2f s\n", n, rate, rms, settle / rate);
    printf("the engine started %.2f s apart agrees to %.3g after %.2f s (the model's memory)\n", late / rate,
           forget, settle / rate);
    printf("max |host output - engine%s| = %.3g\n", lag ? " delayed by the latency" : "", err);
    if (!(forget <= 1e-5)) {
        fprintf(stderr, "FAIL: the model still remembers its start after %.2f s; export longer\n", settle / rate);
        return 1;
    }
    if (!(rms > 1e-4)) {
        fprintf(stderr, "FAIL: the plugin's output is silent\n");
        return 1;
    }
    if (!(err <= 1e-5)) {
        fprintf(stderr, "FAIL: the host's output differs from the engine's\n");
        return 1;
    }
    printf("host output matches the engine\n");
    return 0;
}
