/* hiss-train's loss curve as a PNG: training loss and validation ESR per epoch on a log scale. */
#ifndef HISS_TRAIN_PLOT_H
#define HISS_TRAIN_PLOT_H

/* train[i], val[i]: epoch i + 1; a value that is not finite and positive is left out (val is
 * NaN without validation data). 0, or -1 (errno tells why). */
int plot_loss_png(const char *path, const double *train, const double *val, int n_epochs);

/* The same frame for any two per-epoch curves: labels of the two, and a logarithmic (decades)
 * or linear axis (synth models: bits per sample). */
int plot_curves_png(const char *path, const double *a, const double *b, int n, const char *label_a,
                    const char *label_b, int log_scale);

#endif
