/* What hiss-host's audio callback does, apart from PortAudio: take queued MIDI, play the events of
 * a --midi-file at their exact sample, run the model (fx stream or synth), apply the gain, measure
 * the peak, hand the block to the recorder. Real-time: no allocation, lock, log or I/O; the
 * counters the status line shows are atomics. */
#ifndef HISS_HOST_DSP_H
#define HISS_HOST_DSP_H

#include <stdatomic.h>
#include <stdint.h>

#include "hiss.h"
#include "hiss_synth.h"
#include "midi_in.h"
#include "midiplay.h"
#include "recorder.h"

typedef struct hiss_host_dsp {
    hiss_stream *stream;           /* fx mode */
    hiss_synth *synth;             /* synth mode */
    int max_block;
    float *zeros;                  /* [max_block]: input when the device gives none */
    float gain;
    hiss_midi_in *midi;            /* live MIDI, or NULL */
    hiss_midi_player *file;        /* --midi-file events at their samples (tools/midi), or NULL */
    hiss_recorder *rec;            /* or NULL */
    uint64_t frames;               /* audio thread's own count */

    _Atomic uint64_t frames_done;  /* published copies for the status line */
    _Atomic uint64_t callbacks;
    _Atomic uint64_t xruns;
    _Atomic uint32_t peak_bits;    /* float bits of the largest |output| since the last read */
    _Atomic int voices;
    _Atomic uint64_t gpu_late;     /* blocks the GPU finished after the deadline (silence) */
    _Atomic int file_done;
} hiss_host_dsp;

/* One block of n <= max_block frames: in may be NULL (synth, or no input). */
void hiss_host_dsp_process(hiss_host_dsp *d, const float *in, float *out, int n);
/* Status thread: the peak since the last call, and reset it. */
float hiss_host_dsp_take_peak(hiss_host_dsp *d);

#endif
