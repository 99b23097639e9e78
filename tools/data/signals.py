"""Synthetic test signals: sweeps, noise bursts, impulses, level steps, silence.

Music alone leaves gaps a model has to interpolate over (the top octaves, flat
spectra, single clicks, abrupt level changes). These fill them. Each takes its
parameters explicitly and draws randomness only from the given seed, so a
split's signals are reproducible and differ from the other splits'.
"""

import math
import random


def db(x):
    return 10.0 ** (x / 20.0)


def silence(rate, seconds):
    return [0.0] * int(round(rate * seconds))


def log_sweep(rate, seconds, f0, f1, level_db, fade=0.01):
    """Exponential sine sweep f0 -> f1 (either direction), short raised-cosine
    fades so the ends do not click."""
    n = int(round(rate * seconds))
    a = db(level_db)
    k = math.log(f1 / f0)
    out = [0.0] * n
    nf = max(1, int(rate * fade))
    for i in range(n):
        t = i / rate
        phase = 2 * math.pi * f0 * seconds / k * (math.exp(t / seconds * k) - 1)
        g = a
        if i < nf:
            g *= 0.5 - 0.5 * math.cos(math.pi * i / nf)
        elif i >= n - nf:
            g *= 0.5 - 0.5 * math.cos(math.pi * (n - 1 - i) / nf)
        out[i] = g * math.sin(phase)
    return out


def noise_bursts(rate, seed, count, level_range_db, len_range_s,
                 gap_range_s):
    """White and pink bursts with random level, length and gap. Half of them
    start abruptly (transients), half fade in over a few ms."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = int(rate * rng.uniform(*len_range_s))
        a = db(rng.uniform(*level_range_db))
        pink = rng.random() < 0.5
        soft = rng.random() < 0.5
        # Pink noise: a sum of one-pole filtered white noises with poles
        # spread over the audio band gives a roughly -3 dB/octave slope.
        poles = (0.99886, 0.99332, 0.96900, 0.86650, 0.55000, -0.7616)
        gains = (0.0555179, 0.0750759, 0.1538520, 0.3104856, 0.5329522,
                 -0.0168980)
        st = [0.0] * len(poles)
        nf = int(rate * 0.004)
        burst = []
        for i in range(n):
            w = rng.gauss(0.0, 1.0)
            if pink:
                acc = 0.0
                for j in range(len(poles)):
                    st[j] = poles[j] * st[j] + gains[j] * w
                    acc += st[j]
                w = (acc + 0.5362 * w) * 0.25
            burst.append(w)
        peak = max(abs(v) for v in burst) or 1.0
        for i in range(n):
            g = a / peak
            if soft and i < nf:
                g *= i / nf
            if i >= n - nf:
                g *= (n - i) / nf
            burst[i] *= g
        out += burst
        out += silence(rate, rng.uniform(*gap_range_s))
    return out


def impulses(rate, amplitudes, spacing_s):
    """Single-sample clicks of the given signed amplitudes, each followed by
    `spacing_s` of silence so that the response has room to ring out."""
    gap = int(round(rate * spacing_s))
    out = []
    for a in amplitudes:
        click = [0.0] * gap
        click[0] = a
        out += click
    return out


def level_steps(rate, freq, levels_db, step_s):
    """A sine held at each level in turn: abrupt level jumps show a
    compressor's attack and release and a drive stage's level dependence."""
    out = []
    ph = 0.0
    dph = 2 * math.pi * freq / rate
    n = int(round(rate * step_s))
    for L in levels_db:
        a = db(L)
        for _ in range(n):
            out.append(a * math.sin(ph))
            ph += dph
        ph %= 2 * math.pi
    # fade the last cycle's end so the stop is not a click
    nf = min(len(out), int(rate * 0.005))
    for i in range(nf):
        out[len(out) - nf + i] *= 1.0 - (i + 1) / nf
    return out
