/* The instrument plugin's DSP: MIDI applied at its frame, output gain, the sampling settings and
 * seed applied to the running synths in place, the crossfade between two synths (a model swap,
 * or a rebuild for another voice count), and the notes that sound carried over into the new
 * synth. Model loading, state and the notify port are the slot's, instantiation and the worker
 * and state interfaces plugin.c's (both shared with every hiss plugin).
 *
 * Mono out: the engine's synth sums its voices into one channel, and a host pans a mono
 * instrument into the bus itself; a second port would carry the same samples again. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lv2/atom/util.h>
#include <lv2/core/lv2.h>

#include "held.h"
#include "hiss.h"
#include "hiss_synth.h"
#include "plugin.h"
#include "slot.h"
#include "smooth.h"
#include "synth.h"

/* Port indices, the same in hiss.ttl. */
enum { P_GAIN = HP_PORT_NOTIFY + 1, P_VOICES, P_TEMPERATURE, P_TOP_P, P_SEED, P_OUT };

#define HP_GAIN_DB_MIN (-60.0f)
#define HP_GAIN_DB_MAX 12.0f
#define HP_SMOOTH_SECONDS 0.010
#define HP_MAX_CHUNK 4096    /* frames per hiss_synth_process call */
#define HP_PREWARM_FRAMES 512
#define HP_SEED_MAX 16777215.0f /* every integer up to here is exact in a float port */

/* Defaults, the same in hiss.ttl and the presets. */
#define HP_DEF_VOICES 8
#define HP_DEF_TEMPERATURE 1.0f
#define HP_DEF_TOP_P 1.0f
#define HP_TEMPERATURE_MAX 2.0f
#define HP_TOP_P_MIN 0.01f

typedef struct hp_synth {
    hp_plugin base; /* first: the shared entry points take the handle as an hp_plugin */

    const float *p_gain, *p_voices, *p_temperature, *p_top_p, *p_seed;
    float *out;

    hp_smooth gain;
    hp_held held;
    const hp_inst *replayed; /* the fading-in instance that was given the held notes */

    /* [chunk] each, in base.mem */
    float *ya, *yb, *g;
} hp_synth;

static hp_inst_params read_params(const hp_synth *sy)
{
    hp_inst_params p;
    float v = sy->p_voices ? hp_clampf(*sy->p_voices, 1.0f, (float)HISS_SYNTH_MAX_VOICES, HP_DEF_VOICES)
                           : HP_DEF_VOICES;
    p.n_voices = (int32_t)lroundf(v);
    p.temperature = sy->p_temperature
                        ? hp_clampf(*sy->p_temperature, 0.0f, HP_TEMPERATURE_MAX, HP_DEF_TEMPERATURE)
                        : HP_DEF_TEMPERATURE;
    p.top_p = sy->p_top_p ? hp_clampf(*sy->p_top_p, HP_TOP_P_MIN, 1.0f, HP_DEF_TOP_P) : HP_DEF_TOP_P;
    p.seed = sy->p_seed ? (uint32_t)lroundf(hp_clampf(*sy->p_seed, 0.0f, HP_SEED_MAX, 0.0f)) : 0u;
    return p;
}

/* Not running: build the synth with the controls as the host has set them now (when it has
 * connected them), so the first run() does not have to build it again. */
static void prepare_restore(hp_plugin *base)
{
    hp_synth *sy = (hp_synth *)base;
    if (!base->slot.active) {
        hp_inst_params p = read_params(sy);
        hp_slot_set_params(&base->slot, &p);
    }
}

static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *bundle,
                              const LV2_Feature *const *features)
{
    (void)d;
    (void)bundle;
    hp_synth *sy = (hp_synth *)hp_plugin_new(sizeof *sy, rate, features, HISS_IO_SYNTH, 1, HP_MAX_CHUNK,
                                             HP_PREWARM_FRAMES, 3);
    if (!sy)
        return NULL;
    sy->base.prepare_restore = prepare_restore;
    sy->base.slot.pub_mask = HP_PUB_ALL & ~(uint32_t)HP_PUB_KNOBS; /* no knobs on the synth */
    hp_inst_params p = read_params(sy); /* no port connected yet: the defaults */
    hp_slot_set_params(&sy->base.slot, &p);
    size_t c = (size_t)sy->base.chunk;
    sy->ya = sy->base.mem;
    sy->yb = sy->base.mem + c;
    sy->g = sy->base.mem + 2 * c;
    hp_smooth_init(&sy->gain, rate, HP_SMOOTH_SECONDS);
    return sy;
}

static void connect_port(LV2_Handle h, uint32_t port, void *data)
{
    hp_synth *sy = h;
    if (hp_plugin_connect(&sy->base, port, data))
        return;
    switch (port) {
    case P_GAIN: sy->p_gain = data; break;
    case P_VOICES: sy->p_voices = data; break;
    case P_TEMPERATURE: sy->p_temperature = data; break;
    case P_TOP_P: sy->p_top_p = data; break;
    case P_SEED: sy->p_seed = data; break;
    case P_OUT: sy->out = data; break;
    default: break;
    }
}

static void reset_inst(hp_inst *in)
{
    if (in && in->synth)
        hiss_synth_reset(in->synth);
}

static void activate(LV2_Handle h)
{
    hp_synth *sy = h;
    hp_plugin_activate(&sy->base);
    /* activate() resets the plugin: silence, no note held, the note count from zero. */
    reset_inst(sy->base.slot.cur);
    reset_inst(sy->base.slot.next);
    hp_held_clear(&sy->held);
    sy->replayed = NULL; /* restore() may have freed it since; with nothing held, a replay is void */
}

/* A synth that starts fading in takes over the notes that sound, at the frame it starts. */
static void carry_over(hp_synth *sy)
{
    hp_inst *b = sy->base.slot.next;
    if (!b) {
        sy->replayed = NULL;
        return;
    }
    if (b == sy->replayed)
        return;
    if (b->synth)
        hp_held_replay(&sy->held, b->synth);
    sy->replayed = b;
}

static void midi(hp_synth *sy, const uint8_t *msg, uint32_t len)
{
    hp_held_midi(&sy->held, msg, len);
    hp_inst *live[2] = {sy->base.slot.cur, sy->base.slot.next};
    for (int j = 0; j < 2; j++)
        if (live[j] && live[j]->synth)
            hiss_synth_midi(live[j]->synth, msg, len);
}

static void run_chunk(hp_synth *sy, uint32_t off, int n)
{
    hp_slot *s = &sy->base.slot;
    hp_inst *a = s->cur, *b = s->next;
    for (int t = 0; t < n; t++)
        sy->g[t] = hp_smooth_next(&sy->gain);
    if (a->synth)
        hiss_synth_process(a->synth, sy->ya, n);
    else
        memset(sy->ya, 0, (size_t)n * sizeof(float));
    if (b && b->synth)
        hiss_synth_process(b->synth, sy->yb, n);
    else if (b)
        memset(sy->yb, 0, (size_t)n * sizeof(float));
    float *y = sy->out + off;
    for (int t = 0; t < n; t++) {
        float v = sy->ya[t];
        if (b) {
            float f = hp_slot_fade_gain(s, t);
            v = (1.0f - f) * v + f * sy->yb[t];
        }
        y[t] = v * sy->g[t];
    }
}

/* Frames [from, to) with no MIDI event inside: cut where a fade ends (the next may start there)
 * and at the size of the work buffers. */
static void render(hp_synth *sy, uint32_t from, uint32_t to)
{
    hp_slot *s = &sy->base.slot;
    const int chunk = sy->base.chunk;
    while (from < to) {
        int n = to - from < (uint32_t)chunk ? (int)(to - from) : chunk;
        int fl = hp_slot_fade_left(s);
        if (fl > 0 && n > fl)
            n = fl;
        run_chunk(sy, from, n);
        hp_slot_advance(s, n);
        carry_over(sy);
        from += (uint32_t)n;
    }
}

static void run(LV2_Handle h, uint32_t n_samples)
{
    hp_synth *sy = h;
    hp_slot *s = &sy->base.slot;
    const hp_uris *u = &sy->base.host.uris;
    hiss_fpguard fp = hp_plugin_run_begin(&sy->base);
    hp_inst_params p = read_params(sy);
    hp_slot_set_params(s, &p);
    /* Every synth the slot holds, playing or waiting to, follows the sampling controls and the
     * seed in place; only another voice count builds the synth again (in hp_slot_begin). */
    hp_inst_synth_follow(s->cur, &p);
    hp_inst_synth_follow(s->next, &p);
    hp_inst_synth_follow(s->pending, &p);
    hp_slot_begin(s);
    carry_over(sy);
    sy->gain.target = hp_db_gain(sy->p_gain, HP_GAIN_DB_MIN, HP_GAIN_DB_MAX);
    if (sy->base.first_run) {
        hp_smooth_jump(&sy->gain, sy->gain.target);
        sy->base.first_run = 0;
    }
    uint32_t done = 0;
    const LV2_Atom_Sequence *control = sy->base.control;
    if (control) {
        /* Each event at its frame: the output depends on where the events fall, never on where
         * the host cuts the blocks. */
        LV2_ATOM_SEQUENCE_FOREACH (control, ev) {
            if (ev->body.type != u->midi_MidiEvent)
                continue;
            int64_t f = ev->time.frames;
            uint32_t at = f <= (int64_t)done ? done : f >= (int64_t)n_samples ? n_samples : (uint32_t)f;
            render(sy, done, at);
            done = at;
            midi(sy, (const uint8_t *)LV2_ATOM_BODY_CONST(&ev->body), ev->body.size);
        }
    }
    render(sy, done, n_samples);
    hp_plugin_run_end(&sy->base, fp);
}

static const LV2_Descriptor synth = {HP_URI_SYNTH, instantiate, connect_port, activate, run,
                                     hp_plugin_deactivate, hp_plugin_cleanup, hp_plugin_extension_data};

const LV2_Descriptor *hp_synth_descriptor(void)
{
    return &synth;
}
