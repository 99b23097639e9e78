/* 32-bit float WAV files, read and written without a library (the tests need only this). */
#ifndef TW_WAV_H
#define TW_WAV_H

/* Interleaved samples; returns frames, or -1 when the file is not a float WAV. */
long tw_read(const char *path, int *nch, double *rate, float **samples);
int tw_write(const char *path, int nch, double rate, const float *samples, long frames);

/* A two-channel float WAV (a host's export) split into its channels; returns frames, or -1
 * after saying on stderr that the file is not one. */
long tw_read_stereo(const char *path, double *rate, float **ch1, float **ch2);

#endif
