"""Token statistics per document cell (source, bucket, sub-domain): what a plan draws from.

`trivium mix stats` measures them on Spark (exactly with a tokenizer, else estimated from bytes
with a stated bytes-per-token per bucket). One entry per *selection*: `*` for every document,
plus one per distinct (filter, min_tokens) of a recipe's stages, so a plan knows what each stage
may draw. The file is plain JSON, small enough to write by hand:

    {"tokens": "estimated", "bytes_per_token": {"default": 4.0},
     "selections": {"*": [{"source": "enwiki", "bucket": "commonsense", "subdomain": "encyclopedia",
                           "docs": 100, "bytes": 40000, "tokens": 10000}]}}
"""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STATS_NAME = "stats.json"


class Cell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    bucket: str
    subdomain: str
    docs: int = Field(ge=0)
    bytes: int = Field(0, ge=0)
    tokens: int = Field(ge=0)


class Stats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: Literal["exact", "estimated"]
    tokenizer: str | None = None
    bytes_per_token: dict[str, float] | None = None  # the estimate's rates, when estimated
    columns: list[str] = Field(default_factory=list)  # document columns a filter may use
    input: str | None = None
    selections: dict[str, list[Cell]]

    @property
    def estimated(self) -> bool:
        return self.tokens == "estimated"

    def names(self) -> set[str]:
        """Every source, sub-domain and bucket a weight may name."""
        return {n for cells in self.selections.values() for c in cells for n in (c.source, c.subdomain, c.bucket)}


def estimate_tokens(n_bytes: int, bucket: str, bytes_per_token: dict[str, float]) -> int:
    """A document's token estimate: its UTF-8 bytes over its bucket's bytes per token (at least 1)."""
    rate = bytes_per_token.get(bucket, bytes_per_token.get("default", 4.0))
    return max(1, math.ceil(n_bytes / rate)) if n_bytes else 0


def read_stats(url: str) -> Stats:
    """A stats file (or a `mix stats` output folder holding one), local or any fsspec URL."""
    import fsspec
    from pydantic import ValidationError

    if not url.endswith(".json"):
        url = url.rstrip("/") + "/" + STATS_NAME
    try:
        with fsspec.open(url, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"cannot read stats {url!r}: {e.strerror or e}") from None
    try:
        return Stats.model_validate_json(data)
    except ValidationError as e:
        where = ".".join(str(p) for p in e.errors()[0]["loc"])
        raise ValueError(f"stats {url!r}: {where}: {e.errors()[0]['msg']}") from None


def dumps_stats(stats: Stats) -> str:
    return json.dumps(stats.model_dump(), indent=1, sort_keys=True, ensure_ascii=False)
