/* Forward and backward of each op, side by side; see ops.h for the equations. */
#include <string.h>

#include "ops.h"

void HT_FN(linear_forward)(real *out, int ldo, const real *in, int ldi, const real *W,
                           const real *b, int T, int n_in, int n_out, real *wt)
{
    /* W transposed once, so that each input scales a contiguous row: the inner loop runs along
     * the outputs with no reduction and vectorises. The sum over i keeps the engine's order
     * (bias first, then i = 0, 1, ...). */
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < n_in; i++)
            wt[(size_t)i * n_out + o] = W[(size_t)o * n_in + i];
    for (int t = 0; t < T; t++) {
        const real *x = in + (size_t)t * ldi;
        real *restrict y = out + (size_t)t * ldo;
        for (int o = 0; o < n_out; o++)
            y[o] = b ? b[o] : 0;
        for (int i = 0; i < n_in; i++) {
            const real xi = x[i];
            const real *restrict w = wt + (size_t)i * n_out;
            for (int o = 0; o < n_out; o++)
                y[o] += w[o] * xi;
        }
    }
}

/* One output's share of one step: dw += g x, dx += g w (rows of n, distinct buffers). */
static void linear_backward_row(real *restrict dw, real *restrict dx, const real *restrict x,
                                const real *restrict w, real g, int n)
{
    for (int i = 0; i < n; i++)
        dw[i] += g * x[i];
    if (dx)
        for (int i = 0; i < n; i++)
            dx[i] += g * w[i];
}

void HT_FN(linear_backward)(real *din, int lddi, real *dW, real *db, const real *dout, int lddo,
                            const real *in, int ldi, const real *W, int T, int n_in, int n_out)
{
    for (int t = 0; t < T; t++) {
        const real *g = dout + (size_t)t * lddo;
        const real *x = in + (size_t)t * ldi;
        real *dx = din ? din + (size_t)t * lddi : NULL;
        for (int o = 0; o < n_out; o++) {
            if (db)
                db[o] += g[o];
            linear_backward_row(dW + (size_t)o * n_in, dx, x, W + (size_t)o * n_in, g[o], n_in);
        }
    }
}

/* sum_k a[k] b[k] in 8 interleaved partial sums (a fixed order, vector lanes). */
static real dot8(const real *restrict a, const real *restrict b, int n)
{
    real acc[8] = {0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[k + j] * b[k + j];
    real s = 0;
    for (; k < n; k++)
        s += a[k] * b[k];
    for (int j = 0; j < 8; j++)
        s += acc[j];
    return s;
}

static void axpy(real *restrict y, const real *restrict x, real a, int n)
{
    for (int k = 0; k < n; k++)
        y[k] += a * x[k];
}

void HT_FN(linear_backward_wide)(real *din, int lddi, real *dW, real *db, const real *dout,
                                 int lddo, const real *in, int ldi, const real *W, int T, int n_in,
                                 int n_out, real *wt, real *dwt)
{
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < n_in; i++)
            wt[(size_t)i * n_out + o] = W[(size_t)o * n_in + i];
    memset(dwt, 0, (size_t)n_in * n_out * sizeof *dwt);
    for (int t = 0; t < T; t++) {
        const real *g = dout + (size_t)t * lddo;
        const real *x = in + (size_t)t * ldi;
        if (db)
            axpy(db, g, 1, n_out);
        for (int i = 0; i < n_in; i++) {
            axpy(dwt + (size_t)i * n_out, g, x[i], n_out);
            if (din)
                din[(size_t)t * lddi + i] += dot8(g, wt + (size_t)i * n_out, n_out);
        }
    }
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < n_in; i++)
            dW[(size_t)o * n_in + i] += dwt[(size_t)i * n_out + o];
}

void HT_FN(rmsnorm_forward)(real *out, real *rstd, const real *in, const real *w, int T, int C,
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
void HT_FN(rmsnorm_backward)(real *din, real *dw, const real *dout, const real *in,
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

void HT_FN(conv_forward)(real *out, const real *in, int ldi, const real *hist, const real *w,
                         const real *b, int T, int C, int K)
{
    for (int t = 0; t < T; t++) {
        real *y = out + (size_t)t * C;
        for (int d = 0; d < C; d++) {
            real acc = b[d];
            for (int k = 0; k < K; k++) {
                const int s = t - K + 1 + k;
                if (s >= 0)
                    acc += w[(size_t)d * K + k] * in[(size_t)s * ldi + d];
                else if (hist)
                    acc += w[(size_t)d * K + k] * hist[(size_t)(K - 1 + s) * C + d];
            }
            y[d] = acc;
        }
    }
}

void HT_FN(conv_backward)(real *din, int lddi, real *dw, real *db, const real *dout,
                          const real *in, int ldi, const real *hist, const real *w, int T, int C,
                          int K)
{
    for (int t = 0; t < T; t++) {
        const real *g = dout + (size_t)t * C;
        for (int d = 0; d < C; d++) {
            db[d] += g[d];
            for (int k = 0; k < K; k++) {
                const int s = t - K + 1 + k;
                if (s < 0) {
                    if (hist)
                        dw[(size_t)d * K + k] += g[d] * hist[(size_t)(K - 1 + s) * C + d];
                    continue;
                }
                dw[(size_t)d * K + k] += g[d] * in[(size_t)s * ldi + d];
                din[(size_t)s * lddi + d] += g[d] * w[(size_t)d * K + k];
            }
        }
    }
}

static real sigmoid(real v)
{
    return 1 / (1 + R_EXP(-v));
}

void HT_FN(silu_forward)(real *out, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] * sigmoid(in[i]);
}

/* silu'(v) = s (1 + v (1 - s)), s = sigmoid(v) */
void HT_FN(silu_backward)(real *din, const real *dout, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const real s = sigmoid(in[i]);
        din[i] += dout[i] * s * (1 + in[i] * (1 - s));
    }
}

void HT_FN(softplus_forward)(real *out, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 20 ? in[i] : R_LOG1P(R_EXP(in[i]));
}

void HT_FN(softplus_backward)(real *din, const real *dout, const real *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        din[i] += in[i] > 20 ? dout[i] : dout[i] * sigmoid(in[i]);
}

void HT_FN(alog_forward)(real *A, const real *A_log, int C, int N)
{
    for (int d = 0; d < C; d++)
        for (int n = 0; n < N; n++)
            A[(size_t)n * C + d] = -R_EXP(A_log[(size_t)d * N + n]);
}

/* dA/dA_log = -exp(A_log) = A */
void HT_FN(alog_backward)(real *dA_log, const real *dA, const real *A, int C, int N)
{
    for (int d = 0; d < C; d++)
        for (int n = 0; n < N; n++)
            dA_log[(size_t)d * N + n] += dA[(size_t)n * C + d] * A[(size_t)n * C + d];
}

void HT_FN(scan_forward)(real *y, real *S, const real *x, const real *delta, const real *A,
                         const real *BC, int ldbc, const real *D, const real *s0, int T, int C,
                         int N)
{
    const size_t CN = (size_t)C * N;
    for (int t = 0; t < T; t++) {
        const real *B = BC + (size_t)t * ldbc, *Cm = B + N;
        const real *xt = x + (size_t)t * C, *dt = delta + (size_t)t * C;
        real *st = S + (size_t)t * CN;
        const real *sp = t ? st - CN : s0;
        real *yt = y + (size_t)t * C;
        for (int d = 0; d < C; d++)
            yt[d] = D[d] * xt[d];
        /* one state row per n, along d: no reduction in the loop, so it vectorises */
        for (int n = 0; n < N; n++) {
            const real *An = A + (size_t)n * C;
            real *sn = st + (size_t)n * C;
            const real Bn = B[n], Cn = Cm[n];
            if (sp) {
                const real *pn = sp + (size_t)n * C;
                for (int d = 0; d < C; d++) {
                    const real s = R_EXP(dt[d] * An[d]) * pn[d] + dt[d] * xt[d] * Bn;
                    sn[d] = s;
                    yt[d] += Cn * s;
                }
            } else {
                for (int d = 0; d < C; d++) {
                    const real s = dt[d] * xt[d] * Bn;
                    sn[d] = s;
                    yt[d] += Cn * s;
                }
            }
        }
    }
}

/* One state row n of one step of the scan's backward, along d. Separate, with restrict, so that
 * the compiler sees the rows cannot overlap and vectorises the loop. prev is NULL at t = 0 from a
 * zero state, where nothing flows to A or further back. */
static void scan_backward_row(real *restrict ds, real *restrict gs, real *restrict dA,
                              real *restrict ddelta, real *restrict dx, const real *restrict g,
                              const real *restrict prev, const real *restrict A,
                              const real *restrict delta, const real *restrict x, real Bn, real Cn,
                              int C)
{
    if (prev) {
        for (int d = 0; d < C; d++) {
            const real gsd = ds[d] + g[d] * Cn;
            const real a = R_EXP(delta[d] * A[d]);
            const real ga = gsd * prev[d] * a; /* d loss / d (delta A) */
            dA[d] += ga * delta[d];
            ddelta[d] += ga * A[d] + gsd * Bn * x[d];
            dx[d] += gsd * delta[d] * Bn;
            ds[d] = gsd * a;
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

/* sum_d a[d] b[d] c[d] (c may be NULL) in 8 interleaved partial sums: a fixed order, so results
 * stay deterministic, and independent chains the compiler can put in vector lanes. */
static real dot3(const real *restrict a, const real *restrict b, const real *restrict c, int n)
{
    real acc[8] = {0};
    int d = 0;
    for (; d + 8 <= n; d += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[d + k] * b[d + k] * (c ? c[d + k] : 1);
    real s = 0;
    for (; d < n; d++)
        s += a[d] * b[d] * (c ? c[d] : 1);
    for (int k = 0; k < 8; k++)
        s += acc[k];
    return s;
}

/* ds carries d loss / d s_t back to step t-1 through s_t = a s_{t-1} + ..., a = exp(delta A). */
void HT_FN(scan_backward)(real *dx, real *ddelta, real *dA, real *dBC, real *dD, real *ds,
                          real *gs, const real *dy, const real *S, const real *x,
                          const real *delta, const real *A, const real *BC, int ldbc,
                          const real *D, const real *s0, int T, int C, int N)
{
    const size_t CN = (size_t)C * N;
    memset(ds, 0, CN * sizeof *ds);
    for (int t = T - 1; t >= 0; t--) {
        const real *B = BC + (size_t)t * ldbc, *Cm = B + N;
        real *dB = dBC + (size_t)t * ldbc, *dC = dB + N;
        const real *xt = x + (size_t)t * C, *dt = delta + (size_t)t * C;
        const real *g = dy + (size_t)t * C;
        const real *st = S + (size_t)t * CN;
        const real *sp = t ? st - CN : s0;
        real *dxt = dx + (size_t)t * C, *ddt = ddelta + (size_t)t * C;
        for (int d = 0; d < C; d++) {
            dD[d] += g[d] * xt[d];
            dxt[d] += g[d] * D[d];
        }
        for (int n = 0; n < N; n++) {
            const size_t r = (size_t)n * C;
            scan_backward_row(ds + r, gs, dA + r, ddt, dxt, g, sp ? sp + r : NULL, A + r, dt, xt,
                              B[n], Cm[n], C);
            /* the two sums over d, apart so that the row loop has none */
            dC[n] += dot3(g, st + r, NULL, C);
            dB[n] += dot3(gs, dt, xt, C);
        }
    }
}

void HT_FN(gate_forward)(real *y, const real *v, const real *z, int ldz, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const real *zt = z + (size_t)t * ldz;
        for (int d = 0; d < C; d++) {
            const size_t i = (size_t)t * C + d;
            y[i] = v[i] * zt[d] * sigmoid(zt[d]);
        }
    }
}

void HT_FN(gate_backward)(real *dv, real *dz, int lddz, const real *dy, const real *v,
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

void HT_FN(embed_forward)(real *out, const unsigned char *idx, const real *E, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const real *e = E + (size_t)idx[t] * C;
        real *y = out + (size_t)t * C;
        for (int i = 0; i < C; i++)
            y[i] += e[i];
    }
}

void HT_FN(embed_backward)(real *dE, const real *dout, const unsigned char *idx, int T, int C)
{
    for (int t = 0; t < T; t++) {
        real *de = dE + (size_t)idx[t] * C;
        const real *g = dout + (size_t)t * C;
        for (int i = 0; i < C; i++)
            de[i] += g[i];
    }
}

/* Shifted by the row's maximum, so exp never overflows and the largest term is 1. */
double HT_FN(xent)(real *dz, const real *z, const unsigned char *y, int T, int K, real scale)
{
    real e[256];
    double total = 0;
    for (int t = 0; t < T; t++) {
        const real *zt = z + (size_t)t * K;
        real m = zt[0];
        for (int k = 1; k < K; k++)
            m = zt[k] > m ? zt[k] : m;
        real s = 0;
        for (int k = 0; k < K; k++) {
            e[k] = R_EXP(zt[k] - m);
            s += e[k];
        }
        total += (double)(m + R_LOG(s) - zt[y[t]]);
        if (!dz)
            continue;
        real *g = dz + (size_t)t * K;
        const real q = scale / s;
        for (int k = 0; k < K; k++)
            g[k] = e[k] * q;
        g[y[t]] -= scale;
    }
    return total;
}
