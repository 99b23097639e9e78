/* hiss_synth on the CUDA backend: each process call hands the voices sounding at its start to
 * the device as one batch (hiss_cuda_synth.h), which runs them through all of the call's
 * samples; then the CPU's own bookkeeping walks the outputs sample by sample, exactly as the
 * CPU synth does: a voice freed (or cut for non-finite logits) at sample t contributes nothing
 * after t and the device's later samples of it are dropped. Events only arrive between calls,
 * so each voice's note is fixed for the call but for its clocks and phase, which the device
 * advances as hiss_synth_note_advance does. With a deadline (hiss_synth_opts.deadline_us) the
 * audio thread never waits past it: a late run is left running, the call plays silence, and the
 * next call settles the run's bookkeeping before it launches its own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hiss_cuda_synth.h"
#include "synth_backend.h"
#include "synth_model.h"

/* Samples per device run: a longer call is several runs. */
#define GPU_MAX_RUN 512

struct hiss_synth_gpu {
    hc_synth *d;
    double rate;
    double deadline_s; /* 0: wait as long as the device takes */
    int slots[HISS_SYNTH_MAX_VOICES];
    hc_synth_note notes[HISS_SYNTH_MAX_VOICES];
    /* Voice k's note count: a late run's outputs belong to the notes it was launched with, not
     * to a note started on the same voice since. */
    uint32_t gen[HISS_SYNTH_MAX_VOICES];
    /* The run launched, with its voices and their notes at launch. */
    int run_nv, run_len;
    int run_slot[HISS_SYNTH_MAX_VOICES];
    uint32_t run_gen[HISS_SYNTH_MAX_VOICES];
};

hiss_status hiss_synth_gpu_create(const hiss_synth_model *m, const hiss_synth_opts *o,
                                  hiss_synth_gpu **out, hiss_error *err)
{
    *out = NULL;
    if (o->backend == HISS_BACKEND_CPU)
        return HISS_OK;
    if (!hiss_cuda_device_present()) {
        if (o->backend == HISS_BACKEND_AUTO)
            return HISS_OK;
        hiss_seterr(err, HISS_ERR_BACKEND, "synth: backend cuda: no CUDA device is present");
        return HISS_ERR_BACKEND;
    }
    hiss_synth_gpu *g = calloc(1, sizeof *g);
    if (!g) {
        hiss_seterr(err, HISS_ERR_NOMEM, "synth: out of memory");
        return HISS_ERR_NOMEM;
    }
    g->rate = m->cfg.sample_rate;
    g->deadline_s = o->deadline_us * 1e-6;
    const hiss_status st = hc_synth_create(m, o->n_voices, GPU_MAX_RUN, o->temperature, o->top_p, &g->d, err);
    if (st != HISS_OK) {
        free(g);
        return st;
    }
    *out = g;
    return HISS_OK;
}

void hiss_synth_gpu_free(hiss_synth_gpu *g)
{
    if (!g)
        return;
    hc_synth_free(g->d);
    free(g);
}

void hiss_synth_gpu_note_on(hiss_synth_gpu *g, int k, const hiss_synth_rng *r)
{
    g->gen[k]++;
    hc_synth_start(g->d, k, r);
}

void hiss_synth_gpu_set_sampling(hiss_synth_gpu *g, float temperature, float top_p)
{
    hc_synth_set_sampling(g->d, temperature, top_p);
}

void hiss_synth_gpu_set_deadline(hiss_synth_gpu *g, double deadline_us)
{
    g->deadline_s = deadline_us * 1e-6;
}

/* Launch the voices sounding now for len samples; 0, or -1 when there is nothing to run. */
static int launch(hiss_synth_gpu *g, const hiss_synth_voices *vs, int len)
{
    int nv = 0;
    for (int k = 0; k < vs->n; k++) {
        const hiss_synth_voice *v = &vs->v[k];
        if (!v->active)
            continue;
        hc_synth_note *nt = &g->notes[nv];
        nt->pitch = v->note.pitch;
        nt->phase = v->note.phase;
        /* hiss_synth_note_advance's step, computed as it computes it */
        const double f = 440.0 * exp2((v->note.pitch - 69.0) / 12.0);
        nt->inc = f / vs->rate;
        nt->n_on = v->note.n_on;
        nt->n_off = v->note.n_off;
        nt->velocity = v->note.velocity;
        nt->gate = v->note.gate;
        g->run_slot[nv] = k;
        g->run_gen[nv] = g->gen[k];
        nv++;
    }
    if (nv == 0 || hc_synth_launch(g->d, g->run_slot, g->notes, nv, len) != HISS_OK)
        return -1;
    g->run_nv = nv;
    g->run_len = len;
    return 0;
}

/* The CPU's bookkeeping over a collected run, sample by sample as the CPU synth does it: a voice
 * freed (or cut for non-finite logits) at sample t contributes nothing after t. out NULL: the
 * run came too late to be heard, only its bookkeeping is done. */
static void settle(hiss_synth_gpu *g, hiss_synth_voices *vs, hiss_synth_counters *c, const float *y,
                   const int *bad, float *out)
{
    const int nv = g->run_nv, len = g->run_len;
    for (int t = 0; t < len; t++) {
        double sum = 0.0;
        for (int j = 0; j < nv; j++) {
            const int k = g->run_slot[j];
            hiss_synth_voice *v = &vs->v[k];
            if (!v->active || g->gen[k] != g->run_gen[j])
                continue;
            if (t == bad[j]) {
                /* the model diverged for this voice: cut it, as the CPU does */
                v->active = 0;
                c->voice_resets++;
                continue;
            }
            const float x = y[(size_t)j * len + t];
            sum += x;
            c->freed += (uint64_t)hiss_synth_voices_advance(vs, k, x);
        }
        if (out)
            out[t] = (float)sum;
    }
}

void hiss_synth_gpu_process(hiss_synth_gpu *g, hiss_synth_voices *vs, hiss_synth_counters *c,
                            float *out, int n)
{
    const double until = g->deadline_s > 0.0 ? hc_synth_now() + g->deadline_s : -1.0;
    const float *y;
    const int *bad;
    if (hc_synth_in_flight(g->d)) {
        /* A run an earlier call gave up on: its voices go on from where it left them. Still
         * running by this call's deadline: this call is silent too, and nothing new starts. */
        const int r = hc_synth_collect(g->d, until, &y, &bad);
        if (r == 0) {
            memset(out, 0, sizeof(float) * (size_t)n);
            c->deadline_misses++;
            return;
        }
        if (r == 1)
            settle(g, vs, c, y, bad, NULL);
    }
    for (int off = 0; off < n;) {
        const int len = n - off < GPU_MAX_RUN ? n - off : GPU_MAX_RUN;
        if (launch(g, vs, len) != 0) {
            /* no voice, or a device error: silence (the voices wait where they are) */
            memset(out + off, 0, sizeof(float) * (size_t)len);
            off += len;
            continue;
        }
        const int r = hc_synth_collect(g->d, until, &y, &bad);
        if (r == 0) {
            /* Late: the rest of the call is silent and counted once; the run is settled by the
             * next call, and the samples after it in this call are not played. */
            memset(out + off, 0, sizeof(float) * (size_t)(n - off));
            c->deadline_misses++;
            return;
        }
        if (r == 1)
            settle(g, vs, c, y, bad, out + off);
        else
            memset(out + off, 0, sizeof(float) * (size_t)len);
        off += len;
    }
}
