/* Validation of a synth model through the engine itself: every note teacher-forced through
 * hiss_synth_step from a zero state, as a voice would play it if it always drew the recorded
 * class. The figure reported is the one the trained file gives, not the trainer's forward. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_train.h"

#define NC HISS_SYNTH_CLASSES

typedef struct eval_job {
    const hiss_synth_model *m;
    const ht_synth_data *d;
    int k, nt;
    double *nll; /* [n_notes] nats per note */
    int failed;
} eval_job;

static void *eval_run(void *arg)
{
    eval_job *j = arg;
    const ht_synth_data *d = j->d;
    const size_t ns = hiss_synth_state_floats(j->m), nsc = hiss_synth_scratch_floats(j->m);
    float *state = malloc(ns * sizeof *state), *scratch = malloc(nsc * sizeof *scratch);
    float *cond = malloc((size_t)d->n_cond * sizeof *cond), logits[NC];
    unsigned char in, tgt;
    if (!state || !scratch || !cond) {
        j->failed = 1;
        goto done;
    }
    for (int k = j->k; k < d->n_notes; k += j->nt) {
        const ht_note *n = &d->notes[k];
        hiss_synth_note ns_ = hiss_synth_note_start((double)n->note, n->velocity);
        memset(state, 0, ns * sizeof *state);
        double sum = 0;
        for (size_t i = 0; i < n->len; i++) {
            ht_synth_frames(d, k, i, 1, &ns_, &in, &tgt, cond);
            hiss_synth_step(j->m, state, in, cond, logits, scratch);
            double mx = logits[0];
            for (int c = 1; c < NC; c++)
                mx = logits[c] > mx ? logits[c] : mx;
            double s = 0;
            for (int c = 0; c < NC; c++)
                s += exp((double)logits[c] - mx);
            sum += mx + log(s) - (double)logits[tgt];
        }
        j->nll[k] = sum;
    }
done:
    free(state);
    free(scratch);
    free(cond);
    return NULL;
}

hiss_status ht_synth_eval_engine(const hiss_synth_model *m, const ht_synth_data *d, int threads,
                                 double *bits, hiss_error *err)
{
    const hiss_config *c = hiss_synth_model_config(m);
    if (c->n_cond != d->n_cond) {
        if (err) {
            err->status = HISS_ERR_ARG;
            snprintf(err->msg, sizeof err->msg,
                     "validation notes: %d conditioning features, the model takes %d", d->n_cond,
                     c->n_cond);
        }
        return HISS_ERR_ARG;
    }
    if (threads < 1)
        threads = 1;
    if (threads > d->n_notes)
        threads = d->n_notes > 0 ? d->n_notes : 1;
    double *nll = calloc(d->n_notes > 0 ? (size_t)d->n_notes : 1, sizeof *nll);
    eval_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    int *started = calloc((size_t)threads, sizeof *started);
    int failed = !nll || !jobs || !th || !started;
    for (int k = 0; !failed && k < threads; k++) {
        jobs[k] = (eval_job){m, d, k, threads, nll, 0};
        started[k] = k > 0 && pthread_create(&th[k], NULL, eval_run, &jobs[k]) == 0;
    }
    if (!failed) {
        eval_run(&jobs[0]);
        for (int k = 1; k < threads; k++) {
            if (started[k])
                pthread_join(th[k], NULL);
            else
                eval_run(&jobs[k]);
        }
        for (int k = 0; k < threads; k++)
            failed |= jobs[k].failed;
    }
    /* summed in note order: the same figure whatever the thread count */
    double total = 0;
    size_t n = 0;
    for (int k = 0; !failed && k < d->n_notes; k++) {
        total += nll[k];
        n += d->notes[k].len;
    }
    free(nll);
    free(jobs);
    free(th);
    free(started);
    if (failed) {
        if (err) {
            err->status = HISS_ERR_NOMEM;
            snprintf(err->msg, sizeof err->msg, "validation: out of memory");
        }
        return HISS_ERR_NOMEM;
    }
    *bits = n ? total / (double)n / log(2.0) : NAN;
    return HISS_OK;
}
