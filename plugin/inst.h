/* One loaded model with what runs it (an fx stream, or a synth and its voices), ready to run:
 * built and freed on the worker thread, owned by the audio thread in between. The slot only
 * builds, swaps and frees instances; the plugin's DSP looks inside. */
#ifndef HP_INST_H
#define HP_INST_H

#include <stdint.h>

#include "hiss.h"
#include "hiss_synth.h"
#include "uris.h"

#define HP_PATH_MAX 2048
#define HP_TEXT_MAX 1024
#define HP_LABEL_MAX 96

/* What an instance is built with besides its model file. Only the voice count needs a new
 * build (the synth allocates its voices at create); the sampling settings and the seed a
 * running synth takes in place (hp_inst_synth_follow). The FX plugin leaves them zero. */
typedef struct hp_inst_params {
    int32_t n_voices;
    float temperature;
    float top_p;
    uint32_t seed;
} hp_inst_params;

static inline int hp_inst_params_equal(const hp_inst_params *a, const hp_inst_params *b)
{
    return a->n_voices == b->n_voices && a->temperature == b->temperature && a->top_p == b->top_p &&
           a->seed == b->seed;
}

/* An instance built with a gives what one built with b would, once it follows b. */
static inline int hp_inst_same_build(const hp_inst_params *a, const hp_inst_params *b)
{
    return a->n_voices == b->n_voices;
}

typedef struct hp_inst_config {
    hiss_io io;          /* the kind of model this plugin accepts */
    int n_streams;       /* fx: channels */
    int max_block;       /* the most frames run() passes to one process call */
    double host_rate;
    int prewarm_frames;  /* silence (fx) or notes (synth) run through a new instance first */
    /* fx: the hiss-server socket models run on ("" = this process), and the latency every
     * instance of the plugin has: max_block with a server (an instance that falls back to the
     * CPU delays its output to match, so fades line up and the reported latency never moves). */
    char server[108];
    int latency;
} hp_inst_config;

/* How the worker reports a new instance in the host's log. */
typedef enum hp_level { HP_NOTE = 0, HP_WARNING, HP_ERROR } hp_level;

typedef struct hp_inst {
    /* fx: NULL model means no model, and the plugin passes its input through */
    hiss_model *model;
    hiss_stream *stream;
    int latency;         /* frames the instance's output lags its input (cfg.latency or the stream's) */
    int on_server;       /* the stream runs on hiss-server */
    float *pad;          /* [n_streams][pad_len]: the CPU fallback's output delayed to cfg.latency */
    int pad_len, pad_pos;
    int n_knobs;         /* conditioning inputs reachable from knobs: min(n_cond, HP_MAX_KNOBS) */
    float knob_lo[HP_MAX_KNOBS], knob_hi[HP_MAX_KNOBS]; /* knob 0..1 maps onto lo..hi */
    char knob_label[HP_MAX_KNOBS][HP_LABEL_MAX];        /* "" for a knob that does nothing */

    /* synth: NULL synth means silence (no model, or a model this host cannot play) */
    hiss_synth_model *synth_model;
    hiss_synth *synth;

    hp_inst_params params; /* what it was built with, and the settings it follows since */
    hp_level level;        /* HP_ERROR: the model loaded but cannot play here (status says why) */
    char path[HP_PATH_MAX];
    char status[HP_TEXT_MAX];
    struct hp_inst *next; /* link in the list of instances waiting to be freed */
} hp_inst;

/* Load path and prepare it to run (prewarmed, then reset to the state of a fresh start). An
 * empty path gives the no-model instance. On failure returns NULL with the reason in err
 * (HP_TEXT_MAX). */
hp_inst *hp_inst_create(const hp_inst_config *cfg, const hp_inst_params *params, const char *path,
                        char *err);
void hp_inst_free(hp_inst *in);

/* The kinds, each in its own file: called by hp_inst_create with in->path (not empty) and
 * in->params set; fill in the rest, or return -1 with err set. */
int hp_inst_load_fx(hp_inst *in, const hp_inst_config *cfg, char *err);
int hp_inst_load_synth(hp_inst *in, const hp_inst_config *cfg, char *err);

/* Real-time: the synth of in (if any) takes p's sampling settings and seed without a rebuild,
 * each only when it differs from what in has: the draws from the next sample on use the
 * temperature and top-p, and the notes started from now on draw as in a synth built with the
 * seed (the note count from zero). in may be NULL. */
void hp_inst_synth_follow(hp_inst *in, const hp_inst_params *p);

/* Messages cut to the buffer on purpose (vsnprintf keeps gcc's truncation warnings quiet). */
void hp_text(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Append to buf (cap bytes, *len used so far). */
void hp_say(char *buf, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *hp_base_name(const char *path);
const char *hp_io_name(hiss_io io);

/* Value of conditioning input i for a knob position in 0..1. */
static inline float hp_inst_knob_value(const hp_inst *in, int i, float knob)
{
    return in->knob_lo[i] + knob * (in->knob_hi[i] - in->knob_lo[i]);
}

#endif
