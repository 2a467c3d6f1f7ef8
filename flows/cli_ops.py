"""Commands for the people who run trivium for weeks: `status` of a run folder and `config show`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table
from trivium.flows.console import fail, out

config_app = typer.Typer(help="Inspect the curation config.", no_args_is_help=True)


def stage_states(run_dir: str) -> list[dict]:
    """Every curate stage's state in `run_dir`: done (committed manifest), partial (files but no manifest:
    a killed or running stage), or missing; downstream outputs with manifests are listed after them."""
    from trivium.flows import io
    from trivium.flows.manifest import read_manifest
    from trivium.flows.run_report import find_stage_dirs
    from trivium.flows.stages import STAGE_NAMES

    fs, base = io.fs_and_path(run_dir)
    if not fs.exists(base):
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    present = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(base, detail=False)}
    rows, seen = [], set()
    for index, name in enumerate(STAGE_NAMES):
        folder = f"{index:02d}_{name}"
        url = io.join(run_dir, folder)
        seen.add(url)
        row = {"stage": name, "folder": folder, "state": "missing"}
        if folder in present:
            try:
                m = read_manifest(url)
            except ValueError:  # torn manifest: the stage is not committed
                m = None
            if m is not None:
                row |= {"state": "done", "docs_in": m.docs_in, "docs_out": m.docs_out,
                        "dropped": sum(m.dropped.values()), "quarantined": sum(m.quarantined.values()),
                        "wall_s": m.wall_s, "conserved": m.conserved()}
            else:
                row["state"] = "partial"
        rows.append(row)
    for folder in find_stage_dirs(run_dir):
        if folder in seen or folder.rstrip("/") == run_dir.rstrip("/"):
            continue
        try:
            m = read_manifest(folder)
        except ValueError:
            continue
        if m is None:
            continue
        rel = folder[len(run_dir.rstrip("/")):].lstrip("/")
        rows.append({"stage": m.stage, "folder": rel, "state": "done", "docs_in": m.docs_in, "docs_out": m.docs_out,
                     "dropped": sum(m.dropped.values()), "quarantined": sum(m.quarantined.values()),
                     "wall_s": m.wall_s, "conserved": m.conserved()})
    return rows


def status(
    run_dir: str = typer.Argument(..., help="run folder (local or s3://)"),
    as_json: bool = typer.Option(False, "--json", help="print the states as one JSON object"),
    config: Path = typer.Option(None, "--config", "-c", help="YAML config with storage options for s3://"),
) -> None:
    """Each stage's state (done / partial / missing), counts and wall time, from the manifests alone.

    Example: trivium status s3://bucket/runs/r1 --config prod.yaml
    """
    from trivium.flows import io
    from trivium.flows.config import ConfigError, load_config

    try:
        io.configure(load_config(config).storage.fsspec_options())
        rows = stage_states(run_dir)
    except (ConfigError, FileNotFoundError) as e:
        fail(str(e))
    if as_json:
        sys.stdout.write(json.dumps({"run_dir": run_dir, "stages": rows}, indent=1) + "\n")
        return
    table = Table(title=f"trivium status {run_dir}", title_justify="left")
    for col in ("stage", "state", "docs in", "docs out", "dropped", "quarantined", "wall s"):
        table.add_column(col, justify="right" if col not in ("stage", "state") else "left")
    colour = {"done": "green", "partial": "yellow", "missing": "dim"}
    for r in rows:
        cells = [f"{r.get(k):,}" if isinstance(r.get(k), int) else "-"
                 for k in ("docs_in", "docs_out", "dropped", "quarantined")]
        wall = f"{r['wall_s']:.1f}" if "wall_s" in r else "-"
        state = r["state"] + ("" if r.get("conserved", True) else " (NOT CONSERVED)")
        table.add_row(r["folder"], f"[{colour[r['state']]}]{state}[/]", *cells, wall)
    out.print(table)


@config_app.command("show")
def config_show(
    config: Path = typer.Option(None, "--config", "-c", help="YAML config; without it the embedded defaults"),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of YAML"),
) -> None:
    """Print the effective config (defaults merged with the file); secrets are shown masked.

    Example: trivium config show --config my.yaml
    """
    import yaml
    from trivium.flows.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as e:
        fail(str(e))
    data = cfg.model_dump(mode="json")  # SecretStr fields dump as '**********'
    text = json.dumps(data, indent=1) if as_json else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def deploy(
    file: Path = typer.Argument(..., help="curate config YAML (or a mixture recipe for `trivium run`)"),
    name: str = typer.Option(..., "--name", "-n", help="deployment name (letters, digits, . _ -)"),
    inputs: list[str] = typer.Option(None, "--input", "-i", help="curate inputs (files, folders, globs, s3://)"),
    output: str = typer.Option(None, "--output", "-o", help="run folder (local or s3://)"),
    cron: str = typer.Option(None, "--cron", help='schedule, e.g. "0 2 * * *" (none: run on demand)'),
    work_pool: str = typer.Option(None, "--work-pool", help="Prefect work pool (none: `trivium serve` runs it)"),
    tags: list[str] = typer.Option(None, "--tag", help="extra tags for the deployment's runs"),
) -> None:
    """Register a scheduled Prefect deployment of the curate flow (or of `trivium run` for a recipe).
    Storage credentials are never stored with it: the runner takes them from its AWS environment.

    Example: trivium deploy prod.yaml --name nightly -i s3://raw/ -o s3://runs/nightly --cron "0 2 * * *"
    """
    from pydantic import ValidationError
    from trivium.flows.config import ConfigError, load_config, load_yaml
    from trivium.flows.deploy import DeploymentSpec, redacted, register

    try:
        data = load_yaml(file.read_text(encoding="utf-8"), str(file)) or {}
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {file}: {e}")
    except ConfigError as e:
        fail(str(e))
    if isinstance(data, dict) and "stages" in data:  # a mixture recipe: the whole `trivium run` chain
        kind, parameters = "run", {"recipe": str(file.resolve())}
    else:
        if not inputs or not output:
            fail("a curate deployment needs --input and --output")
        try:
            config = load_config(file)
        except ConfigError as e:
            fail(str(e))
        kind = "curate"
        parameters = {"inputs": list(inputs), "output": output, "config": redacted(config.model_dump(
            mode="json", exclude_unset=True, exclude_computed_fields=True))}
    try:
        spec = DeploymentSpec(name=name, kind=kind, parameters=parameters, cron=cron, work_pool=work_pool,
                              tags=list(tags or []))
    except ValidationError as e:
        first = e.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    try:
        deployment_id = register(spec)
    except Exception as e:  # noqa: BLE001 - the API being unreachable is the common case
        fail(f"could not register deployment {name!r} with the Prefect API: {type(e).__name__}: {e}")
    when = f"on '{cron}'" if cron else "on demand"
    runner = f"work pool {work_pool!r}" if work_pool else "`trivium serve`"
    out.print(f"deployment {kind}/{name} ({deployment_id}) registered, runs {when} through {runner}",
              markup=False, highlight=False)


def serve(
    names: list[str] = typer.Argument(None, help="deployments to serve (default: every one `trivium deploy` made)"),
    limit: int = typer.Option(None, "--limit", min=1, help="at most this many runs at once"),
) -> None:
    """Serve the deployments registered by `trivium deploy` from this process: scheduled runs start here.

    Example: trivium serve nightly
    """
    from trivium.flows.deploy import load_specs
    from trivium.flows.deploy import serve as serve_specs

    try:
        specs = load_specs(names)
    except FileNotFoundError as e:
        fail(str(e))
    if not specs:
        fail("no deployments to serve: register one with `trivium deploy`")
    serve_specs(specs, limit=limit)
