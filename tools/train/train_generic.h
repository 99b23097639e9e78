/* The declarations of hiss_train that exist once per real type. Included twice by hiss_train.h,
 * with HT_REAL float / HT_FN(n) ht_f_##n and with HT_REAL double / HT_FN(n) ht_d_##n, so there is
 * deliberately no include guard. */

/* Activations of one window (every tensor backward needs) and backward scratch. NULL out of
 * memory, or (float) when ht_isa_select refuses HISS_TRAIN_ISA. */
typedef struct HT_FN(acts) HT_FN(acts);
HT_FN(acts) *HT_FN(acts_create)(const ht_layout *L, int T);
void HT_FN(acts_free)(HT_FN(acts) *a);

/* Forward of one window of T samples from a zero state. in: [T * n_in]; out: [T]. */
void HT_FN(forward)(const ht_layout *L, const HT_REAL *P, HT_FN(acts) *a, const HT_REAL *in,
                    HT_REAL *out);
/* Backward of the last forward: dout [T] is d loss / d out; the parameter gradients are added
 * to G (same layout as P). */
void HT_FN(backward)(const ht_layout *L, const HT_REAL *P, HT_FN(acts) *a, const HT_REAL *dout,
                     HT_REAL *G);

/* Add one window's targets to the batch denominators (start from a zeroed ht_loss_norm). */
void HT_FN(loss_norm_add)(ht_loss_norm *norm, const ht_loss_cfg *lc, const HT_REAL *target, int T,
                          int warmup);
/* One window's share of the loss; dpred (may be NULL) receives d loss / d pred for all T. */
void HT_FN(window_loss)(const ht_loss_cfg *lc, const ht_loss_norm *norm, const HT_REAL *pred,
                        const HT_REAL *target, int T, int warmup, ht_loss_parts *parts,
                        HT_REAL *dpred);

/* Parameters from / to an engine model of the same configuration, matched by tensor name and
 * shape. to_model refreshes the model's derived tensors. 0 on success, -1 with err set. */
int HT_FN(params_from_model)(const ht_layout *L, const hiss_model *m, HT_REAL *P, hiss_error *err);
int HT_FN(params_to_model)(const ht_layout *L, const HT_REAL *P, hiss_model *m, hiss_error *err);

/* Global L2 norm of a gradient. */
double HT_FN(grad_norm)(const ht_layout *L, const HT_REAL *G);
/* One AdamW step (decoupled weight decay on tensors with .decay set); step counts from 1. */
void HT_FN(adamw_update)(const ht_layout *L, HT_REAL *P, const HT_REAL *G, HT_REAL *m, HT_REAL *v,
                         long step, double lr, const ht_train_opts *o);

/* What both trainers keep for the optimiser: Adam's moments and the batch gradient (n_params
 * each), and the steps taken. */
typedef struct HT_FN(adam) {
    HT_REAL *m, *v, *G;
    long step;
} HT_FN(adam);
/* Zeroed state. 0, or -1 out of memory (adam_free is safe either way). */
int HT_FN(adam_init)(HT_FN(adam) *a, size_t n_params);
void HT_FN(adam_free)(HT_FN(adam) *a);
/* One step from the gradient in a->G, whose norm is grad_norm: clipped to o->clip (0: not), the
 * schedule's learning rate at this step, AdamW on P. Returns that learning rate. */
double HT_FN(adam_step)(HT_FN(adam) *a, const ht_layout *L, const ht_train_opts *o, HT_REAL *P,
                        double grad_norm);

/* The trainer: owns Adam's moments, one activation set and gradient buffer per thread, and the
 * window sampler; P belongs to the caller and is updated in place. */
typedef struct HT_FN(trainer) HT_FN(trainer);
HT_FN(trainer) *HT_FN(trainer_create)(const ht_layout *L, const ht_train_opts *o, HT_REAL *P);
void HT_FN(trainer_free)(HT_FN(trainer) *tr);
/* One optimisation step on `batch` windows sampled from d (d->n >= window). 0 or -1 (thread
 * creation failed). */
int HT_FN(trainer_step)(HT_FN(trainer) *tr, const ht_data *d, ht_step_stats *st);
/* Loss and gradient of the windows starting at starts[0..n_win) with the current parameters,
 * without updating them; G receives the reduced gradient. Used by the step and by tests. */
int HT_FN(trainer_grad)(HT_FN(trainer) *tr, const ht_data *d, const size_t *starts, int n_win,
                        HT_REAL *G, ht_step_stats *st);
long HT_FN(trainer_steps)(const HT_FN(trainer) *tr);
/* Adam state for checkpoints: m and v (n_params each), and the step counter / sampler state. */
HT_REAL *HT_FN(trainer_moment)(HT_FN(trainer) *tr, int which);
void HT_FN(trainer_get_counters)(const HT_FN(trainer) *tr, long *step, uint64_t *rng);
void HT_FN(trainer_set_counters)(HT_FN(trainer) *tr, long step, uint64_t rng);

/* ---- synth models (docs/synth.md) ---- */

/* One chunk of T samples (T up to the window the acts were made for) of one note through the
 * synth head and the backbone: in [T] the previous classes, cond [T * n_cond], tgt [T] the
 * classes to predict. state0 is the model state at the chunk's first sample (ht_state_reals;
 * NULL: zero, the note-on). Returns the chunk's summed cross-entropy in nats. With G, the
 * gradient of scale times that sum is added to G; state0 is held fixed (backpropagation through
 * time stops at the chunk's start, the forward state does not). */
double HT_FN(synth_window)(const ht_layout *L, const HT_REAL *P, HT_FN(acts) *a, int T,
                           const unsigned char *in, const HT_REAL *cond,
                           const unsigned char *tgt, const HT_REAL *state0, HT_REAL *G,
                           double scale);
/* After a synth_window without G: its logits, [T, 256]. */
const HT_REAL *HT_FN(acts_logits)(const HT_FN(acts) *a);
/* The model state after the last chunk (ht_state_reals). */
void HT_FN(state_out)(const ht_layout *L, const HT_FN(acts) *a, HT_REAL *state);

/* Parameters from / to a synth model of the same configuration, by tensor name. */
int HT_FN(params_from_synth)(const ht_layout *L, const hiss_synth_model *m, HT_REAL *P,
                             hiss_error *err);
int HT_FN(params_to_synth)(const ht_layout *L, const HT_REAL *P, hiss_synth_model *m,
                           hiss_error *err);

/* The synth trainer: `batch` streams walk the notes of d (see ht_synth_order), `window` samples
 * per chunk, the streams spread over `threads`; each stream's gradient has its own buffer and
 * they are summed in stream order, so the result is the same bytes for any thread count. d must
 * outlive it. */
typedef struct HT_FN(synth_trainer) HT_FN(synth_trainer);
HT_FN(synth_trainer) *HT_FN(synth_trainer_create)(const ht_layout *L, const ht_train_opts *o,
                                                  HT_REAL *P, const ht_synth_data *d);
void HT_FN(synth_trainer_free)(HT_FN(synth_trainer) *tr);
/* Streams back to the start of epoch e's order, each at a note-on. */
void HT_FN(synth_epoch_begin)(HT_FN(synth_trainer) *tr, int epoch);
/* Loss and gradient (into G) of the chunks the streams play next, with the current parameters;
 * the streams do not move. 0, 1 when the epoch is over (no stream has a note left), -1 when a
 * thread could not be started. */
int HT_FN(synth_grad)(HT_FN(synth_trainer) *tr, HT_REAL *G, ht_synth_stats *st);
/* Moves the streams past the chunks of the last synth_grad (their states, as computed there). */
void HT_FN(synth_commit)(HT_FN(synth_trainer) *tr);
/* synth_grad, gradient clipping, AdamW, synth_commit. 0, 1 (epoch over, nothing done) or -1. */
int HT_FN(synth_step)(HT_FN(synth_trainer) *tr, ht_synth_stats *st);
long HT_FN(synth_trainer_steps)(const HT_FN(synth_trainer) *tr);
void HT_FN(synth_trainer_set_steps)(HT_FN(synth_trainer) *tr, long step);
HT_REAL *HT_FN(synth_trainer_moment)(HT_FN(synth_trainer) *tr, int which);
