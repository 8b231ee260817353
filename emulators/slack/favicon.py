"""The page's icon, drawn here rather than stored as a binary: a 32x32 PNG inside an ICO.

Browsers ask for ``/favicon.ico`` on their own; without an answer every page load logs a 404
in the console. The icon is the header's aubergine square with a white "L" and a green dot.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

SIZE = 32
_BACK = (0x3F, 0x0E, 0x40, 0xFF)
_INK = (0xFF, 0xFF, 0xFF, 0xFF)
_DOT = (0x2E, 0xB6, 0x7D, 0xFF)
_CLEAR = (0, 0, 0, 0)


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    radius, far = 6, SIZE - 1 - 6
    cx, cy = min(max(x, radius), far), min(max(y, radius), far)
    if (x - cx) ** 2 + (y - cy) ** 2 > radius**2:  # outside the rounded corners
        return _CLEAR
    if (x - 22) ** 2 + (y - 22) ** 2 <= 12:
        return _DOT
    if (8 <= x <= 12 and 7 <= y <= 25) or (8 <= x <= 18 and 21 <= y <= 25):  # the "L"
        return _INK
    return _BACK


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png() -> bytes:
    rows = b"".join(
        b"\x00" + bytes(c for x in range(SIZE) for c in _pixel(x, y)) for y in range(SIZE)
    )
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


@cache
def favicon_ico() -> bytes:
    image = png()
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(image), 6 + 16)
    return directory + entry + image
