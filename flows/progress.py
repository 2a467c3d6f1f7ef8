"""A rich progress bar fed by Spark's status tracker: tasks done / tasks known, for the running job."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


@contextmanager
def spark_progress(spark, console: Console, label: str = "spark tasks", interval: float = 0.5):
    """Show Spark task progress while the body runs; silent when the console is not a terminal."""
    if not console.is_terminal:
        yield
        return
    tracker = spark.sparkContext.statusTracker()
    stop = threading.Event()
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)
    bar = progress.add_task(label, total=None)

    def poll() -> None:
        seen: dict[int, tuple[int, int]] = {}
        while not stop.wait(interval):
            for sid in tracker.getActiveStageIds():
                info = tracker.getStageInfo(sid)
                if info:
                    seen[sid] = (info.numCompletedTasks, info.numTasks)
            done = sum(d for d, _ in seen.values())
            total = sum(t for _, t in seen.values())
            progress.update(bar, completed=done, total=total or None, description=f"{label} ({len(seen)} spark stages)")

    thread = threading.Thread(target=poll, daemon=True)
    with progress:
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
