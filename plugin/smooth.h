/* Parameter smoothing, so a control that jumps does not step the audio (zipper noise). */
#ifndef HP_SMOOTH_H
#define HP_SMOOTH_H

#include <math.h>

/* One-pole glide toward the target, kept in double: in float the step (t - v) * coef falls
 * below half an ulp of v long before v reaches t, and the glide would stall. It snaps onto the
 * target once within 1e-6 (relative, -120 dB), so settled values are exact. */
typedef struct hp_smooth {
    double value, target, coef;
} hp_smooth;

static inline void hp_smooth_init(hp_smooth *s, double rate, double tau_seconds)
{
    s->coef = 1.0 - exp(-1.0 / (tau_seconds * rate));
    s->value = s->target = 0.0;
}

static inline void hp_smooth_jump(hp_smooth *s, double v)
{
    s->value = s->target = v;
}

static inline int hp_smooth_settled(const hp_smooth *s)
{
    return s->value == s->target;
}

static inline float hp_smooth_next(hp_smooth *s)
{
    if (s->value != s->target) {
        s->value += (s->target - s->value) * s->coef;
        double tol = 1e-6 * (fabs(s->target) > 1.0 ? fabs(s->target) : 1.0);
        if (fabs(s->target - s->value) <= tol)
            s->value = s->target;
    }
    return (float)s->value;
}

/* Linear ramp with an exact end, for the bypass crossfade. */
typedef struct hp_ramp {
    float value, target, step;
} hp_ramp;

static inline void hp_ramp_init(hp_ramp *r, double rate, double seconds)
{
    double n = seconds * rate;
    r->step = (float)(n >= 1.0 ? 1.0 / n : 1.0);
    r->value = r->target = 0.0f;
}

static inline float hp_ramp_next(hp_ramp *r)
{
    if (r->value < r->target)
        r->value = r->value + r->step >= r->target ? r->target : r->value + r->step;
    else if (r->value > r->target)
        r->value = r->value - r->step <= r->target ? r->target : r->value - r->step;
    return r->value;
}

#endif
