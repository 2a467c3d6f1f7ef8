"""Distributed pre-token counting with Spark, for inputs larger than one machine reads.

Every task reads whole input files through fsspec (local or ``s3://``), applies the same
deterministic, hash-based selection as the direct path (``sample.select``), renders
conversation rows with the chat template, cuts out special-token strings, pre-tokenizes
with the Youtu pre-tokenizer and emits partial ``(pre-token, count)`` batches through
``mapInArrow``; Spark sums them per pre-token and the driver collects the table. Training
from these counts (``train.train_from_counts``) gives the same merges as training on the
same text directly, because both paths count the same pre-tokens with the same weights.

The caller provides the ``SparkSession`` (``trivium.flows.spark.get_spark`` makes one). The
driver's fsspec defaults (``fsspec.config.conf``: S3 endpoint, keys) are re-applied in the
tasks, so ``s3://`` inputs read the same on executors.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .pretokenize import twin_ranges
from .sample import InputFile, ReadStats, SampleSpec, discover_files, is_heldout, iter_file_documents, plan_rates, select

FLUSH_ENTRIES = 200_000  # partial counts per task before a batch is emitted


def _files_frame(spark, files: list[InputFile], partitions: int | None):
    rows = [(f.path, f.source, f.fmt, json.dumps(list(map(list, f.buckets)))) for f in files]
    n = partitions or max(1, min(len(rows), spark.sparkContext.defaultParallelism * 4))
    rdd = spark.sparkContext.parallelize(rows, n)
    return spark.createDataFrame(rdd, "path string, source string, fmt string, buckets string")


def _file_of(path: str, source: str, fmt: str, buckets: str) -> InputFile:
    return InputFile(path=path, source=source, fmt=fmt, buckets=tuple((a, b) for a, b in json.loads(buckets)))


def _fsspec_options() -> dict[str, dict]:
    """The driver's fsspec defaults (e.g. an S3 endpoint and keys), for the tasks."""
    import fsspec

    return {p: dict(kw) for p, kw in fsspec.config.conf.items()}


def _apply_fsspec_options(options: dict[str, dict]) -> None:
    import fsspec

    for protocol, kwargs in options.items():
        fsspec.config.conf.setdefault(protocol, {}).update(kwargs)


def _measure_fn(spec: SampleSpec, options: dict[str, dict]):
    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        _apply_fsspec_options(options)

        for batch in batches:
            sizes: Counter = Counter()
            for row in batch.to_pylist():
                f = _file_of(row["path"], row["source"], row["fmt"], row["buckets"])
                for doc in iter_file_documents(f):
                    if is_heldout(doc, spec):
                        continue
                    sizes[(doc.source, doc.bucket)] += spec.budget_bytes(doc)
            if sizes:
                keys = list(sizes)
                yield pa.RecordBatch.from_pydict(
                    {
                        "source": [k[0] for k in keys],
                        "bucket": [k[1] for k in keys],
                        "bytes": [sizes[k] for k in keys],
                    },
                    schema=pa.schema([("source", pa.string()), ("bucket", pa.string()), ("bytes", pa.int64())]),
                )

    return fn


def _count_fn(spec: SampleSpec, rates: Mapping[str, float], stats_acc, options: dict[str, dict], twin, digits: int):
    from .pretokenize import PretokenCounter, install_twin_ranges
    from .special_tokens import split_on_special

    def fn(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        _apply_fsspec_options(options)
        install_twin_ranges(twin)  # the driver's fast-path table: nothing to compute on executors

        schema = pa.schema([("word", pa.string()), ("count", pa.int64())])

        def emit(counts: Counter):
            words = list(counts)
            return pa.RecordBatch.from_pydict({"word": words, "count": [counts[w] for w in words]}, schema=schema)

        counter = PretokenCounter(digits)
        for batch in batches:
            for row in batch.to_pylist():
                f = _file_of(row["path"], row["source"], row["fmt"], row["buckets"])
                st = ReadStats()
                selected_docs = 0
                selected_bytes = 0
                for doc in iter_file_documents(f, st):
                    m = select(doc, spec, rates, "train")
                    if m <= 0:
                        continue
                    selected_docs += 1
                    selected_bytes += m * len(doc.text.encode("utf-8", "surrogatepass"))
                    for piece in split_on_special(doc.text):
                        counter.add(piece, m)
                    if len(counter) >= FLUSH_ENTRIES:
                        yield emit(counter.result())
                if stats_acc is not None:
                    stats_acc.add({"files": 1, "docs": st.docs, "bad_lines": st.bad_lines, "no_text": st.no_text,
                                   "repaired": st.repaired, "bytes": st.bytes, "sample_docs": selected_docs,
                                   "sample_bytes": selected_bytes})
        if len(counter):
            yield emit(counter.result())

    return fn


def _dict_accumulator(spark):
    from pyspark.accumulators import AccumulatorParam

    class DictSum(AccumulatorParam):
        def zero(self, value):
            return {}

        def addInPlace(self, a, b):
            for k, v in b.items():
                a[k] = a.get(k, 0) + v
            return a

    return spark.sparkContext.accumulator({}, DictSum())


def measure_sources_spark(spark, files: list[InputFile], spec: SampleSpec, *, partitions: int | None = None) -> dict[tuple[str, str], int]:
    """Training bytes per (source, bucket), computed by a Spark job."""
    from pyspark.sql import functions as F

    df = _files_frame(spark, files, partitions)
    out = df.mapInArrow(_measure_fn(spec, _fsspec_options()), "source string, bucket string, bytes long")
    rows = out.groupBy("source", "bucket").agg(F.sum("bytes").alias("bytes")).collect()
    return {(r["source"], r["bucket"]): int(r["bytes"]) for r in rows}


def count_pretokens_spark(
    spark,
    inputs: Iterable[str] | list[InputFile],
    spec: SampleSpec,
    *,
    rates: Mapping[str, float] | None = None,
    min_count: int = 1,
    partitions: int | None = None,
    digits: int = 1,
) -> tuple[dict[str, int], dict[str, Any]]:
    """Pre-token counts of the training sample, counted by Spark tasks.

    Returns ``({byte-level pre-token: count}, info)``. ``min_count`` > 1 drops rare
    pre-tokens before they reach the driver (then the merges may differ from the direct
    path's, which keeps every pre-token).
    """
    from pyspark.sql import functions as F

    files = inputs if (isinstance(inputs, list) and inputs and isinstance(inputs[0], InputFile)) else discover_files(inputs)  # type: ignore[arg-type]
    if not files:
        return {}, {"files": 0}
    if rates is None:
        rates = plan_rates(measure_sources_spark(spark, files, spec, partitions=partitions), spec) if spec.sample_bytes is not None else {}
    acc = _dict_accumulator(spark)
    df = _files_frame(spark, files, partitions)
    partial = df.mapInArrow(_count_fn(spec, dict(rates), acc, _fsspec_options(), twin_ranges(), digits), "word string, count long")
    totals = partial.groupBy("word").agg(F.sum("count").alias("count"))
    if min_count > 1:
        totals = totals.where(F.col("count") >= min_count)
    table = totals.toArrow()
    words = table.column("word").to_pylist()
    cnts = table.column("count").to_pylist()
    counts = dict(zip(words, cnts))
    info = {"rates": dict(sorted(rates.items())), "distinct_pretokens": len(counts), **acc.value}
    return counts, info
