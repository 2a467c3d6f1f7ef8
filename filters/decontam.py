"""Decontamination: find documents that contain benchmark test items, by shared long n-grams.

Tokens are lower-cased NFKC words (runs of letters/digits; punctuation and whitespace separate
them) and single CJK characters. Each benchmark becomes a hashed n-gram index: the 64-bit
xxhash of every n-gram of every item, sorted, with the item and position it came from — a
document is then checked with one vectorised `searchsorted`, never a loop over pairs.

A document is contaminated by an item when the item's tokens covered by n-grams that also occur
in the document reach `min_coverage` of the item (the Llama 2 report calls a sample "dirty" at
80% token coverage); `min_coverage: 0` is the classic rule (GPT-3): any shared n-gram. Items
shorter than n tokens are matched whole when they have at least `min_tokens` tokens.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import xxhash
from pydantic import BaseModel, Field

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_MUL = np.uint64(0x9E3779B97F4A7C15)


def tokens(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def token_hashes(text: str) -> np.ndarray:
    return np.fromiter((xxhash.xxh64_intdigest(t) for t in tokens(text)), dtype=np.uint64)


def ngram_hashes(th: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of `n` consecutive token hashes (polynomial, wrapping uint64 arithmetic)."""
    m = len(th) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    acc = th[:m].copy()
    with np.errstate(over="ignore"):
        for i in range(1, n):
            acc = acc * _MUL + th[i : i + m]
    return acc


class BenchmarkSpec(BaseModel):
    path: str = Field(..., description="JSONL(.gz) / Parquet / plain text (one item per line) file of test items")
    field: str | None = Field(None, description="record field holding the item text (dotted for nested); default text")
    where: dict[str, str] = Field(default_factory=dict, description="keep records whose dotted field equals the value")
    split_on: str | None = Field(None, description="keep only the part of the field before this separator")


class DecontamConfig(BaseModel):
    benchmarks: dict[str, BenchmarkSpec] = Field(default_factory=dict, description="{name: test-set file}")
    ngram: int = Field(13, ge=3, le=64, description="n-gram length in tokens (CJK: characters)")
    min_coverage: float = Field(0.8, ge=0, le=1, description="share of an item's tokens that must be covered; 0 = any")
    min_tokens: int = Field(8, ge=1, description="shorter items are ignored (too generic to mean contamination)")


def _dotted(obj, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def benchmark_items(spec: BenchmarkSpec) -> list[str]:
    """The test items of one benchmark file."""
    from trivium.filters.fasttext_text import read_records

    lower = spec.path.lower()
    if not lower.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson", ".jsonl.zst", ".parquet", ".json")):
        with open(spec.path, encoding="utf-8") as f:
            items = [line.strip() for line in f if line.strip()]
    else:
        if lower.endswith(".json"):
            with open(spec.path, encoding="utf-8") as f:
                data = json.load(f)
            rows = data if isinstance(data, list) else [data]
        else:
            rows = read_records(spec.path)
        items = []
        for r in rows:
            if any(str(_dotted(r, k)) != v for k, v in spec.where.items()):
                continue
            value = _dotted(r, spec.field or "text")
            if isinstance(value, str) and value.strip():
                items.append(value)
    if spec.split_on:
        items = [i.split(spec.split_on, 1)[0] for i in items]
    return items


@dataclass
class NgramIndex:
    """Hashed n-grams of one benchmark, by n-gram length: sorted hashes with their item and position."""

    name: str
    n: int
    lengths: np.ndarray  # tokens per item
    tables: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # length -> (hashes, item, pos), sorted by hash
    skipped: int = 0

    @classmethod
    def build(cls, name: str, items: list[str], n: int, min_tokens: int) -> NgramIndex:
        per_len: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        lengths, skipped = [], 0
        for item_id, item in enumerate(items):
            th = token_hashes(item)
            lengths.append(len(th))
            if len(th) < min_tokens:
                skipped += 1
                continue
            k = min(n, len(th))
            h = ngram_hashes(th, k)
            per_len.setdefault(k, []).append(
                (h, np.full(len(h), item_id, np.int32), np.arange(len(h), dtype=np.int32))
            )
        tables = {}
        for k, parts in per_len.items():
            h = np.concatenate([p[0] for p in parts])
            it = np.concatenate([p[1] for p in parts])
            pos = np.concatenate([p[2] for p in parts])
            order = np.argsort(h, kind="stable")
            tables[k] = (h[order], it[order], pos[order])
        return cls(name, n, np.array(lengths, dtype=np.int32), tables, skipped)

    @property
    def n_items(self) -> int:
        return len(self.lengths)

    @property
    def n_ngrams(self) -> int:
        return sum(len(t[0]) for t in self.tables.values())

    def best_coverage(self, th: np.ndarray, grams_by_k: dict | None = None) -> tuple[float, int]:
        """(highest share of an item's tokens covered by n-grams found in the document, that item) or (0, -1).

        `grams_by_k` caches the document's n-gram hashes per length across indexes."""
        best, best_item = 0.0, -1
        grams_by_k = {} if grams_by_k is None else grams_by_k
        for k, (h, items, pos) in self.tables.items():
            if k not in grams_by_k:
                grams_by_k[k] = ngram_hashes(th, k)
            grams = grams_by_k[k]
            if not len(grams) or not len(h):
                continue
            at = np.searchsorted(h, grams)  # most documents share no n-gram with a test set: one lookup says so
            if not (h[np.minimum(at, len(h) - 1)] == grams).any():
                continue
            grams = np.unique(grams)
            lo = np.searchsorted(h, grams, "left")
            hi = np.searchsorted(h, grams, "right")
            hit = hi > lo
            if not hit.any():
                continue
            idx = np.concatenate([np.arange(a, b) for a, b in zip(lo[hit], hi[hit])])
            hit_items, hit_pos = items[idx], pos[idx]
            for item in np.unique(hit_items):
                starts = hit_pos[hit_items == item]
                length = int(self.lengths[item])
                covered = np.zeros(length, dtype=bool)
                for s in starts:
                    covered[s : s + k] = True
                share = covered.sum() / length
                if share > best:
                    best, best_item = float(share), int(item)
        return best, best_item


class Decontaminator:
    """`judge(texts) -> [(reason or None, coverage)]`; indexes built once, on the driver, and shipped to tasks."""

    def __init__(self, config: DecontamConfig):
        self.config = config
        self.indexes = []
        for name in sorted(config.benchmarks):
            spec = config.benchmarks[name]
            if not os.path.exists(spec.path):
                raise FileNotFoundError(f"decontam.benchmarks.{name}.path: {spec.path!r} does not exist")
            items = benchmark_items(spec)
            if not items:
                raise ValueError(f"decontam.benchmarks.{name}: no items read from {spec.path!r} (check field/where)")
            self.indexes.append(NgramIndex.build(name, items, config.ngram, config.min_tokens))

    def stats(self) -> dict[str, dict[str, int]]:
        return {ix.name: {"items": ix.n_items, "ngrams": ix.n_ngrams, "skipped_short": ix.skipped} for ix in self.indexes}

    def judge_one(self, text: str | None) -> tuple[str | None, float]:
        if not text:
            return None, 0.0
        th = token_hashes(text)
        threshold = self.config.min_coverage
        grams_by_k: dict = {}
        for ix in self.indexes:
            share, _ = ix.best_coverage(th, grams_by_k)
            if share > 0 and share >= threshold:
                return f"contaminated:{ix.name}", round(share, 4)
        return None, 0.0

    def judge(self, texts: list[str | None]) -> list[tuple[str | None, float]]:
        return [self.judge_one(t) for t in texts]


def document_text(text: str | None, messages: str | None) -> str | None:
    """What decontamination reads: the text, or every string of a conversation (contents and arguments)."""
    if text is not None or not messages:
        return text
    try:
        msgs = json.loads(messages)
    except (json.JSONDecodeError, TypeError):
        return None
    parts: list[str] = []

    def walk(v):
        if isinstance(v, str):
            parts.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(msgs)
    return "\n".join(parts)
