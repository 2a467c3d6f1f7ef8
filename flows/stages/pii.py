"""PII stage: masks e-mail addresses, IP addresses and phone numbers in text and conversations;
the manifest's `extra` counts the masks per type (`pii_email`, `pii_ip`, `pii_phone`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pyarrow as pa
from trivium.filters.pii import PIIConfig, PIIMasker
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


class PIIStageConfig(PIIConfig):
    enabled: bool = True


class PIIBatches:
    def __init__(self, config: PIIConfig):
        self.masker = PIIMasker(config)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            text, counts = self.masker.mask_array(batch.column("text"))
            batch = set_column(batch, "text", text)
            if "messages" in batch.schema.names:
                messages, in_messages = self.masker.mask_array(batch.column("messages"), conversations=True)
                batch = set_column(batch, "messages", messages)
                for i, n in in_messages.items():
                    counts[i] = counts.get(i, Counter()) + n
            counters = [None] * batch.num_rows
            for i, n in counts.items():
                counters[i] = json.dumps({**{f"pii_{k}": v for k, v in n.items()}, "pii_docs": 1}, sort_keys=True)
            batch = set_column(batch, COUNTERS, pa.array(counters, pa.string()))
            yield outcome_columns(batch, [None] * batch.num_rows)


def build_pii(spark, df, config: PIIConfig):
    schema = schema_plus(df.schema, (COUNTERS, "string"), (REASON, "string"), (DISPOSITION, "string"))
    return BatchMap(df, PIIBatches(config), schema)


PII = StageDef("pii", "pii", build_pii, "mask e-mail / IP / phone numbers, counted per type")
