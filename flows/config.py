"""The curation config: one typed section per stage, loadable from YAML; errors name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from trivium.flows.ingest import IngestConfig
from trivium.flows.spark import SparkConfig
from trivium.flows.stages.decontam import DecontamStageConfig
from trivium.flows.stages.domain import DomainStageConfig
from trivium.flows.stages.exact_dedup import ExactDedupConfig
from trivium.flows.stages.heuristic import HeuristicStageConfig
from trivium.flows.stages.langid import LangIdStageConfig
from trivium.flows.stages.near_dedup import NearDedupConfig
from trivium.flows.stages.pii import PIIStageConfig
from trivium.flows.stages.quality import QualityStageConfig


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spark: SparkConfig = Field(default_factory=SparkConfig)
    storage: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='fsspec options per protocol, e.g. {"s3": {"endpoint_url": "http://minio:9000", "key": "..."}}',
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    langid: LangIdStageConfig = Field(default_factory=LangIdStageConfig)
    heuristic_filter: HeuristicStageConfig = Field(default_factory=HeuristicStageConfig)
    exact_dedup: ExactDedupConfig = Field(default_factory=ExactDedupConfig)
    near_dedup: NearDedupConfig = Field(default_factory=NearDedupConfig)
    quality: QualityStageConfig = Field(default_factory=QualityStageConfig)
    decontam: DecontamStageConfig = Field(default_factory=DecontamStageConfig)
    pii: PIIStageConfig = Field(default_factory=PIIStageConfig)
    domain: DomainStageConfig = Field(default_factory=DomainStageConfig)

    @model_validator(mode="after")
    def _quality_uses_domain_model(self):
        """The quality stage picks its per-bucket threshold with the domain model unless told otherwise."""
        if self.quality.domain_model is None and self.domain.model:
            self.quality.domain_model = self.domain.model
        return self


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
