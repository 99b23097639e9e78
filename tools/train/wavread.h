/* A WAV reader of its own, so that synth training needs no libsndfile: RIFF/WAVE, PCM of 16, 24
 * or 32 bits or IEEE float of 32, one channel (what tools/data writes). */
#ifndef HISS_TRAIN_WAVREAD_H
#define HISS_TRAIN_WAVREAD_H

#include <stddef.h>

/* The samples as floats (PCM scaled to [-1, 1)); *x is malloc'ed. 0, or -1 with msg naming path
 * and what is wrong. */
int ht_wav_read(const char *path, float **x, size_t *n, int *rate, char *msg, size_t msz);

#endif
