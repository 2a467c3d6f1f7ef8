"""Domain classification into the curriculum buckets commonsense / stem / code / agentic, and `noise`
(boilerplate, spam, chat noise, navigation text) so that such documents are named and a recipe can
drop them instead of their being forced into a bucket.

One fastText model is trained over `bucket/subdomain` labels (e.g. `stem/math`,
`agentic/trajectory`); a bucket's score is the sum of its sub-domains' probabilities, so a
document of a sub-domain never seen in training still lands in the right bucket when its
neighbours do. Models trained on bucket labels alone (no `/`) work the same way. Conversations
are rendered with structural tokens (`trivium.filters.fasttext_text`), so agentic data is
recognised by its shape (tool schemas, tool calls, tool results, Thought/Action/Observation
traces), not only by its words.
"""

from __future__ import annotations

import numpy as np
from trivium.filters.fasttext_text import (
    Example,
    FastTextClassifier,
    TrainParams,
    agent_structure,
    classification_report,
    mentions_tool_calls,
    read_card,
    train_fasttext,
    write_card,
)

BUCKETS = ("commonsense", "stem", "code", "agentic", "noise")
AGENTIC, NOISE = "agentic", "noise"

# Sub-domain of each source of the shared test corpus; other sources take `subdomain` from their
# sources.json entry, else the bucket's name.
DEFAULT_SUBDOMAINS = {
    "enwiki": "encyclopedia",
    "zhwiki": "encyclopedia",
    "cmrc2018": "encyclopedia",
    "nltk_news": "news",
    "nltk_reviews": "reviews",
    "zh_novels": "literature",
    "zh_poetry": "literature",
    "zh_poetry_alt": "literature",
    "shakespeare": "literature",
    "gsm8k": "word_problems",
    "math_eval_en": "math",
    "stacks_latex": "math",
    "gaokao_stem": "science",
    "code_python": "python",
    "humaneval": "python",
    "mbpp": "python",
    "bfcl": "tool_use",
    "tau_airline": "trajectory",
    "react": "trajectory",
    "toolbench": "trajectory",
    "brown_learned": "prose",
    "nltk_web": "web_fragments",
    "nltk_chat": "chat",
    "web_boilerplate": "boilerplate",
    "web_noisy_en": "boilerplate",
}


def subdomain_of(source: str, meta: dict, entry: dict | None = None) -> str:
    """Sub-domain label of a seed document: per-document metadata first, then the source's."""
    subject = str(meta.get("subject", "")).lower()
    if subject:  # exam sources (GAOKAO): Math_I, Physics, Chemistry, Biology
        return "math" if subject.startswith("math") else "science"
    if meta.get("set") == "mmlu_stem":
        return "science"
    if source == "sms_spam":  # SMSSpamCollection: spam, or ham (personal chat)
        return "spam" if meta.get("label") == "spam" else "chat"
    entry = entry or {}
    return entry.get("subdomain") or DEFAULT_SUBDOMAINS.get(source) or entry.get("bucket", "other")


def bucket_of(label: str) -> str:
    return label.split("/", 1)[0]


class DomainModel:
    """`predict(texts, messages, tools) -> [(bucket, {bucket: score}, subdomain)]`; picklable, loads lazily."""

    def __init__(self, path: str, structure_weight: float = 0.5):
        self.path = path
        self.structure_weight = structure_weight
        self._clf = None

    def __getstate__(self):
        return {"path": self.path, "structure_weight": self.structure_weight, "_clf": None}

    @property
    def clf(self) -> FastTextClassifier:
        if self._clf is None:
            self._clf = FastTextClassifier(self.path)
        return self._clf

    @property
    def buckets(self) -> list[str]:
        return sorted({bucket_of(lab) for lab in self.clf.labels})

    def bucket_matrix(self, probs: np.ndarray) -> tuple[list[str], np.ndarray]:
        buckets = self.buckets
        agg = np.zeros((probs.shape[0], len(buckets)))
        for j, lab in enumerate(self.clf.labels):
            agg[:, buckets.index(bucket_of(lab))] += probs[:, j]
        return buckets, np.clip(agg, 0.0, 1.0)

    def predict(self, texts, messages=None, tools=None) -> list[tuple[str, dict[str, float], str]]:
        """(bucket, {bucket: score}, sub-domain) per document."""
        buckets, scores, winners, subs = self.predict_columns(texts, messages, tools)
        width = len(buckets)
        return [(w, dict(zip(buckets, scores[i * width : (i + 1) * width])), sub)
                for i, (w, sub) in enumerate(zip(winners, subs))]

    def predict_columns(self, texts, messages=None, tools=None) -> tuple[list[str], list[float], list[str], list[str]]:
        """`predict` as columns: the (sorted) buckets; every document's scores in that order, 4 decimals, one
        document after another (row-major); each document's bucket and its sub-domain."""
        n = len(texts)
        messages = messages or [None] * n
        tools = tools or [None] * n
        probs = self.clf.proba_docs(texts, messages, tools)
        buckets, agg = self.bucket_matrix(probs)
        if self.structure_weight > 0 and AGENTIC in buckets:
            # Structural evidence (tool schemas, tool calls, tool results, Thought/Action/Observation
            # traces) is mixed into the model's distribution: scores = (1-w) * model + w * one-hot(agentic).
            # Its absence from a plain text counts the other way: the agentic score is scaled by 1-w (and
            # the scores renormalised). Every agentic seed is a conversation, so for a text the model
            # has only words, and a short chat message or an ad reads like a user's turn. Texts under
            # 1% agentic are left as they are: scaling could not change their verdict.
            w, a = self.structure_weight, buckets.index(AGENTIC)
            damped = []
            for i, (t, m, tl) in enumerate(zip(texts, messages, tools)):
                if agent_structure(t, m, tl):
                    agg[i] *= 1 - w
                    agg[i, a] += w
                elif t is not None and agg[i, a] >= 0.01 and not mentions_tool_calls(t):
                    damped.append(i)
            if damped:
                rows = agg[damped]
                rows[:, a] *= 1 - w
                agg[damped] = rows / rows.sum(axis=1, keepdims=True)
        labels = self.clf.labels
        # best sub-domain inside the winning bucket; columns in descending label order, so a tie goes
        # to the larger label, as max((probability, label)) would have it
        order = sorted(range(len(labels)), key=labels.__getitem__, reverse=True)
        label_bucket = np.array([buckets.index(bucket_of(labels[j])) for j in order])
        winner = np.argmax(agg, axis=1)
        inside = np.where(label_bucket[None, :] == winner[:, None], probs[:, order], -np.inf)
        best = [labels[order[j]] for j in np.argmax(inside, axis=1).tolist()] if len(probs) else []
        winners = [buckets[b] for b in winner.tolist()]
        subs = [lab.split("/", 1)[1] if "/" in lab else w for lab, w in zip(best, winners)]
        return buckets, [round(v, 4) for v in agg.ravel().tolist()], winners, subs


def train_domain(
    examples: list[Example], output: str, params: TrainParams | None = None, *, card: dict | None = None
) -> dict:
    """Train the domain model on `examples` (labels `bucket` or `bucket/subdomain`), balanced per bucket."""
    params = params or TrainParams()
    balanced = balance_by_bucket(examples, params.seed)
    counts = train_fasttext(balanced, output, params)
    info = {
        "task": "domain",
        "labels": counts,
        "examples": len(examples),
        "sources": sorted({e.source for e in examples}),
        "params": params.__dict__,
        **(card or {}),
    }
    write_card(output, info)
    return info


def balance_by_bucket(examples: list[Example], seed: int) -> list[Example]:
    """Oversample each bucket to the size of the largest, spread in equal shares over its sub-domains
    (a sub-domain larger than its share is kept whole; nothing is dropped).

    Equal sub-domain shares keep a small sub-domain (STEM prose beside thousands of exam problems)
    from being outvoted by the format of a large one: the model learns what STEM is, not what
    one STEM source looks like.
    """
    import random

    groups: dict[str, dict[str, list[Example]]] = {}
    for e in examples:
        groups.setdefault(bucket_of(e.label), {}).setdefault(e.label, []).append(e)
    target = max(sum(len(g) for g in subs.values()) for subs in groups.values())
    rng = random.Random(seed)
    out: list[Example] = []
    for bucket in sorted(groups):
        subs = groups[bucket]
        share = -(-target // len(subs))  # ceil
        for label in sorted(subs):
            group = subs[label]
            out += group + [group[rng.randrange(len(group))] for _ in range(share - len(group))]
    return out


def evaluate_domain(model_path: str, examples: list[Example], structure_weight: float = 0.5) -> dict:
    """Bucket-level report (accuracy, macro-F1, confusion); sub-domain report too when gold labels have one."""
    model = DomainModel(model_path, structure_weight)
    preds = model.predict([e.text for e in examples], [e.messages for e in examples], [e.tools for e in examples])
    gold_b = [bucket_of(e.label) for e in examples]
    pred_b = [p[0] for p in preds]
    labels = sorted(set(gold_b) | set(pred_b), key=lambda b: (BUCKETS.index(b) if b in BUCKETS else 99, b))
    report = {"task": "domain", "model": model_path, "structure_weight": structure_weight,
              **classification_report(gold_b, pred_b, labels)}
    by_source: dict[str, dict] = {}
    for e, p in zip(examples, pred_b):
        s = by_source.setdefault(e.source or "?", {"n": 0, "correct": 0})
        s["n"] += 1
        s["correct"] += int(bucket_of(e.label) == p)
    report["per_source"] = {k: {**v, "accuracy": round(v["correct"] / v["n"], 4)} for k, v in sorted(by_source.items())}
    if any("/" in e.label for e in examples):
        gold_s = [e.label for e in examples]
        pred_s = [f"{b}/{s}" for b, _, s in preds]
        report["subdomain"] = classification_report(gold_s, pred_s)
    report["card"] = {k: v for k, v in read_card(model_path).items() if k in ("task", "sources", "holdout", "labels")}
    return report
