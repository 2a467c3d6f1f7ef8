"""Whitespace folding over Arrow UTF-8 buffers: `" ".join(text.split())` for a whole column in one Numba call.

The whitespace is exactly what `str.split()` splits on (`str.isspace`): ten ASCII characters and
nineteen others, recognised here by their UTF-8 bytes. The input must be valid UTF-8 (Arrow strings are).
"""

from __future__ import annotations

import sys

import numba as nb
import numpy as np
import pyarrow as pa

from trivium.kernels.textstats import _arrow_buffers

SPACES = tuple(c for c in range(sys.maxunicode + 1) if chr(c).isspace())
_ASCII = np.zeros(128, dtype=np.bool_)
_ASCII[[c for c in SPACES if c < 128]] = True
# the others as (lead, second, third) bytes: U+0085 and U+00A0 take two bytes (third 0), the rest three
_WIDE = np.array([tuple(chr(c).encode()) + (0,) * (3 - len(chr(c).encode())) for c in SPACES if c >= 128], np.uint8)
_LEAD = np.zeros(256, dtype=np.bool_)
_LEAD[_WIDE[:, 0]] = True


@nb.njit(cache=True)
def _wide_space_len(data, i, end, wide):
    """Bytes of the non-ASCII whitespace character at data[i], 0 when it is not one."""
    b = data[i]
    for k in range(wide.shape[0]):
        if wide[k, 0] != b:
            continue
        n = 2 if wide[k, 2] == 0 else 3
        if i + n <= end and data[i + 1] == wide[k, 1] and (n == 2 or data[i + 2] == wide[k, 2]):
            return n
    return 0


@nb.njit(cache=True)
def _fold(data, offsets, ascii_space, lead, wide, out, out_offsets):
    pos = 0
    for d in range(offsets.shape[0] - 1):
        i, end = offsets[d], offsets[d + 1]
        start = pos
        pending = False  # a space is owed before the next word, if one comes
        while i < end:
            b = data[i]
            n = 0
            if b < 128:
                n = 1 if ascii_space[b] else 0
            elif lead[b]:  # a byte that starts one of the wide ones
                n = _wide_space_len(data, i, end, wide)
            if n > 0:
                pending = pos > start
                i += n
                continue
            if pending:
                out[pos] = 32
                pos += 1
                pending = False
            out[pos] = b
            pos += 1
            i += 1
        out_offsets[d + 1] = pos
    return pos


def fold_whitespace(texts: pa.Array) -> pa.Array:
    """Each string with its whitespace runs made one space and its ends stripped, as large_binary
    (nulls fold to empty)."""
    data, offsets = _arrow_buffers(texts)
    out = np.empty(max(len(data), 1), dtype=np.uint8)
    out_offsets = np.zeros(len(offsets), dtype=np.int64)
    size = _fold(data, offsets, _ASCII, _LEAD, _WIDE, out, out_offsets)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(out_offsets), pa.py_buffer(out[:size])]
    )
