"""The near-dedup stage's Spark path at a million documents, side by side with text-dedup's Spark MinHash.

The corpus is synthetic with a known duplicate structure, made from ../shared/corpus at run time:
background documents are 4-10 sentences drawn from English Wikipedia and news, a quarter of their
words replaced by random corpus words (so two documents that drew the same sentence still share
few 5-grams, as unrelated web pages do); 15% of them get 1-3 copies edited as in the labelled set
(sentences deleted or inserted, paragraphs moved, another site's header and footer around them).
Written as Parquet (id, text) in `--work`, reused by later runs with the same size and seed.

* trivium: the `near_dedup` stage with its defaults (containment verification at 0.8, LSH 56 x 2)
  forced onto its Spark path (`driver_band_rows=0`, `cc_driver_edges=0`: nothing on the driver, as
  a corpus past ~300K documents runs), through the stage runner to its committed output.
* text-dedup (PyPI `text-dedup`, `text_dedup/minhash_spark.py` as published, threshold 0.8,
  112 permutations -> its own bands/rows), run in its own virtualenv and process against the same
  pyspark version. GraphFrames' JVM package is not on PyPI (no Maven here), so its
  `GraphFrame.connectedComponents` is given by a small shim with the same algorithm family
  (alternating large-star / small-star on DataFrames, checkpointed per round); everything else is
  text-dedup's code, including its partition settings (8192 shuffle partitions, repartition(4096)).

Both run on `local[2]` with `--driver-memory` 3g and an event log, from which the shuffle bytes
(written) are summed; peak RSS is sampled from /proc every 0.5 s over the Spark JVM and its Python
workers (in local mode the executor is the driver JVM). Recall is per planted copy (removed when
its cluster keeps one document), false drops are background documents without copies removed.

Set up the peer once (its pins conflict with trivium's, so it gets its own venv):

    python3.11 -m venv /tmp/textdedup-venv && /tmp/textdedup-venv/bin/pip install text-dedup "pyspark==4.1.4"
    nice -n 10 .venv/bin/python benchmarks/dedup_scale.py --docs 1000000 \
        --textdedup-python /tmp/textdedup-venv/bin/python
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import neardup_eval as ev  # noqa: E402  (the edits of the labelled set)
from proctree import PeakMemory  # noqa: E402

# ---- the synthetic corpus -----------------------------------------------------------------------


def _sentences(corpus_dir: Path, limit: int = 400_000) -> list[str]:
    out: list[str] = []
    for source in ("enwiki", "nltk_news"):
        for part in sorted((corpus_dir / source).glob("part-*.jsonl.gz")):
            with gzip.open(part, "rt") as f:
                for line in f:
                    text = json.loads(line).get("text") or ""
                    out += [s for s in ev.sentences(text) if 8 <= len(s.split()) <= 60]
                    if len(out) >= limit:
                        return out
    return out


def make_corpus(corpus_dir: Path, n_docs: int, folder: Path, seed: int = 3, files: int = 16) -> np.ndarray:
    """Write `folder/part-*.parquet` (id, text); returns the truth: cluster number per document (-1: none)."""
    rng = random.Random(seed)
    pool = _sentences(corpus_dir)
    vocab = sorted({w for s in pool[:50_000] for w in s.split()})
    chrome = [d["text"] for d in ev.load_background(corpus_dir, (("web_boilerplate", 181),))]
    texts: list[str] = []
    truth: list[int] = []
    cluster = 0
    while len(texts) < n_docs:
        words = " ".join(rng.sample(pool, rng.randint(4, 10))).split()
        for k in rng.sample(range(len(words)), len(words) // 4):
            words[k] = rng.choice(vocab)
        text = " ".join(words)
        text = re.sub(r"(?<=[.!?]) ", "\n", text, count=3)  # a few paragraphs
        if rng.random() < 0.15 and len(texts) + 4 <= n_docs:
            copies = rng.randint(1, 3)
            texts.append(text)
            truth.append(cluster)
            for _ in range(copies):
                kind = rng.choice(ev.EDIT_KINDS)
                texts.append(ev.edit(kind, text, " ".join(rng.sample(pool, 6)), rng.choice(chrome), rng))
                truth.append(cluster)
            cluster += 1
        else:
            texts.append(text)
            truth.append(-1)
    order = np.random.default_rng(seed).permutation(n_docs)  # copies spread over the files
    folder.mkdir(parents=True, exist_ok=True)
    for k, rows in enumerate(np.array_split(order, files)):
        table = pa.table({"id": [f"d{i:08d}" for i in rows], "text": [texts[i] for i in rows]})
        pq.write_table(table, folder / f"part-{k:05d}.parquet")
    return np.asarray(truth, dtype=np.int64)


def score(kept_ids: set[str], truth: np.ndarray) -> dict:
    """Recall over planted copies and false drops over background documents, from the kept ids."""
    kept = np.zeros(len(truth), dtype=bool)
    kept[[int(i[1:]) for i in kept_ids]] = True
    in_cluster = truth >= 0
    sizes = np.bincount(truth[in_cluster])
    kept_per = np.bincount(truth[in_cluster], weights=kept[in_cluster], minlength=len(sizes))
    removable = int((sizes - 1).sum())
    removed = int(np.minimum(sizes - np.maximum(kept_per, 1), sizes - 1).sum())
    background = ~in_cluster
    return {
        "kept": int(kept.sum()),
        "recall": round(removed / removable, 4) if removable else 1.0,
        "clusters_emptied": int((kept_per == 0).sum()),
        "background_false_drops": round(float((~kept[background]).mean()), 5),
    }


# ---- measuring ----------------------------------------------------------------------------------


def memory_report(mem: PeakMemory) -> dict:
    return {
        "peak_rss_mb": round(mem.peak_total / 2**20),  # summed PSS of the tree at its peak
        "peak_jvm_rss_mb": round(mem.largest("spark jvm")),
        "peak_python_worker_rss_mb": round(mem.largest("python worker")),
    }


def shuffle_bytes(event_dir: Path) -> int:
    """Shuffle bytes written, summed over the tasks of the (single) application in an event-log folder."""
    total = 0
    for log in (p for p in event_dir.rglob("*") if p.is_file()):  # Spark 4 writes a folder per application
        with open(log) as f:
            for line in f:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                metrics = json.loads(line).get("Task Metrics") or {}
                total += (metrics.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
    return total


# ---- the two systems ----------------------------------------------------------------------------


def run_trivium(inputs: Path, work: Path) -> dict:
    from trivium.flows.manifest import read_manifest
    from trivium.flows.spark import SparkConfig, get_spark
    from trivium.flows.stage import read_documents, run_stage
    from trivium.flows.stages.near_dedup import NearDedupConfig, build_near_dedup

    events = work / "events"
    events.mkdir(parents=True)
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        "--conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false "
        f"--conf spark.eventLog.dir=file://{events} pyspark-shell"
    )
    spark = get_spark(SparkConfig(master="local[2]", partitions=8, driver_memory="3g"))
    spark.range(1).count()
    config = NearDedupConfig(driver_band_rows=0, cc_driver_edges=0, checkpoint_dir=str(work / "checkpoints"))
    df = spark.read.parquet(str(inputs)).select("id", "text")
    n = df.count()
    stats: dict = {}
    out = str(work / "stage")
    t0 = time.perf_counter()
    with PeakMemory(os.getpid()) as rss:  # this process's tree: the JVM and its Python workers
        manifest = run_stage(
            spark,
            stage="near_dedup",
            stage_dir=out,
            config=config,
            inputs=["scale"],
            build=lambda: build_near_dedup(spark, df, config, stats),
            docs_in=n,
            force=True,
        )
    wall = time.perf_counter() - t0
    kept = {r.id for r in read_documents(spark, out, read_manifest(out)).select("id").toLocalIterator()}
    spark.stop()
    return {"wall_s": round(wall, 1), "shuffle_write_mb": round(shuffle_bytes(events) / 1e6, 1), **memory_report(rss),
            "stats": stats, "kept_ids": kept}


_GRAPHFRAMES_SHIM = '''
"""GraphFrame.connectedComponents for text-dedup without the GraphFrames JVM package (not on PyPI):
alternating large-star / small-star rounds on DataFrames, checkpointed each round, as GraphFrames does."""
from pyspark.sql import functions as F


class GraphFrame:
    def __init__(self, vertices, edges):
        self.vertices, self.edges = vertices, edges

    def connectedComponents(self):
        spark = self.edges.sparkSession
        e = self.edges.select(F.greatest("src", "dst").alias("src"), F.least("src", "dst").alias("dst"))
        e = e.where(F.col("src") != F.col("dst")).distinct().localCheckpoint()
        while True:
            nb = e.select(F.col("src").alias("u"), F.col("dst").alias("v")).union(
                e.select(F.col("dst").alias("u"), F.col("src").alias("v")))
            m = nb.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
            large = nb.join(m, "u").where(F.col("v") > F.col("u")).select(
                F.col("v").alias("src"), F.col("m").alias("dst")).distinct()
            m2 = large.groupBy("src").agg(F.min("dst").alias("m"))
            small = large.join(m2, "src").select(F.col("dst").alias("src"), F.col("m").alias("dst")).where(
                F.col("src") != F.col("dst")).union(m2.select("src", F.col("m").alias("dst"))).distinct()
            small = small.checkpoint()
            changed = small.exceptAll(e).limit(1).count() + e.exceptAll(small).limit(1).count()
            e = small
            if not changed:
                break
        comp = e.select(F.col("src").alias("id"), F.col("dst").alias("component")).union(
            e.select(F.col("dst").alias("id"), F.col("dst").alias("component"))).distinct()
        return self.vertices.join(comp, "id", "left").select(
            "id", F.coalesce("component", "id").alias("component"))
'''


def run_textdedup(python: str, inputs: Path, work: Path, threshold: float, num_perm: int) -> dict:
    events = work / "events"
    events.mkdir(parents=True)
    shim = work / "shim"
    (shim / "graphframes").mkdir(parents=True)
    (shim / "graphframes" / "__init__.py").write_text(_GRAPHFRAMES_SHIM)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(shim)
    env["PYSPARK_SUBMIT_ARGS"] = (
        f"--master local[2] --driver-memory 3g --conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false "
        f"--conf spark.eventLog.dir=file://{events} pyspark-shell"
    )
    env["PYSPARK_PYTHON"] = python  # its workers need its venv too
    cmd = [python, "-m", "text_dedup.minhash_spark", "--input", str(inputs), "--output", str(work / "out"),
           "--column", "text", "--threshold", str(threshold), "--num_perm", str(num_perm),
           "--checkpoint_dir", str(work / "checkpoints")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PeakMemory(proc.pid) as rss:
        log = proc.communicate()[0]
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"text-dedup failed ({proc.returncode}):\n{log[-3000:]}")
    print(f"text-dedup wall {wall:.1f} s", file=sys.stderr, flush=True)
    kept: set[str] = set()
    for part in (work / "out").rglob("*.parquet"):  # partitioned by __pid__: read file by file
        pf = pq.ParquetFile(part)
        if "id" in pf.schema_arrow.names:
            kept.update(pf.read(columns=["id"])["id"].to_pylist())
    return {"wall_s": round(wall, 1), "shuffle_write_mb": round(shuffle_bytes(events) / 1e6, 1), **memory_report(rss),
            "kept_ids": kept}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--corpus", type=Path, default=Path(os.environ.get("TRIVIUM_SHARED", REPO.parent / "shared")) / "corpus"
    )
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "trivium-dedup-scale")
    ap.add_argument("--textdedup-python", default=None, help="python of a venv with text-dedup (skipped without)")
    ap.add_argument("--skip-trivium", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    data = args.work / f"corpus-{args.docs}"
    truth_file = data / "_truth.npy"
    t0 = time.perf_counter()
    if not truth_file.exists():
        shutil.rmtree(data, ignore_errors=True)
        truth = make_corpus(args.corpus, args.docs, data)
        np.save(truth_file, truth)
    truth = np.load(truth_file)
    mb = sum(f.stat().st_size for f in data.glob("part-*.parquet")) / 1e6
    result: dict = {"documents": len(truth), "parquet_mb": round(mb, 1), "corpus_s": round(time.perf_counter() - t0, 1),
                    "planted_clusters": int(truth.max() + 1), "load_average_1m": round(os.getloadavg()[0], 1)}
    runs = {}
    systems = {}  # the peer first: its time is the unknown, and a long run still leaves its figure
    if args.textdedup_python:
        systems["text-dedup"] = lambda w: run_textdedup(args.textdedup_python, data, w, 0.8, 112)
    systems["trivium"] = None if args.skip_trivium else lambda w: run_trivium(data, w)
    for name, run in systems.items():
        if run is None:
            continue
        work = Path(tempfile.mkdtemp(prefix=f"{name}-scale-", dir=args.work))
        try:
            runs[name] = run(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs[name].update(score(runs[name].pop("kept_ids"), truth))
        result[name] = runs[name]
        print(f"{name}: {json.dumps(runs[name], default=str)}", file=sys.stderr, flush=True)  # a long run shows progress
    if "trivium" in runs and "text-dedup" in runs:
        result["speedup"] = round(runs["text-dedup"]["wall_s"] / runs["trivium"]["wall_s"], 2)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return result
    print(
        f"near-dedup at scale: {result['documents']} documents ({result['parquet_mb']} MB Parquet, "
        f"{result['planted_clusters']} planted clusters), local[2], 1-min load average {result['load_average_1m']}"
    )
    for name, r in runs.items():
        print(
            f"  {name:10s} wall {r['wall_s']:8.1f} s  shuffle written {r['shuffle_write_mb']:8.1f} MB  peak memory (PSS) "
            f"{r['peak_rss_mb']} MB (largest RSS: JVM {r['peak_jvm_rss_mb']}, "
            f"largest Python worker {r['peak_python_worker_rss_mb']})"
            f"  recall {r['recall']:.4f}  background false drops {100 * r['background_false_drops']:.3f}%"
        )
    if "speedup" in result:
        print(f"  trivium is {result['speedup']:.2f}x faster than text-dedup")
    if "trivium" in runs:
        print(f"  trivium stage stats: {runs['trivium']['stats']}")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
