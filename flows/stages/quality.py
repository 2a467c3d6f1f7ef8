"""Model-based quality stage: `quality_score` = P(high quality) from a fastText model; documents
below their bucket's threshold are dropped as `low_quality:<bucket>`.

The model is `quality.model`, else the default model shipped in the package (`trivium classifier
train --defaults` rebuilds it); the bucket that picks the threshold comes from `quality.domain_model`,
else the domain stage's model, else the shipped domain model. The manifest's `extra.model` and
`extra.domain_model` name the files and their sha256. Only an installation without the shipped
model passes documents unscored (`quality_score` null), counted as `quality_unscored_no_model`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa
from pydantic import computed_field
from trivium.filters.quality_model import QualityConfig, QualityModel, quality_verdict, structural_bucket
from trivium.flows.stage import (
    COUNTERS,
    DISPOSITION,
    REASON,
    BatchMap,
    StageDef,
    outcome_columns,
    schema_plus,
    set_column,
)
from trivium.flows.stages._models import file_fingerprint, model_record
from trivium.mixtures.default_models import default_model


class QualityStageConfig(QualityConfig):
    enabled: bool = True

    @property
    def model_file(self) -> str | None:
        return self.model or default_model("quality")

    @property
    def domain_model_file(self) -> str | None:
        return self.domain_model or default_model("domain")

    @computed_field
    @property
    def model_sha256(self) -> dict[str, str | None]:
        return {"model": file_fingerprint(self.model_file), "domain_model": file_fingerprint(self.domain_model_file)}

    def models(self) -> dict:
        return {"model": model_record(self.model_file, default_model("quality")),
                "domain_model": model_record(self.domain_model_file, default_model("domain"))}


def _column(batch: pa.RecordBatch, name: str) -> list:
    return batch.column(name).to_pylist() if name in batch.schema.names else [None] * batch.num_rows


class QualityBatches:
    def __init__(self, config: QualityStageConfig):
        from trivium.mixtures.domain import DomainModel

        self.config = config
        self.model = QualityModel(config.model_file)
        self.domain = DomainModel(config.domain_model_file) if config.domain_model_file else None
        # a score at or above every threshold keeps its document whatever the bucket (which only rejects record)
        self.bucket_below = max([*config.thresholds.values(), config.default_threshold])

    def buckets(self, texts: list, msgs: list, tools: list, scores: list[float]) -> list[str | None]:
        """The bucket of each document whose verdict depends on it; None for the rest."""
        rows = [i for i, s in enumerate(scores) if s < self.bucket_below]
        out: list[str | None] = [None] * len(scores)
        if self.domain is None:
            for i in rows:
                out[i] = structural_bucket(texts[i], msgs[i], self.config.code_symbol_ratio)
        elif rows:
            pick = lambda col: [col[i] for i in rows]  # noqa: E731
            for i, p in zip(rows, self.domain.predict(pick(texts), pick(msgs), pick(tools))):
                out[i] = p[0]
        return out

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        c = self.config
        for batch in batches:
            texts, msgs, tools = _column(batch, "text"), _column(batch, "messages"), _column(batch, "tools")
            scores = self.model.score(texts, msgs, tools)
            buckets = self.buckets(texts, msgs, tools, scores)
            batch = set_column(batch, "quality_score", pa.array(scores, pa.float64()))
            batch = set_column(batch, "_quality_bucket", pa.array(buckets, pa.string()))
            yield outcome_columns(batch, [quality_verdict(s, b, c) for s, b in zip(scores, buckets)])


def build_quality(spark, df, config: QualityStageConfig):
    from pyspark.sql import functions as F
    from trivium.flows.stage import with_outcome

    if not config.model_file:
        print("quality: no model configured (quality.model) and none shipped: documents pass unscored")
        out = df.withColumn("quality_score", F.lit(None).cast("double"))
        return with_outcome(out).withColumn(COUNTERS, F.lit('{"quality_unscored_no_model": 1}'))
    if not os.path.exists(config.model_file):
        raise FileNotFoundError(f"quality.model: {config.model!r} does not exist")
    schema = schema_plus(
        df.schema, ("quality_score", "double"), ("_quality_bucket", "string"), (REASON, "string"), (DISPOSITION, "string")
    )
    return BatchMap(df, QualityBatches(config), schema)


QUALITY = StageDef(
    "quality", "quality", build_quality, "fastText quality score in [0,1], threshold per bucket (fastText model)",
    manifest_extra=lambda c: c.models(),
)
