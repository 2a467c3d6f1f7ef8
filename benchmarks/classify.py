"""Classification on sources never seen: the domain model's held-out confusion matrix, per-bucket F1
and per-source accuracy with whole sources held out in turn (brown_learned and STEM sources among
them); the quality model's held-out scores, Chinese apart; documents/s per core for language ID +
quality + domain together with the shipped models, and their sizes; `--rebuild` rebuilds the shipped
models and compares their sha256.

Held-out folds (each a twin of the shipped recipe, `trivium.mixtures.default_models`, trained
without the fold's sources): every fold also scores the test-set sources (HumanEval, MBPP, the
math evaluation sets), which no model ever trains on; they are pooled once. Gold labels are the
source's bucket, except that documents of commonsense sources take the STEM-prose rule's label
(documents it leaves out are not scored); nltk_news' own sections (ABC rural / ABC science) give an
independent check of that rule.

    .venv/bin/python benchmarks/classify.py [--folds 3] [--max-per-source 2000] [--train-seeds 1] [--per-source 400] [--rebuild]
        [--param epoch=10 --param lr=0.1] [--short-views] [--[no-]exam-views] [--[no-]windows] [--errors 20]

`--train-seeds N` trains every fold N times (the same seeds, other fastText shuffles and
initialisations) and prints the spread: one training run moves a fold's macro-F1 by several
points, so a seed change is only measured when it beats that spread. `--param NAME=VALUE` (a
`TrainParams` field), `--short-views`, `--[no-]exam-views` and `--[no-]windows` (the shipped recipe
has exam views and windows)
measure a recipe variant through this same code path (the shipped recipe is unchanged);
`--errors N` lists the N largest (gold, predicted, source) cells of the pooled errors.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
SOURCES = str(CORPUS / "sources.json")

# Whole sources held out in turn: STEM prose and a STEM exam/LaTeX source in each, one per other bucket.
DOMAIN_FOLDS = (
    ("brown_learned", "nltk_news", "react", "sms_spam", "web_boilerplate"),
    ("gaokao_stem", "cmrc2018", "tau_airline", "nltk_web"),
    ("stacks_latex", "zhwiki", "toolbench", "nltk_chat"),
)


def parse_params(items) -> dict:
    """`["epoch=10", "line_shape=true"]` -> TrainParams overrides, typed like the fields' defaults."""
    from dataclasses import fields

    from trivium.filters.fasttext_text import TrainParams

    types = {f.name: type(f.default) for f in fields(TrainParams)}
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or name not in types:
            raise SystemExit(f"--param NAME=VALUE with NAME one of {', '.join(sorted(types))} (got {item!r})")
        kind = types[name]
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise SystemExit(f"--param {name}: true or false (got {value!r})")
            out[name] = value.lower() in ("true", "1")
        else:
            out[name] = kind(value)
    return out


def domain_heldout(folds, max_per_source: int, train_seeds: int = 1, params: dict | None = None,
                   views: bool = False, errors: int = 0, exam_views: bool | None = None,
                   windows: bool | None = None) -> dict:
    from collections import Counter
    from dataclasses import replace

    from trivium.filters.fasttext_text import classification_report, format_confusion
    from trivium.mixtures.default_models import DEFAULTS, TEST_SET_SOURCES, seeds, test_set_examples, train
    from trivium.mixtures.domain import BUCKETS, DomainModel, bucket_of

    spec = replace(DEFAULTS["domain"], max_per_source=max_per_source, views=views or DEFAULTS["domain"].views)
    if exam_views is not None and exam_views != spec.exam_views:
        spec = replace(spec, exam_views=exam_views)
        print(f"domain recipe variant: exam views {'on' if exam_views else 'off'}")
    if windows is not None and windows != spec.windows:
        spec = replace(spec, windows=windows)
        print(f"domain recipe variant: windows of small sources {'on' if windows else 'off'}")
    if params:
        spec = replace(spec, params=replace(spec.params, **params))
    if params or views:
        print(f"domain recipe variant: {params or {}}{' + short views' if views else ''}")
    tests = test_set_examples(spec, SOURCES)
    gold, source_of, ids = [], [], []
    preds_by_seed: dict[int, list[str]] = {s: [] for s in range(train_seeds)}
    for k, fold in enumerate(folds):
        t = time.time()
        data = seeds(spec, SOURCES, fold)
        scored = data.heldout + (tests if k == 0 else [])
        fold_gold = [bucket_of(e.label) for e in scored]
        for s in range(train_seeds):  # the same seeds, trained with other shuffles and initialisations
            trained = spec if s == 0 else replace(spec, params=replace(spec.params, seed=spec.params.seed + s))
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "domain.ftz")
                train(trained, data.train, path, {})
                preds = DomainModel(path).predict([e.text for e in scored], [e.messages for e in scored],
                                                  [e.tools for e in scored])
            fold_pred = [p[0] for p in preds]
            r = classification_report(fold_gold, fold_pred, [b for b in BUCKETS if b in fold_gold or b in fold_pred])
            print(f"fold {k + 1}: held out {', '.join(fold)}" + (f" + {', '.join(TEST_SET_SOURCES)}" if k == 0 else "")
                  + (f" (training seed +{s})" if train_seeds > 1 else "")
                  + f": {r['n']:,} documents, macro-F1 {r['macro_f1']:.4f} ({time.time() - t:.0f} s)")
            preds_by_seed[s] += fold_pred
            if k == 0 and s == 0:
                news_check(data.heldout, dict(zip([e.id for e in scored], fold_pred)))
        gold += fold_gold
        source_of += [e.source for e in scored]
        ids += [e.id for e in scored]
    if train_seeds > 1:
        import statistics

        runs = [classification_report(gold, preds_by_seed[s], list(BUCKETS)) for s in range(train_seeds)]
        for name, values in (("macro-F1", [r["macro_f1"] for r in runs]),
                             ("STEM recall", [r["per_label"]["stem"]["recall"] for r in runs])):
            print(f"domain over {train_seeds} training seeds: {name} " + " ".join(f"{v:.4f}" for v in values)
                  + f"; mean {statistics.mean(values):.4f}, sd {statistics.stdev(values):.4f}")
        print("(the report below is the first training seed's)")
    pred = preds_by_seed[0]
    report = classification_report(gold, pred, list(BUCKETS))
    print(f"\ndomain, pooled over {len(folds)} folds ({report['n']:,} held-out documents): "
          f"macro-F1 {report['macro_f1']:.4f}, accuracy {report['accuracy']:.4f}")
    print(format_confusion(report))
    for b in BUCKETS:
        m = report["per_label"][b]
        print(f"  {b:12s} precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}  n {m['support']:,}")
    per_source: dict[str, list[int]] = {}
    for g, p, s in zip(gold, pred, source_of):
        per_source.setdefault(s, [0, 0])
        per_source[s][0] += 1
        per_source[s][1] += int(g == p)
    print("per-source accuracy (held out): " + ", ".join(f"{s} {c / n:.3f} ({n})" for s, (n, c) in sorted(per_source.items())))
    if errors:
        cells = Counter((g, p, s) for g, p, s in zip(gold, pred, source_of) if g != p)
        print(f"largest error cells (gold -> predicted, held-out source), of {sum(cells.values()):,} errors: "
              + ", ".join(f"{g} -> {p} {s} {n}" for (g, p, s), n in cells.most_common(errors)))
    goal = report["macro_f1"] >= 0.95 and report["per_label"]["stem"]["recall"] >= 0.90
    print(f"goal macro-F1 >= 0.95 and STEM recall >= 0.90: {'met' if goal else 'NOT met'}")
    return {"macro_f1": report["macro_f1"], "per_label": report["per_label"], "confusion": report["confusion"],
            "per_source": {s: round(c / n, 4) for s, (n, c) in per_source.items()}}


def news_check(heldout, predicted: dict) -> None:
    """The STEM-prose rule and the model against ABC's own sections (science vs rural) on held-out nltk_news."""
    from trivium.filters.fasttext_text import read_records
    from trivium.mixtures.domain import bucket_of
    from trivium.mixtures.seed import load_sources

    entry = load_sources(SOURCES).get("nltk_news")
    if not entry:
        return
    section = {r["id"]: r["meta"].get("path", "").rsplit("/", 1)[-1].split(".")[0]
               for f in entry["files"] for r in read_records(str(CORPUS / "nltk_news" / f))}
    rows = [(section.get(e.id), bucket_of(e.label), predicted.get(e.id)) for e in heldout if e.source == "nltk_news"]
    for sec in ("science", "rural"):
        mine = [r for r in rows if r[0] == sec]
        if mine:
            print(f"  nltk_news ABC {sec}: {len(mine)} documents, rule labels STEM "
                  f"{sum(r[1] == 'stem' for r in mine) / len(mine):.3f}, model predicts STEM "
                  f"{sum(r[2] == 'stem' for r in mine) / len(mine):.3f}")


def quality_heldout(max_per_source: int) -> None:
    from dataclasses import replace

    from trivium.mixtures.default_models import DEFAULTS, seeds, test_set_examples, train
    from trivium.filters.quality_model import evaluate_quality

    spec = replace(DEFAULTS["quality"], max_per_source=max_per_source)
    data = seeds(spec, SOURCES, spec.holdout)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "quality.ftz")
        train(spec, data.train, path, {})
        r = evaluate_quality(path, data.heldout + test_set_examples(spec, SOURCES))
    print(f"\nquality, held out {', '.join(spec.holdout)} + test sets: AUC {r.get('auc')}, macro-F1 {r['macro_f1']}")
    for lang, m in r["by_language"].items():
        print(f"  {lang:6s} hq {m['hq']:,} lq {m['lq']:,}  AUC {m['auc']}  mean hq {m['mean_hq']}  mean lq {m['mean_lq']}  "
              f"accuracy@0.5 {m['accuracy']}")
    print("  mean quality_score per held-out source: " + ", ".join(f"{k} {v:.3f}" for k, v in r["per_source_mean"].items()))


def rebuild_check() -> None:
    from trivium.filters.fasttext_text import file_sha256
    from trivium.mixtures.default_models import DEFAULTS, build_default

    with tempfile.TemporaryDirectory() as tmp:
        for task, spec in DEFAULTS.items():
            t = time.time()
            card = build_default(task, SOURCES, os.path.join(tmp, os.path.basename(spec.output)))
            same = card["model_sha256"] == file_sha256(spec.output)
            print(f"rebuild {task}: sha256 {card['model_sha256'][:16]} vs shipped {file_sha256(spec.output)[:16]}: "
                  f"{'byte-identical' if same else 'DIFFERENT'} ({time.time() - t:.0f} s)")


def sample(per_source: int) -> list[dict]:
    from trivium.filters.fasttext_text import as_json_str, read_records
    from trivium.mixtures.seed import load_sources

    rows = []
    for name, entry in sorted(load_sources(str(CORPUS / "sources.json")).items()):
        if entry.get("format") not in ("text", "messages"):
            continue
        got = 0
        for f in entry["files"]:
            for r in read_records(str(CORPUS / name / f)):
                rows.append({"text": r.get("text"), "messages": as_json_str(r.get("messages")),
                             "tools": as_json_str(r.get("tools"))})
                got += 1
                if got >= per_source:
                    break
            if got >= per_source:
                break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=len(DOMAIN_FOLDS), help="domain held-out folds to run (0 = none)")
    parser.add_argument("--max-per-source", type=int, default=2000, help="seeds per source of the held-out twins")
    parser.add_argument("--train-seeds", type=int, default=1,
                        help="train each fold's twin this many times (other shuffle and initialisation, same seeds): "
                             "the spread of macro-F1 that training randomness alone gives")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="a domain TrainParams field for the held-out twins (repeatable), e.g. epoch=10")
    parser.add_argument("--short-views", action="store_true", help="held-out twins with the short views of the seeds")
    parser.add_argument("--exam-views", action=argparse.BooleanOptionalAction, default=None,
                        help="held-out twins with (or without) the exam views of the seeds (default: the recipe's)")
    parser.add_argument("--windows", action=argparse.BooleanOptionalAction, default=None,
                        help="held-out twins with (or without) windows of small sources' long documents "
                             "(default: the recipe's)")
    parser.add_argument("--errors", type=int, default=0, help="list the N largest pooled error cells by source")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality model's held-out fold")
    parser.add_argument("--per-source", type=int, default=400, help="throughput sample: documents per source")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the shipped models and compare sha256 (minutes)")
    args = parser.parse_args()

    from trivium.filters.langid import LangIdConfig, LangIdJudge, resolve_lid_model
    from trivium.filters.quality_model import QualityModel
    from trivium.mixtures.default_models import default_model
    from trivium.mixtures.domain import DomainModel

    results = {}
    if args.folds:
        results["domain_heldout"] = domain_heldout(DOMAIN_FOLDS[: args.folds], args.max_per_source, args.train_seeds,
                                                   parse_params(args.param), args.short_views, args.errors,
                                                   args.exam_views, args.windows)
    if not args.no_quality:
        quality_heldout(args.max_per_source)
    if args.rebuild:
        rebuild_check()
    domain_path, quality_path = default_model("domain"), default_model("quality")
    rows = sample(args.per_source)
    n = len(rows)
    mb = sum(len((r["text"] or r["messages"] or "").encode()) + len((r["tools"] or "").encode()) for r in rows) / 1e6
    lid, quality, domain = LangIdJudge(LangIdConfig()), QualityModel(quality_path), DomainModel(domain_path)
    # warm up: load the three models once, as a reused Spark worker has them
    lid.judge(["warm up"], [None])
    quality.score(["warm up"])
    domain.predict(["warm up"])
    timings = {"langid": 0.0, "quality": 0.0, "domain": 0.0}
    for i in range(0, n, args.batch):
        chunk = rows[i : i + args.batch]
        texts = [r["text"] for r in chunk]
        msgs = [r["messages"] for r in chunk]
        tools = [r["tools"] for r in chunk]
        t0 = time.perf_counter()
        lid.judge(texts, msgs)
        t1 = time.perf_counter()
        quality.score(texts, msgs, tools)
        t2 = time.perf_counter()
        domain.predict(texts, msgs, tools)
        t3 = time.perf_counter()
        timings["langid"] += t1 - t0
        timings["quality"] += t2 - t1
        timings["domain"] += t3 - t2
    total = sum(timings.values())
    print(f"\nthroughput with the shipped models; sample: {n:,} documents, {mb:.1f} MB, {args.per_source} per source")
    for k, v in timings.items():
        print(f"{k:8s} {n / v:10,.0f} docs/s per core  {mb / v:6.2f} MB/s  ({v:.2f} s)")
    print(f"{'together':8s} {n / total:10,.0f} docs/s per core  {mb / total:6.2f} MB/s  ({total:.2f} s)")
    sizes = {"lid.176.ftz (language ID)": resolve_lid_model(None), "quality model": quality_path,
             "domain model": domain_path}
    for label, path in sizes.items():
        print(f"model file {label}: {os.path.getsize(path) / 1e6:.2f} MB")
    print(json.dumps({"docs": n, "mb": round(mb, 2), "docs_per_s_per_core": round(n / total, 1),
                      **{f"{k}_docs_per_s": round(n / v, 1) for k, v in timings.items()},
                      "model_bytes": {k: os.path.getsize(p) for k, p in sizes.items()},
                      **({"domain_heldout_macro_f1": results["domain_heldout"]["macro_f1"]} if results else {})}))


if __name__ == "__main__":
    main()
