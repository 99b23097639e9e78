/* Test input signals and error measures shared by the engine tests. */
#ifndef REF_SIGNAL_H
#define REF_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

/* n samples at rate Hz, in five parts: white noise, two sines, a step, silence, and noise over a
 * low sine. Deterministic in seed. */
void ref_signal(float *x, int n, uint64_t seed, double rate);

typedef struct ref_err {
    double rel_l2;  /* ||out - ref|| / ||ref|| */
    double max_abs; /* max |out - ref| */
    double ref_rms;
    int n_nonfinite; /* samples of out that are NaN or Inf */
} ref_err;

/* Compares out with ref over n samples; when minus is not NULL it is subtracted from both first
 * (the input of a model with a skip connection, so that the error is measured on what the
 * network adds, not hidden under the input). */
ref_err ref_compare(const float *out, const double *ref, const float *minus, int n);

#endif
