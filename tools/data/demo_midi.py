#!/usr/bin/env python3
"""Write presets/demo/organ-chorale.mid, the MIDI file tools/demo.sh plays through the shipped
organ: four bars of chords under a melody (at most four notes at once, MIDI 48 to 79, inside the
organ model's 48..84), then a rising arpeggio and a held note.

Usage: demo_midi.py [OUT.mid]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import midi  # noqa: E402

# (start s, length s, notes, velocity): a I-IV-V-I cadence in C, one chord a second and a half
CHORDS = ((0.0, 1.4, (48, 55, 64), 84), (1.5, 1.4, (53, 57, 65), 84),
          (3.0, 1.4, (55, 59, 62), 90), (4.5, 2.0, (48, 55, 64), 80))
MELODY = ((0.0, 0.7, 72), (0.75, 0.7, 74), (1.5, 0.7, 77), (2.25, 0.7, 76),
          (3.0, 0.7, 74), (3.75, 0.7, 71), (4.5, 2.0, 72))
ARPEGGIO_START = 7.0


def chorale():
    ph = midi.Phrase()
    for start, dur, notes, vel in CHORDS:
        for n in notes:
            ph.note(start, dur, n, vel)
    for start, dur, n in MELODY:
        ph.note(start, dur, n, 100)
    for i, n in enumerate((60, 64, 67, 72, 76, 79)):
        ph.note(ARPEGGIO_START + 0.25 * i, 0.22, n, 70 + 8 * i)
    ph.note(ARPEGGIO_START + 1.75, 1.5, 60, 100)
    return ph


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    out = argv[1] if len(argv) > 1 else os.path.join(here, '..', '..', 'presets', 'demo',
                                                     'organ-chorale.mid')
    midi.write_smf(out, 20, chorale(), tail_seconds=0.5)
    print(f"wrote {out}")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
