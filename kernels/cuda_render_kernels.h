/* The offline renderer's kernels and the parameters they share (see cuda_render_kernels.cu). */
#ifndef HISS_CUDA_RENDER_KERNELS_H
#define HISS_CUDA_RENDER_KERNELS_H

#include "cuda_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RD_NT 256 /* threads per block; the scan mapping (p.G, p.cpt) is planned for it */
#define RD_T 128  /* rows per block of the rows kernel, d_conv-1 of them halo */
#define RD_RW 8   /* samples a warp of the tail kernel carries together */

typedef struct rd_params {
    const float *w;       /* weight blob */
    hc_plan p;
    int S;                /* samples in this segment */
    int l;                /* layer */
    int chunk, nch;       /* scan chunk length and count */
    float dscale;
    const float *x;       /* [S] sanitised input */
    const float *cond;    /* [n_cond] per sequence, row seq[t] (row 0 without seq) */
    /* Several sequences laid end to end (NULL: one sequence): pos[t] is sample t's index in its
     * sequence, 0 at a sequence's first sample, where the conv history and the scan's carry are
     * cut; seq[t] is its sequence, for the conditioning row. */
    int *pos;
    int *seq;
    const int *pieces;    /* [npieces][3]: first segment row, sequence, its index in the sequence;
                           * rows from one piece's first row to the next's are consecutive
                           * samples of one sequence (RD_INDEX expands them into pos and seq) */
    int npieces;
    const float *Rin;     /* [S][dm4] residual before this layer (l > 0) */
    float *Rout;          /* [S][dm4] residual after it */
    const float *Yprev;   /* [S][di4] y of layer l-1 */
    float *Y;             /* [S][di4] xc of layer l, then its y */
    float *Z;             /* [S][di4] silu(z) */
    float *BC;            /* [S][ldx] B, C */
    float *DL;            /* [S][di4] delta */
    const float *hist_in; /* [d_conv-1][di4] conv history before the segment */
    float *hist_out;      /* [d_conv-1][di4] conv history after it */
    float *SE;            /* [nch][di][ds] chunk end states, then start states */
    float *SD;            /* [nch][di4] chunk sums of delta; -1 where a sequence starts in the
                           * chunk (nothing before it carries through) */
    float *sinit;         /* [di][ds] SSM state before the segment, then after it */
    float *yout;          /* [S] output */
} rd_params;

typedef enum rd_which { RD_INDEX, RD_ROWS, RD_SCAN_A, RD_SCAN_B, RD_SCAN_C, RD_TAIL } rd_which;

/* cpt: the scan kernels' chains per lane; for RD_ROWS the samples a warp carries (4 or 8).
 * cut: the instance that cuts at sequence starts (q.pos, q.seq set), else the one-sequence one. */
const void *rd_kernel(rd_which which, int cpt, int cut);
size_t rd_rows_smem(const hc_plan *p);

#ifdef __cplusplus
}
#endif
#endif
