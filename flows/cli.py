"""The `trivium` command line: one typer app; domains add their sub-apps at the bottom."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from trivium.flows.console import cause_line, err, fail, literal, out, spark_and_flow_or_fail

# Prefect reads these at import: no telemetry from a machine that has no internet.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# The ephemeral API's first start migrates a fresh database; on a loaded 2-core machine that takes far
# longer than Prefect's 20 s default, and the whole run failed for it.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")

app = typer.Typer(
    name="trivium",
    help="Data curation and tokenizer building for LLM pretraining.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"trivium {version('trivium')}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Data curation and tokenizer building for LLM pretraining."""

def apply_sets(config, sets: list[str]):
    """`--set near_dedup.threshold=0.7`: dotted config paths, values read as YAML scalars; validated again."""
    import yaml
    from trivium.flows.config import parse_config

    data = config.model_dump(exclude_computed_fields=True)
    for item in sets:
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise ValueError(f"--set {item!r}: expected SECTION.FIELD=VALUE, e.g. near_dedup.threshold=0.7")
        node, keys = data, path.strip().split(".")
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"--set {item!r}: {key!r} is not a config section")
            node = node[key]
        node[keys[-1]] = yaml.safe_load(raw)
    return parse_config(data, "(--set)")


def select_stages(config, only: str | None, until: str | None):
    """`--until S` disables the stages after S; `--only S` too (its upstream must be committed already)."""
    from trivium.flows.stages import STAGE_NAMES, STAGES

    target = only or until
    if target is None:
        return config
    if target not in STAGE_NAMES:
        raise ValueError(f"--{'only' if only else 'until'} {target!r}: not a stage ({', '.join(STAGE_NAMES)})")
    for sdef in STAGES[STAGE_NAMES.index(target):]:
        section = getattr(config, sdef.config_field)
        setattr(config, sdef.config_field, section.model_copy(update={"enabled": False}))
    return config


def run_curation(inputs: list[str], output: str, config_file: Path | None, master: str | None, force: bool,
                 as_json: bool, title: str, input_format: str | None = None, allow_empty: bool = False,
                 debug: bool = False, sets: list[str] | None = None, only: str | None = None,
                 until: str | None = None, verbose: bool = True, report: bool = True) -> list[dict]:
    """Check config, inputs and output before anything starts (one line, exit 2, on a problem);
    answer a fully committed run from its manifests; otherwise start Spark and run the flow;
    write OUTPUT/report.html at the end (unless `report` is False)."""
    from trivium.flows import io
    from trivium.flows.config import ConfigError, load_config
    from trivium.flows.preflight import InputError, check_output, committed_run, plan_inputs
    from trivium.flows.report import stage_summary, stage_table

    try:
        config = load_config(config_file)
        config = apply_sets(config, sets) if sets else config
        stop_at = only or until
        config = select_stages(config, only, until)
    except (ConfigError, ValueError) as e:
        fail(str(e))
    if input_format:
        from typing import get_args

        formats = get_args(type(config.ingest).model_fields["format"].annotation)
        if input_format not in formats:
            fail(f"--format: expected one of {', '.join(formats)}, got {input_format!r}")
        config.ingest = config.ingest.model_copy(update={"format": input_format})
    io.configure(config.storage.fsspec_options())
    try:
        check_output(output)
        files = plan_inputs(inputs, output, allow_empty)
    except (InputError, FileNotFoundError) as e:
        if debug:
            raise
        fail(str(e))
    if only and only != "ingest":  # its upstream must be committed: run everything before it, resumed
        from trivium.flows.stages import STAGE_NAMES

        before = STAGE_NAMES[STAGE_NAMES.index(only) - 1]
        if committed_run(files, output, select_stages(config.model_copy(deep=True), None, before)) is None:
            fail(f"--only {only}: the stages before it are not all committed in {literal(output)}; "
                 f"run with --until {before} first")
    outcomes = None if force else committed_run(files, output, config)
    flow_run_id = None  # answered from manifests: no flow ran
    if outcomes is None:  # something to do: only now start Spark and Prefect
        spark = spark_and_flow_or_fail(config.spark, master)
        config.spark.master = spark.sparkContext.master
        from trivium.flows.curate import curate_flow
        from trivium.flows.progress import spark_progress

        from prefect import tags

        try:
            with spark_progress(spark, err, label="curate"), tags("trivium", "curate"):
                state = curate_flow(inputs=inputs, output=output, config=config, force=force,
                                    allow_empty=allow_empty, return_state=True)
                flow_run_id = str(state.state_details.flow_run_id)
                outcomes = state.result()
        except Exception as e:  # noqa: BLE001 - one line unless asked for the traceback
            if debug:
                raise
            fail(f"curate failed: {cause_line(e)} (--debug shows the traceback)", code=1)
    summaries = [stage_summary(o.stage_dir, o.manifest) for o in outcomes]
    if as_json:
        final = outcomes[-1].stage_dir if outcomes else None
        sys.stdout.write(json.dumps({"output": output, "final": final, "flow_run_id": flow_run_id,
                                     "stages": summaries}, indent=1) + "\n")
    elif verbose:
        out.print(stage_table(summaries, title=literal(title)))
    else:
        from trivium.flows.report import compact_summary

        for line in compact_summary(summaries):
            out.print(line, markup=False, highlight=False)
    if stop_at and not as_json:
        out.print(f"stopped after {stop_at} (--{'only' if only else 'until'})", markup=False, highlight=False)
    if report:
        from trivium.flows.cli_report import write_run_report

        write_run_report(output, quiet=as_json)
    return summaries


@app.command()
def curate(
    inputs: list[str] = typer.Option(..., "--input", "-i", help="files, folders or globs; local paths or s3://"),
    output: str = typer.Option(..., "--output", "-o", help="run folder (local or s3://): one sub-folder per stage"),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config; defaults are embedded"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL (default local[*])"),
    force: bool = typer.Option(False, "--force", help="re-run stages even when their manifests match"),
    as_json: bool = typer.Option(False, "--json", help="print the per-stage summary as one JSON object"),
    input_format: str | None = typer.Option(
        None, "--format", help="jsonl|parquet|warc|html for every input file (default: from each file's extension)"
    ),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="run even when an input matches no files"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks instead of one-line errors"),
    sets: list[str] = typer.Option(None, "--set", help="override one config value, e.g. near_dedup.threshold=0.7"),
    only: str = typer.Option(None, "--only", help="run just this stage (the ones before it must be committed)"),
    until: str = typer.Option(None, "--until", help="stop after this stage"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="the full per-stage, per-reason table"),
) -> None:
    """Run the curation stages (see `trivium stages`) as a Prefect flow of Spark jobs; prints a summary.

    Example: trivium curate -i s3://raw/ -o s3://runs/r1 -c prod.yaml --set near_dedup.threshold=0.7
    """
    run_curation(inputs, output, config, master, force, as_json, title=f"trivium curate -> {output}",
                 input_format=input_format, allow_empty=allow_empty, debug=debug, sets=sets, only=only,
                 until=until, verbose=verbose)


@app.command()
def demo(
    output: Path = typer.Option(Path("trivium-demo"), "--output", "-o", help="where inputs and outputs go"),
    max_mb: float = typer.Option(6.0, "--max-mb", help="approximate size of the assembled sample"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL (default local[*])"),
) -> None:
    """The whole main job on a sample built from text shipped with the installed Python and packages:
    curate (shipped default models) -> tokenizer -> token stats -> mixture plan and build -> packed shards -> report."""
    from trivium.flows import demo as D

    output = output.resolve()
    say = lambda line: out.print(line, markup=False, highlight=False)  # noqa: E731
    counts = D.assemble_sample(output / "input", max_mb)
    say(f"sample: {sum(counts.values()):,} documents from {len(counts)} sources under {output / 'input'}")
    for line in D.model_lines():
        say(line)
    summaries = run_curation([str(output / "input")], str(output / "curated"), None, master, False, False,
                             title="trivium demo: curate", verbose=False, report=False)
    curated = summaries[-1]["dir"]
    say(f"tokenizer: training a {D.DEMO_VOCAB:,}-id BPE on {curated}")
    try:
        tok = D.train_demo_tokenizer(curated, str(output / "tokenizer"))
    except (ValueError, FileNotFoundError) as e:
        fail(f"tokenizer: training failed: {cause_line(e)}", code=1)
    say(f"tokenizer: {tok['report'].get('learned_merges', '?')} merges in {tok['report'].get('wall_s', '?')} s -> "
        f"{output / 'tokenizer'}" + ("" if tok["eval"] else " (compression not measured: no held-out documents)"))
    say(f"trivium run {D.DEMO_RECIPE} --curated {curated} --tokenizer {output / 'tokenizer'} --solve -o {output}")
    from trivium.flows.cli_mix import run_cmd

    run_cmd(D.DEMO_RECIPE, str(output), inputs=[], config=None, curated=curated, solve=True, what_if=[], scale=None,
            master=master, force=False, as_json=False, tokenizer=str(output / "tokenizer"))
    shards = D.shard_folders(str(output))
    report_file = output / "report.html"
    say(f"demo done under {output}:")
    say(f"  report: {report_file}" if report_file.exists() else "  report: NOT written (see the warning above)")
    say(f"  shards: {len(shards)} packed folders" if shards else "  shards: NONE written (see pack above)")
    for folder in shards:
        say(f"    {output / folder}")


@app.command()
def stages() -> None:
    """List the curation stages in the order documents flow through them.

    Example: trivium stages
    """
    from trivium.flows.stages import STAGES

    out.print("ingest: JSONL(.gz|.zst) / Parquet / WARC / HTML readers (web pages: main-text extraction), bad input quarantined")
    for s in STAGES:
        out.print(f"{s.name}: {s.description}")


from trivium.flows.cli_dedup import dedup

app.command("dedup")(dedup)

from trivium.flows.cli_tokenizer import tokenizer_app  # noqa: E402

app.add_typer(tokenizer_app, name="tokenizer")

from trivium.flows.cli_classifier import classifier_app  # noqa: E402

app.add_typer(classifier_app, name="classifier")

from trivium.flows.cli_report import inspect, report  # noqa: E402

app.command("report")(report)
app.command("inspect")(inspect)

from trivium.flows.cli_ops import config_app, deploy, serve, status  # noqa: E402

app.command("status")(status)
app.command("deploy")(deploy)
app.command("serve")(serve)
app.add_typer(config_app, name="config")

from trivium.flows.cli_pack import pack  # noqa: E402

app.command("pack")(pack)

from trivium.flows.cli_mix import mix_app, run_cmd  # noqa: E402

app.add_typer(mix_app, name="mix")
app.command("run")(run_cmd)


def main() -> None:
    app()
