"""Heuristic filter stage: language guess + datatrove filters per document, in Arrow batches."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters
from trivium.flows.stage import DISPOSITION, REASON, StageDef, outcome_columns, schema_plus, set_column


class HeuristicStageConfig(HeuristicFilterConfig):
    enabled: bool = True


class HeuristicBatches:
    """mapInArrow function: language guess + datatrove filters per document."""

    def __init__(self, config: HeuristicFilterConfig):
        self.filters = HeuristicFilters(config)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            texts = batch.column("text").to_pylist()
            old_lang = batch.column("lang").to_pylist()
            # `lang_score` present = language ID ran upstream: its language picks the rule set.
            verdicts = self.filters.judge(texts, old_lang if "lang_score" in batch.schema.names else None)
            langs = [v[0] if t is not None else (old or "und") for v, t, old in zip(verdicts, texts, old_lang)]
            batch = set_column(batch, "lang", pa.array(langs, pa.string()))
            yield outcome_columns(batch, [v[2] for v in verdicts])


def build_heuristic(spark, df, config: HeuristicFilterConfig):
    schema = schema_plus(df.schema, (REASON, "string"), (DISPOSITION, "string"))
    return df.mapInArrow(HeuristicBatches(config), schema)


HEURISTIC = StageDef(
    "heuristic_filter", "heuristic_filter", build_heuristic, "datatrove Gopher/C4/FineWeb rules per language"
)
