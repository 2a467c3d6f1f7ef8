"""Builds an input folder with one file per kind of damage ingest must survive, and what each should count."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

# Ids a source may repeat, spelled to meet the renames (`x#2` is an input id, `x#02` is not `x#2`), and the ids
# ingest must give them: the j-th later copy of `b` becomes `b#c`, c the j-th integer >= 2 that is no input id.
ADVERSARIAL_IDS = ["x", "x", "x#2", "x#2", "x#3", "x#2#2", "x#02", "x", "y#1", "y", "y", "z#2", "z#3", "z#5",
                   "z", "z", "z", "z", "a\nb#2", "a\nb", "a\nb"]
ADVERSARIAL_RENAMED = {"x", "x#2", "x#3", "x#2#2", "x#02", "x#4", "x#5", "x#2#3", "y#1", "y", "y#2", "z#2", "z#3",
                       "z#5", "z", "z#4", "z#6", "z#7", "a\nb#2", "a\nb", "a\nb#3"}

_ADJ = "quiet busy early late broken narrow wide green cold warm heavy bright muddy steep small large old new".split()
_NOUN = ("farmer council river bridge school market harbour village engineer teacher doctor ferry orchard "
         "library station factory museum garden mayor storm").split()
_VERB = "repaired visited crossed painted opened closed inspected described rebuilt measured".split()
# No template has three fixed words in a row, so no 5-gram repeats inside or across documents.
_TEMPLATES = [
    "The {a} {n} {v} the {b} {m}.",
    "A {a} {m} and the {n} {v} {b} {o} work.",
    "Then the {n} {v} a {b} {o} near the {m}.",
    "Every {a} {n} {v} some {b} {m} for the {o}.",
    "Later, that {a} {o} {v} our {b} {n} and {m}.",
]


def good(i: int, prefix: str = "good") -> dict:
    """A plausible news-like paragraph, different enough from every other `good(j)` to be no near-duplicate."""
    import random

    rng = random.Random(i)
    sentences = [
        rng.choice(_TEMPLATES).format(a=rng.choice(_ADJ), b=rng.choice(_ADJ), n=rng.choice(_NOUN),
                                       m=rng.choice(_NOUN), o=rng.choice(_NOUN), v=rng.choice(_VERB))
        for _ in range(12)
    ]
    return {"id": f"{prefix}-{i}", "text": " ".join(sentences) + f" This was report number {i}."}


GOOD_TEXT = good(10_000)["text"]


def _jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def build_damaged_inputs(root: Path, max_doc_bytes: int) -> dict[str, int]:
    """Write the damaged inputs under `root`; returns {quarantine reason: expected count}."""
    src = root / "damaged"
    src.mkdir(parents=True)
    lines = [
        _jsonl([good(0)]),
        b'{"id": "broken", "text": "no closing brace\n',  # malformed JSON
        b'{"id": "latin1", "text": "caf\xe9 au lait"}\n',  # invalid UTF-8
        _jsonl([{"id": "no-text", "title": "only a title"}]),  # missing text
        _jsonl([{"id": "num-text", "text": 42}]),  # non-string text
        _jsonl([{"id": "huge", "text": "x" * (max_doc_bytes + 1)}]),  # oversized
        b'{"id": "surrogate", "text": "lone \\ud800 surrogate"}\n',  # valid JSON, not encodable as UTF-8
        b"[1, 2, 3]\n",  # JSON, but not an object
        _jsonl([{"id": "bad-chat", "text": None, "messages": "not a list"}]),
        _jsonl([good(1)]),
    ]
    (src / "mixed.jsonl").write_bytes(b"".join(lines))
    (src / "empty.jsonl").write_bytes(b"")
    # Big enough that complete lines (and, for zstd, complete 128 KiB blocks) precede the cut.
    gz = gzip.compress(_jsonl([good(i, "gz") for i in range(400)]))
    (src / "cut.jsonl.gz").write_bytes(gz[: len(gz) * 3 // 5])
    zs = zstandard.ZstdCompressor().compress(_jsonl([good(i, "zst") for i in range(400)]))
    (src / "cut.jsonl.zst").write_bytes(zs[: len(zs) * 9 // 10])
    (src / "notes.txt").write_text("a stray file of an unsupported format")
    (src / "garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    return {
        "malformed_json": 2,
        "invalid_utf8": 1,
        "missing_text": 1,
        "non_string_text": 1,
        "oversized_document": 1,
        "invalid_unicode": 1,
        "malformed_messages": 1,
        "empty_file": 1,
        "truncated_archive": 2,
        "unsupported_format": 1,
        "unreadable_archive": 1,
    }


def build_clean_inputs(root: Path) -> None:
    """Two sources, JSONL.gz and Parquet, with a conversation row and a cross-source exact duplicate."""
    a = root / "news"
    a.mkdir(parents=True)
    rows = [good(i, "news") for i in range(30)]
    rows.append({"id": "chat-1", "text": None, "messages": [{"role": "user", "content": "What's 2+2?"},
                                                             {"role": "assistant", "content": "4"}]})
    (a / "part-0.jsonl.gz").write_bytes(gzip.compress(_jsonl(rows)))
    b = root / "mirror"
    b.mkdir(parents=True)
    mirrored = [{"id": f"mirror-{i}", "text": "  " + good(i, "news")["text"].replace(" ", "\n", 3)} for i in range(5)]
    table = pa.Table.from_pylist(mirrored + [{"id": "mirror-own", "text": GOOD_TEXT + " A different closing line."}])
    pq.write_table(table, b / "data.parquet")
