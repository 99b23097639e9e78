/* Reading and checking recording pairs. The checks are the mistakes that silently ruin a model:
 * files of other rates or lengths, a wet file that is silent or clipped, and a wet file delayed by
 * the interface's latency (a causal model cannot predict ahead, so it learns a smeared effect). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiofile.h"
#include "dataset.h"

/* Channel 0 of path, as float. */
static float *read_mono(const char *path, int *rate, size_t *n, int *channels, char *msg,
                        size_t msz)
{
    float *buf;
    if (hiss_af_read(path, &buf, n, channels, rate, msg, msz))
        return NULL;
    const size_t ch = (size_t)*channels;
    for (size_t i = 0; i < *n; i++)
        buf[i] = buf[i * ch];
    return buf;
}

typedef struct level {
    double peak, rms, mean;
    size_t at_full_scale;
    size_t first_bad; /* index of the first non-finite sample, or (size_t)-1 */
} level;

static level measure(const float *x, size_t n)
{
    level l = {0, 0, 0, 0, (size_t)-1};
    double ss = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        const double v = x[i];
        if (!isfinite(v)) {
            if (l.first_bad == (size_t)-1)
                l.first_bad = i;
            continue;
        }
        ss += v * v;
        s += v;
        l.peak = fabs(v) > l.peak ? fabs(v) : l.peak;
        l.at_full_scale += fabs(v) >= 0.9999;
    }
    l.rms = n ? sqrt(ss / (double)n) : 0;
    l.mean = n ? s / (double)n : 0;
    return l;
}

static double db(double v)
{
    return v > 0 ? 20.0 * log10(v) : -INFINITY;
}

/* The lag (wet behind dry, in samples) of the largest normalised cross-correlation, over the
 * loudest block of the dry file, within +-max_lag; *corr receives its value. */
static long estimate_lag(const float *x, const float *y, size_t n, long max_lag, double *corr)
{
    const size_t block = 32768;
    size_t best_start = 0;
    double best_e = -1;
    const size_t last = n > block ? n - block : 0;
    for (size_t s = 0; s <= last; s += block / 2) {
        const size_t len = n - s < block ? n - s : block;
        double e = 0;
        for (size_t i = s; i < s + len; i++)
            e += (double)x[i] * x[i];
        if (e > best_e) {
            best_e = e;
            best_start = s;
        }
    }
    const size_t s0 = best_start, len = n - s0 < block ? n - s0 : block;
    long best = 0;
    double bestc = 0;
    for (long lag = -max_lag; lag <= max_lag; lag++) {
        double c = 0, ey = 0;
        for (size_t i = 0; i < len; i++) {
            const long j = (long)(s0 + i) + lag;
            if (j < 0 || j >= (long)n)
                continue;
            c += (double)x[s0 + i] * y[j];
            ey += (double)y[j] * y[j];
        }
        const double nc = ey > 0 && best_e > 0 ? c / sqrt(best_e * ey) : 0;
        if (fabs(nc) > fabs(bestc)) {
            bestc = nc;
            best = lag;
        }
    }
    *corr = bestc;
    return best;
}

int td_load(td_pair *p, int index, FILE *f, char *msg, size_t msz)
{
    int rx, ry, cx, cy;
    size_t nx, ny;
    p->x = read_mono(p->dry, &rx, &nx, &cx, msg, msz);
    if (!p->x)
        return -1;
    p->y = read_mono(p->wet, &ry, &ny, &cy, msg, msz);
    if (!p->y)
        return -1;
    const char *kind = p->val ? "validation pair" : "pair";
    if (rx != ry) {
        snprintf(msg, msz, "%s: %d Hz, but %s is %d Hz; resample one of them", p->wet, ry, p->dry,
                 rx);
        return -1;
    }
    if (cx > 1 || cy > 1)
        fprintf(f, "  note: %s %d: using the first channel of %s%s%s\n", kind, index,
                cx > 1 ? p->dry : "", cx > 1 && cy > 1 ? " and " : "", cy > 1 ? p->wet : "");
    const size_t tol = (size_t)rx / 10;
    if ((nx > ny ? nx - ny : ny - nx) > tol) {
        snprintf(msg, msz,
                 "%s has %zu frames and %s %zu: the two must be the same recording (a difference "
                 "up to 0.1 s is trimmed)",
                 p->dry, nx, p->wet, ny);
        return -1;
    }
    if (nx != ny)
        fprintf(f, "  note: %s %d: lengths differ by %zu frames, using the first %zu\n", kind,
                index, nx > ny ? nx - ny : ny - nx, nx < ny ? nx : ny);
    p->n = nx < ny ? nx : ny;
    p->rate = rx;
    const level lx = measure(p->x, p->n), ly = measure(p->y, p->n);
    if (lx.first_bad != (size_t)-1 || ly.first_bad != (size_t)-1) {
        const int in_x = lx.first_bad != (size_t)-1;
        snprintf(msg, msz, "%s: sample %zu is not a finite number", in_x ? p->dry : p->wet,
                 in_x ? lx.first_bad : ly.first_bad);
        return -1;
    }
    if (lx.rms < 1e-5 || ly.rms < 1e-5) {
        snprintf(msg, msz, "%s is silent (RMS %.1f dBFS)", lx.rms < 1e-5 ? p->dry : p->wet,
                 db(lx.rms < 1e-5 ? lx.rms : ly.rms));
        return -1;
    }
    fprintf(f, "%s %d: %s -> %s: %.1f s at %d Hz; dry peak %.1f dBFS, RMS %.1f dBFS; wet peak "
               "%.1f dBFS, RMS %.1f dBFS",
            kind, index, p->dry, p->wet, (double)p->n / rx, rx, db(lx.peak), db(lx.rms),
            db(ly.peak), db(ly.rms));
    for (int i = 0; i < p->n_cond; i++)
        fprintf(f, "%s%s=%g", i ? ", " : "; ", p->cond_name[i], p->cond_value[i]);
    fprintf(f, "\n");
    const level *lv[2] = {&lx, &ly};
    const char *names[2] = {p->dry, p->wet};
    for (int k = 0; k < 2; k++) {
        if ((double)lv[k]->at_full_scale > 1e-4 * (double)p->n)
            fprintf(f, "  warning: %s has %zu samples at full scale: clipped in the recording? "
                       "The model learns the clipping too\n",
                    names[k], lv[k]->at_full_scale);
        if (fabs(lv[k]->mean) > 0.01)
            fprintf(f, "  warning: %s has a DC offset of %.3f\n", names[k], lv[k]->mean);
        if (lv[k]->peak > HISS_INPUT_LIMIT)
            fprintf(f, "  warning: %s peaks at %.0f, beyond the engine's input limit %.0f\n",
                    names[k], lv[k]->peak, (double)HISS_INPUT_LIMIT);
    }
    double corr;
    const long max_lag = rx / 20;
    const long lag = estimate_lag(p->x, p->y, p->n, max_lag, &corr);
    if (labs(lag) * 1000 >= rx) /* 1 ms: more than a filter's group delay */
        fprintf(f, "  warning: the wet signal seems %s the dry one by %ld samples (%.1f ms, "
                   "correlation %.2f): a model cannot undo latency; align the files\n",
                lag > 0 ? "behind" : "ahead of", labs(lag), 1000.0 * labs(lag) / rx, corr);
    else if (fabs(corr) < 0.05)
        fprintf(f, "  note: dry and wet hardly correlate (%.3f) at any lag up to 50 ms\n", corr);
    return 0;
}

void td_free(td_pair *p)
{
    free(p->x);
    free(p->y);
    p->x = p->y = NULL;
}

int td_set_append(td_set *s, const td_pair *p, size_t from, size_t to, int n_cond,
                  char names[][TD_NAME_LEN])
{
    const size_t add = to - from, n = s->n + add;
    s->n_in = 1 + n_cond;
    float *in = realloc(s->in, n * (size_t)s->n_in * sizeof *in);
    if (in)
        s->in = in;
    float *tg = realloc(s->target, n * sizeof *tg);
    if (tg)
        s->target = tg;
    size_t *se = realloc(s->seg_end, (size_t)(s->n_seg + 1) * sizeof *se);
    if (se)
        s->seg_end = se;
    if (!in || !tg || !se)
        return -1;
    float cv[TD_MAX_COND];
    for (int k = 0; k < n_cond; k++)
        for (int j = 0; j < p->n_cond; j++)
            if (strcmp(p->cond_name[j], names[k]) == 0)
                cv[k] = (float)p->cond_value[j];
    for (size_t i = 0; i < add; i++) {
        float *fr = s->in + (s->n + i) * (size_t)s->n_in;
        fr[0] = p->x[from + i];
        for (int k = 0; k < n_cond; k++)
            fr[1 + k] = cv[k];
        s->target[s->n + i] = p->y[from + i];
    }
    s->n = n;
    s->seg_end[s->n_seg++] = n;
    return 0;
}

ht_data td_set_data(const td_set *s)
{
    ht_data d = {s->in, s->target, s->n, s->n_in, s->n_seg, s->seg_end};
    return d;
}

void td_set_free(td_set *s)
{
    free(s->in);
    free(s->target);
    free(s->seg_end);
    memset(s, 0, sizeof *s);
}
