/*
 * hiss: Mamba selective state-space models as real-time audio processors.
 *
 * The public C API of the engine. Three kinds of object:
 *
 *   hiss_model   weights + configuration, loaded once, immutable afterwards, shared by any number
 *                of streams on any number of threads.
 *   hiss_stream  the per-stream state (conv history and SSM state of every layer) for a batch of
 *                n_streams independent streams (channels, voices, plugin instances) advanced
 *                together, on one backend (CPU, CUDA, or a hiss-server process).
 *   hiss_error   a message buffer that names the file, tensor or field at fault.
 *
 * Real-time rules: hiss_stream_process, hiss_stream_set_cond, hiss_stream_reset,
 * hiss_stream_counters, hiss_stream_snapshot and hiss_stream_restore never allocate, lock, log or do
 * I/O (on HISS_BACKEND_SERVER, snapshot and restore ask the server: see there). Everything else
 * (load, create, free) belongs on a non-real-time thread.
 */
#ifndef HISS_H
#define HISS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HISS_VERSION_MAJOR 0
#define HISS_VERSION_MINOR 1
#define HISS_VERSION_PATCH 0

const char *hiss_version(void);

/* ---- errors ------------------------------------------------------------------------------- */

typedef enum hiss_status {
    HISS_OK = 0,
    HISS_ERR_ARG,      /* a bad argument from the caller */
    HISS_ERR_IO,       /* a file could not be opened, read or written */
    HISS_ERR_FORMAT,   /* the file is not a valid safetensors file */
    HISS_ERR_MODEL,    /* valid safetensors, but not a valid hiss model (names, shapes, values) */
    HISS_ERR_NOMEM,    /* allocation failed */
    HISS_ERR_RATE,     /* sample-rate mismatch refused (HISS_RATE_STRICT) */
    HISS_ERR_BACKEND,  /* the backend asked for is not available or failed */
    HISS_ERR_STATE     /* a snapshot does not fit this stream */
} hiss_status;

/* Large enough for a message that names a path and a tensor. */
#define HISS_ERROR_LEN 1024
typedef struct hiss_error {
    hiss_status status;
    char msg[HISS_ERROR_LEN];
} hiss_error;

const char *hiss_status_name(hiss_status s);

/* ---- model -------------------------------------------------------------------------------- */

typedef enum hiss_io {
    HISS_IO_FX = 1,    /* audio in (+ conditioning) -> audio out */
    HISS_IO_SYNTH = 2  /* previous mu-law sample + MIDI conditioning -> 256 logits (later issue) */
} hiss_io;

/* Limits the loader enforces so a hostile file cannot ask for absurd memory. */
#define HISS_MAX_D_MODEL 4096
#define HISS_MAX_D_INNER 16384
#define HISS_MAX_D_STATE 256
#define HISS_MAX_D_CONV 64
#define HISS_MAX_LAYERS 128
#define HISS_MAX_COND 64
#define HISS_MAX_PARAMS (256u * 1024u * 1024u)
#define HISS_MAX_HEADER (64u * 1024u * 1024u)

typedef struct hiss_config {
    hiss_io io;
    int d_model;
    int n_layer;
    int d_inner;     /* expand * d_model in the official layout; any value is accepted */
    int d_state;
    int d_conv;
    int dt_rank;
    int n_cond;      /* conditioning inputs; n_in = 1 + n_cond for an FX model */
    int skip;        /* 1: the input sample is added to the output */
    double sample_rate;
    float rms_eps;
} hiss_config;

typedef struct hiss_model hiss_model;

/* Load from a safetensors file. On failure *out is NULL and err (if not NULL) says why. */
hiss_status hiss_model_load(const char *path, hiss_model **out, hiss_error *err);
/* Load from memory; name is used in messages (e.g. the file name). The buffer is not kept. */
hiss_status hiss_model_load_memory(const void *data, size_t size, const char *name,
                                   hiss_model **out, hiss_error *err);
void hiss_model_free(hiss_model *m);

const hiss_config *hiss_model_config(const hiss_model *m);
/* Metadata lookup; NULL when absent. Strings live as long as the model. */
const char *hiss_model_meta(const hiss_model *m, const char *key);
int hiss_model_meta_count(const hiss_model *m);
void hiss_model_meta_at(const hiss_model *m, int i, const char **key, const char **value);
/* Name of conditioning input i (from "hiss.cond"), or "cond<i>" when the file names none. */
const char *hiss_model_cond_name(const hiss_model *m, int i);
uint64_t hiss_model_param_count(const hiss_model *m);
/* Multiply-adds per sample of one stream, all matrix-vector products and the scan counted. */
uint64_t hiss_model_macs_per_sample(const hiss_model *m);

/* Parameter tensors in file order (the names of docs/model-format.md), float32, row-major.
 * Meant for tools (trainer, writer, inspectors). The data of a loaded model must not be changed
 * once a stream uses it. */
int hiss_model_tensor_count(const hiss_model *m);
typedef struct hiss_tensor {
    const char *name;
    int ndim;
    int64_t shape[4];
    float *data;
    size_t numel;
} hiss_tensor;
hiss_tensor hiss_model_tensor(const hiss_model *m, int i);
/* By name; .data is NULL when absent. */
hiss_tensor hiss_model_tensor_by_name(const hiss_model *m, const char *name);

/* A fresh model with the official mamba_ssm initialisation (see docs/model-format.md). */
hiss_status hiss_model_init(const hiss_config *cfg, uint64_t seed, hiss_model **out,
                            hiss_error *err);
/* Add or replace a metadata entry (before the model is shared). */
hiss_status hiss_model_set_meta(hiss_model *m, const char *key, const char *value);
/* Write as F32 safetensors, through a temporary file renamed into place. */
hiss_status hiss_model_save(const hiss_model *m, const char *path, hiss_error *err);

/* ---- streams ------------------------------------------------------------------------------ */

typedef enum hiss_rate_mode {
    HISS_RATE_STRICT = 0, /* refuse a host rate other than the model's */
    HISS_RATE_DELTA = 1,  /* rescale delta by model_rate / host_rate (continuous-time SSM) */
    HISS_RATE_RESAMPLE = 2 /* resample around the model: done by hiss_resampler (tools/common),
                              not by the engine, which stays free of dependencies; a stream
                              created with this mode runs at the model's rate */
} hiss_rate_mode;

typedef enum hiss_backend {
    HISS_BACKEND_AUTO = 0, /* CUDA when available and worth it, else CPU */
    HISS_BACKEND_CPU = 1,
    HISS_BACKEND_CUDA = 2,
    /* A hiss-server process runs the stream, batched with every other stream of the same model
     * and rate that it serves (plugin instances of one host, or of several): see
     * docs/server.md. Output comes max_block frames late (hiss_stream_latency says so), in
     * every sync mode. By default (HISS_SYNC_PIPELINED) process() never waits for the server:
     * frames it has not finished in time are silence, counted by hiss_stream_deadline_misses.
     * HISS_SYNC_DEADLINE makes process() wait for them, up to deadline_us a call: for a host
     * that is not running in real time (an export), which calls process() back to back. The model must have been loaded from a file,
     * which the server loads too (and checks to be the same weights). On this backend a reset
     * also drops the results still in flight (silence until the reset stream's own come through),
     * and snapshot and restore ask the server over its socket: they wait for it and are not
     * real-time. */
    HISS_BACKEND_SERVER = 3
} hiss_backend;

typedef struct hiss_stream_opts {
    int n_streams;          /* independent streams advanced together, >= 1 */
    int max_block;          /* the most frames one process call will pass, >= 1 */
    double host_rate;       /* 0: the model's rate */
    hiss_rate_mode rate_mode;
    hiss_backend backend;
    const char *server;     /* HISS_BACKEND_SERVER: the server's socket; NULL: the default */
} hiss_stream_opts;

hiss_stream_opts hiss_stream_opts_default(void);

typedef struct hiss_stream hiss_stream;

hiss_status hiss_stream_create(const hiss_model *m, const hiss_stream_opts *opts,
                               hiss_stream **out, hiss_error *err);
void hiss_stream_free(hiss_stream *s);

const hiss_model *hiss_stream_model(const hiss_stream *s);
int hiss_stream_count(const hiss_stream *s);
hiss_backend hiss_stream_backend(const hiss_stream *s);
/* Latency in frames that the engine adds now (0 on the CPU backend; max_block for a CUDA stream
 * in HISS_SYNC_PIPELINED). */
int hiss_stream_latency(const hiss_stream *s);

/* How process() waits for a device backend. The CPU backend is always WAIT. */
typedef enum hiss_sync_mode {
    /* process() returns this call's output, waiting for the device as long as it takes. */
    HISS_SYNC_WAIT = 0,
    /* As WAIT, but waits at most deadline_us from the start of the call: a block the device has
     * not finished by then outputs silence and is counted (hiss_stream_deadline_misses). Its
     * input is still processed, so the state stays exact. */
    HISS_SYNC_DEADLINE = 1,
    /* process() submits this call's input and returns output delayed by max_block frames: the
     * device works while the host waits for the next block. hiss_stream_latency reports it. */
    HISS_SYNC_PIPELINED = 2
} hiss_sync_mode;

/* Not real-time: call between process calls, from the thread that calls process. HISS_ERR_BACKEND
 * for a mode the stream's backend does not have (the CPU has WAIT only; the server PIPELINED and
 * DEADLINE, and there this call is real-time safe: see HISS_BACKEND_SERVER). */
hiss_status hiss_stream_set_sync(hiss_stream *s, hiss_sync_mode mode, double deadline_us);
/* Blocks whose output a missed deadline replaced by silence, since creation. */
uint64_t hiss_stream_deadline_misses(const hiss_stream *s);

/* Advance every stream by n_frames (1..max_block). in[k] and out[k] are stream k's buffers;
 * in and out may be the same buffers. The output depends only on the samples, never on how the
 * stream is cut into calls. Non-finite input samples are processed as 0 and counted; a stream
 * whose state becomes non-finite is reset, outputs 0 for that sample, and is counted. */
hiss_status hiss_stream_process(hiss_stream *s, const float *const *in, float *const *out,
                                int n_frames);

/* Set conditioning input idx of stream k (k = -1: all streams); takes effect at the next sample.
 * Every conditioning value starts at 0; a non-finite value is stored as 0. */
void hiss_stream_set_cond(hiss_stream *s, int k, int idx, float value);
float hiss_stream_get_cond(const hiss_stream *s, int k, int idx);

/* Zero the state of stream k (k = -1: all); conditioning values are kept. */
void hiss_stream_reset(hiss_stream *s, int k);

typedef struct hiss_counters {
    uint64_t frames;           /* samples processed */
    uint64_t nonfinite_inputs; /* input samples that were NaN or Inf */
    uint64_t clamped_inputs;   /* finite input samples beyond +-HISS_INPUT_LIMIT */
    uint64_t state_resets;     /* times the state became non-finite and was reset */
} hiss_counters;
#define HISS_INPUT_LIMIT 1000.0f

hiss_counters hiss_stream_counters(const hiss_stream *s, int k);

/* Snapshot of stream k's state (k = -1: every stream) into a caller buffer, and back. The size
 * is fixed per stream at creation, so a real-time thread can keep a buffer ready. */
size_t hiss_stream_snapshot_size(const hiss_stream *s, int k);
hiss_status hiss_stream_snapshot(const hiss_stream *s, int k, void *buf, size_t size);
hiss_status hiss_stream_restore(hiss_stream *s, int k, const void *buf, size_t size);

/* ---- offline rendering ------------------------------------------------------------------ */

/* A whole mono signal through an FX model from a zero state, conditioning held at cond[n_cond]
 * (NULL: zeros). The CPU path is a stream; the CUDA path runs the time-parallel form (everything
 * but the scan per sample in parallel, the scan as a chunked linear recurrence with carries).
 * in and out may be the same buffer. Not real-time. */
hiss_status hiss_render_offline(const hiss_model *m, const float *in, float *out, size_t n,
                                hiss_backend backend, const float *cond, hiss_error *err);

/* count independent signals (files, channels) through one model, each from a zero state: the
 * result for sequence k is what hiss_render_offline gives for in[k][0..n[k]) with cond[k]
 * (cond NULL, or cond[k] NULL: zeros). On the CPU the sequences are rendered one after another,
 * bit for bit as alone. On CUDA they are laid end to end and go through the time-parallel render
 * together, in one set of launches per segment, with the conv history and the scan's carry cut at
 * each sequence's first sample: equal to rendering each alone to float rounding. A sequence
 * whose output turns non-finite is rendered again from there by the CUDA stream, as
 * hiss_render_offline does, the others untouched. out[k] may be in[k]; it must not overlap any
 * other sequence's buffers. n[k] may be 0. Not real-time. */
hiss_status hiss_render_offline_batch(const hiss_model *m, const float *const *in, float *const *out,
                                      const size_t *n, int count, const float *const *cond,
                                      hiss_backend backend, hiss_error *err);

/* One signal rendered a call at a time: each hiss_offline_render call goes on from where the one
 * before ended (the conv history of every layer and the SSM state are carried), so a long file
 * can be read, rendered and written a piece at a time. However the signal is cut into calls
 * (calls of 1 sample and of 0 included), the result is what one hiss_render_offline call over the
 * whole signal gives with the same backend and cond: bit for bit on the CPU (a stream), to float
 * rounding on CUDA (the time-parallel render; calls are cut into segments of 2^20 samples, so
 * calls of whole segments run the very passes one call runs). On CUDA the weights, the work
 * buffers and the carry stay on the device between calls; an output that turns non-finite sends
 * the rest of the signal through the CUDA stream, as hiss_render_offline does. backend: as for
 * hiss_render_offline (AUTO: CUDA when a device is present, else CPU). The model must outlive the
 * renderer. Not real-time. */
typedef struct hiss_offline hiss_offline;
hiss_status hiss_offline_create(const hiss_model *m, hiss_backend backend, const float *cond,
                                hiss_offline **out, hiss_error *err);
/* The next n samples of the signal; in may equal out. After an error the renderer's state is
 * unknown: free it. */
hiss_status hiss_offline_render(hiss_offline *r, const float *in, float *out, size_t n,
                                hiss_error *err);
/* The backend it runs on: HISS_BACKEND_CPU or HISS_BACKEND_CUDA. */
hiss_backend hiss_offline_backend(const hiss_offline *r);
void hiss_offline_free(hiss_offline *r);

/* ---- backends ----------------------------------------------------------------------------- */

/* 1 when the library was built with the backend and a device is present. */
int hiss_backend_available(hiss_backend b);
const char *hiss_backend_name(hiss_backend b);

/* The socket a hiss-server listens on unless told otherwise: $XDG_RUNTIME_DIR/hiss-server.sock,
 * else /tmp/hiss-server-<uid>.sock. Writes at most n bytes (NUL included); returns buf. */
char *hiss_server_default_path(char *buf, size_t n);

/* ---- utilities ---------------------------------------------------------------------------- */

/* Flush denormals to zero on this thread for as long as the guard lives. Process does this
 * itself; hosts can use it around their own DSP. */
typedef struct hiss_fpguard { uint32_t saved; } hiss_fpguard;
hiss_fpguard hiss_fp_enter(void);
void hiss_fp_leave(hiss_fpguard g);

#ifdef __cplusplus
}
#endif
#endif
