/* hiss-render's parts: the options every path reads (hiss-render.c parses them), the whole-file
 * path of effect models (render_whole.c) and the MIDI path of synth models (render_midi.c). The
 * streaming path of effect models stays in hiss-render.c. */
#ifndef HISS_RENDER_H
#define HISS_RENDER_H

#include <signal.h>
#include <stdint.h>

#include <sndfile.h>

#include "hiss.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
enum { MAX_CONDS = 256, MAX_BLOCK = 1 << 20 };

#define RENDER_PROG "hiss-render"
/* What --backend cuda says, for effect and synth models alike, when there is no CUDA backend. */
#define RENDER_NO_CUDA                                                                              \
    "--backend cuda: the CUDA backend is not available (hiss was built without CUDA, or no GPU "  \
    "was found); use --backend cpu or auto"

typedef struct cond_arg {
    const char *name; /* points into argv */
    size_t name_len;
    double value;
} cond_arg;

typedef struct render_opts {
    const char *model_path;
    const char *in_path;   /* NULL with --midi */
    const char *out_path;
    int mono;
    int block;
    int quiet;
    double gain_in_db, gain_out_db, mix;
    cond_arg conds[MAX_CONDS];
    int n_conds;
    hiss_rate_mode rate_mode;
    int format; /* SF_FORMAT_FLOAT / _PCM_24 / _PCM_16, 0: default */
    hiss_backend backend;
    int vhq;
    int whole;  /* --whole: the file at once through hiss_render_offline */
    /* --midi: a synth model played from a MIDI file */
    const char *midi_path;
    long seed, voices;
    double temperature, top_p, tail_s, release_max_s;
} render_opts;

/* What the whole-file path did, for the summary line. */
typedef struct whole_stats {
    uint64_t frames;
    uint64_t nonfinite; /* input samples that were NaN or infinite, set to 0 */
    uint64_t clamped;   /* finite input samples beyond +-HISS_INPUT_LIMIT (the engine clamps them) */
} whole_stats;

/* Read all of `in` (info: its header), run each output channel through hiss_render_offline in one
 * call on `backend` with the conditioning cond[n_cond] (model order), apply gains and the dry/wet
 * mix of o, and write the result to out (ch channels: 1 with --mono). 0, or -1 with msg; stops
 * early (returning 0 with *stopped set) when *stop becomes non-zero. */
int render_fx_whole(SNDFILE *in, const SF_INFO *info, const hiss_model *m, const float *cond, const render_opts *o,
                    int ch, hiss_backend backend, SNDFILE *out, const volatile sig_atomic_t *stop, int *stopped,
                    whole_stats *st, char *msg, size_t n);

/* The whole --midi run: model, MIDI file, synth, output file, summary. Returns the exit status. */
int render_midi(const render_opts *o, const volatile sig_atomic_t *stop);

#endif
