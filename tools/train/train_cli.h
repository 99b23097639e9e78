/* The command line both of hiss-train's modes (fx: hiss-train.c, synth: synth_main.c) share: the
 * model's shape, the optimiser and its schedule, the length of the run and the output files.
 * Each mode adds its own options and defaults around it. */
#ifndef HISS_TRAIN_CLI_H
#define HISS_TRAIN_CLI_H

#include <stddef.h>

#include "hiss.h"
#include "hiss_train.h"
#include "opts.h"

enum { HT_EXIT_RUNTIME = 1, HT_EXIT_USAGE = 2 };

typedef struct ht_cli {
    const char *out, *checkpoint, *log;
    const char *epoch_models; /* --epoch-models DIR: every epoch's model there too, or NULL */
    int resume, quiet, no_plot;
    hiss_config cfg; /* d_inner and dt_rank set by ht_cli_finish */
    int expand, epochs, stop_after;
    ht_train_opts o; /* seed and lr_warmup_steps set by ht_cli_finish */
    int seed, lr_warmup;
    int window_min;
} ht_cli;

/* A number option of a mode's own: --name N into *field, refused outside [lo, hi]. */
typedef struct ht_int_opt {
    const char *name;
    int *field;
    long lo, hi;
} ht_int_opt;

typedef struct ht_real_opt {
    const char *name;
    double *field;
    double lo, hi;
} ht_real_opt;

/* The defaults both modes have, for a model of kind io; the mode then sets its own. */
void ht_cli_defaults(ht_cli *c, hiss_io io);

/* What a mode adds to the shared options: its number options, the rest of its options through
 * option() (the one at a->i: 1 taken, 0 not one of the mode's, -1 a usage error already said;
 * *done = 1 when the command is complete, as after --help), and what a usage error for an
 * unknown option adds after its name. */
typedef struct ht_cli_mode {
    const ht_int_opt *ints;
    size_t n_ints;
    const ht_real_opt *reals;
    size_t n_reals;
    int (*option)(hiss_argv *a, void *ctx, int *done);
    void *ctx;
    const char *unknown_hint;
} ht_cli_mode;

/* The whole command line, argv[1] on. 0 (*done = 1 when an option completed the command), or
 * HT_EXIT_USAGE (said). */
int ht_cli_parse(int argc, char **argv, const char *prog, ht_cli *c, const ht_cli_mode *mode,
                 int *done);

/* After the last option: the values derived from others (lr-min, d_inner, dt_rank) and their
 * checks. 0, or HT_EXIT_USAGE (already said). */
int ht_cli_finish(ht_cli *c, const char *prog);

#endif
