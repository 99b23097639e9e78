/* The FX plugin's DSP: gains, dry/wet, bypass, knobs, and the crossfade between two models.
 * Model loading, state and the notify port are the slot's, instantiation and the worker and
 * state interfaces plugin.c's (both shared with every hiss plugin). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lv2/core/lv2.h>

#include "fx.h"
#include "hiss.h"
#include "plugin.h"
#include "slot.h"
#include "smooth.h"

/* Port indices, the same in hiss.ttl; the audio ports come after the rest so mono and stereo
 * share them: inputs P_AUDIO .. P_AUDIO+nch-1, outputs P_AUDIO+nch .. P_AUDIO+2*nch-1. The
 * freewheel port, added later, follows them (P_AUDIO+2*nch), so no port older sessions know
 * moved. */
enum {
    P_IN_GAIN = HP_PORT_NOTIFY + 1,
    P_OUT_GAIN,
    P_MIX,
    P_ENABLED,
    P_KNOB1,
    P_LATENCY = P_KNOB1 + HP_MAX_KNOBS,
    P_AUDIO
};

#define HP_GAIN_DB_MIN (-24.0f)
#define HP_GAIN_DB_MAX 24.0f
#define HP_SMOOTH_SECONDS 0.010
#define HP_BYPASS_SECONDS 0.020
#define HP_KNOB_CHUNK 32     /* frames per set_cond while a knob glides */
#define HP_MAX_CHUNK 4096    /* frames per hiss_stream_process call */
#define HP_PREWARM_FRAMES 512
/* While the host freewheels (an export), how long one process call may wait for hiss-server:
 * long enough for any launch of a loaded server, short enough that an export against a hung one
 * still ends. A server that died is noticed at once and not waited for. */
#define HP_FREEWHEEL_WAIT_US 500000.0

typedef struct hp_fx {
    hp_plugin base; /* first: the shared entry points take the handle as an hp_plugin */
    int nch;

    const float *p_in_gain, *p_out_gain, *p_mix, *p_enabled, *p_knob[HP_MAX_KNOBS];
    float *p_latency;
    const float *p_freewheel;
    int freewheel; /* the host freewheels this run */
    const float *in[2];
    float *out[2];

    hp_smooth g_in, g_out, mix, knob[HP_MAX_KNOBS];
    hp_ramp bypass;

    /* [chunk] each, in base.mem */
    float *clean[2], *xin[2], *wa[2], *wb[2];
    float *dry[2];      /* the clean input base.latency frames ago (clean itself when 0) */
    float *dry_ring[2]; /* its delay line, base.latency frames (= chunk when not 0) */
    int dry_pos;
    float *gi, *go, *mx, *by;
} hp_fx;

static double db_to_gain(const float *port)
{
    return hp_db_gain(port, HP_GAIN_DB_MIN, HP_GAIN_DB_MAX);
}

static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *bundle,
                              const LV2_Feature *const *features)
{
    (void)bundle;
    int nch = strcmp(d->URI, HP_URI_FX_STEREO) == 0 ? 2 : 1;
    hp_fx *fx = (hp_fx *)hp_plugin_new(sizeof *fx, rate, features, HISS_IO_FX, nch, HP_MAX_CHUNK,
                                       HP_PREWARM_FRAMES, 6 * nch + 4);
    if (!fx)
        return NULL;
    fx->nch = nch;
    size_t c = (size_t)fx->base.chunk;
    float *p = fx->base.mem;
    for (int k = 0; k < fx->nch; k++) {
        fx->clean[k] = p, p += c;
        fx->xin[k] = p, p += c;
        fx->wa[k] = p, p += c;
        fx->wb[k] = p, p += c;
        fx->dry_ring[k] = p, p += c;
        fx->dry[k] = fx->base.latency > 0 ? p : fx->clean[k];
        p += c;
    }
    fx->gi = p, p += c;
    fx->go = p, p += c;
    fx->mx = p, p += c;
    fx->by = p;
    hp_smooth_init(&fx->g_in, rate, HP_SMOOTH_SECONDS);
    hp_smooth_init(&fx->g_out, rate, HP_SMOOTH_SECONDS);
    hp_smooth_init(&fx->mix, rate, HP_SMOOTH_SECONDS);
    for (int i = 0; i < HP_MAX_KNOBS; i++)
        hp_smooth_init(&fx->knob[i], rate, HP_SMOOTH_SECONDS);
    hp_ramp_init(&fx->bypass, rate, HP_BYPASS_SECONDS);
    return fx;
}

static void connect_port(LV2_Handle h, uint32_t port, void *data)
{
    hp_fx *fx = h;
    if (hp_plugin_connect(&fx->base, port, data))
        return;
    switch (port) {
    case P_IN_GAIN: fx->p_in_gain = data; return;
    case P_OUT_GAIN: fx->p_out_gain = data; return;
    case P_MIX: fx->p_mix = data; return;
    case P_ENABLED: fx->p_enabled = data; return;
    case P_LATENCY: fx->p_latency = data; return;
    default: break;
    }
    if (port >= P_KNOB1 && port < P_KNOB1 + HP_MAX_KNOBS)
        fx->p_knob[port - P_KNOB1] = data;
    else if (port >= P_AUDIO && port < (uint32_t)(P_AUDIO + fx->nch))
        fx->in[port - P_AUDIO] = data;
    else if (port >= (uint32_t)(P_AUDIO + fx->nch) && port < (uint32_t)(P_AUDIO + 2 * fx->nch))
        fx->out[port - P_AUDIO - fx->nch] = data;
    else if (port == (uint32_t)(P_AUDIO + 2 * fx->nch))
        fx->p_freewheel = data;
}

static void activate(LV2_Handle h)
{
    hp_fx *fx = h;
    hp_plugin_activate(&fx->base);
    /* activate() resets the plugin: every stream starts again from the zero state. */
    hp_slot *s = &fx->base.slot;
    hp_inst *live[2] = {s->cur, s->next};
    for (int j = 0; j < 2; j++) {
        if (!live[j])
            continue;
        if (live[j]->stream)
            hiss_stream_reset(live[j]->stream, -1);
        if (live[j]->pad)
            memset(live[j]->pad, 0, (size_t)fx->nch * (size_t)live[j]->pad_len * sizeof(float));
        live[j]->pad_pos = 0;
    }
    for (int k = 0; k < fx->nch; k++)
        memset(fx->dry_ring[k], 0, (size_t)fx->base.chunk * sizeof(float));
    fx->dry_pos = 0;
}

/* The input delayed by the plugin's latency, for the dry signal, the bypass and no model. */
static void delay_dry(hp_fx *fx, int n)
{
    const int L = fx->base.latency;
    if (L <= 0)
        return;
    for (int k = 0; k < fx->nch; k++) {
        float *ring = fx->dry_ring[k], *d = fx->dry[k];
        const float *c = fx->clean[k];
        int pos = fx->dry_pos;
        for (int t = 0; t < n; t++) {
            d[t] = ring[pos];
            ring[pos] = c[t];
            pos = pos + 1 == L ? 0 : pos + 1;
        }
    }
    fx->dry_pos = (int)(((long)fx->dry_pos + n) % L);
}

/* A CPU instance in a plugin whose latency a server set: its output delayed to match. */
static void pad_wet(hp_inst *in, float *const *y, int nch, int n)
{
    const int L = in->pad_len;
    if (L <= 0)
        return;
    for (int k = 0; k < nch; k++) {
        float *ring = in->pad + (size_t)k * (size_t)L;
        int pos = in->pad_pos;
        for (int t = 0; t < n; t++) {
            const float v = ring[pos];
            ring[pos] = y[k][t];
            y[k][t] = v;
            pos = pos + 1 == L ? 0 : pos + 1;
        }
    }
    in->pad_pos = (int)(((long)in->pad_pos + n) % L);
}

static void set_targets(hp_fx *fx)
{
    fx->g_in.target = db_to_gain(fx->p_in_gain);
    fx->g_out.target = db_to_gain(fx->p_out_gain);
    fx->mix.target = fx->p_mix ? hp_clampf(*fx->p_mix, 0.0f, 1.0f, 1.0f) : 1.0f;
    for (int i = 0; i < HP_MAX_KNOBS; i++)
        fx->knob[i].target = fx->p_knob[i] ? hp_clampf(*fx->p_knob[i], 0.0f, 1.0f, 0.5f) : 0.5f;
    int enabled = fx->p_enabled ? !(*fx->p_enabled < 0.5f) : 1; /* NaN counts as enabled */
    fx->bypass.target = enabled ? 0.0f : 1.0f;
    if (fx->base.first_run) {
        hp_smooth_jump(&fx->g_in, fx->g_in.target);
        hp_smooth_jump(&fx->g_out, fx->g_out.target);
        hp_smooth_jump(&fx->mix, fx->mix.target);
        for (int i = 0; i < HP_MAX_KNOBS; i++)
            hp_smooth_jump(&fx->knob[i], fx->knob[i].target);
        fx->bypass.value = fx->bypass.target;
        fx->base.first_run = 0;
    }
}

static int knobs_settled(const hp_fx *fx)
{
    for (int i = 0; i < HP_MAX_KNOBS; i++)
        if (!hp_smooth_settled(&fx->knob[i]))
            return 0;
    return 1;
}

/* Knob positions as they stand at the start of this chunk, then glide them by n frames. */
static void apply_knobs(hp_fx *fx, int n)
{
    const hp_inst *live[2] = {fx->base.slot.cur, fx->base.slot.next};
    for (int i = 0; i < HP_MAX_KNOBS; i++) {
        float v = (float)fx->knob[i].value;
        for (int j = 0; j < 2; j++)
            if (live[j] && live[j]->stream && i < live[j]->n_knobs)
                hiss_stream_set_cond(live[j]->stream, -1, i, hp_inst_knob_value(live[j], i, v));
        for (int t = 0; t < n; t++)
            hp_smooth_next(&fx->knob[i]);
    }
}

/* What one instance contributes at a frame: the model's output with gain and dry/wet, or the
 * clean input untouched when the instance has no model. */
static inline float wet(const hp_inst *in, float model_out, float x, float go, float mx)
{
    return in->stream ? go * ((1.0f - mx) * x + mx * model_out) : x;
}

/* On hiss-server a late block is silence, which an export must not contain: while the host
 * freewheels, process() waits (bounded) for the server instead. Two stores on that backend. */
static void follow_freewheel(const hp_fx *fx, hp_inst *in)
{
    if (in->on_server)
        hiss_stream_set_sync(in->stream, fx->freewheel ? HISS_SYNC_DEADLINE : HISS_SYNC_PIPELINED,
                             HP_FREEWHEEL_WAIT_US);
}

static void run_chunk(hp_fx *fx, uint32_t off, int n)
{
    hp_slot *s = &fx->base.slot;
    const int nch = fx->nch;
    for (int k = 0; k < nch; k++) {
        const float *x = fx->in[k] + off;
        float *c = fx->clean[k];
        for (int t = 0; t < n; t++)
            c[t] = isfinite(x[t]) ? x[t] : 0.0f; /* as the engine does for its own input */
    }
    for (int t = 0; t < n; t++) {
        fx->gi[t] = hp_smooth_next(&fx->g_in);
        fx->go[t] = hp_smooth_next(&fx->g_out);
        fx->mx[t] = hp_smooth_next(&fx->mix);
        fx->by[t] = hp_ramp_next(&fx->bypass);
    }
    apply_knobs(fx, n);
    for (int k = 0; k < nch; k++)
        for (int t = 0; t < n; t++)
            fx->xin[k][t] = fx->clean[k][t] * fx->gi[t];
    delay_dry(fx, n);
    hp_inst *a = s->cur, *b = s->next;
    if (a->stream) {
        follow_freewheel(fx, a);
        hiss_stream_process(a->stream, (const float *const *)fx->xin, (float *const *)fx->wa, n);
        pad_wet(a, fx->wa, nch, n);
    }
    if (b && b->stream) {
        follow_freewheel(fx, b);
        hiss_stream_process(b->stream, (const float *const *)fx->xin, (float *const *)fx->wb, n);
        pad_wet(b, fx->wb, nch, n);
    }
    for (int k = 0; k < nch; k++) {
        const float *c = fx->dry[k], *ya = fx->wa[k], *yb = fx->wb[k];
        float *y = fx->out[k] + off;
        for (int t = 0; t < n; t++) {
            float v = wet(a, ya[t], c[t], fx->go[t], fx->mx[t]);
            if (b) {
                float f = hp_slot_fade_gain(s, t);
                v = (1.0f - f) * v + f * wet(b, yb[t], c[t], fx->go[t], fx->mx[t]);
            }
            float byp = fx->by[t];
            y[t] = byp == 0.0f ? v : byp == 1.0f ? c[t] : (1.0f - byp) * v + byp * c[t];
        }
    }
}

static void run(LV2_Handle h, uint32_t n_samples)
{
    hp_fx *fx = h;
    hp_slot *s = &fx->base.slot;
    const int chunk = fx->base.chunk;
    hiss_fpguard fp = hp_plugin_run_begin(&fx->base);
    hp_slot_begin(s);
    set_targets(fx);
    fx->freewheel = fx->p_freewheel && *fx->p_freewheel >= 0.5f;
    for (uint32_t done = 0; done < n_samples;) {
        int n = n_samples - done < (uint32_t)chunk ? (int)(n_samples - done) : chunk;
        if (!knobs_settled(fx) && n > HP_KNOB_CHUNK)
            n = HP_KNOB_CHUNK;
        int fl = hp_slot_fade_left(s);
        if (fl > 0 && n > fl)
            n = fl; /* a fade ends on a chunk boundary, where the next may start */
        run_chunk(fx, done, n);
        hp_slot_advance(s, n);
        done += (uint32_t)n;
    }
    if (fx->p_latency)
        *fx->p_latency = (float)hp_slot_newest(s)->latency;
    hp_plugin_run_end(&fx->base, fp);
}

static const LV2_Descriptor fx_mono = {HP_URI_FX, instantiate, connect_port, activate, run,
                                       hp_plugin_deactivate, hp_plugin_cleanup,
                                       hp_plugin_extension_data};
static const LV2_Descriptor fx_stereo = {HP_URI_FX_STEREO, instantiate, connect_port, activate, run,
                                         hp_plugin_deactivate, hp_plugin_cleanup,
                                         hp_plugin_extension_data};

const LV2_Descriptor *hp_fx_descriptor(int stereo)
{
    return stereo ? &fx_stereo : &fx_mono;
}
