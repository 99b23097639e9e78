#!/usr/bin/env python3
"""Render the training data of a hiss synth model: single notes of one GM instrument.

Usage: synth_data.py OUTDIR [--clip DIR] [--pcm16]
       synth_data.py --requirements [--pcm16]  (print "what package" lines)

Each split (train, val, test) is one MIDI file of single notes, one at a time,
rendered by fluidsynth (48 kHz, reverb and chorus off) with FluidR3_GM,
averaged to mono, scaled by one gain for all splits and cut into notes: each
note from the sample where fluidsynth starts its voice through its release
tail and 50 ms of the silence after. Written under OUTDIR:

  manifest.json            instrument (SoundFont, its sha256, bank, program),
                           render settings, the measured event timing, and per
                           split the audio and notes files with their sha256
  {train,val,test}.wav     the notes end to end, mono float32 (--pcm16: 16-bit
                           PCM, the samples `sox -D in.wav -b 16` makes of the
                           float ones; the shipped organ model was trained on these)
  {train,val,test}.notes   "hiss-synth-notes 1", "sample_rate 48000", then per
                           note: start length on_length note velocity
                           (samples; the key goes up at sample on_length)
  midi/{split}.mid

--clip DIR also writes DIR/synth-organ-clip.{wav,notes}: three notes on pitches
train never plays (low, middle, high; 0.8 s held), as 16-bit PCM, the held-out
clip of the model gate (tests/models/), scaled by the same gain.

The conditioning is exact: every note-on and note-off lies on a 4 ms grid
(192 samples, three of fluidsynth's 64-sample blocks), where fluidsynth acts
on an event one block after its time; a probe measures that delay on the
installed fluidsynth before anything is rendered, and each note is checked to
start from exact silence and to end in it.
"""

import array
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)

import midi  # noqa: E402
import wavfile  # noqa: E402

RATE = 48000
SOUNDFONT = '/usr/share/sounds/sf2/FluidR3_GM.sf2'
BANK = 0
PROGRAM = 20            # 0-based: GM 21, Reed Organ
INSTRUMENT = 'Reed Organ'
GAIN = 0.5              # fluidsynth's -g
PEAK = 0.9              # the loudest note of all splits is scaled to this
GRID_MS = 4             # 192 samples: three 64-sample blocks
TAIL_S = 0.05           # silence kept after each release
GAP_MS = 600            # between a note-off and the next note-on (releases last <= 0.3 s)
LOW, HIGH = 48, 84      # C3 .. C6, three octaves
HELD_OUT = (51, 58, 65, 72, 79)  # pitches train never plays
FORMAT = 'hiss-synth-notes 1'


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


def pkg_version(pkg):
    try:
        r = subprocess.run(['dpkg-query', '-W', '-f=${Version}', pkg],
                           capture_output=True, text=True, check=False)
    except OSError:
        return None
    return r.stdout.strip() or None


def grid(ms):
    return GRID_MS * int(round(ms / GRID_MS))


# ------------------------------------------------------------------ the plan

def plan(split):
    """(note, velocity, on_ms) of every note of a split.

    train: every pitch of LOW..HIGH but HELD_OUT, six notes each, one velocity
    from each sixth of 20..127 and a held length of 0.2 to 1.0 s, in a
    shuffled order. val and test: 24 notes each of other seeds, half on the
    held-out pitches, half on trained pitches with other velocities and
    lengths."""
    if split == 'clip':
        return [(HELD_OUT[0], 100, 800), (HELD_OUT[2], 70, 800), (HELD_OUT[4], 110, 800)]
    seeds = {'train': 61001, 'val': 62001, 'test': 63001}
    rng = random.Random(seeds[split])
    notes = []
    if split == 'train':
        bins = [(20 + 18 * k, 37 + 18 * k) for k in range(6)]
        for p in range(LOW, HIGH + 1):
            if p in HELD_OUT:
                continue
            for lo, hi in bins:
                notes.append((p, rng.randint(lo, min(hi, 127)),
                              grid(rng.uniform(200, 1000))))
    else:
        trained = [p for p in range(LOW, HIGH + 1) if p not in HELD_OUT]
        for k in range(12):
            notes.append((HELD_OUT[k % len(HELD_OUT)], rng.randint(20, 127),
                          grid(rng.uniform(200, 1000))))
        for k in range(12):
            notes.append((rng.choice(trained), rng.randint(20, 127),
                          grid(rng.uniform(200, 1000))))
    rng.shuffle(notes)
    return notes


# ------------------------------------------------------------------ rendering

def write_smf(path, events, end_ms):
    """Format-0 SMF with one tick per millisecond (480 ticks per beat at 480000
    us per beat). events: (ms, status, data1, data2)."""
    trk = bytearray(b'\x00\xff\x51\x03' + (480000).to_bytes(3, 'big'))
    for msg in ((0xB0, 7, 100), (0xB0, 10, 64), (0xB0, 91, 0), (0xB0, 93, 0)):
        trk += b'\x00' + bytes(msg)
    trk += b'\x00' + bytes((0xC0, PROGRAM))
    last = 0
    # note-offs before note-ons at the same time
    for t, st, d1, d2 in sorted(events, key=lambda e: (e[0], e[1] != 0x80)):
        trk += midi._varlen(t - last) + bytes((st, d1, d2))
        last = t
    trk += midi._varlen(end_ms - last) + bytes((0xB0, 7, 100))
    trk += b'\x00\xff\x2f\x00'
    with open(path, 'wb') as f:
        f.write(b'MThd' + struct.pack('>IHHH', 6, 0, 1, 480))
        f.write(b'MTrk' + struct.pack('>I', len(trk)) + bytes(trk))


def fluidsynth(mid, wav):
    cmd = ['fluidsynth', '-q', '-n', '-i', '-R', '0', '-C', '0',
           '-r', str(RATE), '-g', str(GAIN), '-O', 'float', '-T', 'wav',
           '-F', wav, SOUNDFONT, mid]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(wav):
        raise DataError(f"{mid}: fluidsynth failed ({r.returncode}): {r.stderr.strip()}")
    rate, x = wavfile.read(wav, mix_stereo=True)
    if rate != RATE:
        raise DataError(f"{wav}: fluidsynth wrote {rate} Hz, asked {RATE}")
    return x


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return None


def probe_delay(tmp):
    """Samples from an event's time to the block where fluidsynth acts on it:
    a note released at two times on the grid, the first sample where the two
    renders differ. Must be the same at both times."""
    found = []
    for off_ms in (400, 604):
        a, b = [], []
        for x, later in ((a, 0), (b, 100)):
            mid = os.path.join(tmp, 'probe.mid')
            write_smf(mid, [(100, 0x90, 60, 100), (off_ms + later, 0x80, 60, 0)], off_ms + 800)
            x.extend(fluidsynth(mid, os.path.join(tmp, 'probe.wav')))
        d = first_difference(a, b)
        if d is None:
            raise DataError("probe: the note-off changed nothing in fluidsynth's output")
        # the envelope changes from the sample after the block boundary
        found.append(d - 1 - off_ms * RATE // 1000)
    if found[0] != found[1] or found[0] % 64 != 0 or not 0 <= found[0] <= 1024:
        raise DataError(f"probe: fluidsynth acted on note-offs {found} samples after their "
                        "time: not one whole number of 64-sample blocks, so the conditioning "
                        "could not be exact")
    return found[0]


def render_split(tmp, outdir, split, delay):
    notes = plan(split)
    events, times = [], []
    t = 100
    for p, v, on_ms in notes:
        events.append((t, 0x90, p, v))
        events.append((t + on_ms, 0x80, p, 0))
        times.append(t)
        t += on_ms + GAP_MS
    os.makedirs(os.path.join(outdir, 'midi'), exist_ok=True)
    mid = os.path.join(outdir, 'midi', f'{split}.mid')
    write_smf(mid, events, t)
    x = fluidsynth(mid, os.path.join(tmp, f'{split}.wav'))
    segs = []
    for (p, v, on_ms), t_on in zip(notes, times):
        start = t_on * RATE // 1000 + delay
        pre = start - RATE // 100
        if any(s != 0.0 for s in x[pre:start + 1]):
            raise DataError(f"{split}: note {p} at {t_on} ms: not silent before its note-on "
                            "(a release longer than the gap?)")
        nxt = start + (on_ms + GAP_MS) * RATE // 1000
        last = start
        for i in range(min(nxt, len(x)) - 1, start, -1):
            if x[i] != 0.0:
                last = i
                break
        if last == start:
            raise DataError(f"{split}: note {p} velocity {v}: fluidsynth rendered silence")
        end = last + 1 + int(TAIL_S * RATE)
        if end >= nxt:
            raise DataError(f"{split}: note {p}: its release reaches the next note")
        segs.append((p, v, on_ms * RATE // 1000, x[start:end]))
    return segs


# ------------------------------------------------------------------ writing

def write_wav_f32(path, x):
    data = array.array('f', x)
    if sys.byteorder != 'little':
        data.byteswap()
    raw = data.tobytes()
    fmt = struct.pack('<HHIIHH', 3, 1, RATE, RATE * 4, 4, 32)
    with open(path, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', 4 + 8 + len(fmt) + 8 + len(raw)) + b'WAVE')
        f.write(b'fmt ' + struct.pack('<I', len(fmt)) + fmt)
        f.write(b'data' + struct.pack('<I', len(raw)) + raw)


def write_wav_pcm16(path, x):
    q = array.array('h', (max(-32768, min(32767, int(round(v * 32768.0)))) for v in x))
    if sys.byteorder != 'little':
        q.byteswap()
    raw = q.tobytes()
    fmt = struct.pack('<HHIIHH', 1, 1, RATE, RATE * 2, 2, 16)
    with open(path, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', 4 + 8 + len(fmt) + 8 + len(raw)) + b'WAVE')
        f.write(b'fmt ' + struct.pack('<I', len(fmt)) + fmt)
        f.write(b'data' + struct.pack('<I', len(raw)) + raw)


def to_pcm16_with_sox(src, dst):
    # sox's own conversion, not a rounding of ours: the shipped organ model was trained on 16-bit
    # files sox made (-D: no dither, which sox adds at random), and sox rounds in two stages
    # (through its 32-bit samples) that a plain round() does not reproduce in a few samples.
    r = subprocess.run(['sox', '-D', '-t', 'wav', src, '-b', '16', '-e', 'signed-integer', '-t', 'wav', dst],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise DataError(f"sox could not convert {src} to 16-bit: {r.stderr.strip()}")


def write_notes(path, segs):
    with open(path, 'w') as f:
        f.write(FORMAT + '\n')
        f.write(f'sample_rate {RATE}\n')
        f.write('# start length on_length note velocity (samples; the gate closes at on_length)\n')
        at = 0
        for p, v, on, y in segs:
            f.write(f'{at} {len(y)} {on} {p} {v}\n')
            at += len(y)


def write_split(outdir, split, segs, gain, pcm16):
    audio = array.array('f')
    scaled = []
    for p, v, on, y in segs:
        z = array.array('f', (s * gain for s in y))
        audio.extend(z)
        scaled.append((p, v, on, z))
    wav = os.path.join(outdir, f'{split}.wav')
    notes = os.path.join(outdir, f'{split}.notes')
    write_wav_f32(wav + '.tmp', audio)
    if pcm16:
        to_pcm16_with_sox(wav + '.tmp', wav + '.16.wav')
        os.replace(wav + '.16.wav', wav)
        os.remove(wav + '.tmp')
    else:
        os.replace(wav + '.tmp', wav)
    write_notes(notes + '.tmp', scaled)
    os.replace(notes + '.tmp', notes)
    return {
        'audio': f'{split}.wav', 'audio_sha256': sha256_file(wav),
        'notes': f'{split}.notes', 'notes_sha256': sha256_file(notes),
        'count': len(segs), 'samples': len(audio), 'seconds': round(len(audio) / RATE, 3),
        'pitches': sorted({p for p, _, _, _ in segs}),
    }, scaled


def write_clip(clip_dir, segs, gain):
    pick = [(p, v, on, array.array('f', (s * gain for s in y))) for p, v, on, y in segs]
    if max(abs(s) for _, _, _, y in pick for s in y) >= 1.0:
        raise DataError("clip: a note would clip at the data's gain")
    os.makedirs(clip_dir, exist_ok=True)
    audio = array.array('f')
    for s in pick:
        audio.extend(s[3])
    wav = os.path.join(clip_dir, 'synth-organ-clip.wav')
    notes = os.path.join(clip_dir, 'synth-organ-clip.notes')
    write_wav_pcm16(wav, audio)
    write_notes(notes, pick)
    log(f"clip: {wav} ({len(audio) / RATE:.2f} s, notes {[s[0] for s in pick]}), {notes}")


def requirements(pcm16=False):
    print('python3 python3')
    if pcm16:
        print('sox sox')
    print('fluidsynth fluidsynth')
    print(f'{SOUNDFONT} fluid-soundfont-gm')


def main(argv):
    if argv[1:2] == ['--requirements']:
        requirements('--pcm16' in argv[2:])
        return 0
    args = argv[1:]
    clip = None
    if '--clip' in args:
        i = args.index('--clip')
        if i + 1 >= len(args):
            raise DataError('--clip needs a directory')
        clip = args[i + 1]
        del args[i:i + 2]
    pcm16 = '--pcm16' in args
    if pcm16:
        args.remove('--pcm16')
    if len(args) != 1:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    outdir = args[0]
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        delay = probe_delay(tmp)
        log(f"fluidsynth acts on events {delay} samples after their time (probe)")
        rendered = {}
        for split in ('train', 'val', 'test'):
            rendered[split] = render_split(tmp, outdir, split, delay)
            log(f"{split}: {len(rendered[split])} notes rendered")
        clip_segs = render_split(tmp, tmp, 'clip', delay) if clip else None
    peak = max(abs(s) for segs in rendered.values() for _, _, _, y in segs for s in y)
    gain = PEAK / peak
    splits = {}
    for split, segs in rendered.items():
        splits[split], _ = write_split(outdir, split, segs, gain, pcm16)
        log(f"{split}: {splits[split]['count']} notes, {splits[split]['seconds']} s")
    if clip:
        write_clip(clip, clip_segs, gain)
    manifest = {
        'format': FORMAT,
        'sample_rate': RATE,
        'instrument': {
            'soundfont': SOUNDFONT, 'soundfont_sha256': sha256_file(SOUNDFONT),
            'soundfont_package': f"fluid-soundfont-gm {pkg_version('fluid-soundfont-gm')}",
            'bank': BANK, 'program': PROGRAM, 'name': INSTRUMENT,
            'note_range': [LOW, HIGH], 'held_out_pitches': list(HELD_OUT),
        },
        'render': {
            'fluidsynth': pkg_version('fluidsynth'), 'gain': GAIN,
            'reverb': False, 'chorus': False, 'channels': 'stereo averaged to mono',
            'scale': gain, 'peak': PEAK, 'event_delay_samples': delay,
            'grid_ms': GRID_MS, 'tail_seconds': TAIL_S, 'gap_ms': GAP_MS,
            'note_start': 'the sample where fluidsynth starts the voice (event time + delay)',
        },
        'splits': splits,
    }
    if pcm16:
        manifest['render']['audio_format'] = 'pcm16: sox -D -b 16 of the float32 (--pcm16)'
    path = os.path.join(outdir, 'manifest.json')
    with open(path + '.tmp', 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write('\n')
    os.replace(path + '.tmp', path)
    log(f"wrote {path}")
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except (DataError, wavfile.WavError) as e:
        print(f"synth_data.py: {e}", file=sys.stderr)
        sys.exit(1)
