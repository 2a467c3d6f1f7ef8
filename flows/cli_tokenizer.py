"""`trivium tokenizer train / eval`: thin typer commands over trivium.tokenizer."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import typer
from trivium.flows.console import err as _err
from trivium.flows.console import fail as _fail
from trivium.flows.console import out as _out
from trivium.flows.console import spark_or_fail

tokenizer_app = typer.Typer(
    name="tokenizer",
    help="Train and evaluate the 128K byte-level BPE tokenizer (Youtu pre-tokenizer, special tokens, chat template).",
    no_args_is_help=True,
)


def parse_size(text: str | None) -> int | None:
    """'50MB', '1.5G', '200000' -> bytes."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)(i?[bB])?\s*", text)
    if not m:
        raise typer.BadParameter(f"not a size: {text!r} (e.g. 50MB, 2G, 1000000)")
    unit = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}[m.group(2).lower()]
    return int(float(m.group(1)) * unit)


class RichProgress:
    """trivium.tokenizer.train.Progress drawn with rich progress bars on stderr."""

    LABELS = {"measure": "measuring sources", "read": "reading + counting", "segment": "segmenting with base", "merges": "learning merges"}

    def __init__(self, enabled: bool = True) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.enabled = enabled
        self.tasks: dict[str, int] = {}
        self.units: dict[str, str] = {}
        self.bytes_progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                                       TimeRemainingColumn(), console=_err, disable=not enabled, transient=False)
        self.count_progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                       TimeRemainingColumn(), console=_err, disable=not enabled, transient=False)
        self._live = None

    def __enter__(self):
        from rich.console import Group
        from rich.live import Live

        if self.enabled:
            self._live = Live(Group(self.bytes_progress, self.count_progress), console=_err, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)
        return False

    def _bar(self, unit: str):
        return self.bytes_progress if unit == "B" else self.count_progress

    def start(self, stage: str, total: float | None = None, unit: str = "") -> None:
        bar = self._bar(unit)
        self.units[stage] = unit
        self.tasks[stage] = bar.add_task(self.LABELS.get(stage, stage), total=total)

    def advance(self, stage: str, n: float = 1) -> None:
        if stage in self.tasks:
            self._bar(self.units[stage]).advance(self.tasks[stage], n)

    def finish(self, stage: str) -> None:
        if stage in self.tasks:
            bar = self._bar(self.units[stage])
            task = bar.tasks[[t.id for t in bar.tasks].index(self.tasks[stage])]
            bar.update(self.tasks[stage], total=task.completed)


@tokenizer_app.command("train")
def train(
    inputs: list[str] = typer.Option(..., "--input", "-i", help="files or folders of JSONL(.gz/.zst)/Parquet; local or s3://; repeatable"),
    output: Path = typer.Option(..., "--output", "-o", help="directory to write tokenizer.json, tokenizer_config.json, ..."),
    vocab_size: int = typer.Option(128_256, "--vocab-size", help="total ids, the 256 special/reserved ids included"),
    weights: str | None = typer.Option(None, "--weights", help="per-source or per-bucket multipliers, e.g. 'stem=3,code=3,noise=0'"),
    sample_bytes: str | None = typer.Option(None, "--sample-bytes", help="draw about this much text (e.g. 50MB); default: every training document"),
    seed: int = typer.Option(0, "--seed", help="sampling seed (same sample + seed -> same tokenizer)"),
    holdout: float = typer.Option(0.0, "--holdout", min=0.0, max=0.9, help="fraction of documents kept out of training (for `eval --split heldout`)"),
    base: str | None = typer.Option(None, "--base", help="start from this tokenizer's merges: tiktoken rank file or tokenizer.json"),
    base_keep: str = typer.Option("ascii", "--base-keep", help="rule selecting base tokens to keep (ascii, latin, emoji, multilingual, script:NAME, rank<N, ...)"),
    base_drop: str | None = typer.Option(None, "--base-drop", help="rule selecting base tokens to drop (e.g. 'han'); their descendants go too"),
    base_max: int | None = typer.Option(None, "--base-max", help="keep at most this many base tokens; the rest of the vocabulary is learned"),
    base_select: str = typer.Option("usage", "--base-select", help="usage: the kept tokens the training text uses, most used first; rank: lowest base ranks"),
    min_frequency: int = typer.Option(0, "--min-frequency", help="stop when the best pair occurs fewer times"),
    engine: str = typer.Option("trivium", "--engine", help="trivium (counts + Numba merge kernel) or tokenizers (HF BpeTrainer, from scratch only)"),
    workers: int = typer.Option(0, "--workers", help="pre-tokenizer processes (0: all cores)"),
    spark: bool = typer.Option(False, "--spark", help="count pre-tokens with a Spark job (large inputs)"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL with --spark (default local[*])"),
    as_json: bool = typer.Option(False, "--json", help="print the training report as JSON on stdout"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Train the byte-level BPE on a weighted sample and export it (tokenizers + transformers loadable)."""
    from trivium.tokenizer.export import export_tokenizer
    from trivium.tokenizer.sample import SampleSpec, parse_weights
    from trivium.tokenizer.train import TrainConfig, train_tokenizer

    try:
        spec = SampleSpec(sample_bytes=parse_size(sample_bytes), weights=parse_weights(weights), seed=seed, holdout=holdout)
        config = TrainConfig(vocab_size=vocab_size, min_frequency=min_frequency, engine=engine, base=base,
                             base_keep=base_keep, base_drop=base_drop, base_max=base_max, base_select=base_select,
                             workers=workers)
        config.bpe_size  # validates vocab_size
    except ValueError as e:
        _fail(str(e))
    if engine not in ("trivium", "tokenizers"):
        _fail(f"unknown engine {engine!r}: trivium or tokenizers")
    if spark and engine != "trivium":
        _fail("--spark counts pre-tokens for the trivium engine")
    counts = None
    spark_info = None
    try:
        if spark:  # counted by Spark tasks; the merges are learned here from the counts
            from trivium.flows.progress import spark_progress
            from trivium.tokenizer.counting import count_pretokens_spark

            session = spark_or_fail(master=master)
            with spark_progress(session, _err, label="count pre-tokens"):
                counts, spark_info = count_pretokens_spark(session, inputs, spec)
        with RichProgress(enabled=not quiet and not as_json) as progress:
            tok, report = train_tokenizer(inputs, spec, config, progress=progress, counts=counts,
                                          show_hf_progress=not quiet and not as_json)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if spark_info is not None:
        report["spark"] = True
        report.update({k: v for k, v in spark_info.items() if k not in report})
    report["output"] = str(output)
    export_tokenizer(tok, str(output), vocab_size=vocab_size, report=report)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"tokenizer -> {output}", show_header=False)
    for key in ("vocab_size", "bpe_size", "engine", "base_tokens", "learned_merges", "padding_entries",
                "sample_docs", "sample_bytes", "distinct_pretokens", "count_s", "merge_s", "wall_s"):
        if key in report:
            v = report[key]
            table.add_row(key, f"{v:,}" if isinstance(v, int) else str(v))
    _out.print(table)


@tokenizer_app.command("eval")
def evaluate_cmd(
    tokenizer: list[str] = typer.Option(..., "--tokenizer", "-t", help="trained tokenizer directory (or tokenizer.json); repeatable"),
    baselines: list[str] = typer.Option([], "--baseline", "-b", help="tokenizer.json or tiktoken rank file to compare with; repeatable"),
    inputs: list[str] = typer.Option(..., "--input", "-i", help="files or folders of documents; repeatable"),
    split: str = typer.Option("all", "--split", help="all | heldout | train (heldout/train: the training run's hash split)"),
    seed: int | None = typer.Option(None, "--seed", help="seed of the split (default: from the tokenizer's trivium_tokenizer.json)"),
    holdout: float | None = typer.Option(None, "--holdout", help="held-out fraction of the split (default: from trivium_tokenizer.json)"),
    max_docs: int | None = typer.Option(None, "--max-docs-per-source", help="cap documents per source"),
    max_mb: float | None = typer.Option(None, "--max-mb-per-source", help="cap megabytes per source"),
    by_source: bool = typer.Option(False, "--by-source", help="also print one row per source"),
    metric: str = typer.Option("bytes_per_token", "--metric", help="bytes_per_token | chars_per_token | tokens_per_word"),
    html_out: Path | None = typer.Option(None, "--html", help="write a bar chart as a self-contained HTML file"),
    as_json: bool = typer.Option(False, "--json", help="print all results as JSON on stdout"),
) -> None:
    """Bytes/characters per token, tokens per word and round-trip exactness per bucket and source."""
    from trivium.tokenizer.evaluate import (
        evaluate,
        load_eval_tokenizer,
        render_html,
        render_table,
        select_eval_documents,
    )
    from trivium.tokenizer.sample import SampleSpec

    if metric not in ("bytes_per_token", "chars_per_token", "tokens_per_word"):
        _fail(f"unknown metric {metric!r}")
    if split not in ("all", "heldout", "train"):
        _fail(f"unknown split {split!r}")
    meta: dict = {}
    first = tokenizer[0]
    meta_path = os.path.join(first, "trivium_tokenizer.json") if os.path.isdir(first) else None
    if meta_path and os.path.exists(meta_path):
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    spec = SampleSpec(seed=seed if seed is not None else int(meta.get("seed", 0)),
                      holdout=holdout if holdout is not None else float(meta.get("holdout", 0.0)))
    try:
        toks = [load_eval_tokenizer(p) for p in list(tokenizer) + list(baselines)]
        docs = select_eval_documents(inputs, split=split, spec=spec, max_docs_per_source=max_docs,
                                     max_bytes_per_source=int(max_mb * 1e6) if max_mb else None)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if not docs:
        _fail("no documents to evaluate")
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    total = sum(len(d.text.encode("utf-8", "surrogatepass")) for d in docs)
    with Progress(TextColumn("encoding"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=_err,
                  disable=as_json, transient=True) as bar:
        task = bar.add_task("encode", total=total)
        result = evaluate(docs, toks, progress=lambda n: bar.advance(task, n))
    result["split"] = split
    if html_out is not None:
        html_out.write_text(render_html(result, metric), encoding="utf-8")
    if as_json:
        sys.stdout.write(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        return
    groups = [g for g in result["groups"] if by_source or not g.startswith("source:")]
    _out.print(render_table(result, metric, groups))
    if html_out is not None:
        _out.print(f"bar chart: {html_out}")
