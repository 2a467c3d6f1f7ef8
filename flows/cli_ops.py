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
    from trivium.flows.stages import STAGES

    fs, base = io.fs_and_path(run_dir)
    if not fs.exists(base):
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    names = ["ingest"] + [s.name for s in STAGES]
    present = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(base, detail=False)}
    rows, seen = [], set()
    for index, name in enumerate(names):
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
