/* Validation through the engine itself (CPU stream from a zero state): the figure reported is
 * the one a user of the trained file gets, not the trainer's own forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_train.h"

#define EVAL_BLOCK 4096

hiss_status ht_eval_engine(const hiss_model *m, const ht_data *d, size_t skip, double pre_emph,
                           double *esr, double *esr_pe, float *pred_out, hiss_error *err)
{
    const hiss_config *c = hiss_model_config(m);
    if (d->n_in != 1 + c->n_cond) {
        if (err) {
            err->status = HISS_ERR_ARG;
            snprintf(err->msg, sizeof err->msg,
                     "validation data: %d inputs per frame, the model takes %d", d->n_in,
                     1 + c->n_cond);
        }
        return HISS_ERR_ARG;
    }
    hiss_stream_opts so = hiss_stream_opts_default();
    so.n_streams = 1;
    so.max_block = EVAL_BLOCK;
    so.backend = HISS_BACKEND_CPU;
    hiss_stream *s;
    hiss_status st = hiss_stream_create(m, &so, &s, err);
    if (st != HISS_OK)
        return st;
    float *x = malloc(EVAL_BLOCK * sizeof *x), *y = malloc(EVAL_BLOCK * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        hiss_stream_free(s);
        if (err) {
            err->status = HISS_ERR_NOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        return HISS_ERR_NOMEM;
    }
    double e2 = 0, t2 = 0, q2 = 0, p2 = 0, eprev = 0, tprev = 0;
    size_t i = 0;
    while (i < d->n) {
        const float *f0 = d->in + i * d->n_in;
        for (int k = 1; k < d->n_in; k++)
            hiss_stream_set_cond(s, 0, k - 1, f0[k]);
        /* a chunk ends where a conditioning value changes: set_cond acts per call */
        size_t n = 0;
        while (n < EVAL_BLOCK && i + n < d->n) {
            const float *f = d->in + (i + n) * d->n_in;
            if (n > 0 && memcmp(f + 1, f0 + 1, (size_t)(d->n_in - 1) * sizeof *f) != 0)
                break;
            x[n] = f[0];
            n++;
        }
        const float *in1[1] = {x};
        float *out1[1] = {y};
        st = hiss_stream_process(s, in1, out1, (int)n);
        if (st != HISS_OK)
            break;
        for (size_t j = 0; j < n; j++) {
            const double t = d->target[i + j], e = (double)y[j] - t;
            if (pred_out)
                pred_out[i + j] = y[j];
            if (i + j >= skip) {
                e2 += e * e;
                t2 += t * t;
                const double q = e - pre_emph * eprev, pt = t - pre_emph * tprev;
                q2 += q * q;
                p2 += pt * pt;
            }
            eprev = e;
            tprev = t;
        }
        i += n;
    }
    free(x);
    free(y);
    hiss_stream_free(s);
    if (st != HISS_OK) {
        if (err) {
            err->status = st;
            snprintf(err->msg, sizeof err->msg, "validation: stream processing failed (%s)",
                     hiss_status_name(st));
        }
        return st;
    }
    if (esr)
        *esr = t2 > 0 ? e2 / t2 : e2;
    if (esr_pe)
        *esr_pe = p2 > 0 ? q2 / p2 : q2;
    return HISS_OK;
}
