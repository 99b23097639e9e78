/* One loaded model with its stream, ready to run: built and freed on the worker thread, owned by
 * the audio thread in between. Nothing here knows whether the plugin is an effect or a synth. */
#ifndef HP_INST_H
#define HP_INST_H

#include "hiss.h"
#include "uris.h"

#define HP_PATH_MAX 2048
#define HP_TEXT_MAX 1024
#define HP_LABEL_MAX 96

typedef struct hp_inst_config {
    hiss_io io;          /* the kind of model this plugin accepts */
    int n_streams;       /* channels or voices */
    int max_block;       /* the most frames run() passes to one hiss_stream_process call */
    double host_rate;
    int prewarm_frames;  /* silence run through a new stream before it goes live */
} hp_inst_config;

typedef struct hp_inst {
    hiss_model *model;   /* NULL: no model; the plugin passes its input through */
    hiss_stream *stream;
    int latency;         /* frames the stream adds */
    int n_knobs;         /* conditioning inputs reachable from knobs: min(n_cond, HP_MAX_KNOBS) */
    float knob_lo[HP_MAX_KNOBS], knob_hi[HP_MAX_KNOBS]; /* knob 0..1 maps onto lo..hi */
    char knob_label[HP_MAX_KNOBS][HP_LABEL_MAX];        /* "" for a knob that does nothing */
    char path[HP_PATH_MAX];
    char status[HP_TEXT_MAX];
    struct hp_inst *next; /* link in the list of instances waiting to be freed */
} hp_inst;

/* Load path and prepare its stream (prewarmed, then reset to the zero state). An empty path
 * gives the no-model instance. On failure returns NULL with the reason in err (HP_TEXT_MAX). */
hp_inst *hp_inst_create(const hp_inst_config *cfg, const char *path, char *err);
void hp_inst_free(hp_inst *in);

/* Value of conditioning input i for a knob position in 0..1. */
static inline float hp_inst_knob_value(const hp_inst *in, int i, float knob)
{
    return in->knob_lo[i] + knob * (in->knob_hi[i] - in->knob_lo[i]);
}

#endif
