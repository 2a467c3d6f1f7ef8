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
            texts = batch.column("text").to_pylist()
            has_msgs = "messages" in batch.schema.names
            messages = batch.column("messages").to_pylist() if has_msgs else [None] * batch.num_rows
            new_texts, new_msgs, counters = [], [], []
            for t, m in zip(texts, messages):
                t2, c = self.masker.mask(t) if t else (t, {})
                m2, c2 = self.masker.mask_json(m) if m else (m, {})
                total = {f"pii_{k}": v for k, v in (Counter(c) + Counter(c2)).items()}
                if total:
                    total["pii_docs"] = 1
                new_texts.append(t2)
                new_msgs.append(m2)
                counters.append(json.dumps(total, sort_keys=True) if total else None)
            batch = set_column(batch, "text", pa.array(new_texts, pa.string()))
            if has_msgs:
                batch = set_column(batch, "messages", pa.array(new_msgs, pa.string()))
            batch = set_column(batch, COUNTERS, pa.array(counters, pa.string()))
            yield outcome_columns(batch, [None] * batch.num_rows)


def build_pii(spark, df, config: PIIConfig):
    schema = schema_plus(df.schema, (COUNTERS, "string"), (REASON, "string"), (DISPOSITION, "string"))
    return BatchMap(df, PIIBatches(config), schema)


PII = StageDef("pii", "pii", build_pii, "mask e-mail / IP / phone numbers, counted per type")
