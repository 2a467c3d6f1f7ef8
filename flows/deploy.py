"""Prefect deployments of trivium's flows: `trivium deploy` registers one (with a schedule), `trivium serve`
runs the registered ones from this process.

A deployment's parameters are stored by the Prefect server and shown in its UI, so they never carry
credentials: storage keys are removed from the config before it becomes a parameter, and the process
that runs the flow takes them from the standard AWS environment / config files (or its own config).
A local spec per deployment (`$PREFECT_HOME/trivium-deployments/NAME.json`) lets `serve` rebuild it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

SECRET_FIELDS = ("key", "secret", "token")


class DeploymentSpec(BaseModel):
    """What `trivium deploy` registered: enough to serve it again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: str = Field("curate", pattern="^(curate|run)$")
    parameters: dict
    cron: str | None = None
    work_pool: str | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            from prefect.client.schemas.schedules import CronSchedule
            from pydantic import ValidationError

            try:
                CronSchedule(cron=value)
            except ValidationError:
                raise ValueError(f"not a cron expression: {value!r} (e.g. '0 2 * * *')") from None
        return value


def redacted(config_data: dict) -> dict:
    """The config as a flow parameter: storage credentials removed (not masked: a masked key would be used)."""
    data = json.loads(json.dumps(config_data, default=str))
    for options in (data.get("storage") or {}).values():
        if isinstance(options, dict):
            for name in SECRET_FIELDS:
                options.pop(name, None)
    return data


def specs_dir() -> Path:
    from prefect.settings import PREFECT_HOME

    return Path(os.path.expanduser(str(PREFECT_HOME.value()))) / "trivium-deployments"


def save_spec(spec: DeploymentSpec) -> Path:
    folder = specs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(spec.model_dump_json(indent=1))
    tmp.replace(path)
    return path


def load_specs(names: list[str] | None = None) -> list[DeploymentSpec]:
    folder = specs_dir()
    specs = [DeploymentSpec.model_validate_json(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if names:
        missing = sorted(set(names) - {s.name for s in specs})
        if missing:
            raise FileNotFoundError(f"no deployment registered by `trivium deploy` named {', '.join(missing)} "
                                    f"(in {folder})")
        specs = [s for s in specs if s.name in names]
    return specs


def flow_of(kind: str):
    if kind == "run":
        from trivium.flows.run import run_flow

        return run_flow
    from trivium.flows.curate import curate_flow

    return curate_flow


def runner_deployment(spec: DeploymentSpec):
    """The Prefect RunnerDeployment for a spec; the flow is found by module path, so any machine with trivium
    installed (a process worker, `trivium serve`) can run it."""
    from prefect.deployments.runner import EntrypointType

    flow = flow_of(spec.kind)
    return flow.to_deployment(
        name=spec.name,
        cron=spec.cron,
        parameters=spec.parameters,
        tags=["trivium", spec.kind, *spec.tags],
        description=f"trivium {spec.kind}: {spec.parameters.get('output', '')}",
        work_pool_name=spec.work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def register(spec: DeploymentSpec) -> str:
    """Register (create or update) the deployment with the Prefect API; returns its id."""
    deployment_id = runner_deployment(spec).apply()
    save_spec(spec)
    return str(deployment_id)


def serve(specs: list[DeploymentSpec], limit: int | None = None) -> None:
    """Run scheduled and triggered runs of these deployments from this process (blocks)."""
    from prefect import serve as prefect_serve

    prefect_serve(*[runner_deployment(s) for s in specs], limit=limit, print_starting_message=True)
