/* hiss-train's data: recording pairs (the effect's input and output) read with libsndfile,
 * checked, and cut into the trainer's training set and validation sets. */
#ifndef HISS_TRAIN_DATASET_H
#define HISS_TRAIN_DATASET_H

#include <stddef.h>

#include "hiss_train.h"

#define TD_MAX_COND 16
#define TD_NAME_LEN 64

typedef struct td_pair {
    const char *dry, *wet;
    int val; /* a --val-dry/--val-wet pair */
    int n_cond;
    char cond_name[TD_MAX_COND][TD_NAME_LEN];
    double cond_value[TD_MAX_COND];
    /* after loading */
    float *x, *y;
    size_t n;
    int rate;
} td_pair;

/* Reads both files of a pair, checks them (rates, lengths, non-finite samples, silence) and
 * prints what it found and any warning (clipping, DC, an apparent latency) on f. 0, or -1 with
 * msg naming the file at fault. */
int td_load(td_pair *p, int index, FILE *f, char *msg, size_t n);
void td_free(td_pair *p);

/* Frames for the trainer: n x n_in (sample, then the conditioning values) and the target;
 * recordings end to end with their ends in seg_end. */
typedef struct td_set {
    float *in, *target;
    size_t n;
    int n_in;
    size_t *seg_end;
    int n_seg;
} td_set;

/* Appends samples [from, to) of pair p, its conditioning values in the order of names. */
int td_set_append(td_set *s, const td_pair *p, size_t from, size_t to, int n_cond,
                  char names[][TD_NAME_LEN]);
ht_data td_set_data(const td_set *s);
void td_set_free(td_set *s);

#endif
