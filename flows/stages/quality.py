"""Model-based quality stage: `quality_score` = P(high quality) from a fastText model; documents
below their bucket's threshold are dropped as `low_quality:<bucket>`.

With no model configured (`quality.model`), documents pass unscored (`quality_score` null) and the
manifest's `extra` counts them as `quality_unscored_no_model`: a model trained from a corpus
cannot ship with the code; train one with `trivium classifier train --task quality`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa
from pydantic import computed_field
from trivium.filters.quality_model import QualityConfig, QualityModel, quality_verdict, structural_bucket
from trivium.flows.stage import COUNTERS, DISPOSITION, REASON, StageDef, outcome_columns, schema_plus, set_column
from trivium.flows.stages._models import file_fingerprint


class QualityStageConfig(QualityConfig):
    enabled: bool = True

    @computed_field
    @property
    def model_sha256(self) -> dict[str, str | None]:
        return {"model": file_fingerprint(self.model), "domain_model": file_fingerprint(self.domain_model)}


def _column(batch: pa.RecordBatch, name: str) -> list:
    return batch.column(name).to_pylist() if name in batch.schema.names else [None] * batch.num_rows


class QualityBatches:
    def __init__(self, config: QualityConfig):
        from trivium.mixtures.domain import DomainModel

        self.config = config
        self.model = QualityModel(config.model)
        self.domain = DomainModel(config.domain_model) if config.domain_model else None

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        c = self.config
        for batch in batches:
            texts, msgs, tools = _column(batch, "text"), _column(batch, "messages"), _column(batch, "tools")
            scores = self.model.score(texts, msgs, tools)
            if self.domain is not None:
                buckets = [p[0] for p in self.domain.predict(texts, msgs, tools)]
            else:
                buckets = [structural_bucket(t, m, c.code_symbol_ratio) for t, m in zip(texts, msgs)]
            batch = set_column(batch, "quality_score", pa.array(scores, pa.float64()))
            batch = set_column(batch, "_quality_bucket", pa.array(buckets, pa.string()))
            yield outcome_columns(batch, [quality_verdict(s, b, c) for s, b in zip(scores, buckets)])


def build_quality(spark, df, config: QualityConfig):
    from pyspark.sql import functions as F
    from trivium.flows.stage import with_outcome

    if not config.model:
        print("quality: no model configured (quality.model): documents pass unscored")
        out = df.withColumn("quality_score", F.lit(None).cast("double"))
        return with_outcome(out).withColumn(COUNTERS, F.lit('{"quality_unscored_no_model": 1}'))
    if not os.path.exists(config.model):
        raise FileNotFoundError(f"quality.model: {config.model!r} does not exist")
    schema = schema_plus(
        df.schema, ("quality_score", "double"), ("_quality_bucket", "string"), (REASON, "string"), (DISPOSITION, "string")
    )
    return df.mapInArrow(QualityBatches(config), schema)


QUALITY = StageDef(
    "quality", "quality", build_quality, "fastText quality score in [0,1], threshold per bucket (needs quality.model)"
)
