"""`trivium dedup`: the near-dedup stage alone, on a committed stage folder or on raw files.

`--input` is either a stage folder with a `_manifest.json` (e.g. `RUN/02_exact_dedup`), whose
documents are read as they are, or raw files/folders/globs (JSONL, Parquet), which are ingested
first into `OUTPUT/_ingest`. The stage writes its Parquet parts, `rejects/` (with `dup_cluster`)
and `_manifest.json` into `OUTPUT`, and the band-key index of the kept documents into
`OUTPUT/_index` (so a later crawl can pass `--index OUTPUT/_index`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from trivium.flows.console import fail as _fail
from trivium.flows.console import literal, spark_or_fail
from trivium.flows.console import out as _out


def dedup(
    inputs: Annotated[
        list[str], typer.Option("--input", "-i", help="a stage folder (with _manifest.json) or raw files")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="folder for the deduplicated documents (local or s3://)")
    ],
    threshold: Annotated[float, typer.Option("--threshold", "-t", help="Jaccard similarity to merge at")] = 0.8,
    bands: Annotated[
        int | None, typer.Option("--bands", help="LSH bands (with --rows; default: from the threshold)")
    ] = None,
    rows: Annotated[int | None, typer.Option("--rows", help="rows per band (with --bands)")] = None,
    ngram: Annotated[int, typer.Option("--ngram", help="tokens per shingle")] = 5,
    num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations")] = 112,
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="word (CJK per character) or char")] = "word",
    verify: Annotated[str, typer.Option("--verify", help="containment, jaccard, signature or none")] = "containment",
    index: Annotated[
        list[str] | None, typer.Option("--index", help="band-key index of an earlier run to dedup against")
    ] = None,
    write_index: Annotated[bool, typer.Option("--write-index/--no-write-index", help="write OUTPUT/_index")] = True,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML curate config (its near_dedup section)")
    ] = None,
    master: Annotated[str | None, typer.Option("--master", help="Spark master URL (default local[*])")] = None,
    force: Annotated[bool, typer.Option("--force", help="re-run even when the manifest matches")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON object")] = False,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="run even when an input matches no files")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks instead of one-line errors")] = False,
) -> None:
    """Near-duplicate removal alone: MinHash LSH + connected components, one document kept per cluster.

    Example: trivium dedup --input runs/r1/03_exact_dedup --output runs/nd --threshold 0.8
    """
    from pydantic import ValidationError
    from trivium.flows import io
    from trivium.flows.config import ConfigError, load_config
    from trivium.flows.manifest import read_manifest
    from trivium.flows.preflight import InputError, StageOutcome, check_output, plan_inputs
    from trivium.flows.stages.near_dedup import NearDedupConfig

    try:
        cfg = load_config(config)
    except ConfigError as e:
        _fail(str(e))
    overrides = {
        "threshold": threshold,
        "bands": bands,
        "rows": rows,
        "ngram": ngram,
        "num_perm": num_perm,
        "tokenizer": tokenizer,
        "verify": verify,
        "index_in": list(index or []),
        "index_out": io.join(output, "_index") if write_index else None,
    }
    try:
        # dict(model), not model_dump(): the fields excluded from the config hash (checkpoint_dir, device, ...) stay
        stage_cfg = NearDedupConfig.model_validate(dict(cfg.near_dedup) | overrides)
    except ValidationError as e:
        _fail("; ".join(f"{'.'.join(map(str, x['loc'])) or 'options'}: {x['msg']}" for x in e.errors()))
    io.configure(cfg.storage.fsspec_options())
    upstream_manifest = read_manifest(inputs[0]) if len(inputs) == 1 else None
    try:
        check_output(output)
        if upstream_manifest is None:  # raw files; a stage folder without a committed manifest is refused
            plan_inputs(inputs, output, allow_empty)
    except (InputError, FileNotFoundError) as e:
        if debug:
            raise
        _fail(str(e))
    spark = spark_or_fail(cfg.spark, master)

    from trivium.flows.curate import run_ingest
    from trivium.flows.stage import read_documents, run_stage
    from trivium.flows.stages.near_dedup import build_near_dedup

    if upstream_manifest is not None:
        upstream = StageOutcome(inputs[0], upstream_manifest)
    else:
        upstream = run_ingest(spark, inputs, io.join(output, "_ingest"), cfg, force, allow_empty, exclude=output)
    stats: dict = {}
    try:
        manifest = run_stage(
            spark,
            stage="near_dedup",
            stage_dir=output,
            config=stage_cfg,
            inputs=[upstream.manifest.fingerprint()],
            build=lambda: build_near_dedup(
                spark, read_documents(spark, upstream.stage_dir, upstream.manifest), stage_cfg, stats
            ),
            docs_in=upstream.manifest.docs_out,
            force=force,
            extra=lambda _df: {"near_dedup": stats},
        )
    except (ValueError, FileNotFoundError) as e:
        if debug:
            raise
        _fail(str(e))
    b, r = stage_cfg.bands_rows()
    result = {
        "output": output,
        "input": upstream.stage_dir,
        "skipped": manifest.skipped,
        "docs_in": manifest.docs_in,
        "docs_out": manifest.docs_out,
        "dropped": manifest.dropped,
        "quarantined": manifest.quarantined,
        "bands": b,
        "rows": r,
        "threshold": stage_cfg.threshold,
        "wall_s": manifest.wall_s,
        "stats": manifest.extra.get("near_dedup", {}),
        "index": stage_cfg.index_out,
    }
    if as_json:
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
        return
    table = Table(title=f"trivium dedup -> {literal(output)}" + (" (reused)" if manifest.skipped else ""))
    table.add_column("")
    table.add_column("value", justify="right")
    for key in ("docs_in", "docs_out"):
        table.add_row(key, f"{result[key]:,}")
    for reason, n in sorted({**manifest.dropped, **manifest.quarantined}.items()):
        table.add_row(reason, f"{n:,}")
    table.add_row("bands x rows", f"{b} x {r} (threshold {stage_cfg.threshold})")
    for key, value in result["stats"].items():
        if key not in ("bands", "rows", "threshold"):
            table.add_row(key, str(value))
    table.add_row("wall s", f"{manifest.wall_s:.1f}")
    _out.print(table)
