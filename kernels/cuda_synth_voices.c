/* hiss_synth on the CUDA backend: each process call hands the voices sounding at its start to
 * the device as one batch (hiss_cuda_synth.h), which runs them through all of the call's
 * samples; then the CPU's own bookkeeping walks the outputs sample by sample, exactly as the
 * CPU synth does: a voice freed (or cut for non-finite logits) at sample t contributes nothing
 * after t and the device's later samples of it are dropped. Events only arrive between calls,
 * so each voice's note is fixed for the call but for its clocks and phase, which the device
 * advances as hiss_synth_note_advance does. */
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
    int slots[HISS_SYNTH_MAX_VOICES];
    hc_synth_note notes[HISS_SYNTH_MAX_VOICES];
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
    hc_synth_start(g->d, k, r);
}

void hiss_synth_gpu_process(hiss_synth_gpu *g, hiss_synth_voices *vs, hiss_synth_counters *c,
                            float *out, int n)
{
    for (int off = 0; off < n;) {
        const int len = n - off < GPU_MAX_RUN ? n - off : GPU_MAX_RUN;
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
            g->slots[nv++] = k;
        }
        const float *y = NULL;
        const int *bad = NULL;
        if (nv == 0 || hc_synth_run(g->d, g->slots, g->notes, nv, len, &y, &bad) != HISS_OK) {
            /* no voice, or a device error: silence (the voices wait where they are) */
            memset(out + off, 0, sizeof(float) * (size_t)len);
            off += len;
            continue;
        }
        for (int t = 0; t < len; t++) {
            double sum = 0.0;
            for (int j = 0; j < nv; j++) {
                const int k = g->slots[j];
                hiss_synth_voice *v = &vs->v[k];
                if (!v->active)
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
            out[off + t] = (float)sum;
        }
        off += len;
    }
}
