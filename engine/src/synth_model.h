/* The in-memory synth model: a backbone held as a hiss_model, plus the synth head in its own
 * arena. Until the engine's loader knows synth files (see docs/synth.md, "Engine integration"),
 * the backbone is a hiss_model of io "fx" and n_cond 0 whose input_proj/output_proj are unused:
 * hiss_model_alloc, hiss_model_finish and the per-layer views then serve the synth unchanged. */
#ifndef HISS_SYNTH_MODEL_H
#define HISS_SYNTH_MODEL_H

#include "hiss_synth.h"
#include "model.h"

struct hiss_synth_model {
    hiss_config cfg;         /* io = HISS_IO_SYNTH */
    hiss_model *bb;          /* backbone (owned); its metadata are the file's */
    int head_bias;
    float *head;             /* embedding, cond_proj.weight, cond_proj.bias, lm_head.weight, [bias] */
    size_t head_len;
    const float *emb;        /* [256][d_model] */
    const float *cond_w;     /* [d_model][n_cond] */
    const float *cond_b;     /* [d_model] */
    const float *lm_w;       /* [256][d_model] */
    const float *lm_b;       /* [256] or NULL */
    float *derived;          /* transposed layouts for the step */
    const float *cond_w_t;   /* [n_cond][d_model] */
    const float *lm_w_t;     /* [d_model][256] */
    hiss_synth_feature feat[HISS_MAX_COND];
};

/* Allocate a zeroed model of configuration cfg (dims, n_cond, rms_eps, sample_rate) with the
 * features named in cond (comma-separated; count must equal cfg->n_cond). file prefixes messages. */
hiss_status hiss_synth_model_alloc(const hiss_config *cfg, const char *cond, int head_bias,
                                   const char *file, hiss_synth_model **out, hiss_error *err);

/* The head tensors in file order: name, shape, data (into m->head). Returns the count (4 or 5);
 * entries past it are left untouched. */
typedef struct hiss_synth_head_rec {
    const char *name;
    int ndim;
    int64_t shape[2];
    float *data;
    size_t numel;
} hiss_synth_head_rec;
int hiss_synth_head_tensors(const hiss_synth_model *m, hiss_synth_head_rec rec[5]);

/* 1 for the backbone tensors a synth file holds (not the unused fx head of m->bb). */
int hiss_synth_is_backbone_tensor(const char *name);

#endif
