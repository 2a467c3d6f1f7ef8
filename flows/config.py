"""The curation config: one typed section per stage, loadable from YAML; errors name the field."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from trivium.flows.ingest import IngestConfig
from trivium.flows.spark import SparkConfig
from trivium.flows.stages.exact_dedup import ExactDedupConfig
from trivium.flows.stages.heuristic import HeuristicStageConfig


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spark: SparkConfig = Field(default_factory=SparkConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    heuristic_filter: HeuristicStageConfig = Field(default_factory=HeuristicStageConfig)
    exact_dedup: ExactDedupConfig = Field(default_factory=ExactDedupConfig)


class ConfigError(ValueError):
    pass


def _explain(err: ValidationError, origin: str) -> str:
    lines = [f"invalid config {origin}:"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def parse_config(data: dict | None, origin: str = "") -> CurateConfig:
    try:
        return CurateConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(_explain(err, origin)) from None


def load_config(path: str | Path | None) -> CurateConfig:
    if path is None:
        return CurateConfig()
    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid config {path}: not YAML: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"invalid config {path}: expected a mapping at the top level")
    return parse_config(data, str(path))
