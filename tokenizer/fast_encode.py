"""An exact tiktoken twin of a byte-level BPE `tokenizer.json`, for bulk encoding.

tiktoken's Rust core (one regex, then rank-ordered BPE) encodes several times faster than
`tokenizers`, but it is used only where it provably gives the `tokenizers` ids:

- BPE: tiktoken merges the adjacent pair whose concatenation has the lowest rank, `tokenizers` the
  pair listed first in `merges`. With rank(a+b) = 256 + index of merge (a, b) and no two merges
  making the same token (`twin_problem` checks), both take the same steps unless two tokens x, y
  that are not a merge but concatenate to a token become adjacent mid-BPE (tiktoken would join
  them), or a piece that is itself a token is one BPE does not rebuild (tiktoken's whole-piece
  shortcut). Neither can be ruled out from the tables of a `tokenizers`-trained BPE (DeepSeek-V3
  has 'Ġ' + 'the' besides the merge 'Ġt' + 'he'), so the probes below, the tests (a slice of every
  corpus source) and the benchmark compare every id with `tokenizers`.
- Pre-tokenizer: a Sequence of isolated `Split`s then `ByteLevel(use_regex=False)`. The last split
  runs in tiktoken (its gaps, which `tokenizers` keeps and tiktoken would drop, are matched by an
  extra alternative); the earlier ones split the text here with the `regex` module.
- Per document: texts holding a character whose Unicode class (as the patterns use them) differs
  between Oniguruma and the Rust or Python regex engines, a non-special added token (still matched
  with `encode_special_tokens`), or a lone surrogate go to `tokenizers`.

`FastEncoder.build` also encodes a probe set both ways and returns None (with the reason logged)
on any difference; callers then use `tokenizers` alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)

PROBES = (
    "The quick brown fox's 3 jumps: 1234567 times, 3.14159 and 2,718.28; x**2 + y**2 == z**2\n\n",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\r\n\tif x >= 10_000: pass\n",
    "中文分词测试，包括标点。日本語のテキスト、カタカナ。한국어 텍스트입니다! 混合English和中文123个",
    "$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$ and ∑_{i=1}^{n} i = n(n+1)/2 ≥ 0",
    "<tool_call>{\"name\": \"search\", \"arguments\": {\"q\": \"weather\"}}</tool_call>\n<|im_start|>user",
    "emoji 😀👍🏽🇫🇷 👨‍👩‍👧 naïve café résumé Ǆ ǅ ǆ ﬁ ſ K İ ı  \u00a0\u2003 \u200b\ufeff",
    "<|end_of_text|><|begin_of_text|><｜end▁of▁sentence｜><｜begin▁of▁sentence｜><|endoftext|> <s></s>",
    "   leading spaces   and trailing   \n\n\n   \t\t x   ",
    "I'M SHOUTING, you're whispering, they'd've, it'S, DON'T",
    "٣٤٥ ١٢ ⅷ ½ ² 𝟙𝟚 ０１２ 12345678901234567890 0x1F3A 1e-9 -42",
    "Ελληνικά Русский текст العربية עברית हिन्दी ไทย ქართული",
)


def _split_isolated(pattern, pieces: list[str]) -> list[str]:
    """`tokenizers`' Split(behavior="isolated") over every piece: matches and the gaps between them."""
    out: list[str] = []
    for text in pieces:
        pos = 0
        for m in pattern.finditer(text):
            s, e = m.span()
            if e == s:
                continue
            if s > pos:
                out.append(text[pos:s])
            out.append(text[s:e])
            pos = e
        if pos < len(text):
            out.append(text[pos:])
    return out


_CLASS = re.compile(r"\\[pP]\{[^}]+\}|\\[sSdDwW]")


def _classes(patterns: list[str]) -> list[str]:
    found = sorted({m.group(0) for p in patterns for m in _CLASS.finditer(p)})
    return [c.replace("\\P{", "\\p{").replace("\\S", "\\s").replace("\\D", "\\d").replace("\\W", "\\w") for c in found]


def _all_code_points() -> str:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)


def _rust_members(cls: str, text: str) -> set[str]:
    """The characters of `text` that tiktoken's regex engine puts in class `cls`: with only single
    bytes as tokens, encoding keeps exactly the matched characters' bytes."""
    import tiktoken

    enc = tiktoken.Encoding(name=f"class{cls}", pat_str=cls, mergeable_ranks={bytes([b]): b for b in range(256)},
                            special_tokens={})
    return set(bytes(enc.encode_ordinary(text)).decode("utf-8"))


@lru_cache(maxsize=4)
def unsafe_ranges(classes: tuple[str, ...], python_too: bool) -> list[tuple[int, int]]:
    """Code points on which Oniguruma (`tokenizers`) and the Rust regex engine (tiktoken), and the
    `regex` module when `python_too`, disagree about one of `classes`, as inclusive ranges.
    Cached on disk: computing it takes seconds."""
    import regex
    import tiktoken
    import tokenizers

    from .pretokenize import _class_members, cached_ranges

    key = "|".join(classes) + f"|py={python_too}|{tokenizers.__version__}|{tiktoken.__version__}|{regex.__version__}"

    def disagreeing() -> list[int]:
        text = _all_code_points()
        bad: set[str] = set()
        for cls in classes:
            onig, rx = _class_members(cls, text)
            onig_set = {text[i] for i in np.flatnonzero(onig)}
            bad |= onig_set ^ _rust_members(cls, text)
            if python_too:
                bad |= {text[i] for i in np.flatnonzero(onig != rx)}
        return [ord(c) for c in bad]

    return cached_ranges(f"fast-encode-unsafe-v3-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json", disagreeing)


def twin_problem(model: dict) -> str | None:
    """Why tiktoken's BPE would not reproduce this `tokenizers` BPE model, or None when it does."""
    from .pretokenize import bytes_to_unicode

    if model.get("type") != "BPE":
        return f"model type {model.get('type')!r} is not BPE"
    for field in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(field):
            return f"BPE {field} is set"
    if model.get("byte_fallback"):
        return "BPE byte_fallback is set"
    vocab: dict[str, int] = model["vocab"]
    if any(c not in vocab for c in bytes_to_unicode().values()):
        return "the vocabulary lacks some of the 256 byte symbols"
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    made: dict[str, int] = {}
    for i, (a, b) in enumerate(merges):
        if a not in vocab or b not in vocab or a + b not in vocab:
            return f"merge {i} ({a!r}, {b!r}) uses or makes a token outside the vocabulary"
        if a + b in made:
            return f"token {a + b!r} is made by two merges"
        made[a + b] = i
    encodable = set(made) | set(bytes_to_unicode().values())
    if model.get("ignore_merges"):
        extra = [t for t in vocab if t not in encodable]
        if extra:
            return f"ignore_merges with {len(extra)} tokens no merge makes"
    return None


class FastEncoder:
    """Encodes plain text (special-token strings stay text) to the `tokenizers` ids, or says it cannot."""

    def __init__(self, tok, config: dict):
        import regex
        import tiktoken

        from .pretokenize import bytes_to_unicode, symbols_to_bytes

        model = config["model"]
        vocab: dict[str, int] = model["vocab"]
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        # tiktoken ranks: the 256 bytes, then merge i as 256 + i; `lut` maps a rank to the tokenizers id
        ranks = {bytes([b]): b for b in range(256)}
        lut = np.zeros(256 + len(merges), dtype=np.uint32)
        for b, sym in bytes_to_unicode().items():
            lut[b] = vocab[sym]
        for i, (a, b) in enumerate(merges):
            ranks[symbols_to_bytes(a + b)] = 256 + i
            lut[256 + i] = vocab[a + b]
        *earlier, last = _split_patterns(config["pre_tokenizer"])
        self._enc = tiktoken.Encoding(name="trivium-fast", pat_str=last, mergeable_ranks=ranks, special_tokens={})
        self._earlier = [regex.compile(p) for p in earlier]
        self._lut = lut
        self._nbytes = np.zeros(len(lut), dtype=np.int64)
        for b, r in ranks.items():
            self._nbytes[r] = len(b)
        # characters whose class the engines disagree on, and lone surrogates, as one lookup table
        self._unsafe = np.zeros(0x110000, dtype=bool)
        self._unsafe[0xD800:0xE000] = True
        for a, b in unsafe_ranges(tuple(_classes(earlier + [last])), bool(earlier)):
            self._unsafe[a : b + 1] = True
        if "(?i" in "".join(earlier + [last]):
            self._unsafe[[0x130, 0x131, 0x17F, 0x212A]] = True  # case-folding corners of (?i:...)
        self._literals: dict[str, list[str]] = {}  # non-special added tokens by first character
        for t in config.get("added_tokens", []):
            if not t.get("special") and t["content"]:
                self._literals.setdefault(t["content"][0], []).append(t["content"])
        self._hf = tok
        self._cache: dict[str, list[int]] = {}  # short segment -> tiktoken ranks

    @classmethod
    def build(cls, tok, text: str) -> FastEncoder | None:
        """The fast encoder of `tok` (a `tokenizers.Tokenizer` with `encode_special_tokens` on, parsed
        from `text`), or None with the reason logged when it cannot be exact."""
        config = json.loads(text)
        reason = _pipeline_problem(config) or twin_problem(config["model"])
        enc = None
        if reason is None:
            try:
                enc = cls(tok, config)
            except Exception as e:  # noqa: BLE001 - any failure means: use tokenizers
                reason = f"building the tiktoken twin failed: {e}"
        if enc is not None:
            reason = enc.probe_difference(PROBES)
        if reason is not None:
            log.warning("fast encoder off, using tokenizers: %s", reason)
            return None
        return enc

    def probe_difference(self, texts) -> str | None:
        """The first text whose ids differ from `tokenizers`', or None."""
        for t in texts:
            ours = self.encode([t])[0]
            theirs = self._hf.encode(t, add_special_tokens=False).ids
            if ours is not None and ours.tolist() != theirs:
                return f"ids differ from tokenizers on probe {t[:40]!r}"
        return None

    def encode(self, texts: list[str]) -> list[np.ndarray | None]:
        """uint32 ids per text, None where the text must go to `tokenizers`."""
        return [None if self._needs_tokenizers(t) else self._encode_one(t) for t in texts]

    def _needs_tokenizers(self, text: str) -> bool:
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if self._unsafe[points].any():
            return True
        return any(c in text and any(lit in text for lit in lits) for c, lits in self._literals.items())

    def _encode_one(self, text: str) -> np.ndarray | None:
        segments = [text]
        for p in self._earlier:
            segments = _split_isolated(p, segments)
        if len(segments) == 1:
            ranks = self._segment(text)
        else:
            cache, segment = self._cache, self._segment
            ranks = []
            for seg in segments:
                r = cache.get(seg)
                if r is None:
                    r = segment(seg)
                    if len(seg) <= 32:  # digits, CJK runs, short words: the same few recur
                        if len(cache) >= 100_000:
                            cache.clear()
                        cache[seg] = r
                ranks.extend(r)
        arr = np.array(ranks, dtype=np.int64)
        # a gap the last split leaves inside a segment is dropped by tiktoken: the byte count shows it
        if int(self._nbytes[arr].sum()) != len(text.encode("utf-8")):
            return None
        return self._lut[arr]

    def _segment(self, seg: str) -> list[int]:
        ranks = self._enc.encode_ordinary(seg)
        if not ranks and seg:  # no match at all: `tokenizers` keeps the whole segment as one piece
            ranks = self._enc._encode_single_piece(seg.encode("utf-8"))
        return ranks


def _split_patterns(pre: dict | None) -> list[str]:
    steps = pre.get("pretokenizers", []) if pre and pre.get("type") == "Sequence" else [pre]
    return [s["pattern"]["Regex"] for s in steps[:-1]]


def _pipeline_problem(config: dict) -> str | None:
    """Why the pipeline around the model is not one tiktoken can run, or None."""
    norm = config.get("normalizer")
    if norm is not None and not (norm.get("type") == "Sequence" and not norm.get("normalizers")):
        return "the tokenizer has a normalizer"
    pre = config.get("pre_tokenizer")
    steps = pre.get("pretokenizers", []) if pre and pre.get("type") == "Sequence" else [pre]
    if not steps or steps[-1] is None or steps[-1].get("type") != "ByteLevel" or steps[-1].get("use_regex", True):
        return "the pre-tokenizer does not end in ByteLevel(use_regex=False)"
    if steps[-1].get("add_prefix_space"):
        return "ByteLevel add_prefix_space is set"
    splits = steps[:-1]
    if not splits:
        return "no Split pattern before ByteLevel"
    for s in splits:
        if s.get("type") != "Split" or s.get("behavior") != "Isolated" or s.get("invert") or "Regex" not in s.get("pattern", {}):
            return f"pre-tokenizer step {s.get('type')} is not an isolated regex Split"
    return None
