"""Compression and round-trip evaluation of tokenizers per bucket and source.

A tokenizer to evaluate is an exported trivium directory, any ``tokenizer.json`` or a
tiktoken rank file (encoded with ``tiktoken`` itself, offline, with the split pattern that
goes with the file; without ``tiktoken`` installed, with trivium's own loader into
``tokenizers``). All text is encoded as plain text: special-token strings inside a
document are never turned into special ids, for any tokenizer, so the comparison is fair.

Per group (overall, bucket, bucket/language, source) and tokenizer: tokens, bytes per token,
characters per token, tokens per word, and the number of documents whose
``decode(encode(x))`` differs from ``x``. Words are runs of letters/marks/digits, except
Han and kana characters, which count one word each (Chinese and Japanese are not
space-delimited).
"""

from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from .sample import Document, SampleSpec, discover_files, iter_file_documents, is_heldout

_WORD_RE = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]|[\p{L}\p{M}\p{N}_]+")


def count_words(text: str) -> int:
    return sum(1 for _ in _WORD_RE.finditer(text))


@dataclass
class EvalTokenizer:
    name: str
    kind: str
    vocab_size: int
    encode_batch: Callable[[list[str]], list[list[int]]]
    decode: Callable[[list[int]], str]


def _hf_eval_tokenizer(name: str, tok, kind: str) -> EvalTokenizer:
    tok.encode_special_tokens = True  # plain text: never produce special ids

    def enc(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]

    def dec(ids: list[int]) -> str:
        return tok.decode(ids, skip_special_tokens=False)

    return EvalTokenizer(name=name, kind=kind, vocab_size=tok.get_vocab_size(with_added_tokens=True), encode_batch=enc, decode=dec)


def load_eval_tokenizer(path: str, name: str | None = None) -> EvalTokenizer:
    """Open a tokenizer directory, ``tokenizer.json`` or tiktoken rank file for evaluation."""
    from tokenizers import Tokenizer

    label = name or _label(path)
    if os.path.isdir(path):
        return _hf_eval_tokenizer(label, Tokenizer.from_file(os.path.join(path, "tokenizer.json")), "tokenizers")
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"{"):
        return _hf_eval_tokenizer(label, Tokenizer.from_file(path), "tokenizers")
    from .tiktoken_loader import tiktoken_encoding, tiktoken_to_tokenizer

    try:
        enc = tiktoken_encoding(path)
    except ImportError:  # tiktoken is a test dependency: our own loader gives the same ids
        return _hf_eval_tokenizer(label, tiktoken_to_tokenizer(path), "tiktoken-file")
    threads = os.cpu_count() or 1

    def encode(texts: list[str]) -> list[list[int]]:
        return enc.encode_ordinary_batch(texts, num_threads=threads)

    def decode(ids: list[int]) -> str:
        return enc.decode_bytes(ids).decode("utf-8", errors="replace")

    return EvalTokenizer(name=label, kind="tiktoken", vocab_size=enc.n_vocab, encode_batch=encode, decode=decode)


def _label(path: str) -> str:
    base = os.path.basename(os.path.normpath(path))
    for suffix in (".tokenizer.json", ".tiktoken", ".json"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


@dataclass
class GroupStats:
    docs: int = 0
    bytes: int = 0
    chars: int = 0
    words: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    roundtrip_failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self, names: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"docs": self.docs, "bytes": self.bytes, "chars": self.chars, "words": self.words, "tokenizers": {}}
        for n in names:
            t = self.tokens.get(n, 0)
            out["tokenizers"][n] = {
                "tokens": t,
                "bytes_per_token": self.bytes / t if t else None,
                "chars_per_token": self.chars / t if t else None,
                "tokens_per_word": t / self.words if self.words else None,
                "roundtrip_failures": self.roundtrip_failures.get(n, 0),
            }
        return out


def select_eval_documents(
    inputs: Iterable[str],
    *,
    split: str = "all",
    spec: SampleSpec | None = None,
    max_docs_per_source: int | None = None,
    max_bytes_per_source: int | None = None,
) -> list[Document]:
    """Documents to evaluate on (deterministic: file order, then line order)."""
    spec = spec or SampleSpec()
    if split == "heldout" and spec.holdout <= 0:
        raise ValueError("split 'heldout' needs a holdout fraction > 0 (the one used in training)")
    per_docs: dict[str, int] = defaultdict(int)
    per_bytes: dict[str, int] = defaultdict(int)
    out: list[Document] = []
    for f in discover_files(inputs):
        for doc in iter_file_documents(f):
            if split == "heldout" and not is_heldout(doc, spec):
                continue
            if split == "train" and is_heldout(doc, spec):
                continue
            if max_docs_per_source is not None and per_docs[doc.source] >= max_docs_per_source:
                continue
            if max_bytes_per_source is not None and per_bytes[doc.source] >= max_bytes_per_source:
                continue
            per_docs[doc.source] += 1
            per_bytes[doc.source] += len(doc.text.encode("utf-8", "surrogatepass"))
            out.append(doc)
    return out


def _lang_group(doc: Document) -> str:
    lang = (doc.lang or "").lower()
    if lang.startswith("zh"):
        return "zh"
    if lang.startswith("en"):
        return "en"
    return lang or "other"


def evaluate(
    docs: Sequence[Document],
    tokenizers: Sequence[EvalTokenizer],
    *,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Compression and round-trip results; groups: all, bucket:*, bucket_lang:*, source:*."""
    groups: dict[str, GroupStats] = defaultdict(GroupStats)
    names = [t.name for t in tokenizers]
    if len(set(names)) != len(names):
        raise ValueError(f"tokenizer names must be unique: {names}")
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        texts = [d.text for d in batch]
        keys_per_doc = [
            ("all", f"bucket:{d.bucket}", f"bucket_lang:{d.bucket}/{_lang_group(d)}", f"source:{d.source}") for d in batch
        ]
        for d, keys in zip(batch, keys_per_doc):
            nb = len(d.text.encode("utf-8", "surrogatepass"))
            nc = len(d.text)
            nw = count_words(d.text)
            for k in keys:
                g = groups[k]
                g.docs += 1
                g.bytes += nb
                g.chars += nc
                g.words += nw
        for tok in tokenizers:
            ids_batch = tok.encode_batch(texts)
            for d, keys, ids in zip(batch, keys_per_doc, ids_batch):
                ok = tok.decode(ids) == d.text
                for k in keys:
                    groups[k].tokens[tok.name] += len(ids)
                    if not ok:
                        groups[k].roundtrip_failures[tok.name] += 1
        if progress:
            progress(sum(len(t.encode("utf-8", "surrogatepass")) for t in texts))
    ordered = sorted(groups, key=lambda k: (k != "all", k.split(":")[0], k))
    return {
        "tokenizers": [{"name": t.name, "kind": t.kind, "vocab_size": t.vocab_size} for t in tokenizers],
        "groups": {k: groups[k].as_dict(names) for k in ordered},
    }


def relative_tokens(result: dict[str, Any], reference: str) -> dict[str, dict[str, float]]:
    """Per group: tokens of each tokenizer / tokens of ``reference`` (below 1 = fewer)."""
    out: dict[str, dict[str, float]] = {}
    for g, data in result["groups"].items():
        ref = data["tokenizers"][reference]["tokens"]
        out[g] = {n: (v["tokens"] / ref if ref else float("nan")) for n, v in data["tokenizers"].items()}
    return out


def render_table(result: dict[str, Any], metric: str = "bytes_per_token", groups: Iterable[str] | None = None):
    """A rich Table: one row per group, one column per tokenizer."""
    from rich.table import Table

    names = [t["name"] for t in result["tokenizers"]]
    table = Table(title=f"{metric.replace('_', ' ')} (round-trip failures in brackets)")
    table.add_column("group")
    table.add_column("docs", justify="right")
    table.add_column("MB", justify="right")
    for n in names:
        table.add_column(n, justify="right")
    keys = list(groups) if groups is not None else list(result["groups"])
    for g in keys:
        data = result["groups"][g]
        row = [g, str(data["docs"]), f"{data['bytes'] / 1e6:.2f}"]
        for n in names:
            v = data["tokenizers"][n]
            val = v[metric]
            cell = "-" if val is None else f"{val:.3f}"
            if v["roundtrip_failures"]:
                cell += f" [{v['roundtrip_failures']}]"
            row.append(cell)
        table.add_row(*row)
    return table


def render_html(result: dict[str, Any], metric: str = "bytes_per_token", groups: Iterable[str] | None = None) -> str:
    """A self-contained HTML page with a grouped bar chart (inline SVG, no scripts)."""
    names = [t["name"] for t in result["tokenizers"]]
    keys = list(groups) if groups is not None else [g for g in result["groups"] if not g.startswith("source:")]
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
    vals = [
        result["groups"][g]["tokenizers"][n][metric] or 0.0 for g in keys for n in names
    ]
    vmax = max(vals) if vals else 1.0
    bar_h, gap, label_w, chart_w = 14, 10, 220, 520
    height = len(keys) * (len(names) * bar_h + gap) + 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + chart_w + 80}" height="{height}" font-family="sans-serif" font-size="11">']
    y = 30
    for g in keys:
        parts.append(f'<text x="{label_w - 8}" y="{y + len(names) * bar_h / 2 + 4}" text-anchor="end">{html.escape(g)}</text>')
        for i, n in enumerate(names):
            v = result["groups"][g]["tokenizers"][n][metric] or 0.0
            w = chart_w * v / vmax if vmax else 0
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{palette[i % len(palette)]}"><title>{html.escape(n)}: {v:.3f}</title></rect>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}">{v:.2f}</text>')
            y += bar_h
        y += gap
    legend_x = label_w
    for i, n in enumerate(names):
        parts.append(f'<rect x="{legend_x}" y="6" width="10" height="10" fill="{palette[i % len(palette)]}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="15">{html.escape(n)}</text>')
        legend_x += 14 + 7 * len(n) + 20
    parts.append("</svg>")
    title = f"Tokenizer evaluation: {metric.replace('_', ' ')}"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Higher is better for bytes/characters per token.</p>" + "".join(parts)
        + "<pre>" + html.escape(json.dumps(result["tokenizers"], indent=1)) + "</pre></body></html>"
    )
