/* The instrument plugin's DSP: MIDI applied at its frame, output gain, the crossfade between
 * two synths (a model swap, or a rebuild for new voices or sampling settings), and the notes
 * that sound carried over into the new synth. Model loading, state and the notify port are the
 * slot's (shared with every hiss plugin).
 *
 * Mono out: the engine's synth sums its voices into one channel, and a host pans a mono
 * instrument into the bus itself; a second port would carry the same samples again. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/core/lv2.h>
#include <lv2/state/state.h>
#include <lv2/worker/worker.h>

#include "held.h"
#include "hiss.h"
#include "hiss_synth.h"
#include "host.h"
#include "patch.h"
#include "slot.h"
#include "smooth.h"
#include "state.h"
#include "synth.h"

/* Port indices, the same in hiss.ttl. */
enum { P_CONTROL = 0, P_NOTIFY, P_GAIN, P_VOICES, P_TEMPERATURE, P_TOP_P, P_SEED, P_OUT };

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
    hp_host host;
    hp_slot slot;
    LV2_Atom_Forge forge;
    int chunk;

    const LV2_Atom_Sequence *control;
    LV2_Atom_Sequence *notify;
    const float *p_gain, *p_voices, *p_temperature, *p_top_p, *p_seed;
    float *out;

    int first_run;
    hp_smooth gain;
    hp_held held;
    const hp_inst *replayed; /* the fading-in instance that was given the held notes */

    /* [chunk] each, allocated at instantiation */
    float *ya, *yb, *g;
    float *mem;
} hp_synth;

static float clampf(float v, float lo, float hi, float dflt)
{
    if (!isfinite(v))
        return dflt;
    return v < lo ? lo : v > hi ? hi : v;
}

static double db_to_gain(const float *port)
{
    float db = port ? clampf(*port, HP_GAIN_DB_MIN, HP_GAIN_DB_MAX, 0.0f) : 0.0f;
    return db == 0.0f ? 1.0 : pow(10.0, (double)db / 20.0);
}

static hp_inst_params read_params(const hp_synth *sy)
{
    hp_inst_params p;
    float v = sy->p_voices ? clampf(*sy->p_voices, 1.0f, (float)HISS_SYNTH_MAX_VOICES, HP_DEF_VOICES)
                           : HP_DEF_VOICES;
    p.n_voices = (int32_t)lroundf(v);
    p.temperature = sy->p_temperature
                        ? clampf(*sy->p_temperature, 0.0f, HP_TEMPERATURE_MAX, HP_DEF_TEMPERATURE)
                        : HP_DEF_TEMPERATURE;
    p.top_p = sy->p_top_p ? clampf(*sy->p_top_p, HP_TOP_P_MIN, 1.0f, HP_DEF_TOP_P) : HP_DEF_TOP_P;
    p.seed = sy->p_seed ? (uint32_t)lroundf(clampf(*sy->p_seed, 0.0f, HP_SEED_MAX, 0.0f)) : 0u;
    return p;
}

static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *bundle,
                              const LV2_Feature *const *features)
{
    (void)d;
    (void)bundle;
    hp_synth *sy = calloc(1, sizeof *sy);
    if (!sy)
        return NULL;
    const char *missing = hp_host_init(&sy->host, rate, features);
    if (missing) {
        lv2_log_error(&sy->host.logger, "hiss: the host does not provide %s\n", missing);
        free(sy);
        return NULL;
    }
    if (!(rate >= 1000.0 && rate <= 1536000.0)) {
        lv2_log_error(&sy->host.logger, "hiss: sample rate %g Hz out of range (1000 to 1536000)\n", rate);
        free(sy);
        return NULL;
    }
    int mb = sy->host.max_block > 0 ? sy->host.max_block : HP_MAX_CHUNK;
    sy->chunk = mb < HP_MAX_CHUNK ? mb : HP_MAX_CHUNK;
    hp_inst_config cfg = {HISS_IO_SYNTH, 1, sy->chunk, rate, HP_PREWARM_FRAMES};
    if (hp_slot_init(&sy->slot, &sy->host, &cfg) != 0) {
        free(sy);
        return NULL;
    }
    sy->slot.pub_mask = HP_PUB_ALL & ~(uint32_t)HP_PUB_KNOBS; /* no knobs on the synth */
    hp_inst_params p = read_params(sy); /* no port connected yet: the defaults */
    hp_slot_set_params(&sy->slot, &p);
    size_t c = (size_t)sy->chunk;
    sy->mem = calloc(3 * c, sizeof(float));
    if (!sy->mem) {
        hp_slot_destroy(&sy->slot);
        free(sy);
        return NULL;
    }
    sy->ya = sy->mem;
    sy->yb = sy->mem + c;
    sy->g = sy->mem + 2 * c;
    hp_smooth_init(&sy->gain, rate, HP_SMOOTH_SECONDS);
    lv2_atom_forge_init(&sy->forge, sy->host.map);
    sy->first_run = 1;
    lv2_log_note(&sy->host.logger, "hiss: %s\n", sy->slot.cur->status);
    return sy;
}

static void connect_port(LV2_Handle h, uint32_t port, void *data)
{
    hp_synth *sy = h;
    switch (port) {
    case P_CONTROL: sy->control = data; break;
    case P_NOTIFY: sy->notify = data; break;
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
    sy->slot.active = 1;
    sy->slot.publish = HP_PUB_ALL; /* tell the host again what runs */
    sy->first_run = 1;
    /* activate() resets the plugin: silence, no note held, the note count from zero. */
    reset_inst(sy->slot.cur);
    reset_inst(sy->slot.next);
    hp_held_clear(&sy->held);
    sy->replayed = NULL; /* restore() may have freed it since; with nothing held, a replay is void */
}

static void deactivate(LV2_Handle h)
{
    ((hp_synth *)h)->slot.active = 0;
}

/* A synth that starts fading in takes over the notes that sound, at the frame it starts. */
static void carry_over(hp_synth *sy)
{
    hp_inst *b = sy->slot.next;
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
    hp_inst *live[2] = {sy->slot.cur, sy->slot.next};
    for (int j = 0; j < 2; j++)
        if (live[j] && live[j]->synth)
            hiss_synth_midi(live[j]->synth, msg, len);
}

static void run_chunk(hp_synth *sy, uint32_t off, int n)
{
    hp_slot *s = &sy->slot;
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
    hp_slot *s = &sy->slot;
    while (from < to) {
        int n = to - from < (uint32_t)sy->chunk ? (int)(to - from) : sy->chunk;
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
    hp_slot *s = &sy->slot;
    const hp_uris *u = &sy->host.uris;
    hiss_fpguard fp = hiss_fp_enter();
    hp_patch_read(s, u, sy->control);
    hp_inst_params p = read_params(sy);
    hp_slot_set_params(s, &p);
    hp_slot_begin(s);
    carry_over(sy);
    sy->gain.target = db_to_gain(sy->p_gain);
    if (sy->first_run) {
        hp_smooth_jump(&sy->gain, sy->gain.target);
        sy->first_run = 0;
    }
    uint32_t done = 0;
    if (sy->control) {
        /* Each event at its frame: the output depends on where the events fall, never on where
         * the host cuts the blocks. */
        LV2_ATOM_SEQUENCE_FOREACH (sy->control, ev) {
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
    if (sy->notify)
        hp_patch_write(s, u, &sy->forge, sy->notify);
    hiss_fp_leave(fp);
}

static void cleanup(LV2_Handle h)
{
    hp_synth *sy = h;
    hp_slot_destroy(&sy->slot);
    free(sy->mem);
    free(sy);
}

static LV2_Worker_Status work(LV2_Handle h, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    return hp_slot_work(&((hp_synth *)h)->slot, respond, handle, size, data);
}

static LV2_Worker_Status work_response(LV2_Handle h, uint32_t size, const void *data)
{
    return hp_slot_work_response(&((hp_synth *)h)->slot, size, data);
}

static LV2_State_Status save(LV2_Handle h, LV2_State_Store_Function store, LV2_State_Handle handle,
                             uint32_t flags, const LV2_Feature *const *features)
{
    return hp_state_save(&((hp_synth *)h)->slot, store, handle, flags, features);
}

static LV2_State_Status restore(LV2_Handle h, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle handle, uint32_t flags,
                                const LV2_Feature *const *features)
{
    hp_synth *sy = h;
    /* Not running: build the synth with the controls as the host has set them now (when it has
     * connected them), so the first run() does not have to build it again. */
    if (!sy->slot.active) {
        hp_inst_params p = read_params(sy);
        hp_slot_set_params(&sy->slot, &p);
    }
    return hp_state_restore(&sy->slot, retrieve, handle, flags, features);
}

static const void *extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {work, work_response, NULL};
    static const LV2_State_Interface state = {save, restore};
    if (strcmp(uri, LV2_WORKER__interface) == 0)
        return &worker;
    if (strcmp(uri, LV2_STATE__interface) == 0)
        return &state;
    return NULL;
}

static const LV2_Descriptor synth = {HP_URI_SYNTH, instantiate, connect_port, activate, run,
                                     deactivate, cleanup, extension_data};

const LV2_Descriptor *hp_synth_descriptor(void)
{
    return &synth;
}
