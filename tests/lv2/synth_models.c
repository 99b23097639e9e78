#include "synth_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"

int ts_make(const char *path, double rate, int d_model, int n_layer, uint64_t seed)
{
    hiss_config c = {0};
    c.d_model = d_model;
    c.n_layer = n_layer;
    c.d_state = 4;
    c.d_conv = 3;
    c.sample_rate = rate;
    hiss_synth_model *m = NULL;
    hiss_error e = {0};
    if (hiss_synth_model_init(&c, "pitch,velocity,gate,onset,decay,release,sin1,cos1", 1, seed, &m, &e) != HISS_OK ||
        hiss_synth_model_save(m, path, &e) != HISS_OK) {
        fprintf(stderr, "ts_make: %s: %s\n", path, e.msg);
        hiss_synth_model_free(m);
        return -1;
    }
    hiss_synth_model_free(m);
    return 0;
}

hiss_synth_opts ts_opts(int voices, float temperature, float top_p, uint32_t seed)
{
    hiss_synth_opts o = hiss_synth_opts_default();
    o.n_voices = voices;
    o.temperature = temperature;
    o.top_p = top_p;
    o.seed = seed;
    return o;
}

int ts_render(const char *path, const hiss_synth_opts *o, const ts_event *ev, int n_ev, long start,
              float *out, long n)
{
    return ts_render_ctl(path, o, ev, n_ev, NULL, 0, start, out, n);
}

int ts_render_ctl(const char *path, const hiss_synth_opts *o, const ts_event *ev, int n_ev,
                  const ts_ctl *ctl, int n_ctl, long start, float *out, long n)
{
    hiss_synth_model *m = NULL;
    hiss_synth *s = NULL;
    hiss_error e = {0};
    if (hiss_synth_model_load(path, &m, &e) != HISS_OK || hiss_synth_create(m, o, &s, &e) != HISS_OK) {
        fprintf(stderr, "ts_render: %s: %s\n", path, e.msg);
        hiss_synth_model_free(m);
        return -1;
    }
    hiss_fpguard fp = hiss_fp_enter();
    long t = 0;
    int i = 0, j = 0;
    while (i < n_ev && ev[i].frame < start)
        i++;
    while (j < n_ctl && ctl[j].frame < start)
        j++;
    int rc = 0;
    while (t < n) {
        /* Up to the next event or change, then the changes and the events: the API's own
         * contract for sample positions. */
        long until = n;
        if (i < n_ev && ev[i].frame - start < until)
            until = ev[i].frame - start;
        if (j < n_ctl && ctl[j].frame - start < until)
            until = ctl[j].frame - start;
        if (until > t) {
            hiss_synth_process(s, out + t, (int)(until - t));
            t = until;
        }
        for (; j < n_ctl && ctl[j].frame - start == t; j++) {
            if (ctl[j].is_seed)
                hiss_synth_set_seed(s, ctl[j].seed);
            else if (hiss_synth_set_sampling(s, ctl[j].temperature, ctl[j].top_p) != HISS_OK)
                rc = -1;
        }
        while (i < n_ev && ev[i].frame - start == t) {
            hiss_synth_midi(s, ev[i].msg, ev[i].len);
            i++;
        }
    }
    hiss_fp_leave(fp);
    hiss_synth_free(s);
    hiss_synth_model_free(m);
    if (rc != 0)
        fprintf(stderr, "ts_render: %s: the engine refused a sampling setting\n", path);
    return rc;
}

int ts_held_at(const ts_event *ev, int n_ev, long at, ts_event *out)
{
    int down[128] = {0}, held_by_pedal[128] = {0}, pedal = 0;
    uint8_t bend[3] = {0xE0, 0, 0x40};
    for (int i = 0; i < n_ev && ev[i].frame < at; i++) {
        const uint8_t *m = ev[i].msg;
        if (ev[i].len != 3 || m[0] < 0x80 || m[0] >= 0xF0 || (m[1] & 0x80) || (m[2] & 0x80))
            continue;
        int type = m[0] & 0xF0, k = m[1], v = m[2];
        if (type == 0x90 && v > 0) {
            down[k] = v;
            held_by_pedal[k] = 0;
        } else if (type == 0x80 || type == 0x90) {
            if (down[k] && pedal)
                held_by_pedal[k] = down[k];
            down[k] = 0;
        } else if (type == 0xB0 && k == 64) {
            pedal = v >= 64;
            if (!pedal)
                memset(held_by_pedal, 0, sizeof held_by_pedal);
        } else if (type == 0xB0 && (k == 120 || k == 123)) {
            memset(down, 0, sizeof down);
            memset(held_by_pedal, 0, sizeof held_by_pedal);
            if (k == 120) {
                pedal = 0;
                bend[1] = 0;
                bend[2] = 0x40;
            }
        } else if (type == 0xE0) {
            memcpy(bend, m, 3);
        }
    }
    int n = 0;
    if (bend[1] != 0 || bend[2] != 0x40)
        out[n++] = (ts_event){at, 3, {bend[0], bend[1], bend[2]}};
    if (pedal)
        out[n++] = (ts_event){at, 3, {0xB0, 64, 127}};
    for (int k = 0; k < 128; k++) {
        int v = down[k] ? down[k] : held_by_pedal[k];
        if (!v)
            continue;
        out[n++] = (ts_event){at, 3, {0x90, (uint8_t)k, (uint8_t)v}};
        if (!down[k])
            out[n++] = (ts_event){at, 3, {0x80, (uint8_t)k, 0}};
    }
    return n;
}

ts_event *ts_segment(const ts_event *ev, int n_ev, long at, int *n_out)
{
    ts_event *out = malloc((size_t)(n_ev + 260) * sizeof *out);
    int n = ts_held_at(ev, n_ev, at, out);
    for (int i = 0; i < n_ev; i++)
        if (ev[i].frame >= at)
            out[n++] = ev[i];
    *n_out = n;
    return out;
}
