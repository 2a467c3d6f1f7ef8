"""Heuristic filter stage: trivium's fast engine vs its datatrove engine vs datatrove's LocalPipelineExecutor.

1. Speed, same documents (English Wikipedia), same rules (Gopher repetition + quality, C4 quality,
   FineWeb quality, datatrove's parameters), same number of workers: MB/s per core of
   - datatrove's LocalPipelineExecutor (JSONL reader -> the four filters -> JSONL writer),
   - trivium's heuristic_filter stage on Spark with `engine: datatrove` and with `engine: fast`
     (Parquet in, Parquet + rejects + manifest out),
   - the fast engine alone in one process (the kernel plus the rules, no Spark or IO),
   with the ratios to datatrove.
2. Agreement per source of ../shared/corpus: keep/drop verdict and drop reason of the fast engine vs the
   datatrove engine, with the default profiles (goal: >= 99.5% verdicts, >= 99% reasons).
3. What the filters remove: keep rates of documents over 500 characters on the clean sources, and the
   drop rates of the spam and boilerplate sources (language from language ID, as in curate).

    .venv/bin/python benchmarks/filters.py [--mb 8] [--workers 2] [--agree-docs 400]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
CLEAN = ("cmrc2018", "gaokao_stem", "math_eval_en", "stacks_latex", "code_python", "humaneval", "mbpp")
NOISE = ("sms_spam", "web_boilerplate")


def read_texts(source: str, limit: int | None = None) -> list[str]:
    texts = []
    for part in sorted((CORPUS / source).glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            for line in f:
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    texts.append(text)
                if limit and len(texts) >= limit:
                    return texts
    return texts


def sample(out: Path, mb: float, files: int) -> tuple[int, list[str]]:
    """Split ~mb of enwiki text into `files` JSONL.gz files; returns text bytes and the texts."""
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
    return total, [r["text"] for r in rows]


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


def same_rules(engine: str) -> dict:
    """datatrove's four filters for every document: no code/math profiles, FineWeb's line rule on every text."""
    from trivium.filters.heuristic import FilterSpec

    same = [FilterSpec(name="gopher_repetition"), FilterSpec(name="gopher_quality"),
            FilterSpec(name="c4_quality", params={"filter_no_terminal_punct": False}), FilterSpec(name="fineweb_quality")]
    return {"engine": engine, "profiles": {"en": same, "default": same}, "detect_code": False, "detect_math": False,
            "line_punct_min_lines": 0}


def trivium_runs(inp: Path, out: Path, workers: int) -> dict[str, tuple[float, int]]:
    from trivium.flows.config import CurateConfig
    from trivium.flows.curate import run_after, run_ingest
    from trivium.flows.spark import SparkConfig, get_spark
    from trivium.flows.stages.heuristic import HEURISTIC

    spark_cfg = SparkConfig(master=f"local[{workers}]", partitions=workers * 2)
    spark = get_spark(spark_cfg)
    ingested = run_ingest(spark, [str(inp)], str(out), CurateConfig(spark=spark_cfg))
    results = {}
    for engine in ("fast", "datatrove"):
        config = CurateConfig(spark=spark_cfg, heuristic_filter=same_rules(engine))
        run_after(spark, HEURISTIC, 1, ingested, str(out / engine), config, force=True)  # warm the Python workers
        start = time.time()
        m = run_after(spark, HEURISTIC, 1, ingested, str(out / engine), config, force=True).manifest
        results[engine] = (time.time() - start, m.docs_out)
    return results


def in_process(texts: list[str], batch: int = 2000) -> tuple[float, int]:
    from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters

    f = HeuristicFilters(HeuristicFilterConfig(**same_rules("fast")))
    f.judge(texts[:10])
    start = time.time()
    kept = sum(r is None for i in range(0, len(texts), batch) for r in f.judge_batch(texts[i:i + batch]).reasons)
    return time.time() - start, kept


def agreement(per_source: int) -> None:
    from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters

    fast, ref = (HeuristicFilters(HeuristicFilterConfig(engine=e)) for e in ("fast", "datatrove"))
    print(f"\nagreement, fast engine vs datatrove engine (default profiles, first {per_source} documents per source):")
    print(f"  {'source':16} {'docs':>5} {'verdict':>8} {'reason':>8} {'dropped':>8}  {'fast MB/s':>9} {'datatrove MB/s':>14}")
    for source in sorted(p.name for p in CORPUS.iterdir() if p.is_dir()):
        texts = read_texts(source, per_source)
        if not texts:
            print(f"  {source:16} (no text documents: conversations are not judged here)")
            continue
        mb = sum(len(t.encode()) for t in texts) / 1e6
        t0 = time.time()
        a = fast.judge(texts)
        t1 = time.time()
        b = ref.judge(texts)
        t2 = time.time()
        verdict = sum((x[2] is None) == (y[2] is None) for x, y in zip(a, b)) / len(texts)
        both = [(x[2], y[2]) for x, y in zip(a, b) if x[2] and y[2]]
        reason = sum(x == y for x, y in both) / len(both) if both else 1.0
        print(f"  {source:16} {len(texts):5d} {100 * verdict:7.2f}% {100 * reason:7.2f}% {len(both):8d}  "
              f"{mb / (t1 - t0):9.2f} {mb / (t2 - t1):14.3f}")


def removal() -> None:
    from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters
    from trivium.filters.langid import LanguageIdentifier

    f, lid = HeuristicFilters(HeuristicFilterConfig()), LanguageIdentifier()
    print("\nwhat the filters remove (default profiles, language from language ID):")
    for source in CLEAN + NOISE:
        texts = read_texts(source)
        v = f.judge_batch(texts, [lang for lang, _ in lid.predict(texts)])
        long = [r for t, r in zip(texts, v.reasons) if len(t) > 500]
        reasons = collections.Counter(r for r in long if r).most_common(2)
        if source in CLEAN:
            keep = sum(r is None for r in long) / max(1, len(long))
            flag = "ok" if keep >= 0.98 else "BELOW 98%"
            print(f"  clean {source:16} docs>500 chars {len(long):5d}  kept {100 * keep:5.1f}%  {flag:9} {reasons}")
        else:
            dropped = sum(r is not None for r in v.reasons) / len(texts)
            print(f"  noise {source:16} docs {len(texts):5d}  dropped {100 * dropped:5.1f}%  {reasons}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--agree-docs", type=int, default=400, help="documents per source for the agreement table")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"{CORPUS} is absent: the benchmark reads ../shared/corpus")
    if not args.skip_speed:
        tmp = Path(tempfile.mkdtemp(prefix="trivium-bench-filters-"))
        try:
            text_bytes, texts = sample(tmp / "in", args.mb, files=args.workers * 2)
            mb, w = text_bytes / 1e6, args.workers
            dt_wall, dt_kept = datatrove_run(tmp / "in", tmp / "datatrove", w)
            runs = trivium_runs(tmp / "in", tmp / "trivium", w)
            ip_wall, ip_kept = in_process(texts)
            dt_rate = mb / dt_wall / w
            print(f"documents: {mb:.1f} MB of enwiki text ({len(texts)} documents), {w} workers/cores each")
            print(f"datatrove LocalPipelineExecutor:       {dt_wall:7.1f} s  {dt_rate:7.3f} MB/s/core  kept {dt_kept}")
            for engine, label in (("datatrove", "trivium stage, engine datatrove:"), ("fast", "trivium stage, engine fast:")):
                wall, kept = runs[engine]
                rate = mb / wall / w
                print(f"{label:38} {wall:7.1f} s  {rate:7.3f} MB/s/core  kept {kept}  ({rate / dt_rate:5.1f}x datatrove)")
            ip_rate = mb / ip_wall
            print(f"{'fast engine in one process (1 core):':38} {ip_wall:7.1f} s  {ip_rate:7.3f} MB/s/core  kept {ip_kept}"
                  f"  ({ip_rate / dt_rate:5.1f}x datatrove)")
            print("goal: >= 25x datatrove per core and >= 3.5 MB/s/core with the agreement below")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    agreement(args.agree_docs)
    removal()


if __name__ == "__main__":
    main()
