"""`trivium pack`: tokenize a stage folder once and pack it into training shards at one seq_len."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from trivium.flows.console import err as _err
from trivium.flows.console import fail as _fail
from trivium.flows.console import out as _out
from trivium.flows.console import spark_or_fail


def pack(
    tokenizer: Annotated[str, typer.Option("--tokenizer", "-t", help="directory with tokenizer.json (`trivium tokenizer train` output)")],
    input_dir: Annotated[str, typer.Option("--input", "-i", help="a committed stage folder (Parquet parts + _manifest.json)")],
    seq_len: Annotated[int | None, typer.Option("--seq-len", help="tokens per packed sample, 1..1048576 (default: the input manifest's extra.seq_len)")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="folder for token_store/ and seq_<N>/ (local or s3://)")] = ...,
    fmt: Annotated[str, typer.Option("--format", help="megatron (.bin/.idx), trivium (.bin/.trv) or both")] = "both",
    shard_size: Annotated[str, typer.Option("--shard-size", help="target .bin size per shard, e.g. 1GB, 256MB")] = "1GB",
    seed: Annotated[int, typer.Option("--seed", help="assigns documents to packing groups")] = 0,
    leftover: Annotated[str, typer.Option("--leftover", help="pad: pad every group's last bins; carry: repack under-filled bins together")] = "pad",
    master: Annotated[str | None, typer.Option("--master", help="Spark master URL (default local[*])")] = None,
    force: Annotated[bool, typer.Option("--force", help="tokenize and pack again even when the manifests match")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Tokenize once into a token store, then best-fit-decreasing pack into Megatron and/or trivium shards.

    Example: trivium pack --tokenizer tok/ --input runs/r1/mixture/01_stem --seq-len 8192 --output shards/
    """
    from trivium.flows.cli_tokenizer import parse_size
    from trivium.flows.pack import pack_stage, parse_pack_config

    try:
        options = dict(shard_bytes=parse_size(shard_size), seed=seed, leftover=leftover)
        if seq_len is not None:
            parse_pack_config(seq_len=seq_len, format=fmt, **options)  # bad arguments fail before Spark starts
    except (ValueError, typer.BadParameter) as e:
        _fail(str(e))
    spark = spark_or_fail(master=master)
    from trivium.flows.progress import spark_progress

    try:
        with spark_progress(spark, _err, label="pack"):
            outcome = pack_stage(spark, tokenizer, input_dir, output, seq_len, fmt, force=force, **options)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    summary = outcome.summary()
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"trivium pack -> {outcome.packed_dir}", show_header=False)
    for key in ("token_store", "tokenized", "docs_in", "docs_tokenized", "quarantined", "format", "seq_len", "shards",
                "samples", "tokens", "padding_fraction", "documents", "documents_cut", "tokens_per_bucket"):
        v = summary[key]
        table.add_row(key, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    _out.print(table)
