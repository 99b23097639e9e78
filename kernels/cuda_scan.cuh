/* The selective scan, shared by the streaming kernel (a chunk of samples of one stream) and the
 * synth kernel (one sample of one voice): every (channel, state) chain advanced over len samples. */
#ifndef HISS_CUDA_SCAN_CUH
#define HISS_CUDA_SCAN_CUH

#include "cuda_device.cuh"
#include "cuda_plan.h"

/* The selective scan of every (channel, state) chain over the chunk's samples. G consecutive
 * lanes share a channel; each carries CPT chains in registers, and their partial sums of C s
 * meet by shuffles. Besides B and C it reads only PK = {delta, delta xc, silu(z), D xc silu(z)},
 * so nothing it reads is written in the loop: y goes to Y (the xc rows, no longer needed). */
template <int NT, int CPT>
__device__ __forceinline__ void hc_scan(const hc_plan &p, const float *__restrict__ Ag,
                                        float *ssm, const float *DBC, const float4 *PK, float *Y,
                                        int len)
{
    const int G = p.G, per = NT / G;
    const int tid = threadIdx.x, g = tid % G, n0 = g * CPT;
    for (int d0 = 0; d0 < p.di; d0 += per) {
        const int d = d0 + tid / G;
        const bool act = d < p.di;
        const int dd = act ? d : p.di - 1;
        float s[CPT], A[CPT];
        bool ok[CPT];
#pragma unroll
        for (int j = 0; j < CPT; j++) {
            ok[j] = act && n0 + j < p.ds;
            s[j] = ok[j] ? ssm[dd * p.ds + n0 + j] : 0.0f;
            A[j] = ok[j] ? Ag[dd * p.ds + n0 + j] : 0.0f;
        }
        const float *Bp = DBC + n0, *Cp = Bp + p.nr;
#pragma unroll 4
        for (int t = 0; t < len; t++) {
            const float4 pk = act ? PK[t * p.di4 + dd] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            float b[CPT], c[CPT];
            hc_vec<CPT>::load(Bp + t * p.ldx, b);
            hc_vec<CPT>::load(Cp + t * p.ldx, c);
            float yp = 0.0f;
#pragma unroll
            for (int j = 0; j < CPT; j++) {
                if (ok[j]) {
                    const float v = fmaf(hc_exp2(pk.x * A[j]), s[j], pk.y * b[j]);
                    s[j] = v;
                    yp = fmaf(c[j], v, yp);
                }
            }
            for (int o = 1; o < G; o <<= 1)
                yp += __shfl_xor_sync(HC_FULL, yp, o);
            if (act && g == 0)
                Y[t * p.di4 + d] = fmaf(yp, pk.z, pk.w);
        }
#pragma unroll
        for (int j = 0; j < CPT; j++)
            if (ok[j])
                ssm[dd * p.ds + n0 + j] = s[j];
    }
}

template <int NT>
__device__ __forceinline__ void hc_scan_any(const hc_plan &p, const float *__restrict__ Ag,
                                            float *ssm, const float *DBC, const float4 *PK,
                                            float *Y, int len)
{
    switch (p.cpt) {
    case 1: hc_scan<NT, 1>(p, Ag, ssm, DBC, PK, Y, len); break;
    case 2: hc_scan<NT, 2>(p, Ag, ssm, DBC, PK, Y, len); break;
    case 4: hc_scan<NT, 4>(p, Ag, ssm, DBC, PK, Y, len); break;
    case 8: hc_scan<NT, 8>(p, Ag, ssm, DBC, PK, Y, len); break;
    default: hc_scan<NT, 16>(p, Ag, ssm, DBC, PK, Y, len); break;
    }
}

#endif
