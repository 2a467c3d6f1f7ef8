"""The default domain and quality models that ship with the package, and the one recipe that builds them.

`trivium classifier train --defaults --seed-sources CORPUS/sources.json` (or `make models`)
rebuilds both from the corpus, byte-identically: seeded sampling, one fastText thread in a
fresh process, quantized (fastText product quantization) to stay under 2 MB. Each model's card
(MODEL.json) records the seeds per source (with what decontamination removed and what the
STEM-prose rule relabelled), the held-out scores of a twin trained without whole sources, and
the model's sha256.

Benchmark test items (GSM8K test, HumanEval, MBPP, the math evaluation sets) never train these
models: the seed builder removes whatever the decontamination index flags for them. Those
sources then serve as held-out test sources for the card's scores.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace

from trivium.filters.fasttext_text import Example, TrainParams, read_card, write_card

_HERE = os.path.dirname(os.path.abspath(__file__))
DOMAIN_MODEL = os.path.join(_HERE, "models", "domain.ftz")
QUALITY_MODEL = os.path.join(os.path.dirname(_HERE), "filters", "models", "quality.ftz")

# Test sets that must not train the shipped models, as sources of the corpus (`corpus_benchmarks`).
BENCHMARKS = {
    "gsm8k_test": {"source": "gsm8k", "where": {"meta.split": "test"}, "split_on": "\n\n"},
    "humaneval": {"source": "humaneval"},
    "mbpp": {"source": "mbpp"},
    "math_eval_en": {"source": "math_eval_en"},
}
# Whole test-set sources (every document flagged): never trained, so the card scores on them.
TEST_SET_SOURCES = ("humaneval", "math_eval_en", "mbpp")


@dataclass(frozen=True)
class DefaultModel:
    task: str
    output: str
    params: TrainParams
    holdout: tuple[str, ...]  # whole sources the card's twin is trained without
    max_per_source: int = 2000
    stem_prose: bool = False
    zh_negatives: float = 0.0
    views: bool = False  # short views of training documents (`seed.short_views`)
    exam_views: bool = False  # multiple-choice views of English STEM training documents (`exam_views`)
    windows: bool = False  # windows of the long documents of small sources (`seed.source_windows`)


DEFAULTS = {
    "domain": DefaultModel(
        "domain", DOMAIN_MODEL, TrainParams(quantize=True, min_count=3),
        holdout=("brown_learned", "gaokao_stem", "nltk_news", "react", "sms_spam"), stem_prose=True,
        exam_views=True, windows=True),
    "quality": DefaultModel(
        "quality", QUALITY_MODEL, TrainParams(quantize=True, min_count=3, line_shape=True),
        holdout=("cmrc2018", "gaokao_stem", "nltk_news", "web_boilerplate"), zh_negatives=0.5),
}


def default_model(task: str) -> str | None:
    """Path of the shipped model for `task` ("domain" or "quality"), or None when this installation lacks it."""
    path = DEFAULTS[task].output
    return path if os.path.exists(path) else None


def seeds(spec: DefaultModel, sources_json: str, holdout=(), progress=None, max_per_source: int | None = None):
    from trivium.mixtures.seed import corpus_benchmarks, seed_examples
    from trivium.mixtures.stem_prose import StemProseRule

    return seed_examples(
        sources_json, spec.task, max_per_source=max_per_source or spec.max_per_source, seed=spec.params.seed,
        holdout=set(holdout), decontam=corpus_benchmarks(sources_json, BENCHMARKS),
        stem_prose=StemProseRule() if spec.stem_prose else None, zh_negatives=spec.zh_negatives, views=spec.views,
        exam=spec.exam_views, windows=spec.windows, progress=progress)


def test_set_examples(spec: DefaultModel, sources_json: str) -> list[Example]:
    """The test-set sources' documents, labelled like seeds but never trained on (held out)."""
    from trivium.mixtures.seed import seed_examples

    return seed_examples(sources_json, spec.task, max_per_source=spec.max_per_source, seed=spec.params.seed,
                         holdout=set(TEST_SET_SOURCES), only=set(TEST_SET_SOURCES)).heldout


def train(spec: DefaultModel, examples: list[Example], output: str, card: dict) -> dict:
    if spec.task == "quality":
        from trivium.filters.quality_model import train_quality

        return train_quality(examples, output, spec.params, card=card)
    from trivium.mixtures.domain import train_domain

    return train_domain(examples, output, spec.params, card=card)


def evaluate(task: str, model: str, examples: list[Example]) -> dict:
    if task == "quality":
        from trivium.filters.quality_model import evaluate_quality

        return evaluate_quality(model, examples)
    from trivium.mixtures.domain import evaluate_domain

    return evaluate_domain(model, examples)


def build_default(task: str, sources_json: str, output: str | None = None, *, max_per_source: int | None = None,
                  twin: bool = True, progress=None) -> dict:
    """Build the shipped `task` model (to `output`, default: its place in the package); returns its card.

    `twin` first trains the same recipe without the spec's held-out sources and scores it on them
    plus the test-set sources; `max_per_source` makes a reduced build (tests).
    """
    spec = DEFAULTS[task]
    if max_per_source:
        spec = replace(spec, max_per_source=max_per_source)
    output = output or spec.output
    say = progress or (lambda _msg: None)
    card = {"built_by": f"trivium classifier train --defaults (task {task})", "benchmarks_excluded": sorted(BENCHMARKS),
            "recipe": {"max_per_source": spec.max_per_source, "stem_prose": spec.stem_prose,
                       "zh_negatives": spec.zh_negatives, **({"views": True} if spec.views else {}),
                       **({"exam_views": True} if spec.exam_views else {}),
                       **({"windows": True} if spec.windows else {})}}
    tests = test_set_examples(spec, sources_json)
    if twin:
        say(f"{task}: twin without {', '.join(spec.holdout)}")
        data = seeds(spec, sources_json, spec.holdout, progress)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{task}.ftz")
            train(spec, data.train, path, {})
            report = evaluate(task, path, data.heldout + tests)
        card["heldout_eval"] = {"holdout": sorted(spec.holdout) + list(TEST_SET_SOURCES),
                                **{k: report[k] for k in _CARD_KEYS if k in report}}
    say(f"{task}: final model")
    data = seeds(spec, sources_json, (), progress)
    card["seed_report"] = data.report
    train(spec, data.train, output, card)
    report = evaluate(task, output, tests)
    info = read_card(output)
    info["test_sets_eval"] = {k: report[k] for k in _CARD_KEYS if k in report}
    write_card(output, {k: v for k, v in info.items() if k not in ("model_sha256", "model_bytes")})
    return read_card(output)


_CARD_KEYS = ("n", "accuracy", "macro_f1", "labels", "per_label", "confusion", "per_source", "per_source_mean",
              "auc", "by_language")
