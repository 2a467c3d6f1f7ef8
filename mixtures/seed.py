"""Seed labels from sources: every document of a source takes the source's `bucket` (sources.json).

`sources.json` maps a source name to {bucket, language, format, files, ...}; the files of source
`s` lie in the folder `s/` beside sources.json. Domain seed labels are `bucket/subdomain`
(noise sources skipped); quality seed labels are `hq` for the positive buckets and `lq` for
`noise`. A raw-HTML noise source (`format: raw_html`, an index JSONL naming the pages) gives
quality negatives from each page's visible text, navigation included; other formats (WARC) are
skipped and said so in the report. Sampling is deterministic: the same seed picks the same documents.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

from trivium.filters.fasttext_text import Example, as_json_str, read_records
from trivium.mixtures.domain import BUCKETS, subdomain_of

QUALITY_POSITIVE, QUALITY_NEGATIVE = "hq", "lq"
NOISE = "noise"


@dataclass
class SeedData:
    train: list[Example] = field(default_factory=list)
    heldout: list[Example] = field(default_factory=list)
    report: dict = field(default_factory=dict)  # source -> {label, used, available, split} or {skipped: why}


def load_sources(sources_json: str) -> dict:
    with open(sources_json, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        msg = f"{sources_json}: expected a JSON object mapping source names to their description"
        raise ValueError(msg)  # noqa: TRY004 - a bad file, reported like the other file errors
    return data


def _label(task: str, name: str, entry: dict, meta: dict, subdomains: bool, positive: set[str]) -> str | None:
    bucket = entry.get("bucket")
    if task == "quality":
        if bucket == NOISE:
            return QUALITY_NEGATIVE
        return QUALITY_POSITIVE if bucket in positive else None
    if bucket not in BUCKETS:
        return None
    return f"{bucket}/{subdomain_of(name, meta, entry)}" if subdomains else bucket


def seed_examples(
    sources_json: str,
    task: str = "domain",
    *,
    max_per_source: int = 3000,
    seed: int = 0,
    holdout: set[str] | frozenset[str] = frozenset(),
    subdomains: bool = True,
    positive_buckets: set[str] | frozenset[str] = frozenset({"commonsense", "stem", "code"}),
    min_chars: int = 200,
    only: set[str] | None = None,
    progress=None,
) -> SeedData:
    """Labelled examples from the sources of `sources_json`, `max_per_source` (random, seeded) per source.

    Sources named in `holdout` go to `heldout` instead of `train`; `only` restricts the sources read.
    `progress(name)` is called before each source is read.
    """
    if task not in ("domain", "quality"):
        raise ValueError(f"task must be 'domain' or 'quality', not {task!r}")
    base = os.path.dirname(os.path.abspath(sources_json))
    sources = load_sources(sources_json)
    unknown = set(holdout) - set(sources)
    if unknown:
        raise ValueError(f"holdout names unknown sources: {sorted(unknown)}")
    out = SeedData()
    for name in sorted(sources):
        entry = sources[name]
        if only is not None and name not in only:
            continue
        fmt = entry.get("format", "text")
        if fmt == "raw_html" and task == "quality" and entry.get("bucket") == NOISE:
            if progress:
                progress(name)
            rows = [r for r in _html_rows(base, entry) if len(r["text"].strip()) >= min_chars]
            _add(out, rows, name, entry, task, seed, max_per_source, holdout, subdomains, positive_buckets)
            continue
        if fmt not in ("text", "messages"):
            out.report[name] = {"skipped": f"format {fmt!r} is not text or messages"}
            continue
        if _label(task, name, entry, {}, False, set(positive_buckets)) is None:
            out.report[name] = {"skipped": f"bucket {entry.get('bucket')!r} has no {task} label"}
            continue
        if progress:
            progress(name)
        rows = []
        for fname in entry.get("files", []):
            path = os.path.join(base, name, fname)
            if any(ch in fname for ch in "*?[") or not os.path.exists(path):
                continue
            for r in read_records(path):
                text = r.get("text")
                if text is None and not r.get("messages"):
                    continue
                if text is not None and len(text.strip()) < min_chars:
                    continue
                rows.append(r)
        _add(out, rows, name, entry, task, seed, max_per_source, holdout, subdomains, positive_buckets)
    return out


def _add(out: SeedData, rows: list[dict], name: str, entry: dict, task: str, seed: int, max_per_source: int,
         holdout, subdomains: bool, positive_buckets) -> None:
    """Sample `max_per_source` rows of one source (seeded by source name) into train or held-out."""
    rng = random.Random(f"{seed}:{name}")
    picked = sorted(rng.sample(range(len(rows)), min(max_per_source, len(rows))))
    labels: Counter = Counter()
    split = "heldout" if name in holdout else "train"
    for i in picked:
        r = rows[i]
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        label = _label(task, name, entry, meta, subdomains, set(positive_buckets))
        labels[label] += 1
        ex = Example(label=label, text=r.get("text"), messages=as_json_str(r.get("messages")),
                     tools=as_json_str(r.get("tools")), source=name, id=str(r.get("id", "")))
        (out.heldout if split == "heldout" else out.train).append(ex)
    out.report[name] = {"split": split, "used": len(picked), "available": len(rows), "labels": dict(labels)}


class _VisibleText(HTMLParser):
    """All text a browser would show, navigation and footers included (what a naive crawl keeps)."""

    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
                       "section", "article", "header", "footer", "nav", "table", "form", "blockquote", "pre", "dd", "dt"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skip:
            self.skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def html_to_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return parser.text()


def _html_rows(base: str, entry: dict) -> list[dict]:
    """Rows of a raw-HTML source: its index (JSONL) names the page files, relative to the corpus folder."""
    rows = []
    for fname in entry.get("files", []):
        if not fname.endswith((".jsonl", ".jsonl.gz")):
            continue
        for r in read_records(os.path.join(base, fname)):
            path = os.path.join(base, str(r.get("path", "")))
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                html = f.read().decode("utf-8", errors="replace")
            rows.append({"id": r.get("id", path), "text": html_to_text(html)})
    return rows


def labelled_examples(paths: list[str], label_key: str = "label") -> list[Example]:
    """Examples from labelled JSONL(.gz)/Parquet files: a `label` column and `text` or `messages`/`tools`."""
    from trivium.filters.fasttext_text import examples_from_rows

    out: list[Example] = []
    for p in paths:
        out += list(examples_from_rows(read_records(p), label_key, source=os.path.basename(p)))
    return out


def write_labelled(examples: list[Example], path: str) -> None:
    """Write examples as labelled JSONL(.gz): what `trivium classifier eval --input` reads."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with opener(path, "wt", encoding="utf-8") as f:
        for e in examples:
            row = {"id": e.id, "source": e.source, "label": e.label, "text": e.text}
            if e.messages is not None:
                row["messages"] = json.loads(e.messages)
                row["tools"] = json.loads(e.tools) if e.tools else None
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
