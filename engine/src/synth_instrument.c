/* The polyphonic instrument: voices (synth_voices.c) each running the synth step, the sampler
 * and the mu-law decoder, summed. Everything the audio thread touches is allocated at create. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "synth_backend.h"
#include "synth_model.h"
#include "synth_voices.h"

struct hiss_synth {
    const hiss_synth_model *m;
    hiss_synth_opts o;
    hiss_synth_voices vs;
    hiss_synth_voice voice[HISS_SYNTH_MAX_VOICES];
    hiss_synth_rng rng[HISS_SYNTH_MAX_VOICES];
    int prev[HISS_SYNTH_MAX_VOICES];
    size_t state_floats;
    float *state;   /* [n_voices][state_floats] */
    float *scratch;
    float logits[HISS_SYNTH_CLASSES];
    float cond[HISS_MAX_COND];
    hiss_synth_sampler smp;
    uint64_t note_count;
    hiss_synth_counters counters;
    hiss_synth_gpu *gpu; /* NULL: the voices run on the CPU */
};

hiss_synth_opts hiss_synth_opts_default(void)
{
    hiss_synth_opts o;
    memset(&o, 0, sizeof o);
    o.n_voices = 8;
    o.temperature = 1.0f;
    o.top_p = 1.0f;
    o.seed = 0;
    o.silence_db = -60.0f;
    o.silence_ms = 50.0f;
    o.release_max_s = 10.0f;
    o.bend_range = 2.0f;
    o.backend = HISS_BACKEND_CPU;
    o.deadline_us = 0.0;
    return o;
}

static const char *bad_sampling(float temperature, float top_p)
{
    if (!(temperature >= 0.0f && temperature <= 100.0f))
        return "temperature must be 0 to 100";
    if (!(top_p > 0.0f && top_p <= 1.0f))
        return "top_p must be in (0, 1]";
    return NULL;
}

static const char *bad_deadline(double deadline_us)
{
    return deadline_us >= 0.0 && deadline_us <= 1e7 ? NULL : "deadline_us must be 0 to 1e7";
}

hiss_status hiss_synth_create(const hiss_synth_model *m, const hiss_synth_opts *opts, hiss_synth **out,
                              hiss_error *err)
{
    if (!out || !m)
        return HISS_ERR_ARG;
    *out = NULL;
    hiss_synth_opts o = opts ? *opts : hiss_synth_opts_default();
    const char *bad = NULL;
    if (o.n_voices < 1 || o.n_voices > HISS_SYNTH_MAX_VOICES)
        bad = "n_voices must be 1 to 64";
    else if ((bad = bad_sampling(o.temperature, o.top_p)) || (bad = bad_deadline(o.deadline_us)))
        ;
    else if (!(o.silence_db <= 0.0f && o.silence_db >= -200.0f))
        bad = "silence_db must be -200 to 0";
    else if (!(o.silence_ms >= 0.0f && o.silence_ms <= 10000.0f))
        bad = "silence_ms must be 0 to 10000";
    else if (!(o.release_max_s > 0.0f && o.release_max_s <= 3600.0f))
        bad = "release_max_s must be in (0, 3600]";
    else if (!(o.bend_range >= 0.0f && o.bend_range <= 48.0f))
        bad = "bend_range must be 0 to 48 semitones";
    else if (o.backend != HISS_BACKEND_CPU && o.backend != HISS_BACKEND_CUDA && o.backend != HISS_BACKEND_AUTO)
        bad = "backend must be cpu, cuda or auto";
    if (bad) {
        hiss_seterr(err, HISS_ERR_ARG, "synth options: %s", bad);
        return HISS_ERR_ARG;
    }
    hiss_synth *s = calloc(1, sizeof *s);
    if (s) {
        s->m = m;
        s->o = o;
        s->state_floats = hiss_synth_state_floats(m);
        s->state = calloc(s->state_floats * (size_t)o.n_voices, sizeof(float));
        s->scratch = calloc(hiss_synth_scratch_floats(m), sizeof(float));
    }
    if (!s || !s->state || !s->scratch) {
        hiss_synth_free(s);
        hiss_seterr(err, HISS_ERR_NOMEM, "out of memory for %d synth voices", o.n_voices);
        return HISS_ERR_NOMEM;
    }
    hiss_synth_voices_init(&s->vs, s->voice, o.n_voices, m->cfg.sample_rate, o.silence_db, o.silence_ms,
                           o.release_max_s);
    const hiss_status st = hiss_synth_gpu_create(m, &o, &s->gpu, err);
    if (st != HISS_OK) {
        hiss_synth_free(s);
        return st;
    }
    *out = s;
    return HISS_OK;
}

void hiss_synth_free(hiss_synth *s)
{
    if (!s)
        return;
    hiss_synth_gpu_free(s->gpu);
    free(s->state);
    free(s->scratch);
    free(s);
}

/* The generator of the k-th note: a function of the seed and k alone, so a note draws the same
 * numbers whichever voice plays it. */
static void seed_note(hiss_synth_rng *r, uint64_t seed, uint64_t k)
{
    uint64_t z = k + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    hiss_synth_rng_seed(r, seed ^ z ^ (z >> 31));
}

void hiss_synth_note_on(hiss_synth *s, int note, int velocity)
{
    if (note < 0 || note > 127)
        return;
    if (velocity <= 0) {
        hiss_synth_note_off(s, note);
        return;
    }
    velocity = velocity > 127 ? 127 : velocity;
    int stolen = 0;
    const int k = hiss_synth_voices_note_on(&s->vs, note, velocity, &stolen);
    memset(s->state + s->state_floats * (size_t)k, 0, s->state_floats * sizeof(float));
    s->prev[k] = HISS_SYNTH_SILENCE_CLASS;
    seed_note(&s->rng[k], s->o.seed, s->note_count++);
    if (s->gpu)
        hiss_synth_gpu_note_on(s->gpu, k, &s->rng[k]);
    s->counters.notes++;
    s->counters.steals += (uint64_t)stolen;
}

void hiss_synth_note_off(hiss_synth *s, int note)
{
    hiss_synth_voices_note_off(&s->vs, note);
}

void hiss_synth_sustain(hiss_synth *s, int down)
{
    hiss_synth_voices_sustain(&s->vs, down);
}

void hiss_synth_pitch_bend(hiss_synth *s, float value)
{
    value = value > 1.0f ? 1.0f : value < -1.0f ? -1.0f : value;
    if (value != value)
        value = 0.0f;
    hiss_synth_voices_bend(&s->vs, (double)value * (double)s->o.bend_range);
}

void hiss_synth_all_notes_off(hiss_synth *s)
{
    hiss_synth_voices_all_off(&s->vs);
}

void hiss_synth_reset(hiss_synth *s)
{
    hiss_synth_voices_clear(&s->vs);
    s->note_count = 0;
}

hiss_status hiss_synth_set_sampling(hiss_synth *s, float temperature, float top_p)
{
    if (bad_sampling(temperature, top_p))
        return HISS_ERR_ARG;
    s->o.temperature = temperature;
    s->o.top_p = top_p;
    if (s->gpu)
        hiss_synth_gpu_set_sampling(s->gpu, temperature, top_p);
    return HISS_OK;
}

void hiss_synth_set_seed(hiss_synth *s, uint64_t seed)
{
    s->o.seed = seed;
    s->note_count = 0;
}

hiss_status hiss_synth_set_deadline(hiss_synth *s, double deadline_us)
{
    if (bad_deadline(deadline_us))
        return HISS_ERR_ARG;
    s->o.deadline_us = deadline_us;
    if (s->gpu)
        hiss_synth_gpu_set_deadline(s->gpu, deadline_us);
    return HISS_OK;
}

void hiss_synth_midi(hiss_synth *s, const uint8_t *msg, size_t len)
{
    if (len < 1 || msg[0] < 0x80 || msg[0] >= 0xF0)
        return;
    /* A data byte with its top bit set is a broken message, not a value to mask. */
    for (size_t i = 1; i < len && i < 3; i++)
        if (msg[i] & 0x80)
            return;
    const int type = msg[0] & 0xF0;
    const int d1 = len > 1 ? msg[1] : 0, d2 = len > 2 ? msg[2] : 0;
    switch (type) {
    case 0x90:
        if (len >= 3)
            hiss_synth_note_on(s, d1, d2);
        break;
    case 0x80:
        if (len >= 3)
            hiss_synth_note_off(s, d1);
        break;
    case 0xB0:
        if (len < 3)
            break;
        if (d1 == 64)
            hiss_synth_sustain(s, d2 >= 64);
        else if (d1 == 120)
            hiss_synth_voices_clear(&s->vs);
        else if (d1 == 123)
            hiss_synth_all_notes_off(s);
        break;
    case 0xE0:
        if (len >= 3)
            hiss_synth_pitch_bend(s, (float)(((d2 << 7) | d1) - 8192) / 8192.0f);
        break;
    default:
        break;
    }
}

void hiss_synth_process(hiss_synth *s, float *out, int n)
{
    const hiss_synth_model *m = s->m;
    const int nc = m->cfg.n_cond;
    const double rate = m->cfg.sample_rate;
    const hiss_synth_opts *o = &s->o;
    if (s->gpu) {
        hiss_synth_gpu_process(s->gpu, &s->vs, &s->counters, out, n);
        s->counters.frames += (uint64_t)n;
        return;
    }
    for (int t = 0; t < n; t++) {
        double sum = 0.0;
        for (int k = 0; k < s->vs.n; k++) {
            hiss_synth_voice *v = &s->voice[k];
            if (!v->active)
                continue;
            for (int i = 0; i < nc; i++)
                s->cond[i] = hiss_synth_feature_value(m->feat[i], &v->note, rate);
            hiss_synth_step(m, s->state + s->state_floats * (size_t)k, s->prev[k], s->cond, s->logits,
                            s->scratch);
            const int c = hiss_synth_sample(&s->smp, s->logits, o->temperature, o->top_p, &s->rng[k]);
            if (c < 0) {
                /* The model diverged for this voice: cut it rather than play noise or NaN. */
                v->active = 0;
                s->counters.voice_resets++;
                continue;
            }
            s->prev[k] = c;
            const float x = hiss_synth_mulaw_decode(c);
            sum += x;
            s->counters.freed += (uint64_t)hiss_synth_voices_advance(&s->vs, k, x);
        }
        out[t] = (float)sum;
    }
    s->counters.frames += (uint64_t)n;
}

int hiss_synth_active_voices(const hiss_synth *s)
{
    return hiss_synth_voices_active(&s->vs);
}

hiss_synth_counters hiss_synth_get_counters(const hiss_synth *s)
{
    return s->counters;
}
