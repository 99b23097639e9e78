/* The streaming kernel. A thread block owns one stream at a time and advances it through the
 * call's n samples in chunks of tc samples. Within a chunk it runs layer by layer over all tc
 * samples at once: only the selective scan (and the conv's history) is sequential in time, so
 * everything else is spread over the chunk's samples, and a layer costs three barriers per
 * chunk instead of several per sample:
 *
 *   row phase    (a warp per sample) out_proj of the previous layer, residual, RMSNorm,
 *                in_proj into the conv input and silu(z)
 *   conv phase   (a warp per sample) causal conv + silu, x_proj, delta
 *   scan phase   (G lanes per channel) the selective scan over the chunk, y gated
 *
 * The weights are staged in shared memory once per launch and reused for every stream the block
 * owns (all but A, which the scan reads once per chunk from global memory); the stream's state
 * is staged in shared memory while the block works on it when there is room.
 *
 * Every output element is accumulated in the same order whatever the chunk boundaries, so the
 * output does not depend on how a stream is cut into calls.
 *
 * A sample whose output is not finite is handled as on the CPU: output 0, the stream's state is
 * zeroed and counted, and the rest of the chunk is recomputed from the zero state. */
#include <math.h>

#include "cuda_device.cuh"
#include "cuda_scan.cuh"
#include "cuda_stream_kernel.h"

template <int NT, bool WS>
__global__ void __launch_bounds__(NT, 1) hc_stream(const hc_kparams kp)
{
    /* Samples a warp carries together through the row phases, each weight loaded once for all:
     * a chunk of 32 samples in one pass. */
    constexpr int HC_RW = NT >= 512 ? 2 : 4;
    extern __shared__ float4 hc_smem4[];
    float *sm = reinterpret_cast<float *>(hc_smem4);
    const hc_plan &p = kp.p;
    constexpr int NW = NT / 32;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    const float *W = kp.w;
    if (WS) {
        float4 *dst = reinterpret_cast<float4 *>(sm + p.s_w);
        const float4 *src = reinterpret_cast<const float4 *>(kp.w);
        for (int i = tid; i < p.w_smem / 4; i += NT)
            dst[i] = src[i];
        W = sm + p.s_w;
    }
    float *R = sm + p.s_R, *XI = sm + p.s_XI, *Z = sm + p.s_Z, *XC = sm + p.s_XC;
    float *DBC = sm + p.s_DBC, *DT = sm + p.s_DT, *OUT = sm + p.s_OUT;
    float4 *PK = reinterpret_cast<float4 *>(sm + p.s_PK);
    float *AH = sm + p.s_PK; /* the normed rows live only within the row phase, PK after it */
    int *misc = reinterpret_cast<int *>(sm + p.s_misc);
    const int n = kp.n, dm = p.dm, di = p.di;
    const float inv_dm = 1.0f / (float)dm;

    for (int k = blockIdx.x; k < kp.B; k += gridDim.x) {
        float *gst = kp.state + (size_t)k * p.sstride;
        float *st = p.state_in_smem ? sm + p.s_state : gst;
        __syncthreads(); /* the previous stream is done with shared memory */
        if (kp.flags[k] & HC_FLAG_SKIP) {
            /* not in this launch: state, pending reset and output untouched */
            if (tid == 0)
                kp.resets[k] = 0;
            continue;
        }
        if (kp.flags[k] & HC_FLAG_ZERO) {
            for (int i = tid; i < p.sstride; i += NT)
                st[i] = 0.0f;
        } else if (p.state_in_smem) {
            for (int i = tid; i < p.sstride / 4; i += NT)
                reinterpret_cast<float4 *>(st)[i] = reinterpret_cast<const float4 *>(gst)[i];
        }
        const float *cond = kp.cond + (size_t)k * p.nc;
        const float *xin = kp.x + (size_t)k * n;
        float *yout = kp.y + (size_t)k * n;
        if (p.s_stage >= 0) {
            /* zero-copy: the input is in host memory; one read of it, all in flight at once,
             * instead of one round trip per use (the chunk loop's barrier orders the reads) */
            float *sx = sm + p.s_stage;
            for (int i = tid; i < n; i += NT)
                sx[i] = xin[i];
            for (int i = tid; i < p.nc; i += NT)
                sx[p.stage_x + i] = cond[i];
            xin = sx;
            cond = sx + p.stage_x;
        }
        int resets = 0;
        for (int t0 = 0; t0 < n;) {
            const int len = min(p.tc, n - t0);
            __syncthreads();
            for (int l = 0; l <= p.nl; l++) {
                const float *Lw = W + (size_t)l * p.w_layer;     /* layer l (l < nl) */
                const float *Lp = W + (size_t)(l - 1) * p.w_layer; /* layer l-1 (l > 0) */
                float *hist = st + (size_t)l * p.l_state;
                /* ---- row phase: h (input projection, or out_proj of layer l-1), r += h,
                 * a = rmsnorm(r) w (the final norm and the output head after the last layer),
                 * [xi, silu(z)] = W_in a */
                if (l < p.nl)
                    for (int q = tid; q < p.hl; q += NT)
                        XI[(q / di) * p.di4 + q % di] = hist[q];
                for (int rt = warp * HC_RW; rt < len; rt += NW * HC_RW) {
                    const int nrows = min(HC_RW, len - rt);
                    float ss[HC_RW];
#pragma unroll
                    for (int r = 0; r < HC_RW; r++)
                        ss[r] = 0.0f;
                    if (l == 0) {
                        for (int j = lane; j < dm; j += 32)
#pragma unroll
                            for (int r = 0; r < HC_RW; r++)
                                if (r < nrows) {
                                    float h = W[p.w_inb + j];
                                    h = fmaf(W[p.w_inw + j], xin[t0 + rt + r], h);
                                    for (int c = 1; c < p.nin; c++)
                                        h = fmaf(W[p.w_inw + c * p.dm4 + j], cond[c - 1], h);
                                    R[(rt + r) * p.dm4 + j] = h;
                                    ss[r] = fmaf(h, h, ss[r]);
                                }
                    } else {
                        const float *X[HC_RW];
#pragma unroll
                        for (int r = 0; r < HC_RW; r++)
                            X[r] = XC + (rt + min(r, nrows - 1)) * p.di4;
                        hc_warp_mm<HC_RW, 1>(X, nrows, di, Lp + p.w_out, p.dm4, dm,
                                      [&](int r, int j, float h) {
                                          const float v = R[(rt + r) * p.dm4 + j] + h;
                                          R[(rt + r) * p.dm4 + j] = v;
                                          ss[r] = fmaf(v, v, ss[r]);
                                      });
                    }
                    const float *nw = l < p.nl ? Lw + p.w_norm : W + p.w_normf;
                    float o[HC_RW];
#pragma unroll
                    for (int r = 0; r < HC_RW; r++) {
                        const float inv = 1.0f / sqrtf(hc_warp_sum(ss[r]) * inv_dm + p.eps);
                        o[r] = 0.0f;
                        if (r < nrows)
                            for (int j = lane; j < dm; j += 32) {
                                const float a = R[(rt + r) * p.dm4 + j] * inv * nw[j];
                                if (l < p.nl)
                                    AH[(rt + r) * p.dm4 + j] = a;
                                else
                                    o[r] = fmaf(W[p.w_outw + j], a, o[r]);
                            }
                    }
                    if (l == p.nl) {
#pragma unroll
                        for (int r = 0; r < HC_RW; r++) {
                            const float v = hc_warp_sum(o[r]);
                            if (lane == 0 && r < nrows) {
                                float y = W[p.w_outb] + v;
                                if (p.skip)
                                    y += xin[t0 + rt + r];
                                OUT[rt + r] = y;
                            }
                        }
                        continue;
                    }
                    __syncwarp();
                    const float *X[HC_RW];
#pragma unroll
                    for (int r = 0; r < HC_RW; r++)
                        X[r] = AH + (rt + min(r, nrows - 1)) * p.dm4;
                    float *xi = XI + (p.dc - 1 + rt) * p.di4, *zr = Z + rt * p.di4;
                    hc_warp_mm_any<HC_RW>(X, nrows, dm, Lw + p.w_in, p.ldin, 2 * di,
                                          [&](int r, int c, float v) {
                                              if (c < di)
                                                  xi[r * p.di4 + c] = v;
                                              else
                                                  zr[r * p.di4 + c - di] = hc_silu_fast(v);
                                          });
                }
                if (l == p.nl)
                    break;
                __syncthreads();
                /* ---- conv phase: xc = silu(conv), the last d_conv-1 inputs become the history;
                 * [dt, B, C] = W_x xc; delta = softplus(W_dt dt + b) */
                for (int q = tid; q < p.hl; q += NT)
                    hist[q] = XI[(len + q / di) * p.di4 + q % di];
                for (int rt = warp * HC_RW; rt < len; rt += NW * HC_RW) {
                    const int nrows = min(HC_RW, len - rt);
                    for (int d = lane; d < di; d += 32) {
                        float a[HC_RW];
                        const float b = Lw[p.w_convb + d];
#pragma unroll
                        for (int r = 0; r < HC_RW; r++)
                            a[r] = b;
                        for (int kk = 0; kk < p.dc; kk++) {
                            const float w = Lw[p.w_conv + kk * p.di4 + d];
#pragma unroll
                            for (int r = 0; r < HC_RW; r++)
                                a[r] = fmaf(w, XI[(rt + min(r, nrows - 1) + kk) * p.di4 + d], a[r]);
                        }
#pragma unroll
                        for (int r = 0; r < HC_RW; r++)
                            if (r < nrows)
                                XC[(rt + r) * p.di4 + d] = hc_silu_fast(a[r]);
                    }
                    __syncwarp();
                    const float *X[HC_RW];
#pragma unroll
                    for (int r = 0; r < HC_RW; r++)
                        X[r] = XC + (rt + min(r, nrows - 1)) * p.di4;
                    float *dbc = DBC + rt * p.ldx;
                    hc_warp_mm_any<HC_RW>(X, nrows, di, Lw + p.w_xp, p.ldx, p.ldx,
                                          [&](int r, int c, float v) { dbc[r * p.ldx + c] = v; });
                    /* the dt inputs: dt_rank dot products over d_inner, one warp sum each */
                    float *dtr = DT + rt * p.dr4;
                    for (int q = 0; q < p.dr; q++) {
                        float part[HC_RW];
#pragma unroll
                        for (int r = 0; r < HC_RW; r++)
                            part[r] = 0.0f;
                        for (int d = lane; d < di; d += 32) {
                            const float w = Lw[p.w_xdt + q * p.di4 + d];
#pragma unroll
                            for (int r = 0; r < HC_RW; r++)
                                part[r] = fmaf(X[r][d], w, part[r]);
                        }
#pragma unroll
                        for (int r = 0; r < HC_RW; r++) {
                            const float v = hc_warp_sum(part[r]);
                            if (lane == 0 && r < nrows)
                                dtr[r * p.dr4 + q] = v;
                        }
                    }
                    __syncwarp();
                    for (int d = lane; d < di; d += 32) {
                        const float b = Lw[p.w_dtb + d], Dd = Lw[p.w_D + d];
#pragma unroll
                        for (int r = 0; r < HC_RW; r++)
                            if (r < nrows) {
                                float v = b;
                                for (int q = 0; q < p.dr; q++)
                                    v = fmaf(dtr[r * p.dr4 + q], Lw[p.w_dt + q * p.di4 + d], v);
                                const float dl = hc_softplus(v) * kp.dscale;
                                const float xc = XC[(rt + r) * p.di4 + d];
                                const float gz = Z[(rt + r) * p.di4 + d];
                                PK[(rt + r) * p.di4 + d] = make_float4(dl, dl * xc, gz, Dd * xc * gz);
                            }
                    }
                }
                __syncthreads();
                /* ---- scan phase */
                hc_scan_any<NT>(p, kp.w + p.w_A + (size_t)l * p.w_Al, hist + p.hl, DBC, PK, XC, len);
                __syncthreads();
            }
            __syncthreads();
            if (warp == 0) {
                int bad = len;
                for (int b0 = 0; b0 < len; b0 += 32) {
                    const int t = b0 + lane;
                    const unsigned m = __ballot_sync(HC_FULL, t < len && !isfinite(OUT[t]));
                    if (m) {
                        bad = b0 + __ffs(m) - 1;
                        break;
                    }
                }
                if (lane == 0)
                    misc[0] = bad;
            }
            __syncthreads();
            const int bad = misc[0];
            for (int t = tid; t < bad; t += NT)
                yout[t0 + t] = OUT[t];
            if (bad < len) {
                if (tid == 0)
                    yout[t0 + bad] = 0.0f;
                for (int i = tid; i < p.sstride; i += NT)
                    st[i] = 0.0f;
                resets++;
                t0 += bad + 1;
            } else {
                t0 += len;
            }
        }
        __syncthreads();
        if (p.state_in_smem)
            for (int i = tid; i < p.sstride / 4; i += NT)
                reinterpret_cast<float4 *>(gst)[i] = reinterpret_cast<const float4 *>(st)[i];
        if (tid == 0)
            kp.resets[k] = resets;
    }
}

extern "C" const void *hc_stream_kernel(int nt, int ws)
{
    switch (nt) {
    case HC_NT_SMALL:
        return ws ? (const void *)hc_stream<HC_NT_SMALL, true> : (const void *)hc_stream<HC_NT_SMALL, false>;
    case HC_NT_LARGE:
        return ws ? (const void *)hc_stream<HC_NT_LARGE, true> : (const void *)hc_stream<HC_NT_LARGE, false>;
    }
    return nullptr;
}
