"""Weighted, deterministic sampling of training text from document sources.

Inputs are files or directories (local paths or any fsspec URL, e.g. ``s3://``) holding
JSONL (optionally ``.gz``/``.zst``) or Parquet with the Document schema (``id``, ``text``,
``source``, ``lang``, ``meta``; agentic rows carry ``messages``/``tools`` instead of
``text`` and are rendered with the chat template).

* source of a row: its ``source`` field, else the name of the directory holding the file;
* bucket of a source: from a ``sources.json`` beside the files (in the file's directory,
  its parent, or any folder up to the input root: ``{source: {"bucket": ...}}``), else the row's
  ``bucket``/``domain`` field, else ``"default"``.

Selection is a pure function of ``(seed, source, doc id)`` (a keyed hash), so the same
inputs, weights and seed give the same sample whatever the file order or the machine that
reads a file; the Spark counting path reuses it inside tasks. Weights multiply a source's
natural share: with ``sample_bytes`` N every training document of source s is taken with
expected multiplicity ``rate_s = w_s * N / sum_t(w_t * bytes_t)``; a rate above 1 repeats
documents (``floor(rate)`` copies plus one more with probability ``frac(rate)``), which for
BPE is the same as weighting their pre-token counts. A held-out fraction (again by hash)
never enters training and is what ``tokenizer eval --split heldout`` reads.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .chat_template import render_conversation

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.zstd", ".json.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_BUCKET = "default"


@dataclass(frozen=True)
class Document:
    source: str
    bucket: str
    id: str
    text: str
    lang: str | None = None


@dataclass(frozen=True)
class InputFile:
    path: str  # fsspec URL or local path
    source: str  # default source name (the directory holding the file)
    fmt: str  # "jsonl" | "parquet"
    buckets: tuple[tuple[str, str], ...] = ()  # (source, bucket) from a sources.json

    def bucket_of(self, source: str, row: Mapping[str, Any] | None = None) -> str:
        for s, b in self.buckets:
            if s == source:
                return b
        if row is not None:
            for key in ("bucket", "domain"):
                v = row.get(key)
                if isinstance(v, str) and v:
                    return v
        return DEFAULT_BUCKET


@dataclass
class ReadStats:
    files: int = 0
    rows: int = 0
    docs: int = 0
    bad_lines: int = 0
    no_text: int = 0
    repaired: int = 0  # texts with lone surrogates, replaced by U+FFFD
    bytes: int = 0
    file_errors: list[str] = field(default_factory=list)  # files that could not be read to the end
    by_source: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # docs, bytes

    def add(self, other: "ReadStats") -> None:
        for k in ("files", "rows", "docs", "bad_lines", "no_text", "repaired", "bytes"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.file_errors.extend(other.file_errors)
        for s, (d, b) in other.by_source.items():
            self.by_source[s][0] += d
            self.by_source[s][1] += b

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows": self.rows,
            "docs": self.docs,
            "bad_lines": self.bad_lines,
            "no_text": self.no_text,
            "repaired": self.repaired,
            "bytes": self.bytes,
            "file_errors": list(self.file_errors),
            "by_source": {s: {"docs": d, "bytes": b} for s, (d, b) in sorted(self.by_source.items())},
        }


# --- discovery -----------------------------------------------------------------------


def _fs_and_path(url: str):
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _format_of(name: str) -> str | None:
    low = name.lower()
    if low.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _unstrip(fs, path: str, original: str) -> str:
    """Re-attach the protocol that url_to_fs stripped (s3://bucket/key)."""
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if proto in ("file", "local") or "://" not in original:
        return path
    return f"{proto}://{path}"


def _load_sources_json(fs, directory: str, cache: dict[str, dict[str, str]]) -> dict[str, str]:
    if directory in cache:
        return cache[directory]
    found: dict[str, str] = {}
    candidate = posixpath.join(directory, "sources.json")
    try:
        if fs.isfile(candidate):
            with fs.open(candidate, "rb") as fh:
                data = json.loads(fh.read())
            if isinstance(data, dict):
                for name, info in data.items():
                    if isinstance(info, dict) and isinstance(info.get("bucket"), str):
                        found[name] = info["bucket"]
    except (OSError, ValueError):
        found = {}
    cache[directory] = found
    return found


def discover_files(inputs: Iterable[str]) -> list[InputFile]:
    """All readable document files under ``inputs`` (sorted, deduplicated)."""
    out: dict[str, InputFile] = {}
    sj_cache: dict[str, dict[str, str]] = {}
    for original in inputs:
        fs, root = _fs_and_path(str(original))
        if fs.isdir(root):
            paths = sorted(p for p in fs.find(root) if _format_of(p))
            root_dir = root.rstrip("/")
        elif fs.exists(root):
            paths = [root] if _format_of(root) else []
            root_dir = posixpath.dirname(posixpath.dirname(root))
        else:
            raise FileNotFoundError(f"input not found: {original}")
        for p in paths:
            directory = posixpath.dirname(p)
            # sources.json in the file's directory or any parent up to the input root
            buckets: dict[str, str] = {}
            d = directory
            chain = []
            while True:
                chain.append(d)
                if d == root_dir or len(d) <= len(root_dir) or d in ("", "/"):
                    break
                d = posixpath.dirname(d)
            parent = posixpath.dirname(directory)
            if parent not in chain and parent not in ("", "/"):
                chain.append(parent)  # <corpus>/sources.json when a <corpus>/<source> folder is the input
            for d in reversed(chain):  # nearer files override
                buckets.update(_load_sources_json(fs, d, sj_cache))
            url = _unstrip(fs, p, str(original))
            out[url] = InputFile(
                path=url,
                source=posixpath.basename(directory) or "default",
                fmt=_format_of(p) or "jsonl",
                buckets=tuple(sorted(buckets.items())),
            )
    return [out[k] for k in sorted(out)]


# --- reading -------------------------------------------------------------------------


def row_text(row: Mapping[str, Any]) -> str | None:
    """The training text of a row: ``text``, else its conversation rendered."""
    text = row.get("text")
    if isinstance(text, str) and text:
        return text
    messages = row.get("messages")
    if messages is not None and len(messages) > 0:
        if isinstance(messages, str):
            messages = json.loads(messages)
        return render_conversation(list(messages), row.get("tools"))
    return None


def _row_lang(row: Mapping[str, Any]) -> str | None:
    lang = row.get("lang")
    if isinstance(lang, str):
        return lang
    meta = row.get("meta")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = None
    if isinstance(meta, dict) and isinstance(meta.get("lang"), str):
        return meta["lang"]
    return None


try:
    import zstandard as _zstd

    _ZSTD_READERS: tuple = (_zstd.ZstdDecompressionReader,)
except (ImportError, AttributeError):  # pragma: no cover
    _ZSTD_READERS = ()


def _iter_rows(f: InputFile, stats: ReadStats) -> Iterator[tuple[int, dict[str, Any]]]:
    import fsspec

    if f.fmt == "parquet":
        import pyarrow.parquet as pq

        with fsspec.open(f.path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            names = set(pf.schema_arrow.names)
            cols = [c for c in ("id", "text", "source", "lang", "meta", "messages", "tools", "bucket", "domain") if c in names]
            i = 0
            for batch in pf.iter_batches(columns=cols, batch_size=1024):
                for row in batch.to_pylist():
                    yield i, row
                    i += 1
        return
    with fsspec.open(f.path, "rb", compression="infer") as fh:
        if not hasattr(fh, "readline") or isinstance(fh, _ZSTD_READERS):
            fh = io.BufferedReader(fh)  # zstandard's reader has no line iteration
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                stats.bad_lines += 1
                continue
            if not isinstance(row, dict):
                stats.bad_lines += 1
                continue
            yield i, row


def iter_file_documents(f: InputFile, stats: ReadStats | None = None) -> Iterator[Document]:
    """Documents of one file; bad rows are counted in ``stats``, never raised."""
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    try:
        for i, row in _iter_rows(f, stats):
            stats.rows += 1
            try:
                text = row_text(row)
            except Exception:  # a malformed conversation row
                stats.bad_lines += 1
                continue
            if not text:
                stats.no_text += 1
                continue
            try:
                n = len(text.encode("utf-8"))
            except UnicodeEncodeError:  # lone surrogates from JSON escapes: not encodable text
                text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                n = len(text.encode("utf-8"))
                stats.repaired += 1
            source = row.get("source") if isinstance(row.get("source"), str) and row.get("source") else f.source
            doc_id = row.get("id")
            doc_id = str(doc_id) if doc_id is not None else f"{f.path}#{i}"
            doc = Document(source=source, bucket=f.bucket_of(source, row), id=doc_id, text=text, lang=_row_lang(row))
            stats.docs += 1
            stats.bytes += n
            stats.by_source[source][0] += 1
            stats.by_source[source][1] += n
            yield doc
    except (OSError, EOFError, ValueError, io.UnsupportedOperation) as exc:  # truncated archive, unreadable file
        stats.file_errors.append(f"{f.path}: {type(exc).__name__}: {exc}")


def iter_documents(inputs: Iterable[str] | list[InputFile], stats: ReadStats | None = None) -> Iterator[Document]:
    files = inputs if (isinstance(inputs, list) and inputs and isinstance(inputs[0], InputFile)) else discover_files(inputs)  # type: ignore[arg-type]
    for f in files:
        yield from iter_file_documents(f, stats)


# --- deterministic selection ---------------------------------------------------------


def parse_weights(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"stem=3,code=2.5,noise=0,lang:zh=0.5"`` -> ``{"stem": 3.0, ...}`` (keys: sources, buckets,
    or ``lang:<group>``, a multiplier for the documents of one language group: ``en``, ``zh``, a tag, ``other``)."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {str(k): float(v) for k, v in spec.items()}
    out: dict[str, float] = {}
    for part in spec.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"bad weight {part!r}: expected name=weight")
        k, v = part.split("=", 1)
        w = float(v)
        if w < 0 or math.isnan(w):
            raise ValueError(f"bad weight {part!r}: must be >= 0")
        out[k.strip()] = w
    return out


@dataclass(frozen=True)
class SampleSpec:
    sample_bytes: int | None = None  # None: every training document, weights as repetition
    weights: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    holdout: float = 0.0  # fraction of documents held out of training
    holdout_sources: tuple[str, ...] = ()  # whole sources held out of training

    def weight(self, source: str, bucket: str) -> float:
        w = self.weights
        if source in w:
            return float(w[source])
        if bucket in w:
            return float(w[bucket])
        return float(w.get("*", 1.0))

    def lang_weight(self, lang: str | None) -> float:
        """The ``lang:<group>`` multiplier on top of the source or bucket weight (1 when none is set)."""
        return float(self.weights.get(f"lang:{lang_group(lang)}", 1.0))

    def budget_bytes(self, doc: Document, n: int | None = None) -> int:
        """The document's bytes (``n`` when already counted) as the sample budget counts them: scaled
        by its language's weight."""
        n = len(doc.text.encode("utf-8", errors="surrogatepass")) if n is None else n
        w = self.lang_weight(doc.lang)
        return n if w == 1.0 else int(n * w)


def _unit(seed: int, salt: str, source: str, doc_id: str) -> float:
    h = hashlib.blake2b(f"{seed}\x1f{salt}\x1f{source}\x1f{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "big") / 2.0**64


def is_heldout(doc: Document, spec: SampleSpec) -> bool:
    if doc.source in spec.holdout_sources:
        return True
    return spec.holdout > 0 and _unit(spec.seed, "holdout", doc.source, doc.id) < spec.holdout


def lang_group(lang: str | None) -> str:
    """``en``/``zh`` for their variants (``en-US``, ``zh-Hant``), else the tag or ``other``."""
    lang = (lang or "").lower()
    for g in ("zh", "en"):
        if lang.startswith(g):
            return g
    return lang or "other"


def source_groups(source_langs: Mapping[tuple[str, str], Mapping[str, int]]) -> dict[str, list[str]]:
    """``"bucket/lang"`` -> its sources; a source belongs to the language of most of its bytes.

    ``source_langs[(source, bucket)][lang]`` holds bytes (``measure_sources(langs=...)``)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for (source, bucket), by_lang in sorted(source_langs.items()):
        lang = max(sorted(by_lang), key=lambda g: by_lang[g]) if by_lang else "other"
        groups[f"{bucket}/{lang}"].append(source)
    return dict(groups)


def holdout_folds(groups: Mapping[str, Iterable[str]], folds: int, seed: int = 0) -> list[tuple[str, ...]]:
    """Sources to hold out per fold: fold k takes the k-th source (modulo the group's size) of
    every group, the sources of a group in a seed-keyed hash order, so no one picks them.
    A bucket whose only source would be held out keeps it (nothing would be left to train it);
    a group of one source in a bucket with others is held out in every fold."""
    if folds < 1:
        raise ValueError("folds must be >= 1")
    per_bucket: dict[str, int] = defaultdict(int)
    for g, sources in groups.items():
        per_bucket[g.split("/", 1)[0]] += len(list(sources))
    out: list[set[str]] = [set() for _ in range(folds)]
    for g, sources in sorted(groups.items()):
        if per_bucket[g.split("/", 1)[0]] < 2:
            continue
        order = sorted(set(sources), key=lambda s: (_unit(seed, "fold", g, s), s))
        for k in range(folds):
            out[k].add(order[k % len(order)])
    return [tuple(sorted(f)) for f in out]


def multiplicity(doc: Document, rate: float, seed: int) -> int:
    if rate <= 0:
        return 0
    whole = math.floor(rate)
    frac = rate - whole
    return whole + (1 if frac > 0 and _unit(seed, "sample", doc.source, doc.id) < frac else 0)


def plan_rates(source_bytes: Mapping[tuple[str, str], int], spec: SampleSpec) -> dict[str, float]:
    """Per-source expected multiplicity; ``source_bytes`` holds training bytes per (source, bucket)."""
    if spec.sample_bytes is None:
        return {s: spec.weight(s, b) for (s, b) in source_bytes}
    total = sum(spec.weight(s, b) * n for (s, b), n in source_bytes.items())
    scale = spec.sample_bytes / total if total > 0 else 0.0
    return {s: spec.weight(s, b) * scale for (s, b) in source_bytes}


def measure_sources(
    files: list[InputFile],
    spec: SampleSpec,
    on_bytes: Callable[[int], None] | None = None,
    langs: dict[tuple[str, str], dict[str, int]] | None = None,
) -> dict[tuple[str, str], int]:
    """Training bytes per (source, bucket) (held-out documents excluded; each document's scaled by
    its ``lang:`` weight, which the budget then applies); ``langs``, when
    given, receives the bytes of every document per (source, bucket) and language group."""
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    for f in files:
        for doc in iter_file_documents(f):
            n = len(doc.text.encode("utf-8", errors="surrogatepass"))
            if on_bytes:
                on_bytes(n)
            if langs is not None:
                by_lang = langs.setdefault((doc.source, doc.bucket), {})
                g = lang_group(doc.lang)
                by_lang[g] = by_lang.get(g, 0) + n
            if is_heldout(doc, spec):
                continue
            sizes[(doc.source, doc.bucket)] += spec.budget_bytes(doc, n)
    return dict(sizes)


def fold_sources(files: list[InputFile], fold: int, folds: int, seed: int = 0) -> tuple[str, ...]:
    """The sources fold ``fold`` of ``folds`` holds out (``holdout_folds`` over the inputs'
    (bucket, language) groups; one read pass to learn each source's language)."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} out of range: 0..{folds - 1}")
    langs: dict[tuple[str, str], dict[str, int]] = {}
    measure_sources(files, SampleSpec(), langs=langs)
    return holdout_folds(source_groups(langs), folds, seed)[fold]


def select(doc: Document, spec: SampleSpec, rates: Mapping[str, float], split: str = "train") -> int:
    """How many times ``doc`` enters the ``split`` ("train", "heldout" or "all")."""
    if split == "all":
        return 1
    held = is_heldout(doc, spec)
    if split == "heldout":
        return 1 if held else 0
    if held:
        return 0
    rate = rates.get(doc.source, spec.weight(doc.source, doc.bucket)) * spec.lang_weight(doc.lang)
    return multiplicity(doc, rate, spec.seed)


def sample_documents(
    inputs: Iterable[str] | list[InputFile],
    spec: SampleSpec,
    *,
    split: str = "train",
    stats: ReadStats | None = None,
    on_bytes: Callable[[int], None] | None = None,
    rates: Mapping[str, float] | None = None,
) -> Iterator[tuple[Document, int]]:
    """Yield ``(document, multiplicity)`` for every selected document (multiplicity >= 1)."""
    files = inputs if (isinstance(inputs, list) and inputs and isinstance(inputs[0], InputFile)) else discover_files(inputs)  # type: ignore[arg-type]
    if split == "train" and rates is None:
        if spec.sample_bytes is not None:
            rates = plan_rates(measure_sources(files, spec), spec)
        else:
            rates = {}
    rates = rates or {}
    for f in files:
        for doc in iter_file_documents(f, stats):
            if on_bytes:
                on_bytes(len(doc.text.encode("utf-8", errors="surrogatepass")))
            m = select(doc, spec, rates, split)
            if m > 0:
                yield doc, m
