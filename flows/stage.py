"""The stage runner: one stage = one Spark job that writes Parquet parts, rejects and a manifest.

A stage is a `build()` returning a DataFrame of documents plus two bookkeeping columns:
`_reason` (null for kept rows) and `_disposition` ("dropped" or "quarantined"). An optional
`_counters` column (JSON {name: count}) is summed into the manifest's `extra`. Any other column
whose name starts with `_` is a detail for rejects only (`_dup_cluster` -> `dup_cluster`).

The runner hash-partitions the rows by id and sorts each partition, lets every task write its
own files through fsspec (named by partition and run token, so a retried task overwrites its
own identical file), collects the file stats on the driver and commits by writing
`_manifest.json` last.

A row-wise stage (language ID, the filters, the classifiers) returns a `BatchMap` instead: the runner
then maps each upstream part file into one output part in a Python task, with no shuffle and no
JVM round trip. Upstream parts are already hash-partitioned and sorted by id, and a row-wise map
keeps both, so the files are still a function of the documents. A stage whose frame is already
partitioned returns a `LaidOut` (ingest: by id family, so its one shuffle also makes ids unique).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel
from trivium.flows import io, progress
from trivium.flows.spark import paths_frame
from trivium.flows.manifest import (
    MANIFEST_NAME,
    ConservationError,
    FileEntry,
    Manifest,
    config_hash,
    read_manifest,
    write_manifest,
)

STAGE_CODE_VERSION = "1"
REASON, DISPOSITION, COUNTERS = "_reason", "_disposition", "_counters"
DROPPED, QUARANTINED = "dropped", "quarantined"
PER_DOCUMENT = {"id", "text", "meta", "messages", "tools"}  # columns whose values are (nearly) all distinct

_STATS_DDL = (
    "kind string, path string, rows long, bytes long, sha256 string, reasons string, text_bytes long, counters string"
)


def text_bytes(table: pa.Table) -> int:
    total = 0
    for col in ("text", "messages", "tools"):
        if col in table.column_names:
            total += pc.sum(pc.binary_length(table[col].cast(pa.string()))).as_py() or 0
    return total


class PartitionWriter:
    """mapInArrow function: writes one partition's kept rows and rejects, yields their stats."""

    def __init__(self, stage_dir: str, token: str, compression: str = "zstd"):
        self.stage_dir = stage_dir
        self.token = token
        self.compression = compression
        self.storage = io.current_options()

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        io.configure(self.storage)
        pid = TaskContext.get().partitionId()
        name = f"part-{pid:05d}-{self.token}.parquet"
        kept_w = _LazyParquet(io.join(self.stage_dir, name), self.compression)
        rej_w = _LazyParquet(io.join(self.stage_dir, "rejects", name), self.compression)
        reasons: Counter = Counter()
        counters: Counter = Counter()
        n_text = 0
        for batch in batches:
            table = pa.Table.from_batches([batch])
            n_text += text_bytes(table)
            if COUNTERS in table.column_names:
                for c in table[COUNTERS].to_pylist():
                    if c:
                        counters.update(json.loads(c))
            is_kept = pc.is_null(table[REASON])
            kept = table.filter(is_kept).drop_columns([c for c in table.column_names if c.startswith("_")])
            rejected = table.filter(pc.invert(is_kept))
            if kept.num_rows:
                kept_w.write(kept)
            if rejected.num_rows:
                for reason, disp in zip(rejected[REASON].to_pylist(), rejected[DISPOSITION].to_pylist()):
                    reasons[(disp or QUARANTINED, reason)] += 1
                rejected = rejected.drop_columns([c for c in (COUNTERS,) if c in rejected.column_names])
                rejected = rejected.rename_columns([c.lstrip("_") for c in rejected.column_names])
                rej_w.write(rejected)
        rows = []
        for kind, w in (("kept", kept_w), ("rejects", rej_w)):
            if w.rows:
                w.close()
                rows.append((kind, w.relpath(self.stage_dir), w.rows, w.bytes, w.sha256, None))
        summary = json.dumps([[d, r, n] for (d, r), n in sorted(reasons.items())])
        if not rows:  # an empty partition still reports its (zero) text bytes
            rows.append(("none", "", 0, 0, "", None))
        out = {
            "kind": [r[0] for r in rows],
            "path": [r[1] for r in rows],
            "rows": [r[2] for r in rows],
            "bytes": [r[3] for r in rows],
            "sha256": [r[4] for r in rows],
            "reasons": [summary] + [None] * (len(rows) - 1),
            "text_bytes": [n_text] + [0] * (len(rows) - 1),
            "counters": [json.dumps(dict(counters))] + [None] * (len(rows) - 1),
        }
        yield pa.RecordBatch.from_pydict(out)


class _LazyParquet:
    """Opens its file on the first write, so empty outputs leave no file behind."""

    def __init__(self, url: str, compression: str):
        self.url = url
        self.compression = compression
        self.rows = 0
        self._raw = self._hashing = self._writer = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            fs, path = io.fs_and_path(self.url)
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self._raw = fs.open(path, "wb")
            self._hashing = io.HashingWriter(self._raw)
            # no dictionary for per-document values: Arrow would build one per page only to abandon it
            dictionary = [f.name for f in table.schema if f.name not in PER_DOCUMENT]
            self._writer = pq.ParquetWriter(
                self._hashing, table.schema, compression=self.compression, use_dictionary=dictionary
            )
        self._writer.write_table(table.cast(self._writer.schema))
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        self._raw.close()

    @property
    def bytes(self) -> int:
        return self._hashing.bytes

    @property
    def sha256(self) -> str:
        return self._hashing.sha256.hexdigest()

    def relpath(self, stage_dir: str) -> str:
        return self.url[len(stage_dir) :].lstrip("/")


def committed_match(stage: str, stage_dir: str, config: BaseModel | None, inputs: list[str]) -> Manifest | None:
    """The stage's committed manifest when it was made from these inputs and this config and all its
    files are there (the stage can be skipped), else None."""
    existing = read_manifest(stage_dir)
    chash = config_hash(stage, config, STAGE_CODE_VERSION)
    if existing is None or existing.stage != stage or existing.config_hash != chash or existing.inputs != inputs:
        return None
    if not all(io.exists(io.join(stage_dir, f.path)) for f in existing.files + existing.rejects):
        return None
    existing.skipped = True
    return existing


def run_stage(
    spark,
    *,
    stage: str,
    stage_dir: str,
    config: BaseModel | None,
    inputs: list[str],
    build: Callable[[], object],
    docs_in: int | None = None,
    force: bool = False,
    extra: Callable[[object], dict] | None = None,
    upstream_files: list[str] | None = None,
) -> Manifest:
    """Run `build()`'s DataFrame (or `BatchMap`, `LaidOut`) to Parquet under `stage_dir`; skip when the manifest
    already matches.

    `docs_in` is the number of documents the stage was given (the upstream manifest's docs_out);
    the runner checks that every one of them is accounted for. Ingest, which discovers its
    documents, passes None and counts what its readers emitted. `upstream_files` (the upstream
    manifest's part files) lets a `BatchMap` run file by file.
    """
    chash = config_hash(stage, config, STAGE_CODE_VERSION)
    if not force and (existing := committed_match(stage, stage_dir, config, inputs)):
        return existing
    io.remove(io.join(stage_dir, MANIFEST_NAME))  # uncommit before touching any file

    progress.stage_started(stage, docs_in)
    start = time.time()
    df = build()
    token = hashlib.sha256((chash + "|".join(inputs)).encode()).hexdigest()[:12]
    if isinstance(df, BatchMap) and upstream_files:
        kept_schema = _kept_schema(df.schema)
        stats = _map_files(spark, upstream_files, df, PartitionWriter(stage_dir, token)).collect()
    elif isinstance(df, LaidOut):
        kept_schema = _kept_schema(df.df.schema)
        stats = df.df.mapInArrow(Chain(df.finish, PartitionWriter(stage_dir, token)), _STATS_DDL).collect()
    else:
        if isinstance(df, BatchMap):
            df = df.to_dataframe()
        kept_schema = _kept_schema(df.schema)
        # Hash-partitioning by id makes the files a function of the documents alone, whatever join
        # strategy or upstream layout produced them: reruns are byte-identical.
        partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
        laid_out = df.repartition(partitions, "id").sortWithinPartitions("id")
        stats = laid_out.mapInArrow(PartitionWriter(stage_dir, token), _STATS_DDL).collect()

    files, rejects = [], []
    dropped: Counter = Counter()
    quarantined: Counter = Counter()
    counters: Counter = Counter()
    n_text = 0
    for row in stats:
        if row.kind in ("kept", "rejects"):
            entry = FileEntry(path=row.path, rows=row.rows, bytes=row.bytes, sha256=row.sha256)
            (files if row.kind == "kept" else rejects).append(entry)
        if row.reasons:
            for disp, reason, n in json.loads(row.reasons):
                (dropped if disp == DROPPED else quarantined)[reason] += n
        if row.counters:
            counters.update(json.loads(row.counters))
        n_text += row.text_bytes or 0
    files.sort(key=lambda f: f.path)
    rejects.sort(key=lambda f: f.path)
    docs_out = sum(f.rows for f in files)
    emitted = docs_out + sum(dropped.values()) + sum(quarantined.values())
    if docs_in is not None and docs_in != emitted:
        raise ConservationError(f"stage {stage!r} was given {docs_in} documents but accounted for {emitted}")
    manifest = Manifest(
        stage=stage,
        config_hash=chash,
        inputs=inputs,
        docs_in=emitted if docs_in is None else docs_in,
        docs_out=docs_out,
        dropped=dict(sorted(dropped.items())),
        quarantined=dict(sorted(quarantined.items())),
        files=files,
        rejects=rejects,
        wall_s=round(time.time() - start, 3),
        text_bytes_in=n_text,
        doc_schema=kept_schema.json(),
        # the cores behind wall_s, so reports can turn MB/s into MB/s per core
        extra=with_rates(counters) | {"spark_cores": spark.sparkContext.defaultParallelism} | (extra(df) if extra else {}),
    )
    write_manifest(stage_dir, manifest)
    _remove_unlisted(stage_dir, manifest)
    return manifest


def with_rates(counters: dict) -> dict:
    """Sorted counters, floats rounded; each `X.mb` with an `X.task_s` (both summed over tasks) adds
    `X.mb_per_s`, a per-core rate (web ingest reports one per input format and one for extraction)."""
    out = {k: round(v, 6) if isinstance(v, float) else v for k, v in counters.items()}
    for key in [k[: -len(".mb")] for k in out if k.endswith(".mb")]:
        if out.get(f"{key}.task_s"):
            out[f"{key}.mb_per_s"] = round(out[f"{key}.mb"] / out[f"{key}.task_s"], 3)
    return dict(sorted(out.items()))


def _kept_schema(schema):
    from pyspark.sql.types import StructType

    return StructType([f for f in schema.fields if not f.name.startswith("_")])


def _remove_unlisted(stage_dir: str, manifest: Manifest) -> None:
    """Files of earlier, superseded runs would confuse a person browsing the folder; readers ignore them anyway."""
    listed = {f.path for f in manifest.files + manifest.rejects}
    fs, base = io.fs_and_path(stage_dir)
    for sub in ("", "rejects"):
        folder = f"{base}/{sub}" if sub else base
        if not fs.exists(folder):
            continue
        for p in fs.ls(folder, detail=False):
            rel = p[len(base) :].lstrip("/")
            if rel.endswith(".parquet") and rel.split("/")[-1].startswith("part-") and rel not in listed:
                fs.rm(p)
            elif rel.startswith(MANIFEST_NAME + ".") and rel.endswith(".tmp"):  # a writer killed before its rename
                fs.rm(p)


class ParquetPartReader:
    """mapInArrow function over a DataFrame of file paths: streams each Parquet file's rows."""

    def __init__(self, arrow_schema: pa.Schema, batch_rows: int = 2000):
        self.arrow_schema = arrow_schema
        self.batch_rows = batch_rows
        self.storage = io.current_options()

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        io.configure(self.storage)
        for batch in batches:
            for url in batch.column(0).to_pylist():
                fs, path = io.fs_and_path(url)
                with fs.open(path, "rb") as f:
                    pf = pq.ParquetFile(f)
                    for b in pf.iter_batches(batch_size=self.batch_rows, columns=self.arrow_schema.names):
                        if b.num_rows:
                            yield b.cast(self.arrow_schema)


PARTS = "_trivium_parts"  # set on the DataFrame `read_documents` returns: the part files it reads


def read_documents(spark, stage_dir: str, manifest: Manifest):
    """The kept documents of a committed stage as a DataFrame, one partition per part file."""
    from pyspark.sql.types import StructType

    schema = StructType.fromJson(json.loads(manifest.doc_schema))
    urls = manifest.file_urls(stage_dir)
    if not urls:
        return spark.createDataFrame([], schema)
    if all(io.protocol_of(u) in ("file", "local") for u in urls):
        # Local disks (or a cluster's shared mount): Spark's own vectorised reader is faster.
        df = spark.read.schema(schema).parquet(*urls)
    else:
        df = paths_frame(spark, urls).mapInArrow(part_reader(spark, schema), schema)
    setattr(df, PARTS, urls)  # a derived DataFrame (a filter, a join) does not inherit it
    return df


def map_documents(spark, docs, columns: list[str], fn: Callable, ddl: str):
    """`fn` (a mapInArrow function) over `columns` of `docs`, giving `ddl`. Over the DataFrame `read_documents`
    returned, the Python tasks read those columns from its part files themselves (one task a file): the
    texts are not decoded by the JVM only to be sent to Python."""
    parts = getattr(docs, PARTS, None)
    if parts is None:
        return docs.select(*columns).mapInArrow(fn, ddl)
    reader = part_reader(spark, docs.select(*columns).schema)
    return paths_frame(spark, parts).mapInArrow(Chain(reader, fn), ddl)


def arrow_batch_rows(spark) -> int:
    """Rows per Arrow batch, as Spark sends them to Python."""
    return int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "2000"))


def part_reader(spark, schema) -> ParquetPartReader:
    """A reader of part files giving `schema` (a Spark StructType) in Spark's batch size."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return ParquetPartReader(to_arrow_schema(schema), arrow_batch_rows(spark))


class FileMap:
    """mapInArrow function over a DataFrame of part-file paths: reads each file, maps its batches,
    casts them to the stage's schema and writes them as this task's part."""

    def __init__(self, reader: ParquetPartReader, fn: Callable, schema: pa.Schema, writer: PartitionWriter):
        self.reader, self.fn, self.schema, self.writer = reader, fn, schema, writer

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        mapped = (b.select(self.schema.names).cast(self.schema) for b in self.fn(self.reader(batches)) if b.num_rows)
        yield from self.writer(mapped)


def _map_files(spark, urls: list[str], step: BatchMap, writer: PartitionWriter):
    """One task per upstream part file (in manifest order, so task k writes part k on every run)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    reader = part_reader(spark, step.upstream.schema)
    paths = paths_frame(spark, urls)
    return paths.mapInArrow(FileMap(reader, step.fn, to_arrow_schema(step.schema), writer), _STATS_DDL)


def with_outcome(df, reason_col=None, disposition: str = DROPPED):
    """Add the bookkeeping columns: kept everywhere, or dropped/quarantined where `reason_col` is set."""
    from pyspark.sql import functions as F

    if reason_col is None:
        return df.withColumn(REASON, F.lit(None).cast("string")).withColumn(DISPOSITION, F.lit(None).cast("string"))
    return df.withColumn(REASON, reason_col).withColumn(
        DISPOSITION, F.when(reason_col.isNull(), F.lit(None).cast("string")).otherwise(F.lit(disposition))
    )


# ---- building blocks for stage definitions ---------------------------------------------


@dataclass(frozen=True)
class BatchMap:
    """A row-wise stage: `fn` (a mapInArrow function) over `upstream`, giving `schema`."""

    upstream: object  # DataFrame
    fn: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]
    schema: object  # StructType

    def to_dataframe(self):
        return self.upstream.mapInArrow(self.fn, self.schema)


@dataclass(frozen=True)
class LaidOut:
    """A frame already partitioned as the stage's parts are (`spark.sql.shuffle.partitions` of them,
    each a function of the documents alone) and the step its writing tasks run before writing, which
    leaves the rows sorted by id (ingest: copies of an id renamed there)."""

    df: object  # DataFrame
    finish: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


class Chain:
    """mapInArrow function: `second` over `first`'s batches."""

    def __init__(self, first: Callable, second: Callable):
        self.first, self.second = first, second

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from self.second(self.first(batches))


@dataclass(frozen=True)
class StageDef:
    """`build(spark, upstream_df, config)` -> a DataFrame with `_reason`/`_disposition` columns, or a `BatchMap`."""

    name: str
    config_field: str
    build: Callable
    description: str = ""
    enabled: Callable[[BaseModel], bool] = lambda cfg: getattr(cfg, "enabled", True)
    manifest_extra: Callable[[BaseModel], dict] | None = None  # config -> what the manifest records (e.g. models)


MARK_ROWS_LIMIT = 2_000_000  # at most this many rows marked by a `MarkListed` map; more go through a join


class MarkListed:
    """mapInArrow function: rows whose id is in `marks` (id -> detail) get `reason`, and the detail in
    `detail_column`; the rest are kept. A stage that decided on a few small (id, detail) rows applies them
    row-wise, file by file, instead of joining them to the documents (a shuffle of every text)."""

    def __init__(self, marks: dict[str, str], reason: str, detail_column: str):
        self.marks, self.reason, self.detail_column = marks, reason, detail_column

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            details = [self.marks.get(i) for i in batch.column("id").to_pylist()]
            batch = outcome_columns(batch, [self.reason if d is not None else None for d in details])
            yield set_column(batch, self.detail_column, pa.array(details, pa.string()))


def mark_rows(df, marks, reason: str, detail_column: str):
    """`df` with `reason` on the rows listed in `marks` (a DataFrame of id, `detail_column`): row-wise
    (a `BatchMap`, no shuffle) when they are at most MARK_ROWS_LIMIT, else a join."""
    from pyspark.sql import functions as F

    marks = marks.localCheckpoint()  # computed once, whichever way it is applied
    if marks.count() <= MARK_ROWS_LIMIT:
        listed = marks.toArrow()
        fn = MarkListed(dict(zip(listed["id"].to_pylist(), listed[detail_column].to_pylist())), reason, detail_column)
        schema = schema_plus(df.schema, (REASON, "string"), (DISPOSITION, "string"), (detail_column, "string"))
        return BatchMap(df, fn, schema)
    out = df.join(marks, "id", "left")
    return with_outcome(out, F.when(F.col(detail_column).isNotNull(), F.lit(reason)))


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    if name in batch.schema.names:
        i = batch.schema.get_field_index(name)
        return batch.set_column(i, pa.field(name, values.type), values)
    return batch.append_column(pa.field(name, values.type), values)


def outcome_columns(batch: pa.RecordBatch, reasons: list[str | None], disposition: str = DROPPED) -> pa.RecordBatch:
    batch = set_column(batch, REASON, pa.array(reasons, pa.string()))
    return set_column(batch, DISPOSITION, pa.array([disposition if r else None for r in reasons], pa.string()))


def schema_plus(schema, *fields: tuple[str, object]):
    """`schema` with columns appended (name, "string"|"double"|"long"|"float"|"int"|DataType); existing names kept."""
    from pyspark.sql import types as T

    simple = {
        "string": T.StringType(),
        "double": T.DoubleType(),
        "long": T.LongType(),
        "float": T.FloatType(),
        "int": T.IntegerType(),
    }
    out = T.StructType(list(schema.fields))
    for name, dtype in fields:
        if name not in out.fieldNames():
            out = out.add(name, simple[dtype] if isinstance(dtype, str) else dtype, True)
    return out
