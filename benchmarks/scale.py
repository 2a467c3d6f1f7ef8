"""curate at 1x, 2x and 4x a fixed slice of ../shared/corpus: per-stage MB/s per core, peak RSS, scaling, and a
projection of core-hours per TB and for an 11T-token corpus, stage by stage.

The slice takes the same leading share of every text source until it holds --mb of text. The 2x and 4x
inputs repeat it with new ids, so the dedup stages read k times the slice and remove the copies; every
stage's rate is taken on its own input bytes (the manifest's `text_bytes_in` over its `wall_s`), which is
what the projection needs. Peak RSS is sampled from /proc for the whole process tree of `trivium curate`:
the JVM (driver and executor in local mode), each Python worker, the driver's Python.

    nice -n 10 .venv/bin/python benchmarks/scale.py [--mb 50] [--factors 1,2,4] [--master local[2]]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DOLMA_CPU_H_PER_TB = 122  # Dolma's published tagging + mixing cost
BYTES_PER_TOKEN = 4.0  # UTF-8 bytes of text per token of a 128K BPE on web text (11T tokens ~ 44 TB)


def source_docs(source: str):
    for part in sorted((CORPUS / source).glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


def build_slice(mb: float) -> dict[str, list[dict]]:
    """The same leading share of every source with text, ~mb of text in all."""
    sizes = {}
    for d in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        sizes[d.name] = sum(len(r["text"].encode()) for r in source_docs(d.name) if isinstance(r.get("text"), str))
    total = sum(sizes.values())
    share = min(1.0, mb * 1e6 / total)
    out = {}
    for source, size in sizes.items():
        budget, got, rows = share * size, 0, []
        for r in source_docs(source):
            if got >= budget:
                break
            rows.append(r)
            got += len(r["text"].encode()) if isinstance(r.get("text"), str) else 0
        out[source] = rows
    return out


def write_input(rows: dict[str, list[dict]], folder: Path, copies: int) -> int:
    n = 0
    for source, docs in rows.items():
        (folder / source).mkdir(parents=True, exist_ok=True)
        with open(folder / source / "part-00000.jsonl", "w", encoding="utf-8") as f:
            for k in range(copies):
                for r in docs:
                    copy = dict(r, id=f"{r['id']}~{k}") if k else r
                    f.write(json.dumps(copy, ensure_ascii=False) + "\n")
                    n += len(r["text"].encode()) if isinstance(r.get("text"), str) else 0
    return n


class RssSampler(threading.Thread):
    """Peak RSS per process of a process tree, from /proc, every `every` seconds."""

    def __init__(self, root_pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.root, self.every, self.peak, self.kind = root_pid, every, {}, {}
        self.done = threading.Event()

    def _children(self) -> dict[int, int]:
        parents = {}
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/stat") as f:
                        parents[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    pass
        tree, frontier = {self.root}, [self.root]
        while frontier:
            pid = frontier.pop()
            kids = [c for c, pp in parents.items() if pp == pid and c not in tree]
            tree.update(kids)
            frontier += kids
        return tree

    def run(self):
        while not self.done.is_set():
            for pid in self._children():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        rss = next((int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")), 0) * 1024
                    if pid not in self.kind:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                        self.kind[pid] = "jvm" if "java" in cmd.split(" ")[0] else (
                            "python worker" if "pyspark" in cmd and "daemon" in cmd or "worker" in cmd else
                            "driver python" if pid == self.root else "other")
                    self.peak[pid] = max(self.peak.get(pid, 0), rss)
                except (OSError, StopIteration):
                    pass
            self.done.wait(self.every)

    def summary(self) -> dict[str, tuple[int, float]]:
        """kind -> (processes, peak RSS in MB of the largest one)."""
        out: dict[str, tuple[int, float]] = {}
        for pid, rss in self.peak.items():
            kind = self.kind.get(pid, "other")
            n, top = out.get(kind, (0, 0.0))
            out[kind] = (n + 1, max(top, rss / 1e6))
        return out


def run_curate(inp: Path, out: Path, master: str) -> tuple[float, dict, dict]:
    cmd = [str(REPO / ".venv" / "bin" / "trivium"), "curate", "-i", str(inp), "-o", str(out), "--master", master,
           "--set", "spark.driver_memory=3g", "--json"]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = RssSampler(proc.pid)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.time() - start
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"curate failed ({proc.returncode}): {stderr[-2000:]}")
    stages = {}
    for m in sorted(out.glob("*/_manifest.json")):
        d = json.loads(m.read_text())
        stages[d["stage"]] = d
    return wall, stages, sampler.summary()


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


def report(results: dict, cores: int, master: str, dt: float) -> None:
    """Scaling against the smallest run and the projection from the largest one (printed after every run)."""
    base = min(results)
    print(f"\nscaling against {base}x (time ratio / input ratio per stage; goal: 4x data <= 4.4x time, RSS flat):")
    for k in sorted(results):
        if k == base:
            continue
        w0, s0, r0, t0 = results[base]
        w1, s1, r1, t1 = results[k]
        print(f"  {k}x: curate wall {w1 / w0:.2f}x for {t1 / t0:.1f}x text")
        for name in s1:
            if name in s0 and s0[name]["wall_s"] and s0[name]["text_bytes_in"]:
                tr = s1[name]["wall_s"] / s0[name]["wall_s"]
                ir = s1[name]["text_bytes_in"] / s0[name]["text_bytes_in"]
                print(f"    {name:18} time {tr:5.2f}x for input {ir:4.1f}x")
        print("    peak RSS " + ", ".join(f"{kind}: {r1[kind][1]:.0f} MB (was {r0[kind][1]:.0f})"
                                       for kind in sorted(r1) if kind in r0))
    top = max(results)
    _, stages, _, _ = results[top]
    tb_11t = 11e12 * BYTES_PER_TOKEN / 1e12
    print(f"\nprojection from the {top}x run (core-hours = 1e6 MB / (MB/s per core) / 3600):")
    print(f"  assumptions: {BYTES_PER_TOKEN} bytes of text per token, so 11T tokens = {tb_11t:.0f} TB; every stage reads")
    print("  the whole corpus (conservative: filters and dedup shrink what later stages read); rates as measured")
    print(f"  here on {master} under load {os.getloadavg()[0]:.1f} (a shared machine: real rates are higher);")
    print("  Spark/Prefect start-up not included (a fixed cost per run, not per TB).")
    total = 0.0
    print(f"  {'stage':18} {'MB/s/core':>10} {'core-h/TB':>10} {'core-h for 11T tokens':>22}")
    for name, m in stages.items():
        if not m["wall_s"] or not m["text_bytes_in"]:
            continue
        rate = m["text_bytes_in"] / 1e6 / m["wall_s"] / cores
        ch = 1e6 / rate / 3600
        total += ch
        print(f"  {name:18} {rate:10.2f} {ch:10.1f} {ch * tb_11t:22,.0f}")
    print(f"  {'curate, all stages':18} {'':10} {total:10.1f} {total * tb_11t:22,.0f}")
    print(f"  {'Dolma (published)':18} {'':10} {DOLMA_CPU_H_PER_TB:10.1f} {DOLMA_CPU_H_PER_TB * tb_11t:22,.0f}")
    dt_ch = 1e6 / dt / 3600
    print(f"  {'datatrove heuristic filters alone':34} {dt:.3f} MB/s/core -> {dt_ch:,.0f} core-h/TB, "
          f"{dt_ch * tb_11t:,.0f} core-h for 11T tokens (measured now, one process)")
    print(f"  ratio curate / Dolma: {total / DOLMA_CPU_H_PER_TB:.2f}  (goal <= 1)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50.0, help="text in the 1x slice")
    ap.add_argument("--factors", default="1,2,4")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--keep", action="store_true", help="keep the inputs and runs")
    args = ap.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"{CORPUS} is absent: the benchmark reads ../shared/corpus")
    cores = int(args.master.split("[")[1].rstrip("]")) if "[" in args.master else os.cpu_count()
    factors = [int(x) for x in args.factors.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="trivium-bench-scale-"))
    print(f"load average at start: {os.getloadavg()}  ({os.cpu_count()} CPUs on this machine)")
    rows = build_slice(args.mb)
    results = {}
    dt = datatrove_rate()
    try:
        for k in factors:
            text = write_input(rows, tmp / f"in{k}", k)
            wall, stages, rss = run_curate(tmp / f"in{k}", tmp / f"run{k}", args.master)
            results[k] = (wall, stages, rss, text)
            print(f"\n{k}x: {text / 1e6:.1f} MB of text, curate wall {wall:.1f} s on {args.master}")
            print(f"  {'stage':18} {'docs in':>9} {'MB in':>8} {'wall s':>8} {'MB/s/core':>10}")
            for name, m in stages.items():
                rate = m["text_bytes_in"] / 1e6 / m["wall_s"] / cores if m["wall_s"] else 0.0
                print(f"  {name:18} {m['docs_in']:9d} {m['text_bytes_in'] / 1e6:8.1f} {m['wall_s']:8.1f} {rate:10.2f}")
            print("  peak RSS: " + ", ".join(f"{kind} x{n}: {mb:.0f} MB" for kind, (n, mb) in sorted(rss.items())))
            report(results, cores, args.master, dt)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
