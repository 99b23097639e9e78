#!/usr/bin/env python3
"""Render hiss's training data: dry material, then each effect through lv2apply.

Usage: datasets.py OUTDIR [--clips DIR] [--clip-seconds S]
       datasets.py --requirements     (print "what package" lines)

Layout written under OUTDIR:
  dry/{train,val,test}.wav, dry/midi/*.mid, dry/manifest.json
  <set>/manifest.json and the set's dry/wet pairs (dry files are hard links
  to dry/<split>.wav)

Work is skipped when the manifest already holds an entry with the same spec
(a hash of everything that decides the audio) and the file's sha256 still
matches, so a second run does nothing and a changed parameter re-renders
only what it affects.
"""

import array
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, HERE)

import measure  # noqa: E402
import midi  # noqa: E402
import plan  # noqa: E402
import signals  # noqa: E402
import wavfile  # noqa: E402

# Bump when the way files are assembled or aligned changes without any
# plan parameter changing, so that old outputs are not reused.
PIPELINE_VERSION = 1


class DataError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def source_hash(names):
    h = hashlib.sha256()
    for n in names:
        with open(os.path.join(HERE, n), 'rb') as f:
            h.update(n.encode() + b'\0' + f.read())
    return h.hexdigest()


def pkg_version(pkg):
    try:
        r = subprocess.run(['dpkg-query', '-W', '-f=${Version}', pkg],
                           capture_output=True, text=True, check=False)
    except OSError:
        return None
    return r.stdout.strip() or None


def load_manifest(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, obj):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write('\n')
    os.replace(tmp, path)


def still_valid(entry, spec, files):
    """An old manifest entry can be reused if it was made from the same spec
    and every file it names is still there with the recorded hash."""
    if not entry or entry.get('spec') != spec:
        return False
    for path, key in files:
        if not os.path.exists(path) or sha256_file(path) != entry.get(key):
            return False
    return True


# ---------------------------------------------------------------- dry audio

def render_phrase(tmpdir, mid_path, program, register, seconds, peak_db, seed):
    ph = midi.make_phrase(program, register, seed, seconds)
    midi.write_smf(mid_path, program, ph)
    wav = os.path.join(tmpdir, 'phrase.wav')
    # Reverb and chorus off: the material is meant to be dry.
    cmd = ['fluidsynth', '-q', '-n', '-i', '-R', '0', '-C', '0',
           '-r', str(plan.RATE), '-g', '0.5', '-O', 'float', '-T', 'wav',
           '-F', wav, plan.SOUNDFONT, mid_path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(wav):
        raise DataError(f"{mid_path}: fluidsynth failed ({r.returncode}): "
                        f"{r.stderr.strip()}")
    rate, x = wavfile.read(wav, mix_stereo=True)
    os.remove(wav)
    if rate != plan.RATE:
        raise DataError(f"{wav}: fluidsynth wrote {rate} Hz, asked {plan.RATE}")
    peak = max((abs(v) for v in x), default=0.0)
    if peak <= 0.0:
        raise DataError(f"{mid_path}: fluidsynth rendered silence for GM "
                        f"program {program}")
    # fluidsynth renders until the last voice has died away, which for
    # plucked strings means seconds of decay far below anything audible.
    # Cut where it is 60 dB below the peak, with a 20 ms fade so the cut
    # itself is not a click.
    th = peak * 1e-3
    end = len(x)
    while end > 0 and abs(x[end - 1]) < th:
        end -= 1
    g = signals.db(peak_db) / peak
    y = array.array('f', (v * g for v in x[:end]))
    nf = min(end, int(0.02 * plan.RATE))
    for i in range(nf):
        y[end - nf + i] *= (nf - 1 - i) / nf
    return y, len(ph.notes)


def render_synth(kind, p):
    r = plan.RATE
    if kind == 'sweep':
        return signals.log_sweep(r, p['seconds'], p['f0'], p['f1'], p['level_db'])
    if kind == 'bursts':
        return signals.noise_bursts(r, p['seed'], p['count'],
                                    p['level_range_db'], p['len_range_s'],
                                    p['gap_range_s'])
    if kind == 'impulses':
        return signals.impulses(r, p['amplitudes'], p['spacing_s'])
    if kind == 'steps':
        return signals.level_steps(r, p['freq'], p['levels_db'], p['step_s'])
    if kind == 'silence':
        return signals.silence(r, p['seconds'])
    raise DataError(f"plan.py: unknown synthetic signal kind '{kind}'")


def dry_spec(split):
    return sha256_json({
        'pipeline': PIPELINE_VERSION, 'rate': plan.RATE,
        'split': plan.SPLITS[split],
        'code': source_hash(['midi.py', 'signals.py', 'wavfile.py']),
        'fluidsynth': pkg_version('fluidsynth'),
        'soundfont': pkg_version('fluid-soundfont-gm'),
    })


def build_dry(outdir, split, old):
    ddir = os.path.join(outdir, 'dry')
    mdir = os.path.join(ddir, 'midi')
    os.makedirs(mdir, exist_ok=True)
    path = os.path.join(ddir, f'{split}.wav')
    spec = dry_spec(split)
    prev = (old or {}).get('splits', {}).get(split)
    if still_valid(prev, spec, [(path, 'sha256')]):
        log(f"dry/{split}.wav: up to date ({prev['seconds']:.1f} s)")
        return prev
    t0 = time.time()
    sp = plan.SPLITS[split]
    gap = signals.silence(plan.RATE, sp['gap_s'])
    out = array.array('f')
    pieces = []
    synth = list(sp['synth'])
    with tempfile.TemporaryDirectory(prefix='hiss-data-') as tmp:
        for i, (prog, reg, secs, peak_db, seed) in enumerate(sp['phrases']):
            mid = os.path.join(mdir, f'{split}-{i:02d}-gm{prog:03d}-{reg}-s{seed}.mid')
            x, n_notes = render_phrase(tmp, mid, prog, reg, secs, peak_db, seed)
            pieces.append({'kind': 'phrase', 'start': len(out), 'samples': len(x),
                           'program': prog, 'register': reg, 'seed': seed,
                           'peak_dbfs': peak_db, 'notes': n_notes,
                           'midi': os.path.relpath(mid, ddir)})
            out.extend(x)
            out.extend(gap)
            # A synthetic block after every third phrase, so that no part of
            # a split is all music or all test signal.
            if i % 3 == 2 and synth:
                kind, p = synth.pop(0)
                y = render_synth(kind, p)
                pieces.append({'kind': kind, 'start': len(out), 'samples': len(y),
                               'params': p})
                out.extend(y)
                out.extend(gap)
    for kind, p in synth:
        y = render_synth(kind, p)
        pieces.append({'kind': kind, 'start': len(out), 'samples': len(y),
                       'params': p})
        out.extend(y)
        out.extend(gap)
    wavfile.write_float(path, plan.RATE, out)
    entry = {'spec': spec, 'file': f'{split}.wav', 'sha256': sha256_file(path),
             'samples': len(out), 'seconds': len(out) / plan.RATE,
             'rms_dbfs': round(measure.dbfs(measure.rms(out)), 2),
             'peak': round(max(abs(v) for v in out), 4),
             'pieces': pieces}
    log(f"dry/{split}.wav: {entry['seconds']:.1f} s, {len(sp['phrases'])} phrases, "
        f"rms {entry['rms_dbfs']} dBFS, rendered in {time.time() - t0:.1f} s")
    return entry


# ---------------------------------------------------------------- wet audio

def lv2apply(uri, params, inp, outp):
    cmd = ['lv2apply', '-i', inp, '-o', outp]
    for sym in sorted(params):
        cmd += ['-c', sym, repr(float(params[sym]))]
    cmd.append(uri)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(outp):
        raise DataError(f"lv2apply {uri}: failed ({r.returncode}): "
                        f"{r.stderr.strip() or r.stdout.strip()}")
    rate, y = wavfile.read(outp)
    if rate != plan.RATE:
        raise DataError(f"{outp}: lv2apply wrote {rate} Hz")
    return y


def reported_latency(uri):
    """What the plugin's description says: 'no', or the latency port."""
    r = subprocess.run(['lv2info', uri], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if 'Has latency:' in line:
            return line.split(':', 1)[1].strip()
    raise DataError(f"lv2info {uri}: no 'Has latency' line (plugin missing?)")


def probe_latency(uri, params, tmp):
    """Measure the plugin's delay: lv2apply neither reads a latency port nor
    compensates it, so a reported latency would silently misalign the pair.
    The probe is silence, a click, silence, then a noise burst."""
    r = plan.RATE
    rng = random.Random(77)
    click_at = int(0.2 * r)
    x = [0.0] * click_at + [0.5] + [0.0] * int(0.3 * r)
    burst_at = len(x)
    x += [0.1 * rng.gauss(0.0, 1.0) for _ in range(2048)]
    x += [0.0] * int(0.1 * r)
    inp = os.path.join(tmp, 'probe-in.wav')
    outp = os.path.join(tmp, 'probe-out.wav')
    wavfile.write_float(inp, r, x)
    y = lv2apply(uri, params, inp, outp)
    onset = measure.onset_latency(x[:burst_at], y[:burst_at])
    seg = 2048 + 512
    lag = measure.xcorr_lag(x[burst_at:burst_at + seg], y[burst_at:burst_at + seg], 256)
    return onset, lag


def wet_spec(eff, params, dry_sha):
    return sha256_json({
        'pipeline': PIPELINE_VERSION, 'uri': eff['uri'], 'params': params,
        'dry_sha256': dry_sha, 'code': source_hash(['wavfile.py']),
        'plugin_package': pkg_version(eff['package']),
        'host': pkg_version('lilv-utils'),
    })


def check_sanity(name, eff, s):
    if not all(math.isfinite(v) for v in (s['rms_wet_dbfs'], s['peak_wet'])):
        raise DataError(f"{name}: wet file has non-finite samples or is silent")
    if s['rms_wet_dbfs'] < -100:
        raise DataError(f"{name}: wet file is silent ({s['rms_wet_dbfs']} dBFS)")
    if eff['expect'] == 'nonlinear' and s['esr_gain_matched'] < 0.01:
        raise DataError(f"{name}: effect barely changes the signal (gain-matched "
                        f"ESR {s['esr_gain_matched']}): check URI and params")
    if eff['expect'] == 'compressor':
        gains = [g['median_gain_db'] for g in s['gain_by_level_db']
                 if g['blocks'] >= 10]
        if len(gains) < 2 or max(gains) - min(gains) < 3.0:
            raise DataError(f"{name}: no visible gain reduction (median gain by "
                            f"level {gains} dB): check threshold and ratio")


def build_set(outdir, name, eff, dry):
    sdir = os.path.join(outdir, name)
    os.makedirs(sdir, exist_ok=True)
    mpath = os.path.join(sdir, 'manifest.json')
    old = load_manifest(mpath) or {}
    old_entries = {e['wet']: e for e in old.get('files', [])}
    rep = reported_latency(eff['uri'])
    entries = []
    latencies = {}
    with tempfile.TemporaryDirectory(prefix='hiss-wet-') as tmp:
        for split, params, cond, wet_name in eff['entries']:
            dsplit = 'test' if split == 'test-ref' else split
            dname = f'{dsplit}-dry.wav'
            dpath = os.path.join(sdir, dname)
            src = os.path.join(outdir, 'dry', f'{dsplit}.wav')
            if not (os.path.exists(dpath) and os.path.samefile(dpath, src)):
                if os.path.exists(dpath):
                    os.remove(dpath)
                try:
                    os.link(src, dpath)
                except OSError:
                    import shutil
                    shutil.copyfile(src, dpath)
            wpath = os.path.join(sdir, wet_name)
            spec = wet_spec(eff, params, dry[dsplit]['sha256'])
            prev = old_entries.get(wet_name)
            if still_valid(prev, spec, [(wpath, 'sha256_wet'), (dpath, 'sha256_dry')]):
                log(f"{name}/{wet_name}: up to date")
                entries.append(prev)
                continue
            t0 = time.time()
            key = json.dumps(params, sort_keys=True)
            if key not in latencies:
                latencies[key] = probe_latency(eff['uri'], params, tmp)
                onset, lag = latencies[key]
                if onset is None or onset < 0:
                    raise DataError(f"{name}: latency probe through {eff['uri']} "
                                    f"gave onset {onset}: cannot align")
                # A filter in the plugin can move the correlation peak a
                # sample or two without delaying the response's start.
                if lag != onset:
                    log(f"{name}: click response starts at {onset} samples, noise "
                        f"cross-correlation peaks at {lag}; aligning on the start")
            onset, lag = latencies[key]
            _, x = wavfile.read(src)
            inp = src
            if onset > 0:
                # Feed `onset` extra zeros so the delayed output is complete,
                # then drop the first `onset` output samples.
                inp = os.path.join(tmp, 'padded.wav')
                wavfile.write_float(inp, plan.RATE, x + array.array('f', [0.0] * onset))
            y = lv2apply(eff['uri'], params, inp, os.path.join(tmp, 'wet.wav'))
            y = y[onset:onset + len(x)]
            if len(y) != len(x):
                raise DataError(f"{name}/{wet_name}: wet has {len(y)} samples after "
                                f"alignment, dry has {len(x)}")
            wavfile.write_float(wpath, plan.RATE, y)
            s = measure.summary(x, y, plan.RATE)
            check_sanity(f"{name}/{wet_name}", eff, s)
            e = {'split': split, 'dry': dname, 'wet': wet_name,
                 'params': params, 'cond': cond, 'spec': spec,
                 'samples': len(x), 'seconds': round(len(x) / plan.RATE, 3),
                 'sha256_dry': sha256_file(dpath), 'sha256_wet': sha256_file(wpath),
                 'latency': {'reported': rep, 'measured_onset_samples': onset,
                             'xcorr_peak_samples': lag, 'shift_applied': onset},
                 'sanity': s}
            entries.append(e)
            log(f"{name}/{wet_name}: {e['seconds']:.1f} s in {time.time() - t0:.1f} s; "
                f"rms dry {s['rms_dry_dbfs']} wet {s['rms_wet_dbfs']} dBFS, "
                f"ESR dry-vs-wet {s['esr_dry_vs_wet']}, gain-matched "
                f"{s['esr_gain_matched']}, latency {onset}")
    # The parametric test's bar: how far off a model would be that ignored
    # the knob and reproduced a neighbouring training setting.
    refs = [e for e in entries if e['split'] == 'test-ref']
    for e in entries:
        if e['split'] == 'test' and refs and e['cond']:
            _, t = wavfile.read(os.path.join(sdir, e['wet']))
            e['neighbour_esr'] = {}
            for r in refs:
                _, n = wavfile.read(os.path.join(sdir, r['wet']))
                k = ','.join(f'{c}={v}' for c, v in sorted(r['cond'].items()))
                e['neighbour_esr'][k] = round(measure.esr(n, t), 5)
            log(f"{name}/{e['wet']}: ESR of neighbour settings against it: "
                f"{e['neighbour_esr']}")
    man = {
        'set': name, 'sample_rate': plan.RATE, 'format': 'WAV mono float32',
        'generator': 'tools/data/make-datasets.sh', 'pipeline_version': PIPELINE_VERSION,
        'host': f"lv2apply (lilv-utils {pkg_version('lilv-utils')}), one frame per run() call",
        'plugin': {'uri': eff['uri'], 'package': eff['package'],
                   'package_version': pkg_version(eff['package']),
                   'reported_latency': rep},
        'cond': eff['cond'],
        'esr_definition': 'sum((wet - pred)^2) / sum(wet^2); sanity figures use pred = dry',
        'splits': {'train': 'training', 'val': 'validation (different phrases/seeds)',
                   'test': 'held-out material' + (' at a held-out setting' if eff['cond'] else ''),
                   'test-ref': 'test material at the neighbouring training settings; not for training'},
        'files': entries,
    }
    if eff['cond']:
        man['cond_port'] = eff['cond_port']
    write_json(mpath, man)
    return man


def write_clips(outdir, clips_dir, seconds):
    os.makedirs(clips_dir, exist_ok=True)
    n = int(round(seconds * plan.RATE))
    info = {}
    for name in plan.EFFECTS:
        man = load_manifest(os.path.join(outdir, name, 'manifest.json'))
        test = [e for e in man['files'] if e['split'] == 'test'][0]
        for role, fname in (('dry', test['dry']), ('wet', test['wet'])):
            _, x = wavfile.read(os.path.join(outdir, name, fname))
            out = os.path.join(clips_dir, f'{name}-test-{role}.wav')
            wavfile.write_pcm24(out, plan.RATE, x[:n])
            info[os.path.basename(out)] = {
                'sha256': sha256_file(out), 'seconds': n / plan.RATE,
                'format': 'WAV mono 24-bit PCM', 'set': name, 'source': fname,
                'source_sha256': test['sha256_dry' if role == 'dry' else 'sha256_wet'],
                'uri': man['plugin']['uri'], 'params': test['params'],
                'cond': test['cond']}
    write_json(os.path.join(clips_dir, 'clips.json'), info)
    log(f"clips: {len(info)} files of {seconds} s in {clips_dir}")


def main(argv):
    if argv[1:2] == ['--requirements']:
        for what, pkg in plan.APT_PACKAGES.items():
            print(f'{what} {pkg}')
        return 0
    args = argv[1:]
    clips_dir, clip_s = None, 2.0
    if '--clips' in args:
        i = args.index('--clips')
        clips_dir = args[i + 1]
        del args[i:i + 2]
    if '--clip-seconds' in args:
        i = args.index('--clip-seconds')
        clip_s = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = os.path.abspath(args[0])
    os.makedirs(outdir, exist_ok=True)
    t0 = time.time()
    dman_path = os.path.join(outdir, 'dry', 'manifest.json')
    old = load_manifest(dman_path)
    dry = {}
    for split in ('train', 'val', 'test'):
        dry[split] = build_dry(outdir, split, old)
    write_json(dman_path, {
        'sample_rate': plan.RATE, 'format': 'WAV mono float32',
        'soundfont': plan.SOUNDFONT,
        'synth': f"fluidsynth {pkg_version('fluidsynth')}, "
                 f"fluid-soundfont-gm {pkg_version('fluid-soundfont-gm')}, reverb/chorus off",
        'splits': dry})
    for name, eff in plan.EFFECTS.items():
        build_set(outdir, name, eff, dry)
    if clips_dir:
        write_clips(outdir, clips_dir, clip_s)
    log(f"done in {time.time() - t0:.1f} s: {outdir}")
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except (DataError, wavfile.WavError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
