/* The offline renderer's kernels. A segment of S samples goes through the model layer by layer,
 * every sample in parallel except inside the selective scan, which is a linear recurrence per
 * (channel, state) chain, s_t = a_t s_{t-1} + b_t, done in three passes over chunks of samples:
 *   A  each chunk scans from a zero state: its end state, and the sum of its deltas (the
 *      chunk's decay is exp(A * sum delta));
 * (in A and C a lane owns a whole channel, all its d_state chains, so a warp reads 32 channels
 * of a sample at once and needs no shuffles)
 *   B  one thread per chain walks the chunks: start state of each chunk, end state of the
 *      segment (the next segment's start);
 *   C  each chunk scans again from its start state and writes y.
 * The rows kernel does everything per sample around the scan: out_proj of the previous layer,
 * residual, RMSNorm, in_proj, the causal conv (recomputing d_conv-1 rows of halo per block),
 * x_proj and delta. The tail kernel does the last out_proj, the final norm and the output.
 * Several sequences laid end to end (q.pos) go through the same launches: at a sequence's first
 * sample the conv reads zeros instead of the rows before it, and the scan starts from zero. Those
 * are selects, not products, so a non-finite value in one sequence cannot reach the next. The
 * kernels that cut are instances of their own (CUT), so one sequence runs the code it ran before
 * (the checks cost it 3 to 6% when they were there at run time). */
#include <math.h>

#include "cuda_device.cuh"
#include "cuda_render_kernels.h"

#define RD_NW (RD_NT / 32)

extern "C" size_t rd_rows_smem(const hc_plan *p)
{
    return (size_t)RD_T * (size_t)(2 * p->di4 + p->dm4 + p->dr4) * sizeof(float);
}

template <int RW, bool CUT>
__global__ void __launch_bounds__(RD_NT, 2) rd_rows(const rd_params q)
{
    extern __shared__ float4 rd_smem4[];
    const hc_plan &p = q.p;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int H = p.dc - 1, OWN = RD_T - H, di = p.di, dm = p.dm;
    const int tbase = blockIdx.x * OWN - H; /* segment row of local row 0 */
    const int nloc = min(RD_T, q.S - tbase);
    float *XI = reinterpret_cast<float *>(rd_smem4);
    float *AH = XI + RD_T * p.di4;
    float *XC = AH + RD_T * p.dm4;
    float *DT = XC + RD_T * p.di4;
    const float *W = q.w;
    const float *Lw = W + (size_t)q.l * p.w_layer;
    const float *Lp = W + (size_t)(q.l - 1) * p.w_layer;
    const float inv_dm = 1.0f / (float)dm;

    /* rows before the segment: the previous segment's conv history */
    for (int i = tid; i < H * di; i += RD_NT) {
        const int r = i / di, d = i % di;
        if (tbase + r < 0)
            XI[r * p.di4 + d] = q.hist_in[(tbase + r + H) * p.di4 + d];
    }
    /* ---- per sample: h, r, a = rmsnorm(r) w, [xi, silu(z)] = W_in a */
    const int i0 = max(0, -tbase);
    for (int rt = i0 + warp * RW; rt < nloc; rt += RD_NW * RW) {
        const int nrows = min(RW, nloc - rt);
        float ss[RW];
#pragma unroll
        for (int r = 0; r < RW; r++)
            ss[r] = 0.0f;
        if (q.l == 0) {
            for (int j = lane; j < dm; j += 32)
#pragma unroll
                for (int r = 0; r < RW; r++)
                    if (r < nrows) {
                        const int t = tbase + rt + r;
                        const float *cv = CUT ? q.cond + (size_t)q.seq[t] * p.nc : q.cond;
                        float h = W[p.w_inb + j];
                        h = fmaf(W[p.w_inw + j], q.x[t], h);
                        for (int c = 1; c < p.nin; c++)
                            h = fmaf(W[p.w_inw + c * p.dm4 + j], cv[c - 1], h);
                        AH[(rt + r) * p.dm4 + j] = h;
                        if (rt + r >= H)
                            q.Rout[(size_t)t * p.dm4 + j] = h;
                        ss[r] = fmaf(h, h, ss[r]);
                    }
        } else {
            const float *X[RW];
#pragma unroll
            for (int r = 0; r < RW; r++)
                X[r] = q.Yprev + (size_t)(tbase + rt + min(r, nrows - 1)) * p.di4;
            hc_warp_mm<RW, 1>(X, nrows, di, Lp + p.w_out, p.dm4, dm, [&](int r, int j, float h) {
                const size_t t = (size_t)(tbase + rt + r);
                const float v = q.Rin[t * p.dm4 + j] + h;
                AH[(rt + r) * p.dm4 + j] = v;
                if (rt + r >= H)
                    q.Rout[t * p.dm4 + j] = v;
                ss[r] = fmaf(v, v, ss[r]);
            });
        }
#pragma unroll
        for (int r = 0; r < RW; r++) {
            const float inv = 1.0f / sqrtf(hc_warp_sum(ss[r]) * inv_dm + p.eps);
            if (r < nrows)
                for (int j = lane; j < dm; j += 32)
                    AH[(rt + r) * p.dm4 + j] = AH[(rt + r) * p.dm4 + j] * inv * Lw[p.w_norm + j];
        }
        __syncwarp();
        const float *X[RW];
#pragma unroll
        for (int r = 0; r < RW; r++)
            X[r] = AH + (rt + min(r, nrows - 1)) * p.dm4;
        hc_warp_mm_any<RW>(X, nrows, dm, Lw + p.w_in, p.ldin, 2 * di, [&](int r, int c, float v) {
            if (c < di)
                XI[(rt + r) * p.di4 + c] = v;
            else if (rt + r >= H)
                q.Z[(size_t)(tbase + rt + r) * p.di4 + (c - di)] = hc_silu_fast(v);
        });
    }
    __syncthreads();
    /* the conv history for the next segment: its last d_conv-1 inputs */
    for (int i = tid; i < RD_T * di; i += RD_NT) {
        const int r = i / di, d = i % di, t = tbase + r;
        if (r < nloc && t >= q.S - H && (r >= H || blockIdx.x == 0))
            q.hist_out[(t - (q.S - H)) * p.di4 + d] = XI[r * p.di4 + d];
    }
    /* ---- own samples: xc = silu(conv), [B, C] = W_x xc, dt, delta */
    for (int rt = H + warp * RW; rt < nloc; rt += RD_NW * RW) {
        const int nrows = min(RW, nloc - rt);
        /* taps below kmin reach before the sample's sequence: they read zeros */
        int kmin[RW];
#pragma unroll
        for (int r = 0; r < RW; r++)
            kmin[r] = CUT ? max(0, H - q.pos[tbase + rt + min(r, nrows - 1)]) : 0;
        for (int d = lane; d < di; d += 32) {
            float a[RW];
            const float b = Lw[p.w_convb + d];
#pragma unroll
            for (int r = 0; r < RW; r++)
                a[r] = b;
            for (int kk = 0; kk < p.dc; kk++) {
                const float w = Lw[p.w_conv + kk * p.di4 + d];
#pragma unroll
                for (int r = 0; r < RW; r++) {
                    const float xv = XI[(rt + min(r, nrows - 1) - H + kk) * p.di4 + d];
                    a[r] = fmaf(w, !CUT || kk >= kmin[r] ? xv : 0.0f, a[r]);
                }
            }
#pragma unroll
            for (int r = 0; r < RW; r++)
                if (r < nrows) {
                    const float v = hc_silu_fast(a[r]);
                    XC[(rt + r) * p.di4 + d] = v;
                    q.Y[(size_t)(tbase + rt + r) * p.di4 + d] = v;
                }
        }
        __syncwarp();
        const float *X[RW];
#pragma unroll
        for (int r = 0; r < RW; r++)
            X[r] = XC + (rt + min(r, nrows - 1)) * p.di4;
        float *bc = q.BC + (size_t)(tbase + rt) * p.ldx;
        hc_warp_mm_any<RW>(X, nrows, di, Lw + p.w_xp, p.ldx, p.ldx,
                              [&](int r, int c, float v) { bc[(size_t)r * p.ldx + c] = v; });
        float *dtr = DT + rt * p.dr4;
        for (int k = 0; k < p.dr; k++) {
            float part[RW];
#pragma unroll
            for (int r = 0; r < RW; r++)
                part[r] = 0.0f;
            for (int d = lane; d < di; d += 32) {
                const float w = Lw[p.w_xdt + k * p.di4 + d];
#pragma unroll
                for (int r = 0; r < RW; r++)
                    part[r] = fmaf(X[r][d], w, part[r]);
            }
#pragma unroll
            for (int r = 0; r < RW; r++) {
                const float v = hc_warp_sum(part[r]);
                if (lane == 0 && r < nrows)
                    dtr[r * p.dr4 + k] = v;
            }
        }
        __syncwarp();
        for (int d = lane; d < di; d += 32) {
            const float b = Lw[p.w_dtb + d];
#pragma unroll
            for (int r = 0; r < RW; r++)
                if (r < nrows) {
                    float v = b;
                    for (int k = 0; k < p.dr; k++)
                        v = fmaf(dtr[r * p.dr4 + k], Lw[p.w_dt + k * p.di4 + d], v);
                    q.DL[(size_t)(tbase + rt + r) * p.di4 + d] = hc_softplus(v) * q.dscale;
                }
        }
    }
}

/* After the last layer: h = W_out y, r += h, o = rmsnorm(r) w_f, out = W_op o + b (+ x). */
__global__ void __launch_bounds__(RD_NT) rd_tail(const rd_params q)
{
    const hc_plan &p = q.p;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, dm = p.dm;
    const float *W = q.w, *Lp = W + (size_t)(p.nl - 1) * p.w_layer;
    const float inv_dm = 1.0f / (float)dm;
    const int rt = (blockIdx.x * RD_NW + warp) * RD_RW;
    if (rt >= q.S)
        return;
    const int nrows = min(RD_RW, q.S - rt);
    float ss[RD_RW];
#pragma unroll
    for (int r = 0; r < RD_RW; r++)
        ss[r] = 0.0f;
    const float *X[RD_RW];
#pragma unroll
    for (int r = 0; r < RD_RW; r++)
        X[r] = q.Y + (size_t)(rt + min(r, nrows - 1)) * p.di4;
    hc_warp_mm<RD_RW, 1>(X, nrows, p.di, Lp + p.w_out, p.dm4, dm, [&](int r, int j, float h) {
        float *rr = q.Rout + (size_t)(rt + r) * p.dm4;
        const float v = q.Rin[(size_t)(rt + r) * p.dm4 + j] + h;
        rr[j] = v;
        ss[r] = fmaf(v, v, ss[r]);
    });
    __syncwarp();
#pragma unroll
    for (int r = 0; r < RD_RW; r++) {
        const float inv = 1.0f / sqrtf(hc_warp_sum(ss[r]) * inv_dm + p.eps);
        float o = 0.0f;
        if (r < nrows)
            for (int j = lane; j < dm; j += 32)
                o = fmaf(W[p.w_outw + j], q.Rout[(size_t)(rt + r) * p.dm4 + j] * inv * W[p.w_normf + j], o);
        o = hc_warp_sum(o);
        if (lane == 0 && r < nrows) {
            float y = W[p.w_outb] + o;
            if (p.skip)
                y += q.x[rt + r];
            q.yout[rt + r] = y;
        }
    }
}

/* pos and seq of every row of the segment, from the pieces (a binary search per row). */
__global__ void __launch_bounds__(RD_NT) rd_index(const rd_params q)
{
    const int t = blockIdx.x * RD_NT + threadIdx.x;
    if (t >= q.S)
        return;
    int lo = 0, hi = q.npieces - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (q.pieces[3 * mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    const int *pc = q.pieces + 3 * lo;
    const long long at = (long long)pc[2] + (t - pc[0]);
    q.pos[t] = at < (1 << 30) ? (int)at : 1 << 30;
    q.seq[t] = pc[1];
}

/* Pass A: each chunk from a zero state; end states and the chunk's sum of deltas. */
template <int CPT, bool CUT>
__global__ void __launch_bounds__(RD_NT, 1) rd_scan_a(const rd_params q)
{
    const hc_plan &p = q.p;
    const int G = p.G, per = blockDim.x / G, g = threadIdx.x % G, n0 = g * CPT;
    const int c = blockIdx.x, d = blockIdx.y * per + threadIdx.x / G;
    const bool act = d < p.di;
    const int dd = act ? d : p.di - 1;
    const float *Ag = q.w + p.w_A + (size_t)q.l * p.w_Al;
    float s[CPT], A[CPT];
    bool ok[CPT];
#pragma unroll
    for (int j = 0; j < CPT; j++) {
        ok[j] = act && n0 + j < p.ds;
        s[j] = 0.0f;
        A[j] = ok[j] ? Ag[dd * p.ds + n0 + j] : 0.0f;
    }
    const int t0 = c * q.chunk, t1 = min(q.S, t0 + q.chunk);
    float sum = 0.0f;
    bool cut = false;
#pragma unroll 2
    for (int t = t0; t < t1; t++) {
        if (CUT && q.pos[t] == 0) {
#pragma unroll
            for (int j = 0; j < CPT; j++)
                s[j] = 0.0f;
            cut = true;
        }
        const float dl = q.DL[(size_t)t * p.di4 + dd];
        const float dx = dl * q.Y[(size_t)t * p.di4 + dd];
        float b[CPT];
        hc_vec<CPT>::load(q.BC + (size_t)t * p.ldx + n0, b);
#pragma unroll
        for (int j = 0; j < CPT; j++)
            s[j] = fmaf(hc_exp2(dl * A[j]), s[j], dx * b[j]);
        sum += dl;
    }
    float *se = q.SE + ((size_t)c * p.di + dd) * p.ds;
#pragma unroll
    for (int j = 0; j < CPT; j++)
        if (ok[j])
            se[n0 + j] = s[j];
    if (act && g == 0)
        q.SD[(size_t)c * p.di4 + d] = cut ? -1.0f : sum;
}

/* Pass B: one thread per chain walks the chunks; SE becomes each chunk's start state. */
__global__ void __launch_bounds__(RD_NT) rd_scan_b(const rd_params q)
{
    const hc_plan &p = q.p;
    const int i = blockIdx.x * RD_NT + threadIdx.x;
    if (i >= p.di * p.ds)
        return;
    const int d = i / p.ds;
    const float A = q.w[p.w_A + (size_t)q.l * p.w_Al + i];
    float carry = q.sinit[i];
#pragma unroll 8
    for (int c = 0; c < q.nch; c++) {
        float *se = q.SE + (size_t)c * p.di * p.ds + i;
        const float e = *se, sd = q.SD[(size_t)c * p.di4 + d];
        *se = carry;
        carry = sd < 0.0f ? e : fmaf(hc_exp2(A * sd), carry, e);
    }
    q.sinit[i] = carry;
}

/* Pass C: each chunk again from its start state; y = (C s + D xc) silu(z) replaces xc. */
template <int CPT, bool CUT>
__global__ void __launch_bounds__(RD_NT, 1) rd_scan_c(const rd_params q)
{
    const hc_plan &p = q.p;
    const int G = p.G, per = blockDim.x / G, g = threadIdx.x % G, n0 = g * CPT;
    const int c = blockIdx.x, d = blockIdx.y * per + threadIdx.x / G;
    const bool act = d < p.di;
    const int dd = act ? d : p.di - 1;
    const float *Lw = q.w + (size_t)q.l * p.w_layer;
    const float *Ag = q.w + p.w_A + (size_t)q.l * p.w_Al;
    const float *se = q.SE + ((size_t)c * p.di + dd) * p.ds;
    float s[CPT], A[CPT];
    bool ok[CPT];
#pragma unroll
    for (int j = 0; j < CPT; j++) {
        ok[j] = act && n0 + j < p.ds;
        s[j] = ok[j] ? se[n0 + j] : 0.0f;
        A[j] = ok[j] ? Ag[dd * p.ds + n0 + j] : 0.0f;
    }
    const float Dd = Lw[p.w_D + dd];
    const int t0 = c * q.chunk, t1 = min(q.S, t0 + q.chunk);
#pragma unroll 2
    for (int t = t0; t < t1; t++) {
        if (CUT && q.pos[t] == 0)
#pragma unroll
            for (int j = 0; j < CPT; j++)
                s[j] = 0.0f;
        float *yp_row = q.Y + (size_t)t * p.di4;
        const float dl = q.DL[(size_t)t * p.di4 + dd];
        const float xv = yp_row[dd];
        const float dx = dl * xv;
        float b[CPT], cc[CPT];
        hc_vec<CPT>::load(q.BC + (size_t)t * p.ldx + n0, b);
        hc_vec<CPT>::load(q.BC + (size_t)t * p.ldx + p.nr + n0, cc);
        float yp = 0.0f;
#pragma unroll
        for (int j = 0; j < CPT; j++)
            if (ok[j]) {
                const float v = fmaf(hc_exp2(dl * A[j]), s[j], dx * b[j]);
                s[j] = v;
                yp = fmaf(cc[j], v, yp);
            }
        for (int o = 1; o < G; o <<= 1)
            yp += __shfl_xor_sync(HC_FULL, yp, o);
        if (G > 1)
            __syncwarp(); /* every lane of the group has read xc before y replaces it */
        if (act && g == 0)
            yp_row[d] = (yp + Dd * xv) * q.Z[(size_t)t * p.di4 + d];
    }
}

template <bool CUT> const void *rd_kernel_t(rd_which which, int cpt)
{
    switch (which) {
    case RD_INDEX: return (const void *)rd_index;
    case RD_ROWS: return cpt == 4 ? (const void *)rd_rows<4, CUT> : (const void *)rd_rows<8, CUT>;
    case RD_TAIL: return (const void *)rd_tail;
    case RD_SCAN_B: return (const void *)rd_scan_b;
    case RD_SCAN_A:
        switch (cpt) {
        case 1: return (const void *)rd_scan_a<1, CUT>;
        case 2: return (const void *)rd_scan_a<2, CUT>;
        case 4: return (const void *)rd_scan_a<4, CUT>;
        case 8: return (const void *)rd_scan_a<8, CUT>;
        default: return (const void *)rd_scan_a<16, CUT>;
        }
    case RD_SCAN_C:
        switch (cpt) {
        case 1: return (const void *)rd_scan_c<1, CUT>;
        case 2: return (const void *)rd_scan_c<2, CUT>;
        case 4: return (const void *)rd_scan_c<4, CUT>;
        case 8: return (const void *)rd_scan_c<8, CUT>;
        default: return (const void *)rd_scan_c<16, CUT>;
        }
    }
    return nullptr;
}

extern "C" const void *rd_kernel(rd_which which, int cpt, int cut)
{
    return cut ? rd_kernel_t<true>(which, cpt) : rd_kernel_t<false>(which, cpt);
}
