"""Sanity figures for a dry/wet pair: does the effect change the signal, and how.

ESR here is the trainer's figure, sum((wet - dry)^2) / sum(wet^2), with dry as
the "prediction": it is what a model that learnt the identity would score.
The gain-matched ESR removes the best single gain first, so a pure volume
change scores 0 and what remains is the nonlinear/filtering part. The
level table (wet/dry gain per 20 ms block, binned by dry level) is what makes
a compressor's gain reduction and a drive stage's saturation visible.
"""

import math


def rms(x):
    if not x:
        return 0.0
    return math.sqrt(math.fsum(v * v for v in x) / len(x))


def dbfs(v):
    return 20.0 * math.log10(v) if v > 0 else float('-inf')


def esr(dry, wet):
    num = math.fsum((w - d) ** 2 for d, w in zip(dry, wet))
    den = math.fsum(w * w for w in wet)
    return num / den if den > 0 else float('nan')


def esr_gain_matched(dry, wet):
    dd = math.fsum(d * d for d in dry)
    ww = math.fsum(w * w for w in wet)
    dw = math.fsum(d * w for d, w in zip(dry, wet))
    if dd <= 0 or ww <= 0:
        return float('nan')
    return max(0.0, 1.0 - dw * dw / (dd * ww))


def level_table(dry, wet, rate, block_s=0.02, bins=(-50, -40, -30, -20, -10, 0)):
    """Median wet/dry gain in dB per dry-level bin, over blocks whose dry RMS
    is above the lowest bin edge. Returns [(lo, hi, count, median_gain_db)]."""
    n = int(rate * block_s)
    groups = [[] for _ in range(len(bins) - 1)]
    for s in range(0, min(len(dry), len(wet)) - n + 1, n):
        d = rms(dry[s:s + n])
        w = rms(wet[s:s + n])
        if d <= 0 or w <= 0:
            continue
        L = dbfs(d)
        for k in range(len(bins) - 1):
            if bins[k] <= L < bins[k + 1]:
                groups[k].append(dbfs(w) - L)
                break
    out = []
    for k, g in enumerate(groups):
        g.sort()
        med = g[len(g) // 2] if g else float('nan')
        out.append((bins[k], bins[k + 1], len(g), med))
    return out


def onset_latency(dry, wet, rel_threshold=1e-3):
    """Latency in samples from the first non-negligible sample of each file.

    Used on a probe that starts with silence followed by a click: a causal
    plugin's response cannot start before the click, and one that reports
    no latency must answer on the same sample. Thresholds are relative to
    each file's peak so that anti-denormal noise some plugins add is ignored.
    """
    def first(x):
        peak = max(abs(v) for v in x)
        if peak <= 0:
            return None
        th = peak * rel_threshold
        for i, v in enumerate(x):
            if abs(v) > th:
                return i
        return None
    a, b = first(dry), first(wet)
    if a is None or b is None:
        return None
    return b - a


def xcorr_lag(dry, wet, max_lag):
    """Lag (0..max_lag) maximising the cross-correlation, for a short probe.
    A check on onset_latency: filters can delay the bulk of the energy, but
    a pure delay shows as a sharp peak at the same lag."""
    best, best_lag = None, 0
    n = len(dry)
    for lag in range(0, max_lag + 1):
        s = math.fsum(dry[i] * wet[i + lag] for i in range(0, n - lag))
        if best is None or abs(s) > best:
            best, best_lag = abs(s), lag
    return best_lag


def summary(dry, wet, rate):
    return {
        'seconds': len(dry) / rate,
        'rms_dry_dbfs': round(dbfs(rms(dry)), 2),
        'rms_wet_dbfs': round(dbfs(rms(wet)), 2),
        'peak_wet': round(max(abs(v) for v in wet), 4),
        'esr_dry_vs_wet': round(esr(dry, wet), 4),
        'esr_gain_matched': round(esr_gain_matched(dry, wet), 4),
        'gain_by_level_db': [
            {'dry_dbfs': [lo, hi], 'blocks': c,
             'median_gain_db': None if c == 0 else round(g, 2)}
            for lo, hi, c, g in level_table(dry, wet, rate)],
    }
