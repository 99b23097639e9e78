/* The walk of the synth trainer's streams through an epoch's notes (see ht_synth_order in
 * hiss_train.h). Independent of the real type, so that ht_synth_epoch_steps, which plans the
 * learning-rate schedule, and the trainer, which follows it, run the same code. */
#ifndef HISS_TRAIN_SYNTH_SCHED_H
#define HISS_TRAIN_SYNTH_SCHED_H

#include "hiss_train.h"

typedef struct ht_sched_stream {
    int note;   /* index into the data's notes, -1: no note left for this stream */
    size_t pos; /* the next sample of the note */
} ht_sched_stream;

typedef struct ht_sched {
    int n_streams;
    ht_sched_stream *s; /* [n_streams] */
    int *order;         /* [n_notes] */
    int next;           /* the next note of order to hand out */
} ht_sched;

/* 0, or -1 without memory. */
int ht_sched_init(ht_sched *q, int n_streams, int n_notes);
void ht_sched_free(ht_sched *q);
/* The start of an epoch: the order drawn, streams 0, 1, ... given the first notes of it. */
void ht_sched_begin(ht_sched *q, const ht_synth_data *d, uint64_t seed, int epoch);
/* Length of stream k's next chunk (0 when it has no note). */
int ht_sched_chunk(const ht_sched *q, const ht_synth_data *d, int k, int window);
/* Every stream past its chunk; a stream at the end of its note takes the next note of the order,
 * streams in index order. Returns the number of streams that started a new note. */
int ht_sched_advance(ht_sched *q, const ht_synth_data *d, int window);

#endif
