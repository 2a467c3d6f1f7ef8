"""`trivium mix stats | plan | build` and `trivium run RECIPE`: thin typer commands over trivium.mixtures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from trivium.flows.console import err as _err
from trivium.flows.console import fail as _fail
from trivium.flows.console import out as _out
from trivium.flows.console import spark_and_flow_or_fail, spark_or_fail

mix_app = typer.Typer(
    name="mix",
    help="Curriculum mixtures: token stats, plans researchers steer, deterministic builds of each stage.",
    no_args_is_help=True,
)

WHAT_IF_HELP = "change a weight without editing the recipe: stem=+10%, code=0.3, agentic*=2, STAGE.math=-5% (repeatable)"


def _recipe(path: str, what_if: list[str] | None = None, scale: float | None = None, labels: str | None = None,
            tokenizer: str | None = None):
    from trivium.mixtures.recipe import RecipeError, apply_what_if, load_recipe

    try:
        recipe = load_recipe(path)
        if what_if:
            recipe = apply_what_if(recipe, what_if)
        if scale is not None:
            recipe = recipe.scaled(scale)
        update = {k: v for k, v in (("labels", labels), ("tokenizer", tokenizer)) if v is not None}
        recipe = recipe.model_copy(update=update)
        recipe.source_labels()  # a labels file that cannot be read fails here, not in a Spark task
        return recipe
    except RecipeError as e:
        _fail(str(e))


def _plan(recipe, stats, solve: bool):
    from trivium.mixtures.plan import plan, solve as solve_plan
    from trivium.mixtures.recipe import RecipeError

    try:
        return solve_plan(recipe, stats) if solve else plan(recipe, stats)
    except RecipeError as e:
        _fail(str(e))


def _read_stats(path: str):
    from trivium.mixtures.stats import read_stats

    try:
        return read_stats(path)
    except ValueError as e:
        _fail(str(e))


def _mix_errors():
    from trivium.flows.mix import MixError
    from trivium.mixtures.recipe import RecipeError

    return (MixError, RecipeError, FileNotFoundError)


def plan_tables(p, top: int = 20, requested=None):
    """Rich tables: one per stage, a row per cell (largest `top`, the rest summed); `requested`: the unsolved plan."""
    from rich.table import Table

    from trivium.mixtures.recipe import format_tokens

    est = "~" if p.estimated else ""
    tables = []
    for i, s in enumerate(p.stages):
        title = (f"{s.name}: {format_tokens(s.budget)} tokens, seq_len {s.seq_len:,}"
                 f"{' (token counts estimated from bytes)' if p.estimated else ''}"
                 f"{'' if s.feasible else '  INFEASIBLE'}")
        t = Table(title=title, title_justify="left")
        for col in ("weight", "source", "bucket/subdomain", "available", "drawn", "epochs", "max", "share"):
            t.add_column(col, justify="right" if col in ("available", "drawn", "epochs", "max", "share") else "left")
        cells = sorted(s.cells, key=lambda c: -c.drawn)
        for c in cells[:top]:
            flag = " !" if c.epochs > c.max_epochs * (1 + 1e-6) else ""
            t.add_row(c.weight_name, c.source, f"{c.bucket}/{c.subdomain}", est + format_tokens(c.available),
                      est + format_tokens(c.drawn), f"{c.epochs:.2f}{flag}", f"{c.max_epochs:g}", f"{c.share:.1%}")
        if len(cells) > top:
            rest = cells[top:]
            t.add_row("", f"... {len(rest)} more", "", est + format_tokens(sum(c.available for c in rest)),
                      est + format_tokens(sum(c.drawn for c in rest)), "", "", f"{sum(c.share for c in rest):.1%}")
        tables.append(t)
        if requested is not None:
            d = Table(title=f"{s.name}: solved vs requested share", title_justify="left")
            for col in ("weight", "requested", "solved", "change"):
                d.add_column(col, justify="left" if col == "weight" else "right")
            want = requested.stages[i].shares_by_weight("drawn")
            for name, share in s.shares_by_weight("drawn").items():
                d.add_row(name, f"{want.get(name, 0):.1%}", f"{share:.1%}", f"{share - want.get(name, 0):+.1%}")
            tables.append(d)
    return tables


@mix_app.command("stats")
def stats_cmd(
    curated: str = typer.Option(..., "--input", "-i", help="a committed curate stage folder, e.g. RUN/09_domain"),
    output: str = typer.Option(..., "--output", "-o", help="folder for stats.json and its _manifest.json"),
    recipe_path: str | None = typer.Option(None, "--recipe", "-r", help="also count each stage's filter/min_tokens selection"),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="`trivium tokenizer train` output: exact counts (default: estimate from bytes)"),
    labels: str | None = typer.Option(None, "--labels", help="sources.json: bucket/subdomain for documents the domain stage left unlabelled"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL (default local[*])"),
    force: bool = typer.Option(False, "--force", help="count again even when the manifest matches"),
    as_json: bool = typer.Option(False, "--json", help="print the stats as JSON"),
) -> None:
    """Count tokens per source / bucket / sub-domain on Spark and write OUTPUT/stats.json."""
    from trivium.flows.mix import Preparation, run_stats, tokenizer_fingerprint
    from trivium.mixtures.recipe import DEFAULT_BYTES_PER_TOKEN, read_labels
    from trivium.mixtures.stats import dumps_stats

    recipe = _recipe(recipe_path, labels=labels, tokenizer=tokenizer) if recipe_path else None
    spark = spark_or_fail(master=master)
    try:
        if recipe is not None:
            prep = Preparation.of(recipe)
        else:
            prep = Preparation(labels=read_labels(labels) if labels else {}, tokenizer=tokenizer,
                               tokenizer_sha256=tokenizer_fingerprint(tokenizer), bytes_per_token=DEFAULT_BYTES_PER_TOKEN)
        stats, manifest = run_stats(spark, curated, output, recipe, prep, force)
    except _mix_errors() as e:
        _fail(str(e))
    if as_json:
        sys.stdout.write(dumps_stats(stats) + "\n")
        return
    from rich.table import Table

    est = stats.estimated
    t = Table(title=f"mix stats -> {output}" + (" (reused)" if manifest.skipped else "")
              + (f" — tokens ESTIMATED from bytes at {stats.bytes_per_token} bytes/token" if est else " — exact tokens"))
    for col in ("source", "bucket", "subdomain", "docs", "bytes", "tokens (estimated)" if est else "tokens"):
        t.add_column(col, justify="right" if col in ("docs", "bytes") or col.startswith("tokens") else "left")
    for c in stats.selections["*"]:
        t.add_row(c.source, c.bucket, c.subdomain, f"{c.docs:,}", f"{c.bytes:,}", f"{c.tokens:,}")
    _out.print(t)


@mix_app.command("plan")
def plan_cmd(
    recipe_path: str = typer.Argument(..., help="recipe YAML (or `youtu`, the shipped reference curriculum)"),
    stats_path: str = typer.Option(..., "--stats", "-s", help="stats.json (or the `mix stats` output folder)"),
    solve: bool = typer.Option(False, "--solve", help="the feasible mixture nearest the requested weights"),
    what_if: list[str] = typer.Option([], "--what-if", help=WHAT_IF_HELP),
    scale: float | None = typer.Option(None, "--scale", help="multiply every stage budget (try a recipe on a small corpus)"),
    html: Path | None = typer.Option(None, "--html", help="write a self-contained HTML report"),
    top: int = typer.Option(20, "--top", help="rows per stage in the table (the rest are summed)"),
    as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
) -> None:
    """Tokens available and drawn, epochs and share per stage and source; infeasible plans name the source."""
    recipe = _recipe(recipe_path, what_if, scale)
    stats = _read_stats(stats_path)
    p = _plan(recipe, stats, solve)
    if html is not None:
        from trivium.mixtures.report import render_plan_html

        html.write_text(render_plan_html(p), encoding="utf-8")
    if as_json:
        sys.stdout.write(json.dumps(p.to_dict(), indent=1) + "\n")
    else:
        requested = _plan(recipe, stats, False) if solve else None
        for t in plan_tables(p, top, requested):
            _out.print(t)
        for problem in p.problems:
            _out.print(f"[bold red]infeasible:[/] {problem}")
        if html is not None:
            _out.print(f"report: {html}")
    if p.problems:
        raise typer.Exit(1)


@mix_app.command("build")
def build_cmd(
    recipe_path: str = typer.Argument(..., help="recipe YAML (or `youtu`)"),
    curated: str = typer.Option(..., "--input", "-i", help="a committed curate stage folder, e.g. RUN/09_domain"),
    output: str = typer.Option(..., "--output", "-o", help="one folder per stage: OUTPUT/NN_<stage>/"),
    stats_path: str | None = typer.Option(None, "--stats", "-s", help="stats from `mix stats --recipe` (default: count into OUTPUT/_stats)"),
    solve: bool = typer.Option(False, "--solve", help="build the feasible mixture nearest the requested weights"),
    what_if: list[str] = typer.Option([], "--what-if", help=WHAT_IF_HELP),
    scale: float | None = typer.Option(None, "--scale", help="multiply every stage budget"),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="exact token counts with this tokenizer"),
    labels: str | None = typer.Option(None, "--labels", help="sources.json for documents without a domain"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL (default local[*])"),
    force: bool = typer.Option(False, "--force", help="rebuild even when manifests match"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Materialise each stage by deterministic weighted sampling (repeats as `epoch` rows) to Parquet + manifest."""
    from trivium.flows import io
    from trivium.flows.mix import Preparation, measured_tokens, run_build, run_stats, write_plan

    recipe = _recipe(recipe_path, what_if, scale, labels, tokenizer)
    prep = Preparation.of(recipe)
    spark = spark_or_fail(master=master)
    try:
        if stats_path:
            stats = _read_stats(stats_path)
        else:
            stats, _ = run_stats(spark, curated, io.join(output, "_stats"), recipe, prep, force)
        p = _plan(recipe, stats, solve)
        write_plan(output, p)
        built = run_build(spark, curated, output, recipe, p, prep, force)
    except _mix_errors() as e:
        _fail(str(e))
    rows = []
    for (folder, m), sp in zip(built, p.stages):
        got = measured_tokens(m)
        rows.append({"stage": sp.name, "dir": folder, "skipped": m.skipped, "rows": m.docs_out,
                     "planned": round(sp.drawn), "tokens": sum(got.values()), "seq_len": sp.seq_len})
    if as_json:
        sys.stdout.write(json.dumps({"output": output, "tokens": "estimated" if p.estimated else "exact",
                                     "stages": rows}, indent=1) + "\n")
        return
    from rich.table import Table

    t = Table(title=f"mix build -> {output}" + (" (token counts estimated from bytes)" if p.estimated else ""))
    for col in ("stage", "rows", "planned tokens", "built tokens", "seq_len", ""):
        t.add_column(col, justify="left" if col in ("stage", "") else "right")
    for r in rows:
        t.add_row(r["stage"], f"{r['rows']:,}", f"{r['planned']:,}", f"{r['tokens']:,}", f"{r['seq_len']:,}",
                  "reused" if r["skipped"] else "")
    _out.print(t)


def run_cmd(
    recipe_path: str = typer.Argument(..., help="recipe YAML with a `curate:` section (or --input / --curated)"),
    output: str = typer.Option(..., "--output", "-o", help="run folder: curated/, stats/, plan.json, mixture/"),
    inputs: list[str] = typer.Option([], "--input", "-i", help="raw inputs to curate (default: the recipe's curate.inputs)"),
    config: Path | None = typer.Option(None, "--config", "-c", help="curate YAML config (default: the recipe's curate.config)"),
    curated: str | None = typer.Option(None, "--curated", help="skip curate: mix this committed curate stage folder"),
    solve: bool = typer.Option(False, "--solve", help="build the feasible mixture nearest the requested weights"),
    what_if: list[str] = typer.Option([], "--what-if", help=WHAT_IF_HELP),
    scale: float | None = typer.Option(None, "--scale", help="multiply every stage budget"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL (default local[*])"),
    force: bool = typer.Option(False, "--force", help="re-run every step even when manifests match"),
    as_json: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="exact token counts and packing with this tokenizer (default: the recipe's)"),
) -> None:
    """One Prefect flow: curate -> stats -> plan -> build -> pack; unchanged steps are skipped by their manifests.
    Writes OUTPUT/report.html at the end."""
    from trivium.flows.config import ConfigError, load_config
    from trivium.flows.run import curate_config_of, run_flow

    recipe = _recipe(recipe_path, what_if, scale, tokenizer=tokenizer)
    try:
        cfg = load_config(config) if config else curate_config_of(recipe)
    except (ConfigError, OSError) as e:
        _fail(str(e))
    spark_and_flow_or_fail(cfg.spark, master, flow_module="trivium.flows.run")
    from trivium.flows.progress import spark_progress
    from trivium.flows.spark import get_spark

    try:
        with spark_progress(get_spark(cfg.spark), _err, label="run"):
            summary = run_flow(recipe=recipe.model_dump(mode="json"), output=output, inputs=list(inputs) or None,
                               curate_config=cfg.model_dump(mode="json") if config else None, curated=curated,
                               solve_plan=solve, force=force)
    except _mix_errors() as e:
        _fail(str(e))
    from trivium.flows.cli_report import write_run_report

    summary["report"] = write_run_report(output, quiet=True)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=1) + "\n")
        return
    for s in summary.get("curate", []):
        _out.print(f"curate {s['stage']}: {s['docs_out']:,} docs{' (reused)' if s['skipped'] else ''}")
    _out.print(f"stats: token counts {summary['stats']['tokens']}{' (reused)' if summary['stats']['skipped'] else ''}")
    _out.print(f"plan: {'feasible' if summary['plan']['feasible'] else 'INFEASIBLE'}"
               f"{' (solved)' if summary['plan']['solved'] else ''}")
    for b in summary["build"]:
        _out.print(f"build {b['stage']}: {b['rows']:,} rows, {b['tokens']:,} tokens, seq_len {b['seq_len']:,}"
                   f"{' (reused)' if b['skipped'] else ''} -> {b['dir']}")
    _out.print(f"pack: {summary['pack']['status']}")
    if summary["report"]:
        _out.print(f"report: {summary['report']}")
