/* hiss-train's loss curve as a PNG: training loss and validation ESR per epoch on a log scale. */
#ifndef HISS_TRAIN_PLOT_H
#define HISS_TRAIN_PLOT_H

/* train[i], val[i]: epoch i + 1; a value that is not finite and positive is left out (val is
 * NaN without validation data). 0, or -1 (errno tells why). */
int plot_loss_png(const char *path, const double *train, const double *val, int n_epochs);

#endif
