"""The curation config: one typed section per stage, loadable from YAML; errors name the field.

Loading is strict everywhere: an unknown key in any section (however deep), a duplicate key
and a value out of range are errors that name the field, in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
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


class S3Storage(BaseModel):
    """s3fs options. Prefer the standard AWS environment/config for credentials; keys given here are
    SecretStr, so they serialise as '**********' wherever the config is stored (Prefect parameters)."""

    model_config = ConfigDict(extra="forbid")

    endpoint_url: str | None = Field(None, description="S3-compatible endpoint, e.g. http://minio:9000")
    key: SecretStr | None = Field(None, description="access key id (default: AWS environment/config)")
    secret: SecretStr | None = Field(None, description="secret access key (default: AWS environment/config)")
    token: SecretStr | None = Field(None, description="session token")
    anon: bool | None = Field(None, description="anonymous access (public buckets)")
    region: str | None = Field(None, description="region name")
    client_kwargs: dict[str, Any] = Field(default_factory=dict, description="botocore client arguments")
    config_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="botocore Config options, e.g. {retries: {max_attempts: 3}, connect_timeout: 5}"
    )

    def fsspec_options(self) -> dict:
        opts = {k: v for k, v in (("endpoint_url", self.endpoint_url), ("anon", self.anon)) if v is not None}
        for name in ("key", "secret", "token"):
            if (value := getattr(self, name)) is not None:
                opts[name] = value.get_secret_value()
        client = dict(self.client_kwargs) | ({"region_name": self.region} if self.region else {})
        extra = {"client_kwargs": client, "config_kwargs": dict(self.config_kwargs)}
        return opts | {k: v for k, v in extra.items() if v}


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    s3: S3Storage = Field(default_factory=S3Storage)

    def fsspec_options(self) -> dict[str, dict]:
        """Per-protocol fsspec defaults for `io.configure`, secrets unwrapped (never serialise this)."""
        return {"s3": opts} if (opts := self.s3.fsspec_options()) else {}


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spark: SparkConfig = Field(default_factory=SparkConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
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
    problems = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {msg}")
    return f"invalid config{' ' + origin if origin else ''}: " + "; ".join(problems)


def parse_config(data: dict | None, origin: str = "") -> CurateConfig:
    """Validate a config mapping; unknown keys are errors in every section, not only at the top."""
    try:
        # extra="forbid" for this validation reaches every nested model, whoever defined it.
        return CurateConfig.model_validate(data or {}, extra="forbid")
    except ValidationError as err:
        raise ConfigError(_explain(err, origin)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's default keeps the last of two equal keys; a config typo deserves an error instead."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key; the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, origin: str):
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        detail = getattr(err, "problem", None) or " ".join(str(err).split())
        raise ConfigError(f"invalid config {origin}: not valid YAML: {detail}{where}") from None


def load_config(path: str | Path | None) -> CurateConfig:
    if path is None:
        return CurateConfig()
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"invalid config {path}: not UTF-8 text (byte {err.start})") from None
    data = load_yaml(text, str(path))
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"invalid config {path}: expected a mapping at the top level")
    return parse_config(data, str(path))
