"""Progress per trivium stage, fed by Spark's status tracker: stage name, documents done of total, ETA.

The stage runner announces each stage (`stage_started`); the poller counts only the Spark tasks of
jobs started since then, so the bar belongs to one stage, never jumps backwards and never mixes
stages. Documents done are estimated from the share of tasks done and the stage's input count. On a
terminal a rich bar; otherwise (piped, CI, a log file) a plain line every `log_every` seconds.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@dataclass
class _Current:
    stage: str | None = None
    docs_in: int | None = None
    started: float = 0.0
    jobs_before: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


_current = _Current()
_tracker = None


def stage_started(stage: str, docs_in: int | None) -> None:
    """Called by the stage runner before a stage's Spark work; a no-op when nobody watches."""
    with _current.lock:
        _current.stage, _current.docs_in, _current.started = stage, docs_in, time.time()
        _current.jobs_before = _known_jobs()


def _known_jobs() -> set[int]:
    if _tracker is None:
        return set()
    return set(_tracker.getJobIdsForGroup(None) or [])


@dataclass
class Snapshot:
    stage: str
    tasks_done: int
    tasks_total: int
    docs_in: int | None
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.tasks_done / self.tasks_total if self.tasks_total else 0.0

    def monotone(self, best: float) -> Snapshot:
        """Jobs a stage starts later add tasks, which would move the bar back: show the best fraction seen,
        below 100% until the stage ends."""
        shown = min(max(self.fraction, best), 0.99)
        scale = 1000
        return Snapshot(self.stage, int(shown * scale), scale, self.docs_in, self.elapsed)

    @property
    def docs_done(self) -> int | None:
        return None if self.docs_in is None else int(self.docs_in * self.fraction)

    @property
    def eta(self) -> float | None:
        f = self.fraction
        return self.elapsed * (1 - f) / f if 0 < f < 1 else None

    def line(self) -> str:
        docs = f" ~{self.docs_done:,}/{self.docs_in:,} docs" if self.docs_in is not None else ""
        eta = f" ETA {self.eta:.0f}s" if self.eta is not None else ""
        return f"[progress] {self.stage}: {self.fraction:.0%}{docs} elapsed {self.elapsed:.0f}s{eta}"


def snapshot(tracker) -> Snapshot | None:
    """Tasks done / known over the Spark jobs the current stage started."""
    with _current.lock:
        if _current.stage is None:
            return None
        stage, docs_in, started, before = _current.stage, _current.docs_in, _current.started, _current.jobs_before
    done = total = 0
    for job_id in set(tracker.getJobIdsForGroup(None) or []) - before:
        job = tracker.getJobInfo(job_id)
        if job is None:
            continue
        for sid in job.stageIds:
            info = tracker.getStageInfo(sid)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
    return Snapshot(stage, done, total, docs_in, time.time() - started)


@contextmanager
def spark_progress(spark, console: Console, label: str = "spark tasks", interval: float = 0.5,
                   log_every: float = 15.0):
    """Show per-stage progress while the body runs: a bar on a terminal, plain lines otherwise."""
    global _tracker
    _tracker = spark.sparkContext.statusTracker()
    tracker = _tracker
    stop = threading.Event()
    if console.is_terminal:
        progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                            TextColumn("{task.fields[docs]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=console, transient=True)
        bar = progress.add_task(label, total=None, docs="")
    else:
        progress = bar = None

    def poll() -> None:
        last_log, last_stage, best = 0.0, None, 0.0
        while not stop.wait(interval):
            raw = snapshot(tracker)
            if raw is None:
                continue
            best = raw.fraction if raw.stage != last_stage else best
            snap = raw.monotone(best) if raw.tasks_total else raw
            best = max(best, snap.fraction)
            if progress is not None:
                if snap.stage != last_stage:
                    progress.reset(bar, total=None, description=f"{label}: {snap.stage}", docs="")
                docs = f"~{snap.docs_done:,}/{snap.docs_in:,} docs" if snap.docs_in is not None else ""
                progress.update(bar, completed=snap.fraction * 100, total=100 if raw.tasks_total else None, docs=docs)
            elif snap.stage != last_stage or time.time() - last_log >= log_every:
                console.print(snap.line(), markup=False, highlight=False)
                last_log = time.time()
            last_stage = snap.stage

    thread = threading.Thread(target=poll, daemon=True)
    try:
        if progress is not None:
            progress.start()
        thread.start()
        yield
    finally:
        stop.set()
        thread.join()
        if progress is not None:
            progress.stop()
        with _current.lock:
            _current.stage = None
        _tracker = None
