"""The `curate` Prefect flow: ingest, then every enabled stage of `STAGES`, one task (one Spark job) each.

Stage outputs live in `OUTPUT/<nn>_<stage>/`; each stage reads only the files its upstream
manifest lists, and is skipped when its own manifest already matches its inputs and config.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from trivium.flows import io
from trivium.flows.config import CurateConfig
from trivium.flows.ingest import build_ingest
from trivium.flows.manifest import Manifest
from trivium.flows.spark import get_spark
from trivium.flows.stage import StageDef, read_documents, run_stage
from trivium.flows.stages import STAGES


@dataclass
class StageOutcome:
    stage_dir: str
    manifest: Manifest


def stage_dir(output: str, index: int, name: str) -> str:
    return io.join(output, f"{index:02d}_{name}")


def run_ingest(spark, inputs: list[str], output: str, config: CurateConfig, force: bool = False) -> StageOutcome:
    io.configure(config.storage.fsspec_options())
    files = io.list_files(inputs)
    out = stage_dir(output, 0, "ingest")
    manifest = run_stage(
        spark,
        stage="ingest",
        stage_dir=out,
        config=config.ingest,
        inputs=[f"{f.url}@{f.fingerprint}" for f in files],
        build=lambda: build_ingest(spark, [f.url for f in files], config.ingest),
        force=force,
    )
    return StageOutcome(out, manifest)


def run_after(
    spark, sdef: StageDef, index: int, upstream: StageOutcome, output: str, config: CurateConfig, force: bool = False
) -> StageOutcome:
    io.configure(config.storage.fsspec_options())
    stage_config = getattr(config, sdef.config_field)
    out = stage_dir(output, index, sdef.name)
    manifest = run_stage(
        spark,
        stage=sdef.name,
        stage_dir=out,
        config=stage_config,
        inputs=[upstream.manifest.fingerprint()],
        build=lambda: sdef.build(spark, read_documents(spark, upstream.stage_dir, upstream.manifest), stage_config),
        docs_in=upstream.manifest.docs_out,
        force=force,
        extra=(lambda _df: sdef.manifest_extra(stage_config)) if sdef.manifest_extra else None,
    )
    return StageOutcome(out, manifest)


@task(name="ingest", cache_policy=NO_CACHE, retries=1)
def ingest_task(inputs: list[str], output: str, config: CurateConfig, force: bool) -> StageOutcome:
    return run_ingest(get_spark(config.spark), inputs, output, config, force)


@task(cache_policy=NO_CACHE, retries=1)
def stage_task(
    sdef: StageDef, index: int, upstream: StageOutcome, output: str, config: CurateConfig, force: bool
) -> StageOutcome:
    return run_after(get_spark(config.spark), sdef, index, upstream, output, config, force)


@flow(name="curate", log_prints=True, validate_parameters=False)
def curate_flow(
    inputs: list[str], output: str, config: CurateConfig | None = None, force: bool = False
) -> list[StageOutcome]:
    """Ingest -> filters -> dedup; returns each stage's directory and manifest, in order."""
    config = config or CurateConfig()
    outcomes = [ingest_task(inputs, output, config, force)]
    for index, sdef in enumerate(STAGES, start=1):
        if not sdef.enabled(getattr(config, sdef.config_field)):
            continue
        named = stage_task.with_options(name=sdef.name)
        outcomes.append(named(sdef, index, outcomes[-1], output, config, force))
    return outcomes


def final_documents(spark, outcomes: list[StageOutcome]):
    last = outcomes[-1]
    return read_documents(spark, last.stage_dir, last.manifest)
