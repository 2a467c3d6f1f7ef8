"""Exact dedup stage: one key per normalised text; the smallest id of each key is kept.

The keys (id, key: a few dozen bytes a document) are grouped, not the documents: the duplicates found
are then marked row-wise, file by file, so no text is shuffled.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pydantic import BaseModel
from trivium.filters.exact_dedup import dedup_keys
from trivium.flows.stage import StageDef, map_documents, mark_rows

EXACT_DUPLICATE = "exact_duplicate"


class ExactDedupConfig(BaseModel):
    enabled: bool = True


def _dedup_keys(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        column = lambda name: batch.column(name) if name in batch.schema.names else None  # noqa: E731
        text = column("text")
        text = pa.nulls(batch.num_rows, pa.string()) if text is None else text
        keys = dedup_keys(text, column("messages"), column("tools"))
        yield pa.RecordBatch.from_arrays([batch.column("id"), pa.array(keys, pa.string())], ["id", "_key"])


def build_exact_dedup(spark, df, config: ExactDedupConfig):
    """Keep the smallest id of each group of identical normalised texts; the rest are `exact_duplicate`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    content = ["id", *[c for c in ("text", "messages", "tools") if c in df.columns]]
    keys = map_documents(spark, df, content, _dedup_keys, "id string, _key string")  # only ids and keys are shuffled
    first = keys.withColumn("_duplicate_of", F.min("id").over(Window.partitionBy("_key")))
    duplicates = first.where(F.col("id") != F.col("_duplicate_of")).select("id", "_duplicate_of")
    return mark_rows(df, duplicates, EXACT_DUPLICATE, "_duplicate_of")


EXACT_DEDUP = StageDef("exact_dedup", "exact_dedup", build_exact_dedup, "NFKC + whitespace-normalised exact duplicates")
