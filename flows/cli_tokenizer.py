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
    """'50MB', '1.5G', '200000' -> bytes; 'all' -> None (every document)."""
    if text is None or text.strip().lower() == "all":
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


def _base_max(text: str | None) -> int | str | None:
    if text is None or text == "auto":
        return text
    if not text.strip().isdigit():
        raise ValueError(f"--base-max: a number of base tokens or 'auto', got {text!r}")
    return int(text)


@tokenizer_app.command("train")
def train(
    inputs: list[str] = typer.Option(..., "--input", "-i", help="files or folders of JSONL(.gz/.zst)/Parquet; local or s3://; repeatable"),
    output: Path = typer.Option(..., "--output", "-o", help="directory to write tokenizer.json, tokenizer_config.json, ..."),
    preset: str | None = typer.Option(None, "--preset", help="a recipe: youtu (the reference build) or a YAML/JSON recipe file; flags override its values"),
    vocab_size: int | None = typer.Option(None, "--vocab-size", help="total ids, the 256 special/reserved ids included [128256]"),
    weights: str | None = typer.Option(None, "--weights", help="per-source or per-bucket multipliers, and lang:<group> ones on top, e.g. 'stem=3,code=3,noise=0,lang:zh=0.5'"),
    sample_bytes: str | None = typer.Option(None, "--sample-bytes", help="draw about this much text (e.g. 50MB); 'all' or none: every training document"),
    seed: int = typer.Option(0, "--seed", help="sampling seed (same sample + seed -> same tokenizer)"),
    holdout: float | None = typer.Option(None, "--holdout", min=0.0, max=0.9, help="fraction of documents kept out of training (for `eval --split heldout`) [0]"),
    holdout_sources: str | None = typer.Option(None, "--holdout-sources", help="comma list of whole sources kept out of training (for `eval --split heldout-sources`)"),
    fold: str | None = typer.Option(None, "--fold", help="K/N: hold out fold K of N (one source of every bucket/language group per fold)"),
    base: str | None = typer.Option(None, "--base", help="start from this tokenizer's merges: tiktoken rank file or tokenizer.json"),
    base_keep: str | None = typer.Option(None, "--base-keep", help="rule selecting base tokens to keep (ascii, latin, emoji, multilingual, script:NAME, rank<N, ...) [ascii]"),
    base_drop: str | None = typer.Option(None, "--base-drop", help="rule selecting base tokens to drop (e.g. 'han'); their descendants go too"),
    base_pin: str | None = typer.Option(None, "--base-pin", help="rule selecting kept base tokens that --base-max never cuts (e.g. 'symbols,identifier')"),
    base_max: str | None = typer.Option(None, "--base-max", help="keep at most this many base tokens (pinned ones first), or 'auto': measured on sources left out of the sample"),
    base_max_candidates: str | None = typer.Option(None, "--base-max-candidates", help="comma list of base sizes --base-max auto tries [40000,60000,80000,100000]"),
    base_select: str | None = typer.Option(None, "--base-select", help="rank: lowest base ranks (the base's merge order) [default]; used: lowest ranks among the kept tokens the training text uses; usage: the kept tokens the training text uses most"),
    digits: int | None = typer.Option(None, "--digits", help="numbers split into single digits (1, the published rule) [default] or groups of up to 3"),
    min_frequency: int | None = typer.Option(None, "--min-frequency", help="stop when the best pair occurs fewer times [0]"),
    engine: str = typer.Option("trivium", "--engine", help="trivium (counts + Numba merge kernel) or tokenizers (HF BpeTrainer, from scratch only)"),
    workers: int = typer.Option(0, "--workers", help="pre-tokenizer processes (0: all cores)"),
    spark: bool = typer.Option(False, "--spark", help="count pre-tokens with a Spark job (large inputs)"),
    master: str | None = typer.Option(None, "--master", help="Spark master URL with --spark (default local[*])"),
    as_json: bool = typer.Option(False, "--json", help="print the training report as JSON on stdout"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Train the byte-level BPE on a weighted sample and export it (tokenizers + transformers loadable).

    Example: trivium tokenizer train --preset youtu --base ../shared/tokenizers/o200k_base.tiktoken -i corpus/ -o tok/
    """
    from trivium.tokenizer.export import export_tokenizer
    from trivium.tokenizer.presets import resolve
    from trivium.tokenizer.sample import SampleSpec, discover_files, fold_sources, parse_weights
    from trivium.tokenizer.train import TrainConfig, train_tokenizer

    try:
        candidates = None if base_max_candidates is None else [int(x) for x in base_max_candidates.split(",") if x.strip()]
        recipe = resolve(preset, {
            "vocab_size": vocab_size, "weights": weights, "sample_bytes": sample_bytes, "holdout": holdout,
            "base_keep": base_keep, "base_drop": base_drop, "base_pin": base_pin, "base_select": base_select,
            "base_max": _base_max(base_max),
            "base_max_candidates": candidates, "digits": digits, "min_frequency": min_frequency})
        if recipe.base_file and not base:
            raise ValueError(f"preset {preset} starts from {recipe.base_file}: name it with --base FILE")
        held = tuple(s.strip() for s in holdout_sources.split(",") if s.strip()) if holdout_sources else ()
        if fold is not None:
            m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", fold)
            if not m:
                raise ValueError(f"--fold: K/N expected (e.g. 0/3), got {fold!r}")
            held += fold_sources(discover_files(inputs), int(m.group(1)), int(m.group(2)), seed)
        spec = SampleSpec(sample_bytes=parse_size(recipe.sample_bytes), weights=parse_weights(recipe.weights), seed=seed,
                          holdout=recipe.holdout, holdout_sources=tuple(sorted(set(held))))
        config = TrainConfig(vocab_size=recipe.vocab_size, min_frequency=recipe.min_frequency, engine=engine, base=base,
                             base_keep=recipe.base_keep, base_drop=recipe.base_drop, base_pin=recipe.base_pin,
                             base_max=recipe.base_max if recipe.base_max != "auto" else None,
                             base_max_candidates=tuple(recipe.base_max_candidates) if recipe.base_max == "auto" else (),
                             base_select=recipe.base_select, digits=recipe.digits, workers=workers)
        config.bpe_size  # validates vocab_size
    except (ValueError, FileNotFoundError) as e:
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
                counts, spark_info = count_pretokens_spark(session, inputs, spec, digits=config.digits)
        with RichProgress(enabled=not quiet and not as_json) as progress:
            tok, report = train_tokenizer(inputs, spec, config, progress=progress, counts=counts,
                                          show_hf_progress=not quiet and not as_json)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if spark_info is not None:
        report["spark"] = True
        report.update({k: v for k, v in spark_info.items() if k not in report})
    report["output"] = str(output)
    report["recipe"] = {"preset": preset, **recipe.model_dump(exclude={"description"})}
    export_tokenizer(tok, str(output), vocab_size=config.vocab_size, report=report)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"tokenizer -> {output}", show_header=False)
    for key in ("vocab_size", "bpe_size", "engine", "digits", "base_max", "base_tokens", "learned_merges", "padding_entries",
                "sample_docs", "sample_bytes", "distinct_pretokens", "count_s", "merge_s", "wall_s"):
        if key in report:
            v = report[key]
            table.add_row(key, f"{v:,}" if isinstance(v, int) else str(v))
    if "base_max_measured" in report:
        m = report["base_max_measured"]
        table.add_row("base_max measured", ", ".join(f"{n}: {c['score']:.4f}" for n, c in m["candidates"].items())
                      + f" -> {m['chosen']} (left out: {', '.join(report.get('base_max_held_out_sources', []))})")
    if report.get("learned_by_script"):
        table.add_row("learned tokens", ", ".join(f"{k} {v:,}" for k, v in report["learned_by_script"].items()))
    _out.print(table)


@tokenizer_app.command("eval")
def evaluate_cmd(
    tokenizer: list[str] = typer.Option(..., "--tokenizer", "-t", help="trained tokenizer directory (or tokenizer.json); repeatable (with --split heldout-sources: the folds of one build)"),
    baselines: list[str] = typer.Option([], "--baseline", "-b", help="tokenizer.json or tiktoken rank file to compare with; repeatable"),
    inputs: list[str] = typer.Option(..., "--input", "-i", help="files or folders of documents; repeatable"),
    split: str = typer.Option("all", "--split", help="all | heldout | train | heldout-sources (the training run's held-out documents/sources)"),
    like: bool = typer.Option(True, "--like-for-like/--published-only", help="also each baseline's vocabulary behind trivium's pre-tokenizer (@d1, @d3)"),
    seed: int | None = typer.Option(None, "--seed", help="seed of the split (default: from the tokenizer's trivium_tokenizer.json)"),
    holdout: float | None = typer.Option(None, "--holdout", help="held-out fraction of the split (default: from trivium_tokenizer.json)"),
    max_docs: int | None = typer.Option(None, "--max-docs-per-source", help="cap documents per source"),
    max_mb: float | None = typer.Option(None, "--max-mb-per-source", help="cap megabytes per source"),
    by_source: bool = typer.Option(False, "--by-source", help="also print one row per source"),
    metric: str = typer.Option("bytes_per_token", "--metric", help="bytes_per_token | chars_per_token | tokens_per_word"),
    html_out: Path | None = typer.Option(None, "--html", help="write a bar chart as a self-contained HTML file"),
    as_json: bool = typer.Option(False, "--json", help="print all results as JSON on stdout"),
) -> None:
    """Bytes/characters per token, tokens per word and round-trip exactness per bucket and source.

    Example: trivium tokenizer eval -t tok/ --baseline ../shared/tokenizers/llama3.tiktoken -i corpus/
    """
    from trivium.tokenizer.evaluate import (
        SPLITS,
        combine_results,
        evaluate,
        like_for_like,
        load_eval_tokenizer,
        reference_report,
        render_html,
        render_reference_table,
        render_table,
        select_eval_documents,
        tokenizer_label,
    )
    from trivium.tokenizer.sample import SampleSpec

    if metric not in ("bytes_per_token", "chars_per_token", "tokens_per_word"):
        _fail(f"unknown metric {metric!r}")
    if split not in SPLITS:
        _fail(f"unknown split {split!r}: {', '.join(SPLITS)}")

    def meta_of(path: str) -> dict:
        meta_path = os.path.join(path, "trivium_tokenizer.json") if os.path.isdir(path) else None
        if meta_path and os.path.exists(meta_path):
            with open(meta_path, encoding="utf-8") as fh:
                return json.load(fh)
        return {}

    def spec_of(meta: dict) -> SampleSpec:
        return SampleSpec(seed=seed if seed is not None else int(meta.get("seed", 0)),
                          holdout=holdout if holdout is not None else float(meta.get("holdout", 0.0)),
                          holdout_sources=tuple(meta.get("holdout_sources", ())))

    # with --split heldout-sources every -t is one fold, measured on its own left-out sources
    folds = split == "heldout-sources"
    metas = [meta_of(p) for p in tokenizer]
    digit_rule = int(metas[0].get("digits", 1))
    try:
        base_toks = [load_eval_tokenizer(p) for p in baselines]
        if like:
            base_toks += [like_for_like(p, d, t.name) for p, t in zip(baselines, base_toks[: len(baselines)]) for d in (1, 3)]
        caps = dict(max_docs_per_source=max_docs, max_bytes_per_source=int(max_mb * 1e6) if max_mb else None)
        if folds:
            names = [tokenizer_label(tokenizer[0])] * len(tokenizer)
            runs = [([load_eval_tokenizer(p, n)], select_eval_documents(inputs, split=split, spec=spec_of(m), **caps))
                    for p, n, m in zip(tokenizer, names, metas)]
        else:
            runs = [([load_eval_tokenizer(p) for p in tokenizer],
                     select_eval_documents(inputs, split=split, spec=spec_of(metas[0]), **caps))]
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if not any(docs for _, docs in runs):
        _fail("no documents to evaluate")
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    total = sum(len(d.text.encode("utf-8", "surrogatepass")) for _, docs in runs for d in docs)
    with Progress(TextColumn("encoding"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=_err,
                  disable=as_json, transient=True) as bar:
        task = bar.add_task("encode", total=total)
        result = combine_results([evaluate(docs, toks + base_toks, progress=lambda n: bar.advance(task, n))
                                  for toks, docs in runs if docs])
    result["split"] = split
    ours = result["tokenizers"][0]["name"]
    published = [t.name for t in base_toks[: len(baselines)]]
    if published:
        result["references"] = reference_report(result, ours, published, digit_rule)
    if html_out is not None:
        html_out.write_text(render_html(result, metric), encoding="utf-8")
    if as_json:
        sys.stdout.write(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        return
    groups = [g for g in result["groups"] if by_source or not g.startswith("source:")]
    _out.print(render_table(result, metric, groups))
    if published:
        _out.print(render_reference_table(result["references"], groups,
                                          title=f"{ours} tokens relative to each baseline (below 1 = fewer): "
                                                f"published | like for like (@d{digit_rule}) | digit rule's cost | rest of the split's cost"))
    if html_out is not None:
        _out.print(f"bar chart: {html_out}")
