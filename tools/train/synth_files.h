/* The synth training data on disk, as tools/data/make-synth-data.sh writes it: a manifest
 * (manifest.json: the sample rate, the instrument that was recorded, and per split an audio
 * file, a notes file and their SHA-256) and, per split, the notes end to end in one mono WAV
 * with a text file describing each (docs/training.md, "Synth models"). */
#ifndef HISS_TRAIN_SYNTH_FILES_H
#define HISS_TRAIN_SYNTH_FILES_H

#include <stddef.h>

#include "hiss_train.h"

#define HS_PATH 1024

typedef struct hs_split {
    char name[16];
    char audio[HS_PATH], notes[HS_PATH]; /* paths as opened */
    char audio_sha[65], notes_sha[65];   /* as computed when read */
    ht_note *note;
    int n_notes;
    unsigned char *cls; /* mu-law class of every sample */
    size_t n;
    double peak;        /* largest |sample| */
} hs_split;

typedef struct hs_manifest {
    char path[HS_PATH];
    char sha[65];
    double rate;
    char soundfont[HS_PATH], soundfont_sha[65], instrument[128];
    int bank, program;
} hs_manifest;

/* path: a directory holding manifest.json, or the manifest itself. 0, or -1 with msg. */
int hs_manifest_load(const char *path, hs_manifest *m, char *msg, size_t n);
/* Split `name` of the manifest: its files read, their SHA-256 checked against the manifest's,
 * the notes checked against the audio (end to end, lengths, note-off inside each note). 0, or
 * -1 with msg naming the file at fault. */
int hs_split_load(const hs_manifest *m, const char *name, hs_split *s, char *msg, size_t n);
void hs_split_free(hs_split *s);

/* A notes file on its own (the format's reader, used by hs_split_load and the model gate):
 * notes and the sample rate; checks the notes lie end to end and counts their samples. */
int hs_notes_read(const char *path, ht_note **notes, int *n_notes, double *rate, size_t *total,
                  char *msg, size_t n);

#endif
