"""What the data sets contain: dry material per split and the effects applied.

Everything that decides the audio is written here, so that the manifest can
quote it and a change to it re-renders exactly what it affects.

Splits are different material, not cuts of one recording: each phrase has its
own seed (train 1xxx, val 2xxx, test 3xxx), val and test each have an
instrument the training set never plays (28 muted guitar, 35 fretless bass,
5 electric piano 2) besides known instruments playing new phrases, and the
synthetic signals use other frequencies, levels and seeds.

GM programs are 0-based as sent in the MIDI program change.
"""

RATE = 48000
SOUNDFONT = '/usr/share/sounds/sf2/FluidR3_GM.sf2'

# Phrase: (GM program, register, seconds of notes, peak level dBFS, seed).
# Levels are spread so that drive stages and compressors are exercised from
# barely touched to hard driven.
SPLITS = {
    'train': {
        'phrases': [
            (25, 'mid', 13, -6, 1001),    # steel-string acoustic
            (26, 'low', 13, -18, 1002),   # jazz guitar
            (27, 'high', 13, -10, 1003),  # clean electric
            (30, 'mid', 13, -3, 1004),    # distortion guitar
            (33, 'low', 13, -14, 1005),   # finger bass
            (34, 'mid', 13, -24, 1006),   # pick bass
            (0, 'mid', 13, -8, 1007),     # acoustic grand
            (4, 'high', 13, -12, 1008),   # electric piano 1
            (27, 'low', 13, -20, 1009),
            (25, 'high', 13, -4, 1010),
            (34, 'high', 13, -16, 1011),
            (0, 'low', 13, -9, 1012),
        ],
        'gap_s': 0.3,
        'synth': [
            ('sweep', {'seconds': 3.0, 'f0': 20.0, 'f1': 20000.0, 'level_db': -30}),
            ('sweep', {'seconds': 3.0, 'f0': 20.0, 'f1': 20000.0, 'level_db': -18}),
            ('sweep', {'seconds': 3.0, 'f0': 20000.0, 'f1': 20.0, 'level_db': -6}),
            ('bursts', {'seed': 1101, 'count': 16, 'level_range_db': [-40, -3],
                        'len_range_s': [0.05, 0.8], 'gap_range_s': [0.05, 0.5]}),
            ('impulses', {'amplitudes': [0.02, -0.05, 0.1, -0.2, 0.4, -0.7, 0.9],
                          'spacing_s': 0.25}),
            ('steps', {'freq': 220.0, 'levels_db': [-40, -10, -30, -3, -20, -45, -6],
                       'step_s': 0.5}),
            ('steps', {'freq': 82.41, 'levels_db': [-12, -36, -4, -24], 'step_s': 0.6}),
            ('silence', {'seconds': 1.0}),
        ],
    },
    'val': {
        'phrases': [
            (28, 'mid', 6, -8, 2001),     # muted guitar (not in train)
            (34, 'low', 6, -16, 2002),
            (0, 'high', 6, -5, 2003),
        ],
        'gap_s': 0.3,
        'synth': [
            ('sweep', {'seconds': 1.5, 'f0': 30.0, 'f1': 18000.0, 'level_db': -14}),
            ('bursts', {'seed': 2101, 'count': 4, 'level_range_db': [-36, -6],
                        'len_range_s': [0.05, 0.5], 'gap_range_s': [0.1, 0.3]}),
            ('impulses', {'amplitudes': [0.3, -0.6], 'spacing_s': 0.25}),
            ('steps', {'freq': 330.0, 'levels_db': [-35, -8, -25], 'step_s': 0.4}),
            ('silence', {'seconds': 0.5}),
        ],
    },
    'test': {
        # The first phrase opens the committed test clips: a known family
        # played hot enough to drive the overdrive and the compressor.
        'phrases': [
            (26, 'mid', 5, -6, 3001),     # jazz guitar, new phrase
            (35, 'low', 5, -14, 3002),    # fretless bass (not in train)
            (5, 'mid', 5, -10, 3003),     # electric piano 2 (not in train)
        ],
        'gap_s': 0.3,
        'synth': [
            ('sweep', {'seconds': 1.5, 'f0': 16000.0, 'f1': 40.0, 'level_db': -9}),
            ('bursts', {'seed': 3101, 'count': 4, 'level_range_db': [-30, -4],
                        'len_range_s': [0.05, 0.5], 'gap_range_s': [0.1, 0.3]}),
            ('impulses', {'amplitudes': [-0.15, 0.8], 'spacing_s': 0.25}),
            ('steps', {'freq': 150.0, 'levels_db': [-12, -38, -4], 'step_s': 0.4}),
            ('silence', {'seconds': 0.5}),
        ],
    },
}

TS9 = 'http://guitarix.sourceforge.net/plugins/gxts9#ts9sim'
X42_COMP = 'http://gareus.org/oss/lv2/darc#mono'

# Every input control port is set explicitly, so lv2apply's defaults (and any
# change of them in a later package) never decide the sound.
# gxts9 ports: fslider0_ Level (dB, -20..4), fslider1_ Tone (100..1000),
# fslider2_ Drive (0..1), BYPASS (1 = effect on).
TS9_BASE = {'fslider0_': -10.0, 'fslider1_': 400.0, 'fslider2_': 0.5,
            'BYPASS': 1.0}
# x42-comp: threshold is RMS dBFS; Ratio is dB of reduction per dB above the
# threshold (0.75 = 4:1); auto make-up keeps unity at -10 dBFS RMS, so quiet
# passages are raised. A 0.5 s release gives the model a long memory to learn.
X42_COMP_PARAMS = {'enable': 1.0, 'hold': 0.0, 'inputgain': 0.0,
                   'threshold': -30.0, 'Ratio': 0.75, 'attack': 0.01,
                   'release': 0.5}

# Drive settings for the parametric set. Drive's effect is strongly
# front-loaded (most of the change happens below 0.25), so the held-out
# setting sits in the middle of the steepest interval: a model that merely
# copies a neighbour setting is measurably wrong there.
DRIVE_TRAIN = [0.0, 0.25, 0.5, 0.75, 1.0]
DRIVE_TEST = 0.125
DRIVE_NEIGHBOURS = [0.0, 0.25]


def _ts9(drive):
    p = dict(TS9_BASE)
    p['fslider2_'] = drive
    return p


# A set is a list of entries: (split, params, cond, wet file name).
# 'test-ref' entries are the test material at the neighbouring training
# settings; they are not for training, only to give the parametric test a
# bar to beat (their ESR against the held-out setting's wet file).
EFFECTS = {
    'overdrive': {
        'uri': TS9, 'package': 'guitarix-lv2', 'expect': 'nonlinear',
        'cond': [],
        'entries': [(s, dict(TS9_BASE), {}, f'{s}-wet.wav')
                    for s in ('train', 'val', 'test')],
    },
    'compressor': {
        'uri': X42_COMP, 'package': 'x42-plugins', 'expect': 'compressor',
        'cond': [],
        'entries': [(s, dict(X42_COMP_PARAMS), {}, f'{s}-wet.wav')
                    for s in ('train', 'val', 'test')],
    },
    'overdrive-drive': {
        'uri': TS9, 'package': 'guitarix-lv2', 'expect': 'nonlinear',
        'cond': ['drive'], 'cond_port': 'fslider2_',
        'entries': (
            [(s, _ts9(d), {'drive': d}, f'{s}-wet-drive{d:.3f}.wav')
             for s in ('train', 'val') for d in DRIVE_TRAIN] +
            [('test', _ts9(DRIVE_TEST), {'drive': DRIVE_TEST},
              f'test-wet-drive{DRIVE_TEST:.3f}.wav')] +
            [('test-ref', _ts9(d), {'drive': d}, f'test-wet-drive{d:.3f}.wav')
             for d in DRIVE_NEIGHBOURS]),
    },
}

# Debian packages the whole pipeline needs, by what needs them.
APT_PACKAGES = {
    'python3': 'python3',
    'fluidsynth': 'fluidsynth',
    SOUNDFONT: 'fluid-soundfont-gm',
    'lv2apply': 'lilv-utils',
    'lv2info': 'lilv-utils',
    'lv2ls': 'lilv-utils',
    TS9: 'guitarix-lv2',
    X42_COMP: 'x42-plugins',
}
