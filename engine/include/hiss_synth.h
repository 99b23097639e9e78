/*
 * hiss synth: a Mamba backbone played as an autoregressive instrument, as in SaShiMi.
 *
 * Each sample, a voice feeds the model the previous output sample (as one of 256 mu-law classes,
 * through an embedding) plus conditioning computed from its MIDI note (pitch, velocity, gate,
 * times since note-on and note-off, the phase of its fundamental); the model gives 256 logits, a class is drawn from them
 * (temperature, nucleus top-p, a seeded generator per note), decoded to audio, and fed back.
 * Voices are independent streams summed into one mono output. docs/synth.md gives the file
 * format, the conditioning formulas and the mu-law mapping.
 *
 * Real-time rules: hiss_synth_process, hiss_synth_midi and the note/controller calls never
 * allocate, lock, log or do I/O. Load, create and free belong on a non-real-time thread.
 */
#ifndef HISS_SYNTH_H
#define HISS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "hiss.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HISS_SYNTH_CLASSES 256
#define HISS_SYNTH_MAX_VOICES 64

/* ---- mu-law (mu = 255, 256 classes) ------------------------------------------------------- */

/* Class of x (clamped to [-1, 1]; NaN gives the class of 0, 128). */
int hiss_synth_mulaw_encode(float x);
/* Amplitude of class c (0..255; others are clamped). */
float hiss_synth_mulaw_decode(int c);
/* The class a voice starts from: the class of silence. */
#define HISS_SYNTH_SILENCE_CLASS 128

/* ---- conditioning ------------------------------------------------------------------------- */

/* The features a model may ask for, by name in its "hiss.cond" metadata, in any order. */
typedef enum hiss_synth_feature {
    HISS_SYNTH_F_PITCH = 0, /* "pitch":    (note + bend - 69) / 12, octaves from A4 */
    HISS_SYNTH_F_VELOCITY,  /* "velocity": velocity / 127 */
    HISS_SYNTH_F_GATE,      /* "gate":     1 while the key (or the sustain pedal) holds the note */
    HISS_SYNTH_F_ONSET,     /* "onset":    exp(-t_on / 0.02 s) */
    HISS_SYNTH_F_DECAY,     /* "decay":    exp(-t_on / 1 s) */
    HISS_SYNTH_F_RELEASE,   /* "release":  0 while gated, then exp(-t_off / 0.2 s) */
    HISS_SYNTH_F_SIN1,      /* "sin1":     sin(2 pi phase), phase: cycles of the note's frequency */
    HISS_SYNTH_F_COS1,      /* "cos1":     cos(2 pi phase) */
    HISS_SYNTH_F_SIN2,      /* "sin2":     sin(4 pi phase), the second harmonic */
    HISS_SYNTH_F_COS2,      /* "cos2":     cos(4 pi phase) */
    /* "sinK"/"cosK", K = 3..8: sin/cos(2 pi K phase), the higher harmonics, in that order */
    HISS_SYNTH_F_SIN3, HISS_SYNTH_F_COS3, HISS_SYNTH_F_SIN4, HISS_SYNTH_F_COS4,
    HISS_SYNTH_F_SIN5, HISS_SYNTH_F_COS5, HISS_SYNTH_F_SIN6, HISS_SYNTH_F_COS6,
    HISS_SYNTH_F_SIN7, HISS_SYNTH_F_COS7, HISS_SYNTH_F_SIN8, HISS_SYNTH_F_COS8,
    HISS_SYNTH_F_COUNT
} hiss_synth_feature;

const char *hiss_synth_feature_name(hiss_synth_feature f);
/* The feature called name, or -1. */
int hiss_synth_feature_by_name(const char *name);

/* What the features are computed from. Times are counted in samples at the model's rate. */
typedef struct hiss_synth_note {
    double pitch;      /* MIDI note number plus pitch bend in semitones */
    int velocity;      /* 1..127 */
    int gate;          /* 1 while held */
    uint64_t n_on;     /* samples since note-on (0 at the note-on sample) */
    uint64_t n_off;    /* samples since the gate closed (0 at that sample); ignored while gated */
    double phase;      /* cycles of the note's fundamental since note-on, in [0, 1) (0 at note-on) */
} hiss_synth_note;

/* A note as it sounds at its note-on sample: n_on 0, phase 0, gated. */
hiss_synth_note hiss_synth_note_start(double pitch, int velocity);
/* Moves n one sample on: n_on (and n_off once the gate is closed) count up and the phase
 * advances by the frequency of n->pitch (bend included) over sample_rate, wrapped to [0, 1).
 * Voices and trainers both call this, so that the features a model was trained on are those it
 * is played with, bit for bit. */
void hiss_synth_note_advance(hiss_synth_note *n, double sample_rate);

float hiss_synth_feature_value(hiss_synth_feature f, const hiss_synth_note *n, double sample_rate);

/* ---- the model ---------------------------------------------------------------------------- */

typedef struct hiss_synth_model hiss_synth_model;

/* The "hiss.io" of a model file, so a host can pick hiss_model_load or hiss_synth_model_load. */
hiss_status hiss_synth_file_io(const char *path, hiss_io *io, hiss_error *err);

/* A synth model file ("hiss.io": "synth"); on failure *out is NULL and err says why. */
hiss_status hiss_synth_model_load(const char *path, hiss_synth_model **out, hiss_error *err);
hiss_status hiss_synth_model_load_memory(const void *data, size_t size, const char *name,
                                         hiss_synth_model **out, hiss_error *err);
/* A fresh model: the backbone as hiss_model_init (official mamba_ssm initialisation) for cfg
 * (io and n_cond ignored), the embedding N(0, 1) as torch.nn.Embedding, cond_proj and lm_head
 * as PyTorch's nn.Linear (weights U(+-1/sqrt(fan_in)), biases 0). cond is the comma-separated
 * feature list ("pitch,velocity,gate,onset,decay,release"); head_bias adds lm_head.bias. */
hiss_status hiss_synth_model_init(const hiss_config *cfg, const char *cond, int head_bias,
                                  uint64_t seed, hiss_synth_model **out, hiss_error *err);
/* Write as F32 safetensors (temporary file renamed into place). */
hiss_status hiss_synth_model_save(const hiss_synth_model *m, const char *path, hiss_error *err);
void hiss_synth_model_free(hiss_synth_model *m);

/* io is HISS_IO_SYNTH, n_cond the number of features, skip 0. */
const hiss_config *hiss_synth_model_config(const hiss_synth_model *m);
/* The feature fed to conditioning input i (0 .. n_cond-1). */
hiss_synth_feature hiss_synth_model_feature(const hiss_synth_model *m, int i);
const char *hiss_synth_model_meta(const hiss_synth_model *m, const char *key);
/* The temperature the model is meant to be played at: its "hiss.synth.temperature" when that is
 * a plain decimal from 0 to 100 ("0.7", read the same in every locale), else 1. Hosts use it
 * when the user names no temperature. */
float hiss_synth_model_temperature(const hiss_synth_model *m);
/* The metadata as read from the file (or set since), in order. */
int hiss_synth_model_meta_count(const hiss_synth_model *m);
void hiss_synth_model_meta_at(const hiss_synth_model *m, int i, const char **key, const char **value);
/* Add or replace a descriptive key. The keys that follow from the model ("hiss.io",
 * "sample_rate", "rms_eps", "hiss.skip", "hiss.cond") are refused (HISS_ERR_ARG): saving writes
 * them from the configuration. */
hiss_status hiss_synth_model_set_meta(hiss_synth_model *m, const char *key, const char *value);
uint64_t hiss_synth_model_param_count(const hiss_synth_model *m);
/* Multiply-adds per sample of one voice: the backbone's, as hiss_model_macs_per_sample counts
 * them, plus the head's (256 + n_cond) * d_model (lm_head and cond_proj; the embedding is a
 * lookup). The sampler's work is not counted. */
uint64_t hiss_synth_model_macs_per_sample(const hiss_synth_model *m);
/* Parameter tensors by name (the head's and the backbone's), float32 row-major; .data is NULL
 * when absent. For tools (the trainer); change nothing while a synth uses the model. */
hiss_tensor hiss_synth_model_tensor_by_name(const hiss_synth_model *m, const char *name);
/* Recompute derived layouts after tensors were changed through hiss_synth_model_tensor_by_name. */
void hiss_synth_model_finish(hiss_synth_model *m);

/* One sample of one voice: logits[256] from the previous class and the conditioning values
 * (n_cond floats, in the model's order). state holds hiss_synth_state_floats() floats, zeroed
 * at the start of a note; scratch holds hiss_synth_scratch_floats(). */
size_t hiss_synth_state_floats(const hiss_synth_model *m);
size_t hiss_synth_scratch_floats(const hiss_synth_model *m);
void hiss_synth_step(const hiss_synth_model *m, float *state, int prev_class, const float *cond,
                     float *logits, float *scratch);

/* ---- sampling ----------------------------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: the same seed gives the same sequence everywhere. */
typedef struct hiss_synth_rng {
    uint64_t s[4];
} hiss_synth_rng;
void hiss_synth_rng_seed(hiss_synth_rng *r, uint64_t seed);
uint64_t hiss_synth_rng_next(hiss_synth_rng *r);
/* Uniform in [0, 1), 53 bits. */
double hiss_synth_rng_uniform(hiss_synth_rng *r);

/* Work space of the sampler (no allocation on the audio thread). */
typedef struct hiss_synth_sampler {
    double p[HISS_SYNTH_CLASSES];   /* softmax(logits / temperature) */
    int kept[HISS_SYNTH_CLASSES];   /* the nucleus, in class order */
    float e[HISS_SYNTH_CLASSES];    /* unnormalised probabilities */
    int work[HISS_SYNTH_CLASSES];
    double cum[HISS_SYNTH_CLASSES]; /* running sums of the draw */
    unsigned char bucket[2][HISS_SYNTH_CLASSES]; /* the nucleus's buckets of each class */
} hiss_synth_sampler;

/* The nucleus: the smallest set of classes, taken in order of decreasing probability (equal
 * probabilities: lower class first), whose probability adds up to at least top_p (to rounding:
 * the mass is summed by buckets of probability). Fills w->p and w->kept[0..count) in class order
 * and returns count; with temperature <= 0 the set is the argmax alone (lowest class among
 * equals), with top_p >= 1 all 256 classes. Returns 0 when there is no distribution: a logit NaN
 * or +inf, or every logit -inf. */
int hiss_synth_nucleus(hiss_synth_sampler *w, const float *logits, float temperature, float top_p);
/* One draw from the nucleus, renormalised: a uniform u in [0, 1) times the nucleus mass, walked
 * along the kept classes in class order. -1 when there is no distribution. Takes exactly one
 * number from rng whenever it returns a class. */
int hiss_synth_sample(hiss_synth_sampler *w, const float *logits, float temperature, float top_p,
                      hiss_synth_rng *rng);

/* ---- the polyphonic instrument ------------------------------------------------------------ */

typedef struct hiss_synth_opts {
    int n_voices;         /* 1 .. HISS_SYNTH_MAX_VOICES */
    float temperature;    /* 0: always the most probable class */
    float top_p;          /* 1: no nucleus truncation */
    uint64_t seed;        /* note k (k-th note-on since create or reset) draws from seed and k */
    float silence_db;     /* a released voice is freed once its RMS stays below this ... */
    float silence_ms;     /* ... for this long */
    float release_max_s;  /* a released voice is freed after this long, silent or not */
    float bend_range;     /* semitones at full pitch-bend deflection */
    hiss_backend backend; /* CPU, CUDA (the voices advance as one batch on the GPU; the same
                           * draws as the CPU's from the same logits, see docs/synth.md), or AUTO
                           * (CUDA when a device is present) */
    double deadline_us;   /* CUDA: 0, process waits for the device as long as it takes (offline
                           * renders); > 0, it waits at most this long from the start of the
                           * call: from the run the device has not finished by then, the call
                           * outputs silence and counts a miss (deadline_misses). That run still
                           * completes on the device and the next call takes it into account, so
                           * its voices carry on as if it had sounded; a call that finds it still
                           * running is silent too. The CPU backend ignores it. */
} hiss_synth_opts;

/* 8 voices, temperature 1, top_p 1, seed 0, -60 dBFS for 50 ms, 10 s, 2 semitones, CPU, no
 * deadline. */
hiss_synth_opts hiss_synth_opts_default(void);

typedef struct hiss_synth hiss_synth;

/* The synth runs at the model's sample rate; the model must outlive it. */
hiss_status hiss_synth_create(const hiss_synth_model *m, const hiss_synth_opts *opts,
                              hiss_synth **out, hiss_error *err);
void hiss_synth_free(hiss_synth *s);

/* One MIDI channel message (any channel): note on/off (velocity 0 is note-off), sustain (CC 64),
 * all sound off (CC 120), all notes off (CC 123), pitch bend. Others are ignored. Takes effect
 * at the next sample processed. */
void hiss_synth_midi(hiss_synth *s, const uint8_t *msg, size_t len);
void hiss_synth_note_on(hiss_synth *s, int note, int velocity);
void hiss_synth_note_off(hiss_synth *s, int note);
void hiss_synth_sustain(hiss_synth *s, int down);
/* value -1..1 of full deflection. */
void hiss_synth_pitch_bend(hiss_synth *s, float value);
/* Release every note (tails play out). */
void hiss_synth_all_notes_off(hiss_synth *s);
/* Silence every voice at once and restart the note count (a render from here repeats one made
 * from creation with the seed in force, hiss_synth_set_seed's if it was called). */
void hiss_synth_reset(hiss_synth *s);

/* Real-time safe setters, for hosts whose controls change while notes play (no rebuild, no
 * gap), called from the thread that calls hiss_synth_process (plain stores, no atomics). Sampling: the draws from the next sample on use temperature and top_p (the ranges of
 * hiss_synth_opts; HISS_ERR_ARG leaves the old values). Seed: notes started from now on draw
 * as in a synth created with this seed, the note count restarting at 0. Deadline: as
 * hiss_synth_opts.deadline_us, from the next call. */
hiss_status hiss_synth_set_sampling(hiss_synth *s, float temperature, float top_p);
void hiss_synth_set_seed(hiss_synth *s, uint64_t seed);
hiss_status hiss_synth_set_deadline(hiss_synth *s, double deadline_us);

/* n mono samples, the sum of the voices. The result depends on the events and the sample
 * positions at which they were given, never on how the samples are cut into calls. */
void hiss_synth_process(hiss_synth *s, float *out, int n);

int hiss_synth_active_voices(const hiss_synth *s);

typedef struct hiss_synth_counters {
    uint64_t frames;       /* samples processed */
    uint64_t notes;        /* note-ons */
    uint64_t steals;       /* note-ons that took a sounding voice */
    uint64_t freed;        /* voices freed after their release */
    uint64_t voice_resets; /* voices cut because the model gave non-finite logits */
    uint64_t deadline_misses; /* CUDA: calls the device finished after deadline_us (silence) */
} hiss_synth_counters;
hiss_synth_counters hiss_synth_get_counters(const hiss_synth *s);

#ifdef __cplusplus
}
#endif
#endif
