"""Base vocabularies: load an existing BPE, keep the subset a rule selects.

The reference tokenizer started from o200k's merges, kept its ASCII subset plus basic
multilingual and emoji coverage, removed unwanted Chinese tokens, then learned the rest on
its own corpus. ``load_base`` reads a tiktoken rank file or a byte-level ``tokenizer.json``;
``select_base`` applies keep/drop rules and returns a merge-closed subset.

Rules are comma-separated terms (a token is selected when any term matches); a term is a
name, ``!term`` (negation) or ``term&term`` (all must match):

=================  =====================================================================
``all`` / ``none``  every / no token
``ascii``           every byte < 0x80
``latin``           text is ASCII or Latin script (Latin-1, Latin Extended, diacritics)
``multilingual``    text has no Han, kana, Hangul or Bopomofo character
``emoji``           text has an emoji (Extended_Pictographic / regional indicator) and
                    otherwise only emoji modifiers, joiners, selectors or spaces
``han``             text has a Han character
``cjk``             text has a Han, kana, Hangul, Bopomofo or CJK/fullwidth punctuation char
``digits``          text has a number character (``\\p{N}``)
``symbols``         ASCII with no letter or digit and some punctuation: operators,
                    brackets, indentation before them (``    return`` is not; ``):\\n`` is)
``identifier``      an ASCII identifier piece with an underscore (``_id``, `` __init__``,
                    ``.get_``), optionally after a space or dot
``unreachable``     trivium's pre-tokenizer would split the text into several pieces, so
                    the token can never be produced
``script:NAME``     every letter is of Unicode script NAME (e.g. ``script:Cyrillic``)
``rank<N``          base rank below N (also ``rank<=N``)
``in:FILE``         the token is also a token of the vocabulary FILE (tiktoken rank file
                    or byte-level ``tokenizer.json``; a relative FILE that does not exist
                    is looked up next to the base file): what two independently trained
                    vocabularies agree on, e.g. ``in:cl100k_base.tiktoken&rank<100000``
``len<=N``          at most N bytes (also ``len<N``)
``re:PATTERN``      text fully matches PATTERN (``regex`` syntax; takes the rest of the rule)
=================  =====================================================================

Text rules apply to tokens whose bytes are valid UTF-8; a token that is a fragment of a
multi-byte character matches only ``all``, ``ascii`` (never), ``rank``/``len`` rules and
``re:`` never, and is kept when a kept token is built from it.

``pin`` rules name tokens kept whatever ``max_tokens`` says (e.g. code symbols and
identifiers, which a rank or usage cut made on prose would lose); the limit then fills the
room left after them.

Closure: dropping a token drops every token built from it (its merges could never fire);
keeping a token keeps its two parts, recursively. A token that the pre-tokenizer can never
produce whole (``unreachable``) is never kept for itself, only as a part of a kept token.
Single bytes are always part of the vocabulary and are not counted here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import regex

from .pretokenize import pretokenize_text, regex_pieces, twin_unsafe, unicode_to_bytes


@dataclass(frozen=True)
class BaseVocab:
    """Tokens in rank order (single bytes included) and the part indices of each."""

    name: str
    tokens: tuple[bytes, ...]
    parts: tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True)
class SelectedBase:
    """A merge-closed subset of a base vocabulary (multi-byte tokens only, rank order)."""

    name: str
    tokens: tuple[bytes, ...]
    merges: tuple[tuple[bytes, bytes], ...]  # parts of tokens[i]
    stats: dict
    pinned: frozenset[bytes] = frozenset()  # kept whatever the limit (closed under parts)


def load_base(path: str) -> BaseVocab:
    """Read a tiktoken rank file or a byte-level BPE ``tokenizer.json``."""
    import fsspec

    with fsspec.open(path, "rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"{"):
        return _load_tokenizer_json(path)
    from .tiktoken_loader import load_tiktoken_bpe

    tokens, parts = load_tiktoken_bpe(str(path))
    return BaseVocab(name=str(path), tokens=tokens, parts=parts)


def _load_tokenizer_json(path: str) -> BaseVocab:
    import fsspec

    with fsspec.open(path, "rb") as fh:
        data = json.loads(fh.read())
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"{path}: base tokenizer must be a BPE model, got {model.get('type')!r}")
    table = unicode_to_bytes()

    def to_bytes(sym: str) -> bytes:
        try:
            return bytes(table[c] for c in sym)
        except KeyError as exc:
            raise ValueError(f"{path}: not a byte-level BPE (symbol {sym!r})") from exc

    tokens: list[bytes] = [bytes([b]) for b in range(256)]
    index: dict[bytes, int] = {t: i for i, t in enumerate(tokens)}
    parts: list[tuple[int, int] | None] = [None] * 256
    for m in model.get("merges", []):
        left, right = (m.split(" ", 1) if isinstance(m, str) else m)
        lb, rb = to_bytes(left), to_bytes(right)
        res = lb + rb
        if res in index or lb not in index or rb not in index:
            continue
        index[res] = len(tokens)
        tokens.append(res)
        parts.append((index[lb], index[rb]))
    return BaseVocab(name=str(path), tokens=tuple(tokens), parts=tuple(parts))


# --- rules ---------------------------------------------------------------------------

_CJK_ANY = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Bopomofo}\u3000-\u303f\uff00-\uffef\ufe30-\ufe4f]")
_NOT_MULTI = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Bopomofo}]")
_HAN = regex.compile(r"\p{Han}")
_DIGIT = regex.compile(r"\p{N}")
_LATIN = regex.compile(r"[\x00-\x7f\u00a0-\u024f\u0300-\u036f\u1e00-\u1eff]*")
_EMOJI_CHAR = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")
_SYMBOLS = regex.compile(r"[\x00-\x7f]*[!-/:-@\[-`{-~][\x00-\x7f]*")
_NO_ALNUM = regex.compile(r"[^A-Za-z0-9]*")
_IDENTIFIER = regex.compile(r"[ .]?[A-Za-z0-9_]*_[A-Za-z0-9_]*")
_EMOJI_ONLY = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\p{Emoji_Modifier}\u200d\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f\s]+")


@dataclass(frozen=True)
class _Tok:
    data: bytes
    text: str | None  # None when not valid UTF-8
    rank: int


Predicate = Callable[[_Tok], bool]


def _text_pred(fn: Callable[[str], bool]) -> Predicate:
    return lambda t: t.text is not None and fn(t.text)


def _splits(text: str, digits: int = 1) -> bool:
    unsafe = twin_unsafe()
    if unsafe is None or unsafe.search(text) is not None:
        return len(pretokenize_text(text, digits)) != 1
    return len(regex_pieces(text, digits)) != 1


@lru_cache(maxsize=4)
def _vocab_tokens(path: str) -> frozenset[bytes]:
    """The multi-byte tokens of the vocabulary at ``path`` (``in:FILE`` rules)."""
    return frozenset(t for t in load_base(path).tokens if len(t) >= 2)


def _resolve_vocab(name: str, base_dir: str | None) -> str:
    if os.path.isabs(name) or os.path.exists(name) or "://" in name or not base_dir:
        return name
    beside = os.path.join(base_dir, name)
    return beside if os.path.exists(beside) else name


def _term(term: str, digits: int = 1, base_dir: str | None = None) -> Predicate:
    term = term.strip()
    if not term:
        raise ValueError("empty rule term")
    if term.startswith("!"):
        inner = _term(term[1:], digits, base_dir)
        return lambda t: not inner(t)
    if "&" in term and not term.startswith("re:"):
        preds = [_term(p, digits, base_dir) for p in term.split("&")]
        return lambda t: all(p(t) for p in preds)
    if term == "all":
        return lambda t: True
    if term == "none":
        return lambda t: False
    if term == "ascii":
        return lambda t: t.data.isascii()
    if term == "latin":
        return _text_pred(lambda s: _LATIN.fullmatch(s) is not None)
    if term == "multilingual":
        return _text_pred(lambda s: _NOT_MULTI.search(s) is None)
    if term == "emoji":
        return _text_pred(lambda s: _EMOJI_CHAR.search(s) is not None and _EMOJI_ONLY.fullmatch(s) is not None)
    if term == "han":
        return _text_pred(lambda s: _HAN.search(s) is not None)
    if term == "cjk":
        return _text_pred(lambda s: _CJK_ANY.search(s) is not None)
    if term == "digits":
        return _text_pred(lambda s: _DIGIT.search(s) is not None)
    if term == "symbols":
        return _text_pred(lambda s: _SYMBOLS.fullmatch(s) is not None and _NO_ALNUM.fullmatch(s) is not None)
    if term == "identifier":
        return _text_pred(lambda s: _IDENTIFIER.fullmatch(s) is not None and any(c.isalpha() for c in s))
    if term == "unreachable":
        return _text_pred(lambda s: _splits(s, digits))
    if term.startswith("script:"):
        name = term.split(":", 1)[1]
        letters = regex.compile(r"\p{L}")
        try:
            script = regex.compile(rf"\p{{Script={name}}}")
        except regex.error as exc:
            raise ValueError(f"unknown script in rule {term!r}") from exc
        return _text_pred(lambda s: all(script.match(c) for c in letters.findall(s)))
    m = regex.fullmatch(r"(rank|len)\s*(<=|<|>=|>)\s*(\d+)", term)
    if m:
        what, op, n = m.group(1), m.group(2), int(m.group(3))
        get = (lambda t: t.rank) if what == "rank" else (lambda t: len(t.data))
        ops = {"<": lambda a: a < n, "<=": lambda a: a <= n, ">": lambda a: a > n, ">=": lambda a: a >= n}
        cmp = ops[op]
        return lambda t: cmp(get(t))
    if term.startswith("in:"):
        path = _resolve_vocab(term[3:].strip(), base_dir)
        try:
            other = _vocab_tokens(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"rule {term!r}: cannot read {path} ({exc})") from exc
        return lambda t: t.data in other
    if term.startswith("re:"):
        pat = regex.compile(term[3:])
        return _text_pred(lambda s: pat.fullmatch(s) is not None)
    raise ValueError(f"unknown base-vocabulary rule term {term!r}")


def parse_rule(rule: str | None, digits: int = 1, base_dir: str | None = None) -> Predicate:
    """Compile a rule string (see module doc) into a predicate over tokens (``digits``: the
    pre-tokenizer's digit rule, for ``unreachable``; ``base_dir``: where ``in:FILE`` looks
    for a relative FILE that does not exist as given)."""
    if rule is None or not rule.strip():
        return lambda t: False
    rule = rule.strip()
    terms: list[str] = []
    rest = rule
    while rest:
        if rest.lstrip().startswith("re:") or "," not in rest:
            terms.append(rest)
            break
        head, rest = rest.split(",", 1)
        terms.append(head)
        if rest.lstrip().startswith("re:"):
            terms.append(rest.strip())
            break
    preds = [_term(t, digits, base_dir) for t in terms if t.strip()]
    return lambda t: any(p(t) for p in preds)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def select_base(
    base: BaseVocab,
    keep: str = "ascii",
    drop: str | None = None,
    max_tokens: int | None = None,
    *,
    pin: str | None = None,
    digits: int = 1,
) -> SelectedBase:
    """The merge-closed subset of ``base`` that ``keep``/``drop`` select (multi-byte tokens):
    the kept tokens ``pin`` matches, then the lowest ranks up to ``max_tokens`` in all."""
    base_dir = os.path.dirname(base.name) or None
    keep_p = parse_rule(keep, digits, base_dir)
    drop_p = parse_rule(drop, digits, base_dir)
    pin_p = parse_rule(pin, digits, base_dir)
    unreachable_p = _term("unreachable", digits)
    n = len(base.tokens)
    dropped = [False] * n
    selected = [False] * n
    pinned = [False] * n
    n_rule_drop = n_unreachable = n_no_merge = 0
    for i, data in enumerate(base.tokens):
        if len(data) < 2:
            continue
        parts = base.parts[i]
        if parts is None:
            dropped[i] = True
            n_no_merge += 1
            continue
        tok = _Tok(data=data, text=_decode(data), rank=i)
        if dropped[parts[0]] or dropped[parts[1]]:
            dropped[i] = True
            continue
        if drop_p(tok):
            dropped[i] = True
            n_rule_drop += 1
            continue
        if keep_p(tok):
            # a token the pre-tokenizer can never produce whole is not kept for itself
            # (it may still be kept below as an intermediate part of a kept token)
            if unreachable_p(tok):
                n_unreachable += 1
            else:
                selected[i] = True
                pinned[i] = pin_p(tok)
    # ancestors of kept tokens (they cannot be dropped: a dropped part drops its results)
    for i in range(n - 1, -1, -1):
        for flags in (selected, pinned):
            if flags[i] and base.parts[i] is not None:
                a, b = base.parts[i]
                flags[a] = True
                flags[b] = True
    order = [i for i in range(n) if selected[i] and len(base.tokens[i]) >= 2]
    tokens = tuple(base.tokens[i] for i in order)
    merges = tuple((base.tokens[base.parts[i][0]], base.tokens[base.parts[i][1]]) for i in order)  # type: ignore[index]
    stats = {
        "base": base.name,
        "base_tokens": n,
        "kept": len(tokens),
        "dropped_by_rule": n_rule_drop,
        "skipped_unreachable": n_unreachable,
        "without_merge": n_no_merge,
        "pinned": sum(1 for i in order if pinned[i]),
        "keep": keep,
        "drop": drop,
        "pin": pin,
        "max_tokens": max_tokens,
    }
    full = SelectedBase(name=base.name, tokens=tokens, merges=merges, stats=stats,
                        pinned=frozenset(base.tokens[i] for i in order if pinned[i]))
    return full if max_tokens is None else limit_by_rank(full, max_tokens)


def limit_by_rank(selected: SelectedBase, max_tokens: int) -> SelectedBase:
    """The pinned tokens, then the lowest ranks of the rest, ``max_tokens`` in all (pinned
    ones may exceed it). Parts rank below their results and pinned tokens are closed, so
    the union is merge-closed."""
    if len(selected.tokens) <= max_tokens:
        return selected
    room = max(0, max_tokens - len(selected.pinned))
    keep: list[int] = []
    for i, t in enumerate(selected.tokens):
        if t in selected.pinned:
            keep.append(i)
        elif room > 0:
            keep.append(i)
            room -= 1
    stats = {**selected.stats, "kept": len(keep), "select": "rank", "candidates": len(selected.tokens)}
    return SelectedBase(name=selected.name, tokens=tuple(selected.tokens[i] for i in keep),
                        merges=tuple(selected.merges[i] for i in keep), stats=stats, pinned=selected.pinned)


def prune_by_usage(selected: SelectedBase, usage: dict[bytes, float], max_tokens: int, min_usage: float = 1.0,
                   select: str = "usage") -> SelectedBase:
    """Keep the most used tokens of ``selected`` (and the parts they are built from).

    ``usage[token]`` is how often the token appears when the training pre-tokens are
    segmented with ``selected``'s merges (weighted by their counts). Tokens are taken by
    decreasing usage (ties: lower rank first) while their closure fits in ``max_tokens``;
    tokens used fewer than ``min_usage`` times are not kept for themselves. Pinned tokens
    stay whatever their usage. The result keeps the base's rank order, so it is
    merge-closed like ``selected``.

    ``select="used"`` takes the used tokens in the base's rank order instead (usage only
    decides which tokens are candidates at all): the base's own ordering, learned on far
    more text, ranks them, while tokens the training text never produces (words of other
    languages) give their room to higher ranks.
    """
    parts = dict(zip(selected.tokens, selected.merges))
    rank = {t: i for i, t in enumerate(selected.tokens)}
    kept: set[bytes] = set(selected.pinned)

    def closure(t: bytes) -> list[bytes]:
        out, stack = [], [t]
        while stack:
            x = stack.pop()
            if len(x) < 2 or x in kept or x in out:
                continue
            out.append(x)
            stack.extend(parts[x])
        return out

    if select not in ("usage", "used"):
        raise ValueError(f"unknown selection {select!r}: usage or used")
    used = [t for t in selected.tokens if usage.get(t, 0) >= min_usage]  # rank order
    ranked = used if select == "used" else sorted(used, key=lambda t: (-usage[t], rank[t]))
    for t in ranked:
        if len(kept) >= max_tokens:
            break
        add = closure(t)
        if len(kept) + len(add) <= max_tokens:
            kept.update(add)
    tokens = tuple(t for t in selected.tokens if t in kept)
    stats = dict(selected.stats)
    stats.update({"kept": len(tokens), "select": select, "candidates": len(selected.tokens),
                  "used_candidates": len(used)})
    return SelectedBase(name=selected.name, tokens=tokens, merges=tuple(parts[t] for t in tokens), stats=stats,
                        pinned=selected.pinned)
