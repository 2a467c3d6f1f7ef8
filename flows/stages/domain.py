"""Domain stage: `domain` (commonsense / stem / code / agentic / noise), `domain_scores` {bucket: score}
and `subdomain` from a fastText model plus structural evidence for agent data.

The model is `domain.model`, else the default model shipped in the package (`trivium classifier
train --defaults` rebuilds it); the manifest's `extra.model` names the file and its sha256. Only
an installation without the shipped model passes documents with null domain columns, counted
as `domain_unclassified_no_model`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field, computed_field
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

SCORES_TYPE = pa.map_(pa.string(), pa.float64())


class DomainStageConfig(BaseModel):
    enabled: bool = True
    model: str | None = Field(
        None, description="fastText domain model (`trivium classifier train`); unset = the default model shipped with trivium"
    )
    structure_weight: float = Field(
        0.5, ge=0, le=1, description="weight of structural agent evidence mixed into the scores (0 = model only)"
    )
    drop_buckets: list[str] = Field(default_factory=list, description="buckets to drop (reason domain_dropped:<b>)")

    @property
    def model_file(self) -> str | None:
        return self.model or default_model("domain")

    @computed_field
    @property
    def model_sha256(self) -> str | None:
        return file_fingerprint(self.model_file)


def _column(batch: pa.RecordBatch, name: str) -> list:
    return batch.column(name).to_pylist() if name in batch.schema.names else [None] * batch.num_rows


class DomainBatches:
    def __init__(self, config: DomainStageConfig):
        from trivium.mixtures.domain import DomainModel

        self.config = config
        self.model = DomainModel(config.model_file, config.structure_weight)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        drop = set(self.config.drop_buckets)
        for batch in batches:
            buckets, scores, winners, subs = self.model.predict_columns(
                _column(batch, "text"), _column(batch, "messages"), _column(batch, "tools")
            )
            n, width = batch.num_rows, len(buckets)
            batch = set_column(batch, "domain", pa.array(winners, pa.string()))
            score_map = pa.MapArray.from_arrays(  # keys in sorted order, as a sorted dict would give them
                pa.array(np.arange(0, n * width + 1, width, dtype=np.int32)), pa.array(buckets * n, pa.string()),
                pa.array(scores, pa.float64()),
            )
            batch = set_column(batch, "domain_scores", score_map.cast(SCORES_TYPE))
            batch = set_column(batch, "subdomain", pa.array(subs, pa.string()))
            counters = [f'{{"domain_{w}": 1}}' for w in winners]
            batch = set_column(batch, COUNTERS, pa.array(counters, pa.string()))
            yield outcome_columns(batch, [f"domain_dropped:{w}" if w in drop else None for w in winners])


def build_domain(spark, df, config: DomainStageConfig):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from trivium.flows.stage import with_outcome

    scores_type = T.MapType(T.StringType(), T.DoubleType())
    if not config.model_file:
        print("domain: no model configured (domain.model) and none shipped: documents pass unlabelled")
        out = (
            df.withColumn("domain", F.lit(None).cast("string"))
            .withColumn("domain_scores", F.lit(None).cast(scores_type))
            .withColumn("subdomain", F.lit(None).cast("string"))
        )
        return with_outcome(out).withColumn(COUNTERS, F.lit('{"domain_unclassified_no_model": 1}'))
    if not os.path.exists(config.model_file):
        raise FileNotFoundError(f"domain.model: {config.model!r} does not exist")
    schema = schema_plus(
        df.schema,
        ("domain", "string"),
        ("domain_scores", scores_type),
        ("subdomain", "string"),
        (COUNTERS, "string"),
        (REASON, "string"),
        (DISPOSITION, "string"),
    )
    return BatchMap(df, DomainBatches(config), schema)


DOMAIN = StageDef(
    "domain", "domain", build_domain, "commonsense / stem / code / agentic / noise + sub-domain (fastText model)",
    manifest_extra=lambda c: {"model": model_record(c.model_file, default_model("domain"))},
)
