"""`trivium classifier train / eval`: the fastText domain and quality models, as files people can inspect.

    trivium classifier train --seed-sources ../shared/corpus/sources.json --output domain.bin \\
        --holdout nltk_news,math_eval_en,mbpp,react --holdout-output heldout.jsonl.gz
    trivium classifier eval --model domain.bin --input heldout.jsonl.gz --json
    trivium classifier train --task quality --seed-sources ../shared/corpus/sources.json --output quality.bin
    trivium classifier train --defaults --seed-sources ../shared/corpus/sources.json   # the shipped models

The model's card (task, labels, sources, parameters, held-out scores, sha256) is written beside it
as MODEL.json. Point `domain.model` / `quality.model` of a curate config at the files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table
from trivium.flows.console import err as _err
from trivium.flows.console import fail as _fail
from trivium.flows.console import out as _out

classifier_app = typer.Typer(
    name="classifier",
    help="Train and evaluate the fastText domain (commonsense/stem/code/agentic/noise) and quality classifiers.",
    no_args_is_help=True,
)


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _confusion_table(report: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("gold \\ pred")
    for lab in report["labels"]:
        table.add_column(lab, justify="right")
    table.add_column("recall", justify="right")
    for lab, row in zip(report["labels"], report["confusion"]):
        table.add_row(lab, *[f"{v:,}" for v in row], f"{report['per_label'][lab]['recall']:.3f}")
    return table


def _print_report(report: dict) -> None:
    _out.print(f"[bold]{report['task']}[/] model {report['model']}: {report['n']:,} documents, "
               f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}"
               + (f", AUC {report['auc']:.4f}" if "auc" in report else ""))
    _out.print(_confusion_table(report, "confusion matrix (rows: gold)"))
    if "per_source" in report:
        t = Table(title="per source")
        for col in ("source", "documents", "accuracy"):
            t.add_column(col, justify="left" if col == "source" else "right")
        for src, s in report["per_source"].items():
            t.add_row(src, f"{s['n']:,}", f"{s['accuracy']:.4f}")
        _out.print(t)
    if "per_source_mean" in report:
        _out.print("mean quality_score per source: " + ", ".join(f"{k} {v:.3f}" for k, v in report["per_source_mean"].items()))


@classifier_app.command()
def train(
    output: Path | None = typer.Option(None, "--output", "-o", help="model file to write (its card goes to OUTPUT.json)"),  # noqa: B008
    defaults: bool = typer.Option(False, "--defaults", help="rebuild the shipped default domain and quality models "
                                  "(package data) from --seed-sources with their fixed recipe; byte-identical"),
    task: str = typer.Option("domain", "--task", help="domain (buckets + sub-domains) or quality (hq vs lq)"),
    labels: list[Path] = typer.Option(None, "--labels", help="labelled JSONL(.gz)/Parquet: `label` + text or messages"),  # noqa: B008
    seed_sources: Path | None = typer.Option(None, "--seed-sources", help="sources.json: label documents by source bucket"),  # noqa: B008
    holdout: str | None = typer.Option(None, "--holdout", help="comma-separated sources kept out of training, evaluated"),
    holdout_output: Path | None = typer.Option(None, "--holdout-output", help="write the held-out rows (labelled JSONL)"),  # noqa: B008
    max_per_source: int = typer.Option(3000, "--max-per-source", min=1, help="documents sampled per seed source"),
    min_chars: int = typer.Option(200, "--min-chars", min=0, help="seed texts shorter than this are skipped"),
    subdomains: bool = typer.Option(True, "--subdomains/--no-subdomains", help="domain: train bucket/subdomain labels"),
    positive_buckets: str = typer.Option("commonsense,stem,code", "--positive-buckets",
                                         help="quality: buckets whose sources are positives (noise = negatives)"),
    epoch: int = typer.Option(5, "--epoch", min=1),
    lr: float = typer.Option(0.2, "--lr"),
    dim: int = typer.Option(16, "--dim", min=2),
    word_ngrams: int = typer.Option(2, "--word-ngrams", min=1),
    bucket: int = typer.Option(50_000, "--bucket", min=1000, help="hash buckets of word n-grams (model size)"),
    minn: int = typer.Option(0, "--minn", min=0, help="shortest character n-gram of a word (0: none)"),
    maxn: int = typer.Option(0, "--maxn", min=0, help="longest character n-gram of a word (0: none); "
                             "character n-grams let words never seen in training count"),
    max_tokens: int = typer.Option(256, "--max-tokens", min=16, help="tokens of each document the model reads"),
    threads: int = typer.Option(1, "--threads", min=1, help="fastText threads; only 1 gives a reproducible model"),
    seed: int = typer.Option(0, "--seed"),
    quantize: bool = typer.Option(False, "--quantize", help="product-quantise the model (smaller .ftz-style file)"),
    line_shape: bool | None = typer.Option(None, "--line-shape/--no-line-shape",
                                           help="line length/punctuation tokens (default: on for quality only)"),
    stem_prose: bool = typer.Option(True, "--stem-prose/--no-stem-prose",
                                    help="domain: relabel STEM prose inside commonsense sources (lexicon + first model)"),
    zh_negatives: float = typer.Option(0.5, "--zh-negatives", min=0,
                                       help="quality: derived Chinese negatives per Chinese positive"),
    short_views: bool = typer.Option(False, "--short-views/--no-short-views",
                                     help="domain: add bare questions of word problems and fragments of boilerplate "
                                          "pages as extra seed views"),
    exam_views: bool = typer.Option(False, "--exam-views/--no-exam-views",
                                    help="domain: each English STEM training document also as a multiple-choice "
                                         "item cut from its own text (the shipped recipe uses it; --defaults)"),
    windows: bool = typer.Option(False, "--windows/--no-windows",
                                 help="domain: sources with under 300 training documents also give windows of their "
                                      "long documents past the prefix the model reads (the shipped recipe uses it)"),
    exclude_benchmarks: bool = typer.Option(True, "--exclude-benchmarks/--keep-benchmarks",
                                            help="drop seeds the decontamination index flags for the corpus's "
                                                 "test sets (GSM8K test, HumanEval, MBPP, math evaluation sets)"),
    as_json: bool = typer.Option(False, "--json", help="print the model card as JSON"),
) -> None:
    """Train a fastText classifier from labelled files or from seed sources (label = the source's bucket).

    Example: trivium classifier train --seed-sources ../shared/corpus/sources.json --output models/domain.bin
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from trivium.filters.fasttext_text import TrainParams, read_card
    from trivium.mixtures.default_models import evaluate as score_model
    from trivium.mixtures.seed import labelled_examples, seed_examples, write_labelled
    from trivium.mixtures.stem_prose import StemProseRule

    if task not in ("domain", "quality"):
        _fail(f"--task must be domain or quality, not {task!r}")
    if defaults:
        _train_defaults(seed_sources, as_json)
        return
    if output is None:
        _fail("give --output MODEL (or --defaults to rebuild the shipped models)")
    if not labels and seed_sources is None:
        _fail("give --labels FILE (labelled rows) or --seed-sources sources.json")
    if threads > 1 and not as_json:
        _err.print("[yellow]note:[/] fastText with more than one thread does not give the same model twice")
    params = TrainParams(epoch=epoch, lr=lr, dim=dim, word_ngrams=word_ngrams, bucket=bucket, minn=minn, maxn=maxn,
                         threads=threads, seed=seed, max_tokens=max_tokens, quantize=quantize,
                         line_shape=task == "quality" if line_shape is None else line_shape)
    held = set(_csv(holdout))
    train_ex, held_ex, report = [], [], {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_err,
                  disable=as_json, transient=True) as progress:
        step = progress.add_task("reading", total=None)
        if seed_sources is not None:
            if not seed_sources.exists():
                _fail(f"--seed-sources {seed_sources}: no such file")
            try:
                seeded = seed_examples(str(seed_sources), task, max_per_source=max_per_source, seed=params.seed,
                                     holdout=held, subdomains=subdomains, positive_buckets=set(_csv(positive_buckets)),
                                     min_chars=min_chars, decontam=_benchmarks(seed_sources) if exclude_benchmarks else None,
                                     stem_prose=StemProseRule() if stem_prose else None, zh_negatives=zh_negatives,
                                     views=short_views, exam=exam_views, windows=windows,
                                     progress=lambda name: progress.update(step, description=f"reading {name}"))
            except ValueError as e:
                _fail(str(e))
            train_ex, held_ex, report = seeded.train, seeded.heldout, seeded.report
        for path in labels or []:
            if not path.exists():
                _fail(f"--labels {path}: no such file")
            progress.update(step, description=f"reading {path}")
            rows = labelled_examples([str(path)])
            train_ex += [e for e in rows if e.source not in held]
            held_ex += [e for e in rows if e.source in held]
        if not train_ex:
            _fail("no training examples")
        progress.update(step, description=f"training fastText on {len(train_ex):,} documents")
        card = {"holdout": sorted(held), "seed_report": report}
        if task == "quality":
            from trivium.filters.quality_model import train_quality

            train_quality(train_ex, str(output), params, card=card)
        else:
            from trivium.mixtures.domain import train_domain

            train_domain(train_ex, str(output), params, card=card)
        evaluation = None
        if held_ex:
            progress.update(step, description=f"evaluating on {len(held_ex):,} held-out documents")
            evaluation = score_model(task, str(output), held_ex)
            if holdout_output:
                write_labelled(held_ex, str(holdout_output))
    if evaluation is not None:  # the held-out scores join the card
        from trivium.filters.fasttext_text import card_path

        info = read_card(str(output))
        info["heldout_eval"] = {k: evaluation[k] for k in ("n", "accuracy", "macro_f1", "labels", "confusion")}
        Path(card_path(str(output))).write_text(json.dumps(info, indent=1, sort_keys=True, ensure_ascii=False))
    info = read_card(str(output))
    if as_json:
        sys.stdout.write(json.dumps(info, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        return
    _out.print(f"wrote {output} ({info['model_bytes']:,} bytes, sha256 {info['model_sha256'][:12]}) "
               f"and its card {output}.json")
    _out.print("training labels: " + ", ".join(f"{k} {v:,}" for k, v in info["labels"].items()))
    if evaluation is not None:
        _print_report(evaluation)


def _benchmarks(seed_sources: Path):
    """The decontamination config of the test sets among the corpus's sources (None when it has none)."""
    from trivium.mixtures.default_models import BENCHMARKS
    from trivium.mixtures.seed import corpus_benchmarks, load_sources

    present = set(load_sources(str(seed_sources)))
    found = {k: v for k, v in BENCHMARKS.items() if v["source"] in present}
    return corpus_benchmarks(str(seed_sources), found) if found else None


def _train_defaults(seed_sources: Path | None, as_json: bool) -> None:
    from trivium.mixtures.default_models import DEFAULTS, build_default

    if seed_sources is None or not seed_sources.exists():
        _fail(f"--defaults needs --seed-sources sources.json of the corpus (got {seed_sources})")
    cards = {}
    for task in DEFAULTS:
        try:
            cards[task] = build_default(task, str(seed_sources), progress=None if as_json else _err.print)
        except ValueError as e:
            _fail(str(e))
    if as_json:
        sys.stdout.write(json.dumps(cards, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        return
    for task, card in cards.items():
        ev = card.get("heldout_eval", {})
        _out.print(f"{task}: {DEFAULTS[task].output} ({card['model_bytes']:,} bytes, sha256 {card['model_sha256'][:12]}); "
                   f"held out {', '.join(ev.get('holdout', []))}: macro-F1 {ev.get('macro_f1')}"
                   + (f", AUC {ev['auc']}" if "auc" in ev else ""))


@classifier_app.command("eval")
def evaluate(
    model: Path = typer.Option(..., "--model", "-m", help="model file written by `trivium classifier train`"),  # noqa: B008
    inputs: list[Path] = typer.Option(..., "--input", "-i", help="labelled JSONL(.gz)/Parquet: label + text|messages"),  # noqa: B008
    task: str | None = typer.Option(None, "--task", help="domain or quality (default: from the model's card)"),
    as_json: bool = typer.Option(False, "--json", help="print the report (accuracy, macro-F1, confusion) as JSON"),
) -> None:
    """Accuracy, macro-F1 and the confusion matrix of a model on labelled documents.

    Example: trivium classifier eval --model models/domain.bin --input labelled.jsonl.gz --json
    """
    from trivium.filters.fasttext_text import read_card
    from trivium.mixtures.default_models import evaluate as score_model
    from trivium.mixtures.seed import labelled_examples

    if not model.exists():
        _fail(f"--model {model}: no such file")
    for p in inputs:
        if not p.exists():
            _fail(f"--input {p}: no such file")
    task = task or read_card(str(model)).get("task") or "domain"
    examples = labelled_examples([str(p) for p in inputs])
    if not examples:
        _fail("no labelled rows (need a `label` column and `text` or `messages`)")
    report = score_model(task, str(model), examples)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    else:
        _print_report(report)
