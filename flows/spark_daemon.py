"""Spark's Python worker daemon (`spark.python.daemon.module`), minus redundant zip archives on sys.path.

Spark puts `pyspark.zip` and the py4j zip first on every worker's PYTHONPATH, and each task calls
`importlib.invalidate_caches()` (pyspark's `setup_spark_files`), which on Python 3.11 makes every
`zipimporter` re-read its archive's directory: ~14 ms a task for pyspark.zip's 1,300 entries, 16% of
the Python workers' CPU in a `curate` (py-spy, 309K documents). Where the same packages are installed
(pip's pyspark, as here), the archives only shadow them: they are dropped before the daemon starts,
so every fork inherits the shorter path. An archive whose packages are not installed elsewhere (a
cluster's SPARK_HOME) stays.

The daemon also imports the stages' modules once and freezes them out of the garbage collector
(`gc.freeze`) before it forks: pyspark runs a full `gc.collect()` after every task, which walks every
object of those modules (~36 ms a task with ~100K objects), and each fork would import them again.
"""

from __future__ import annotations

import sys
import zipfile
from importlib.machinery import PathFinder


def top_level_packages(archive: str) -> set[str]:
    with zipfile.ZipFile(archive) as z:
        return {name.split("/", 1)[0].removesuffix(".py") for name in z.namelist() if "/" in name or name.endswith(".py")}


def redundant_archives(path: list[str]) -> list[str]:
    """The zip entries of `path` whose every top-level package is also found outside any zip of `path`."""
    archives = [p for p in path if p.endswith(".zip")]
    others = [p for p in path if not p.endswith(".zip")]
    redundant = []
    for archive in archives:
        try:
            packages = top_level_packages(archive)
        except (OSError, zipfile.BadZipFile):
            continue
        if packages and all(PathFinder.find_spec(name, others) is not None for name in packages):
            redundant.append(archive)
    return redundant


def drop_redundant_archives() -> list[str]:
    dropped = redundant_archives(sys.path)
    for archive in dropped:
        sys.path.remove(archive)
        sys.path_importer_cache.pop(archive, None)
    return dropped


if __name__ == "__main__":
    drop_redundant_archives()
    import gc

    import trivium.flows.stages  # noqa: F401  (what the tasks' functions unpickle into)
    from pyspark.daemon import manager

    gc.collect()
    gc.freeze()
    manager()
