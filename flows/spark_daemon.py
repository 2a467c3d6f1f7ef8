"""Spark's Python worker daemon (`spark.python.daemon.module`), minus redundant zip archives on sys.path.

Spark puts `pyspark.zip`, the py4j zip and the spark-core jar (5,000 entries, no Python) first on
every worker's PYTHONPATH, and each task calls `importlib.invalidate_caches()` (pyspark's
`setup_spark_files`), which on Python 3.11 makes every `zipimporter` re-read its archive's directory:
~14 ms a task for pyspark.zip alone, 16% of the Python workers' CPU in a `curate` (py-spy, 309K
documents). Where the same packages are installed (pip's pyspark, as here), the archives only shadow
them: they are dropped before the daemon starts, so every fork inherits the shorter path. An archive
with packages not installed elsewhere (a cluster's SPARK_HOME) stays.

The daemon also imports the stages' modules once and freezes them out of the garbage collector
(`gc.freeze`) before it forks: pyspark runs a full `gc.collect()` after every task, which walks every
object of those modules (~36 ms a task with ~100K objects), and each fork would import them again.
"""

from __future__ import annotations

import os
import sys
import zipfile
from importlib.machinery import PathFinder


def python_packages(archive: str) -> set[str]:
    """Top-level modules and packages in a zip archive (a jar is one): what importing from it could find."""
    with zipfile.ZipFile(archive) as z:
        names = [n for n in z.namelist() if n.endswith((".py", ".pyc", ".so"))]
    return {n.split("/", 1)[0].split(".", 1)[0] for n in names}


def redundant_archives(path: list[str]) -> list[str]:
    """The archives on `path` that import nothing the directories on `path` do not also provide."""
    archives = [p for p in path if os.path.isfile(p)]
    others = [p for p in path if os.path.isdir(p)]
    redundant = []
    for archive in archives:
        try:
            packages = python_packages(archive)
        except (OSError, zipfile.BadZipFile):
            continue
        if all(PathFinder.find_spec(name, others) is not None for name in packages):
            redundant.append(archive)
    return redundant


def drop_redundant_archives() -> list[str]:
    dropped = redundant_archives(sys.path)
    for archive in dropped:
        sys.path.remove(archive)
        for entry in [k for k in sys.path_importer_cache if k == archive or k.startswith(archive + os.sep)]:
            del sys.path_importer_cache[entry]
    return dropped


if __name__ == "__main__":
    drop_redundant_archives()
    import gc

    import pandas  # noqa: F401  (pyspark's Arrow serializers import it in every worker's first task)
    import pyspark.worker  # noqa: F401
    import trivium.flows.stages  # noqa: F401  (what the tasks' functions unpickle into)
    from pyspark.daemon import manager

    gc.collect()
    gc.freeze()
    manager()
