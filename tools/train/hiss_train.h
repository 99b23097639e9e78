/* hiss_train: the training math of hiss-train, with no I/O. Forward over windows of audio with
 * every activation kept, backward through time written by hand for each op, the ESR loss, AdamW
 * and a threaded batch step; for synth models (docs/synth.md) the embedding / cond_proj /
 * lm_head head, the cross-entropy over the 256 mu-law classes and a trainer that walks notes
 * from their note-on in chunks, carrying the model state from chunk to chunk.
 *
 * The arithmetic is written once and compiled twice: the ht_f_* functions work in float (training),
 * the ht_d_* functions in double (the gradient check, where finite differences need the digits).
 * Parameters and gradients are flat arrays in the layout of ht_layout, which names every tensor as
 * in docs/model-format.md; ht_*_params_from_model / ht_*_params_to_model copy them to and from an
 * engine model by name. */
#ifndef HISS_TRAIN_H
#define HISS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hiss.h"
#include "hiss_synth.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Offsets (in elements) of one layer's tensors inside the flat parameter array. */
typedef struct ht_layer_off {
    size_t norm_w, in_proj, conv_w, conv_b, x_proj, dt_w, dt_b, A_log, D, out_proj;
} ht_layer_off;

typedef struct ht_tensor_info {
    char name[96];
    int ndim;
    int64_t shape[4];
    size_t offset, numel;
    int decay; /* 1: AdamW's weight decay applies (matrices only, not norms, biases, A_log, D) */
} ht_tensor_info;

typedef struct ht_layout {
    int d_model, n_layer, d_inner, d_state, d_conv, dt_rank, n_in, skip;
    double eps;
    int n_tensors;
    ht_tensor_info *t;
    size_t n_params;
    size_t in_w, in_b, norm_f, out_w, out_b; /* fx head */
    ht_layer_off *layer;
    /* Synth models: n_in is n_cond (the conditioning values of a frame; the previous class goes
     * through the embedding), in_w .. out_b are unused and these are the head's offsets. */
    int synth, head_bias;
    size_t emb, cond_w, cond_b, lm_w, lm_b; /* lm_b only with head_bias */
} ht_layout;

/* From a complete configuration (as hiss_model_config returns it). 0 on success, -1 on a bad
 * configuration or no memory. */
int ht_layout_init(ht_layout *L, const hiss_config *cfg);
/* A synth model's layout (cfg as hiss_synth_model_config returns it: io HISS_IO_SYNTH, n_cond
 * features), tensors in the order of docs/synth.md; head_bias: lm_head.bias is present. */
int ht_layout_init_synth(ht_layout *L, const hiss_config *cfg, int head_bias);
/* Floats of one stream's model state, laid out as the engine's (per layer: the conv history
 * [(d_conv - 1) x d_inner], oldest first, then the SSM state [d_state x d_inner]). */
size_t ht_state_reals(const ht_layout *L);
/* Multiply-accumulates per sample of a synth model, counted as hiss_model_macs_per_sample counts
 * an fx model's, with the head's (256 + n_cond) x d_model (+ the log-softmax's 256) instead. */
uint64_t ht_synth_macs_per_sample(const ht_layout *L);
void ht_layout_free(ht_layout *L);
const ht_tensor_info *ht_layout_find(const ht_layout *L, const char *name);

/* The vector instruction sets the float training math (ops.c) is compiled for: in a portable
 * x86-64 build the baseline (SSE2), AVX2 with FMA and AVX-512 with FMA; in a -DHISS_NATIVE=ON
 * build only the build machine's (native); elsewhere the baseline alone. The sets round
 * differently (FMA contraction, vector widths), so the same seed and thread count give the same
 * bytes only under the same set: the widest the processor runs, or the one the environment
 * variable HISS_TRAIN_ISA names (baseline, avx2, avx512 or native), which pins it across
 * machines. The double math (the gradient check) is the baseline's always. */
typedef enum ht_isa { HT_ISA_BASELINE, HT_ISA_AVX2, HT_ISA_AVX512, HT_ISA_NATIVE } ht_isa;
/* The set this process trains with (every acts_create asks it). 0, or -1 with err (may be NULL)
 * saying why when HISS_TRAIN_ISA names a set that is unknown, not in this build, or not run by
 * this processor. */
int ht_isa_select(ht_isa *isa, hiss_error *err);
const char *ht_isa_name(ht_isa isa);

/* Reals one window of T samples needs for activations and backward scratch (see net.c for the
 * formula); multiply by sizeof(float) or sizeof(double). */
size_t ht_acts_reals(const ht_layout *L, int T);

/* Training data: n frames of n_in inputs (the audio sample, then the conditioning values),
 * and the n target samples. */
typedef struct ht_data {
    const float *in;     /* [n * n_in] */
    const float *target; /* [n] */
    size_t n;
    int n_in;
    /* Optional: the data is n_seg recordings end to end, recording i ending at seg_end[i]
     * (increasing, the last = n); sampled windows never straddle two. n_seg 0: one recording. */
    int n_seg;
    const size_t *seg_end;
} ht_data;

/* Window starts a trainer can sample from d: how many (0 when no recording holds a window). */
size_t ht_data_window_count(const ht_data *d, int window);
/* The k-th of them, k < ht_data_window_count. */
size_t ht_data_window_start(const ht_data *d, int window, size_t k);

/* Synth training data: recorded notes end to end, each from its note-on sample through its
 * release tail, as mu-law classes, and what each note was (the conditioning is computed from
 * that, sample by sample, by hiss_synth_note_start / _advance and hiss_synth_feature_value, as
 * a voice computes it). */
typedef struct ht_note {
    size_t start;   /* first sample (the note-on) in cls */
    size_t len;     /* samples, release tail included */
    size_t on_len;  /* samples with the key down: the gate closes at sample on_len (< len) */
    int note;       /* MIDI note number */
    int velocity;   /* 1..127 */
} ht_note;

typedef struct ht_synth_data {
    const unsigned char *cls; /* [n] class of every sample */
    size_t n;
    const ht_note *notes;
    int n_notes;
    int n_cond;
    const hiss_synth_feature *feat; /* [n_cond] feature of each conditioning input */
    double rate;
} ht_synth_data;

/* Teacher forcing for samples [from, from + T) of note k: in[t] the class of the recorded
 * sample before (HISS_SYNTH_SILENCE_CLASS at the note-on), tgt[t] the class of the sample,
 * cond[t * n_cond + i] feature i. *ns holds the note's feature state at sample `from` on entry
 * (hiss_synth_note_start at 0) and at from + T on return. */
void ht_synth_frames(const ht_synth_data *d, int k, size_t from, int T, hiss_synth_note *ns,
                     unsigned char *in, unsigned char *tgt, float *cond);

/* How the notes are walked: each epoch, `streams` streams take the notes in an order drawn from
 * (seed, epoch), each playing its note from the note-on to the end in chunks of at most
 * `window` samples and then taking the next; a step is one chunk of every busy stream. So each
 * epoch sees every sample once, every chunk starts from the state the note really has there,
 * and the batch shrinks only over the last notes. */
void ht_synth_order(int n_notes, uint64_t seed, int epoch, int *order);
long ht_synth_epoch_steps(const ht_synth_data *d, int streams, int window, uint64_t seed,
                          int epoch);

typedef struct ht_synth_stats {
    double nll;        /* mean cross-entropy, nats per sample */
    double bits;       /* the same in bits per sample */
    long n;            /* samples in the batch */
    int streams;       /* busy streams */
    double grad_norm, lr;
} ht_synth_stats;

/* Teacher-forced cross-entropy of a synth model on notes, through the engine (hiss_synth_step,
 * each note from a zero state), in bits per sample; threads split the notes. */
hiss_status ht_synth_eval_engine(const hiss_synth_model *m, const ht_synth_data *d, int threads,
                                 double *bits, hiss_error *err);

/* Self-feed (scheduled sampling): a voice plays from its own draws, and a model trained only on
 * the recording's previous class never saw those. So each input of a training chunk is, with
 * probability p, the class the engine drew (temperature 1, top-p 1) from its own logits at the
 * sample before, playing the chunk itself from the state its note has there; else the recorded
 * class. The coin and the draw of sample i of note `note` come from a hash of (seed, epoch,
 * note, i), so the inputs do not depend on threads or chunking. */
enum { HT_SELF_FEED_COIN = 1, HT_SELF_FEED_DRAW = 2 };
/* The hash behind the coin (what = HT_SELF_FEED_COIN: the input at sample i) and the draw
 * (HT_SELF_FEED_DRAW: the generator, hiss_synth_rng_seed, of the class drawn from the logits of
 * sample i). */
uint64_t ht_self_feed_hash(uint64_t seed, int epoch, int note, size_t i, int what);
/* The probability in epoch `epoch` (from 0): p * epoch / ramp while epoch < ramp, then p. */
double ht_self_feed_at(double p, int ramp, int epoch);

/* What one thread needs to play chunks (no allocation while it plays). */
typedef struct ht_self_feed_work {
    float *scratch; /* hiss_synth_scratch_floats(m) */
    float logits[HISS_SYNTH_CLASSES];
    hiss_synth_sampler sampler;
} ht_self_feed_work;

/* Samples [from, from + T) of note `note` played through the engine m, one hiss_synth_step
 * each, from *state (the voice state at sample `from`: zero at the note-on) with conditioning
 * cond [T * n_cond]. in [T] holds the teacher-forced inputs on entry; on return in[t] is the
 * input fed at sample from + t: the engine's draw from the logits of the sample before where
 * that sample's coin (probability p) says so, else the input given (the note-on's input always).
 * *draw: on entry the draw the coin of sample `from` asks for (made by the previous chunk), -1
 * when none; on return the same for sample from + T. *state is left after the chunk. */
void ht_self_feed_chunk(const hiss_synth_model *m, double p, uint64_t seed, int epoch, int note,
                        size_t from, int T, const float *cond, unsigned char *in, float *state,
                        int *draw, ht_self_feed_work *w);

typedef struct ht_loss_cfg {
    double pre_emph;  /* pre-emphasis coefficient: e[t] = y[t] - k y[t-1] (0.85) */
    double dc_weight; /* weight of the DC term (1) */
} ht_loss_cfg;

/* Denominators of the batch loss; they depend on the targets only, so every window's share of
 * the loss and of its gradient can be computed on its own (and on its own thread). */
typedef struct ht_loss_norm {
    double pe_energy; /* sum of pe(target)^2 over the loss region of every window */
    double energy;    /* sum of target^2 over the same */
    long n_loss;      /* loss samples per window (T - warm-up) */
} ht_loss_norm;

/* One window's share, in double whatever the real type. */
typedef struct ht_loss_parts {
    double esr_pe;    /* sum (pe(p) - pe(t))^2 / pe_energy */
    double dc;        /* (sum (p - t))^2 / (n_loss * energy) */
    double err;       /* sum (p - t)^2 (plain ESR numerator) */
} ht_loss_parts;

typedef enum ht_schedule { HT_SCHED_COSINE = 0, HT_SCHED_STEP = 1 } ht_schedule;

typedef struct ht_train_opts {
    int batch;            /* windows per step */
    int window;           /* samples per window, warm-up included */
    int warmup;           /* leading samples of each window left out of the loss */
    int threads;
    uint64_t seed;        /* window sampling */
    double lr, lr_min;
    long lr_warmup_steps; /* linear ramp from 0 */
    long total_steps;     /* end of the cosine; step decay: steps between halvings */
    ht_schedule schedule;
    double beta1, beta2, adam_eps, weight_decay;
    double clip;          /* global gradient norm limit, 0: none */
    ht_loss_cfg loss;
    int input_noise;      /* synth: teacher-forced input classes moved by up to +-this (0: off) */
    double self_feed;     /* synth: probability that an input is the model's own draw (0: off) */
    int self_feed_ramp;   /* synth: epochs over which self_feed grows from 0 (0: from the start) */
} ht_train_opts;

ht_train_opts ht_train_opts_default(void);
double ht_lr_at(const ht_train_opts *o, long step);

typedef struct ht_step_stats {
    double loss, esr_pe, dc, esr; /* esr: plain ESR of the batch */
    double grad_norm, lr;
} ht_step_stats;

/* ESR of a model on data, run through the engine (CPU stream from a zero state), the first
 * `skip` samples left out: plain and pre-emphasised. Returns HISS_OK or why not. */
hiss_status ht_eval_engine(const hiss_model *m, const ht_data *d, size_t skip, double pre_emph,
                           double *esr, double *esr_pe, float *pred_out, hiss_error *err);

#define HT_REAL float
#define HT_FN(n) ht_f_##n
#include "train_generic.h"
#undef HT_REAL
#undef HT_FN
#define HT_REAL double
#define HT_FN(n) ht_d_##n
#include "train_generic.h"
#undef HT_REAL
#undef HT_FN

#ifdef __cplusplus
}
#endif
#endif
