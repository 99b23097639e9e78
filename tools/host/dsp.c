/* The audio thread's work (dsp.h). MIDI from the live ring takes effect at the start of the block
 * it is found in (its exact time within the previous block is not known here); events of a MIDI
 * file take effect at their own sample through the player that hiss-render --midi uses too
 * (tools/midi/midiplay.h), so a file played live renders exactly as offline. */
#include <math.h>
#include <string.h>

#include "dsp.h"

static void drain_midi(hiss_host_dsp *d)
{
    hiss_midi_msg m;
    while (hiss_spsc_read(&d->midi->ring, &m, 1) == 1)
        hiss_synth_midi(d->synth, m.b, m.len);
}

static void run_synth(hiss_host_dsp *d, float *out, int n)
{
    if (d->midi)
        drain_midi(d);
    if (d->file) {
        hiss_midi_player_process(d->file, d->synth, out, n);
        if (hiss_midi_player_done(d->file))
            atomic_store_explicit(&d->file_done, 1, memory_order_relaxed);
    } else {
        hiss_synth_process(d->synth, out, n);
    }
    atomic_store_explicit(&d->voices, hiss_synth_active_voices(d->synth), memory_order_relaxed);
    atomic_store_explicit(&d->gpu_late, hiss_synth_get_counters(d->synth).deadline_misses, memory_order_relaxed);
}

void hiss_host_dsp_process(hiss_host_dsp *d, const float *in, float *out, int n)
{
    if (d->synth) {
        run_synth(d, out, n);
    } else {
        const float *src = in ? in : d->zeros;
        hiss_stream_process(d->stream, &src, &out, n);
        atomic_store_explicit(&d->gpu_late, hiss_stream_deadline_misses(d->stream), memory_order_relaxed);
    }
    float peak = 0.0f;
    for (int t = 0; t < n; t++) {
        out[t] *= d->gain;
        const float a = fabsf(out[t]);
        peak = a > peak ? a : peak;
    }
    if (d->rec)
        hiss_recorder_push(d->rec, out, (size_t)n);
    uint32_t bits, old = atomic_load_explicit(&d->peak_bits, memory_order_relaxed);
    memcpy(&bits, &peak, sizeof bits);
    /* Non-negative floats order as their bit patterns do. */
    while (bits > old && !atomic_compare_exchange_weak_explicit(&d->peak_bits, &old, bits, memory_order_relaxed,
                                                                memory_order_relaxed))
        ;
    d->frames += (uint64_t)n;
    atomic_store_explicit(&d->frames_done, d->frames, memory_order_relaxed);
}

float hiss_host_dsp_take_peak(hiss_host_dsp *d)
{
    const uint32_t bits = atomic_exchange_explicit(&d->peak_bits, 0, memory_order_relaxed);
    float p;
    memcpy(&p, &bits, sizeof p);
    return p;
}
