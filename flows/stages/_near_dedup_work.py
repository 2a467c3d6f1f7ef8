"""Near-dedup's side effects: its work folder (checkpoints), Parquet parts through fsspec, the cross-run index.

A work folder is named `trivium-near-dedup-<random>` under `checkpoint_dir` (default: the driver's
temp dir). The stage's output DataFrame reads its checkpoints, so it must outlive `build()`: it is
removed when the next near-dedup build of the process starts or when the process exits. A process
killed with SIGKILL runs neither, so every new work folder first clears the stale ones beside it:

* a local folder holds `_lock`, locked (flock) by its process for as long as the process lives; the
  kernel drops the lock when the process dies however it dies, so a folder whose lock can be taken
  belongs to nobody and is removed, while a running process's folder is never touched;
* a folder on an object store (no locks there) records its host and pid in `_owner.json`; it is
  removed when that process is gone from this host, or after `REMOTE_STALE_S` whatever the host.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from trivium.filters.near_dedup import NearDedupParams
from trivium.flows import io
from trivium.flows.spark import paths_frame
from trivium.flows.stage import ParquetPartReader, _LazyParquet

PREFIX = "trivium-near-dedup-"
LOCK, OWNER = "_lock", "_owner.json"
REMOTE_STALE_S = 7 * 24 * 3600  # a work folder on an object store older than this is garbage wherever it came from
GRACE_S = 60  # a local folder this young may be between its creation and its lock: never taken
INDEX_MANIFEST = "_index.json"
INDEX_DDL = "id string, keys array<long>, sig binary"


# ---- Parquet parts through fsspec ---------------------------------------------------------------


class _PartWriter:
    """mapInArrow function: writes one partition to `<folder>/part-<pid>-<token>.parquet` (the runner's
    lazy writer), yields (path, rows)."""

    def __init__(self, folder: str, token: str):
        self.folder = folder
        self.token = token
        self.storage = io.current_options()

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        io.configure(self.storage)
        pid = TaskContext.get().partitionId()
        out = _LazyParquet(io.join(self.folder, f"part-{pid:05d}-{self.token}.parquet"), "zstd")
        for batch in batches:
            if batch.num_rows:
                out.write(pa.Table.from_batches([batch]))
        if out.rows:
            out.close()
            yield pa.RecordBatch.from_pydict({"path": [out.url], "rows": [out.rows]})


def write_parquet(df, folder: str) -> list[tuple[str, int]]:
    """Write `df` under `folder` through fsspec (one file per non-empty partition); returns [(url, rows)]."""
    token = uuid.uuid4().hex[:8]
    stats = df.mapInArrow(_PartWriter(folder, token), "path string, rows long").collect()
    return sorted((r.path, r.rows) for r in stats)


def read_parquet(spark, files: list[str], schema):
    from pyspark.sql.pandas.types import to_arrow_schema

    if not files:
        return spark.createDataFrame([], schema)
    paths = paths_frame(spark, files)
    return paths.mapInArrow(ParquetPartReader(to_arrow_schema(schema)), schema)


# ---- the work folder ----------------------------------------------------------------------------


def _is_local(url: str) -> bool:
    return io.protocol_of(url) in ("file", "local")


def _local_path(url: str) -> str:
    return io.fs_and_path(url)[1]


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def is_stale(url: str, now: float | None = None) -> bool:
    """Whether the work folder `url` belongs to no running process (see the module docstring)."""
    now = time.time() if now is None else now
    if _is_local(url):
        folder = _local_path(url)
        try:
            age = now - os.stat(folder).st_mtime
        except OSError:
            return False
        if age < GRACE_S:
            return False
        try:
            fd = os.open(os.path.join(folder, LOCK), os.O_RDWR)
        except FileNotFoundError:  # no lock: a folder of an older trivium, taken once it is old
            return age > REMOTE_STALE_S
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its process holds the lock: alive
        finally:
            os.close(fd)  # closing drops the probe's lock again
        return True
    try:
        owner = json.loads(io.read_bytes(io.join(url, OWNER)))
    except (OSError, ValueError):
        return False
    gone = owner.get("host") == socket.gethostname() and not _pid_running(int(owner.get("pid", -1)))
    return gone or now - float(owner.get("created", now)) > REMOTE_STALE_S


def remove_stale(parent: str) -> list[str]:
    """Remove the work folders under `parent` that no running process owns; returns their urls."""
    fs, path = io.fs_and_path(parent)
    try:
        entries = fs.ls(path, detail=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError:
        return []
    removed = []
    for entry in entries:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        url = io.join(parent, name)
        if name.startswith(PREFIX) and is_stale(url):
            _remove(url)
            removed.append(url)
    return removed


class Workdir:
    """Checkpoint folder of one build (see the module docstring for its lifetime)."""

    _open: ClassVar[list[Workdir]] = []

    def __init__(self, base: str | None):
        parent = base or tempfile.gettempdir()
        self.removed_stale = remove_stale(parent)
        self._lock_fd = None
        if base is None:
            self.url = tempfile.mkdtemp(prefix=PREFIX)
        else:
            self.url = io.join(base, f"{PREFIX}{uuid.uuid4().hex[:12]}")
        if _is_local(self.url):
            folder = _local_path(self.url)
            os.makedirs(folder, exist_ok=True)
            self._lock_fd = os.open(os.path.join(folder, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # held until release() or the process's death
        else:
            owner = {"host": socket.gethostname(), "pid": os.getpid(), "created": time.time()}
            io.write_bytes(io.join(self.url, OWNER), json.dumps(owner).encode())
        Workdir._open.append(self)
        atexit.register(self.release)

    def release(self) -> None:
        _remove(self.url)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @classmethod
    def release_earlier(cls) -> None:
        """Remove the folders of earlier builds of this process."""
        while cls._open:
            cls._open.pop().release()

    def checkpoint(self, spark, df, name: str):
        """Write `df` and read it back (lineage cut); returns (DataFrame, rows).

        Spark's own Parquet writer where it can reach the folder (local disk, HDFS), fsspec in tasks
        elsewhere (s3://: this environment has no hadoop-aws).
        """
        url = io.join(self.url, name)
        protocol = io.protocol_of(url)
        if protocol in ("file", "local", "hdfs"):
            df.write.mode("overwrite").parquet(url)
            back = spark.read.parquet(url)
            return back, _parquet_rows(url) if protocol != "hdfs" else back.count()
        files = write_parquet(df, url)
        return read_parquet(spark, [f for f, _ in files], df.schema), sum(n for _, n in files)

    def from_arrow(self, spark, table: pa.Table, name: str):
        """A driver-side table as a DataFrame, through a file in the work folder."""
        url = io.join(self.url, name, "part-00000.parquet")
        fs, path = io.fs_and_path(url)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as f:
            pq.write_table(table, f)
        from pyspark.sql.pandas.types import from_arrow_schema

        return read_parquet(spark, [url], from_arrow_schema(table.schema))

    def remove(self, name: str) -> None:
        _remove(io.join(self.url, name))


def _parquet_rows(url: str) -> int:
    """Rows in the Parquet files of a folder, from their footers (no Spark job)."""
    fs, path = io.fs_and_path(url)
    total = 0
    for p in fs.find(path):
        if p.endswith(".parquet"):
            with fs.open(p, "rb") as f:
                total += pq.ParquetFile(f).metadata.num_rows
    return total


def _remove(url: str) -> None:
    try:
        io.remove(url)
    except OSError:  # best effort: a checkpoint left behind is garbage, not an error
        pass


# ---- cross-run index ----------------------------------------------------------------------------


def read_index(spark, urls: list[str], params: NearDedupParams):
    """The (id, keys, sig) rows of earlier runs' indexes; refuses an index made with other LSH parameters."""
    from pyspark.sql.types import StructType

    files: list[str] = []
    want = params.index_signature()
    for url in urls:
        meta = json.loads(io.read_bytes(io.join(url, INDEX_MANIFEST)))
        if meta["params"] != want:
            diff = {k: (meta["params"].get(k), v) for k, v in want.items() if meta["params"].get(k) != v}
            raise ValueError(f"index {url} was built with other parameters (index, now): {diff}")
        files += [io.join(url, f["path"]) for f in meta["files"]]
    return read_parquet(spark, files, StructType.fromDDL(INDEX_DDL))


def write_index(kept_sigs, url: str, params: NearDedupParams, run: str) -> dict:
    """Write (id, keys, sig) of the kept documents under `url` and commit it with `_index.json`."""
    _remove(url)
    files = write_parquet(kept_sigs.select("id", "keys", "sig"), url)
    meta = {
        "params": params.index_signature(),
        "run": run,
        "docs": sum(n for _, n in files),
        "files": [{"path": f[len(url) :].lstrip("/"), "rows": n} for f, n in files],
    }
    io.write_bytes(io.join(url, INDEX_MANIFEST), json.dumps(meta, indent=1, sort_keys=True).encode())
    return meta
