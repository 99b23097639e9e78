/* Forward and backward of each op, side by side; see ops.h for the equations. The float
 * compilation may be built again for wider vector units under another HT_OPS_TABLE name (see
 * CMakeLists.txt), so everything here is static but the table at the end. */
#include <stdint.h>
#include <string.h>

#include "ops.h"

#ifndef HT_OPS_TABLE
#define HT_OPS_TABLE HT_FN(ops_base)
#endif

/* NR: the floats of one vector register of the instruction set the file is compiled for (a
 * wider generic vector is split by the compiler into registers badly, through the stack). MR:
 * the rows of the register tile of the products below, MR vectors of accumulators, about half
 * the registers. The tile changes only the speed: every element is still its own sum, in the
 * order of the plain loops. A row of the tile is one vector of the compiler's generic vector
 * extension (GCC, Clang): left to itself the compiler vectorised these loops across rows, with
 * permutes, slower than the plain loops. */
#define MR 8
#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif
#ifdef HT_DOUBLE
#define NR (VBYTES / 8)
#else
#define NR (VBYTES / 4)
#endif
typedef real vrow __attribute__((vector_size(NR * sizeof(real))));
typedef real vr8 __attribute__((vector_size(8 * sizeof(real))));
typedef real vr4 __attribute__((vector_size(4 * sizeof(real))));
typedef real vr2 __attribute__((vector_size(2 * sizeof(real))));
/* Vectors wider than the baseline's registers passed by value: GCC and Clang warn that the
 * calling convention would differ from an AVX build's. These functions are all static, never
 * called across the two, so it does not matter. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* The lanes of v added up by halves (a fixed order: the results stay deterministic), each half
 * a narrower vector so that the compiler keeps them in registers. */
static real hsum(vrow v)
{
#if NR == 16
    vr8 h8[2];
    memcpy(h8, &v, sizeof h8);
    const vr8 v8 = h8[0] + h8[1];
#elif NR == 8
    const vr8 v8 = v;
#endif
#if NR >= 8
    vr4 h4[2];
    memcpy(h4, &v8, sizeof h4);
    const vr4 v4 = h4[0] + h4[1];
#elif NR == 4
    const vr4 v4 = v;
#endif
#if NR >= 4
    vr2 h2[2];
    memcpy(h2, &v4, sizeof h2);
    const vr2 v2 = h2[0] + h2[1];
#else
    const vr2 v2 = v;
#endif
    return v2[0] + v2[1];
}

/* The products below compute C = C0 + A B for r < M rows, j < N columns and k < K terms, with
 * C(r, j) = C[r crs + j ccs], C0(r, j) = C0[r c0rs + j ccs] (C0 NULL: zeros; C0 = C, c0rs = crs:
 * C += A B; c0rs = 0: a bias row), A(r, k) = A[r ars + k acs] and B(k, j) = B[k ldb + j]. Each
 * sum starts from C0(r, j) and adds the terms in k order, in registers: the loops over k of a
 * whole tile run with no store, and no sum waits for another. */
typedef struct gemm_c {
    real *c;
    const real *c0;
    size_t crs, ccs, c0rs;
} gemm_c;

static real c0_at(const gemm_c *g, int r, int j)
{
    return g->c0 ? g->c0[r * g->c0rs + j * g->ccs] : 0;
}

/* A tile of mr rows by nv vectors of NR columns (mr nv <= MR vectors). Inlined where mr and nv
 * are constants. */
static inline __attribute__((always_inline)) void
gemm_tile(const gemm_c *g, const real *restrict a, size_t ars, size_t acs,
          const real *restrict b, size_t ldb, int mr, int nv, int K)
{
    vrow acc[MR] = {{0}}; /* all set below; zeroed so GCC sees it (-Wmaybe-uninitialized) */
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nv; q++) {
            real v[NR];
            if (g->c0 && g->ccs == 1)
                memcpy(v, g->c0 + r * g->c0rs + q * NR, sizeof v);
            else
                for (int j = 0; j < NR; j++)
                    v[j] = c0_at(g, r, q * NR + j);
            memcpy(&acc[r * nv + q], v, sizeof v);
        }
    for (int k = 0; k < K; k++) {
        vrow bk[MR];
        for (int q = 0; q < nv; q++)
            memcpy(&bk[q], b + k * ldb + (size_t)q * NR, sizeof bk[0]);
        for (int r = 0; r < mr; r++) {
            const real ark = a[r * ars + k * acs];
            for (int q = 0; q < nv; q++)
                acc[r * nv + q] += ark * bk[q];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nv; q++) {
            real *cq = g->c + r * g->crs + (size_t)q * NR * g->ccs;
            if (g->ccs == 1)
                memcpy(cq, &acc[r * nv + q], sizeof acc[0]);
            else
                for (int j = 0; j < NR; j++)
                    cq[j * g->ccs] = acc[r * nv + q][j];
        }
}

/* The columns left of a row block when fewer than NR: nr < NR, one scalar sum each. */
static void gemm_edge(const gemm_c *g, const real *restrict a, size_t ars, size_t acs,
                      const real *restrict b, size_t ldb, int mr, int nr, int K)
{
    real acc[MR][NR];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++)
            acc[r][j] = c0_at(g, r, j);
    for (int k = 0; k < K; k++) {
        const real *bk = b + k * ldb;
        for (int r = 0; r < mr; r++) {
            const real ark = a[r * ars + k * acs];
            for (int j = 0; j < nr; j++)
                acc[r][j] += ark * bk[j];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++)
            g->c[r * g->crs + j * g->ccs] = acc[r][j];
}

/* One row of C (a bias's gradient, a matrix of one row, the row left over by MR), over long K:
 * one chain of dependent additions per vector would wait on every one, so the terms go to four
 * partial sums (k mod 4), added to C0(0, j) in that order at the end. */
static void gemm_row(const gemm_c *g, const real *restrict a, size_t acs, const real *restrict b,
                     size_t ldb, int K)
{
    vrow acc[4] = {{0}, {0}, {0}, {0}};
    int k = 0;
    for (; k + 4 <= K; k += 4)
        for (int u = 0; u < 4; u++) {
            vrow bk;
            memcpy(&bk, b + (k + u) * ldb, sizeof bk);
            acc[u] += a[(k + u) * acs] * bk;
        }
    for (; k < K; k++) {
        vrow bk;
        memcpy(&bk, b + k * ldb, sizeof bk);
        acc[k % 4] += a[k * acs] * bk;
    }
    for (int j = 0; j < NR; j++)
        g->c[j * g->ccs] = (((c0_at(g, 0, j) + acc[0][j]) + acc[1][j]) + acc[2][j]) + acc[3][j];
}

/* The last column of a row block when N is one more than a multiple of NR (x_proj's 1 + 2 N
 * outputs) or one in all (dt_proj's input): MR scalar sums side by side. */
static void gemm_col(const gemm_c *g, const real *restrict a, size_t ars, size_t acs,
                     const real *restrict b, size_t ldb, int K)
{
    real acc[MR];
    for (int r = 0; r < MR; r++)
        acc[r] = c0_at(g, r, 0);
    for (int k = 0; k < K; k++)
        for (int r = 0; r < MR; r++)
            acc[r] += a[r * ars + k * acs] * b[k * ldb];
    for (int r = 0; r < MR; r++)
        g->c[r * g->crs] = acc[r];
}

/* The whole product, in row blocks of MR. */
static void gemm(gemm_c G, const real *A, size_t ars, size_t acs, const real *B, size_t ldb,
                 int M, int N, int K)
{
    const int nvec = N / NR;
    for (int r0 = 0; r0 < M; r0 += MR) {
        const int mr = M - r0 < MR ? M - r0 : MR;
        const real *a = A + (size_t)r0 * ars;
        gemm_c g = G;
        g.c += (size_t)r0 * G.crs;
        if (g.c0)
            g.c0 += (size_t)r0 * G.c0rs;
        for (int q = 0; q < nvec; q++) {
            gemm_c gq = g;
            gq.c += (size_t)q * NR * g.ccs;
            if (gq.c0)
                gq.c0 += (size_t)q * NR * g.ccs;
            if (mr == MR)
                gemm_tile(&gq, a, ars, acs, B + q * NR, ldb, MR, 1, K);
            else if (mr == 1)
                gemm_row(&gq, a, acs, B + q * NR, ldb, K);
            else
                gemm_tile(&gq, a, ars, acs, B + q * NR, ldb, mr, 1, K);
        }
        gemm_c ge = g;
        ge.c += (size_t)nvec * NR * g.ccs;
        if (ge.c0)
            ge.c0 += (size_t)nvec * NR * g.ccs;
        if (N % NR == 1 && mr == MR)
            gemm_col(&ge, a, ars, acs, B + nvec * NR, ldb, K);
        else if (N % NR)
            gemm_edge(&ge, a, ars, acs, B + nvec * NR, ldb, mr, N % NR, K);
    }
}

/* C += A B (C0 = C). */
static gemm_c acc_into(real *C, size_t crs, size_t ccs)
{
    return (gemm_c){C, C, crs, ccs, crs};
}

static void linear_forward(real *out, int ldo, const real *in, int ldi, const real *W,
                           const real *b, int T, int n_in, int n_out, real *wt)
{
    /* W transposed once, so that each input scales a contiguous row of outputs. The sum over i
     * keeps the engine's order (bias first, then i = 0, 1, ...). */
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < n_in; i++)
            wt[(size_t)i * n_out + o] = W[(size_t)o * n_in + i];
    gemm((gemm_c){out, b, (size_t)ldo, 1, 0}, in, (size_t)ldi, 1, wt, (size_t)n_out, T, n_out,
         n_in);
}

/* din += dout W, dW += dout^T in, db += the sum of dout's rows; every sum in the order of t (dW)
 * or of o (din), as one step after another would take them, but those of a product of one row
 * (db, the weights of a layer with one input or output: gemm_row), in four partial sums. */
static void linear_backward(real *din, int lddi, real *dW, real *db, const real *dout, int lddo,
                            const real *in, int ldi, const real *W, int T, int n_in, int n_out)
{
    static const real one = 1; /* db(0, o) += sum_t 1 dout(t, o): the products are exact */
    if (db)
        gemm(acc_into(db, 0, 1), &one, 0, 0, dout, (size_t)lddo, 1, n_out, T);
    if (din)
        gemm(acc_into(din, (size_t)lddi, 1), dout, (size_t)lddo, 1, W, (size_t)n_in, T, n_in,
             n_out);
    /* dW's columns along the rows of B: those of in, or (fewer inputs than a tile's columns)
     * those of dout, dW then filled transposed */
    if (n_in >= NR || n_in >= n_out)
        gemm(acc_into(dW, (size_t)n_in, 1), dout, 1, (size_t)lddo, in, (size_t)ldi, n_out, n_in,
             T);
    else
        gemm(acc_into(dW, 1, (size_t)n_in), in, 1, (size_t)ldi, dout, (size_t)lddo, n_in, n_out,
             T);
}

static void rmsnorm_forward(real *out, real *rstd, const real *in, const real *w, int T, int C,
                            real eps)
{
    for (int t = 0; t < T; t++) {
        const real *x = in + (size_t)t * C;
        real *y = out + (size_t)t * C;
        real ss = 0;
        for (int i = 0; i < C; i++)
            ss += x[i] * x[i];
        const real r = 1 / R_SQRT(ss / (real)C + eps);
        rstd[t] = r;
        for (int i = 0; i < C; i++)
            y[i] = x[i] * r * w[i];
    }
}

/* With n = x r and r = (mean(x^2) + eps)^-1/2:  dr/dx_j = -r^3 x_j / C, so
 * dx_j = r (g_j - x_j r^2 sum_i g_i x_i / C), where g = dout * w. */
static void rmsnorm_backward(real *din, real *dw, const real *dout, const real *in,
                             const real *rstd, const real *w, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const real *x = in + (size_t)t * C;
        const real *g = dout + (size_t)t * C;
        real *dx = din + (size_t)t * C;
        const real r = rstd[t];
        real dot = 0;
        for (int i = 0; i < C; i++) {
            dw[i] += g[i] * x[i] * r;
            dot += g[i] * w[i] * x[i];
        }
        const real k = r * r * dot / (real)C;
        for (int i = 0; i < C; i++)
            dx[i] += r * (g[i] * w[i] - x[i] * k);
    }
}

/* The input row a tap reads at step t: in[s] for s = t - K + 1 + k >= 0, else the history's (or
 * none: zeros). */
static const real *conv_src(const real *in, int ldi, const real *hist, int t, int k, int C, int K)
{
    const int s = t - K + 1 + k;
    if (s >= 0)
        return in + (size_t)s * ldi;
    return hist ? hist + (size_t)(K - 1 + s) * C : NULL;
}

/* The taps transposed (wt [K, C]) so that each scales a contiguous row; each output sums bias,
 * then k = 0, 1, ... as the engine does. */
static void conv_forward(real *out, const real *in, int ldi, const real *hist, const real *w,
                         const real *b, int T, int C, int K, real *wt)
{
    for (int d = 0; d < C; d++)
        for (int k = 0; k < K; k++)
            wt[(size_t)k * C + d] = w[(size_t)d * K + k];
    for (int t = 0; t < T; t++) {
        real *restrict y = out + (size_t)t * C;
        for (int d = 0; d < C; d++)
            y[d] = b[d];
        for (int k = 0; k < K; k++) {
            const real *restrict x = conv_src(in, ldi, hist, t, k, C, K);
            const real *restrict wk = wt + (size_t)k * C;
            if (x)
                for (int d = 0; d < C; d++)
                    y[d] += wk[d] * x[d];
        }
    }
}

/* One step's share of dw (transposed, dwt [K, C]): dw[d, k] += g[d] x_k[d]. */
static void conv_dw_step(real *restrict dwt, const real *restrict g, const real *in, int ldi,
                         const real *hist, int t, int C, int K)
{
    for (int k = 0; k < K; k++) {
        const real *restrict x = conv_src(in, ldi, hist, t, k, C, K);
        real *restrict dk = dwt + (size_t)k * C;
        if (x)
            for (int d = 0; d < C; d++)
                dk[d] += g[d] * x[d];
    }
}

/* wt: scratch [2 K C]. Every sum in the order of the plain loop over t, then k: dw in t order,
 * din[s] from t = s (k = K - 1) up to t = s + K - 1 (k = 0); db (one row: gemm_row) in four
 * partial sums over t. */
static void conv_backward(real *din, int lddi, real *dw, real *db, const real *dout,
                          const real *in, int ldi, const real *hist, const real *w, int T, int C,
                          int K, real *wt)
{
    static const real one = 1;
    real *wtr = wt, *dwt = wt + (size_t)K * C;
    for (int d = 0; d < C; d++)
        for (int k = 0; k < K; k++) {
            wtr[(size_t)k * C + d] = w[(size_t)d * K + k];
            dwt[(size_t)k * C + d] = dw[(size_t)d * K + k];
        }
    gemm(acc_into(db, 0, 1), &one, 0, 0, dout, (size_t)C, 1, C, T);
    /* dw: four steps at a time once every tap reads the window, one load and store of each sum
     * per four terms (the terms still added one after another) */
    int t = 0;
    for (; t < T && t < K - 1; t++)
        conv_dw_step(dwt, dout + (size_t)t * C, in, ldi, hist, t, C, K);
    for (; t + 4 <= T; t += 4) {
        const real *g = dout + (size_t)t * C;
        for (int k = 0; k < K; k++) {
            const real *x = in + (size_t)(t - K + 1 + k) * ldi;
            real *restrict dk = dwt + (size_t)k * C;
            for (int d = 0; d < C; d++)
                dk[d] = (((dk[d] + g[d] * x[d]) + g[C + d] * x[ldi + d]) +
                         g[2 * C + d] * x[2 * ldi + d]) +
                        g[3 * C + d] * x[3 * ldi + d];
        }
    }
    for (; t < T; t++)
        conv_dw_step(dwt, dout + (size_t)t * C, in, ldi, hist, t, C, K);
    for (int s = 0; s < T; s++) {
        real *restrict dx = din + (size_t)s * lddi;
        for (int j = 0; j < K && s + j < T; j++) {
            const real *restrict g = dout + (size_t)(s + j) * C;
            const real *restrict wk = wtr + (size_t)(K - 1 - j) * C;
            for (int d = 0; d < C; d++)
                dx[d] += g[d] * wk[d];
        }
    }
    for (int d = 0; d < C; d++)
        for (int k = 0; k < K; k++)
            dw[(size_t)d * K + k] = dwt[(size_t)k * C + d];
}

static real sigmoid(real v)
{
    return 1 / (1 + R_EXP(-v));
}

static void silu_forward(real *out, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] * sigmoid(in[i]);
}

/* silu'(v) = s (1 + v (1 - s)), s = sigmoid(v) */
static void silu_backward(real *din, const real *dout, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const real s = sigmoid(in[i]);
        din[i] += dout[i] * s * (1 + in[i] * (1 - s));
    }
}

#ifdef HT_DOUBLE
static real softplus(real v)
{
    return v > 20 ? v : R_LOG1P(R_EXP(v));
}
#else
/* The engine's softplus (fastmath.h): the same function to float rounding, and it vectorises,
 * where log1pf is a call into libm for every element (it was a twelfth of the training time). */
#define softplus hiss_softplus
#endif

static void softplus_forward(real *out, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = softplus(in[i]);
}

static void softplus_backward(real *din, const real *dout, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        din[i] += in[i] > 20 ? dout[i] : dout[i] * sigmoid(in[i]);
}

static void alog_forward(real *A, const real *A_log, int C, int N)
{
    for (int d = 0; d < C; d++)
        for (int n = 0; n < N; n++)
            A[(size_t)n * C + d] = -R_EXP(A_log[(size_t)d * N + n]);
}

/* dA/dA_log = -exp(A_log) = A */
static void alog_backward(real *dA_log, const real *dA, const real *A, int C, int N)
{
    for (int d = 0; d < C; d++)
        for (int n = 0; n < N; n++)
            dA_log[(size_t)d * N + n] += dA[(size_t)n * C + d] * A[(size_t)n * C + d];
}

#ifndef HT_DOUBLE
/* The float scans run along d in whole vectors (vrow) with the state rows n inside, so that the
 * sums over n (y, and backward ddelta and dx) stay in registers instead of making every row wait
 * for the last one's store; the columns past the last whole vector take the plain loops. vexp
 * is hiss_exp (fastmath.h) on a vector: the same operations, so the same values. */
typedef int32_t vmask __attribute__((vector_size(NR * sizeof(int32_t))));

static inline vrow vsel(vmask m, vrow a, vrow b)
{
    return (vrow)((m & (vmask)a) | (~m & (vmask)b));
}

static inline vrow vexp(vrow x)
{
    const vrow zero = {0}, lo = zero - 87.3f, hi = zero + 88.0f, shift = zero + 12582912.0f;
    x = vsel(x < lo, lo, x);
    x = vsel(x > hi, hi, x);
    const vrow k = (x * 1.44269504088896341f + shift) - shift;
    vrow r = x - k * 0.693145751953125f;
    r = r - k * 1.42860682030941723212e-6f;
    vrow p = zero + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const vmask bits = (__builtin_convertvector(k, vmask) + 127) << 23;
    return p * (vrow)bits;
}

static vrow vload(const real *p)
{
    vrow v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void vstore(real *p, vrow v)
{
    memcpy(p, &v, sizeof v);
}
#endif

/* The selective scan, checkpointed: the forward keeps the state only at the end of every chunk
 * of Kc steps (Sck) and the backward goes chunk by chunk from the last, first recomputing the
 * chunk's states and decay factors a = exp(delta A) from the checkpoint before it into Sbuf and
 * Abuf ([Kc, N, C] each, small enough to stay in the core's cache). Keeping every state (T N C
 * per layer, megabytes) cost more in cache misses, the backward walking them back in time, than
 * this second pass costs; and the recomputed values are the forward's to the bit (the same code
 * from the same state). */

/* One step of the forward scan, over the columns [d0, d1) one by one. */
static void scan_step_cols(real *restrict yt, real *restrict st, real *restrict at,
                           const real *restrict sp, const real *restrict xt,
                           const real *restrict dt, const real *restrict A,
                           const real *restrict B, const real *restrict Cm,
                           const real *restrict D, int C, int N, int d0, int d1)
{
    if (yt)
        for (int d = d0; d < d1; d++)
            yt[d] = D[d] * xt[d];
    /* one state row per n, along d: no reduction in the loop, so it vectorises */
    for (int n = 0; n < N; n++) {
        const size_t r = (size_t)n * C;
        real *sn = st + r;
        const real Bn = B[n], Cn = Cm[n];
        for (int d = d0; d < d1; d++) {
            real s = dt[d] * xt[d] * Bn;
            if (sp) {
                const real a = R_EXP(dt[d] * A[r + d]);
                if (at)
                    at[r + d] = a;
                s = a * sp[r + d] + s;
            }
            sn[d] = s;
            if (yt)
                yt[d] += Cn * s;
        }
    }
}

/* One step: st = a sp + delta x B, a = exp(delta A) (sp NULL: the zero state, nothing decays);
 * a into at and y = D x + sum_n C_n s_n into yt when given. */
static void scan_step(real *yt, real *st, real *at, const real *sp, const real *xt,
                      const real *dt, const real *A, const real *B, const real *Cm, const real *D,
                      int C, int N)
{
#ifdef HT_DOUBLE
    const int cv = 0;
#else
    const int cv = C - C % NR;
    for (int d0 = 0; d0 < cv; d0 += NR) {
        const vrow dtv = vload(dt + d0), xv = vload(xt + d0), dtx = dtv * xv;
        vrow yv = vload(D + d0) * xv;
        for (int n = 0; n < N; n++) {
            const size_t r = (size_t)n * C + d0;
            vrow s = dtx * B[n];
            if (sp) {
                const vrow a = vexp(dtv * vload(A + r));
                if (at)
                    vstore(at + r, a);
                s = a * vload(sp + r) + s;
            }
            vstore(st + r, s);
            yv += Cm[n] * s;
        }
        if (yt)
            vstore(yt + d0, yv);
    }
#endif
    if (cv < C)
        scan_step_cols(yt, st, at, sp, xt, dt, A, B, Cm, D, C, N, cv, C);
}

static void scan_forward(real *y, real *Sck, real *Sbuf, const real *x, const real *delta,
                         const real *A, const real *BC, int ldbc, const real *D, const real *s0,
                         int T, int C, int N, int Kc)
{
    const size_t CN = (size_t)C * N;
    for (int t = 0; t < T; t++) {
        const int i = t % Kc;
        const real *B = BC + (size_t)t * ldbc;
        real *st = Sbuf + (size_t)i * CN;
        const real *sp = t == 0 ? s0 : i ? st - CN : Sck + (size_t)(t / Kc - 1) * CN;
        scan_step(y + (size_t)t * C, st, NULL, sp, x + (size_t)t * C, delta + (size_t)t * C, A,
                  B, B + N, D, C, N);
        if (i == Kc - 1 || t == T - 1)
            memcpy(Sck + (size_t)(t / Kc) * CN, st, CN * sizeof *st);
    }
}

/* One state row n of one step of the scan's backward, along d. Separate, with restrict, so that
 * the compiler sees the rows cannot overlap and vectorises the loop. prev is NULL at t = 0 from a
 * zero state, where nothing flows to A or further back; a is the step's exp(delta A). */
static void scan_backward_row(real *restrict ds, real *restrict gs, real *restrict dA,
                              real *restrict ddelta, real *restrict dx, const real *restrict g,
                              const real *restrict prev, const real *restrict a,
                              const real *restrict A, const real *restrict delta,
                              const real *restrict x, real Bn, real Cn, int C)
{
    if (prev) {
        for (int d = 0; d < C; d++) {
            const real gsd = ds[d] + g[d] * Cn;
            const real ga = gsd * prev[d] * a[d]; /* d loss / d (delta A) */
            dA[d] += ga * delta[d];
            ddelta[d] += ga * A[d] + gsd * Bn * x[d];
            dx[d] += gsd * delta[d] * Bn;
            ds[d] = gsd * a[d];
            gs[d] = gsd;
        }
    } else {
        for (int d = 0; d < C; d++) {
            const real gsd = ds[d] + g[d] * Cn;
            ddelta[d] += gsd * Bn * x[d];
            dx[d] += gsd * delta[d] * Bn;
            gs[d] = gsd;
        }
    }
}

#ifdef HT_DOUBLE
/* sum_d a[d] b[d] c[d] (c may be NULL): NR partial sums (vector lanes), then hsum. Without
 * them the compiler keeps the order of the plain loop, one scalar after another. (The float scan
 * keeps the same lanes inside its loop over d.) */
static real dot3(const real *restrict a, const real *restrict b, const real *restrict c, int n)
{
    vrow acc = {0};
    int d = 0;
    for (; d + NR <= n; d += NR) {
        vrow va, vb, vc;
        memcpy(&va, a + d, sizeof va);
        memcpy(&vb, b + d, sizeof vb);
        if (c) {
            memcpy(&vc, c + d, sizeof vc);
            vb *= vc;
        }
        acc += va * vb;
    }
    real s = hsum(acc);
    for (; d < n; d++)
        s += a[d] * b[d] * (c ? c[d] : 1);
    return s;
}
#endif

/* One step of the backward: st the step's state, sp the one before (NULL: zero), at its decay
 * factors. ds carries d loss / d s_t back to step t-1 through s_t = a s_{t-1} + .... */
static void scan_backward_step(real *dxt, real *ddt, real *dA, real *dB, real *dC, real *ds,
                               real *gs, const real *g, const real *st, const real *sp,
                               const real *at, const real *xt, const real *dt, const real *A,
                               const real *B, const real *Cm, int C, int N)
{
#ifdef HT_DOUBLE
    const int cv = 0;
#else
    const int cv = C - C % NR;
    /* the lanes of the sums over d of dC[n] and dB[n] (as dot3 keeps them) */
    vrow accC[HISS_MAX_D_STATE], accB[HISS_MAX_D_STATE];
    for (int n = 0; n < N; n++)
        accC[n] = accB[n] = (vrow){0};
    for (int d0 = 0; d0 < cv; d0 += NR) {
        const vrow gv = vload(g + d0), dtv = vload(dt + d0), xv = vload(xt + d0);
        const vrow dtx = dtv * xv;
        vrow ddv = vload(ddt + d0), dxv = vload(dxt + d0);
        for (int n = 0; n < N; n++) {
            const size_t r = (size_t)n * C + d0;
            const vrow gsd = vload(ds + r) + gv * Cm[n];
            if (sp) {
                const vrow a = vload(at + r), An = vload(A + r);
                const vrow ga = gsd * vload(sp + r) * a; /* d loss / d (delta A) */
                vstore(dA + r, vload(dA + r) + ga * dtv);
                ddv += ga * An + gsd * B[n] * xv;
                vstore(ds + r, gsd * a);
            } else {
                ddv += gsd * B[n] * xv;
            }
            dxv += gsd * dtv * B[n];
            accC[n] += gv * vload(st + r);
            accB[n] += gsd * dtx;
        }
        vstore(ddt + d0, ddv);
        vstore(dxt + d0, dxv);
    }
#endif
    for (int n = 0; n < N; n++) {
        const size_t r = (size_t)n * C;
        if (cv < C)
            scan_backward_row(ds + r + cv, gs + cv, dA + r + cv, ddt + cv, dxt + cv, g + cv,
                              sp ? sp + r + cv : NULL, at + r + cv, A + r + cv, dt + cv,
                              xt + cv, B[n], Cm[n], C - cv);
        /* the two sums over d, apart so that the row loop has none */
#ifdef HT_DOUBLE
        dC[n] += dot3(g, st + r, NULL, C);
        dB[n] += dot3(gs, dt, xt, C);
#else
        real sc = hsum(accC[n]), sb = hsum(accB[n]);
        for (int d = cv; d < C; d++) {
            sc += g[d] * st[r + d];
            sb += gs[d] * dt[d] * xt[d];
        }
        dC[n] += sc;
        dB[n] += sb;
#endif
    }
}

static void scan_backward(real *dx, real *ddelta, real *dA, real *dBC, real *dD, real *ds,
                          real *gs, const real *dy, const real *Sck, real *Sbuf, real *Abuf,
                          const real *x, const real *delta, const real *A, const real *BC,
                          int ldbc, const real *D, const real *s0, int T, int C, int N, int Kc)
{
    const size_t CN = (size_t)C * N;
    memset(ds, 0, CN * sizeof *ds);
    for (int j = (T - 1) / Kc; j >= 0; j--) {
        const int t0 = j * Kc, t1 = t0 + Kc < T ? t0 + Kc : T;
        const real *s_in = j ? Sck + (size_t)(j - 1) * CN : s0;
        for (int t = t0; t < t1; t++) {
            const size_t i = (size_t)(t - t0);
            const real *B = BC + (size_t)t * ldbc;
            scan_step(NULL, Sbuf + i * CN, Abuf + i * CN, i ? Sbuf + (i - 1) * CN : s_in,
                      x + (size_t)t * C, delta + (size_t)t * C, A, B, B + N, D, C, N);
        }
        for (int t = t1 - 1; t >= t0; t--) {
            const size_t i = (size_t)(t - t0);
            const real *B = BC + (size_t)t * ldbc;
            real *dB = dBC + (size_t)t * ldbc;
            const real *xt = x + (size_t)t * C, *dt = delta + (size_t)t * C;
            const real *g = dy + (size_t)t * C;
            real *dxt = dx + (size_t)t * C, *ddt = ddelta + (size_t)t * C;
            for (int d = 0; d < C; d++) {
                dD[d] += g[d] * xt[d];
                dxt[d] += g[d] * D[d];
            }
            scan_backward_step(dxt, ddt, dA, dB, dB + N, ds, gs, g, Sbuf + i * CN,
                               i ? Sbuf + (i - 1) * CN : s_in, Abuf + i * CN, xt, dt, A, B,
                               B + N, C, N);
        }
    }
}

static void gate_forward(real *y, const real *v, const real *z, int ldz, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const real *zt = z + (size_t)t * ldz;
        for (int d = 0; d < C; d++) {
            const size_t i = (size_t)t * C + d;
            y[i] = v[i] * zt[d] * sigmoid(zt[d]);
        }
    }
}

static void gate_backward(real *dv, real *dz, int lddz, const real *dy, const real *v,
                          const real *z, int ldz, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const real *zt = z + (size_t)t * ldz;
        real *dzt = dz + (size_t)t * lddz;
        for (int d = 0; d < C; d++) {
            const size_t i = (size_t)t * C + d;
            const real s = sigmoid(zt[d]);
            dv[i] += dy[i] * zt[d] * s;
            dzt[d] += dy[i] * v[i] * s * (1 + zt[d] * (1 - s));
        }
    }
}

static void embed_forward(real *out, const unsigned char *idx, const real *E, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const real *e = E + (size_t)idx[t] * C;
        real *y = out + (size_t)t * C;
        for (int i = 0; i < C; i++)
            y[i] += e[i];
    }
}

static void embed_backward(real *dE, const real *dout, const unsigned char *idx, int T, int C)
{
    for (int t = 0; t < T; t++) {
        real *de = dE + (size_t)idx[t] * C;
        const real *g = dout + (size_t)t * C;
        for (int i = 0; i < C; i++)
            de[i] += g[i];
    }
}

/* Shifted by the row's maximum, so exp never overflows and the largest term is 1. The maximum
 * (exact in any order) and the sum of the exponentials are taken in NR lanes: in the order of the
 * plain loop they were one long chain of dependent scalar operations per row. */
static double xent(real *dz, const real *z, const unsigned char *y, int T, int K, real scale)
{
    real e[256];
    double total = 0;
    for (int t = 0; t < T; t++) {
        const real *zt = z + (size_t)t * K;
        real mx[NR];
        for (int j = 0; j < NR; j++)
            mx[j] = zt[0];
        int k = 0;
        for (; k + NR <= K; k += NR)
            for (int j = 0; j < NR; j++)
                mx[j] = zt[k + j] > mx[j] ? zt[k + j] : mx[j];
        real m = mx[0];
        for (int j = 1; j < NR; j++)
            m = mx[j] > m ? mx[j] : m;
        for (; k < K; k++)
            m = zt[k] > m ? zt[k] : m;
        for (k = 0; k < K; k++)
            e[k] = R_EXP(zt[k] - m);
        vrow acc = {0};
        for (k = 0; k + NR <= K; k += NR) {
            vrow v;
            memcpy(&v, e + k, sizeof v);
            acc += v;
        }
        real s = hsum(acc);
        for (; k < K; k++)
            s += e[k];
        total += (double)(m + R_LOG(s) - zt[y[t]]);
        if (!dz)
            continue;
        real *g = dz + (size_t)t * K;
        const real q = scale / s;
        for (k = 0; k < K; k++)
            g[k] = e[k] * q;
        g[y[t]] -= scale;
    }
    return total;
}

const HT_FN(ops) HT_OPS_TABLE = {
    .linear_forward = linear_forward,
    .linear_backward = linear_backward,
    .rmsnorm_forward = rmsnorm_forward,
    .rmsnorm_backward = rmsnorm_backward,
    .conv_forward = conv_forward,
    .conv_backward = conv_backward,
    .silu_forward = silu_forward,
    .silu_backward = silu_backward,
    .softplus_forward = softplus_forward,
    .softplus_backward = softplus_backward,
    .alog_forward = alog_forward,
    .alog_backward = alog_backward,
    .scan_forward = scan_forward,
    .scan_backward = scan_backward,
    .gate_forward = gate_forward,
    .gate_backward = gate_backward,
    .embed_forward = embed_forward,
    .embed_backward = embed_backward,
    .xent = xent,
};
