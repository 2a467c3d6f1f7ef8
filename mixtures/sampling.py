"""Per-document preparation and the deterministic sampling rule of `mix build` (the Spark wiring is in
`trivium.flows.mix`).

Preparation (an Arrow batch function): conversations are rendered to `text` + `loss_spans`, every
document gets `n_bytes` and `n_tokens` (exact with a tokenizer, else the bytes estimate of
`stats.estimate_tokens`). Stats and build share it, so the plan and the build count alike.

Sampling a cell (source, bucket, sub-domain) to `drawn` tokens from `available`: every document
`floor(drawn / available)` times (whole epochs), then, for the remainder, documents in the order of
a keyed hash of (seed, stage, id): those that fit the open gap are taken while their running sum
stays within it, a few passes close what the previous left, and one last document is added when
it brings the total nearer. The result misses the target by less than one document (in practice
far less), is a pure function of the seed and the documents, and changes with the seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from .render import render_messages
from .stats import estimate_tokens

SPAN_TYPE = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64())]))
SPANS_DDL = "array<struct<start:bigint,end:bigint>>"
DROPPED_COLUMNS = ("messages", "tools")  # rendered into `text`

_TOKENIZERS: dict[str, object] = {}


def load_counting_tokenizer(path: str):
    """A `tokenizers.Tokenizer` from a `trivium tokenizer train` directory (or tokenizer.json), once per process."""
    if path not in _TOKENIZERS:
        import os

        from tokenizers import Tokenizer

        file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
        _TOKENIZERS[path] = Tokenizer.from_file(file)
    return _TOKENIZERS[path]


def count_tokens(tok, texts: list[str], allow_special: list[bool]) -> list[int]:
    """Token counts; special-token strings count as specials only in rendered conversations."""
    out = [0] * len(texts)
    for flag in (False, True):
        idx = [i for i, t in enumerate(texts) if allow_special[i] == flag and t]
        if not idx:
            continue
        tok.encode_special_tokens = not flag
        for i, enc in zip(idx, tok.encode_batch_fast([texts[i] for i in idx], add_special_tokens=False)):
            out[i] = len(enc.ids)
    return out


class PrepareBatches:
    """mapInArrow function: render conversations, add `loss_spans`, `n_bytes`, `n_tokens`, `render_error`.

    Input batches carry `bucket`; `messages`/`tools` are dropped from the output (`text` holds them).
    """

    def __init__(self, tokenizer: str | None, bytes_per_token: dict[str, float]):
        self.tokenizer = tokenizer
        self.bytes_per_token = dict(bytes_per_token)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        tok = load_counting_tokenizer(self.tokenizer) if self.tokenizer else None
        for batch in batches:
            cols = batch.schema.names
            texts = batch.column("text").to_pylist() if "text" in cols else [None] * batch.num_rows
            msgs = batch.column("messages").to_pylist() if "messages" in cols else [None] * batch.num_rows
            tools = batch.column("tools").to_pylist() if "tools" in cols else [None] * batch.num_rows
            buckets = batch.column("bucket").to_pylist()
            spans: list = [None] * batch.num_rows
            errors: list = [None] * batch.num_rows
            rendered = [False] * batch.num_rows
            for i, m in enumerate(msgs):
                if texts[i] is None and m is not None:
                    try:
                        texts[i], s = render_messages(m, tools[i])
                        spans[i] = [{"start": a, "end": b} for a, b in s]
                        rendered[i] = True
                    except Exception as e:  # a conversation the template cannot render is counted, not fatal
                        errors[i] = f"{type(e).__name__}: {e}"[:200]
                elif texts[i] is None:
                    errors[i] = "no text"
            n_bytes = [len(t.encode("utf-8", "surrogatepass")) if t else 0 for t in texts]
            if tok is not None:
                n_tokens = count_tokens(tok, texts, rendered)
            else:
                n_tokens = [estimate_tokens(n, b, self.bytes_per_token) for n, b in zip(n_bytes, buckets)]
            keep = [n for n in cols if n not in DROPPED_COLUMNS and n != "text"]
            arrays = [batch.column(n) for n in keep] + [
                pa.array(texts, pa.string()),
                pa.array(spans, SPAN_TYPE),
                pa.array(n_bytes, pa.int64()),
                pa.array(n_tokens, pa.int64()),
                pa.array(errors, pa.string()),
            ]
            names = keep + ["text", "loss_spans", "n_bytes", "n_tokens", "render_error"]
            yield pa.RecordBatch.from_arrays(arrays, names=names)


@dataclass(frozen=True)
class Quota:
    source: str
    bucket: str
    subdomain: str
    full_epochs: int
    remainder: float  # tokens drawn in hash order after the whole epochs


def quotas(stage_plan) -> list[Quota]:
    """Whole epochs and remainder per cell of a (feasible) stage plan."""
    out = []
    for c in stage_plan.cells:
        if c.drawn <= 0 or c.available <= 0:
            continue
        full = math.floor(c.drawn / c.available + 1e-9)
        out.append(Quota(c.source, c.bucket, c.subdomain, full, max(c.drawn - full * c.available, 0.0)))
    return out
