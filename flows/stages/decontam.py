"""Decontamination stage: drops documents that contain benchmark test items (shared long n-grams),
reason `contaminated:<benchmark>`; the covered share goes to rejects as `coverage`. Disabled while
no benchmark is configured."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pydantic import computed_field
from trivium.filters.decontam import DecontamConfig, Decontaminator, document_text
from trivium.flows.stage import DISPOSITION, REASON, BatchMap, StageDef, outcome_columns, schema_plus, set_column
from trivium.flows.stages._models import file_fingerprint


class DecontamStageConfig(DecontamConfig):
    enabled: bool = True

    @computed_field
    @property
    def benchmark_sha256(self) -> dict[str, str | None]:
        return {name: file_fingerprint(spec.path) for name, spec in sorted(self.benchmarks.items())}


class DecontamBatches:
    def __init__(self, config: DecontamConfig):
        self.decontaminator = Decontaminator(config)  # indexes built once on the driver, shipped with the function

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            texts = batch.column("text").to_pylist()
            msgs = batch.column("messages").to_pylist() if "messages" in batch.schema.names else [None] * len(texts)
            verdicts = self.decontaminator.judge([document_text(t, m) for t, m in zip(texts, msgs)])
            batch = set_column(batch, "_coverage", pa.array([v[1] if v[0] else None for v in verdicts], pa.float64()))
            yield outcome_columns(batch, [v[0] for v in verdicts])


def build_decontam(spark, df, config: DecontamConfig):
    fn = DecontamBatches(config)
    for name, s in fn.decontaminator.stats().items():
        print(f"decontam: {name}: {s['items']} items, {s['ngrams']} n-grams, {s['skipped_short']} too short")
    schema = schema_plus(df.schema, ("_coverage", "double"), (REASON, "string"), (DISPOSITION, "string"))
    return BatchMap(df, fn, schema)


DECONTAM = StageDef(
    "decontam",
    "decontam",
    build_decontam,
    "drop documents sharing long n-grams with benchmark test sets (needs decontam.benchmarks)",
    enabled=lambda cfg: cfg.enabled and bool(cfg.benchmarks),
)
