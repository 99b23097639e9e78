#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_grad_util.h"

void tgrad_random_params(const ht_layout *L, double *P, ref_rng *r)
{
    for (int k = 0; k < L->n_tensors; k++) {
        const ht_tensor_info *t = &L->t[k];
        double *p = P + t->offset;
        const char *n = t->name;
        const size_t len = strlen(n);
#define ENDS(s) (len >= strlen(s) && strcmp(n + len - strlen(s), s) == 0)
        for (size_t j = 0; j < t->numel; j++) {
            if (ENDS("norm.weight") || ENDS("norm_f.weight") || ENDS("mixer.D"))
                p[j] = 1.0 + 0.4 * ref_rng_sym(r);
            else if (ENDS("A_log"))
                p[j] = log(1.0 + (double)(j % (size_t)L->d_state)) + 0.3 * ref_rng_sym(r);
            else if (ENDS("dt_proj.bias"))
                p[j] = log(expm1(0.05 + 0.4 * ref_rng_unit(r))); /* softplus^-1 of delta */
            else if (ENDS("embedding.weight"))
                p[j] = 0.8 * ref_rng_sym(r);
            else if (ENDS(".bias"))
                p[j] = 0.3 * ref_rng_sym(r);
            else
                p[j] = 1.2 * ref_rng_sym(r) / sqrt((double)t->shape[t->ndim - 1]);
        }
#undef ENDS
    }
}

double tgrad_fd_rel_err(double *P, const double *G, const size_t *idx, int n, double h,
                        tgrad_loss_fn loss, void *ctx, double *g_norm)
{
    double num = 0, na = 0, nf = 0;
    for (int i = 0; i < n; i++) {
        const size_t j = idx[i];
        const double p0 = P[j];
        P[j] = p0 + h;
        const double lp = loss(ctx);
        P[j] = p0 - h;
        const double lm = loss(ctx);
        P[j] = p0;
        const double fd = (lp - lm) / (2 * h);
        num += (G[j] - fd) * (G[j] - fd);
        na += G[j] * G[j];
        nf += fd * fd;
    }
    *g_norm = sqrt(na);
    const double den = fmax(sqrt(na), sqrt(nf));
    return den > 0 ? sqrt(num) / den : INFINITY;
}

double tgrad_float_worst(const ht_layout *L, const float *Gf, const double *Gd, const char **name)
{
    double worst = 0;
    *name = "";
    for (int k = 0; k < L->n_tensors; k++) {
        const ht_tensor_info *t = &L->t[k];
        double num = 0, na = 0;
        for (size_t j = t->offset; j < t->offset + t->numel; j++) {
            num += (Gf[j] - Gd[j]) * (Gf[j] - Gd[j]);
            na += Gd[j] * Gd[j];
        }
        const double rel = na > 0 ? sqrt(num / na) : sqrt(num);
        if (!(rel <= worst)) {
            worst = rel;
            *name = t->name;
        }
    }
    return worst;
}

int tgrad_isa_or_skip(void)
{
    ht_isa isa;
    hiss_error err;
    if (ht_isa_select(&isa, &err)) {
        printf("skipped: %s\n", err.msg);
        return 77;
    }
    printf("float math: %s\n", ht_isa_name(isa));
    return 0;
}
