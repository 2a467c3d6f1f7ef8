"""Spark wiring of the curation stages: each is a `StageDef` whose `build` turns the upstream
documents into documents + outcome columns (see `trivium.flows.stage`). The pure per-document
logic lives in `trivium.filters` / `trivium.mixtures`; only the batching is here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
from pydantic import BaseModel

from trivium.filters.exact_dedup import dedup_key
from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters
from trivium.flows.stage import DISPOSITION, DROPPED, REASON, with_outcome


class ExactDedupConfig(BaseModel):
    enabled: bool = True


class HeuristicStageConfig(HeuristicFilterConfig):
    enabled: bool = True


@dataclass(frozen=True)
class StageDef:
    """`build(spark, upstream_df, config) -> DataFrame` with `_reason`/`_disposition` columns."""

    name: str
    config_field: str
    build: Callable
    description: str = ""
    enabled: Callable[[BaseModel], bool] = lambda cfg: getattr(cfg, "enabled", True)


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    if name in batch.schema.names:
        i = batch.schema.get_field_index(name)
        return batch.set_column(i, pa.field(name, values.type), values)
    return batch.append_column(pa.field(name, values.type), values)


def outcome_columns(batch: pa.RecordBatch, reasons: list[str | None], disposition: str = DROPPED) -> pa.RecordBatch:
    batch = set_column(batch, REASON, pa.array(reasons, pa.string()))
    return set_column(batch, DISPOSITION, pa.array([disposition if r else None for r in reasons], pa.string()))


def _schema_plus(schema, *fields: tuple[str, str]):
    from pyspark.sql.types import StringType, StructType

    out = StructType([f for f in schema.fields])
    for name, _type in fields:
        if name not in out.fieldNames():
            out = out.add(name, StringType(), True)
    return out


# ---- heuristic filter ------------------------------------------------------------------------


class HeuristicBatches:
    """mapInArrow function: language guess + datatrove filters per document."""

    def __init__(self, config: HeuristicFilterConfig):
        self.filters = HeuristicFilters(config)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            texts = batch.column("text").to_pylist()
            verdicts = self.filters.judge(texts)
            old_lang = batch.column("lang").to_pylist()
            langs = [v[0] if t is not None else (old or "und") for v, t, old in zip(verdicts, texts, old_lang)]
            batch = set_column(batch, "lang", pa.array(langs, pa.string()))
            yield outcome_columns(batch, [v[2] for v in verdicts])


def build_heuristic(spark, df, config: HeuristicFilterConfig):
    schema = _schema_plus(df.schema, (REASON, "string"), (DISPOSITION, "string"))
    return df.mapInArrow(HeuristicBatches(config), schema)


# ---- exact dedup -----------------------------------------------------------------------------


def _add_dedup_keys(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        cols = {c: batch.column(c).to_pylist() if c in batch.schema.names else [None] * batch.num_rows for c in ("text", "messages", "tools")}
        keys = [dedup_key(t, m, tl) for t, m, tl in zip(cols["text"], cols["messages"], cols["tools"])]
        yield set_column(batch, "_key", pa.array(keys, pa.string()))


def build_exact_dedup(spark, df, config: ExactDedupConfig):
    """Keep the smallest id of each group of identical normalised texts; the rest are `exact_duplicate`."""
    from pyspark.sql import functions as F

    keyed = df.mapInArrow(_add_dedup_keys, _schema_plus(df.schema, ("_key", "string")))
    keep = keyed.groupBy("_key").agg(F.min("id").alias("_duplicate_of"))
    joined = keyed.join(keep, "_key")
    is_dup = F.col("id") != F.col("_duplicate_of")
    out = with_outcome(joined, F.when(is_dup, F.lit("exact_duplicate")))
    out = out.withColumn("_duplicate_of", F.when(is_dup, F.col("_duplicate_of")))
    return out.drop("_key")


HEURISTIC = StageDef("heuristic_filter", "heuristic_filter", build_heuristic, "datatrove Gopher/C4/FineWeb rules per language")
EXACT_DEDUP = StageDef("exact_dedup", "exact_dedup", build_exact_dedup, "NFKC + whitespace-normalised exact duplicates")

# The order documents flow through after ingest. Later issues add stages here.
STAGES: list[StageDef] = [HEURISTIC, EXACT_DEDUP]


def stage_names() -> list[str]:
    return ["ingest"] + [s.name for s in STAGES]
