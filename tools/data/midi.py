"""Musical phrases as Standard MIDI Files, generated from a seed.

A phrase is one General MIDI program playing a mix of gestures (melodies,
arpeggios, strummed or block chords, repeated notes under a crescendo, held
notes left to decay) at several velocities inside one register. The mix is
chosen so that an effect model sees attacks, sustains, decays into silence,
single notes and dense chords, soft and loud, all from one seed.
"""

import random
import struct

TICKS_PER_BEAT = 480

# Registers as (lowest, highest) MIDI note; the families' usual ranges so
# that the SoundFont's samples are played where they were recorded.
REGISTERS = {
    'guitar': {'low': (40, 57), 'mid': (48, 69), 'high': (57, 81)},
    'bass': {'low': (28, 43), 'mid': (33, 50), 'high': (40, 57)},
    'keys': {'low': (36, 55), 'mid': (48, 72), 'high': (60, 88)},
}

SCALES = {
    'major': (0, 2, 4, 5, 7, 9, 11),
    'minor': (0, 2, 3, 5, 7, 8, 10),
    'pentatonic': (0, 3, 5, 7, 10),
    'dorian': (0, 2, 3, 5, 7, 9, 10),
}

# Velocity levels the gestures pick from (pp, mp, mf, f, ff).
VELOCITIES = (28, 52, 76, 100, 124)


def family_of(program):
    if 24 <= program <= 31:
        return 'guitar'
    if 32 <= program <= 39:
        return 'bass'
    return 'keys'


class Phrase:
    """Note events in seconds: (start, duration, note, velocity)."""

    def __init__(self):
        self.notes = []
        self.t = 0.0

    def note(self, start, dur, pitch, vel):
        pitch = max(0, min(127, pitch))
        vel = max(1, min(127, vel))
        self.notes.append((start, dur, pitch, vel))


def _scale_notes(rng, lo, hi):
    root = rng.randrange(12)
    steps = SCALES[rng.choice(sorted(SCALES))]
    return [n for n in range(lo, hi + 1) if (n - root) % 12 in steps]


def _vel(rng, base):
    return base + rng.randint(-6, 6)


def _melody(rng, ph, notes, beat, poly):
    vel = rng.choice(VELOCITIES)
    i = rng.randrange(len(notes))
    for _ in range(rng.randint(6, 14)):
        dur = beat * rng.choice((0.25, 0.5, 0.5, 1.0, 1.5))
        gate = rng.choice((0.35, 0.8, 1.0))
        ph.note(ph.t, dur * gate, notes[i], _vel(rng, vel))
        ph.t += dur
        i = max(0, min(len(notes) - 1, i + rng.choice((-2, -1, -1, 1, 1, 2, 3))))


def _arpeggio(rng, ph, notes, beat, poly):
    vel = rng.choice(VELOCITIES)
    base = rng.randrange(max(1, len(notes) - 6))
    chord = [notes[min(len(notes) - 1, base + k)] for k in (0, 2, 4, 6)]
    step = beat * rng.choice((0.25, 0.5))
    ring = rng.random() < 0.5
    for rep in range(rng.randint(2, 4)):
        seq = chord if rep % 2 == 0 else chord[::-1]
        for n in seq:
            ph.note(ph.t, step * (3.0 if ring else 0.9), n, _vel(rng, vel))
            ph.t += step


def _chords(rng, ph, notes, beat, poly):
    if not poly:
        return _melody(rng, ph, notes, beat, poly)
    vel = rng.choice(VELOCITIES)
    strum = rng.choice((0.0, 0.012, 0.025))
    for _ in range(rng.randint(3, 6)):
        base = rng.randrange(max(1, len(notes) - 5))
        chord = [notes[min(len(notes) - 1, base + k)] for k in (0, 2, 4, 5)]
        if rng.random() < 0.5:
            chord = chord[::-1]
        dur = beat * rng.choice((0.5, 1.0, 2.0))
        for k, n in enumerate(chord):
            ph.note(ph.t + k * strum, dur * 0.95, n, _vel(rng, vel))
        ph.t += dur


def _crescendo(rng, ph, notes, beat, poly):
    n = rng.choice(notes)
    count = rng.randint(8, 16)
    step = beat * rng.choice((0.25, 0.5))
    lo, hi = VELOCITIES[0], VELOCITIES[-1]
    if rng.random() < 0.5:
        lo, hi = hi, lo
    for k in range(count):
        v = int(lo + (hi - lo) * k / (count - 1))
        ph.note(ph.t, step * 0.7, n, v)
        ph.t += step


def _held(rng, ph, notes, beat, poly):
    vel = rng.choice(VELOCITIES)
    n = rng.choice(notes)
    dur = rng.uniform(1.2, 2.5)
    ph.note(ph.t, dur, n, vel)
    if poly and rng.random() < 0.5:
        ph.note(ph.t, dur, min(127, n + 7), vel - 10)
    ph.t += dur + rng.uniform(0.2, 0.8)


GESTURES = (_melody, _arpeggio, _chords, _crescendo, _held)


def make_phrase(program, register, seed, seconds):
    """Notes of one phrase about `seconds` long (the last notes' release
    tail comes on top)."""
    rng = random.Random(seed)
    fam = family_of(program)
    lo, hi = REGISTERS[fam][register]
    notes = _scale_notes(rng, lo, hi)
    poly = fam != 'bass'
    beat = 60.0 / rng.choice((72, 90, 100, 120, 140))
    ph = Phrase()
    while ph.t < seconds:
        rng.choice(GESTURES)(rng, ph, notes, beat, poly)
        if rng.random() < 0.3:
            ph.t += rng.uniform(0.1, 0.6)  # rests let effects with memory recover
    return ph


def _varlen(v):
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def write_smf(path, program, phrase, tail_seconds=1.5):
    """Format-0 SMF at 120 bpm (so one beat = 0.5 s) on channel 0.

    A controller event sits `tail_seconds` after the last note-off because a
    file renderer stops at the last event: without it the release tails of
    the final notes would be cut off.
    """
    usec_per_beat = 500000
    sec_to_tick = TICKS_PER_BEAT * 1e6 / usec_per_beat
    # A note-off ends the sounding note of that pitch whichever note-on it
    # was meant for, so a note still ringing when its pitch is struck again
    # is cut at the new onset; otherwise its late note-off would silence the
    # new note.
    spans = []
    last = {}
    for start, dur, pitch, vel in sorted(phrase.notes):
        on = int(round(start * sec_to_tick))
        off = max(on + 1, int(round((start + dur) * sec_to_tick)))
        if pitch in last:
            prev = spans[last[pitch]]
            if prev[1] > on:
                if prev[0] >= on:  # same onset: keep the longer one only
                    prev[1] = max(prev[1], off)
                    prev[3] = max(prev[3], vel)
                    continue
                prev[1] = on
        last[pitch] = len(spans)
        spans.append([on, off, pitch, vel])
    ev = []  # (tick, order, bytes): note-offs sort before note-ons
    for on, off, pitch, vel in spans:
        ev.append((on, 1, bytes((0x90, pitch, vel))))
        ev.append((off, 0, bytes((0x80, pitch, 0))))
    end = max(t for t, _, _ in ev) + int(round(tail_seconds * sec_to_tick))
    ev.append((end, 2, bytes((0xB0, 7, 100))))
    ev.sort()
    trk = bytearray()
    trk += b'\x00\xff\x51\x03' + usec_per_beat.to_bytes(3, 'big')
    trk += b'\x00' + bytes((0xB0, 7, 100))       # channel volume
    trk += b'\x00' + bytes((0xB0, 10, 64))       # pan centre
    trk += b'\x00' + bytes((0xB0, 91, 0))        # reverb send off
    trk += b'\x00' + bytes((0xB0, 93, 0))        # chorus send off
    trk += b'\x00' + bytes((0xC0, program))
    last = 0
    for tick, _, msg in ev:
        trk += _varlen(tick - last) + msg
        last = tick
    trk += b'\x00\xff\x2f\x00'
    with open(path, 'wb') as f:
        f.write(b'MThd' + struct.pack('>IHHH', 6, 0, 1, TICKS_PER_BEAT))
        f.write(b'MTrk' + struct.pack('>I', len(trk)) + bytes(trk))
