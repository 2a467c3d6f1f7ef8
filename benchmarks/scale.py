"""curate at 1x, 2x and 4x a fixed slice of ../shared/corpus: per-stage MB/s per core, peak RSS, scaling, and a
projection of core-hours per TB and for an 11T-token corpus, stage by stage.

The slice takes the same leading share of every text source until it holds --mb of text. The 2x and 4x
inputs add 1 and 3 variants of it with new ids: the words of each line (the characters of a line without spaces,
as CJK is written) shuffled, the last one kept. A variant keeps the original's script, word lengths, symbols,
stop words and line structure, so every stage, dedup included, reads k times the slice's text and the filters see
the same kind of text; its shingles are new, so no dedup stage folds it into the original. Every stage's rate is
taken on its own input bytes (the manifest's `text_bytes_in` over its `wall_s`). A stage's time is a fixed part
(Spark jobs, manifest counts, commit) plus a part per byte; the marginal rate (the least-squares slope of time
against bytes over all runs) is the per-byte part, which is what a TB costs. Peak RSS is sampled from /proc for
the whole process tree of `trivium curate`: the Spark JVM (driver and executor in local mode), each Python worker,
the CLI's Python, the Prefect server. The same sampler sums the tree's CPU time (user + system), so each stage
is also costed in CPU-hours, Dolma's unit, next to core-hours of wall time: on `local[2]` a core often waits (the
last tasks of a stage, a step on the driver alone, other tenants of the machine), which wall time counts and CPU
time does not.

    nice -n 10 .venv/bin/python benchmarks/scale.py [--mb 50] [--factors 1,2,4] [--master local[2]] [--doc-bytes 3000]

`--doc-bytes N` runs the same text as fewer, longer documents (consecutive documents of a source joined), to
measure what per-document costs (a fastText call, LSH rows, Python per row) weigh at the reader's document size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proctree import PeakMemory

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DOLMA_CPU_H_PER_TB = 122  # Dolma's published tagging + mixing cost
BYTES_PER_TOKEN = 4.0  # UTF-8 bytes of text per token of a 128K BPE on web text (11T tokens ~ 44 TB)


def source_docs(source: str):
    for part in sorted((CORPUS / source).glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


def text_bytes(record: dict) -> int:
    return len(record["text"].encode()) if isinstance(record.get("text"), str) else 0


def build_slice(mb: float) -> dict[str, list[dict]]:
    """The same leading share of every source with text, ~mb of text in all."""
    corpus = {d.name: list(source_docs(d.name)) for d in sorted(p for p in CORPUS.iterdir() if p.is_dir())}
    sizes = {source: sum(map(text_bytes, docs)) for source, docs in corpus.items()}
    share = min(1.0, mb * 1e6 / sum(sizes.values()))
    out = {}
    for source, docs in corpus.items():
        budget, got, rows = share * sizes[source], 0, []
        for r in docs:
            if got >= budget:
                break
            rows.append(r)
            got += text_bytes(r)
        out[source] = rows
    return out


def merge_documents(rows: dict[str, list[dict]], min_bytes: int) -> dict[str, list[dict]]:
    """Consecutive text documents of each source joined (by a blank line) into documents of >= min_bytes:
    the same text in fewer, longer documents, as web pages are. Conversations stay as they are."""
    out = {}
    for source, docs in rows.items():
        merged, pending, size = [], [], 0
        for r in docs:
            if not isinstance(r.get("text"), str):
                merged.append(r)
                continue
            pending.append(r)
            size += text_bytes(r)
            if size >= min_bytes:
                merged.append(dict(pending[0], text="\n\n".join(p["text"] for p in pending)))
                pending, size = [], 0
        if pending:
            merged.append(dict(pending[0], text="\n\n".join(p["text"] for p in pending)))
        out[source] = merged
    return out


def variant(text: str, seed: str) -> str:
    """The text with the words of each line shuffled (the characters of a line without spaces), the last kept."""
    rng, out = random.Random(seed), []
    for line in text.split("\n"):
        words = line.split(" ")
        if len(words) >= 4:
            head = words[:-1]
            rng.shuffle(head)
            line = " ".join(head + words[-1:])
        elif len(line) >= 8 and " " not in line:
            head = list(line[:-1])
            rng.shuffle(head)
            line = "".join(head) + line[-1]
        out.append(line)
    return "\n".join(out)


def write_input(rows: dict[str, list[dict]], folder: Path, copies: int) -> int:
    n = 0
    for source, docs in rows.items():
        (folder / source).mkdir(parents=True, exist_ok=True)
        with open(folder / source / "part-00000.jsonl", "w", encoding="utf-8") as f:
            for k in range(copies):
                for r in docs:
                    copy = r
                    if k:
                        copy = dict(r, id=f"{r['id']}~{k}")
                        if isinstance(r.get("text"), str):
                            copy["text"] = variant(r["text"], copy["id"])
                    f.write(json.dumps(copy, ensure_ascii=False) + "\n")
                    n += text_bytes(r)
    return n


def run_curate(inp: Path, out: Path, master: str) -> tuple[float, dict, dict, float]:
    """(wall, manifests by stage, peak RSS by kind, CPU seconds of the whole run); each manifest gains `cpu_s`,
    the CPU time the process tree used while the stage ran (it ends when its manifest is written)."""
    cmd = [str(REPO / ".venv" / "bin" / "trivium"), "curate", "-i", str(inp), "-o", str(out), "--master", master,
           "--set", "spark.driver_memory=3g", "--json"]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakMemory(proc.pid, every=0.25) as memory:
        _, stderr = proc.communicate()
    wall = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"curate failed ({proc.returncode}): {stderr[-2000:]}")
    stages = {}
    for m in sorted(out.glob("*/_manifest.json")):
        d = json.loads(m.read_text())
        end = m.stat().st_mtime
        d["cpu_s"] = memory.cpu_between(end - d["wall_s"], end)
        stages[d["stage"]] = d
    return wall, stages, memory.by_kind(), memory.cpu_between(start, time.time())


def datatrove_rate(mb: float = 0.5) -> float:
    """datatrove's own heuristic filters (the trivium datatrove engine, one process): MB/s on enwiki text."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from filters import read_texts
    from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters

    texts, size = [], 0
    for t in read_texts("enwiki"):
        texts.append(t)
        size += len(t.encode())
        if size >= mb * 1e6:
            break
    f = HeuristicFilters(HeuristicFilterConfig(engine="datatrove"))
    f.judge(texts[:5])
    start = time.time()
    f.judge(texts)
    return size / 1e6 / (time.time() - start)


def per_core(mb_in: float, seconds: float, cores: int) -> float:
    """MB/s per core (nan when nothing was timed)."""
    return mb_in / seconds / cores if seconds > 0 else float("nan")


def core_hours_per_tb(mb_per_s_core: float) -> float:
    return 1e6 / mb_per_s_core / 3600


def seconds_per_mb(results: dict, name: str, seconds: str) -> float:
    """The per-byte part of a stage's time: the least-squares slope of `seconds` (a manifest field) against MB in
    over every run so far (nan with fewer than two). Fitting all runs, not the last two, damps one noisy run."""
    points = [(m["text_bytes_in"] / 1e6, m[seconds]) for _, stages, *_ in results.values()
              if (m := stages.get(name)) and m["text_bytes_in"]]
    if len(points) < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx > 0 else float("nan")


def report(results: dict, cores: int, master: str, dt: float) -> None:
    """Scaling against the smallest run and the projection from the largest one (printed after every run)."""
    base = min(results)
    print(f"\nscaling against {base}x (time ratio / input ratio per stage; goal: 4x data <= 4.4x time, RSS flat):")
    for k in sorted(results):
        if k == base:
            continue
        w0, s0, r0, t0, _ = results[base]
        w1, s1, r1, t1, _ = results[k]
        print(f"  {k}x: curate wall {w1 / w0:.2f}x for {t1 / t0:.1f}x text")
        for name in s1:
            if name in s0 and s0[name]["wall_s"] and s0[name]["text_bytes_in"]:
                tr = s1[name]["wall_s"] / s0[name]["wall_s"]
                ir = s1[name]["text_bytes_in"] / s0[name]["text_bytes_in"]
                print(f"    {name:18} time {tr:5.2f}x for input {ir:4.1f}x")
        print("    peak RSS " + ", ".join(f"{kind}: {r1[kind][1]:.0f} MB (was {r0[kind][1]:.0f})"
                                       for kind in sorted(r1) if kind in r0))
    top = max(results)
    _, stages, _, _, run_cpu = results[top]
    tb_11t = 11e12 * BYTES_PER_TOKEN / 1e12
    print(f"\nprojection from the {top}x run (core-hours per TB = 1e6 MB / (MB/s per core) / 3600):")
    print(f"  assumptions: {BYTES_PER_TOKEN} bytes of text per token, so 11T tokens = {tb_11t:.0f} TB; every stage reads")
    print("  the whole corpus (conservative: filters and dedup shrink what later stages read); rates measured here")
    print(f"  on {master} ({cores} cores) under a 1-min load average of {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs;")
    print("  'as run' includes each stage's fixed part (Spark jobs, counts, commit), which a TB-sized run amortises;")
    if len(results) > 1:
        runs = ", ".join(f"{k}x" for k in sorted(results))
        print(f"  'marginal' is the per-byte part, the slope of wall time against bytes in over the {runs} runs")
        print("  (least squares): the cost of a TB.", end=" ")
    print("Spark/Prefect start-up is per run, not per TB, and is not included.")
    print(f"  {'stage':18} {'as run':>9} {'marginal':>9}   {'core-h/TB':>9} {'marginal':>9}   "
          f"{'core-h, 11T tokens':>18} {'marginal':>9}")
    totals = [0.0, 0.0]
    for name, m in stages.items():
        if not m["wall_s"] or not m["text_bytes_in"]:
            continue
        rate = per_core(m["text_bytes_in"] / 1e6, m["wall_s"], cores)
        slope = seconds_per_mb(results, name, "wall_s")
        marginal = 1 / slope / cores if slope > 0 else float("nan")
        ch, mch = core_hours_per_tb(rate), core_hours_per_tb(marginal)
        totals[0] += ch
        totals[1] += mch
        print(f"  {name:18} {rate:9.2f} {marginal:9.2f}   {ch:9.1f} {mch:9.1f}   {ch * tb_11t:18,.0f} {mch * tb_11t:9,.0f}")
    print(f"  {'curate, all stages':18} {'':9} {'':9}   {totals[0]:9.1f} {totals[1]:9.1f}   "
          f"{totals[0] * tb_11t:18,.0f} {totals[1] * tb_11t:9,.0f}")
    print(f"  {'Dolma (published)':18} {'':9} {'':9}   {DOLMA_CPU_H_PER_TB:9.1f} {'':9}   "
          f"{DOLMA_CPU_H_PER_TB * tb_11t:18,.0f}")
    dt_ch = core_hours_per_tb(dt)
    print(f"  datatrove's heuristic filters alone: {dt:.3f} MB/s/core -> {dt_ch:,.0f} core-h/TB, "
          f"{dt_ch * tb_11t:,.0f} core-h for 11T tokens (measured now, one process, enwiki)")
    print(f"  curate / Dolma: {totals[0] / DOLMA_CPU_H_PER_TB:.2f} as run, {totals[1] / DOLMA_CPU_H_PER_TB:.2f} marginal"
          "  (goal <= 1)")
    cpu_projection(results, top, tb_11t, run_cpu)


def cpu_projection(results: dict, top: int, tb_11t: float, run_cpu: float) -> None:
    """The same projection from CPU time used (Dolma's unit): a core that waits (the last tasks of a stage, a
    step on the driver alone, another tenant of the machine) costs wall time but no CPU time."""
    stages = results[top][1]
    print(f"\nprojection from the CPU time used in the {top}x run (CPU-hours per TB = CPU s / MB in x 1e6 / 3600;")
    print("  user + system time of every process of the run: Spark JVM, Python workers, the CLI, the Prefect server):")
    print(f"  {'stage':18} {'CPU s':>7} {'CPU-us/doc':>10}   {'CPU-h/TB':>9} {'marginal':>9}   "
          f"{'CPU-h, 11T tokens':>18} {'marginal':>9}")
    totals = [0.0, 0.0]
    for name, m in stages.items():
        if not m["text_bytes_in"]:
            continue
        ch = m["cpu_s"] / (m["text_bytes_in"] / 1e6) * 1e6 / 3600
        mch = seconds_per_mb(results, name, "cpu_s") * 1e6 / 3600
        totals[0] += ch
        totals[1] += mch
        print(f"  {name:18} {m['cpu_s']:7.1f} {m['cpu_s'] / max(m['docs_in'], 1) * 1e6:10.0f}   {ch:9.1f} {mch:9.1f}   "
              f"{ch * tb_11t:18,.0f} {mch * tb_11t:9,.0f}")
    print(f"  {'curate, all stages':18} {'':7} {'':10}   {totals[0]:9.1f} {totals[1]:9.1f}   "
          f"{totals[0] * tb_11t:18,.0f} {totals[1] * tb_11t:9,.0f}")
    staged = sum(m["cpu_s"] for m in stages.values())
    print(f"  the whole run used {run_cpu:.0f} CPU s, {staged:.0f} of them inside stages (the rest: Spark and Prefect")
    print("  start-up, Prefect's task bookkeeping between stages: per run, not per TB)")
    print(f"  curate / Dolma, CPU time: {totals[0] / DOLMA_CPU_H_PER_TB:.2f} as run, "
          f"{totals[1] / DOLMA_CPU_H_PER_TB:.2f} marginal  (goal <= 1)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50.0, help="text in the 1x slice")
    ap.add_argument("--factors", default="1,2,4")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--keep", action="store_true", help="keep the inputs and runs")
    ap.add_argument("--doc-bytes", type=int, default=0,
                    help="join consecutive documents of a source into documents of at least this many bytes (the "
                         "slice's own average is ~650; web pages average a few KB): per-document costs weigh less")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"{CORPUS} is absent: the benchmark reads ../shared/corpus")
    cores = int(args.master.split("[")[1].rstrip("]")) if "[" in args.master else os.cpu_count()
    factors = [int(x) for x in args.factors.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="trivium-bench-scale-"))
    print(f"load average at start: {os.getloadavg()}  ({os.cpu_count()} CPUs on this machine)")
    rows = build_slice(args.mb)
    if args.doc_bytes:
        rows = merge_documents(rows, args.doc_bytes)
        docs = sum(len(r) for r in rows.values())
        print(f"documents joined to >= {args.doc_bytes} bytes: {docs} documents in the 1x slice")
    results = {}
    dt = datatrove_rate()
    try:
        for k in factors:
            text = write_input(rows, tmp / f"in{k}", k)
            wall, stages, rss, cpu = run_curate(tmp / f"in{k}", tmp / f"run{k}", args.master)
            results[k] = (wall, stages, rss, text, cpu)
            print(f"\n{k}x: {text / 1e6:.1f} MB of text, curate wall {wall:.1f} s on {args.master}, {cpu:.0f} CPU s")
            # per-document costs (a fastText call, LSH band rows) weigh by document count, not bytes:
            # the mean document size says how far this slice is from the reader's own data
            print(f"  {'stage':18} {'docs in':>9} {'MB in':>8} {'bytes/doc':>9} {'wall s':>8} {'MB/s/core':>10} "
                  f"{'core-us/doc':>11} {'CPU s':>7}")
            for name, m in stages.items():
                rate = per_core(m["text_bytes_in"] / 1e6, m["wall_s"], cores)
                docs = max(m["docs_in"], 1)
                print(f"  {name:18} {m['docs_in']:9d} {m['text_bytes_in'] / 1e6:8.1f} {m['text_bytes_in'] / docs:9.0f} "
                      f"{m['wall_s']:8.1f} {rate:10.2f} {m['wall_s'] * cores / docs * 1e6:11.0f} {m['cpu_s']:7.1f}")
            print("  peak RSS: " + ", ".join(f"{kind} x{n}: {mb:.0f} MB" for kind, (n, mb) in sorted(rss.items())))
            report(results, cores, args.master, dt)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
