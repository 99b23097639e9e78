/* The declarations of hiss_train that exist once per real type. Included twice by hiss_train.h,
 * with HT_REAL float / HT_FN(n) ht_f_##n and with HT_REAL double / HT_FN(n) ht_d_##n, so there is
 * deliberately no include guard. */

/* Activations of one window (every tensor backward needs) and backward scratch. */
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
