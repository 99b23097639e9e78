/* Device helpers shared by the streaming and the offline kernels: the activation functions, warp
 * reductions, vector loads, and the warp-level matrix product the row phases are built on. */
#ifndef HISS_CUDA_DEVICE_CUH
#define HISS_CUDA_DEVICE_CUH

#define HC_FULL 0xffffffffu
__device__ __forceinline__ float hc_silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* silu to a few ulp, for the per-sample activations (the conv output and the gate): its error
 * does not accumulate, unlike delta's. For x < -88, exp(-x) = inf and the quotient is -0. */
__device__ __forceinline__ float hc_silu_fast(float x)
{
    return __fdividef(x, 1.0f + __expf(-x));
}

__device__ __forceinline__ float hc_softplus(float v)
{
    return v > 20.0f ? v : log1pf(expf(v));
}

/* 2^x, about 2 ulp; the scan's A is stored premultiplied by log2(e). */
__device__ __forceinline__ float hc_exp2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float hc_warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(HC_FULL, v, o);
    return v;
}

template <int V> struct hc_vec;
template <> struct hc_vec<1> {
    __device__ __forceinline__ static void load(const float *p, float *w) { w[0] = p[0]; }
};
template <> struct hc_vec<2> {
    __device__ __forceinline__ static void load(const float *p, float *w)
    {
        const float2 v = *reinterpret_cast<const float2 *>(p);
        w[0] = v.x;
        w[1] = v.y;
    }
};
template <> struct hc_vec<4> {
    __device__ __forceinline__ static void load(const float *p, float *w)
    {
        const float4 v = *reinterpret_cast<const float4 *>(p);
        w[0] = v.x;
        w[1] = v.y;
        w[2] = v.z;
        w[3] = v.w;
    }
};
template <int V> struct hc_vec {
    __device__ __forceinline__ static void load(const float *p, float *w)
    {
#pragma unroll
        for (int i = 0; i < V; i += 4)
            hc_vec<4>::load(p + i, w + i);
    }
};

/* One warp: y[r][c] = sum_k X[r][k] W[k][c] for its rows r < nrows (X rows 16-byte aligned) and
 * columns c < M; W is [K][ldw] with zero columns up to ldw (a multiple of 4). Each lane owns V
 * consecutive columns per stripe of 32 V. k runs in order for every element. */
template <int RW, int V, typename Store>
__device__ __forceinline__ void hc_warp_mm(const float *const *X, int nrows, int K,
                                           const float *__restrict__ W, int ldw, int M,
                                           Store store)
{
    const int lane = threadIdx.x & 31;
    for (int c0 = V * lane; c0 < M; c0 += 32 * V) {
        float acc[RW][V];
#pragma unroll
        for (int r = 0; r < RW; r++)
#pragma unroll
            for (int q = 0; q < V; q++)
                acc[r][q] = 0.0f;
        const float *wp = W + c0;
        int k = 0;
        if (V == 1) {
            /* one column a lane: four partial sums (k mod 4) so the FMAs do not wait on each
             * other; the order is still fixed, whatever the rows */
            float part[RW][3];
#pragma unroll
            for (int r = 0; r < RW; r++)
                part[r][0] = part[r][1] = part[r][2] = 0.0f;
            for (; k + 4 <= K; k += 4) {
                float4 xv[RW];
#pragma unroll
                for (int r = 0; r < RW; r++)
                    xv[r] = *reinterpret_cast<const float4 *>(X[r] + k);
                const float w0 = wp[(k + 0) * ldw], w1 = wp[(k + 1) * ldw];
                const float w2 = wp[(k + 2) * ldw], w3 = wp[(k + 3) * ldw];
#pragma unroll
                for (int r = 0; r < RW; r++) {
                    acc[r][0] = fmaf(xv[r].x, w0, acc[r][0]);
                    part[r][0] = fmaf(xv[r].y, w1, part[r][0]);
                    part[r][1] = fmaf(xv[r].z, w2, part[r][1]);
                    part[r][2] = fmaf(xv[r].w, w3, part[r][2]);
                }
            }
#pragma unroll
            for (int r = 0; r < RW; r++)
                acc[r][0] = (acc[r][0] + part[r][0]) + (part[r][1] + part[r][2]);
        } else {
            for (; k + 4 <= K; k += 4) {
                float4 xv[RW];
#pragma unroll
                for (int r = 0; r < RW; r++)
                    xv[r] = *reinterpret_cast<const float4 *>(X[r] + k);
                float w0[V], w1[V], w2[V], w3[V];
                hc_vec<V>::load(wp + (k + 0) * ldw, w0);
                hc_vec<V>::load(wp + (k + 1) * ldw, w1);
                hc_vec<V>::load(wp + (k + 2) * ldw, w2);
                hc_vec<V>::load(wp + (k + 3) * ldw, w3);
#pragma unroll
                for (int r = 0; r < RW; r++)
#pragma unroll
                    for (int q = 0; q < V; q++) {
                        float v = acc[r][q];
                        v = fmaf(xv[r].x, w0[q], v);
                        v = fmaf(xv[r].y, w1[q], v);
                        v = fmaf(xv[r].z, w2[q], v);
                        v = fmaf(xv[r].w, w3[q], v);
                        acc[r][q] = v;
                    }
            }
        }
        for (; k < K; k++) {
            float w[V];
            hc_vec<V>::load(wp + k * ldw, w);
#pragma unroll
            for (int r = 0; r < RW; r++)
#pragma unroll
                for (int q = 0; q < V; q++)
                    acc[r][q] = fmaf(X[r][k], w[q], acc[r][q]);
        }
#pragma unroll
        for (int r = 0; r < RW; r++)
#pragma unroll
            for (int q = 0; q < V; q++)
                if (r < nrows && c0 + q < M)
                    store(r, c0 + q, acc[r][q]);
    }
}

/* Wide outputs take four columns a lane (16-byte weight loads), narrow ones one. */
template <int RW, typename Store>
__device__ __forceinline__ void hc_warp_mm_any(const float *const *X, int nrows, int K,
                                               const float *__restrict__ W, int ldw, int M,
                                               Store store)
{
    if (M >= 128)
        hc_warp_mm<RW, 4>(X, nrows, K, W, ldw, M, store);
    else
        hc_warp_mm<RW, 1>(X, nrows, K, W, ldw, M, store);
}

#endif
