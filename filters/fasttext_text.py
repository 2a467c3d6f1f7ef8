"""What the trained fastText classifiers (quality, domain) read: one line of tokens per document, and
the train / predict / evaluate plumbing they share.

fastText splits on spaces only, so the text is tokenised here: lower-cased words, single CJK
characters (word bigrams then give character bigrams), digit runs as `__num__`, punctuation as
its own token, line starts and indentation as `__nl__` / `__indent__` (code and poems have
shapes prose has not). Conversations (OpenAI `messages`/`tools`) are rendered with structural
tokens first — `__conv__`, `__role_<role>__`, `__has_tools__`, `__has_tool_calls__`,
`__tool_call__ <name> <argument keys>`, `__role_tool__` — and plain text traces get the same
`__thought__` / `__action__` / `__observation__` markers that structured trajectories get, so
an agent trace is recognised by its structure, whichever way it is stored.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_TOKEN = re.compile(rf"[{_CJK}]|\d+|[^\W\d_{_CJK}]+|[^\w\s]", re.UNICODE)
# Agent-trace line markers (ReAct and its relatives), with their structural token.
_MARKERS = re.compile(
    r"^[ \t>*#]*(thought|action input|action|observation|final answer|tool call|tool result)\s*(?:\d+\s*)?:",
    re.IGNORECASE | re.MULTILINE,
)
_MARKER_TOKEN = {
    "thought": "__thought__",
    "action": "__action__",
    "action input": "__action__",
    "tool call": "__action__",
    "observation": "__observation__",
    "tool result": "__observation__",
    "final answer": "__final_answer__",
}
_LINE = re.compile(r"\n([ \t]*)")
_LEN_TOKENS = ("__len0__", "__len1__", "__len2__", "__len3__")  # <30, <60, <90, >=90 characters
_TERMINAL = set(".!?;:\"'’”)]}。！？；：」』）…")


def text_tokens(text: str, limit: int, shape: bool = False) -> list[str]:
    """At most `limit` tokens of `text` (its prefix), with structure tokens at line starts.

    `shape` adds each line's length class and a missing-terminal-punctuation token (what tells
    navigation menus and link lists from prose: the quality model uses it).
    """
    out: list[str] = []
    # Walk line by line so line shape (newline, indentation, trace markers) becomes tokens:
    # split() alternates the indentation before a line and the line itself.
    for pos, chunk in enumerate(_LINE.split("\n" + text[: limit * 8])[1:]):
        if pos % 2 == 0:
            out.append("__indent__" if len(chunk) >= 2 else "__nl__")
        else:
            # line shape, as FineWeb/C4 line rules see it: length class and terminal punctuation
            if shape:
                stripped = chunk.rstrip()
                out.append(_LEN_TOKENS[min(len(stripped) // 30, 3)])
                if stripped and stripped[-1] not in _TERMINAL:
                    out.append("__noend__")
            m = _MARKERS.match(chunk)
            if m:
                out.append(_MARKER_TOKEN[m.group(1).lower()])
            for tok in _TOKEN.findall(chunk.lower()):
                out.append("__num__" if tok[0].isdigit() else tok)
        if len(out) >= limit:
            break
    return out[:limit]


def _json(value: str | None):
    if not value:
        return None
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return None


def conversation_tokens(messages: str | None, tools: str | None, limit: int, shape: bool = False) -> list[str]:
    """The conversation's structure first (roles, tool schemas, tool calls, results), then its words.

    Structure is spelled out for every message before any content, so a long trajectory about,
    say, a film stays an agent trajectory rather than drowning in film words.
    """
    msgs = _json(messages)
    msgs = [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []
    tool_list = _json(tools)
    head = ["__conv__"]
    if isinstance(tool_list, list) and tool_list:
        head.append("__has_tools__")
        for t in tool_list[:8]:
            fn = t.get("function", t) if isinstance(t, dict) else {}
            head += ["__tool_def__"] + _TOKEN.findall(str(fn.get("name", "")).lower())
    contents: list[str] = []
    for m in msgs[:64]:
        role = str(m.get("role", "unknown"))
        head.append(f"__role_{role}__")
        if role in ("tool", "function"):
            head.append("__observation__")
        calls = m.get("tool_calls") or ([m["function_call"]] if m.get("function_call") else [])
        for call in calls if isinstance(calls, list) else []:
            fn = call.get("function", call) if isinstance(call, dict) else {}
            head += ["__has_tool_calls__", "__action__", "__tool_call__"]
            head += _TOKEN.findall(str(fn.get("name", "")).lower())
            args = _json(fn.get("arguments")) if isinstance(fn.get("arguments"), str) else fn.get("arguments")
            if isinstance(args, dict):
                head += [w for k in list(args)[:6] for w in _TOKEN.findall(str(k).lower())]
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(c.get("text", "") for c in content if isinstance(c, dict))
        contents.append(content if isinstance(content, str) else "")
    head = head[: limit // 2]
    budget = max(8, (limit - len(head)) // max(1, len(contents)))
    body = [t for c in contents if c for t in text_tokens(c, budget, shape)]
    return (head + body)[:limit]


def agent_structure(text: str | None, messages: str | None = None, tools: str | None = None) -> bool:
    """True for the shapes only agent data has: a conversation with tool schemas, tool calls or tool
    results, or a text trace with at least two kinds of Thought / Action / Observation lines."""
    if text is None and messages:
        if _json(tools):
            return True
        msgs = _json(messages)
        for m in msgs if isinstance(msgs, list) else []:
            if isinstance(m, dict) and (m.get("tool_calls") or m.get("function_call") or m.get("role") in ("tool", "function")):
                return True
        return False
    head = (text or "")[:20000]
    if head.count(":") < 2:  # every marker ends in its own ":", and two kinds are needed: most texts stop here
        return False
    kinds = {_MARKER_TOKEN[k.lower()] for k in _MARKERS.findall(head)}
    return len(kinds & {"__thought__", "__action__", "__observation__"}) >= 2


# How tool calls look once a trajectory is flattened to text: chat-template tags and OpenAI JSON keys.
TOOL_CALL_SYNTAX = ("<tool_call>", "<|python_tag|>", "[TOOL_CALLS]", "<function=", '"tool_calls"', '"function_call"',
                    '"arguments"', "<|tool_call", "<tool_response>")


def mentions_tool_calls(text: str | None) -> bool:
    """True when a text holds tool-call syntax (`TOOL_CALL_SYNTAX`): weaker than `agent_structure` (API
    documentation and code mention these too), but enough that a text may still be an agent's."""
    head = (text or "")[:20000]
    return any(marker in head for marker in TOOL_CALL_SYNTAX)


def render(
    text: str | None, messages: str | None = None, tools: str | None = None, limit: int = 256, shape: bool = False
) -> str:
    """One fastText input line for a document (text, or a conversation when text is null)."""
    if text is None and messages:
        return " ".join(conversation_tokens(messages, tools, limit, shape))
    return " ".join(text_tokens(text or "", limit, shape))


_CJK_RANGES = [(ord(_CJK[i]), ord(_CJK[i + 2])) for i in range(0, len(_CJK), 3)]


def render_batch(texts, messages=None, tools=None, limit: int = 256, shape: bool = False) -> list[str]:
    """`render` of every document: texts through the Numba kernel (the same lines, several times
    faster), conversations and the texts the kernel leaves to Python through `render`."""
    from trivium.kernels.ft_tokens import render_lines

    n = len(texts)
    messages = messages or [None] * n
    tools = tools or [None] * n
    is_conv = [t is None and bool(m) for t, m in zip(texts, messages)]
    plain = [None if conv else t for t, conv in zip(texts, is_conv)]
    lines = render_lines(plain, limit, shape, _CJK_RANGES, "".join(sorted(_TERMINAL)))
    return [line if line is not None and not conv else render(t, m, tl, limit, shape)
            for line, conv, t, m, tl in zip(lines, is_conv, texts, messages, tools)]


# ---- reading labelled / seed data ------------------------------------------------------------


def read_records(path: str) -> Iterator[dict]:
    """Rows of a JSONL (.gz/.zst) or Parquet file as dicts; bad JSON lines are skipped."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=2000):
            yield from batch.to_pylist()
        return
    if lower.endswith((".zst", ".zstd")):
        import io

        import zstandard

        stream = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8")  # noqa: SIM115
    elif lower.endswith(".gz"):
        stream = gzip.open(path, "rt", encoding="utf-8")  # noqa: SIM115
    else:
        stream = open(path, encoding="utf-8")  # noqa: SIM115
    with stream:
        for line in stream:
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict):
                    yield obj


def as_json_str(value) -> str | None:
    """`messages`/`tools` as stored in documents: a canonical JSON string (or None)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass
class Example:
    label: str
    text: str | None
    messages: str | None = None
    tools: str | None = None
    source: str = ""
    id: str = ""


def examples_from_rows(rows: Iterable[dict], label_key: str = "label", source: str = "") -> Iterator[Example]:
    for r in rows:
        label = r.get(label_key)
        if label is None or (r.get("text") is None and not r.get("messages")):
            continue
        yield Example(
            label=str(label),
            text=r.get("text"),
            messages=as_json_str(r.get("messages")),
            tools=as_json_str(r.get("tools")),
            source=str(r.get("source") or source),
            id=str(r.get("id", "")),
        )


# ---- training, prediction, evaluation ---------------------------------------------------------


@dataclass
class TrainParams:
    epoch: int = 5
    lr: float = 0.2
    dim: int = 16
    word_ngrams: int = 2
    min_count: int = 2
    bucket: int = 50_000
    threads: int = 1
    seed: int = 0
    max_tokens: int = 256
    loss: str = "softmax"
    minn: int = 0  # character n-grams of words, minn..maxn characters (0: none); they give a
    maxn: int = 0  # word never seen in training the vectors of its pieces (new sources, new vocabulary)
    quantize: bool = False
    line_shape: bool = False  # line length / punctuation tokens (on for quality models)


def balance(examples: list[Example], seed: int) -> list[Example]:
    """Oversample every label to the size of the largest one (deterministic for a seed)."""
    by_label: dict[str, list[Example]] = {}
    for e in examples:
        by_label.setdefault(e.label, []).append(e)
    target = max(len(v) for v in by_label.values())
    rng = random.Random(seed)
    out: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label]
        out += group + [group[rng.randrange(len(group))] for _ in range(target - len(group))]
    return out


def train_fasttext(examples: list[Example], output: str, params: TrainParams) -> dict:
    """Train a supervised fastText model on `examples` and save it to `output`; returns the label counts.

    Determinism: the examples are shuffled with `params.seed`, fastText gets the same seed, and
    training uses one thread by default (with more, fastText's lock-free updates race and the
    model changes from run to run). Each training runs in a fresh Python process: with the
    fastText build used here, a second `train_supervised` in the same process gives a different
    model or fails with "Encountered NaN" (measured), while the first one is reproducible.
    """
    rng = random.Random(params.seed)
    order = list(range(len(examples)))
    rng.shuffle(order)  # fastText walks the file in order: mix the labels, reproducibly
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    shuffled = [examples[i] for i in order]
    lines = render_batch([e.text for e in shuffled], [e.messages for e in shuffled], [e.tools for e in shuffled],
                         params.max_tokens, params.line_shape)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for e, line in zip(shuffled, lines):
            f.write(f"__label__{e.label} {line}\n")
        train_file = f.name
    args = {
        "input": train_file,
        "epoch": params.epoch,
        "lr": params.lr,
        "dim": params.dim,
        "wordNgrams": params.word_ngrams,
        "minCount": params.min_count,
        "bucket": params.bucket,
        "thread": params.threads,
        "seed": params.seed,
        "loss": params.loss,
        "minn": params.minn,
        "maxn": params.maxn,
        "verbose": 0,
    }
    job = {"args": args, "output": os.path.abspath(output), "quantize": params.quantize}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "from trivium.filters.fasttext_text import _train_main; _train_main()"],
            input=json.dumps(job), capture_output=True, text=True, check=False,
        )
    finally:
        os.unlink(train_file)
    if proc.returncode != 0:
        raise RuntimeError(f"fastText training failed: {proc.stderr.strip()[-2000:]}")
    return dict(sorted(Counter(e.label for e in examples).items()))


def _train_main() -> None:
    """Child-process entry point of `train_fasttext` (reads its job as JSON on stdin)."""
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None
    job = json.loads(sys.stdin.read())
    model = fasttext.train_supervised(**job["args"])
    if job["quantize"]:  # cutoff > 0 also prunes to that many words / n-grams
        model.quantize(qnorm=True, retrain=False, cutoff=job.get("cutoff", 0))
    model.save_model(job["output"])


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def card_path(model_path: str) -> str:
    return model_path + ".json"


def write_card(model_path: str, card: dict) -> None:
    """The model's card beside it: task, labels, sources, parameters, held-out scores, sha256."""
    card = {**card, "model_sha256": file_sha256(model_path), "model_bytes": os.path.getsize(model_path)}
    with open(card_path(model_path), "w") as f:
        json.dump(card, f, indent=1, sort_keys=True, ensure_ascii=False)


def read_card(model_path: str) -> dict:
    try:
        with open(card_path(model_path)) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}


class FastTextClassifier:
    """A trained model: `proba(lines) -> (labels, matrix)` with one row of label probabilities per line."""

    def __init__(self, path: str):
        from trivium.filters.langid import load_fasttext, load_fasttext_arrays

        self.path = path
        self.model = load_fasttext(path)
        self.arrays = load_fasttext_arrays(path)
        self.labels = [lab[9:] for lab in self.model.get_labels()]
        self.index = {lab: i for i, lab in enumerate(self.labels)}
        params = read_card(path).get("params", {})
        self.max_tokens = int(params.get("max_tokens", 256))
        self.line_shape = bool(params.get("line_shape", False))

    def proba(self, lines: list[str]) -> np.ndarray:
        out = np.zeros((len(lines), len(self.labels)), dtype=np.float64)
        if not lines:
            return out
        if self.arrays is not None and self.arrays.loss == 3:  # softmax: every label's probability in the kernel
            from trivium.kernels.fasttext_predict import predict

            probs = predict(self.arrays, lines, all_labels=True)[2]
            order = [self.index[lab[9:]] for lab in self.arrays.labels]
            out[:, order] = probs
            return np.clip(out, 0.0, 1.0)
        labels, probs = self.model.predict(lines, k=-1)
        column = {f"__label__{lab}": i for lab, i in self.index.items()}
        counts = np.fromiter(map(len, labels), dtype=np.int64, count=len(lines))
        rows = np.repeat(np.arange(len(lines)), counts)
        cols = np.fromiter((column[lab] for labs in labels for lab in labs), dtype=np.int64, count=int(counts.sum()))
        out[rows, cols] = np.concatenate(probs)
        return np.clip(out, 0.0, 1.0)

    def proba_docs(self, texts, messages=None, tools=None) -> np.ndarray:
        return self.proba(render_batch(texts, messages, tools, self.max_tokens, self.line_shape))


def classification_report(gold: list[str], pred: list[str], labels: list[str] | None = None) -> dict:
    """Accuracy, macro-F1 over the gold labels, per-label precision/recall/F1, confusion matrix (rows = gold)."""
    labels = labels or sorted(set(gold) | set(pred))
    idx = {lab: i for i, lab in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred):
        cm[idx[g], idx[p]] += 1
    per = {}
    for lab in labels:
        i = idx[lab]
        tp, support, predicted = cm[i, i], cm[i].sum(), cm[:, i].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[lab] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                    "f1": round(float(f1), 4), "support": int(support)}
    present = [lab for lab in labels if per[lab]["support"] > 0]
    return {
        "n": len(gold),
        "accuracy": round(float(np.trace(cm) / max(1, len(gold))), 4),
        "macro_f1": round(float(np.mean([per[lab]["f1"] for lab in present])) if present else 0.0, 4),
        "labels": labels,
        "per_label": per,
        "confusion": cm.tolist(),
    }


def format_confusion(report: dict) -> str:
    labels = report["labels"]
    width = max(8, *(len(lab) for lab in labels)) + 1
    lines = ["gold \\ pred".ljust(width) + "".join(lab[:width - 1].rjust(width) for lab in labels)]
    for lab, row in zip(labels, report["confusion"]):
        lines.append(lab.ljust(width) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)
