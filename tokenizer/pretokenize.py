"""Youtu-style pre-tokenization (two regex splits, then byte-level mapping).

The two patterns are the ones llama.cpp publishes as its ``youtu`` pre-tokenizer:

1. CJK and related runs isolated (Hangul, CJK punctuation, Bopomofo, Han + kana);
2. the o200k (GPT-4o) pattern with numbers split into single digits (``\\p{N}``
   instead of ``\\p{N}{1,3}``).

``digits=3`` swaps stage 2 for o200k's own grouping (``\\p{N}{1,3}``), for builders who
prefer fewer tokens on numbers to the published single-digit rule; every function that
splits text takes the same ``digits`` argument (1, the published rule, by default).

Both are applied by ``tokenizers``' ``Split(..., "isolated")`` (Oniguruma regexes), then
``ByteLevel(add_prefix_space=False, use_regex=False)`` maps every UTF-8 byte to one of
256 printable characters (GPT-2's byte-to-unicode table), so the BPE alphabet is exactly
the 256 byte symbols and every byte sequence is encodable and decodable.

``pretokenize_words`` returns the byte-level pre-token strings that the BPE trainers count;
the same function runs on the driver (direct path) and inside Spark tasks (counting path).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from tokenizers import Regex, pre_tokenizers

#: Stage 1: CJK and related runs, isolated (llama.cpp ``youtu``, verbatim).
CJK_PATTERN = (
    "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+"
)

#: Stage 2: o200k's pattern (tiktoken ``o200k_base``) with single-digit numbers.
O200K_SINGLE_DIGIT_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

#: The original o200k pattern (for baselines read from tiktoken files).
O200K_PATTERN = O200K_SINGLE_DIGIT_PATTERN.replace(r"|\p{N}|", r"|\p{N}{1,3}|", 1)

#: cl100k's pattern (cl100k_base and Llama 3).
CL100K_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: Qwen's pattern (cl100k-like with single digits), from the reference README.
QWEN_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


DIGIT_RULES = (1, 3)


def word_pattern(digits: int = 1) -> str:
    """Stage 2's pattern: single digits (1, the published rule) or o200k's groups of 3."""
    if digits not in DIGIT_RULES:
        raise ValueError(f"digits must be 1 or 3, got {digits!r}")
    return O200K_SINGLE_DIGIT_PATTERN if digits == 1 else O200K_PATTERN


def build_pre_tokenizer(digits: int = 1) -> pre_tokenizers.PreTokenizer:
    """The Youtu pre-tokenizer as a ``tokenizers`` pre-tokenizer Sequence."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CJK_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.Split(Regex(word_pattern(digits)), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def build_split_pre_tokenizer(pattern: str) -> pre_tokenizers.PreTokenizer:
    """One regex split followed by byte-level mapping (for tiktoken-style baselines)."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


@lru_cache(maxsize=2)
def _cached_pre_tokenizer(digits: int = 1) -> pre_tokenizers.PreTokenizer:
    return build_pre_tokenizer(digits)


def pretokenize_words(text: str, digits: int = 1) -> list[str]:
    """Byte-level pre-token strings of ``text`` (no special-token handling)."""
    return [w for w, _ in _cached_pre_tokenizer(digits).pre_tokenize_str(text)]


def pretokenize_text(text: str, digits: int = 1) -> list[str]:
    """The pre-token pieces of ``text`` as plain (unmapped) Unicode strings."""
    return [bytes_to_text(w) for w in pretokenize_words(text, digits)]


class PretokenCounter:
    """Accumulates byte-level pre-token counts over many texts.

    Texts are split with ``regex_pieces`` (the same pieces, about twice as fast) unless
    they hold a character on which the ``regex`` module and ``tokenizers``' Oniguruma
    disagree about a Unicode class (they follow different Unicode versions: see
    ``twin_ranges``); those go through the ``tokenizers`` pre-tokenizer itself. Pieces are
    counted as Unicode strings and mapped to byte-level symbols once each, in ``result``.
    """

    def __init__(self, digits: int = 1) -> None:
        self.digits = digits
        self._pt = _cached_pre_tokenizer(digits)
        self._unsafe = twin_unsafe()
        self._pieces: Counter = Counter()  # Unicode pieces (fast path)
        self._words: Counter = Counter()  # byte-level words (tokenizers path)

    def add(self, text: str, weight: int = 1) -> None:
        if not text:
            return
        if self._unsafe is not None and self._unsafe.search(text) is None:
            words = regex_pieces(text, self.digits)
            target = self._pieces
        else:
            words = [w for w, _ in self._pt.pre_tokenize_str(text)]
            target = self._words
        if weight == 1:
            target.update(words)
        else:
            for w, c in Counter(words).items():
                target[w] += c * weight

    def __len__(self) -> int:
        """Distinct entries held (an upper bound on distinct pre-tokens)."""
        return len(self._pieces) + len(self._words)

    def result(self, into: Counter | None = None) -> Counter:
        counts: Counter = into if into is not None else Counter()
        counts.update(self._words)
        for p, c in self._pieces.items():
            counts[bytes_to_symbols(p.encode("utf-8"))] += c
        self._pieces = Counter()
        self._words = Counter()
        return counts


def count_words(texts: Iterable[str], weight: int = 1, into: Counter | None = None, digits: int = 1) -> Counter:
    """Count byte-level pre-tokens of ``texts`` (each occurrence counts ``weight``)."""
    counter = PretokenCounter(digits)
    for text in texts:
        counter.add(text, weight)
    return counter.result(into)


# --- GPT-2 byte <-> unicode table (the ByteLevel alphabet) -----------------------------


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by ByteLevel."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


@lru_cache(maxsize=1)
def _byte_translate_table() -> dict[int, str]:
    # latin-1 decoded bytes -> byte-level symbols, for str.translate
    return {b: c for b, c in bytes_to_unicode().items()}


def bytes_to_symbols(data: bytes) -> str:
    """Raw bytes -> byte-level symbol string (one symbol per byte)."""
    return data.decode("latin-1").translate(_byte_translate_table())


def symbols_to_bytes(symbols: str) -> bytes:
    """Byte-level symbol string -> raw bytes."""
    table = unicode_to_bytes()
    return bytes(table[c] for c in symbols)


def bytes_to_text(symbols: str) -> str:
    """Byte-level symbols -> text (invalid UTF-8 replaced)."""
    return symbols_to_bytes(symbols).decode("utf-8", errors="replace")


# --- a fast pure-regex twin, for bulk checks on short strings ----------------------------


@lru_cache(maxsize=2)
def _regex_twins(digits: int = 1):
    import regex

    return regex.compile(CJK_PATTERN), regex.compile(word_pattern(digits))


def regex_pieces(text: str, digits: int = 1) -> list[str]:
    """The same pieces as ``pretokenize_text`` computed with the ``regex`` module.

    Both stages apply to every piece (stage 2 also re-splits the CJK runs), as
    ``tokenizers``' pre-tokenizer Sequence does. Used where millions of short strings are
    checked (base-vocabulary reachability); the tests compare it with the real one.
    """
    cjk, o2 = _regex_twins(digits)
    out: list[str] = []
    pos = 0
    for m in cjk.finditer(text):
        s, e = m.span()
        if s > pos:
            out.extend(o2.findall(text, pos, s))
        out.extend(o2.findall(text, s, e))
        pos = e
    if pos < len(text):
        out.extend(o2.findall(text, pos))
    return out


def _class_members(pattern: str, text: str):
    """Boolean array: which characters of ``text`` the single-character class matches,
    according to Oniguruma (through ``tokenizers``) and according to ``regex``."""
    import numpy as np
    import regex

    onig = np.ones(len(text), dtype=bool)
    split = pre_tokenizers.Split(Regex(pattern), behavior="removed")
    for _, (a, b) in split.pre_tokenize_str(text):  # the pieces left are the non-members
        onig[a:b] = False
    rx = np.zeros(len(text), dtype=bool)
    idx = [m.start() for m in regex.finditer(pattern, text)]
    rx[idx] = True
    return onig, rx


_TWIN_CLASSES = (r"\p{L}", r"\p{Lu}", r"\p{Lt}", r"\p{Lm}", r"\p{Lo}", r"\p{Ll}", r"\p{M}", r"\p{N}", r"\s")


_TWIN_RANGES_OVERRIDE: list[tuple[int, int]] | None = None


def install_twin_ranges(ranges: list[tuple[int, int]] | None) -> None:
    """Use ``ranges`` (from ``twin_ranges()`` on another machine, e.g. the Spark driver)
    instead of computing them here."""
    global _TWIN_RANGES_OVERRIDE
    _TWIN_RANGES_OVERRIDE = None if ranges is None else [tuple(r) for r in ranges]
    twin_ranges.cache_clear()
    twin_unsafe.cache_clear()


@lru_cache(maxsize=1)
def twin_ranges() -> list[tuple[int, int]] | None:
    """Code-point ranges whose Unicode classes (those the patterns use) differ between
    ``regex`` and ``tokenizers``' Oniguruma (they follow different Unicode versions), or
    None when they cannot be computed. Computed once (seconds) and cached on disk."""
    import numpy as np
    import regex
    import tokenizers

    if _TWIN_RANGES_OVERRIDE is not None:
        return list(_TWIN_RANGES_OVERRIDE)

    def disagreeing() -> list[int]:
        cps = np.array([c for c in range(0x110000) if not 0xD800 <= c < 0xE000], dtype=np.int64)
        text = "".join(map(chr, cps.tolist()))
        bad = np.zeros(len(cps), dtype=bool)
        for cls in _TWIN_CLASSES:
            onig, rx = _class_members(cls, text)
            bad |= onig != rx
        return cps[bad].tolist()

    try:
        return cached_ranges(f"pretok-twin-{tokenizers.__version__}-{regex.__version__}.json", disagreeing)
    except Exception:  # pragma: no cover - never let the fast path break counting
        return None


def cached_ranges(name: str, code_points) -> list[tuple[int, int]]:
    """Inclusive ranges of the code points `code_points()` returns, cached on disk under `name` (computing
    them takes seconds; the cache is written atomically, and a failed write only costs the next process)."""
    import json
    import os

    from .tiktoken_loader import _cache_dir

    cache = os.path.join(_cache_dir(), name)
    try:
        with open(cache, encoding="utf-8") as fh:
            return [tuple(r) for r in json.load(fh)]
    except (OSError, ValueError):
        pass
    ranges: list[tuple[int, int]] = []
    for c in sorted(code_points()):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(ranges, fh)
        os.replace(tmp, cache)
    except OSError:
        pass
    return ranges


@lru_cache(maxsize=1)
def twin_unsafe():
    """A compiled ``regex`` class of the code points in ``twin_ranges()`` (texts holding
    one are pre-tokenized by ``tokenizers`` itself), or None to always use ``tokenizers``."""
    import regex

    ranges = twin_ranges()
    if ranges is None:
        return None
    if not ranges:
        return regex.compile(r"(?!)")
    body = "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return regex.compile(f"[{body}]")
