"""Curriculum recipes: an ordered list of stages, each a token budget drawn from weighted data.

A recipe is YAML validated by pydantic (unknown keys and bad values name the field). Budgets
accept `8.16T`, `200B`, `1.5M`, `250K` or plain integers. A stage's `weights` name buckets,
sub-domains or sources; every document cell (source, bucket, sub-domain) takes the weight of the
most specific name that matches it (source > sub-domain > bucket), and a weight is shared among
its cells in proportion to their tokens. Cells that no weight names are not drawn.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_COUNT_RE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMBGT]?)\s*", re.IGNORECASE)

# Bytes per token used when no tokenizer is given (stated wherever an estimate is shown):
# measured with the trivium 128K tokenizer on ../shared-like text, rounded.
DEFAULT_BYTES_PER_TOKEN = {"commonsense": 4.0, "stem": 3.4, "code": 3.2, "agentic": 3.6, "default": 4.0}
UNLABELLED = "unlabelled"
STANDARD_BUCKETS = ("commonsense", "stem", "code", "agentic", "noise")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message is one line naming the field."""


def parse_tokens(value) -> int:
    """'8.16T', '200B', '1.5M', 250000 -> a token count."""
    if isinstance(value, bool):
        raise ValueError("expected a token count like 8.16T, 200B, 1.5M or 250000")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a token count cannot be negative")
        return int(value)
    m = _COUNT_RE.fullmatch(str(value))
    if not m:
        raise ValueError(f"expected a token count like 8.16T, 200B, 1.5M or 250000, got {value!r}")
    return int(round(float(m.group(1)) * _UNITS[m.group(2).upper()]))


def format_tokens(n: float) -> str:
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


TokenCount = Annotated[int, BeforeValidator(parse_tokens)]
Weight = Annotated[float, Field(ge=0)]
Epochs = Annotated[float, Field(gt=0)]
Loss = Literal["assistant", "all"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceLabel(_Strict):
    bucket: str
    subdomain: str | None = None


class CurateInputs(_Strict):
    """What `trivium run` curates before mixing: inputs and an optional curate config (YAML file or inline)."""

    inputs: list[str] = Field(min_length=1)
    config: str | dict | None = None


class Stage(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
    budget: TokenCount
    seq_len: int = Field(ge=1)
    weights: dict[str, Weight] = Field(min_length=1)
    max_epochs: dict[str, Epochs] = Field(default_factory=dict, description="per source / sub-domain / bucket")
    filter: str | None = Field(None, description="Spark SQL over document columns, e.g. quality_score >= 0.4")
    min_tokens: int | None = Field(None, ge=0, description="only documents at least this long (long-context stages)")
    seed: int | None = None
    loss: Loss | None = Field(None, description="assistant: only assistant turns count; all: whole conversations")

    @field_validator("weights")
    @classmethod
    def _some_weight(cls, v: dict[str, float]) -> dict[str, float]:
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one weight must be positive")
        return v

    def selection(self) -> str:
        """The key under which stats hold this stage's eligible documents ('*': all of them)."""
        if not self.filter and not self.min_tokens:
            return "*"
        return json.dumps({"filter": self.filter or None, "min_tokens": self.min_tokens or 0}, sort_keys=True)


class Recipe(_Strict):
    name: str = "recipe"
    seed: int = 0
    max_epochs: dict[str, Epochs] = Field(
        default_factory=lambda: {"default": 1.0},
        description="per source / sub-domain / bucket for every stage; 'default' for the rest",
    )
    labels: str | dict[str, SourceLabel] | None = Field(
        None, description="bucket/sub-domain per source for documents the domain stage left unlabelled: "
        "a sources.json path or {source: {bucket, subdomain}}",
    )
    tokenizer: str | None = Field(None, description="tokenizer directory (tokenizer.json); unset = estimate from bytes")
    bytes_per_token: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: dict(DEFAULT_BYTES_PER_TOKEN)
    )
    loss: Loss = "assistant"
    curate: CurateInputs | None = None
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_stage_names(self):
        names = [s.name for s in self.stages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"stage names must be unique: {', '.join(dup)}")
        return self

    def stage_seed(self, stage: Stage) -> int:
        return self.seed if stage.seed is None else stage.seed

    def stage_loss(self, stage: Stage) -> str:
        return stage.loss or self.loss

    def scaled(self, factor: float) -> Recipe:
        """The same recipe with every budget multiplied (try a full-scale recipe on a small corpus)."""
        stages = [s.model_copy(update={"budget": int(round(s.budget * factor))}) for s in self.stages]
        return self.model_copy(update={"stages": stages})

    def resolved(self, base_dir: str | Path) -> Recipe:
        """Relative local paths (labels, tokenizer, curate inputs and config) made relative to `base_dir`."""

        def fix(p):
            return p if p is None or "://" in p or Path(p).is_absolute() else str(Path(base_dir) / p)

        update = {"tokenizer": fix(self.tokenizer)}
        if isinstance(self.labels, str):
            update["labels"] = fix(self.labels)
        if self.curate is not None:
            cfg = fix(self.curate.config) if isinstance(self.curate.config, str) else self.curate.config
            update["curate"] = CurateInputs(inputs=[fix(i) for i in self.curate.inputs], config=cfg)
        return self.model_copy(update=update)

    def source_labels(self) -> dict[str, SourceLabel]:
        if isinstance(self.labels, str):
            return read_labels(self.labels)
        return self.labels or {}


def read_labels(path: str | Path) -> dict[str, SourceLabel]:
    """{source: label} from a sources.json-like file ({source: {"bucket": ..., "subdomain": ...}, ...})."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise RecipeError(f"labels: cannot read {str(path)!r}: {e}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"labels: {str(path)!r} is not a mapping of source -> {{bucket, subdomain}}")
    return {
        source: SourceLabel(bucket=entry["bucket"], subdomain=entry.get("subdomain"))
        for source, entry in data.items()
        if isinstance(entry, dict) and isinstance(entry.get("bucket"), str)
    }


def most_specific(table: dict, source: str, subdomain: str, bucket: str, default=None):
    """The entry of `table` for a cell: its source's, else its sub-domain's, else its bucket's."""
    for key in (source, subdomain, bucket):
        if key in table:
            return key, table[key]
    return None, default


def max_epochs_of(recipe: Recipe, stage: Stage, source: str, subdomain: str, bucket: str) -> float:
    _, v = most_specific(stage.max_epochs, source, subdomain, bucket)
    if v is None:
        _, v = most_specific(recipe.max_epochs, source, subdomain, bucket, recipe.max_epochs.get("default", 1.0))
    return float(v)


def _explain(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def parse_recipe(data, origin: str = "recipe") -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: expected a mapping with `stages:` at the top level")
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise RecipeError(f"{origin}: {_explain(err)}") from None


def load_recipe(path: str | Path) -> Recipe:
    """A recipe file, or the name of a recipe shipped with trivium (`youtu`)."""
    p = Path(path)
    if not p.exists() and (Path(__file__).parent / "recipes" / f"{path}.yaml").exists():
        p = Path(__file__).parent / "recipes" / f"{path}.yaml"
    try:
        text = p.read_text()
    except OSError as e:
        raise RecipeError(f"cannot read recipe {str(path)!r}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RecipeError(f"{p}: not YAML: {str(e).splitlines()[0]}") from None
    return parse_recipe(data, str(p)).resolved(p.resolve().parent)


_WHAT_IF_RE = re.compile(r"\s*(?:([A-Za-z0-9_\-]+)\.)?([^=*\s]+)\s*(\*?=)\s*([+-]?[0-9]*\.?[0-9]+)\s*(%?)\s*")


def apply_what_if(recipe: Recipe, changes: list[str]) -> Recipe:
    """`stem=+10%` (relative), `stem=0.3` (absolute), `stem*=2`, optionally `STAGE.stem=...`: a changed copy.

    A relative change touches every stage that weights the name (or the named stage); an absolute one
    may add the name to a stage."""
    stages = [s.model_copy(deep=True) for s in recipe.stages]
    for change in changes:
        m = _WHAT_IF_RE.fullmatch(change)
        if not m:
            raise RecipeError(f"--what-if {change!r}: expected NAME=+10%, NAME=0.3, NAME*=2 or STAGE.NAME=...")
        stage_name, key, op, number, pct = m.groups()
        targets = [s for s in stages if stage_name in (None, s.name)]
        if stage_name and not targets:
            raise RecipeError(f"--what-if {change!r}: no stage named {stage_name!r}")
        relative = op == "*=" or pct or number[0] in "+-"
        touched = False
        for s in targets:
            if relative and key not in s.weights:
                continue
            old = s.weights.get(key, 0.0)
            value = float(number)
            if op == "*=":
                new = old * value
            elif pct:
                new = old * (1 + value / 100) if number[0] in "+-" else old * value / 100
            elif number[0] in "+-":
                new = old + value
            else:
                new = value
            if new < 0:
                raise RecipeError(f"--what-if {change!r}: weight of {key!r} in stage {s.name!r} would be negative")
            s.weights[key] = new
            touched = True
        if not touched:
            raise RecipeError(f"--what-if {change!r}: no stage weights {key!r}")
    return parse_recipe(recipe.model_dump() | {"stages": [s.model_dump() for s in stages]}, "--what-if")
