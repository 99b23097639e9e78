/* The loss of Wright & Välimäki's amp models: error-to-signal ratio of pre-emphasised signals
 * plus a DC term, over the samples of each window after its warm-up:
 *   e = pred - target,  q[t] = e[t] - k e[t-1]   (pre-emphasis is linear, so pe(p) - pe(t) = pe(e))
 *   loss = sum q^2 / sum pe(target)^2  +  w_dc * sum_windows (sum e)^2 / (n * sum target^2)
 * The second term is the mean over windows of mean(e)^2 / mean(target^2) of the whole batch.
 * Both denominators are batch sums, floored so a silent batch gives a large loss, not NaN. */
#include "train_real.h"

#define DEN_FLOOR 1e-10

void HT_FN(loss_norm_add)(ht_loss_norm *norm, const ht_loss_cfg *lc, const real *target, int T,
                          int warmup)
{
    for (int t = warmup; t < T; t++) {
        const double prev = t > 0 ? (double)target[t - 1] : 0.0;
        const double pe = (double)target[t] - lc->pre_emph * prev;
        norm->pe_energy += pe * pe;
        norm->energy += (double)target[t] * target[t];
    }
    norm->n_loss = T - warmup;
}

void HT_FN(window_loss)(const ht_loss_cfg *lc, const ht_loss_norm *norm, const real *pred,
                        const real *target, int T, int warmup, ht_loss_parts *parts, real *dpred)
{
    const double pe_den = norm->pe_energy > DEN_FLOOR ? norm->pe_energy : DEN_FLOOR;
    const double den = (norm->energy > DEN_FLOOR ? norm->energy : DEN_FLOOR) * (double)norm->n_loss;
    const double k = lc->pre_emph;
    double q2 = 0, sum = 0, e2 = 0;
    for (int t = warmup; t < T; t++) {
        const double e = (double)pred[t] - target[t];
        const double ep = t > 0 ? (double)pred[t - 1] - target[t - 1] : 0.0;
        const double q = e - k * ep;
        q2 += q * q;
        sum += e;
        e2 += e * e;
    }
    parts->esr_pe = q2 / pe_den;
    parts->dc = lc->dc_weight * sum * sum / den;
    parts->err = e2;
    if (!dpred)
        return;
    for (int t = 0; t < T; t++)
        dpred[t] = 0;
    const double gdc = lc->dc_weight * 2.0 * sum / den;
    for (int t = warmup; t < T; t++) {
        const double e = (double)pred[t] - target[t];
        const double ep = t > 0 ? (double)pred[t - 1] - target[t - 1] : 0.0;
        const double g = 2.0 * (e - k * ep) / pe_den;
        dpred[t] += (real)(g + gdc);
        if (t > 0)
            dpred[t - 1] += (real)(-k * g);
    }
}
