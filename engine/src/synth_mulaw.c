/* Standard mu-law companding (mu = 255) quantised to 256 classes, with the rounding of
 * torchaudio's mu_law_encoding so that a trainer in PyTorch and the engine agree on every class:
 *   y = sign(x) ln(1 + mu |x|) / ln(1 + mu)          x in [-1, 1]
 *   c = floor((y + 1) / 2 * mu + 0.5)                 0 .. 255
 *   x' = sign(y') ((1 + mu)^|y'| - 1) / mu,  y' = 2 c / mu - 1
 * Classes 127 and 128 decode to -/+8.5e-5 (no class is exactly zero); 0 encodes to 128. */
#include <math.h>

#include "hiss_synth.h"

#define MU 255.0

int hiss_synth_mulaw_encode(float xf)
{
    double x = xf;
    if (x != x)
        x = 0.0;
    x = x > 1.0 ? 1.0 : x < -1.0 ? -1.0 : x;
    const double y = (x < 0.0 ? -1.0 : 1.0) * log1p(MU * fabs(x)) / log1p(MU);
    const int c = (int)floor((y + 1.0) * 0.5 * MU + 0.5);
    return c < 0 ? 0 : c > 255 ? 255 : c;
}

float hiss_synth_mulaw_decode(int c)
{
    c = c < 0 ? 0 : c > 255 ? 255 : c;
    const double y = 2.0 * (double)c / MU - 1.0;
    const double mag = expm1(fabs(y) * log1p(MU)) / MU;
    return (float)(y < 0.0 ? -mag : mag);
}
