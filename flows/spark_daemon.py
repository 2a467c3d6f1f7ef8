"""Spark's Python worker daemon (`spark.python.daemon.module`), minus redundant zip archives on sys.path.

Spark puts `pyspark.zip`, the py4j zip and the spark-core jar (5,000 entries, no Python) first on
every worker's PYTHONPATH, and each task calls `importlib.invalidate_caches()` (pyspark's
`setup_spark_files`), which on Python 3.11 makes every `zipimporter` re-read its archive's directory:
~14 ms a task for pyspark.zip alone, 16% of the Python workers' CPU in a `curate` (py-spy, 309K
documents). Where pyspark is installed as a package (pip's pyspark, as here), its bundled archives only
shadow it and its py4j, and the jar holds no Python: they are dropped before the daemon starts, so every
fork inherits the shorter path. A cluster's SPARK_HOME archives (pyspark not installed) and any other
archive stay.

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
    """The archives on `path` that import nothing (a jar) or are Spark's own copies, inside the installed
    pyspark package, of packages the directories on `path` provide (pyspark, py4j). Any other archive stays:
    it may ship another version of an installed package on purpose."""
    others = [p for p in path if os.path.isdir(p)]
    installed = PathFinder.find_spec("pyspark", others)
    spark_own = os.path.dirname(installed.origin) + os.sep if installed and installed.origin else None
    redundant = []
    for archive in [p for p in path if os.path.isfile(p)]:
        try:
            packages = python_packages(archive)
        except (OSError, zipfile.BadZipFile):
            continue
        ours = spark_own is not None and os.path.abspath(archive).startswith(spark_own)
        if not packages or (ours and all(PathFinder.find_spec(name, others) is not None for name in packages)):
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
