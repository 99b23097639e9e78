/* hiss-train's checkpoints: everything needed to resume training where it stopped (parameters,
 * Adam's moments, the step counter and the window sampler's state, the epoch and the best
 * validation so far). Written beside the model after every epoch, through a temporary file. */
#ifndef HISS_TRAIN_CHECKPOINT_H
#define HISS_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "hiss.h"

typedef struct tc_state {
    hiss_config cfg; /* io HISS_IO_SYNTH for a synth model */
    size_t n_params;
    long step;
    uint64_t rng;
    int epoch;      /* epochs completed */
    int best_epoch; /* 0: none yet */
    double best_val;
    float *P, *m, *v; /* n_params each; owned by the caller */
    int head_bias;    /* synth: lm_head.bias present */
    char cond[512];   /* synth: the conditioning features, comma-separated */
    int input_noise;  /* synth: ht_train_opts.input_noise; -1 in a version 2 file (not kept) */
    double self_feed; /* synth: ht_train_opts.self_feed (0 in version 2 and 3 files) */
    int self_feed_ramp; /* synth: ht_train_opts.self_feed_ramp, likewise */
} tc_state;

/* Written as version 1 for fx models (as before synth models existed), version 4 for synth
 * models (the same, then the synth head's description, the input noise, self-feed and its
 * ramp); versions 2 (synth, without the input noise) and 3 (without self-feed, which did not
 * exist then: read as 0) are still read. 0, or -1 with msg. */
int tc_save(const char *path, const tc_state *s, char *msg, size_t n);
/* Reads into s; P, m and v are allocated (free them). Checks the magic, the version and that
 * the file is complete. 0, or -1 with msg. */
int tc_load(const char *path, tc_state *s, char *msg, size_t n);

#endif
