/* Training defaults and the learning-rate schedule: a linear warm-up (Adam's second moment is
 * noisy over the first steps), then cosine decay to lr_min or halving every total_steps. */
#include <math.h>

#include "hiss_train.h"

ht_train_opts ht_train_opts_default(void)
{
    ht_train_opts o = {0};
    o.batch = 8;
    o.window = 4096;
    o.warmup = 512;
    o.threads = 1;
    o.seed = 1;
    o.lr = 5e-3;
    o.lr_min = 5e-5;
    o.lr_warmup_steps = 50;
    o.total_steps = 2000;
    o.schedule = HT_SCHED_COSINE;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.adam_eps = 1e-8;
    o.weight_decay = 1e-4;
    o.clip = 1.0;
    o.loss.pre_emph = 0.85;
    o.loss.dc_weight = 1.0;
    return o;
}

double ht_lr_at(const ht_train_opts *o, long step)
{
    if (step < o->lr_warmup_steps)
        return o->lr * (double)(step + 1) / (double)o->lr_warmup_steps;
    const long s = step - o->lr_warmup_steps;
    if (o->schedule == HT_SCHED_STEP) {
        const long every = o->total_steps > 0 ? o->total_steps : 1;
        const double lr = o->lr * pow(0.5, (double)(s / every));
        return lr > o->lr_min ? lr : o->lr_min;
    }
    const long span = o->total_steps - o->lr_warmup_steps;
    double p = span > 0 ? (double)s / (double)span : 1.0;
    if (p > 1.0)
        p = 1.0;
    return o->lr_min + 0.5 * (o->lr - o->lr_min) * (1.0 + cos(3.14159265358979323846 * p));
}
