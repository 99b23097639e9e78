/* The ops of the forward pass, each with its backward beside it. Sequences are row-major [T, C]
 * with a leading dimension (ld) so views into wider rows (xi and z of in_proj's output, dt, B and
 * C of x_proj's output) need no copies. Every backward ADDS into its input and parameter
 * gradients, so the caller zeroes them once and paths that meet (residual, x) simply sum.
 *
 * They are nearly all the trainer's time, so the float ops are compiled once per vector
 * instruction set (ops.c, see CMakeLists.txt) and reached through a table: acts_create takes the
 * table of the set ht_isa_select picks, and the network calls a->ops->op(...). The double ops (the
 * gradient check) are compiled once, for the baseline. */
#ifndef HISS_TRAIN_OPS_H
#define HISS_TRAIN_OPS_H

#include "train_real.h"

typedef struct HT_FN(ops) {
    /* out[t, o] = b[o] + sum_i W[o, i] in[t, i]   (b may be NULL); wt: scratch [n_in * n_out] */
    void (*linear_forward)(real *out, int ldo, const real *in, int ldi, const real *W,
                           const real *b, int T, int n_in, int n_out, real *wt);
    /* din (may be NULL), dW, db (may be NULL) += */
    void (*linear_backward)(real *din, int lddi, real *dW, real *db, const real *dout, int lddo,
                            const real *in, int ldi, const real *W, int T, int n_in, int n_out);

    /* out = in / sqrt(mean(in^2) + eps) * w, per row; rstd[t] kept for backward. */
    void (*rmsnorm_forward)(real *out, real *rstd, const real *in, const real *w, int T, int C,
                            real eps);
    void (*rmsnorm_backward)(real *din, real *dw, const real *dout, const real *in,
                             const real *rstd, const real *w, int T, int C);

    /* Causal depthwise conv1d: out[t, d] = b[d] + sum_k w[d, k] in[t - K + 1 + k, d], where the
     * inputs before t = 0 are hist[K - 1 + s, d] for s = -(K-1) .. -1 ([K-1, C], oldest first),
     * or zeros when hist is NULL. wt: scratch [K C]. */
    void (*conv_forward)(real *out, const real *in, int ldi, const real *hist, const real *w,
                         const real *b, int T, int C, int K, real *wt);
    /* hist is a constant: it gets no gradient, but w does through it. wt: scratch [2 K C]. */
    void (*conv_backward)(real *din, int lddi, real *dw, real *db, const real *dout,
                          const real *in, int ldi, const real *hist, const real *w, int T, int C,
                          int K, real *wt);

    /* silu(v) = v sigmoid(v), over n contiguous values */
    void (*silu_forward)(real *out, const real *in, size_t n);
    void (*silu_backward)(real *din, const real *dout, const real *in, size_t n);

    /* softplus(v) = v if v > 20 else log(1 + exp(v)) */
    void (*softplus_forward)(real *out, const real *in, size_t n);
    void (*softplus_backward)(real *din, const real *dout, const real *in, size_t n);

    /* A = -exp(A_log), written transposed: A_log is [C, N] (the file's layout), A is [N, C] so
     * the scan runs along C (d_inner) without strides. */
    void (*alog_forward)(real *A, const real *A_log, int C, int N);
    void (*alog_backward)(real *dA_log, const real *dA, const real *A, int C, int N);

    /* The selective scan with the D skip, from s_{-1} = s0 ([N, C]; NULL: zero):
     *   s_t[n, d] = exp(delta_t[d] A[n, d]) s_{t-1}[n, d] + delta_t[d] B_t[n] x_t[d]
     *   y_t[d]    = sum_n C_t[n] s_t[n, d] + D[d] x_t[d]
     * B and C are rows of ldbc (C_t follows B_t by N). The states are kept at the end of every
     * Kc steps only: Sck [ceil(T / Kc), N, C] receives s_{Kc-1}, s_{2Kc-1}, ..., and s_{T-1}
     * last; Sbuf [Kc, N, C] is scratch. */
    void (*scan_forward)(real *y, real *Sck, real *Sbuf, const real *x, const real *delta,
                         const real *A, const real *BC, int ldbc, const real *D, const real *s0,
                         int T, int C, int N, int Kc);
    /* Through time, last step first, each chunk of Kc steps recomputed from the checkpoint
     * before it into Sbuf and Abuf ([Kc, N, C] each); ds [N * C] and gs [C] are scratch. dA is
     * [N, C] like A. s0 is a constant (no gradient flows into it). */
    void (*scan_backward)(real *dx, real *ddelta, real *dA, real *dBC, real *dD, real *ds,
                          real *gs, const real *dy, const real *Sck, real *Sbuf, real *Abuf,
                          const real *x, const real *delta, const real *A, const real *BC,
                          int ldbc, const real *D, const real *s0, int T, int C, int N, int Kc);

    /* y = v * silu(z), z a view of ldz */
    void (*gate_forward)(real *y, const real *v, const real *z, int ldz, int T, int C);
    void (*gate_backward)(real *dv, real *dz, int lddz, const real *dy, const real *v,
                          const real *z, int ldz, int T, int C);

    /* Embedding lookup: out[t, :] += E[idx[t], :] (E is [classes, C]). Backward scatters: rows
     * of dE that several steps looked up receive the sum of their gradients. */
    void (*embed_forward)(real *out, const unsigned char *idx, const real *E, int T, int C);
    void (*embed_backward)(real *dE, const real *dout, const unsigned char *idx, int T, int C);

    /* Cross-entropy of each row of logits z [T, K] (K <= 256) against the class y[t]:
     * returns sum_t (log sum_k exp z[t, k] - z[t, y[t]]) in nats (summed in double). With dz
     * (which may be z itself), dz[t, k] = scale (softmax(z_t)[k] - [k == y[t]]), the gradient of
     * scale times that sum. */
    double (*xent)(real *dz, const real *z, const unsigned char *y, int T, int K, real scale);
} HT_FN(ops);

/* The ops compiled with the build's flags (-march=native with HISS_NATIVE). */
extern const HT_FN(ops) HT_FN(ops_base);

#ifndef HT_DOUBLE
/* ops.c again, for AVX2 + FMA and for AVX-512, in builds that have them (see CMakeLists.txt) */
extern const ht_f_ops ht_f_ops_avx2, ht_f_ops_avx512;
/* The float ops of an instruction set ht_isa_select returned. */
const ht_f_ops *ht_f_ops_for(ht_isa isa);
#endif

#endif
