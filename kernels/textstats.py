"""Text statistics for heuristic quality rules, for a batch of documents in one call.

One Numba pass per document over the UTF-8 bytes of an Arrow string array computes every
statistic the Gopher repetition/quality, C4 quality and FineWeb quality rules read: words,
mean word length, hash/ellipsis ratios, alphabetic-word share, stop-word hits, bullet and
ellipsis lines, duplicate lines/paragraphs and their character shares, top n-gram character
shares, duplicated n-gram character shares, C4's kept sentences, line punctuation, short lines,
duplicated line characters and newlines per word. Definitions follow datatrove 0.10 line by line
(the reference), so a rule reading these numbers decides as datatrove's filter does.

Words. datatrove splits words with spaCy's rule tokenizer (~1 MB/s): `spacy.blank("en")` for
English and, in datatrove 0.10, the multi-language `xx` one for Chinese (no jieba: a run of Han
text without spaces is one word). The kernel re-implements that tokenizer's algorithm: whitespace
split, then per chunk the special cases (contractions, abbreviations, emoticons: read from spaCy
itself per language), prefix/suffix peeling and infix splitting with spaCy's character classes,
its URL rule and its special-case matcher. Compared with spaCy on ~2,000 documents of
../shared/corpus (English, Chinese, code, LaTeX, web pages) the tokens differ on one page only: a
long URL with a query string that spaCy's URL regex rejects and splits into 17 tokens is one token
here (its `words` 16 lower out of ~700, the alphabetic share 0.4 points higher); keep/drop verdicts
agree on every document (benchmarks/filters.py prints the agreement per source). Known gaps: the
IP-address branch of spaCy's URL rule, non-ASCII case folding in C4's lowercase phrase checks, and
the final `strip()` of the text C4 keeps when a removed citation leaves a space at its ends.
C4's sentences are spaCy's sentencizer rule over the same tokens.

Strings are decoded to code points inside the kernel; lone surrogates never reach it (ingest
replaces or quarantines them), and invalid bytes decode to U+FFFD.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
import pyarrow as pa

_N_CP = 0x110000
_SCAN_LIMIT = 0x32400

# ---- character classes ----------------------------------------------------------------------

F_SPACE = 1 << 0  # str.isspace
F_ALPHA = 1 << 1  # str.isalpha (Gopher's alphabetic-word rule)
F_DTPUNCT = 1 << 2  # datatrove PUNCTUATION_SET (a word of only these is a symbol)
F_TERM = 1 << 3  # datatrove TERMINAL_PUNCTUATION (FineWeb's default stop chars)
F_PRE = 1 << 4  # spaCy single-character prefix
F_SUF = 1 << 5  # spaCy single-character suffix (unconditional)
F_SPALPHA = 1 << 6  # spaCy ALPHA
F_LOWER = 1 << 7  # spaCy ALPHA_LOWER
F_UPPER = 1 << 8  # spaCy ALPHA_UPPER
F_QUOTE = 1 << 9  # spaCy CONCAT_QUOTES
F_ICON = 1 << 10  # spaCy icons (So)
F_SENT = 1 << 11  # spaCy sentencizer punctuation
F_UPUNCT = 1 << 12  # Unicode category P* (spaCy is_punct)
F_DOTPRE = 1 << 13  # what may precede a split-off final "." in spaCy's suffix rule
F_CUR = 1 << 14  # single-character currency (split off after a digit)
F_ND = 1 << 15  # Unicode decimal digit (Python's \d)
F_LINEBREAK = 1 << 16  # str.splitlines boundaries

_TABLES: dict | None = None


def _class_chars(pattern: str, everything: str) -> np.ndarray:
    return np.array([ord(m.group()) for m in re.finditer(pattern, everything)], dtype=np.int64)


WORD_TOKENIZERS = ("en", "xx")  # spaCy's English and multi-language rule tokenizers
TABLES_VERSION = "5"  # bump when _build_tables changes


def _tables() -> dict:
    """Flags per code point plus spaCy's special cases and units: built from the installed spaCy and
    datatrove once per machine (importing spaCy alone takes seconds), then read from a cache file."""
    global _TABLES
    if _TABLES is None:
        from importlib.metadata import version

        tag = f"textstats-{TABLES_VERSION}-spacy{version('spacy')}-datatrove{version('datatrove')}.npz"
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trivium" / tag
        try:
            with np.load(cache) as z:
                _TABLES = {k: (z[k][()] if z[k].ndim == 0 else z[k]) for k in z.files}
        except (OSError, ValueError, KeyError):
            _TABLES = _build_tables()
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez_compressed(tmp, **_TABLES)
                os.replace(tmp, cache)
            except OSError:
                pass  # a read-only home: rebuild per process
    return _TABLES


def _build_tables() -> dict:
    import spacy
    from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION
    from spacy.lang import char_classes as cc
    from spacy.pipeline import Sentencizer

    everything = "".join(map(chr, range(_N_CP)))
    flags = np.zeros(_N_CP, dtype=np.int32)

    def mark(chars, flag):
        idx = np.array([ord(c) for c in chars], dtype=np.int64) if not isinstance(chars, np.ndarray) else chars
        if len(idx):
            flags[idx] |= flag

    mark(_class_chars(r"\s", everything), F_SPACE)
    assigned = range(_SCAN_LIMIT)  # above: private use, tags and selectors only, neither letters nor punctuation
    mark(np.array([c for c in assigned if chr(c).isalpha()], dtype=np.int64), F_ALPHA)
    mark(PUNCTUATION_SET, F_DTPUNCT)
    mark(TERMINAL_PUNCTUATION, F_TERM)
    mark(_class_chars(f"[{cc.ALPHA}]", everything), F_SPALPHA)
    mark(_class_chars(f"[{cc.ALPHA_LOWER}]", everything), F_LOWER)
    mark(_class_chars(f"[{cc.ALPHA_UPPER}]", everything), F_UPPER)
    mark(_class_chars(f"[{cc.CONCAT_QUOTES}]", everything), F_QUOTE)
    icons = _class_chars(f"[{cc._other_symbols}]", everything)
    mark(icons, F_ICON)
    mark(Sentencizer.default_punct_chars, F_SENT)
    mark(np.array([c for c in assigned if unicodedata.category(chr(c))[0] == "P"], dtype=np.int64), F_UPUNCT)
    # the lookbehind class of spaCy's `(?<=[0-9{al}{e}{p}(?:{q})])\.` suffix, taken as spaCy writes it
    dotpre = r"[0-9{al}{e}{p}(?:{q})]".format(al=cc.ALPHA_LOWER, e=r"%²\-\+", q=cc.CONCAT_QUOTES, p=cc.PUNCT)
    mark(_class_chars(dotpre, everything), F_DOTPRE)
    mark(_class_chars(r"\d", everything), F_ND)
    mark("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", F_LINEBREAK)

    singles = lambda items: [re.sub(r"\\(.)", r"\1", x) for x in items if len(re.sub(r"\\(.)", r"\1", x)) == 1]
    punct, quotes = singles(cc.LIST_PUNCT), singles(cc.LIST_QUOTES)
    currency = singles(cc.LIST_CURRENCY)
    mark(["§", "%", "=", "—", "–"] + punct + ["…"] + quotes + currency, F_PRE)
    mark(icons, F_PRE | F_SUF)
    mark(punct + ["…"] + quotes + ["—", "–"], F_SUF)
    mark(currency, F_CUR)

    # multi-character units split off after a digit ("5km" -> "5", "km"); single-char ones too
    units = [u for u in cc.LIST_UNITS if u]
    unit_cps, unit_off = _ragged([u for u in units])

    # writing system of each letter: the first word of its Unicode name ("LATIN", "CJK", "HIRAGANA"), 0 = no letter
    names, script = ["", "LATIN"], np.zeros(_N_CP, dtype=np.int16)
    for c in assigned:
        ch = chr(c)
        if ch.isalpha():
            name = "LATIN" if ch.isascii() else (unicodedata.name(ch, "").split(" ", 1)[0] or "OTHER")
            if name not in names:
                names.append(name)
            script[c] = names.index(name)
    tables = {"flags": flags, "unit_cps": unit_cps, "unit_off": unit_off, "script": script,
              "script_names": np.array(names)}
    for lang in WORD_TOKENIZERS:
        tables.update({f"{lang}_{k}": v for k, v in _special_cases(spacy.blank(lang).tokenizer).items()})
    return tables


def _special_cases(tok) -> dict:
    """A tokenizer's special cases (exact strings it keeps or splits its own way: "don't" -> "do", "n't"),
    as sorted hashes with the lengths of their pieces."""
    keys, lens = [], []
    for key in tok.rules:
        if not key or any(ch.isspace() for ch in key):
            continue
        pieces = [t.text for t in tok(key)]
        if "".join(pieces) != key:
            continue
        keys.append(key)
        lens.append([len(p) for p in pieces])
    order = np.argsort(np.array([_py_hash(k) for k in keys], dtype=np.uint64), kind="stable")
    sp_hash = np.array([_py_hash(keys[i]) for i in order], dtype=np.uint64)
    sp_off = np.zeros(len(order) + 1, dtype=np.int64)
    sp_len = []
    for j, i in enumerate(order):
        sp_len.extend(lens[i])
        sp_off[j + 1] = len(sp_len)
    return {"sp_hash": sp_hash, "sp_off": sp_off, "sp_len": np.array(sp_len, dtype=np.int64),
            "sp_maxlen": np.int64(max(len(k) for k in keys))}


_B = np.uint64(1099511628211)
_H0 = np.uint64(1469598103934665603)


def _py_hash(s: str) -> int:
    """The kernel's string hash (FNV-1a over code points), in Python."""
    h = int(_H0)
    for ch in s:
        h = ((h ^ ord(ch)) * int(_B)) & 0xFFFFFFFFFFFFFFFF
    return h


def _ragged(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    cps = np.array([ord(c) for s in strings for c in s], dtype=np.int64)
    off = np.zeros(len(strings) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(s) for s in strings])
    return cps, off


# ---- parameters and outputs -----------------------------------------------------------------

STATS = (
    "chars",  # code points
    "words",  # all word tokens (punctuation tokens included), datatrove's `len(words)`
    "non_symbol_words",  # words with a character outside datatrove's punctuation set
    "mean_word_length",  # mean length of the non-symbol words
    "alpha_ratio",  # words with an alphabetic character / words
    "stop_words",  # distinct stop words present
    "hash_ratio",  # "#" per word
    "ellipsis_ratio",  # "..." and "…" per word
    "bullet_lines_ratio",  # lines starting with "•" or "-"
    "ellipsis_lines_ratio",  # lines ending with "..." or "…"
    "dup_para_frac",
    "dup_para_char_frac",
    "dup_line_frac",
    "dup_line_char_frac",
    "c4_sentences",  # sentences in the lines C4 keeps
    "line_punct_ratio",  # FineWeb: non-blank lines ending in a stop char
    "short_line_ratio",  # FineWeb: non-blank lines of at most `short_line_length` characters
    "char_dup_ratio",  # FineWeb: characters of repeated non-blank lines / non-newline characters
    "newline_ratio",  # FineWeb: newlines per word
    "lines",  # FineWeb: non-blank lines
)
_COL = {name: i for i, name in enumerate(STATS)}
C4_OK, C4_LOREM, C4_CURLY = 0, 1, 2


@dataclass(frozen=True)
class StatParams:
    """What the statistics depend on besides the text (the rules' non-threshold parameters)."""

    word_tokenizer: str = "en"  # the spaCy language whose tokenizer datatrove uses: "en" or "xx"
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")
    top_n: tuple[int, ...] = (2, 3, 4)
    dup_n: tuple[int, ...] = (5, 6, 7, 8, 9, 10)
    stop_chars: tuple[str, ...] | None = None  # None: datatrove's TERMINAL_PUNCTUATION
    short_line_length: int = 30
    c4: tuple[tuple[str, int], ...] = ()  # C4QualityFilter's line rules (see _C4_KEYS), default where absent
    # datatrove's C4 filter rewrites the text to the lines it keeps, and a FineWeb filter after it reads that
    fineweb_after_c4: bool = False


_C4_KEYS = ("remove_citations", "filter_no_terminal_punct", "min_words_per_line", "max_word_length",
            "filter_lorem_ipsum", "filter_javascript", "filter_curly_bracket", "filter_policy")
_C4_DEFAULTS = dict(remove_citations=True, filter_no_terminal_punct=True, min_words_per_line=3, max_word_length=1000,
                    filter_lorem_ipsum=True, filter_javascript=True, filter_curly_bracket=True, filter_policy=True)
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


@dataclass
class TextStats:
    """Per-document statistics: `values[:, STATS.index(name)]`, `top[:, i]` for `params.top_n[i]`, ..."""

    values: np.ndarray  # float64 [docs, len(STATS)]
    top: np.ndarray  # float64 [docs, len(top_n)]: top n-gram character share (0 when no n-gram)
    dup: np.ndarray  # float64 [docs, len(dup_n)]: duplicated n-gram character share
    c4_drop: np.ndarray  # int8 [docs]: C4_OK, C4_LOREM or C4_CURLY (the first line that ends the document)
    params: StatParams

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[:, _COL[name]]

    def top_share(self, n: int) -> np.ndarray:
        return self.top[:, self.params.top_n.index(n)]

    def dup_share(self, n: int) -> np.ndarray:
        return self.dup[:, self.params.dup_n.index(n)]


def _as_large_string(texts) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts), pa.large_string())
    if pa.types.is_string(texts.type):
        texts = texts.cast(pa.large_string())
    if not pa.types.is_large_string(texts.type):
        raise TypeError(f"expected strings, got {texts.type}")
    return texts.fill_null("") if texts.null_count else texts


def _arrow_buffers(texts) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets with n+1 entries); nulls are empty documents."""
    arr = _as_large_string(texts)
    _, off_buf, data_buf = arr.buffers()
    n = len(arr)
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8).copy()
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def text_stats(texts, params: StatParams = StatParams()) -> TextStats:
    """Statistics of every document of `texts` (an Arrow string array or a list of str)."""
    data, offsets = _arrow_buffers(texts)
    n = len(offsets) - 1
    t = _tables()
    sp = _specials(t, params.word_tokenizer)
    stop_cps, stop_off = _ragged(list(params.stop_words))
    stop_hash = np.array([_py_hash(w) for w in params.stop_words], dtype=np.uint64)
    use_term = params.stop_chars is None
    sc_cps, sc_off = _ragged([] if use_term else list(params.stop_chars))
    c4 = {**_C4_DEFAULTS, **{k: v for k, v in params.c4 if k in _C4_KEYS}}
    c4_arr = np.array([int(c4[k]) for k in _C4_KEYS], dtype=np.int64)
    pol_cps, pol_off = _ragged(list(_POLICY))
    top_n = np.array(params.top_n, dtype=np.int64)
    dup_n = np.array(params.dup_n, dtype=np.int64)
    values = np.full((n, len(STATS)), np.nan, dtype=np.float64)
    top = np.zeros((n, len(top_n)), dtype=np.float64)
    dup = np.zeros((n, len(dup_n)), dtype=np.float64)
    c4_drop = np.zeros(n, dtype=np.int8)
    if n:
        _batch(data, offsets, t["flags"], *sp, t["unit_cps"], t["unit_off"], stop_hash, use_term, sc_cps, sc_off, params.short_line_length,
               params.fineweb_after_c4, c4_arr, pol_cps, pol_off, top_n, dup_n, values, top, dup, c4_drop)
    return TextStats(values, top, dup, c4_drop, params)


# ---- the kernel ---------------------------------------------------------------------------------

_FFFD = 0xFFFD


@nb.njit(cache=True)
def _decode(data, start, end, out):
    """UTF-8 bytes -> code points in `out`; returns the count. Invalid sequences become U+FFFD."""
    i = start
    n = 0
    while i < end:
        b = data[i]
        if b < 0x80:
            out[n] = b
            i += 1
        elif b >= 0xF0 and i + 3 < end:
            out[n] = ((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6) | (data[i + 3] & 0x3F)
            i += 4
        elif b >= 0xE0 and i + 2 < end:
            out[n] = ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
            i += 3
        elif b >= 0xC0 and i + 1 < end:
            out[n] = ((b & 0x1F) << 6) | (data[i + 1] & 0x3F)
            i += 2
        else:
            out[n] = _FFFD
            i += 1
        if out[n] >= 0x110000:
            out[n] = _FFFD
        n += 1
    return n


@nb.njit(cache=True)
def _hash(cps, a, b):
    h = _H0
    for i in range(a, b):
        h = (h ^ np.uint64(cps[i])) * _B
    return h


@nb.njit(cache=True)
def _special(cps, a, b, sp_hash, sp_maxlen):
    """Index of the special case equal to cps[a:b], or -1."""
    if b - a < 1 or b - a > sp_maxlen:
        return -1
    h = _hash(cps, a, b)
    lo, hi = 0, sp_hash.shape[0]  # binary search (np.searchsorted costs more per call here)
    while lo < hi:
        mid = (lo + hi) >> 1
        if sp_hash[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    if lo < sp_hash.shape[0] and sp_hash[lo] == h:
        return lo
    return -1


@nb.njit(cache=True)
def _is_digit(c):
    return 48 <= c <= 57


@nb.njit(cache=True)
def _find_prefix(cps, a, b, flags):
    c = cps[a]
    if flags[c] & F_PRE:
        return 1
    if b - a >= 3 and c == 85 and cps[a + 1] == 83 and cps[a + 2] == 36:  # US$
        return 3
    if b - a >= 2 and (c == 67 or c == 65) and cps[a + 1] == 36:  # C$ A$
        return 2
    if c == 43:  # "+" not before a digit
        return 1 if not (a + 1 < b and _is_digit(cps[a + 1])) else 0
    if c == 46 and a + 1 < b and cps[a + 1] == 46:  # a run of dots
        e = a
        while e < b and cps[e] == 46:
            e += 1
        return e - a
    return 0


@nb.njit(cache=True)
def _find_suffix(cps, a, b, flags, unit_cps, unit_off):
    """Length of spaCy's suffix of cps[a:b] (the match that starts leftmost), or 0."""
    if b <= a:
        return 0
    last = cps[b - 1]
    if last == 46:  # dots: a run of two or more is one suffix
        r = b - 1
        while r > a and cps[r - 1] == 46:
            r -= 1
        if b - r >= 2:
            return b - r
    # candidates of length 1..5 from the left: units after a digit, "'s", then single characters
    lo = b - 5 if b - 5 > a else a
    for p in range(lo, b):
        ln = b - p
        if p > a and _is_digit(cps[p - 1]):
            for u in range(unit_off.shape[0] - 1):
                ul = unit_off[u + 1] - unit_off[u]
                if ul == ln:
                    same = True
                    for k in range(ul):
                        if cps[p + k] != unit_cps[unit_off[u] + k]:
                            same = False
                            break
                    if same:
                        return ln
        if ln == 2 and (cps[p] == 39 or cps[p] == 0x2019) and (cps[p + 1] == 115 or cps[p + 1] == 83):
            return 2
        if ln == 1:
            c = cps[p]
            if flags[c] & F_SUF:
                return 1
            if p > a and _is_digit(cps[p - 1]) and (c == 43 or flags[c] & F_CUR):
                return 1
            if c == 46 and p > a:
                prev = cps[p - 1]
                if flags[prev] & F_DOTPRE:
                    return 1
                if p - 1 > a and flags[prev] & F_UPPER and flags[cps[p - 2]] & F_UPPER:
                    return 1
                if p - 1 > a and cps[p - 2] == 0xB0 and (prev == 70 or prev == 102 or prev == 67 or prev == 99
                                                         or prev == 75 or prev == 107):
                    return 1
    return 0


@nb.njit(cache=True)
def _in_label(c):
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or (0xA1 <= c <= 0xFFFF)


@nb.njit(cache=True)
def _host_from(cps, h, b, flags):
    """spaCy's URL host (dot-separated labels, lowercase TLD of >= 2), optional :port and /path up to b."""
    e = h
    while e < b and cps[e] != 47 and cps[e] != 63 and cps[e] != 35 and cps[e] != 58:
        e += 1
    dots = 0
    ls = h
    for i in range(h, e + 1):
        if i == e or cps[i] == 46:
            if i == ls:
                return False
            if i == e:
                if dots == 0 or i - ls < 2:
                    return False
                for k in range(ls, i):  # the TLD
                    c = cps[k]
                    if not ((97 <= c <= 122) or (c > 127 and flags[c] & F_LOWER)):
                        return False
            else:
                if not (_in_label(cps[ls]) and _in_label(cps[i - 1])):
                    return False
                for k in range(ls, i):
                    c = cps[k]
                    if not (_in_label(c) or c == 95 or c == 45):
                        return False
                dots += 1
            ls = i + 1
    if e == b:
        return True
    if cps[e] == 58:  # :port, then an optional path
        k = e + 1
        while k < b and _is_digit(cps[k]):
            k += 1
        if k - e - 1 < 2 or k - e - 1 > 5:
            return False
        return k == b or cps[k] == 47 or cps[k] == 63 or cps[k] == 35
    return True


@nb.njit(cache=True)
def _url_like(cps, a, b, flags):
    """spaCy's URL_MATCH, less its IP-address branch: [scheme://][user@]host.tld[:port][/path]."""
    dot = False  # every host has one (checked first: most chunks are words)
    for i in range(a, b):
        if cps[i] == 46:
            dot = True
            break
    if not dot:
        return False
    pos = a
    for i in range(a, b - 2):
        c = cps[i]
        if c == 58 and cps[i + 1] == 47 and cps[i + 2] == 47:
            if i - a >= 2:
                pos = i + 3
            break
        if not ((48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c == 43 or c == 45
                or c == 46 or (c > 127 and flags[c] & F_SPALPHA)):
            break
    at = -1
    for i in range(pos, b):
        if cps[i] == 64:
            at = i
    if at > pos and _host_from(cps, at + 1, b, flags):
        return True
    return _host_from(cps, pos, b, flags)


@nb.njit(cache=True)
def _infix_at(cps, a, b, p, flags):
    """End of an infix match starting at p inside cps[a:b], or -1 (alternatives in spaCy's order)."""
    c = cps[p]
    if c == 46 and p + 1 < b and cps[p + 1] == 46:
        e = p
        while e < b and cps[e] == 46:
            e += 1
        return e
    if c == 0x2026 or flags[c] & F_ICON:
        return p + 1
    has_prev = p > a
    prev = cps[p - 1] if has_prev else 0
    nxt = cps[p + 1] if p + 1 < b else 0
    if has_prev and _is_digit(prev) and (c == 43 or c == 45 or c == 42 or c == 94) and p + 1 < b \
            and (_is_digit(nxt) or nxt == 45):
        return p + 1
    if c == 46 and has_prev and p + 1 < b and flags[prev] & (F_LOWER | F_QUOTE) and flags[nxt] & (F_UPPER | F_QUOTE):
        return p + 1
    if c == 44 and has_prev and p + 1 < b and flags[prev] & F_SPALPHA and flags[nxt] & F_SPALPHA:
        return p + 1
    if has_prev and (flags[prev] & F_SPALPHA or _is_digit(prev)):
        # hyphens: "-", "–", "—", "--", "---", "——", "~" (first that is followed by a letter)
        if c == 45:
            for ln in range(1, 4):
                if p + ln <= b and cps[p + ln - 1] == 45:
                    if p + ln < b and flags[cps[p + ln]] & F_SPALPHA:
                        return p + ln
                else:
                    break
        elif c == 0x2013 or c == 0x7E:
            if p + 1 < b and flags[nxt] & F_SPALPHA:
                return p + 1
        elif c == 0x2014:
            if p + 1 < b and flags[nxt] & F_SPALPHA:
                return p + 1
            if p + 2 < b and cps[p + 1] == 0x2014 and flags[cps[p + 2]] & F_SPALPHA:
                return p + 2
        if (c == 58 or c == 60 or c == 62 or c == 61 or c == 47) and p + 1 < b and flags[nxt] & F_SPALPHA:
            return p + 1
    return -1


@nb.njit(cache=True)
def _emit(ts, te, n, s, e):
    ts[n] = s
    te[n] = e
    return n + 1


@nb.njit(cache=True)
def _emit_special(ts, te, n, a, k, sp_off, sp_len):
    p = a
    for j in range(sp_off[k], sp_off[k + 1]):
        n = _emit(ts, te, n, p, p + sp_len[j])
        p += sp_len[j]
    return n


@nb.njit(cache=True)
def _split_chunk(cps, a, b, flags, sp_hash, sp_off, sp_len, sp_maxlen, unit_cps, unit_off, ts, te, n, suf_s, suf_e):
    """spaCy's affix loop on one whitespace-free chunk; appends its tokens at ts/te[n:], returns the new count."""
    k = _special(cps, a, b, sp_hash, sp_maxlen)
    if k >= 0:
        return _emit_special(ts, te, n, a, k, sp_off, sp_len)
    # k is _special of cps[ka:kb]: looked up again only when a or b has moved (most chunks never move)
    ka, kb = a, b
    nsuf = 0
    last = -1
    while a < b and b - a != last:
        if ka != a or kb != b:
            k, ka, kb = _special(cps, a, b, sp_hash, sp_maxlen), a, b
        if k >= 0:
            break
        last = b - a
        pre = _find_prefix(cps, a, b, flags)
        if pre and a + pre < b and _special(cps, a + pre, b, sp_hash, sp_maxlen) >= 0:
            n = _emit(ts, te, n, a, a + pre)
            a += pre
            break
        suf = _find_suffix(cps, a + pre, b, flags, unit_cps, unit_off)
        if suf and b - suf > a and _special(cps, a, b - suf, sp_hash, sp_maxlen) >= 0:
            suf_s[nsuf] = b - suf
            suf_e[nsuf] = b
            nsuf += 1
            b -= suf
            break
        if pre and suf and pre + suf <= b - a:
            n = _emit(ts, te, n, a, a + pre)
            a += pre
            suf_s[nsuf] = b - suf
            suf_e[nsuf] = b
            nsuf += 1
            b -= suf
        elif pre:
            n = _emit(ts, te, n, a, a + pre)
            a += pre
        elif suf:
            suf_s[nsuf] = b - suf
            suf_e[nsuf] = b
            nsuf += 1
            b -= suf
        if a < b:
            if ka != a or kb != b:
                k, ka, kb = _special(cps, a, b, sp_hash, sp_maxlen), a, b
            if k >= 0:
                break
    if a < b:
        if ka != a or kb != b:
            k = _special(cps, a, b, sp_hash, sp_maxlen)
        if k >= 0:
            n = _emit_special(ts, te, n, a, k, sp_off, sp_len)
        elif _url_like(cps, a, b, flags):
            n = _emit(ts, te, n, a, b)
        else:
            start = a
            p = a
            while p < b:
                c = cps[p]
                if (97 <= c <= 122) or (65 <= c <= 90) or (48 <= c <= 57):  # no infix starts at ASCII alnum
                    p += 1
                    continue
                e = _infix_at(cps, a, b, p, flags)
                if e < 0:
                    p += 1
                    continue
                if p != a:  # an infix at the very start stays with what follows (spaCy)
                    if p != start:
                        n = _emit(ts, te, n, start, p)
                    n = _emit(ts, te, n, p, e)
                    start = e
                p = e
            if start < b:
                n = _emit(ts, te, n, start, b)
    for j in range(nsuf - 1, -1, -1):
        n = _emit(ts, te, n, suf_s[j], suf_e[j])
    return n


@nb.njit(cache=True)
def _tokenize(cps, a, b, flags, sp_hash, sp_off, sp_len, sp_maxlen, unit_cps, unit_off, ts, te, suf_s, suf_e):
    """Word tokens of cps[a:b] as (start, end) pairs in ts/te; returns their count."""
    n = 0
    i = a
    while i < b:
        while i < b and flags[cps[i]] & F_SPACE:
            i += 1
        j = i
        while j < b and not (flags[cps[j]] & F_SPACE):
            j += 1
        if j > i:
            n0 = n
            n = _split_chunk(cps, i, j, flags, sp_hash, sp_off, sp_len, sp_maxlen, unit_cps, unit_off,
                             ts, te, n, suf_s, suf_e)
            if n - n0 > 1:
                n = _merge_specials(cps, ts, te, n0, n, sp_hash, sp_off, sp_len, sp_maxlen, suf_s, suf_e)
        i = j
    return n


@nb.njit(cache=True)
def _merge_specials(cps, ts, te, n0, n, sp_hash, sp_off, sp_len, sp_maxlen, tmp_s, tmp_e):
    """spaCy's special-case matcher: adjacent tokens that together spell a special case ("):", "Prof.", "''")
    become that special case's tokens; longest match first, left to right."""
    m = n - n0
    for k in range(m):
        tmp_s[k] = ts[n0 + k]
        tmp_e[k] = te[n0 + k]
    out = n0
    i = 0
    while i < m:
        done = False
        for ln in range(min(6, m - i), 1, -1):
            s, e = tmp_s[i], tmp_e[i + ln - 1]
            if e - s > sp_maxlen:
                continue
            k = _special(cps, s, e, sp_hash, sp_maxlen)
            if k >= 0:
                out = _emit_special(ts, te, out, s, k, sp_off, sp_len)
                i += ln
                done = True
                break
        if not done:
            ts[out] = tmp_s[i]
            te[out] = tmp_e[i]
            out += 1
            i += 1
    return out


# open-addressing hash set/map with generation stamps, reused across documents
@nb.njit(cache=True)
def _slot(keys, stamp, gen, h):
    mask = keys.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    while stamp[i] == gen and keys[i] != h:
        i = (i + 1) & mask
    return i


@nb.njit(cache=True)
def _split_at_newline_runs(cps, a, b, min_run, hs, ls):
    """Pieces of cps[a:b] between runs of >= `min_run` newlines (re.split("\\n{min_run,}")): hash and length of
    each into hs/ls; returns how many."""
    m = 0
    s = a
    i = a
    while i < b:
        if cps[i] == 10:
            j = i
            while j < b and cps[j] == 10:
                j += 1
            if j - i >= min_run:
                hs[m] = _hash(cps, s, i)
                ls[m] = i - s
                m += 1
                s = j
            i = j
        else:
            i += 1
    hs[m] = _hash(cps, s, b)
    ls[m] = b - s
    return m + 1


@nb.njit(cache=True)
def _grow(keys, stamp, vals, vals2, need):
    size = keys.shape[0]
    if size >= 2 * need + 16:
        return keys, stamp, vals, vals2
    while size < 2 * need + 16:
        size *= 2
    return (np.zeros(size, np.uint64), np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros(size, np.int64))


@nb.njit(cache=True)
def _dups(hashes, lens, m, keys, stamp, gen):
    """datatrove's find_duplicates over m elements: (duplicate elements, their characters)."""
    d = 0
    chars = 0
    for i in range(m):
        s = _slot(keys, stamp, gen, hashes[i])
        if stamp[s] == gen:
            d += 1
            chars += lens[i]
        else:
            stamp[s] = gen
            keys[s] = hashes[i]
    return d, chars


@nb.njit(cache=True)
def _ends_with(cps, a, b, pat, pa_, pb):
    ln = pb - pa_
    if b - a < ln:
        return False
    for k in range(ln):
        if cps[b - ln + k] != pat[pa_ + k]:
            return False
    return True


@nb.njit(cache=True)
def _contains_ascii_ci(cps, a, b, pat, pa_, pb):
    """Python's `pat in line.lower()` for an ASCII lowercase pattern (ASCII case folding)."""
    ln = pb - pa_
    for s in range(a, b - ln + 1):
        ok = True
        for k in range(ln):
            c = cps[s + k]
            if 65 <= c <= 90:
                c += 32
            if c != pat[pa_ + k]:
                ok = False
                break
        if ok:
            return True
    return False


_SKIP, _KEEP, _LOREM_DOC, _CURLY_DOC = 0, 1, 2, 3
_LOREM = np.array([ord(c) for c in "lorem ipsum"], dtype=np.int64)
_JS = np.array([ord(c) for c in "javascript"], dtype=np.int64)
_EDIT = np.array([ord(c) for c in "edit]"], dtype=np.int64)
_CITATION = np.array([ord(c) for c in "citation needed]"], dtype=np.int64)


@nb.njit(cache=True)
def _match_at(cps, i, b, pat):
    """len(pat) when cps[i:] starts with pat (within b), else 0."""
    if i + pat.shape[0] > b:
        return 0
    for k in range(pat.shape[0]):
        if cps[i + k] != pat[k]:
            return 0
    return pat.shape[0]


@nb.njit(cache=True)
def _sentences(buf, ts, te, t0, t1, flags):
    """spaCy's sentencizer: a sentence starts at the first token that is not punctuation after one of its
    sentence-final characters."""
    if t1 <= t0:
        return 0
    sents = 1
    seen = False
    for t in range(t0, t1):
        s, e = ts[t], te[t]
        in_punct = e - s == 1 and (flags[buf[s]] & F_SENT) != 0
        is_punct = True
        for k in range(s, e):
            if not (flags[buf[k]] & F_UPUNCT):
                is_punct = False
                break
        if seen and not is_punct and not in_punct:
            sents += 1
            seen = False
        elif in_punct:
            seen = True
    return sents


@nb.njit(cache=True)
def _c4_line(cps, a, b, flags, c4p, pol_cps, pol_off, scratch, sp_hash, sp_off, sp_len, sp_maxlen, unit_cps,
             unit_off, ts, te, suf_s, suf_e, doc_ts, doc_te, doc_nt):
    """One line through C4's rules: (status, sentences, length, words) with status C4_SKIP, C4_KEEP, C4_LOREM or
    C4_CURLY (the last two drop the document). The line as C4 keeps it (stripped, citations removed) is left in
    scratch[:length]."""
    # strip (Python whitespace)
    while a < b and flags[cps[a]] & F_SPACE:
        a += 1
    while b > a and flags[cps[b - 1]] & F_SPACE:
        b -= 1
    # words = line.split(): count and longest
    nwords = 0
    longest = 0
    i = a
    while i < b:
        while i < b and flags[cps[i]] & F_SPACE:
            i += 1
        j = i
        while j < b and not (flags[cps[j]] & F_SPACE):
            j += 1
        if j > i:
            nwords += 1
            if j - i > longest:
                longest = j - i
        i = j
    remove_citations, no_term, min_words, max_word = c4p[0], c4p[1], c4p[2], c4p[3]
    if max_word != -1 and longest > max_word:
        return _SKIP, 0, 0, 0
    # citations removed: \[\d*]|\[edit]|\[citation needed]
    m = 0
    i = a
    while i < b:
        c = cps[i]
        if remove_citations and c == 91:
            j = i + 1
            while j < b and flags[cps[j]] & F_ND:
                j += 1
            if j < b and cps[j] == 93:
                i = j + 1
                continue
            ln = _match_at(cps, i + 1, b, _EDIT)
            if ln == 0:
                ln = _match_at(cps, i + 1, b, _CITATION)
            if ln > 0:
                i = i + 1 + ln
                continue
        scratch[m] = c
        m += 1
        i += 1
    if no_term:
        last = scratch[m - 1] if m > 0 else 0
        term = last == 46 or last == 63 or last == 33 or last == 34 or last == 39
        ell = m >= 3 and scratch[m - 1] == 46 and scratch[m - 2] == 46 and scratch[m - 3] == 46
        if not term or ell:
            return _SKIP, 0, 0, 0
    if nwords < min_words:
        return _SKIP, 0, 0, 0
    if c4p[4] and _contains_ascii_ci(scratch, 0, m, _LOREM, 0, _LOREM.shape[0]):
        return _LOREM_DOC, 0, 0, 0
    if c4p[5] and _contains_ascii_ci(scratch, 0, m, _JS, 0, _JS.shape[0]):
        return _SKIP, 0, 0, 0
    if c4p[6]:
        for k in range(m):
            if scratch[k] == 123:
                return _CURLY_DOC, 0, 0, 0
    if c4p[7]:
        for p in range(pol_off.shape[0] - 1):
            if _contains_ascii_ci(scratch, 0, m, pol_cps, pol_off[p], pol_off[p + 1]):
                return _SKIP, 0, 0, 0
    # sentences: spaCy's sentencizer over the line's tokens; a line C4 left as it was has the document's tokens
    if m == b - a:
        t0 = np.searchsorted(doc_ts[:doc_nt], a)
        t1 = np.searchsorted(doc_ts[:doc_nt], b)
        return _KEEP, _sentences(cps, doc_ts, doc_te, t0, t1, flags), m, t1 - t0
    nt = _tokenize(scratch, 0, m, flags, sp_hash, sp_off, sp_len, sp_maxlen, unit_cps, unit_off, ts, te,
                   suf_s, suf_e)
    return _KEEP, _sentences(scratch, ts, te, 0, nt, flags), m, nt


@nb.njit(cache=True)
def _not_blank(cps, i, j, flags):
    """A line FineWeb counts."""
    for k in range(i, j):
        if not (flags[cps[k]] & F_SPACE):
            return True
    return False


@nb.njit(cache=True)
def _ends_in_stop(cps, i, j, flags, use_term, sc_cps, sc_off):
    if j <= i:
        return 0
    if use_term:
        return 1 if flags[cps[j - 1]] & F_TERM else 0
    for p in range(sc_off.shape[0] - 1):
        if _ends_with(cps, i, j, sc_cps, sc_off[p], sc_off[p + 1]):
            return 1
    return 0


@nb.njit(cache=True)
def _batch(data, offsets, flags, sp_hash, sp_off, sp_len, sp_maxlen, unit_cps, unit_off, stop_hash, use_term,
           sc_cps, sc_off, short_len, fw_on_c4, c4p, pol_cps, pol_off, top_n, dup_n, values, top, dup, c4_drop):
    n_docs = offsets.shape[0] - 1
    maxlen = 1
    for d in range(n_docs):
        if offsets[d + 1] - offsets[d] > maxlen:
            maxlen = offsets[d + 1] - offsets[d]
    cps = np.empty(maxlen + 1, np.int64)
    scratch = np.empty(maxlen + 1, np.int64)
    ts = np.empty(maxlen + 1, np.int64)
    te = np.empty(maxlen + 1, np.int64)
    cts = np.empty(maxlen + 1, np.int64)  # tokens of one C4 line
    cte = np.empty(maxlen + 1, np.int64)
    lts = np.empty(maxlen + 1, np.int64)
    lte = np.empty(maxlen + 1, np.int64)
    suf_s = np.empty(maxlen + 1, np.int64)
    suf_e = np.empty(maxlen + 1, np.int64)
    cum = np.empty(maxlen + 2, np.int64)  # cumulative token lengths
    ph = np.empty(maxlen + 2, np.uint64)  # prefix hash over token hashes
    pc = np.empty(maxlen + 2, np.uint64)  # prefix hash over token characters
    pw = np.empty(maxlen + 2, np.uint64)  # powers of _B
    hs = np.empty(maxlen + 2, np.uint64)
    ls = np.empty(maxlen + 2, np.int64)
    keys = np.zeros(64, np.uint64)
    stamp = np.zeros(64, np.int64)
    cnt = np.zeros(64, np.int64)
    first = np.zeros(64, np.int64)
    gen = 0
    n_stop = stop_hash.shape[0]
    stop_seen = np.zeros(max(n_stop, 1), np.bool_)
    pw[0] = np.uint64(1)
    for i in range(1, maxlen + 2):
        pw[i] = pw[i - 1] * _B
    for d in range(n_docs):
        n = _decode(data, offsets[d], offsets[d + 1], cps)
        v = values[d]
        v[0] = n
        v[1] = 0
        if n == 0:
            continue
        # ---- paragraphs: text.strip() split at runs of >= 2 newlines
        a, b = 0, n
        while a < b and flags[cps[a]] & F_SPACE:
            a += 1
        while b > a and flags[cps[b - 1]] & F_SPACE:
            b -= 1
        m = _split_at_newline_runs(cps, a, b, 2, hs, ls)
        gen += 1
        keys, stamp, cnt, first = _grow(keys, stamp, cnt, first, m)
        dd, dc = _dups(hs, ls, m, keys, stamp, gen)
        v[10] = dd / m
        v[11] = dc / n
        # ---- lines: re.split("\n+", text)
        m = _split_at_newline_runs(cps, 0, n, 1, hs, ls)
        gen += 1
        keys, stamp, cnt, first = _grow(keys, stamp, cnt, first, m)
        dd, dc = _dups(hs, ls, m, keys, stamp, gen)
        v[12] = dd / m
        v[13] = dc / n
        # ---- words
        nt = _tokenize(cps, 0, n, flags, sp_hash, sp_off, sp_len, sp_maxlen, unit_cps, unit_off, ts, te,
                       suf_s, suf_e)
        v[1] = nt
        nonsym = 0
        nonsym_len = 0
        alpha = 0
        for k in range(n_stop):
            stop_seen[k] = False
        cum[0] = 0
        ph[0] = np.uint64(0)
        pc[0] = np.uint64(0)
        for t in range(nt):
            s, e = ts[t], te[t]
            sym = True
            has_alpha = False
            h = _H0
            for k in range(s, e):
                f = flags[cps[k]]
                if not (f & F_DTPUNCT):
                    sym = False
                if f & F_ALPHA:
                    has_alpha = True
                h = (h ^ np.uint64(cps[k])) * _B
            if not sym:
                nonsym += 1
                nonsym_len += e - s
            if has_alpha:
                alpha += 1
            for k in range(n_stop):
                if stop_hash[k] == h:
                    stop_seen[k] = True
            cum[t + 1] = cum[t] + e - s
            ph[t + 1] = ph[t] * np.uint64(0x9E3779B97F4A7C15) + h
        # prefix hash over the concatenated token characters (datatrove joins dup n-grams with "")
        q = 0
        pc[0] = np.uint64(0)
        for t in range(nt):
            for k in range(ts[t], te[t]):
                pc[q + 1] = pc[q] * _B + np.uint64(cps[k])
                q += 1
        v[2] = nonsym
        v[3] = nonsym_len / nonsym if nonsym > 0 else np.nan
        v[4] = alpha / nt if nt > 0 else np.nan
        sw = 0
        for k in range(n_stop):
            if stop_seen[k]:
                sw += 1
        v[5] = sw
        # ---- '#', '...', '…' counts
        hashes = 0
        ell = 0
        i = 0
        while i < n:
            c = cps[i]
            if c == 35:
                hashes += 1
            elif c == 0x2026:
                ell += 1
            elif c == 46:
                j = i
                while j < n and cps[j] == 46:
                    j += 1
                ell += (j - i) // 3
                i = j
                continue
            i += 1
        v[6] = hashes / nt if nt > 0 else np.nan
        v[7] = ell / nt if nt > 0 else np.nan
        # ---- splitlines(): bullets, end ellipsis, C4
        nl = 0
        i = 0
        while i < n:
            j = i
            while j < n and not (flags[cps[j]] & F_LINEBREAK):
                j += 1
            lts[nl] = i
            lte[nl] = j
            nl += 1
            if j < n and cps[j] == 13 and j + 1 < n and cps[j + 1] == 10:
                j += 1
            i = j + 1
        bullets = 0
        ell_lines = 0
        sents = 0
        drop = 0
        # FineWeb's lines: C4's output (kept lines joined by "\n") when C4 runs first, else the text's own
        fw_lines = 0
        fw_punct = 0
        fw_short = 0
        fw_chars = 0
        fw_words = 0
        for ln in range(nl):
            a, b = lts[ln], lte[ln]
            k = a
            while k < b and flags[cps[k]] & F_SPACE:
                k += 1
            if k < b and (cps[k] == 0x2022 or cps[k] == 45):
                bullets += 1
            k = b
            while k > a and flags[cps[k - 1]] & F_SPACE:
                k -= 1
            if k > a and (cps[k - 1] == 0x2026 or (k - a >= 3 and cps[k - 1] == 46 and cps[k - 2] == 46
                                                   and cps[k - 3] == 46)):
                ell_lines += 1
            if drop == 0:
                status, ns, m, nw = _c4_line(cps, a, b, flags, c4p, pol_cps, pol_off, scratch, sp_hash, sp_off,
                                             sp_len, sp_maxlen, unit_cps, unit_off, cts, cte, suf_s, suf_e,
                                             ts, te, nt)
                if status == _LOREM_DOC or status == _CURLY_DOC:
                    drop = C4_LOREM if status == _LOREM_DOC else C4_CURLY
                elif status == _KEEP:
                    sents += ns
                    if fw_on_c4:
                        fw_chars += m
                        fw_words += nw
                        if _not_blank(scratch, 0, m, flags):
                            hs[fw_lines] = _hash(scratch, 0, m)
                            ls[fw_lines] = m
                            fw_lines += 1
                            fw_punct += _ends_in_stop(scratch, 0, m, flags, use_term, sc_cps, sc_off)
                            fw_short += m <= short_len
        v[8] = bullets / nl if nl > 0 else np.nan
        v[9] = ell_lines / nl if nl > 0 else np.nan
        v[14] = sents
        c4_drop[d] = drop
        if fw_on_c4:
            newlines = fw_lines - 1 if fw_lines > 0 else 0
        else:  # text.split("\n"), blank lines dropped
            newlines = 0
            fw_words = nt
            i = 0
            while i <= n:
                j = i
                while j < n and cps[j] != 10:
                    j += 1
                if j < n:
                    newlines += 1
                if _not_blank(cps, i, j, flags):
                    fw_punct += _ends_in_stop(cps, i, j, flags, use_term, sc_cps, sc_off)
                    fw_short += j - i <= short_len
                    hs[fw_lines] = _hash(cps, i, j)
                    ls[fw_lines] = j - i
                    fw_lines += 1
                i = j + 1
            fw_chars = n - newlines
        v[15] = np.nan
        v[16] = np.nan
        v[17] = np.nan
        if fw_lines > 0:
            gen += 1
            keys, stamp, cnt, first = _grow(keys, stamp, cnt, first, fw_lines)
            dd, dc = _dups(hs, ls, fw_lines, keys, stamp, gen)
            v[15] = fw_punct / fw_lines
            v[16] = fw_short / fw_lines
            v[17] = dc / fw_chars if fw_chars > 0 else np.nan
        v[18] = newlines / fw_words if fw_words > 0 else np.nan
        v[19] = fw_lines
        # ---- n-grams
        keys, stamp, cnt, first = _grow(keys, stamp, cnt, first, nt)
        for z in range(top_n.shape[0]):
            g = top_n[z]
            if nt < g:
                continue
            gen += 1
            best_count = 0
            best_first = 0
            mix = _powmix(g)
            for t in range(nt - g + 1):
                h = ph[t + g] - ph[t] * mix
                sl = _slot(keys, stamp, gen, h)
                if stamp[sl] != gen:
                    stamp[sl] = gen
                    keys[sl] = h
                    cnt[sl] = 0
                    first[sl] = t
                cnt[sl] += 1
                if cnt[sl] > best_count or (cnt[sl] == best_count and first[sl] < best_first):
                    best_count = cnt[sl]
                    best_first = first[sl]
            glen = cum[best_first + g] - cum[best_first] + g - 1
            top[d, z] = glen * best_count / n
        for z in range(dup_n.shape[0]):
            g = dup_n[z]
            gen += 1
            rep = 0
            t = 0
            while t < nt - g + 1:
                c0, c1 = cum[t], cum[t + g]
                h = pc[c1] - pc[c0] * pw[c1 - c0]
                h = h ^ (np.uint64(c1 - c0) * np.uint64(0xD6E8FEB86659FD93))
                sl = _slot(keys, stamp, gen, h)
                if stamp[sl] == gen:
                    rep += c1 - c0
                    t += g
                else:
                    stamp[sl] = gen
                    keys[sl] = h
                    t += 1
            dup[d, z] = rep / n
    return 0


@nb.njit(cache=True)
def _powmix(g):
    r = np.uint64(1)
    for _ in range(g):
        r = r * np.uint64(0x9E3779B97F4A7C15)
    return r


def _specials(t: dict, lang: str) -> tuple:
    if lang not in WORD_TOKENIZERS:
        raise ValueError(f"word_tokenizer must be one of {WORD_TOKENIZERS}, got {lang!r}")
    return t[f"{lang}_sp_hash"], t[f"{lang}_sp_off"], t[f"{lang}_sp_len"], int(t[f"{lang}_sp_maxlen"])


def words(text: str, word_tokenizer: str = "en") -> list[str]:
    """The kernel's word tokens of one text (what the word statistics count), for tests and inspection."""
    t = _tables()
    cps = np.array([ord(c) for c in text], dtype=np.int64)
    n = len(cps)
    ts, te, ss, se = (np.empty(n + 1, np.int64) for _ in range(4))
    k = _tokenize(cps, 0, n, t["flags"], *_specials(t, word_tokenizer), t["unit_cps"], t["unit_off"], ts, te, ss, se)
    return [text[ts[i]:te[i]] for i in range(k)]


# ---- content signals for choosing a rule profile ------------------------------------------------

ROUTE_STATS = ("code_symbol_ratio", "code_line_ratio", "code_keyword_lines", "latex_per_word", "math_char_ratio",
               "latex_commands", "dollars", "option_lines", "part_lines")
ROUTE_SAMPLE = 8000  # characters read from the start of each document


@nb.njit(cache=True)
def _is_word_char(c, flags):
    return (flags[c] & (F_ALPHA | F_ND)) != 0 or c == 95 or (48 <= c <= 57)


@nb.njit(cache=True)
def _starts_with(cps, i, b, pat):
    return _match_at(cps, i, b, pat) > 0


_KW = [np.array([ord(c) for c in w], dtype=np.int64) for w in
       ("def ", "class ", "import ", "#include", "function ", "\\begin", "\\end", "\\item", "assert ")]
_KW_DEF, _KW_CLASS, _KW_IMPORT, _KW_INCLUDE, _KW_FUNCTION, _KW_BEGIN, _KW_END, _KW_ITEM, _KW_ASSERT = _KW
_KW_FROM = np.array([ord(c) for c in "from "], dtype=np.int64)
_KW_SPACE_IMPORT = np.array([ord(c) for c in " import"], dtype=np.int64)
_KW_RETURN = np.array([ord(c) for c in "return"], dtype=np.int64)


@nb.njit(cache=True)
def _keyword_line(cps, a, b, flags):
    """A line that starts (after whitespace) with a code keyword: def, class, import, from X import, #include,
    function, return, assert, \\begin, \\end, \\item or @."""
    k = a
    while k < b and flags[cps[k]] & F_SPACE:
        k += 1
    if k >= b:
        return False
    if cps[k] == 64:
        return True
    if (_starts_with(cps, k, b, _KW_DEF) or _starts_with(cps, k, b, _KW_CLASS) or _starts_with(cps, k, b, _KW_IMPORT)
            or _starts_with(cps, k, b, _KW_INCLUDE) or _starts_with(cps, k, b, _KW_FUNCTION)
            or _starts_with(cps, k, b, _KW_BEGIN) or _starts_with(cps, k, b, _KW_END)
            or _starts_with(cps, k, b, _KW_ITEM) or _starts_with(cps, k, b, _KW_ASSERT)):
        return True
    if _starts_with(cps, k, b, _KW_RETURN):
        e = k + 6
        return e >= b or not _is_word_char(cps[e], flags)
    if _starts_with(cps, k, b, _KW_FROM):
        e = k + 5
        while e < b and not (flags[cps[e]] & F_SPACE):
            e += 1
        return e > k + 5 and _starts_with(cps, e, b, _KW_SPACE_IMPORT)
    return False


@nb.njit(cache=True)
def _code_line(cps, a, b, flags):
    """An indented line, one ending in { } ; : ), or a keyword line."""
    k = a
    while k < b and (cps[k] == 32 or cps[k] == 9):
        k += 1
    if k - a >= 2 and k < b and not (flags[cps[k]] & F_SPACE):
        return True
    e = b
    while e > a and flags[cps[e - 1]] & F_SPACE:
        e -= 1
    if e > a:
        c = cps[e - 1]
        if c == 123 or c == 125 or c == 59 or c == 58 or c == 41:
            return True
    return _keyword_line(cps, a, b, flags)


@nb.njit(cache=True)
def _item_line(cps, a, b, flags):
    """An exam item line: 1 for an option ("A." "B)" "C、" "D．"), 2 for a numbered part ("(3)" "（4）"), else 0."""
    k = a
    while k < b and flags[cps[k]] & F_SPACE:
        k += 1
    if k + 1 >= b:
        return 0
    c = cps[k]
    if c == 40 or c == 0xFF08:
        e = k + 1
        while e < b and _is_digit(cps[e]):
            e += 1
        return 2 if e > k + 1 and e < b and (cps[e] == 41 or cps[e] == 0xFF09) else 0
    if 65 <= c <= 72:
        c = cps[k + 1]
        return 1 if c == 46 or c == 41 or c == 0x3001 or c == 0xFF0E or c == 0xFF09 else 0
    return 0
@nb.njit(cache=True)
def _route_batch(data, offsets, flags, out):
    n_docs = offsets.shape[0] - 1
    cps = np.empty(4 * ROUTE_SAMPLE + 4, np.int64)  # decoded from up to 4 bytes per sampled character
    for d in range(n_docs):
        end = min(offsets[d + 1], offsets[d] + 4 * ROUTE_SAMPLE)
        n = min(_decode(data, offsets[d], end, cps), ROUTE_SAMPLE)
        symbols = 0
        maths = 0
        latex = 0
        words = 0
        in_word = False
        for i in range(n):
            c = cps[i]
            if c < 128:
                if c == 123 or c == 125 or c == 91 or c == 93 or c == 40 or c == 41 or c == 59 or c == 61 \
                        or c == 60 or c == 62 or c == 92 or c == 95 or c == 36 or c == 94 or c == 124 or c == 38 \
                        or c == 42 or c == 35 or c == 47 or c == 43:
                    symbols += 1
                if (48 <= c <= 57) or c == 61 or c == 43 or c == 42 or c == 47 or c == 94 or c == 60 or c == 62 \
                        or c == 37 or c == 36:
                    maths += 1
                if c == 92 and i + 1 < n and ((65 <= cps[i + 1] <= 90) or (97 <= cps[i + 1] <= 122)):
                    latex += 1
            space = (flags[c] & F_SPACE) != 0
            if not space and not in_word:
                words += 1
            in_word = not space
        dollars = 0
        for i in range(n):
            if cps[i] == 36:
                dollars += 1
        lines = 0
        code_lines = 0
        keyword_lines = 0
        option_lines = 0
        part_lines = 0
        i = 0
        while i < n:
            j = i
            while j < n and not (flags[cps[j]] & F_LINEBREAK):
                j += 1
            blank = True
            for k in range(i, j):
                if not (flags[cps[k]] & F_SPACE):
                    blank = False
                    break
            if not blank:
                lines += 1
                if _code_line(cps, i, j, flags):
                    code_lines += 1
                if _keyword_line(cps, i, j, flags):
                    keyword_lines += 1
                item = _item_line(cps, i, j, flags)
                if item == 1:
                    option_lines += 1
                elif item == 2:
                    part_lines += 1
            if j < n and cps[j] == 13 and j + 1 < n and cps[j + 1] == 10:
                j += 1
            i = j + 1
        out[d, 0] = symbols / n if n else np.nan
        out[d, 1] = code_lines / lines if lines else np.nan
        out[d, 2] = keyword_lines
        out[d, 3] = latex / max(1, words)
        out[d, 4] = maths / max(1, n)
        out[d, 5] = latex
        out[d, 6] = dollars
        out[d, 7] = option_lines
        out[d, 8] = part_lines
    return 0


def route_stats(texts) -> np.ndarray:
    """[docs, len(ROUTE_STATS)] over each document's first ROUTE_SAMPLE characters: the share of code symbols
    ({}[]();=<>\\_$^|&*#/+), of non-blank lines that are code-shaped (indented, ending in {};:), or starting
    with a keyword), the number of keyword lines, LaTeX commands per whitespace word, the share of
    digits and operators (0-9=+*/^<>%$), LaTeX commands, dollar signs, option lines ("A." "B)" "C、") and
    numbered-part lines ("(2)" "（3）")."""
    data, offsets = _arrow_buffers(texts)
    out = np.full((len(offsets) - 1, len(ROUTE_STATS)), np.nan)
    if len(offsets) > 1:
        _route_batch(data, offsets, _tables()["flags"], out)
    return out


# ---- writing system -------------------------------------------------------------------------------


@nb.njit(cache=True)
def _script_batch(data, offsets, script, n_scripts, limit, out):
    """Per document, over its first `limit` characters: the most frequent writing system of its letters (ties:
    the one seen first), the letters in each of the two given scripts, and all letters."""
    counts = np.zeros(n_scripts, np.int64)
    first = np.zeros(n_scripts, np.int64)
    cps = np.empty(4 * limit + 4, np.int64)
    for d in range(offsets.shape[0] - 1):
        n = min(_decode(data, offsets[d], min(offsets[d + 1], offsets[d] + 4 * limit), cps), limit)
        counts[:] = 0
        seen = 0
        for i in range(n):
            k = script[cps[i]]
            if k > 0:
                if counts[k] == 0:
                    seen += 1
                    first[k] = seen
                counts[k] += 1
        best, total = 0, 0
        for k in range(1, n_scripts):
            total += counts[k]
            if counts[k] > 0 and (best == 0 or counts[k] > counts[best] or (counts[k] == counts[best] and first[k] < first[best])):
                best = k
        out[d, 0] = best
        out[d, 1] = total
        for j in range(2, out.shape[1]):
            out[d, j] = counts[out[d, j]] if out[d, j] > 0 else 0
    return 0


def script_stats(texts, count: tuple[str, ...] = (), limit: int = 2000) -> tuple[np.ndarray, list[str]]:
    """([docs, 2 + len(count)]: dominant script id, letters, letters of each script in `count`), script names.
    The letters of a document are those of its first `limit` characters; ASCII letters are LATIN."""
    t = _tables()
    names = [str(x) for x in t["script_names"]]
    data, offsets = _arrow_buffers(texts)
    out = np.zeros((len(offsets) - 1, 2 + len(count)), dtype=np.int64)
    out[:, 2:] = [names.index(c) if c in names else 0 for c in count]
    if len(offsets) > 1:
        _script_batch(data, offsets, t["script"], len(names), limit, out)
    return out, names
