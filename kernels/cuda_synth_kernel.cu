/* The synth kernel. A thread block owns one voice at a time and runs its n samples one after
 * the other: each sample's input is the class the previous one drew, so nothing is parallel in
 * time, and the block's warps share each sample's work instead, every matrix product split by
 * columns over the warps (the streaming kernel's hc_warp_mm), the selective scan over all
 * threads (its hc_scan, one sample long). A sample costs four barriers per layer and two for
 * the head and the draw:
 *
 *   norm + in_proj   every warp normalises the residual itself (no barrier), then its columns
 *   conv + x_proj    every warp convolves all channels itself, then its columns of B and C and
 *                    the dt rows
 *   delta + scan     the scan's threads compute delta for their own channels first
 *   out_proj         its columns
 *   head             the final norm, lm_head by columns; then warp 0 draws (cuda_sampler.cuh)
 *
 * The conditioning of a chunk of samples is computed before them (it does not depend on the
 * audio): the note's features in double as engine/src/synth_cond.c computes them, projected by
 * cond_proj. The weights (and as much of the state, A and the embedding as fits) stay in shared
 * memory for the whole launch. Every result of a sample depends only on the voice's state and
 * inputs, so the output does not depend on how the samples are cut into launches. */
#include <math.h>

#include "cuda_device.cuh"
#include "cuda_sampler.cuh"
#include "cuda_scan.cuh"
#include "cuda_synth_kernel.h"

/* The feature f of a voice's note t samples after the launch's first, at phase ph, as
 * hiss_synth_feature_value computes it (double, then float). */
__device__ float hs_feature(int f, double pitch, int velocity, int gate, uint64_t n_on0,
                           uint64_t n_off0, int t, double ph, double rate)
{
    const double two_pi = 6.283185307179586476925286766559;
    const uint64_t n_on = n_on0 + (uint64_t)t;
    const uint64_t n_off = gate ? n_off0 : n_off0 + (uint64_t)t;
    switch (f) {
    case HISS_SYNTH_F_PITCH: return (float)((pitch - 69.0) / 12.0);
    case HISS_SYNTH_F_VELOCITY: return (float)((double)velocity / 127.0);
    case HISS_SYNTH_F_GATE: return gate ? 1.0f : 0.0f;
    case HISS_SYNTH_F_ONSET: return (float)exp(-(double)n_on / (0.02 * rate));
    case HISS_SYNTH_F_DECAY: return (float)exp(-(double)n_on / (1.0 * rate));
    case HISS_SYNTH_F_RELEASE: return gate ? 0.0f : (float)exp(-(double)n_off / (0.2 * rate));
    default: break;
    }
    if ((int)f < HISS_SYNTH_F_SIN1 || f >= HISS_SYNTH_F_COUNT)
        return 0.0f;
    /* sin1, cos1, sin2, cos2, ...: harmonic (pair index + 1), as engine/src/synth_cond.c */
    const int h = (int)f - HISS_SYNTH_F_SIN1;
    const double arg = (double)(h / 2 + 1) * two_pi * ph;
    return (float)(h % 2 ? cos(arg) : sin(arg));
}

/* One row times W [K][ldw], the M columns split over the block's warps (four at a time). */
template <typename Store>
__device__ __forceinline__ void hs_mm(const float *x, int K, const float *W, int ldw, int M, int warp,
                                      int nw, Store store)
{
    const int slice = ((M + nw - 1) / nw + 3) & ~3;
    const int c0 = warp * slice;
    if (c0 >= M)
        return;
    const float *X[1] = {x};
    hc_warp_mm_any<1>(X, 1, K, W + c0, ldw, min(slice, M - c0),
                      [&](int, int c, float v) { store(c0 + c, v); });
}

__device__ __forceinline__ void hs_copy4(float *dst, const float *src, int floats, int tid, int nt)
{
    float4 *d = reinterpret_cast<float4 *>(dst);
    const float4 *s = reinterpret_cast<const float4 *>(src);
    for (int i = tid; i < floats / 4; i += nt)
        d[i] = s[i];
}

template <int NT, bool WS>
__global__ void __launch_bounds__(NT, 1) hs_synth(const hs_kparams kp)
{
    extern __shared__ float4 hs_smem4[];
    float *sm = reinterpret_cast<float *>(hs_smem4);
    const hs_plan &P = kp.p;
    const hc_plan &p = P.bb;
    constexpr int NW = NT / 32;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int dm = p.dm, di = p.di, dc = p.dc, nc = P.nc;

    const float *W = kp.w, *HW = kp.hw;
    if (WS) {
        hs_copy4(sm + P.s_w, kp.w, p.w_smem, tid, NT);
        hs_copy4(sm + P.s_head, kp.hw, P.h_emb, tid, NT);
        W = sm + P.s_w;
        HW = sm + P.s_head;
    }
    const float *Ag = kp.w + p.w_A;
    if (P.s_A >= 0) {
        hs_copy4(sm + P.s_A, kp.w + p.w_A, p.nl * p.w_Al, tid, NT);
        Ag = sm + P.s_A;
    }
    const float *EMB = kp.hw + P.h_emb;
    if (P.s_emb >= 0) {
        hs_copy4(sm + P.s_emb, kp.hw + P.h_emb, 256 * p.dm4, tid, NT);
        EMB = sm + P.s_emb;
    }
    hs_smp *smp = reinterpret_cast<hs_smp *>(P.s_smp >= 0 ? sm + P.s_smp
                                                           : kp.scratch + (size_t)blockIdx.x * HS_SMP_FLOATS);
    const float *CW = HW + P.h_cw, *CB = HW + P.h_cb, *LMW = HW + P.h_lm, *LMB = HW + P.h_lmb;
    const float *DEC = HW + P.h_dec;
    float *R = sm + P.s_R, *H = sm + P.s_H, *XI = sm + P.s_XI, *Z = sm + P.s_Z, *XC = sm + P.s_XC;
    float *AW = sm + P.s_AW, *DBC = sm + P.s_DBC, *DT = sm + P.s_DT, *Y = sm + P.s_Y;
    float *LOG = sm + P.s_LOG, *HC = sm + P.s_HC, *COND = sm + P.s_COND;
    float4 *PK = reinterpret_cast<float4 *>(sm + P.s_PK);
    double *PH = reinterpret_cast<double *>(sm + P.s_PH);
    int *misc = reinterpret_cast<int *>(sm + P.s_misc);
    const float inv_dm = 1.0f / (float)dm;
    const int nv = kp.hdr[0], n = kp.hdr[1];
    /* the sampling settings travel with each run, so a host can change them between runs */
    const int greedy = kp.hdr[2];
    const float inv_t = __int_as_float(kp.hdr[3]), top_p = __int_as_float(kp.hdr[4]);

    for (int j = blockIdx.x; j < nv; j += gridDim.x) {
        const hs_voice_in vi = kp.vin[j];
        float *gst = kp.state + (size_t)vi.slot * P.ss;
        float *st = P.s_state >= 0 ? sm + P.s_state : gst;
        hs_voice_dev vd = kp.vs[vi.slot];
        if (vi.reset) {
            for (int i = 0; i < 4; i++)
                vd.rng[i] = vi.rng[i];
            vd.prev = HISS_SYNTH_SILENCE_CLASS;
            vd.pos = 0;
        }
        uint64_t rs[4] = {vd.rng[0], vd.rng[1], vd.rng[2], vd.rng[3]};
        int pos = vd.pos;
        __syncthreads(); /* the previous voice is done with shared memory */
        if (vi.reset) {
            for (int i = tid; i < P.ss; i += NT)
                st[i] = 0.0f;
        } else if (P.s_state >= 0) {
            hs_copy4(st, gst, P.ss, tid, NT);
        }
        if (tid == 0) {
            misc[0] = vd.prev;
            misc[1] = 0;
        }
        double phase = vi.phase;
        int bad_t = n;
        for (int t0 = 0; t0 < n && bad_t == n; t0 += P.tch) {
            const int len = min(P.tch, n - t0);
            /* ---- the conditioning of samples t0 .. t0+len-1 (as hiss_synth_note_advance
             * moves the phase: the sum, then its fraction) */
            if (tid == 0)
                for (int tt = 0; tt < len; tt++) {
                    PH[tt] = phase;
                    const double q = __dadd_rn(phase, vi.inc);
                    phase = __dsub_rn(q, floor(q));
                }
            __syncthreads();
            for (int q = tid; q < len * nc; q += NT) {
                const int tt = q / nc, i = q % nc;
                COND[q] = hs_feature(kp.feat[i], vi.pitch, vi.velocity, vi.gate, vi.n_on, vi.n_off, t0 + tt,
                                     PH[tt], kp.rate);
            }
            __syncthreads();
            for (int q = tid; q < len * dm; q += NT) {
                const int tt = q / dm, jj = q % dm;
                float h = CB[jj];
                for (int i = 0; i < nc; i++)
                    h = fmaf(CW[i * p.dm4 + jj], COND[tt * nc + i], h);
                HC[tt * p.dm4 + jj] = h;
            }
            if (kp.pcond)
                for (int q = tid; q < len * nc; q += NT)
                    kp.pcond[((size_t)j * n + t0) * nc + q] = COND[q];
            __syncthreads();
            for (int tt = 0; tt < len; tt++) {
                const int t = t0 + tt;
                const int prev = misc[0];
                for (int l = 0; l < p.nl; l++) {
                    const float *Lw = W + (size_t)l * p.w_layer;
                    float *ring = st + (size_t)l * P.l_size; /* [dc][di] */
                    float *ssm = ring + P.l_ssm;             /* [di][ds] */
                    const float *Rin = R + (l & 1) * p.dm4;
                    float *Rout = R + ((l + 1) & 1) * p.dm4;
                    float *aw = AW + warp * p.dm4;
                    /* ---- r += h (h: embedding + conditioning, or the last layer's output),
                     * a = rmsnorm(r) w in every warp; [xi, silu(z)] = W_in a by columns */
                    float ss = 0.0f;
                    for (int c = lane; c < dm; c += 32) {
                        const float v = l == 0 ? EMB[prev * p.dm4 + c] + HC[tt * p.dm4 + c] : Rin[c] + H[c];
                        aw[c] = v;
                        ss = fmaf(v, v, ss);
                        if (warp == 0)
                            Rout[c] = v;
                    }
                    {
                        const float inv = 1.0f / sqrtf(hc_warp_sum(ss) * inv_dm + p.eps);
                        for (int c = lane; c < dm; c += 32)
                            aw[c] = aw[c] * inv * Lw[p.w_norm + c];
                    }
                    __syncwarp();
                    hs_mm(aw, dm, Lw + p.w_in, p.ldin, 2 * di, warp, NW, [&](int c, float v) {
                        if (c < di)
                            XI[c] = v;
                        else
                            Z[c - di] = hc_silu_fast(v);
                    });
                    __syncthreads();
                    /* ---- xc = silu(conv) in every warp (the ring's slot pos takes xi);
                     * [B, C] = W_x xc by columns, the dt inputs by warp sums */
                    float *xc = XC + warp * p.di4;
                    for (int d = lane; d < di; d += 32) {
                        float a = Lw[p.w_convb + d];
                        for (int k = 0; k < dc - 1; k++) {
                            int r = pos + 1 + k;
                            r = r >= dc ? r - dc : r;
                            a = fmaf(Lw[p.w_conv + k * p.di4 + d], ring[r * di + d], a);
                        }
                        const float xi = XI[d];
                        a = fmaf(Lw[p.w_conv + (dc - 1) * p.di4 + d], xi, a);
                        xc[d] = hc_silu_fast(a);
                        if (warp == 0)
                            ring[pos * di + d] = xi;
                    }
                    __syncwarp();
                    hs_mm(xc, di, Lw + p.w_xp, p.ldx, p.ldx, warp, NW, [&](int c, float v) { DBC[c] = v; });
                    for (int q = warp; q < p.dr; q += NW) {
                        float part = 0.0f;
                        for (int d = lane; d < di; d += 32)
                            part = fmaf(xc[d], Lw[p.w_xdt + q * p.di4 + d], part);
                        part = hc_warp_sum(part);
                        if (lane == 0)
                            DT[q] = part;
                    }
                    __syncthreads();
                    /* ---- delta for the channels this thread's lane group scans, then the scan */
                    {
                        const int G = p.G, per = NT / G;
                        if (tid % G == 0)
                            for (int d0 = 0; d0 < di; d0 += per) {
                                const int d = d0 + tid / G;
                                if (d < di) {
                                    float v = Lw[p.w_dtb + d];
                                    for (int q = 0; q < p.dr; q++)
                                        v = fmaf(DT[q], Lw[p.w_dt + q * p.di4 + d], v);
                                    const float dl = hc_softplus(v);
                                    const float x = XC[d], gz = Z[d];
                                    PK[d] = make_float4(dl, dl * x, gz, Lw[p.w_D + d] * x * gz);
                                }
                            }
                        __syncwarp();
                        hc_scan_any<NT>(p, Ag + (size_t)l * p.w_Al, ssm, DBC, PK, Y, 1);
                    }
                    __syncthreads();
                    /* ---- h = W_out y by columns */
                    hs_mm(Y, di, Lw + p.w_out, p.dm4, dm, warp, NW, [&](int c, float v) { H[c] = v; });
                    __syncthreads();
                }
                pos = pos + 1 == dc ? 0 : pos + 1;
                /* ---- o = rmsnorm(r + h) w_f in every warp; logits = W_lm o + b by columns */
                {
                    const float *Rin = R + (p.nl & 1) * p.dm4;
                    float *aw = AW + warp * p.dm4;
                    float ss = 0.0f;
                    for (int c = lane; c < dm; c += 32) {
                        const float v = Rin[c] + H[c];
                        aw[c] = v;
                        ss = fmaf(v, v, ss);
                    }
                    const float inv = 1.0f / sqrtf(hc_warp_sum(ss) * inv_dm + p.eps);
                    for (int c = lane; c < dm; c += 32)
                        aw[c] = aw[c] * inv * W[p.w_normf + c];
                    __syncwarp();
                    hs_mm(aw, dm, LMW, 256, 256, warp, NW, [&](int c, float v) { LOG[c] = LMB[c] + v; });
                }
                __syncthreads();
                /* ---- the draw, decoded; the class fed back */
                if (warp == 0) {
                    const int c = hs_sample_warp(LOG, inv_t, top_p, greedy, rs, smp, kp.exact);
                    if (lane == 0) {
                        if (c < 0) {
                            misc[1] = 1;
                        } else {
                            misc[0] = kp.force ? kp.force[(size_t)j * n + t] : c;
                            kp.y[(size_t)j * n + t] = DEC[c];
                        }
                        if (kp.pcls)
                            kp.pcls[(size_t)j * n + t] = c;
                    }
                }
                if (kp.plog)
                    for (int k = tid; k < 256; k += NT)
                        kp.plog[((size_t)j * n + t) * 256 + k] = LOG[k];
                __syncthreads();
                if (misc[1]) {
                    bad_t = t;
                    break;
                }
            }
        }
        __syncthreads();
        if (P.s_state >= 0)
            hs_copy4(gst, st, P.ss, tid, NT);
        if (tid == 0) {
            for (int i = 0; i < 4; i++)
                vd.rng[i] = rs[i];
            vd.prev = misc[0];
            vd.pos = pos;
            kp.vs[vi.slot] = vd;
            kp.bad[j] = bad_t;
        }
    }
}

__global__ void __launch_bounds__(32) hs_sample_test(const hs_stest q)
{
    hs_smp *w = reinterpret_cast<hs_smp *>(q.scratch + (size_t)blockIdx.x * HS_SMP_FLOATS);
    for (int v = blockIdx.x; v < q.count; v += gridDim.x) {
        uint64_t s[4];
        for (int i = 0; i < 4; i++)
            s[i] = q.rng[(size_t)v * 4 + i];
        const int c = hs_sample_warp(q.logits + (size_t)v * 256, q.inv_t, q.top_p, q.greedy, s, w, q.exact);
        if (threadIdx.x == 0) {
            q.cls[v] = c;
            for (int i = 0; i < 4; i++)
                q.rng[(size_t)v * 4 + i] = s[i];
        }
        __syncwarp();
    }
}

extern "C" const void *hs_synth_kernel(int nt, int ws)
{
    switch (nt) {
    case 128: return ws ? (const void *)hs_synth<128, true> : (const void *)hs_synth<128, false>;
    case 256: return ws ? (const void *)hs_synth<256, true> : (const void *)hs_synth<256, false>;
    case 512: return ws ? (const void *)hs_synth<512, true> : (const void *)hs_synth<512, false>;
    }
    return nullptr;
}

extern "C" const void *hs_sample_test_kernel(void)
{
    return (const void *)hs_sample_test;
}
