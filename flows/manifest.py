"""Stage manifests: the only thing a reader trusts, written last, and the basis of resume."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, Field, ValidationError
from trivium.flows import io

MANIFEST_NAME = "_manifest.json"


class FileEntry(BaseModel):
    path: str  # relative to the stage directory
    rows: int
    bytes: int
    sha256: str


class Manifest(BaseModel):
    stage: str
    config_hash: str
    inputs: list[str]
    docs_in: int
    docs_out: int
    dropped: dict[str, int] = Field(default_factory=dict)
    quarantined: dict[str, int] = Field(default_factory=dict)
    files: list[FileEntry] = Field(default_factory=list)
    rejects: list[FileEntry] = Field(default_factory=list)
    wall_s: float = 0.0
    text_bytes_in: int = 0
    doc_schema: str = ""  # Spark StructType JSON of the kept documents
    extra: dict = Field(default_factory=dict)  # stage-specific counters (e.g. PII masks)
    skipped: bool = False  # set in memory when a run reused this manifest; never written as True

    def conserved(self) -> bool:
        return self.docs_in == self.docs_out + sum(self.dropped.values()) + sum(self.quarantined.values())

    def file_urls(self, stage_dir: str) -> list[str]:
        return [io.join(stage_dir, f.path) for f in self.files]

    def fingerprint(self) -> str:
        """What a downstream stage records as its input: the content of every kept file."""
        h = hashlib.sha256(self.stage.encode())
        for f in sorted(self.files, key=lambda f: f.path):
            h.update(f.sha256.encode())
        return h.hexdigest()

    @property
    def mb_per_s(self) -> float:
        return self.text_bytes_in / 1e6 / self.wall_s if self.wall_s > 0 else 0.0


class ConservationError(RuntimeError):
    pass


def read_manifest(stage_dir: str) -> Manifest | None:
    """The stage's committed manifest, or None when there is none or it cannot be read (a torn write
    from a version that wrote in place, a hand edit): either way the stage is not committed."""
    url = io.join(stage_dir, MANIFEST_NAME)
    try:
        return Manifest.model_validate_json(io.read_bytes(url))
    except (FileNotFoundError, IsADirectoryError, ValidationError, UnicodeDecodeError):
        return None


def write_manifest(stage_dir: str, manifest: Manifest) -> None:
    if not manifest.conserved():
        lost = (
            manifest.docs_in - manifest.docs_out - sum(manifest.dropped.values()) - sum(manifest.quarantined.values())
        )
        raise ConservationError(
            f"stage {manifest.stage!r} does not conserve documents: "
            f"{manifest.docs_in} in, {manifest.docs_out} out, {lost} unaccounted for"
        )
    data = manifest.model_dump(exclude={"skipped"})
    io.write_bytes_atomic(io.join(stage_dir, MANIFEST_NAME), json.dumps(data, indent=1, sort_keys=True).encode())


def config_hash(stage: str, config: BaseModel | None, version: str) -> str:
    payload = {"stage": stage, "version": version, "config": config.model_dump(mode="json") if config else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
