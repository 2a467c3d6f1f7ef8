"""Model-based quality: a fastText classifier of `hq` (encyclopedic, textbook-like, curated STEM)
against `lq` (boilerplate web pages, spam, chat noise); `quality_score` = P(hq) in [0, 1].

Buckets differ in what a prose-trained model makes of them (code and tool calls look nothing like
an encyclopedia), so the keep threshold is per bucket. The bucket comes from the domain model
when one is given, else from structure alone: conversations are `agentic`, code/markup is `code`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, Field
from trivium.filters.fasttext_text import (
    Example,
    FastTextClassifier,
    TrainParams,
    balance,
    classification_report,
    train_fasttext,
    write_card,
)

POSITIVE, NEGATIVE = "hq", "lq"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class QualityConfig(BaseModel):
    model: str | None = Field(
        None, description="fastText quality model (`trivium classifier train --task quality`); unset = the shipped default"
    )
    domain_model: str | None = Field(
        None, description="domain model that picks the bucket threshold; default: the domain stage's (else the shipped) model"
    )
    thresholds: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"commonsense": 0.5, "stem": 0.3, "code": 0.0, "agentic": 0.0},
        description="minimum quality_score per bucket",
    )
    default_threshold: float = Field(0.5, ge=0, le=1, description="threshold for documents of no known bucket")
    code_symbol_ratio: float = Field(0.05, ge=0, le=1, description="what marks code/markup without a domain model")


def structural_bucket(text: str | None, messages: str | None = None, code_symbol_ratio: float = 0.05) -> str | None:
    """The bucket a document's shape alone tells: agentic for conversations, code for code/markup."""
    from trivium.filters.code_shape import looks_like_code

    if text is None and messages:
        return "agentic"
    if text and looks_like_code(text, code_symbol_ratio):
        return "code"
    return None


def quality_verdict(score: float | None, bucket: str | None, config: QualityConfig) -> str | None:
    if score is None:
        return None
    threshold = config.thresholds.get(bucket, config.default_threshold) if bucket else config.default_threshold
    return f"low_quality:{bucket or 'other'}" if score < threshold else None


class QualityModel:
    """`score(texts, messages, tools) -> [P(hq)]`; picklable, loads lazily."""

    def __init__(self, path: str):
        self.path = path
        self._clf = None

    def __getstate__(self):
        return {"path": self.path, "_clf": None}

    @property
    def clf(self) -> FastTextClassifier:
        if self._clf is None:
            self._clf = FastTextClassifier(self.path)
            if POSITIVE not in self._clf.index:
                raise ValueError(f"{self.path} is not a quality model: its labels are {self._clf.labels}")
        return self._clf

    def score(self, texts, messages=None, tools=None) -> list[float]:
        probs = self.clf.proba_docs(texts, messages, tools)
        return [round(float(p), 4) for p in probs[:, self.clf.index[POSITIVE]]]


def train_quality(
    examples: list[Example], output: str, params: TrainParams | None = None, *, card: dict | None = None
) -> dict:
    params = params or TrainParams(line_shape=True)
    bad = sorted({e.label for e in examples} - {POSITIVE, NEGATIVE})
    if bad:
        raise ValueError(f"quality labels must be {POSITIVE!r} or {NEGATIVE!r}, found {bad}")
    counts = train_fasttext(balance(examples, params.seed), output, params)
    info = {"task": "quality", "labels": counts, "examples": len(examples),
            "sources": sorted({e.source for e in examples}), "params": params.__dict__, **(card or {})}
    write_card(output, info)
    return info


def evaluate_quality(model_path: str, examples: list[Example], threshold: float = 0.5) -> dict:
    """Accuracy / macro-F1 at `threshold`, ROC AUC, and the mean score of each gold label."""
    import numpy as np

    scores = QualityModel(model_path).score([e.text for e in examples], [e.messages for e in examples],
                                            [e.tools for e in examples])
    gold = [e.label for e in examples]
    pred = [POSITIVE if s >= threshold else NEGATIVE for s in scores]
    report = {"task": "quality", "model": model_path, "threshold": threshold,
              **classification_report(gold, pred, [POSITIVE, NEGATIVE])}
    s, g = np.array(scores), np.array(gold)
    auc = roc_auc(s[g == POSITIVE], s[g == NEGATIVE])
    if auc is not None:
        report["auc"] = auc
    report["mean_score"] = {lab: round(float(s[g == lab].mean()), 4) for lab in sorted(set(gold))}
    # Chinese apart: a model whose negatives are all English scores every Chinese document high,
    # which a pooled AUC hides.
    zh = np.array([mostly_han(e.text) for e in examples], dtype=bool)
    report["by_language"] = {}
    for lang, mask in (("zh", zh), ("other", ~zh)):
        pos, neg = s[mask & (g == POSITIVE)], s[mask & (g == NEGATIVE)]
        if len(pos) or len(neg):
            report["by_language"][lang] = {
                "hq": len(pos), "lq": len(neg), "auc": roc_auc(pos, neg),
                "mean_hq": round(float(pos.mean()), 4) if len(pos) else None,
                "mean_lq": round(float(neg.mean()), 4) if len(neg) else None,
                "accuracy": round(float(((s[mask] >= threshold) == (g[mask] == POSITIVE)).mean()), 4)}
    by_source: dict[str, list[float]] = {}
    for e, v in zip(examples, scores):
        by_source.setdefault(e.source or "?", []).append(v)
    report["per_source_mean"] = {k: round(float(np.mean(v)), 4) for k, v in sorted(by_source.items())}
    return report


def roc_auc(pos, neg) -> float | None:
    """P(score of a random hq > score of a random lq), ties counting half; None without both."""
    import numpy as np

    if not len(pos) or not len(neg):
        return None
    allv = np.concatenate([pos, neg])
    ranks = np.argsort(np.argsort(allv, kind="stable"), kind="stable") + 1.0
    for v in np.unique(allv):  # average ranks of ties
        m = allv == v
        ranks[m] = ranks[m].mean()
    return round(float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))), 4)


def mostly_han(text: str | None) -> bool:
    """True when Han characters make up at least 30% of the non-space characters (a Chinese document)."""
    sample = "".join((text or "")[:2000].split())
    return bool(sample) and len(_HAN.findall(sample)) >= 0.3 * len(sample)
