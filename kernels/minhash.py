"""MinHash signatures and LSH band keys for a batch of documents in one call.

The fast path runs over the UTF-8 bytes of an Arrow string array in Numba: it decodes, normalises
and tokenises each document, hashes every shingle with xxh64 (64-bit), applies the permutations
and keeps the minimum, and hashes each band of the signature to one integer. No Python work per
document or per shingle.

Tokens and shingles (the same rules in the fast path and in the pure-Python reference):

* Normalisation is per code point: NFKC compatibility mapping, then lowercase, each applied only
  when it maps the code point to a single code point (full-width "Ａ" -> "a", "Σ" -> "σ").
* Classes: letters, digits, marks and connector punctuation ("_") make up words; Han, kana,
  Thai, Lao, Khmer and Myanmar characters (scripts written without spaces) and other symbols
  (emoji, "So") are one token each; format characters (ZWJ, soft hyphen) and variation
  selectors are ignored inside a word; everything else separates tokens.
* `tokenizer="word"`: a shingle is `ngram` consecutive tokens joined by one space, so a CJK
  document gets character n-grams and an English one word n-grams from the same rule.
  `tokenizer="char"`: a shingle is `ngram` consecutive code points of the normalised text in
  which every run of separators became one space.
* A document with fewer than `ngram` tokens has one shingle: all its tokens. A document with
  no token has no shingle; its signature stays at the maximum value (callers skip it).

Permutation schemes are datasketch's (2.0): "affine64" (default: xxh64 of the shingle, the
64-bit MurmurHash3 finalizer, then `a*h + b mod 2**64` with odd `a`), "affine32" (the low
32 bits of xxh64, 32-bit finalizer, `mod 2**32`) and "legacy" (`(a*h + b) % (2**61 - 1) &
(2**32 - 1)` on a 32-bit hash, computed in wrapping uint64 exactly as datasketch computes it).
Permutations come from `numpy.random.RandomState(seed)` as in datasketch, so
`reference_signatures(..., hashfunc=f)` equals `datasketch.MinHash(num_perm, seed,
hashfunc=f, scheme=...)` fed the same shingles, bit for bit, and the fast path equals the
reference with `hashfunc=shingle_hash` (xxh64).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np
import pyarrow as pa
import xxhash

SCHEMES = ("affine64", "affine32", "legacy")
TOKENIZERS = ("word", "char")
KERNEL_VERSION = "1"  # bump when any rule above changes: signatures of earlier runs stop being comparable

_U64 = np.uint64
_MERSENNE61 = _U64((1 << 61) - 1)
_MAX32 = _U64((1 << 32) - 1)

# token classes
SEP, WORD, SINGLE, IGNORE = 0, 1, 2, 3
_N_CODEPOINTS = 0x110000
_SCAN_LIMIT = 0x32400  # above this, only tags/variation selectors (plane 14) and private use are assigned
_SINGLE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x323AF),  # CJK extensions B..H, compatibility supplement
)


@dataclass(frozen=True)
class MinHashParams:
    """Everything that determines a signature; equal params give equal signatures on any machine."""

    num_perm: int = 112
    ngram: int = 5
    tokenizer: str = "word"
    seed: int = 1
    scheme: str = "affine64"
    hash_seed: int = 0  # seed of the xxh64 shingle hash

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {self.tokenizer!r}")
        if self.num_perm < 1 or self.ngram < 1:
            raise ValueError("num_perm and ngram must be >= 1")

    @property
    def dtype(self):
        return np.uint32 if self.scheme == "affine32" else np.uint64

    @property
    def max_value(self) -> int:
        return {"affine64": (1 << 64) - 1, "affine32": (1 << 32) - 1, "legacy": (1 << 32) - 1}[self.scheme]


# ---- permutations (datasketch's generator, per scheme) -------------------------------------


def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) exactly as `datasketch.MinHash(num_perm, seed, scheme=scheme).permutations`."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array(
            [
                (gen.randint(1, _MERSENNE61, dtype=np.uint64), gen.randint(0, _MERSENNE61, dtype=np.uint64))
                for _ in range(num_perm)
            ],
            dtype=np.uint64,
        ).T
        return np.ascontiguousarray(ab[0]), np.ascontiguousarray(ab[1])
    width = 64 if scheme == "affine64" else 32
    dtype = np.uint64 if width == 64 else np.uint32
    a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
    b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
    return a, b


# ---- Unicode tables --------------------------------------------------------------------------

_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def _classify(ch: str) -> int:
    c = ord(ch)
    if 0xFE00 <= c <= 0xFE0F or 0xE0100 <= c <= 0xE01EF:
        return IGNORE
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return IGNORE
    for lo, hi in _SINGLE_RANGES:
        if lo <= c <= hi:
            return SINGLE if cat[0] in "LN" else (WORD if cat[0] == "M" else SEP)
    if cat == "So":
        return SINGLE
    if cat[0] in "LNM" or cat == "Pc":
        return WORD
    return SEP


def normalise_codepoint(c: int) -> int:
    if 0xD800 <= c < 0xE000:
        return c
    ch = chr(c)
    k = unicodedata.normalize("NFKC", ch)
    if len(k) == 1:
        ch = k
    low = ch.lower()
    if len(low) == 1:
        ch = low
    return ord(ch)


def unicode_tables() -> tuple[np.ndarray, np.ndarray]:
    """(norm, cls): normalised code point and token class per code point (class of the normalised one)."""
    global _TABLES
    if _TABLES is None:
        norm = np.arange(_N_CODEPOINTS, dtype=np.int32)
        cls = np.zeros(_N_CODEPOINTS, dtype=np.uint8)
        for c in list(range(_SCAN_LIMIT)) + list(range(0xE0000, 0xE0200)):
            if 0xD800 <= c < 0xE000:
                continue
            n = normalise_codepoint(c)
            norm[c] = n
            cls[c] = _classify(chr(n))
        _TABLES = (norm, cls)
    return _TABLES


# ---- pure-Python reference -------------------------------------------------------------------


def tokens(text: str | None, tokenizer: str = "word") -> list[str]:
    """The normalised tokens of `text` (reference implementation of the kernel's rules)."""
    if not text:
        return []
    norm, cls = unicode_tables()
    out: list[str] = []
    if tokenizer == "word":
        cur: list[str] = []
        for ch in text:
            c = ord(ch)
            k = cls[c]
            if k == WORD:
                cur.append(chr(norm[c]))
            elif k == IGNORE:
                continue
            else:
                if cur:
                    out.append("".join(cur))
                    cur = []
                if k == SINGLE:
                    out.append(chr(norm[c]))
        if cur:
            out.append("".join(cur))
        return out
    pending = False
    for ch in text:
        c = ord(ch)
        k = cls[c]
        if k == IGNORE:
            continue
        if k == SEP:
            pending = True
            continue
        if pending and out:
            out.append(" ")
        pending = False
        out.append(chr(norm[c]))
    return out


def shingles(text: str | None, ngram: int = 5, tokenizer: str = "word") -> list[bytes]:
    """The UTF-8 shingles of `text` in document order (duplicates included)."""
    toks = tokens(text, tokenizer)
    joiner = " " if tokenizer == "word" else ""
    if not toks:
        return []
    if len(toks) < ngram:
        return [joiner.join(toks).encode("utf-8")]
    return [joiner.join(toks[i : i + ngram]).encode("utf-8") for i in range(len(toks) - ngram + 1)]


def shingle_hash(data: bytes, seed: int = 0) -> int:
    """The fast path's shingle hash: xxh64 (the low 32 bits for the 32-bit schemes)."""
    return xxhash.xxh64_intdigest(data, seed)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _fmix32(h: np.ndarray) -> np.ndarray:
    u = np.uint32
    h = h ^ (h >> u(16))
    h = h * u(0x85EBCA6B)
    h = h ^ (h >> u(13))
    h = h * u(0xC2B2AE35)
    return h ^ (h >> u(16))


def reference_signature(hvs: Sequence[int], params: MinHashParams) -> np.ndarray:
    """datasketch's `update_batch` arithmetic on already-hashed shingles (NumPy, wrapping uint64)."""
    a, b = permutations(params.num_perm, params.seed, params.scheme)
    sig = np.full(params.num_perm, params.max_value, dtype=params.dtype)
    if len(hvs) == 0:
        return sig
    with np.errstate(over="ignore"):
        if params.scheme == "legacy":
            hv = np.array(hvs, dtype=np.uint64, ndmin=2).T
            phv = np.bitwise_and((hv * a + b) % _MERSENNE61, _MAX32)
        elif params.scheme == "affine64":
            hv = _fmix64(np.array(hvs, dtype=np.uint64).reshape(-1, 1))
            phv = hv * a + b
        else:
            hv = _fmix32(np.array(hvs, dtype=np.uint32).reshape(-1, 1))
            phv = hv * a + b
    return np.minimum(sig, phv.min(axis=0))


def reference_signatures(
    texts: Iterable[str | None], params: MinHashParams, hashfunc: Callable[[bytes], int] | None = None
) -> np.ndarray:
    """Reference mode: Python shingling + `hashfunc` (default: the fast path's xxh64) + datasketch's arithmetic."""
    if hashfunc is None:
        mask = (1 << 64) - 1 if params.scheme == "affine64" else (1 << 32) - 1

        def hashfunc(b: bytes) -> int:
            return shingle_hash(b, params.hash_seed) & mask

    rows = [
        reference_signature([hashfunc(s) for s in shingles(t, params.ngram, params.tokenizer)], params) for t in texts
    ]
    return np.array(rows, dtype=params.dtype).reshape(-1, params.num_perm)


# ---- Numba fast path -------------------------------------------------------------------------

_P1 = _U64(11400714785074694791)
_P2 = _U64(14029467366897019727)
_P3 = _U64(1609587929392839161)
_P4 = _U64(9650029242287828579)
_P5 = _U64(2870177450012600261)


@nb.njit(inline="always")
def _rotl(x, r):
    return (x << _U64(r)) | (x >> _U64(64 - r))


@nb.njit(inline="always")
def _read64(buf, i):
    v = _U64(0)
    for k in range(8):
        v |= _U64(buf[i + k]) << _U64(8 * k)
    return v


@nb.njit(inline="always")
def _read32(buf, i):
    v = _U64(0)
    for k in range(4):
        v |= _U64(buf[i + k]) << _U64(8 * k)
    return v


@nb.njit(inline="always")
def _round(acc, x):
    acc = acc + x * _P2
    acc = _rotl(acc, 31)
    return acc * _P1


@nb.njit(inline="always")
def _merge(acc, v):
    acc = acc ^ _round(_U64(0), v)
    return acc * _P1 + _P4


@nb.njit(cache=True)
def xxh64(buf, start, end, seed):
    """xxh64 of buf[start:end] (uint8 array), equal to `xxhash.xxh64_intdigest`."""
    length = end - start
    i = start
    seed = _U64(seed)
    if length >= 32:
        v1 = seed + _P1 + _P2
        v2 = seed + _P2
        v3 = seed
        v4 = seed - _P1
        limit = end - 32
        while i <= limit:
            v1 = _round(v1, _read64(buf, i))
            v2 = _round(v2, _read64(buf, i + 8))
            v3 = _round(v3, _read64(buf, i + 16))
            v4 = _round(v4, _read64(buf, i + 24))
            i += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = seed + _P5
    h = h + _U64(length)
    while i + 8 <= end:
        h = h ^ _round(_U64(0), _read64(buf, i))
        h = _rotl(h, 27) * _P1 + _P4
        i += 8
    if i + 4 <= end:
        h = h ^ (_read32(buf, i) * _P1)
        h = _rotl(h, 23) * _P2 + _P3
        i += 4
    while i < end:
        h = h ^ (_U64(buf[i]) * _P5)
        h = _rotl(h, 11) * _P1
        i += 1
    h = h ^ (h >> _U64(33))
    h = h * _P2
    h = h ^ (h >> _U64(29))
    h = h * _P3
    h = h ^ (h >> _U64(32))
    return h


@nb.njit(inline="always")
def _put_utf8(out, pos, c):
    if c < 0x80:
        out[pos] = c
        return pos + 1
    if c < 0x800:
        out[pos] = 0xC0 | (c >> 6)
        out[pos + 1] = 0x80 | (c & 0x3F)
        return pos + 2
    if c < 0x10000:
        out[pos] = 0xE0 | (c >> 12)
        out[pos + 1] = 0x80 | ((c >> 6) & 0x3F)
        out[pos + 2] = 0x80 | (c & 0x3F)
        return pos + 3
    out[pos] = 0xF0 | (c >> 18)
    out[pos + 1] = 0x80 | ((c >> 12) & 0x3F)
    out[pos + 2] = 0x80 | ((c >> 6) & 0x3F)
    out[pos + 3] = 0x80 | (c & 0x3F)
    return pos + 4


@nb.njit(cache=True)
def _tokenise(data, start, end, norm, cls, char_mode, buf, tok_start, tok_end):
    """Normalised tokens of data[start:end] written to `buf` (word mode: joined by one space).

    Returns the number of tokens; token k is buf[tok_start[k]:tok_end[k]].
    """
    i = start
    pos = 0
    ntok = 0
    in_word = False
    pending = False
    while i < end:
        b0 = np.int32(data[i])
        if b0 < 0x80:
            c = b0
            i += 1
        elif b0 < 0xE0:
            c = ((b0 & 0x1F) << 6) | (np.int32(data[i + 1]) & 0x3F)
            i += 2
        elif b0 < 0xF0:
            c = ((b0 & 0x0F) << 12) | ((np.int32(data[i + 1]) & 0x3F) << 6) | (np.int32(data[i + 2]) & 0x3F)
            i += 3
        else:
            c = (
                ((b0 & 0x07) << 18)
                | ((np.int32(data[i + 1]) & 0x3F) << 12)
                | ((np.int32(data[i + 2]) & 0x3F) << 6)
                | (np.int32(data[i + 3]) & 0x3F)
            )
            i += 4
        k = cls[c]
        if k == 3:  # IGNORE
            continue
        if char_mode:
            if k == 0:
                pending = True
                continue
            if pending and ntok > 0:
                tok_start[ntok] = pos
                buf[pos] = 32
                pos += 1
                tok_end[ntok] = pos
                ntok += 1
            pending = False
            tok_start[ntok] = pos
            pos = _put_utf8(buf, pos, norm[c])
            tok_end[ntok] = pos
            ntok += 1
            continue
        if k == 1:  # WORD
            if not in_word:
                if ntok > 0:
                    buf[pos] = 32
                    pos += 1
                tok_start[ntok] = pos
                ntok += 1
                in_word = True
            pos = _put_utf8(buf, pos, norm[c])
            tok_end[ntok - 1] = pos
        else:
            in_word = False
            if k == 2:  # SINGLE
                if ntok > 0:
                    buf[pos] = 32
                    pos += 1
                tok_start[ntok] = pos
                pos = _put_utf8(buf, pos, norm[c])
                tok_end[ntok] = pos
                ntok += 1
    return ntok


@nb.njit(cache=True)
def _shingle_hashes(data, offsets, norm, cls, char_mode, ngram, hash_seed, out_hashes, out_offsets):
    """xxh64 of every shingle of every document; document d's are out_hashes[out_offsets[d]:out_offsets[d+1]]."""
    n_docs = offsets.shape[0] - 1
    max_len = 0
    for d in range(n_docs):
        ln = offsets[d + 1] - offsets[d]
        max_len = max(max_len, ln)
    # normalised UTF-8 is at most 4 bytes per input byte (an ASCII byte can become a 3-byte
    # code point through NFKC only in theory; 4x plus joiners bounds every case)
    buf = np.empty(5 * max_len + 8, dtype=np.uint8)
    tok_start = np.empty(max_len + 1, dtype=np.int64)
    tok_end = np.empty(max_len + 1, dtype=np.int64)
    n = 0
    out_offsets[0] = 0
    for d in range(n_docs):
        ntok = _tokenise(data, offsets[d], offsets[d + 1], norm, cls, char_mode, buf, tok_start, tok_end)
        if ntok > 0:
            if ntok < ngram:
                out_hashes[n] = xxh64(buf, tok_start[0], tok_end[ntok - 1], hash_seed)
                n += 1
            else:
                for t in range(ntok - ngram + 1):
                    out_hashes[n] = xxh64(buf, tok_start[t], tok_end[t + ngram - 1], hash_seed)
                    n += 1
        out_offsets[d + 1] = n
    return n


@nb.njit(cache=True)
def _minhash_affine64(hashes, offsets, a, b, sig):
    n_docs = offsets.shape[0] - 1
    num_perm = a.shape[0]
    for d in range(n_docs):
        row = sig[d]
        for p in range(num_perm):
            row[p] = _U64(0xFFFFFFFFFFFFFFFF)
        for s in range(offsets[d], offsets[d + 1]):
            h = hashes[s]
            h = h ^ (h >> _U64(33))
            h = h * _U64(0xFF51AFD7ED558CCD)
            h = h ^ (h >> _U64(33))
            h = h * _U64(0xC4CEB9FE1A85EC53)
            h = h ^ (h >> _U64(33))
            for p in range(num_perm):
                row[p] = min(row[p], a[p] * h + b[p])


@nb.njit(cache=True)
def _minhash_affine32(hashes, offsets, a, b, sig):
    # Numba widens uint32 arithmetic to 64 bits: every step is masked back to 32 bits.
    n_docs = offsets.shape[0] - 1
    num_perm = a.shape[0]
    m = _U64(0xFFFFFFFF)
    a64 = a.astype(np.uint64)
    b64 = b.astype(np.uint64)
    row64 = np.empty(num_perm, dtype=np.uint64)
    for d in range(n_docs):
        for p in range(num_perm):
            row64[p] = m
        for s in range(offsets[d], offsets[d + 1]):
            h = hashes[s] & m
            h = h ^ (h >> _U64(16))
            h = (h * _U64(0x85EBCA6B)) & m
            h = h ^ (h >> _U64(13))
            h = (h * _U64(0xC2B2AE35)) & m
            h = h ^ (h >> _U64(16))
            for p in range(num_perm):
                row64[p] = min(row64[p], (a64[p] * h + b64[p]) & m)
        for p in range(num_perm):
            sig[d, p] = np.uint32(row64[p])


@nb.njit(cache=True)
def _minhash_legacy(hashes, offsets, a, b, sig):
    n_docs = offsets.shape[0] - 1
    num_perm = a.shape[0]
    prime = _U64((1 << 61) - 1)
    mask = _U64(0xFFFFFFFF)
    for d in range(n_docs):
        row = sig[d]
        for p in range(num_perm):
            row[p] = mask
        for s in range(offsets[d], offsets[d + 1]):
            h = hashes[s] & mask
            for p in range(num_perm):
                row[p] = min(row[p], ((a[p] * h + b[p]) % prime) & mask)


@nb.njit(cache=True)
def _band_keys(sig_bytes, bands, row_bytes, out):
    """out[d, j] = xxh64 of band j's bytes of document d's signature, seeded with j."""
    n_docs = sig_bytes.shape[0]
    for d in range(n_docs):
        for j in range(bands):
            out[d, j] = xxh64(sig_bytes[d], j * row_bytes, (j + 1) * row_bytes, j)


@nb.njit(cache=True)
def _shingle_sets(hashes, offsets, out, out_offsets):
    """Each document's hashes sorted and without repeats (the shingle set), document by document."""
    pos = 0
    out_offsets[0] = 0
    for d in range(len(offsets) - 1):
        seg = np.sort(hashes[offsets[d] : offsets[d + 1]])
        for i in range(len(seg)):
            if i == 0 or seg[i] != seg[i - 1]:
                out[pos] = seg[i]
                pos += 1
        out_offsets[d + 1] = pos


@nb.njit(cache=True)
def _set_intersections(sets, offsets, a, b, out):
    """|set a[k] & set b[k]| by merging the two sorted sets."""
    for k in range(len(a)):
        i, i_end = offsets[a[k]], offsets[a[k] + 1]
        j, j_end = offsets[b[k]], offsets[b[k] + 1]
        n = 0
        while i < i_end and j < j_end:
            if sets[i] == sets[j]:
                n += 1
                i += 1
                j += 1
            elif sets[i] < sets[j]:
                i += 1
            else:
                j += 1
        out[k] = n


def shingle_sets(hashes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sets, set offsets): every document's shingle hashes as a sorted set, `shingle_hashes`' layout."""
    out = np.empty(len(hashes), dtype=hashes.dtype)
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    _shingle_sets(hashes, np.asarray(offsets, np.int64), out, out_offsets)
    return out[: out_offsets[-1]], out_offsets


def set_intersections(sets: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sizes of the intersections of sets a[k] and b[k] (from `shingle_sets`)."""
    out = np.empty(len(a), dtype=np.int64)
    _set_intersections(sets, offsets, np.asarray(a, np.int64), np.asarray(b, np.int64), out)
    return out


def _as_string_array(texts) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts), pa.string())
    if pa.types.is_string(texts.type) or pa.types.is_binary(texts.type):
        texts = texts.cast(pa.large_string())
    elif not pa.types.is_large_string(texts.type):
        raise TypeError(f"expected strings, got {texts.type}")
    return texts


def _buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets with n+1 entries, starting at 0); nulls become empty documents."""
    if texts.null_count:
        texts = texts.fill_null("")
    _, off_buf, data_buf = texts.buffers()
    n = len(texts)
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=n + 1, offset=texts.offset * 8)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    if n and offsets[0] != 0:
        data = data[offsets[0] : offsets[-1]]
        offsets = offsets - offsets[0]
    return data, np.ascontiguousarray(offsets)


def shingle_hashes(texts, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint64, offsets int64[n+1]): xxh64 of every shingle, document by document."""
    data, offsets = _buffers(_as_string_array(texts))
    norm, cls = unicode_tables()
    # a document of L bytes has at most L tokens, hence at most L shingles (or 1)
    out = np.empty(max(int(offsets[-1]) + len(offsets), 1), dtype=np.uint64)
    out_off = np.empty(len(offsets), dtype=np.int64)
    n = _shingle_hashes(
        data, offsets, norm, cls, params.tokenizer == "char", params.ngram, _U64(params.hash_seed), out, out_off
    )
    return out[:n], out_off


def signatures_from_hashes(hashes: np.ndarray, offsets: np.ndarray, params: MinHashParams) -> np.ndarray:
    a, b = permutations(params.num_perm, params.seed, params.scheme)
    sig = np.empty((len(offsets) - 1, params.num_perm), dtype=params.dtype)
    if params.scheme == "affine64":
        _minhash_affine64(hashes, offsets, a, b, sig)
    elif params.scheme == "affine32":
        _minhash_affine32(hashes, offsets, a, b, sig)
    else:
        _minhash_legacy(hashes, offsets, a, b, sig)
    return sig


def signatures(texts, params: MinHashParams, *, mode: str = "fast", hashfunc=None, device: str = "cpu") -> np.ndarray:
    """MinHash signatures, shape (n_docs, num_perm), dtype uint64 (uint32 for "affine32").

    `texts`: a list of str/None or an Arrow string array. `mode="reference"` runs the pure-Python
    reference (optionally with another `hashfunc`, e.g. datasketch's sha1_hash32); `device="gpu"`
    applies the permutations on a CUDA GPU through CuPy (same result), `"auto"` uses one if present.
    """
    if mode == "reference":
        if isinstance(texts, (pa.Array, pa.ChunkedArray)):
            texts = texts.to_pylist()
        return reference_signatures(texts, params, hashfunc)
    if mode != "fast":
        raise ValueError(f"mode must be 'fast' or 'reference', got {mode!r}")
    if hashfunc is not None:
        raise ValueError("the fast path hashes shingles with xxh64; another hashfunc needs mode='reference'")
    hashes, offsets = shingle_hashes(texts, params)
    if device == "auto":
        from trivium.kernels import minhash_gpu

        device = "gpu" if minhash_gpu.available() else "cpu"
    if device == "gpu":
        from trivium.kernels import minhash_gpu

        return minhash_gpu.signatures_from_hashes(hashes, offsets, params)
    return signatures_from_hashes(hashes, offsets, params)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 per (document, band): xxh64 of the band's `rows` signature values (little-endian), seed = band."""
    if bands * rows > sig.shape[1]:
        raise ValueError(f"bands*rows = {bands * rows} exceeds the signature length {sig.shape[1]}")
    sig = np.ascontiguousarray(sig)
    if sig.dtype.byteorder == ">":
        sig = sig.astype(sig.dtype.newbyteorder("<"))
    sig_bytes = sig.view(np.uint8).reshape(sig.shape[0], -1)
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    _band_keys(sig_bytes, bands, rows * sig.dtype.itemsize, out)
    return out


def reference_band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    for d in range(sig.shape[0]):
        for j in range(bands):
            out[d, j] = xxhash.xxh64_intdigest(
                sig[d, j * rows : (j + 1) * rows].astype(sig.dtype.newbyteorder("<")).tobytes(), j
            )
    return out


def empty_mask(offsets: np.ndarray) -> np.ndarray:
    """Documents without any shingle (their signature is all-max and must not enter LSH)."""
    return np.diff(offsets) == 0


def jaccard(hashes_a: np.ndarray, hashes_b: np.ndarray) -> float:
    """Exact Jaccard similarity of two documents' shingle sets (as 64-bit shingle hashes)."""
    ua, ub = np.unique(hashes_a), np.unique(hashes_b)
    if len(ua) == 0 and len(ub) == 0:
        return 1.0
    inter = len(np.intersect1d(ua, ub, assume_unique=True))
    return inter / (len(ua) + len(ub) - inter)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)
