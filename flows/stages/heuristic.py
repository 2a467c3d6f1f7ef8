"""Heuristic filter stage: per-document profile + Gopher/C4/FineWeb rules, in Arrow batches.

Every document leaves with its statistics as flat `hf_*` columns (what the rules read: `hf_words`,
`hf_alpha_ratio`, `hf_dup_line_frac`, ...), its `hf_profile` and `hf_failed`, the list of rules it
fails ("filter:reason", empty when it passes). `mode: filter` drops a document at its first failing
rule; `mode: tag` drops nothing, so a recipe can filter later on these columns (for example
`size(hf_failed) = 0`, or `hf_alpha_ratio >= 0.7`) without running the stage again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field
from trivium.filters.heuristic import INT_STATS, STAT_COLUMNS, HeuristicFilterConfig, HeuristicFilters
from trivium.flows.stage import DISPOSITION, REASON, BatchMap, StageDef, outcome_columns, schema_plus, set_column


class HeuristicStageConfig(HeuristicFilterConfig):
    enabled: bool = True
    mode: Literal["filter", "tag"] = Field("filter", description="filter: drop at the first failing rule; tag: drop nothing, record the verdicts")


def attribute_fields() -> list[tuple[str, object]]:
    """The columns this stage adds, as (name, Spark type)."""
    from pyspark.sql import types as T

    stats = [(c, "long" if c in INT_STATS else "double") for c in STAT_COLUMNS]
    return [("hf_profile", "string"), ("hf_failed", T.ArrayType(T.StringType(), True)), *stats]


def _stat_array(values: np.ndarray, integer: bool) -> pa.Array:
    mask = np.isnan(values)
    if integer:
        return pa.array(np.where(mask, 0, values).astype(np.int64), pa.int64(), mask=mask)
    return pa.array(values, pa.float64(), mask=mask)


class HeuristicBatches:
    """mapInArrow function: profile, statistics and verdicts per document."""

    def __init__(self, config: HeuristicStageConfig | HeuristicFilterConfig):
        self.filters = HeuristicFilters(config)
        self.tag_only = getattr(config, "mode", "filter") == "tag"

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            texts = batch.column("text").to_pylist()
            old_lang = batch.column("lang").to_pylist()
            # `lang_score` present = language ID ran upstream: its language picks the rule set.
            metas = batch.column("meta").to_pylist() if "meta" in batch.schema.names else None
            v = self.filters.judge_batch(texts, old_lang if "lang_score" in batch.schema.names else None, metas)
            langs = [lang if t is not None else (old or "und") for lang, t, old in zip(v.langs, texts, old_lang)]
            batch = set_column(batch, "lang", pa.array(langs, pa.string()))
            batch = set_column(batch, "hf_profile", pa.array(v.profiles, pa.string()))
            batch = set_column(batch, "hf_failed", pa.array(v.failed, pa.list_(pa.string())))
            for k, name in enumerate(STAT_COLUMNS):
                batch = set_column(batch, name, _stat_array(v.stats[:, k], name in INT_STATS))
            yield outcome_columns(batch, [None] * batch.num_rows if self.tag_only else v.reasons)


def build_heuristic(spark, df, config: HeuristicStageConfig):
    schema = schema_plus(df.schema, *attribute_fields(), (REASON, "string"), (DISPOSITION, "string"))
    return BatchMap(df, HeuristicBatches(config), schema)


HEURISTIC = StageDef(
    "heuristic_filter", "heuristic_filter", build_heuristic,
    "Gopher/C4/FineWeb rules per language profile (Numba statistics kernel; datatrove engine selectable)",
)
