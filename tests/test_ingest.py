"""Ingest readers in-process (fast) and as a Spark stage: every kind of damage quarantined and counted."""

from __future__ import annotations

import collections
import glob
import json
import os
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from damage import ADVERSARIAL_IDS, ADVERSARIAL_RENAMED, build_damaged_inputs

from trivium.flows import io
from trivium.flows.config import CurateConfig
from trivium.flows.curate import run_ingest
from trivium.flows.ingest import ID_HELPERS, IngestConfig, RenameCopies, new_ids, read_all
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


def _reference_ids(rows: list[tuple[str, str, int]]) -> dict[tuple[str, int], str]:
    """The rule spelled out: the first (file, line) of each id keeps it; its j-th later copy `b` gets
    `b#c`, c the j-th integer >= 2 for which `b#c` is no input id."""
    inputs = {i for i, _, _ in rows}
    out = {}
    for b in sorted(inputs):
        copies = sorted((f, n) for i, f, n in rows if i == b)
        free = (c for c in range(2, 10 * len(rows) + 3) if f"{b}#{c}" not in inputs)
        out[copies[0]] = b
        for key in copies[1:]:
            out[key] = f"{b}#{next(free)}"
    return out


def test_new_ids_rename_later_copies_around_input_ids():
    renamed = new_ids(sorted(ADVERSARIAL_IDS))
    assert set(renamed) == ADVERSARIAL_RENAMED and len(renamed) == len(ADVERSARIAL_IDS)
    assert new_ids([]) == [] and new_ids(["a", "b"]) == ["a", "b"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["x", "x#2", "x#3", "x#2#2", "x#02", "x!", "x#", "x#a", "x#2!", "y", "y#10", "\u00e9",
                              "\u00e9#2"]), max_size=40),
    st.lists(st.integers(1, 7), min_size=1, max_size=10),
    st.sampled_from([0, 200, 1 << 20]),
)
def test_rename_copies_over_any_batch_split_follows_the_rule(ids, sizes, hold_bytes):
    """One partition's rows, sorted by (id, file, line) and cut into batches anywhere: the ids that
    leave are the rule's, unique, sorted, and the helper columns are gone; rows held beyond
    `hold_bytes` go through a memory-mapped file, which is removed."""
    rows = [(i, f"f{k % 3}", k) for k, i in enumerate(ids)]
    rows.sort()
    table = pa.table({"id": [r[0] for r in rows], "text": [f"{r[1]}:{r[2]}" for r in rows],
                      "_family": [""] * len(rows), "_file": [r[1] for r in rows], "_line": [r[2] for r in rows]})
    batches = [b for s, n in _cuts(len(rows), sizes) for b in table.slice(s, n).to_batches()]
    spilled = set(glob.glob(os.path.join(tempfile.gettempdir(), "trivium-ingest-held-*")))
    step = RenameCopies(hold_bytes=hold_bytes, batch_rows=3)
    out = pa.Table.from_batches(list(step(iter(batches))), schema=table.drop_columns(ID_HELPERS).schema)
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "trivium-ingest-held-*"))) <= spilled
    assert out.column_names == ["id", "text"]
    got = out.column("id").to_pylist()
    assert got == sorted(got) and len(set(got)) == len(got) == len(rows)
    expected = _reference_ids(rows)
    assert {tuple(t.split(":")): i for i, t in zip(got, out.column("text").to_pylist())} == {
        (f, str(n)): i for (f, n), i in expected.items()}


def _cuts(n: int, sizes: list[int]):
    start, k = 0, 0
    while start < n:
        yield start, sizes[k % len(sizes)]
        start, k = start + sizes[k % len(sizes)], k + 1
