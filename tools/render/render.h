/* hiss-render's parts: the options every path reads (hiss-render.c parses them), the whole-file
 * path of effect models (render_whole.c; one file a segment at a time, render_segments.c),
 * several files as one batch (render_files.c, with the worker threads of io_queue.c) and the MIDI
 * path of synth models (render_midi.c). The streaming path of effect models stays in
 * hiss-render.c. */
#ifndef HISS_RENDER_H
#define HISS_RENDER_H

#include <signal.h>
#include <stdint.h>

#include <sndfile.h>

#include "audiofile.h"
#include "hiss.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
enum { MAX_CONDS = 256, MAX_BLOCK = 1 << 20 };
/* --out-dir: samples (all channels of all files) one batched render takes at most, by default,
 * and the worker threads that read and write the files */
#define RENDER_BATCH_SAMPLES (1L << 23)
#define RENDER_IO_THREADS 2
/* One file on the whole-file path: frames read, rendered and written at a time, by default (the
 * CUDA render's segment, so that its passes are those of one call over the whole file) */
#define RENDER_SEGMENT_FRAMES (1L << 20)

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
    /* --out-dir DIR IN...: several inputs, each written to DIR/<its file name> */
    const char *out_dir;
    const char **inputs; /* n_inputs, pointing into argv */
    int n_inputs;
    long batch_samples, io_threads;
    long segment_frames; /* one file on the whole-file path: frames per segment */
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

/* A file read whole: the dry signal (after --mono) and the wet one (the model's input, --gain-in
 * applied; rendered in place), [ch][frames] each. */
typedef struct whole_file {
    float **dry, **wet;
    int ch;
    size_t frames, cap;
    whole_stats st;
} whole_file;

/* Read all of `in` (info: its header) into f. 0, or -1 with msg naming in_path; stops early
 * (returning 0 with *stopped set) when *stop becomes non-zero. f is whole_free'd by the caller
 * either way. */
int whole_read(SNDFILE *in, const SF_INFO *info, const render_opts *o, const char *in_path, int ch,
               whole_file *f, const volatile sig_atomic_t *stop, int *stopped, char *msg, size_t n);
/* Mix f's dry and wet signals as o says (--mix, --gain-out) and write them to out. */
int whole_write(const whole_file *f, const render_opts *o, const char *out_path, SNDFILE *out,
                const volatile sig_atomic_t *stop, int *stopped, char *msg, size_t n);
void whole_free(whole_file *f);
/* Open the temporary file for out_path as every render writes it (no PEAK chunk: a render is
 * reproducible to the byte; integer formats clip). 0, or -1 with msg. */
int whole_open_out(hiss_af_writer *w, const char *out_path, int rate, int ch, int out_format, char *msg, size_t n);

/* The per-frame arithmetic of the whole-file paths, shared so that they give the same numbers:
 * whole_split de-interleaves `frames` frames of io (in_ch channels) into dry[c][at..] (their mean
 * into dry[0] with mono), non-finite samples as 0, and returns how many there were;
 * whole_gain_in applies --gain-in (wet = dry * gain) and returns how many samples went beyond
 * +-HISS_INPUT_LIMIT; whole_mix interleaves the --mix of dry[c][at..] and wet[c][at..] times
 * --gain-out into io. */
uint64_t whole_split(const float *io, size_t frames, int in_ch, int mono, float *const *dry, size_t at);
uint64_t whole_gain_in(const render_opts *o, const float *dry, float *wet, size_t frames);
void whole_mix(const render_opts *o, float *io, size_t frames, int ch, const float *const *dry,
               const float *const *wet, size_t at);

/* One file through the whole-file path a segment of o->segment_frames frames at a time: a
 * reader thread reads segment k+1 and a writer thread writes segment k-1 while each channel of
 * segment k goes through its own hiss_offline renderer on `backend` (conditioning cond[n_cond],
 * model order); gains and the dry/wet mix of o as whole_read and whole_write apply them, to out
 * (ch channels: 1 with --mono). The numbers are those of hiss_render_offline over the whole
 * file (render_segments.c). 0, or -1 with msg; stops early (returning 0 with *stopped set) when
 * *stop becomes non-zero. */
int render_fx_segments(SNDFILE *in, const SF_INFO *info, const hiss_model *m, const float *cond,
                       const render_opts *o, int ch, hiss_backend backend, SNDFILE *out,
                       const volatile sig_atomic_t *stop, int *stopped, whole_stats *st, char *msg, size_t n);

/* One effect-model file o->in_path -> o->out_path with the loaded model m and the conditioning
 * indices of o->conds (cond_idx): the whole-file or the streaming path, as the options and the
 * file's rate decide. Says what went wrong itself; returns the exit status. */
int render_fx_file(const render_opts *o, const hiss_model *m, const int *cond_idx);

/* --out-dir: every input of o to out_dir/<its file name>; files the whole-file path takes are
 * read by worker threads, rendered a batch at a time and written by the workers while the next
 * batch renders; the others stream one after another (render_fx_file). Returns the exit status:
 * 0, 1 when any file failed (each named), 2 for a usage error found before any work, 128+N
 * when stopped by signal N. */
int render_files(const render_opts *o, const hiss_model *m, const int *cond_idx,
                 const volatile sig_atomic_t *stop);

/* The whole --midi run: model, MIDI file, synth, output file, summary. Returns the exit status. */
int render_midi(const render_opts *o, const volatile sig_atomic_t *stop);

#endif
