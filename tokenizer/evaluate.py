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

Honest references:

* **held-out sources**: ``--split heldout-sources`` reads only the sources a tokenizer was
  trained without; several tokenizers trained on different folds (``holdout_folds``) are
  each measured on their own left-out sources and summed (``combine_results``), so every
  figure is on text of a source its tokenizer never saw;
* **like for like**: ``like_for_like`` puts a baseline's vocabulary behind trivium's
  pre-tokenizer (``name@d1`` with single digits, ``name@d3`` with o200k's groups of three).
  ``reference_report`` then gives, per group and baseline, our tokens relative to the
  baseline as published and like for like, and what the pre-tokenizer costs the baseline's
  own vocabulary: the digit rule (``@d1`` vs ``@d3``) and the rest of the split (``@d3`` vs
  published).
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

from .sample import Document, SampleSpec, discover_files, is_heldout, iter_file_documents, lang_group

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


def like_for_like(path: str, digits: int = 1, name: str | None = None) -> EvalTokenizer:
    """A baseline's vocabulary (tokenizer.json or tiktoken file) behind trivium's
    pre-tokenizer with the given digit rule; named ``<baseline>@d<digits>``."""
    from tokenizers import Tokenizer

    from .pretokenize import build_pre_tokenizer
    from .tiktoken_loader import tiktoken_to_tokenizer

    with open(path, "rb") as fh:
        is_json = fh.read(64).lstrip().startswith(b"{")
    tok = Tokenizer.from_file(path) if is_json else tiktoken_to_tokenizer(path)
    tok.pre_tokenizer = build_pre_tokenizer(digits)
    return _hf_eval_tokenizer(f"{name or tokenizer_label(path)}@d{digits}", tok, "like-for-like")


def load_eval_tokenizer(path: str, name: str | None = None) -> EvalTokenizer:
    """Open a tokenizer directory, ``tokenizer.json`` or tiktoken rank file for evaluation."""
    from tokenizers import Tokenizer

    label = name or tokenizer_label(path)
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


def tokenizer_label(path: str) -> str:
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
    """Documents to evaluate on (deterministic: file order, then line order). Splits: all,
    train, heldout (documents and sources held out), heldout-sources (sources only)."""
    spec = spec or SampleSpec()
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: {', '.join(SPLITS)}")
    if split == "heldout" and spec.holdout <= 0 and not spec.holdout_sources:
        raise ValueError("split 'heldout' needs a holdout fraction > 0 or held-out sources (those used in training)")
    if split == "heldout-sources" and not spec.holdout_sources:
        raise ValueError("split 'heldout-sources' needs the sources held out of training")
    per_docs: dict[str, int] = defaultdict(int)
    per_bytes: dict[str, int] = defaultdict(int)
    out: list[Document] = []
    for f in discover_files(inputs):
        for doc in iter_file_documents(f):
            if split == "heldout" and not is_heldout(doc, spec):
                continue
            if split == "heldout-sources" and doc.source not in spec.holdout_sources:
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


SPLITS = ("all", "train", "heldout", "heldout-sources")


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
            ("all", f"bucket:{d.bucket}", f"bucket_lang:{d.bucket}/{lang_group(d.lang)}", f"source:{d.source}") for d in batch
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


def combine_results(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sum evaluations of disjoint document sets (e.g. the folds of a leave-one-source-out
    run, each with its own tokenizer under the same name) into one result."""
    names = [t["name"] for t in results[0]["tokenizers"]]
    if any([t["name"] for t in r["tokenizers"]] != names for r in results):
        raise ValueError("fold results must name the same tokenizers")
    groups: dict[str, GroupStats] = defaultdict(GroupStats)
    for r in results:
        for g, data in r["groups"].items():
            acc = groups[g]
            for k in ("docs", "bytes", "chars", "words"):
                setattr(acc, k, getattr(acc, k) + data[k])
            for n, v in data["tokenizers"].items():
                acc.tokens[n] += v["tokens"]
                acc.roundtrip_failures[n] += v["roundtrip_failures"]
    ordered = sorted(groups, key=lambda k: (k != "all", k.split(":")[0], k))
    return {"tokenizers": results[0]["tokenizers"], "groups": {k: groups[k].as_dict(names) for k in ordered}}


def reference_report(result: dict[str, Any], ours: str, baselines: Sequence[str], digits: int = 1) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per group and baseline ``b`` (ratios of token counts; below 1 = fewer tokens):

    * ``published``: ours / b as published;
    * ``like_for_like``: ours / ``b@d<digits>`` (b's vocabulary behind our pre-tokenizer);
    * ``digit_cost``: ``b@d1`` / ``b@d3`` - 1, what single digits cost b's own vocabulary;
    * ``split_cost``: ``b@d3`` / b - 1, what the rest of our pre-tokenizer costs it.

    Entries whose tokenizers were not evaluated are None."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for g, data in result["groups"].items():
        toks = {n: v["tokens"] for n, v in data["tokenizers"].items()}

        def ratio(a: str, b: str) -> float | None:
            return toks[a] / toks[b] if a in toks and toks.get(b) else None

        row = {}
        for b in baselines:
            d1, d3 = ratio(f"{b}@d1", f"{b}@d3"), ratio(f"{b}@d3", b)
            row[b] = {"published": ratio(ours, b), "like_for_like": ratio(ours, f"{b}@d{digits}"),
                      "digit_cost": None if d1 is None else d1 - 1, "split_cost": None if d3 is None else d3 - 1}
        out[g] = row
    return out


def render_reference_table(report: dict[str, dict[str, dict[str, float | None]]], groups: Iterable[str] | None = None, title: str = ""):
    """A rich Table: per group, for each baseline ours/published, ours/like-for-like and
    the pre-tokenizer's costs to the baseline's own vocabulary."""
    from rich.table import Table

    keys = list(groups) if groups is not None else list(report)
    baselines = list(next(iter(report.values()))) if report else []
    table = Table(title=title or "tokens relative to each baseline (below 1 = fewer): published | like for like | digit rule | rest of split")
    table.add_column("group")
    for b in baselines:
        table.add_column(b, justify="right")

    def cell(v: float | None, pct: bool = False) -> str:
        if v is None:
            return "-"
        return f"{v:+.1%}" if pct else f"{v:.3f}"

    for g in keys:
        table.add_row(g, *(" | ".join([cell(report[g][b]["published"]), cell(report[g][b]["like_for_like"]),
                                        cell(report[g][b]["digit_cost"], True), cell(report[g][b]["split_cost"], True)])
                           for b in baselines))
    return table


def learned_by_bucket(tok: EvalTokenizer, docs: Sequence[Document], first: int, end: int) -> dict[str, int]:
    """Learned tokens (ids ``first .. end-1``) per bucket: each goes to the bucket that uses
    it most per byte of its text; ``unused`` when no document produces it."""
    import numpy as np

    buckets = sorted({d.bucket for d in docs})
    use = np.zeros((len(buckets), max(0, end - first)), dtype=np.float64)
    size = np.zeros(len(buckets))
    for start in range(0, len(docs), 256):
        batch = docs[start : start + 256]
        for d, ids in zip(batch, tok.encode_batch([d.text for d in batch])):
            row = buckets.index(d.bucket)
            size[row] += len(d.text.encode("utf-8", "surrogatepass"))
            a = np.asarray(ids, dtype=np.int64)
            a = a[(a >= first) & (a < end)] - first
            use[row] += np.bincount(a, minlength=use.shape[1])
    rate = use / np.maximum(size, 1)[:, None]
    owner = rate.argmax(axis=0)
    out = {b: int(((owner == i) & (use.sum(axis=0) > 0)).sum()) for i, b in enumerate(buckets)}
    out["unused"] = int((use.sum(axis=0) == 0).sum())
    return out


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
