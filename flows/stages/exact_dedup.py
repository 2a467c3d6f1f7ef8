"""Exact dedup stage: one key per normalised text; the smallest id of each key is kept."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pydantic import BaseModel
from trivium.filters.exact_dedup import dedup_key
from trivium.flows.stage import StageDef, schema_plus, set_column, with_outcome


class ExactDedupConfig(BaseModel):
    enabled: bool = True


def _add_dedup_keys(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        cols = {
            c: batch.column(c).to_pylist() if c in batch.schema.names else [None] * batch.num_rows
            for c in ("text", "messages", "tools")
        }
        keys = [dedup_key(t, m, tl) for t, m, tl in zip(cols["text"], cols["messages"], cols["tools"])]
        yield set_column(batch, "_key", pa.array(keys, pa.string()))


def build_exact_dedup(spark, df, config: ExactDedupConfig):
    """Keep the smallest id of each group of identical normalised texts; the rest are `exact_duplicate`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keyed = df.mapInArrow(_add_dedup_keys, schema_plus(df.schema, ("_key", "string")))
    # a window, not groupBy + join: the key function reads every text once, not once per branch
    joined = keyed.withColumn("_duplicate_of", F.min("id").over(Window.partitionBy("_key")))
    is_dup = F.col("id") != F.col("_duplicate_of")
    out = with_outcome(joined, F.when(is_dup, F.lit("exact_duplicate")))
    out = out.withColumn("_duplicate_of", F.when(is_dup, F.col("_duplicate_of")))
    return out.drop("_key")


EXACT_DEDUP = StageDef("exact_dedup", "exact_dedup", build_exact_dedup, "NFKC + whitespace-normalised exact duplicates")
