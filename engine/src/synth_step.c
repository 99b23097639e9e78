/* One sample of one synth voice: embedding of the previous class plus projected conditioning,
 * the Mamba backbone (the CPU step's own, hiss_cpu_backbone), and the lm_head.
 * Loops run over the output index in a fixed order, so a voice's logits depend only on its state
 * and inputs, never on block sizes or on the other voices. */
#include <math.h>

#include "cpu_ops.h"
#include "cpu_step.h"
#include "synth_model.h"

#define NC HISS_SYNTH_CLASSES

size_t hiss_synth_scratch_floats(const hiss_synth_model *m)
{
    return hiss_cpu_scratch_floats(&m->cfg);
}

size_t hiss_synth_state_floats(const hiss_synth_model *m)
{
    return hiss_cpu_state_floats(&m->cfg);
}

void hiss_synth_step(const hiss_synth_model *m, float *state, int prev_class, const float *cond,
                     float *logits, float *scratch)
{
    const int dm = m->cfg.d_model;
    prev_class = prev_class < 0 ? 0 : prev_class > NC - 1 ? NC - 1 : prev_class;
    float *h = scratch;
    const float *e = m->emb + (size_t)prev_class * dm;
    for (int i = 0; i < dm; i++)
        h[i] = e[i] + m->cond_b[i];
    matvec_t(h, m->cond_w_t, cond, m->cfg.n_cond, dm);
    const float *o = hiss_cpu_backbone(m->bb, state, 1.0f, scratch);
    for (int k = 0; k < NC; k++)
        logits[k] = m->lm_b ? m->lm_b[k] : 0.0f;
    matvec_t(logits, m->lm_w_t, o, dm, NC);
}
