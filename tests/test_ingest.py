"""Ingest readers in-process (fast) and as a Spark stage: every kind of damage quarantined and counted."""

from __future__ import annotations

import collections
import json

import pyarrow.parquet as pq
import pytest
from damage import build_damaged_inputs

from trivium.flows import io
from trivium.flows.config import CurateConfig
from trivium.flows.curate import run_ingest
from trivium.flows.ingest import IngestConfig, read_all
from trivium.flows.stage import REASON

MAX = 20_000


@pytest.fixture()
def damaged(tmp_path):
    expected = build_damaged_inputs(tmp_path / "in", MAX)
    return tmp_path / "in", expected


def test_read_all_counts_each_damage_under_its_reason(damaged):
    folder, expected = damaged
    files = [f.url for f in io.list_files([str(folder)])]
    table = read_all(files, IngestConfig(max_doc_bytes=MAX))
    reasons = collections.Counter(r for r in table.column(REASON).to_pylist() if r)
    assert dict(reasons) == expected
    good = [i for i, r in zip(table.column("id").to_pylist(), table.column(REASON).to_pylist()) if r is None]
    assert {"good-0", "good-1"} <= set(good)
    # Truncated archives keep the records before the cut.
    assert any(i.startswith("gz-") for i in good) and any(i.startswith("zst-") for i in good)


def test_quarantine_rows_say_where_and_why(damaged):
    folder, _ = damaged
    table = read_all([f.url for f in io.list_files([str(folder)])], IngestConfig(max_doc_bytes=MAX))
    rows = {r["id"]: r for r in table.to_pylist()}
    broken = next(r for r in rows.values() if r[REASON] == "invalid_utf8")
    assert broken["_file"].endswith("mixed.jsonl") and broken["_line"] == 3
    assert "caf" in broken["text"]  # the raw record is kept, decoded with replacement, for inspection
    # Too long a line is measured, not parsed: its id comes from file and line, its size is real.
    huge = next(r for r in rows.values() if r[REASON] == "oversized_document")
    assert huge["id"].endswith("mixed.jsonl:6") and len(huge["text"]) <= IngestConfig().quarantine_preview_bytes
    assert json.loads(huge["meta"])["bytes"] == len(json.dumps({"id": "huge", "text": "x" * (MAX + 1)}))


def test_ids_made_up_when_missing_are_stable(tmp_path):
    src = tmp_path / "books"
    src.mkdir()
    (src / "a.jsonl").write_text('{"text": "one"}\n{"text": "two"}\n')
    ids = read_all([str(src / "a.jsonl")]).column("id").to_pylist()
    assert ids == ["books/a.jsonl:1", "books/a.jsonl:2"]
    assert read_all([str(src / "a.jsonl")]).column("id").to_pylist() == ids


def test_conversation_rows_are_documents(tmp_path):
    src = tmp_path / "agent"
    src.mkdir()
    msg = {"id": "c1", "text": None, "messages": [{"role": "user", "content": "hi"}],
           "tools": [{"type": "function", "function": {"name": "f"}}]}
    (src / "a.jsonl").write_text(json.dumps(msg) + "\n")
    row = read_all([str(src / "a.jsonl")]).to_pylist()[0]
    assert row[REASON] is None and row["text"] is None
    assert json.loads(row["messages"])[0]["role"] == "user" and json.loads(row["tools"])[0]["type"] == "function"


def test_ingest_stage_conserves_and_counts(spark, damaged, tmp_path):
    folder, expected = damaged
    config = CurateConfig(ingest=IngestConfig(max_doc_bytes=MAX))
    outcome = run_ingest(spark, [str(folder)], str(tmp_path / "out"), config)
    m = outcome.manifest
    assert m.quarantined == dict(sorted(expected.items()))
    assert m.conserved() and m.docs_in == m.docs_out + sum(expected.values())
    rejects = pq.read_table(str(tmp_path / "out" / "00_ingest" / "rejects")).to_pylist()
    assert collections.Counter(r["reason"] for r in rejects) == expected
    assert all(r["disposition"] == "quarantined" for r in rejects)
    kept = pq.read_table([str(tmp_path / "out" / "00_ingest" / f.path) for f in m.files]).column("id").to_pylist()
    assert len(kept) == len(set(kept)) == m.docs_out


def test_duplicate_ids_across_files_are_made_unique(spark, tmp_path):
    for name in ("x", "y"):
        (tmp_path / "in" / name).mkdir(parents=True)
        (tmp_path / "in" / name / "p.jsonl").write_text('{"id": "0", "text": "same id, other file"}\n')
    m = run_ingest(spark, [str(tmp_path / "in")], str(tmp_path / "out"), CurateConfig()).manifest
    ids = pq.read_table(str(tmp_path / "out" / "00_ingest" / m.files[0].path)).column("id").to_pylist() if len(m.files) == 1 \
        else sum((pq.read_table(str(tmp_path / "out" / "00_ingest" / f.path)).column("id").to_pylist() for f in m.files), [])
    assert sorted(ids) == ["0", "0#2"]


def test_rows_frame_keeps_order_bytes_and_one_row_per_partition(spark):
    """The stage runner's "task k writes part k" rests on this: with as many partitions as rows, row k
    is partition k's only row; non-UTF-8 file names travel as bytes."""
    import pyarrow as pa

    from trivium.flows.spark import paths_frame, rows_frame

    names = [f"s3://b/part-{k:05d}.parquet" for k in range(7)]
    parts = paths_frame(spark, names).rdd.glom().collect()
    assert [[r.path for r in p] for p in parts] == [[n] for n in names]
    raw = [b"in/\xff.jsonl", b"in/a.jsonl", b"in/b.jsonl"]
    parts = rows_frame(spark, pa.table({"path": pa.array(raw, pa.binary())}), 2).rdd.glom().collect()
    assert [r.path for p in parts for r in p] == raw and all(parts)
