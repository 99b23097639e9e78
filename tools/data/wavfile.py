"""Mono float WAV reading and writing with the Python standard library only.

The data sets must be buildable on a bare Debian system, so no numpy: samples
live in array('f') buffers, which are compact and fast enough for a few
minutes of audio.
"""

import array
import struct
import sys

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_IEEE_FLOAT = 3
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class WavError(Exception):
    pass


def read(path, mix_stereo=False):
    """Return (rate, array('f')) for a mono WAV in float32 or 16/24/32-bit PCM.

    Stereo is averaged only when the caller asks (a synthesizer's output);
    anywhere else a stereo file is a pipeline bug and is refused.
    """
    with open(path, 'rb') as f:
        blob = f.read()
    if len(blob) < 12 or blob[0:4] != b'RIFF' or blob[8:12] != b'WAVE':
        raise WavError(f"{path}: not a RIFF/WAVE file")
    pos = 12
    fmt = None
    data = None
    while pos + 8 <= len(blob):
        cid = blob[pos:pos + 4]
        size = struct.unpack_from('<I', blob, pos + 4)[0]
        body = blob[pos + 8:pos + 8 + size]
        if cid == b'fmt ':
            fmt = body
        elif cid == b'data':
            data = body
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        raise WavError(f"{path}: missing fmt or data chunk")
    tag, chans, rate, _, _, bits = struct.unpack_from('<HHIIHH', fmt, 0)
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 26:
            raise WavError(f"{path}: extensible fmt chunk too short")
        tag = struct.unpack_from('<H', fmt, 24)[0]
    if chans != 1 and not (chans == 2 and mix_stereo):
        raise WavError(f"{path}: has {chans} channels, expected 1")
    out = array.array('f')
    if tag == WAVE_FORMAT_IEEE_FLOAT and bits == 32:
        n = len(data) // 4
        out.frombytes(data[:n * 4])
        if sys.byteorder != 'little':
            out.byteswap()
    elif tag == WAVE_FORMAT_PCM and bits in (16, 24, 32):
        width = bits // 8
        n = len(data) // width
        scale = 1.0 / float(1 << (bits - 1))
        if bits == 16:
            ints = array.array('h')
            ints.frombytes(data[:n * 2])
        elif bits == 32:
            ints = array.array('i')
            ints.frombytes(data[:n * 4])
        else:
            ints = [int.from_bytes(data[i:i + 3], 'little', signed=True)
                    for i in range(0, n * 3, 3)]
        if bits != 24 and sys.byteorder != 'little':
            ints.byteswap()
        out = array.array('f', (v * scale for v in ints))
    else:
        raise WavError(f"{path}: format tag {tag} with {bits} bits is not "
                       "supported (float32 or 16/24/32-bit PCM expected)")
    if chans == 2:
        out = array.array('f', ((a + b) * 0.5 for a, b in zip(out[0::2], out[1::2])))
    return rate, out


def write_float(path, rate, samples):
    """Write mono IEEE float32 WAV with the 18-byte fmt chunk and the fact
    chunk that non-PCM WAV files are required to carry."""
    buf = array.array('f', samples)
    if sys.byteorder != 'little':
        buf.byteswap()
    raw = buf.tobytes()
    n = len(buf)
    fmt = struct.pack('<HHIIHHH', WAVE_FORMAT_IEEE_FLOAT, 1, rate, rate * 4,
                      4, 32, 0)
    body = (b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt +
            b'fact' + struct.pack('<II', 4, n) +
            b'data' + struct.pack('<I', len(raw)) + raw)
    with open(path, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', len(body)) + body)


def write_pcm24(path, rate, samples):
    """Write mono 24-bit PCM WAV (used for the small committed clips, which
    are smaller this way and still well below the models' error floor)."""
    peak = max((abs(v) for v in samples), default=0.0)
    if peak > 1.0:
        raise WavError(f"{path}: peak {peak:.4f} does not fit 24-bit PCM "
                       "without clipping; write float instead")
    out = bytearray()
    full = (1 << 23) - 1
    for v in samples:
        q = min(full, int(round(v * (1 << 23))))
        out += q.to_bytes(3, 'little', signed=True)
    fmt = struct.pack('<HHIIHH', WAVE_FORMAT_PCM, 1, rate, rate * 3, 3, 24)
    body = (b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt +
            b'data' + struct.pack('<I', len(out)) + bytes(out))
    if len(out) & 1:
        body += b'\0'
    with open(path, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', len(body)) + body)
