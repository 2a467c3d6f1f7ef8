"""Peak memory of a process tree, sampled from /proc: the benchmarks' one way to measure a command and what it
starts (a Spark JVM, its Python workers, a Prefect server).

Per process: peak RSS and its kind. For the whole tree: peak of the summed PSS, which splits shared pages
between the processes sharing them, so pyspark's forked workers are not counted twice, and the CPU time the
tree has used (user + system, every process ever seen, at its last sample) over time.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import defaultdict

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    kids[int(f.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return kids


def tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def _field(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def rss(pid: int) -> int:
    return _field(f"/proc/{pid}/status", "VmRSS:") or 0


def pss(pid: int) -> int:
    found = _field(f"/proc/{pid}/smaps_rollup", "Pss:")
    return rss(pid) if found is None else found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` itself (its reaped children are counted under their own pids)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def kind(pid: int, root: int, cmd: str) -> str:
    exe = cmd.split(" ", 1)[0].rsplit("/", 1)[-1]
    if exe == "java":
        return "launcher jvm" if "org.apache.spark.launcher.Main" in cmd else "spark jvm"
    if "pyspark.daemon" in cmd or "spark_daemon" in cmd:  # trivium.flows.spark_daemon wraps pyspark's
        return "python worker"
    if pid == root:
        return "driver python" if "python" in exe else "root"
    return "prefect server" if "prefect.server" in cmd else "other"


class PeakMemory:
    """`with PeakMemory(pid) as mem:` samples the tree of `pid` every `every` seconds until the block ends."""

    def __init__(self, root: int, every: float = 0.5):
        self.root, self.every = root, every
        self.peak_rss: dict[int, int] = {}
        self.kinds: dict[int, str] = {}
        self.peak_total = 0
        self.cpu: dict[int, float] = {}
        self.cpu_samples: list[tuple[float, float]] = []  # (time.time(), CPU seconds of the tree so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        total = 0
        for pid in tree(self.root):
            cmd = cmdline(pid)
            if cmd:  # re-read each time: spark-class is a bash script that execs the JVM under the same pid
                self.kinds[pid] = kind(pid, self.root, cmd)
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss(pid))
            total += pss(pid)
            if (used := cpu_seconds(pid)) is not None:
                self.cpu[pid] = used
        self.peak_total = max(self.peak_total, total)
        self.cpu_samples.append((time.time(), sum(self.cpu.values())))

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the tree used between two time.time() instants (linear between samples)."""
        return self._cpu_at(end) - self._cpu_at(start)

    def _cpu_at(self, t: float) -> float:
        i = bisect.bisect_left(self.cpu_samples, t, key=lambda sample: sample[0])
        if i == 0:
            return self.cpu_samples[0][1] if self.cpu_samples else 0.0
        if i == len(self.cpu_samples):
            return self.cpu_samples[-1][1]
        (t0, c0), (t1, c1) = self.cpu_samples[i - 1], self.cpu_samples[i]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.every):
                return

    def largest(self, of_kind: str) -> float:
        """Peak RSS in MB of the largest process of a kind (0 when there was none)."""
        return max((v for p, v in self.peak_rss.items() if self.kinds.get(p) == of_kind), default=0) / 2**20

    def by_kind(self) -> dict[str, tuple[int, float]]:
        """kind -> (processes seen, peak RSS in MB of the largest one)."""
        count: dict[str, int] = defaultdict(int)
        for pid in self.peak_rss:
            count[self.kinds.get(pid, "other")] += 1
        return {k: (n, self.largest(k)) for k, n in sorted(count.items())}
