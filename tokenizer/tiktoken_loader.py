"""Read tiktoken rank files offline, recover their merges, build ``tokenizers`` objects.

A tiktoken file lists ``base64(token bytes) rank`` per line; the split pattern is not in
the file (see ``pattern_for``). BPE merges are recovered the standard way: a token's two
parts are what byte-level BPE gives when only merges of lower rank are allowed.
"""

from __future__ import annotations

import base64
import os

from tokenizers import Tokenizer, decoders, models

from .pretokenize import (
    CL100K_PATTERN,
    O200K_PATTERN,
    QWEN_PATTERN,
    build_split_pre_tokenizer,
    bytes_to_symbols,
)


def load_tiktoken_ranks(path: str) -> dict[bytes, int]:
    """``{token bytes: rank}`` from a tiktoken rank file (local path or fsspec URL)."""
    import fsspec

    ranks: dict[bytes, int] = {}
    with fsspec.open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'base64 rank', got {line[:60]!r}")
            ranks[base64.b64decode(parts[0])] = int(parts[1])
    return ranks


def pattern_for(path: str) -> str:
    """The split pattern that goes with a known rank file (by file name)."""
    name = os.path.basename(str(path)).lower()
    if "o200k" in name:
        return O200K_PATTERN
    if "qwen" in name:
        return QWEN_PATTERN
    return CL100K_PATTERN  # cl100k_base, llama3 and most tiktoken files


def _bpe_parts(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    parts = [token[i : i + 1] for i in range(len(token))]
    while True:
        best_i = -1
        best_r = max_rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_r:
                best_r = r
                best_i = i
        if best_i < 0:
            return parts
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]


def recover_merges(ranks: dict[bytes, int]) -> dict[bytes, tuple[bytes, bytes]]:
    """``{token: (left, right)}`` for every multi-byte token BPE can build from lower ranks.

    Tokens for which lower-rank BPE does not end in exactly two parts are unreachable by
    BPE and get no entry.
    """
    out: dict[bytes, tuple[bytes, bytes]] = {}
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        # cheap filter: some split into two lower-rank tokens must exist
        if not any(
            (rl := ranks.get(token[:k])) is not None and rl < rank
            and (rr := ranks.get(token[k:])) is not None and rr < rank
            for k in range(1, len(token))
        ):
            continue
        parts = _bpe_parts(ranks, token, rank)
        if len(parts) == 2:
            out[token] = (parts[0], parts[1])
    return out


def _cache_dir() -> str:
    base = os.environ.get("TRIVIUM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "trivium")
    return base


def load_tiktoken_bpe(path: str) -> tuple[tuple[bytes, ...], tuple[tuple[int, int] | None, ...]]:
    """Tokens in rank order and, per token, the indices of its two parts (or None).

    Recovering ~200K merges takes seconds, so the result is cached on disk (keyed by the
    file's SHA-256, under ``$TRIVIUM_CACHE`` or ``~/.cache/trivium``); a cache that cannot be
    written is simply skipped.
    """
    import hashlib

    import fsspec
    import numpy as np

    with fsspec.open(path, "rb") as fh:
        raw = fh.read()
    digest = hashlib.sha256(raw).hexdigest()[:32]
    ranks = load_tiktoken_ranks(path)
    tokens = sorted(ranks, key=ranks.__getitem__)
    cache = os.path.join(_cache_dir(), f"tiktoken-merges-{digest}.npy")
    table = None
    try:
        table = np.load(cache)
        if table.shape != (len(tokens), 2):
            table = None
    except (OSError, ValueError):
        table = None
    if table is None:
        index = {t: i for i, t in enumerate(tokens)}
        merges = recover_merges(ranks)
        table = np.full((len(tokens), 2), -1, dtype=np.int32)
        for t, (a, b) in merges.items():
            table[index[t]] = (index[a], index[b])
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            tmp = f"{cache}.{os.getpid()}.tmp.npy"
            np.save(tmp, table)
            os.replace(tmp, cache)
        except OSError:
            pass
    parts = tuple(None if a < 0 else (int(a), int(b)) for a, b in table.tolist())
    return tuple(tokens), parts


def tiktoken_to_tokenizer(path: str, pattern: str | None = None) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` equivalent to the tiktoken encoding (ids = ranks)."""
    ranks = load_tiktoken_ranks(path)
    merges = recover_merges(ranks)
    vocab = {bytes_to_symbols(t): r for t, r in ranks.items()}
    ordered = sorted(merges.items(), key=lambda kv: ranks[kv[0]])
    merge_list = [(bytes_to_symbols(a), bytes_to_symbols(b)) for _, (a, b) in ordered]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merge_list, ignore_merges=True))
    tok.pre_tokenizer = build_split_pre_tokenizer(pattern or pattern_for(path))
    tok.decoder = decoders.ByteLevel()
    return tok


def tiktoken_encoding(path: str, pattern: str | None = None, name: str | None = None):
    """A ``tiktoken.Encoding`` built offline from a local rank file (no download)."""
    import tiktoken

    ranks = load_tiktoken_ranks(path)
    return tiktoken.Encoding(
        name=name or os.path.basename(str(path)),
        pat_str=pattern or pattern_for(path),
        mergeable_ranks=ranks,
        special_tokens={},
    )
