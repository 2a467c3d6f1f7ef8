"""The `curate` Prefect flow: ingest, then every enabled stage of `STAGES`, one task (one Spark job) each.

Stage outputs live in `OUTPUT/<nn>_<stage>/`; each stage reads only the files its upstream
manifest lists, and is skipped when its own manifest already matches its inputs and config.
Flow parameters are stored by Prefect: storage keys in the config are SecretStr, so they are
stored as '**********', while the flow (run in this process) uses the real ones.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from trivium.flows import io
from trivium.flows.config import CurateConfig, parse_config
from trivium.flows.observe import publish_stage, retry_if_transient
from trivium.flows.ingest import build_ingest
from trivium.flows.prefect_child import guard
from trivium.flows.preflight import StageOutcome, enabled_stages, ingest_inputs, plan_inputs, stage_dir
from trivium.flows.spark import get_spark
from trivium.flows.stage import StageDef, read_documents, run_stage

# Whoever runs this flow (CLI, a recipe run, a test): an ephemeral Prefect server this process
# starts ends with it, even after a SIGKILL.
guard()

__all__ = ["StageOutcome", "curate_flow", "final_documents", "run_after", "run_ingest", "stage_dir"]


def run_ingest(
    spark,
    inputs: list[str],
    output: str,
    config: CurateConfig,
    force: bool = False,
    allow_empty: bool = False,
    exclude: str | None = None,
) -> StageOutcome:
    """Ingest `inputs` into `output`/00_ingest; files under `exclude` (default: the run folder
    `output`) are never read, so an output inside an input folder does not feed itself."""
    io.configure(config.storage.fsspec_options())
    files = plan_inputs(inputs, exclude or output, allow_empty)
    out = stage_dir(output, 0, "ingest")
    manifest = run_stage(
        spark,
        stage="ingest",
        stage_dir=out,
        config=config.ingest,
        inputs=ingest_inputs(files),
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
        upstream_files=upstream.manifest.file_urls(upstream.stage_dir),
    )
    return StageOutcome(out, manifest)


# Transient failures (object store, lost executors) are retried with backoff; data and config errors
# fail at once, since a retry would only fail the same way.
RETRY = {"retries": 3, "retry_delay_seconds": [5, 30, 120], "retry_condition_fn": retry_if_transient}


@task(name="ingest", cache_policy=NO_CACHE, **RETRY)
def ingest_task(inputs: list[str], output: str, config: CurateConfig, force: bool, allow_empty: bool) -> StageOutcome:
    outcome = run_ingest(get_spark(config.spark), inputs, output, config, force, allow_empty)
    publish_stage(outcome)
    return outcome


@task(cache_policy=NO_CACHE, **RETRY)
def stage_task(
    sdef: StageDef, index: int, upstream: StageOutcome, output: str, config: CurateConfig, force: bool
) -> StageOutcome:
    outcome = run_after(get_spark(config.spark), sdef, index, upstream, output, config, force)
    publish_stage(outcome)
    return outcome


@flow(name="curate", log_prints=True, validate_parameters=False, flow_run_name="curate {output}")
def curate_flow(
    inputs: list[str], output: str, config: CurateConfig | dict | None = None, force: bool = False,
    allow_empty: bool = False
) -> list[StageOutcome]:
    """Ingest -> filters -> dedup; returns each stage's directory and manifest, in order."""
    if isinstance(config, dict):  # a deployment's parameters arrive as JSON
        config = parse_config(config, "(flow parameter)")
    config = config or CurateConfig()
    outcomes = [ingest_task(inputs, output, config, force, allow_empty)]
    for index, sdef in enabled_stages(config):
        named = stage_task.with_options(name=sdef.name)
        outcomes.append(named(sdef, index, outcomes[-1], output, config, force))
    return outcomes


def final_documents(spark, outcomes: list[StageOutcome]):
    last = outcomes[-1]
    return read_documents(spark, last.stage_dir, last.manifest)
