"""Language ID stage: fastText lid.176 (local file) labels every document's `lang` and `lang_score`,
and drops what the allow-list rejects. It runs first, so the heuristic filters pick their rule
set from this language instead of the script guess."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pydantic import computed_field
from trivium.filters.langid import LangIdConfig, LangIdJudge, bundled_lid_model, resolve_lid_model
from trivium.flows.stage import DISPOSITION, REASON, BatchMap, StageDef, outcome_columns, schema_plus, set_column
from trivium.flows.stages._models import file_fingerprint, model_record


class LangIdStageConfig(LangIdConfig):
    enabled: bool = True

    @computed_field
    @property
    def model_sha256(self) -> str | None:
        try:
            return file_fingerprint(resolve_lid_model(self.model_path))
        except FileNotFoundError:
            return "missing"


def _column(batch: pa.RecordBatch, name: str) -> list:
    return batch.column(name).to_pylist() if name in batch.schema.names else [None] * batch.num_rows


class LangIdBatches:
    """mapInArrow function: `lang`, `lang_score` and the allow-list verdict per document."""

    def __init__(self, config: LangIdConfig):
        self.judge = LangIdJudge(config)  # resolves the model file on the driver: a missing one fails here

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            verdicts = self.judge.judge(_column(batch, "text"), _column(batch, "messages"))
            batch = set_column(batch, "lang", pa.array([v[0] for v in verdicts], pa.string()))
            batch = set_column(batch, "lang_score", pa.array([v[1] for v in verdicts], pa.float64()))
            yield outcome_columns(batch, [v[2] for v in verdicts])


def build_langid(spark, df, config: LangIdConfig):
    schema = schema_plus(df.schema, ("lang_score", "double"), (REASON, "string"), (DISPOSITION, "string"))
    return BatchMap(df, LangIdBatches(config), schema)


LANGID = StageDef("langid", "langid", build_langid, "fastText lid.176 language + score; allow-list per language",
                  manifest_extra=lambda c: {"model": model_record(resolve_lid_model(c.model_path), bundled_lid_model())})
