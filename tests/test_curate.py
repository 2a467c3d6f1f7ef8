"""The curate pipeline: conservation, byte-identical reruns, partition independence, resume, Prefect, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from damage import build_clean_inputs
from typer.testing import CliRunner

from trivium.flows.config import CurateConfig
from trivium.flows.curate import final_documents, run_after, run_ingest
from trivium.flows.spark import SparkConfig
from trivium.flows.stages import STAGES


def run_plain(spark, inputs: list[str], output: Path | str, config: CurateConfig | None = None):
    """The flow's stage loop without Prefect, for tests that look at stage internals."""
    config = config or CurateConfig()
    outcomes = [run_ingest(spark, inputs, str(output), config)]
    for i, sdef in enumerate(STAGES, start=1):
        if sdef.enabled(getattr(config, sdef.config_field)):
            outcomes.append(run_after(spark, sdef, i, outcomes[-1], str(output), config))
    return outcomes


def by_stage(outcomes):
    return {o.manifest.stage: o for o in outcomes}


def enabled_stages(config: CurateConfig | None = None) -> list[str]:
    config = config or CurateConfig()
    return ["ingest"] + [s.name for s in STAGES if s.enabled(getattr(config, s.config_field))]


def file_digests(outcomes) -> dict[str, list[str]]:
    return {o.manifest.stage: [f.sha256 for f in o.manifest.files + o.manifest.rejects] for o in outcomes}


@pytest.fixture(scope="module")
def clean_inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    build_clean_inputs(root)
    return root


@pytest.fixture(scope="module")
def plain_run(spark, clean_inputs, tmp_path_factory):
    """One default run of the stage loop, read (never written) by the tests that only look at it."""
    return run_plain(spark, [str(clean_inputs)], tmp_path_factory.mktemp("plain") / "run")


def test_every_stage_conserves_and_dedup_removes_the_mirror_once(spark, plain_run):
    for o in plain_run:
        m = o.manifest
        assert m.docs_in == m.docs_out + sum(m.dropped.values()) + sum(m.quarantined.values()), m.stage
    dedup = by_stage(plain_run)["exact_dedup"]
    assert dedup.manifest.dropped == {"exact_duplicate": 5}
    rejects = pq.read_table(str(Path(dedup.stage_dir) / "rejects")).to_pylist()
    # The representative is the smallest id: "mirror-i" < "news-i", so the news copies go.
    assert sorted(r["duplicate_of"] for r in rejects) == [f"mirror-{i}" for i in range(5)]
    kept = {r["id"] for r in final_documents(spark, plain_run).collect()}
    assert "chat-1" in kept and "mirror-own" in kept and not any(f"news-{i}" in kept for i in range(5))


def test_rerun_is_byte_identical_and_partitions_do_not_change_the_kept_set(spark, clean_inputs, plain_run, tmp_path):
    first = plain_run
    second = run_plain(spark, [str(clean_inputs)], tmp_path / "b")
    assert file_digests(first) == file_digests(second)
    for o1, o2 in zip(first, second):
        for f1, f2 in zip(o1.manifest.files, o2.manifest.files):
            assert (Path(o1.stage_dir) / f1.path).read_bytes() == (Path(o2.stage_dir) / f2.path).read_bytes()

    kept = {r["id"] for r in final_documents(spark, first).collect()}
    other = CurateConfig(spark=SparkConfig(partitions=3))
    spark.conf.set("spark.sql.shuffle.partitions", "3")
    try:
        third = run_plain(spark, [str(clean_inputs)], tmp_path / "c", other)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "4")
    assert len(third[0].manifest.files) != len(first[0].manifest.files)
    assert {r["id"] for r in final_documents(spark, third).collect()} == kept


def test_resume_skips_every_stage_and_a_config_change_reruns(spark, clean_inputs, tmp_path):
    out = tmp_path / "run"
    first = run_plain(spark, [str(clean_inputs)], out)
    again = run_plain(spark, [str(clean_inputs)], out)
    assert all(o.manifest.skipped for o in again)
    assert [o.manifest.model_dump(exclude={"skipped"}) for o in again] == [o.manifest.model_dump(exclude={"skipped"}) for o in first]
    heuristic = by_stage(first)["heuristic_filter"]
    on_disk = json.loads((Path(heuristic.stage_dir) / "_manifest.json").read_text())
    assert on_disk["config_hash"] == heuristic.manifest.config_hash and "skipped" not in on_disk

    changed = CurateConfig(exact_dedup={"enabled": True}, heuristic_filter={"detect_code": False})
    third = run_plain(spark, [str(clean_inputs)], out, changed)
    # The filter re-runs; its output is unchanged on this data, so every later stage, keyed on
    # its input's content, stays resumed.
    skipped = {o.manifest.stage: o.manifest.skipped for o in third}
    assert skipped.pop("heuristic_filter") is False and all(skipped.values())
    assert by_stage(third)["heuristic_filter"].manifest.config_hash != heuristic.manifest.config_hash


def test_curate_flow_runs_under_prefect(spark, prefect_harness, clean_inputs, tmp_path):
    from trivium.flows.curate import curate_flow

    outcomes = curate_flow(inputs=[str(clean_inputs)], output=str(tmp_path / "run"))
    assert [o.manifest.stage for o in outcomes] == enabled_stages()
    assert all(o.manifest.conserved() for o in outcomes)


def test_cli_curate_json_and_help(spark, prefect_harness, clean_inputs, tmp_path, monkeypatch):
    from trivium.flows.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["curate", "-i", str(clean_inputs), "-o", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [s["stage"] for s in report["stages"]] == enabled_stages()
    dedup = next(s for s in report["stages"] if s["stage"] == "exact_dedup")
    assert dedup["dropped"] == {"exact_duplicate": 5} and all(s["conserved"] for s in report["stages"])

    # A committed run is answered from its manifests: neither Spark nor Prefect is started.
    with monkeypatch.context() as m:
        m.setattr("trivium.flows.cli.spark_and_flow_or_fail", lambda *a: pytest.fail("Spark started for a committed run"))
        table = runner.invoke(app, ["curate", "-i", str(clean_inputs), "-o", str(tmp_path / "run")])
    assert table.exit_code == 0 and "resumed" in table.stdout
    start = time.monotonic()
    cli = [str(Path(sys.executable).with_name("trivium"))]
    proc = subprocess.run([*cli, "curate", "-i", str(clean_inputs), "-o", str(tmp_path / "run"), "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and all(s["skipped"] for s in json.loads(proc.stdout)["stages"]), proc.stderr
    print(f"committed run re-checked by a fresh `trivium curate` in {time.monotonic() - start:.1f} s")

    missing = runner.invoke(app, ["curate", "-i", str(tmp_path / "nope"), "-o", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "input not found" in missing.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("spark:\n  partitions: -1\n")
    result = runner.invoke(app, ["curate", "-i", str(clean_inputs), "-o", str(tmp_path / "y"), "-c", str(bad)])
    assert result.exit_code == 2 and "spark.partitions" in result.output

    for command in [[], ["curate"], ["demo"], ["stages"]]:
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0


def test_row_wise_stages_map_each_upstream_part_into_one_part(plain_run):
    """Language ID and the filters run file by file, no shuffle: part k holds exactly upstream part k's
    documents (kept or rejected), still sorted by id."""
    stages = by_stage(plain_run)

    def ids_by_part(o, entries) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for f in entries:
            part = Path(f.path).name.split("-")[1]  # part-<k>-<token>.parquet
            table = pq.read_table(str(Path(o.stage_dir) / f.path), columns=["id"])
            out.setdefault(part, []).extend(table["id"].to_pylist())
        return out

    for up, down in (("ingest", "langid"), ("langid", "heuristic_filter")):
        before = ids_by_part(stages[up], stages[up].manifest.files)
        kept = ids_by_part(stages[down], stages[down].manifest.files)
        rejected = ids_by_part(stages[down], stages[down].manifest.rejects)
        assert len(kept) == len(before) > 1
        for part, ids in kept.items():
            assert ids == sorted(ids)
        assert set(kept) | set(rejected) <= set(before)
        for part, ids in before.items():
            assert sorted(kept.get(part, []) + rejected.get(part, [])) == ids, (down, part)


def test_map_documents_reads_the_part_files_or_the_frame_alike(spark, plain_run):
    """Over what `read_documents` returned, the tasks read the part files (one task a file); over a derived
    frame, the frame itself; the rows are the same."""
    from trivium.flows.stage import PARTS, map_documents, read_documents

    o = by_stage(plain_run)["heuristic_filter"]

    def lengths(batches):
        for b in batches:
            yield pa.RecordBatch.from_arrays([b.column("id"), pa.compute.binary_length(b.column("text")).cast(pa.int64())], ["id", "n"])

    docs = read_documents(spark, o.stage_dir, o.manifest)
    assert getattr(docs, PARTS) == o.manifest.file_urls(o.stage_dir)
    by_parts = map_documents(spark, docs, ["id", "text"], lengths, "id string, n long")
    assert by_parts.rdd.getNumPartitions() == len(o.manifest.files)
    derived = docs.where("id IS NOT NULL")
    assert getattr(derived, PARTS, None) is None
    by_frame = map_documents(spark, derived, ["id", "text"], lengths, "id string, n long")
    rows = sorted(tuple(r) for r in by_parts.collect())
    assert rows == sorted(tuple(r) for r in by_frame.collect()) and len(rows) == o.manifest.docs_out


def test_mark_listed_marks_only_listed_ids_and_keeps_rows_in_place():
    from trivium.flows.stage import MarkListed

    batch = pa.RecordBatch.from_pydict({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    out = next(MarkListed({"b": "a"}, "exact_duplicate", "_duplicate_of")(iter([batch])))
    assert out.column("id").to_pylist() == ["a", "b", "c"]
    assert out.column("_reason").to_pylist() == [None, "exact_duplicate", None]
    assert out.column("_disposition").to_pylist() == [None, "dropped", None]
    assert out.column("_duplicate_of").to_pylist() == [None, "a", None]


def test_mark_rows_gives_the_same_rows_row_wise_and_by_join(spark, monkeypatch):
    from trivium.flows import stage

    docs = spark.createDataFrame([("a", "x"), ("b", "y"), ("c", "z")], "id string, text string")
    marks = spark.createDataFrame([("c", "a")], "id string, _duplicate_of string")

    def rows(out):
        df = out.to_dataframe() if isinstance(out, stage.BatchMap) else out
        return sorted(tuple(r) for r in df.select("id", "_reason", "_disposition", "_duplicate_of").collect())

    row_wise = stage.mark_rows(docs, marks, "exact_duplicate", "_duplicate_of")
    monkeypatch.setattr(stage, "MARK_ROWS_LIMIT", 0)  # more marks than a map may hold: the join
    joined = stage.mark_rows(docs, marks, "exact_duplicate", "_duplicate_of")
    assert isinstance(row_wise, stage.BatchMap) and not isinstance(joined, stage.BatchMap)
    assert rows(row_wise) == rows(joined) == [
        ("a", None, None, None), ("b", None, None, None), ("c", "exact_duplicate", "dropped", "a")
    ]


def test_python_workers_fork_from_a_daemon_without_zips_and_with_frozen_modules(spark, tmp_path):
    """The daemon freezes its preloaded modules out of the garbage collector and drops the archives that
    hold no Python (the spark-core jar) or are the installed pyspark's own copies of installed packages
    (pyspark.zip, py4j's zip); any other archive stays on the path."""
    from trivium.flows.spark_daemon import redundant_archives

    def worker_path(batches):
        import gc

        import pyspark

        for _ in batches:
            frozen = f"frozen:{gc.get_freeze_count()}"
            yield pa.RecordBatch.from_pydict({"entry": [*sys.path, "module:" + pyspark.__file__, frozen]})

    entries = [r.entry for r in spark.range(1, numPartitions=1).mapInArrow(worker_path, "entry string").collect()]
    assert not [e for e in entries if Path(e).is_file()]  # pyspark.zip, py4j's zip, the spark-core jar
    assert "site-packages" in [e for e in entries if e.startswith("module:")][0]
    # the stages' modules were imported and frozen out of the collector before the fork
    assert int([e for e in entries if e.startswith("frozen:")][0].split(":")[1]) > 10_000

    own = tmp_path / "only_here.zip"
    with zipfile.ZipFile(own, "w") as z:
        z.writestr("only_here_pkg/__init__.py", "")
    pinned = tmp_path / "pinned.zip"  # another pyarrow, shipped on purpose: not Spark's, so it stays
    with zipfile.ZipFile(pinned, "w") as z:
        z.writestr("pyarrow/__init__.py", "")
    jar = tmp_path / "classes.jar"
    with zipfile.ZipFile(jar, "w") as z:
        z.writestr("org/example/Main.class", b"\xca\xfe")
    import pyspark

    bundled = sorted(str(p) for p in (Path(pyspark.__file__).parent / "python" / "lib").glob("*.zip"))
    assert len(bundled) == 2  # pyspark.zip and py4j's
    path = [str(own), str(pinned), str(jar), str(tmp_path / "missing.zip"), *bundled, *sys.path]
    assert redundant_archives(path) == [str(jar), *bundled]
