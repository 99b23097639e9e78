/* hiss-train's loss curves as a PNG: per epoch, a training and a validation figure. */
#ifndef HISS_TRAIN_PLOT_H
#define HISS_TRAIN_PLOT_H

/* a[i], b[i]: epoch i + 1, labelled label_a and label_b, on a logarithmic (decades: fx models'
 * loss and ESR) or linear axis (synth models: bits per sample); a value that is not finite (on
 * the logarithmic axis: not positive) is left out (b is NaN without validation data). 0, or -1
 * (errno tells why). */
int plot_curves_png(const char *path, const double *a, const double *b, int n, const char *label_a,
                    const char *label_b, int log_scale);

#endif
