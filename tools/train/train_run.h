/* One training run as both of hiss-train's modes make it: the files beside the model (checkpoint,
 * CSV log, PNG plot), resuming from the checkpoint, the provenance in the model's metadata, and
 * the epoch loop with its progress bar, best-epoch choice, per-epoch checkpoint and stop on
 * SIGINT/SIGTERM. What an epoch is, how it is scored and logged, and what the checkpoint holds
 * besides the epochs are the mode's, through ht_run_ops. */
#ifndef HISS_TRAIN_RUN_H
#define HISS_TRAIN_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "checkpoint.h"
#include "hiss.h"
#include "hiss_train.h"
#include "progress.h"
#include "train_cli.h"

typedef struct ht_run ht_run;

typedef struct ht_run_ops {
    /* One epoch's steps (ht_run_progress after each, ht_run_stopping polled between them), then
     * the parameters into the model and its evaluation. 0 with *score, lower is better (it picks
     * the best epoch); 1 stopped by a signal before the epoch was complete; -1 failed (said). */
    int (*epoch)(void *ctx, ht_run *r, int epoch, double *score);
    /* The epoch's figures into the model's metadata, and the model saved to path (cli->out when
     * the epoch is the best so far; with --epoch-models also DIR/epoch-NNN.safetensors). 0, or -1
     * with err (the loop says it). */
    int (*save)(void *ctx, int epoch, const char *path, hiss_error *err);
    /* The epoch's line on sink and in the CSV log; *train and *val are its points on the plot. */
    void (*report)(void *ctx, const ht_run *r, int epoch, double secs, int improved, FILE *csv,
                   double *train, double *val);
    /* Everything in the checkpoint but the epochs done and the best. */
    void (*checkpoint)(void *ctx, tc_state *s);
} ht_run_ops;

struct ht_run {
    const char *prog;
    const ht_cli *cli;
    FILE *sink; /* what -q silences */
    char *ckpt_path, *log_path, *png_path;
    /* the mode's outputs: the CSV's header line, the columns (from 0) of the two curves read back
     * into the plot on --resume, their labels, a logarithmic axis or not, and how the last line
     * states the best score (a printf format of one double) */
    const char *csv_header;
    int hist_col[2];
    const char *plot_label[2];
    int plot_log;
    const char *best_fmt;
    /* epochs done and the best so far: 0 and none, or the checkpoint's on --resume */
    int epoch0, best_epoch;
    double best;
    hiss_progress bar;
    int64_t frames_done;
};

/* The sink and the paths beside cli->out; 0, or HT_EXIT_RUNTIME (said). ht_run_close after. */
int ht_run_open(ht_run *r, const char *prog, const ht_cli *cli);
void ht_run_close(ht_run *r);

/* With --resume, the checkpoint into ck (else ck zeroed). 0, or HT_EXIT_RUNTIME (said). */
int ht_run_load_checkpoint(const ht_run *r, tc_state *ck);
/* The checkpoint's parameter count against the model's. 0, or HT_EXIT_RUNTIME (said). */
int ht_run_check_params(const ht_run *r, const tc_state *ck, size_t n_params);
/* The mode's trainer was made with ck's parameters: Adam's moments into m and v (n_params each),
 * the epochs and the best from ck, whose arrays are freed. */
void ht_run_resumed(ht_run *r, tc_state *ck, float *m, float *v);
/* The trainer could not be made: says so (with the activations' size per thread, the likely
 * cause) and returns HT_EXIT_RUNTIME. */
int ht_run_no_trainer(const ht_run *r, const ht_layout *L, int window);

/* How the model was made, so it can be made again: "hiss.train.command" (argv),
 * "hiss.train.date" (SOURCE_DATE_EPOCH when set, so two runs can give byte-identical files) and
 * "hiss.train.isa" (the float math's instruction set, ht_isa_select). 0, or -1 out of memory. */
int ht_run_provenance(hiss_model *m, int argc, char **argv);
/* A number into the metadata as "%.6g". 0, or -1. */
int ht_set_meta_num(hiss_model *m, const char *key, double v);

/* The epochs from r->epoch0 to cli->epochs (or cli->stop_after of them), each of about
 * frames_per_epoch frames at `rate` for the progress bar. The exit status: 0, HT_EXIT_RUNTIME,
 * or 128 + N when stopped by signal N after writing the checkpoint. */
int ht_run_epochs(ht_run *r, const ht_run_ops *ops, void *ctx, double rate,
                  int64_t frames_per_epoch);

/* For ops->epoch: a stop was asked (SIGINT, SIGTERM). */
int ht_run_stopping(void);
/* For ops->epoch: n more frames trained. */
void ht_run_progress(ht_run *r, int64_t n);
/* For ops->epoch: the loss stopped being finite at this epoch (from 0) and step; says so. */
void ht_run_not_finite(ht_run *r, int epoch, long step);

#endif
