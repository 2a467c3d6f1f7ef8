"""The token line the fastText classifiers read, for a batch of documents in one Numba call.

`trivium.filters.fasttext_text.text_tokens` is the definition (a regex per line, in Python); this
is its fast path and gives the same string, `" ".join(text_tokens(text, limit, shape))`:

* the text is cut to its first `limit * 8` code points, then read line by line (lines end at
  "\\n"). Each line starts with `__indent__` (two or more spaces/tabs before it) or `__nl__`;
  with `shape`, then its length class (`__len0__`..`__len3__`: under 30, 60, 90 characters and
  more, after stripping) and `__noend__` when its last character is not terminal punctuation;
* then the tokens of the lower-cased line: one per CJK character (the caller's ranges), a run of
  decimal digits as `__num__`, a run of other word characters (`\\w` less digits, `_` and CJK) as
  itself (or `__num__` when its first character is a digit `\\d` does not match, such as "²"),
  every other non-space character but `_` on its own;
* at most `limit` tokens in all.

Documents it cannot render exactly come back as None, for the caller's Python path: a character
whose lower case is not one code point of its own (the Turkish dotted "İ", "Σ" whose lower case
depends on its neighbours), and a line that may open with an agent-trace marker ("Thought:",
"Action 2:", ...), which the definition turns into a structure token.
"""

from __future__ import annotations

import re

import numba as nb
import numpy as np

from trivium.kernels.textstats import _SCAN_LIMIT, _arrow_buffers, _decode, _ragged

_N_CP = 0x110000
SPACE, WORD, DECIMAL, DIGITLIKE, SPECIAL_LOWER = 1, 2, 4, 8, 16

_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(flags, lower) per code point, as Python's `re` and `str` see them (built once per process)."""
    global _TABLES
    if _TABLES is None:
        # above _SCAN_LIMIT: private use, tags and selectors only: no space, word character, digit or case
        everything = "".join(map(chr, range(_SCAN_LIMIT)))
        flags = np.zeros(_N_CP, dtype=np.uint8)
        for pattern, flag in ((r"\s", SPACE), (r"\w", WORD), (r"\d", DECIMAL)):
            flags[[ord(m.group()) for m in re.finditer(pattern, everything)]] |= flag
        lower = np.arange(_N_CP, dtype=np.int32)
        for c, ch in enumerate(everything):
            if ch.isdigit() and not ch.isdecimal():
                flags[c] |= DIGITLIKE
            low = ch.lower()
            if low != ch:
                if len(low) == 1:
                    lower[c] = ord(low)
                else:
                    flags[c] |= SPECIAL_LOWER
        flags[0x03A3] |= SPECIAL_LOWER  # capital sigma: σ or final ς, by context
        _TABLES = flags, lower
    return _TABLES


# The structure tokens, numbered as the kernel writes them.
_NAMES = ("__nl__", "__indent__", "__len0__", "__len1__", "__len2__", "__len3__", "__noend__", "__num__")
_NL, _INDENT, _LEN0, _NOEND, _NUM = 0, 1, 2, 6, 7
# Agent-trace markers (lower case), checked loosely: any line that could open with one goes to Python.
_MARKER_WORDS = ("thought", "action input", "action", "observation", "final answer", "tool call", "tool result")


def render_lines(texts, limit: int, shape: bool, cjk_ranges: list[tuple[int, int]], terminal: str) -> list[str | None]:
    """The token line of each document of `texts` (an Arrow string array or a list of str; null = "")."""
    data, offsets = _arrow_buffers(texts)
    n = len(offsets) - 1
    if n == 0:
        return []
    flags, lower = _tables()
    names, name_off = _ragged(list(_NAMES))
    markers, marker_off = _ragged(list(_MARKER_WORDS))
    cjk = np.array(cjk_ranges, dtype=np.int32).reshape(-1, 2)
    term = np.array(sorted(ord(c) for c in terminal), dtype=np.int32)
    max_cps = limit * 8
    # a code point per byte at most, a name (<= 10) and a space per token: the documents' worst case
    cap = int(np.minimum(np.diff(offsets), max_cps).sum()) + n * limit * 11
    out = np.empty(cap, dtype=np.uint32)
    start = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    used = _render_batch(data, offsets, limit, shape, flags, lower, names, name_off, markers, marker_off, cjk, term, out,
                         start, length)
    try:
        whole = out[:used].tobytes().decode("utf-32-le")
    except UnicodeDecodeError:  # a surrogate code point: never from valid UTF-8, but never a crash either
        return [None] * n
    return [whole[s : s + k] if k >= 0 else None for s, k in zip(start.tolist(), length.tolist())]


@nb.njit(cache=True)
def _in_cjk(c, cjk):
    for r in range(cjk.shape[0]):
        if cjk[r, 0] <= c <= cjk[r, 1]:
            return True
    return False


@nb.njit(cache=True)
def _may_open_marker(cps, q, e, flags, markers, marker_off):
    """True when line [q, e) could match `^[ \\t>*#]*(marker)\\s*(?:\\d+\\s*)?:` case-insensitively.
    Non-ASCII letters count as possible matches (Python's case folding pairs some with ASCII)."""
    while q < e and (cps[q] == 32 or cps[q] == 9 or cps[q] == 62 or cps[q] == 42 or cps[q] == 35):
        q += 1
    for w in range(len(marker_off) - 1):
        a, b = marker_off[w], marker_off[w + 1]
        if q + (b - a) > e:
            continue
        ok = True
        for k in range(b - a):
            c = cps[q + k]
            want = markers[a + k]
            if c >= 128:
                continue
            if 65 <= c <= 90:
                c += 32
            if c != want:
                ok = False
                break
        if not ok:
            continue
        i = q + (b - a)
        while i < e and flags[cps[i]] & SPACE:
            i += 1
        while i < e and flags[cps[i]] & DECIMAL:
            i += 1
        while i < e and flags[cps[i]] & SPACE:
            i += 1
        if i < e and cps[i] == 58:  # ":"
            return True
    return False


@nb.njit(cache=True)
def _emit_name(out, o, names, name_off, k):
    for j in range(name_off[k], name_off[k + 1]):
        out[o] = names[j]
        o += 1
    return o


@nb.njit(cache=True)
def _render_doc(cps, n, limit, shape, flags, lower, names, name_off, markers, marker_off, cjk, term, out, o0):
    """Writes the document's line at out[o0:]; returns its length, or -1 for the Python path."""
    for i in range(n):
        if flags[cps[i]] & SPECIAL_LOWER:
            return -1
    o = o0
    tokens = 0
    p = 0
    while tokens < limit:
        k = 0
        while p + k < n and (cps[p + k] == 32 or cps[p + k] == 9):
            k += 1
        q = p + k
        e = q
        while e < n and cps[e] != 10:
            e += 1
        if _may_open_marker(cps, q, e, flags, markers, marker_off):
            return -1
        if tokens:
            out[o] = 32
            o += 1
        o = _emit_name(out, o, names, name_off, _INDENT if k >= 2 else _NL)
        tokens += 1
        if shape:
            last = e - 1
            while last >= q and flags[cps[last]] & SPACE:
                last -= 1
            if tokens < limit:
                out[o] = 32
                o = _emit_name(out, o + 1, names, name_off, _LEN0 + min((last - q + 1) // 30, 3))
                tokens += 1
            if last >= q and tokens < limit:
                terminal = False
                for t in term:
                    if cps[last] == t:
                        terminal = True
                if not terminal:
                    out[o] = 32
                    o = _emit_name(out, o + 1, names, name_off, _NOEND)
                    tokens += 1
        i = q
        while i < e and tokens < limit:
            c = lower[cps[i]]
            f = flags[c]
            if _in_cjk(c, cjk):
                j = i + 1
            elif f & DECIMAL:
                j = i + 1
                while j < e and flags[lower[cps[j]]] & DECIMAL:
                    j += 1
            elif f & WORD and c != 95:
                j = i + 1
                while j < e:
                    c2 = lower[cps[j]]
                    f2 = flags[c2]
                    if not (f2 & WORD) or f2 & DECIMAL or c2 == 95 or _in_cjk(c2, cjk):
                        break
                    j += 1
            elif f & SPACE or c == 95:
                i += 1
                continue
            else:
                j = i + 1
            out[o] = 32
            o += 1
            if f & (DECIMAL | DIGITLIKE):
                o = _emit_name(out, o, names, name_off, _NUM)
            else:
                for m in range(i, j):
                    out[o] = lower[cps[m]]
                    o += 1
            tokens += 1
            i = j
        if e >= n:
            break
        p = e + 1
    return o - o0


@nb.njit(cache=True)
def _render_batch(data, offsets, limit, shape, flags, lower, names, name_off, markers, marker_off, cjk, term, out, start,
                  length):
    max_cps = limit * 8
    cps = np.empty(max_cps * 4, dtype=np.int64)
    o = 0
    for d in range(len(offsets) - 1):
        a, b = offsets[d], offsets[d + 1]
        end, count = a, 0  # the bytes of the first max_cps code points
        while end < b and count < max_cps:
            end += 1
            while end < b and (data[end] & 0xC0) == 0x80:
                end += 1
            count += 1
        # stray continuation bytes (invalid UTF-8) each decode to U+FFFD: never past the buffer
        n = min(_decode(data, a, min(end, a + len(cps)), cps), max_cps)
        start[d] = o
        length[d] = _render_doc(cps, n, limit, shape, flags, lower, names, name_off, markers, marker_off, cjk, term, out, o)
        o += max(length[d], 0)
    return o
