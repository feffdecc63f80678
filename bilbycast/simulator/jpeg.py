"""A tiny baseline-JPEG writer for thumbnails (no image library needed).

Real edges send 320×180 JPEG frames in standard base64 (node-protocol §4.5).  We draw a
"colour bars + moving box" test card whose pixels are constant inside every 8×8 block, so each
block is fully described by its DC coefficient: no DCT is needed, the AC part of every block is
a single end-of-block code.  The result is a genuine baseline JFIF file (SOI … EOI, 4:4:4
YCbCr, standard DC Huffman table) that any decoder displays.

Frames are a pure function of ``(variant, frame)`` and cached, so a 5000-node fleet that sends
thousands of thumbnails per second spends no CPU drawing them.
"""

from __future__ import annotations

import base64
import functools
import struct

WIDTH = 320
HEIGHT = 180
_BW = (WIDTH + 7) // 8     # 40 blocks across
_BH = (HEIGHT + 7) // 8    # 23 blocks down
FRAMES = 16                # the moving box cycles through this many positions
VARIANTS = 8               # per-flow tint of the box

# Standard luminance DC table (ITU T.81 Annex K.3): code counts per length 1..16, symbols.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALS = tuple(range(12))
# AC table with the single symbol 0x00 (end of block): code "0".
_AC_BITS = (1,) + (0,) * 15
_AC_VALS = (0,)

_BARS = ((192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0),
         (192, 0, 192), (192, 0, 0), (0, 0, 192))
_TINTS = ((235, 235, 235), (255, 140, 0), (0, 200, 255), (120, 255, 80),
          (255, 80, 160), (255, 230, 60), (150, 110, 255), (60, 255, 210))


def _huffman_codes(bits: tuple, vals: tuple) -> dict[int, tuple[int, int]]:
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    k = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


_DC_CODES = _huffman_codes(_DC_BITS, _DC_VALS)
_EOB = _huffman_codes(_AC_BITS, _AC_VALS)[0]


def _ycbcr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(max(0, min(255, int(round(v)))) for v in (y, cb, cr))  # type: ignore[return-value]


def _block_colour(bx: int, by: int, variant: int, frame: int) -> tuple[int, int, int]:
    # top two thirds: seven colour bars; bottom: dark strip with a moving tinted box
    if by < 15:
        return _BARS[min(6, bx * 7 // _BW)]
    box_x = (frame * (_BW - 6)) // max(1, FRAMES - 1)
    if 17 <= by <= 20 and box_x <= bx < box_x + 6:
        return _TINTS[variant % len(_TINTS)]
    return (16, 16, 32) if (bx + by) % 2 else (24, 24, 40)


class _BitWriter:
    __slots__ = ("acc", "n", "out")

    def __init__(self) -> None:
        self.acc = 0
        self.n = 0
        self.out = bytearray()

    def write(self, value: int, length: int) -> None:
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.n += length
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:          # byte stuffing inside entropy-coded data
                self.out.append(0)
        self.acc &= (1 << self.n) - 1 if self.n else 0

    def flush(self) -> bytes:
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)   # pad with 1-bits
        return bytes(self.out)


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">HH", marker, len(body) + 2) + body


def _dht(table_class_id: int, bits: tuple, vals: tuple) -> bytes:
    return _segment(0xFFC4, bytes([table_class_id]) + bytes(bits) + bytes(vals))


def build_jpeg(variant: int = 0, frame: int = 0) -> bytes:
    """A complete 320×180 baseline JPEG (starts FF D8, ends FF D9)."""
    quant = 8  # DC of a flat block = 8·(v−128); dividing by 8 gives v−128
    parts = [
        b"\xff\xd8",
        _segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xFFDB, b"\x00" + bytes([quant]) * 64),
        _segment(0xFFC0, struct.pack(">BHHB", 8, HEIGHT, WIDTH, 3)
                 + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"),
        _dht(0x00, _DC_BITS, _DC_VALS),
        _dht(0x10, _AC_BITS, _AC_VALS),
        _segment(0xFFDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"),
    ]
    bw = _BitWriter()
    pred = [0, 0, 0]
    eob_code, eob_len = _EOB
    for by in range(_BH):
        for bx in range(_BW):
            ycc = _ycbcr(_block_colour(bx, by, variant, frame))
            for comp in range(3):
                dc = ycc[comp] - 128
                diff = dc - pred[comp]
                pred[comp] = dc
                size = abs(diff).bit_length()
                code, length = _DC_CODES[size]
                bw.write(code, length)
                if size:
                    bw.write(diff if diff >= 0 else diff + (1 << size) - 1, size)
                bw.write(eob_code, eob_len)
    parts.append(bw.flush())
    parts.append(b"\xff\xd9")
    return b"".join(parts)


@functools.lru_cache(maxsize=VARIANTS * FRAMES)
def thumbnail_b64(variant: int, frame: int) -> str:
    """Standard base64 of :func:`build_jpeg`, cached per (variant, frame)."""
    return base64.b64encode(build_jpeg(variant % VARIANTS, frame % FRAMES)).decode("ascii")
