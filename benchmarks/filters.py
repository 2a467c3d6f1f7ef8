"""Heuristic filter stage: trivium (Spark local[N]) vs datatrove's LocalPipelineExecutor, same documents.

Both run the same four datatrove filters with the same parameters (Gopher repetition + quality,
C4 quality, FineWeb quality) over the same English Wikipedia documents, with the same number of
workers; the printed ratio is trivium's MB/s per core over datatrove's.

    .venv/bin/python benchmarks/filters.py [--mb 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def sample(out: Path, mb: float, files: int) -> int:
    """Split ~mb of enwiki text into `files` JSONL.gz files; returns text bytes."""
    budget, total, rows = int(mb * 1e6), 0, []
    for part in sorted((CORPUS / "enwiki").glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                rows.append({"id": r["id"], "text": r["text"], "source": "enwiki"})
                total += len(r["text"].encode())
                if total >= budget:
                    break
        if total >= budget:
            break
    folder = out / "enwiki"
    folder.mkdir(parents=True)
    for k in range(files):
        with gzip.open(folder / f"part-{k:05d}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[k::files])
    return total


def datatrove_run(inp: Path, out: Path, workers: int) -> tuple[float, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    pipeline = [
        JsonlReader(str(inp / "enwiki"), glob_pattern="*.jsonl.gz"),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(str(out / "kept")),
    ]
    executor = LocalPipelineExecutor(pipeline, tasks=workers, workers=workers, logging_dir=str(out / "logs"))
    start = time.time()
    executor.run()
    wall = time.time() - start
    kept = sum(1 for p in (out / "kept").glob("*.jsonl.gz") for _ in gzip.open(p, "rt"))
    return wall, kept


def trivium_run(inp: Path, out: Path, workers: int) -> tuple[float, int]:
    from trivium.filters.heuristic import FilterSpec
    from trivium.flows.config import CurateConfig
    from trivium.flows.curate import run_after, run_ingest
    from trivium.flows.spark import SparkConfig, get_spark
    from trivium.flows.stages.heuristic import HEURISTIC

    same = [FilterSpec(name="gopher_repetition"), FilterSpec(name="gopher_quality"),
            FilterSpec(name="c4_quality", params={"filter_no_terminal_punct": False}), FilterSpec(name="fineweb_quality")]
    config = CurateConfig(
        spark=SparkConfig(master=f"local[{workers}]", partitions=workers * 2),
        heuristic_filter={"profiles": {"en": same, "default": same}, "detect_code": False, "detect_math": False},
    )
    spark = get_spark(config.spark)
    ingested = run_ingest(spark, [str(inp)], str(out), config)
    run_after(spark, HEURISTIC, 1, ingested, str(out), config, force=True)  # warm the Python workers
    start = time.time()
    m = run_after(spark, HEURISTIC, 1, ingested, str(out), config, force=True).manifest
    return time.time() - start, m.docs_out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"{CORPUS} is absent: the benchmark reads English Wikipedia from ../shared/corpus")
    tmp = Path(tempfile.mkdtemp(prefix="trivium-bench-filters-"))
    try:
        text_bytes = sample(tmp / "in", args.mb, files=args.workers * 2)
        mb = text_bytes / 1e6
        dt_wall, dt_kept = datatrove_run(tmp / "in", tmp / "datatrove", args.workers)
        tv_wall, tv_kept = trivium_run(tmp / "in", tmp / "trivium", args.workers)
        dt_rate = mb / dt_wall / args.workers
        tv_rate = mb / tv_wall / args.workers
        print(f"documents: {mb:.1f} MB of enwiki text, {args.workers} workers/cores each")
        print(f"datatrove LocalPipelineExecutor: {dt_wall:6.1f} s  {dt_rate:.3f} MB/s/core  kept {dt_kept}")
        print(f"trivium heuristic_filter (Spark): {tv_wall:6.1f} s  {tv_rate:.3f} MB/s/core  kept {tv_kept}")
        print(f"ratio trivium/datatrove throughput: {tv_rate / dt_rate:.2f}x  (overhead {100 * (dt_rate / tv_rate - 1):+.1f}%; goal <= +10%)")
        if dt_kept != tv_kept:
            print(f"note: kept counts differ ({tv_kept} vs {dt_kept})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
