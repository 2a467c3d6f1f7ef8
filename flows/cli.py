"""The `trivium` command line: one typer app; domains add their sub-apps at the bottom."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from trivium.flows.console import cause_line, err, fail, literal, out, spark_or_fail

# Prefect reads these at import: no telemetry from a machine that has no internet.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

app = typer.Typer(
    name="trivium",
    help="Data curation and tokenizer building for LLM pretraining.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
def run_curation(inputs: list[str], output: str, config_file: Path | None, master: str | None, force: bool,
                 as_json: bool, title: str, input_format: str | None = None, allow_empty: bool = False,
                 debug: bool = False) -> list[dict]:
    """Check config, inputs and output before anything starts (one line, exit 2, on a problem);
    answer a fully committed run from its manifests; otherwise start Spark and run the flow."""
    from trivium.flows import io
    from trivium.flows.config import ConfigError, load_config
    from trivium.flows.preflight import InputError, check_output, committed_run, plan_inputs
    from trivium.flows.report import stage_summary, stage_table

    try:
        config = load_config(config_file)
    except ConfigError as e:
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
    outcomes = None if force else committed_run(files, output, config)
    flow_run_id = None  # answered from manifests: no flow ran
    if outcomes is None:  # something to do: only now start Spark and Prefect
        spark = spark_or_fail(config.spark, master)
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
    else:
        out.print(stage_table(summaries, title=literal(title)))
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
) -> None:
    """Run the curation stages (see `trivium stages`) as a Prefect flow of Spark jobs; prints a per-stage table."""
    run_curation(inputs, output, config, master, force, as_json, title=f"trivium curate -> {output}",
                 input_format=input_format, allow_empty=allow_empty, debug=debug)


@app.command()
def demo(
    output: Path = typer.Option(Path("trivium-demo"), "--output", "-o", help="where inputs and outputs go"),
    max_mb: float = typer.Option(6.0, "--max-mb", help="approximate size of the assembled sample"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL (default local[*])"),
    as_json: bool = typer.Option(False, "--json", help="print the per-stage summary as one JSON object"),
) -> None:
    """Run `curate` end to end on a sample built from text shipped with the installed Python and packages."""
    from trivium.flows.demo import assemble_sample

    output = output.resolve()
    counts = assemble_sample(output / "input", max_mb)
    if not as_json:
        out.print(f"assembled {sum(counts.values()):,} documents from {len(counts)} sources under "
                  f"{literal(output / 'input')}")
    run_curation([str(output / "input")], str(output / "curated"), None, master, False, as_json,
                 title="trivium demo")
    if not as_json:
        out.print(f"outputs: {literal(output / 'curated')} (one folder per stage: Parquet parts, rejects/, "
                  "_manifest.json)")


@app.command()
def stages() -> None:
    """List the curation stages in the order documents flow through them."""
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

from trivium.flows.cli_pack import pack  # noqa: E402

app.command("pack")(pack)


def main() -> None:
    app()
