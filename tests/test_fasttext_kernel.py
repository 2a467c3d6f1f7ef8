"""The Numba fastText prediction gives the `fasttext` binding's labels and probabilities: on hand-made
lines through small models of each kind (character n-grams + hierarchical softmax, word bigrams +
softmax, dense and product-quantized, pruned), and on every corpus source through the shipped models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trivium.filters.fasttext_text import FastTextClassifier, read_records, render_batch
from trivium.filters.langid import LanguageIdentifier, clean_for_lid, load_fasttext, resolve_lid_model
from trivium.kernels import fasttext_predict as fp
from trivium.mixtures.default_models import default_model

HAND_LINES = [
    "",
    "   ",
    "the cat sat on the mat",
    "The Cat   sat\ton\rthe\x0bmat\x0c!\x00",
    "机器学习是人工智能的一个分支",
    "naïve café ünïcödé – “quotes” 😀🚀",
    "__label__a is a label token, __label__zzz an unknown one",
    "x" * 500,
    "f(x) = x^2 + 3x - 7; ∫ f dx",
    "def main(): return {'a': [1, 2, 3]}",
]


def _train(tmp_path, name: str, quantize: bool, **params):
    rng = np.random.default_rng(0)
    words = {"a": "the cat sat on a mat with café naïve".split(), "b": "机 器 学 习 是 人 工 智 能 def return x".split(),
             "c": "stock market price rose fell 42 percent today".split()}
    lines = []
    for _ in range(600):
        label = rng.choice(sorted(words))
        toks = rng.choice(words[label] + words["abc"[rng.integers(3)]], size=rng.integers(3, 12))
        lines.append(f"__label__{label} " + " ".join(toks))
    data = tmp_path / f"{name}.txt"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = tmp_path / f"{name}.{'ftz' if quantize else 'bin'}"
    # in a child process, as train_fasttext does: a second `train_supervised` in one process (other tests
    # train in the pytest process first) can fail with "Encountered NaN"
    args = {"input": str(data), "epoch": 5, "dim": 8, "lr": 0.05, "thread": 1, "seed": 1, "verbose": 0, **params}
    job = {"args": args, "output": str(path), "quantize": quantize, "cutoff": 300 if params.get("maxn") else 0}
    child = "from trivium.filters.fasttext_text import _train_main; _train_main()"
    proc = subprocess.run([sys.executable, "-c", child], input=json.dumps(job), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return str(path)


def _reference(path: str, lines: list[str]) -> tuple[list[str | None], np.ndarray]:
    model = load_fasttext(path)
    labels, probs = model.predict(lines, k=1)
    return [lab[0] if len(lab) else None for lab in labels], np.array([p[0] if len(p) else 0.0 for p in probs])


def _assert_same(path: str, lines: list[str]):
    arrays = fp.load(path)
    index, prob, _ = fp.predict(arrays, lines)
    labels, probs = _reference(path, lines)
    got = [arrays.labels[i] if i >= 0 else None for i in index]
    assert got == labels
    np.testing.assert_allclose(prob, probs, rtol=0, atol=1e-6)
    if arrays.loss == 3:
        model = load_fasttext(path)
        full = fp.predict(arrays, lines, all_labels=True)[2]
        for row, (labs, ps) in zip(full, zip(*model.predict(lines, k=-1))):
            expected = np.zeros(len(arrays.labels))
            for lab, p in zip(labs, ps):
                expected[arrays.labels.index(lab)] = p
            np.testing.assert_allclose(row, expected, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ft")
    return {
        "char_hs": _train(tmp, "char_hs", False, loss="hs", minn=2, maxn=4, bucket=100000),
        "char_hs_pruned": _train(tmp, "char_hs_q", True, loss="hs", minn=2, maxn=4, bucket=100000),
        "bigram_softmax": _train(tmp, "bigram_sm", False, loss="softmax", wordNgrams=2, bucket=100000),
        "bigram_softmax_quantized": _train(tmp, "bigram_sm_q", True, loss="softmax", wordNgrams=2, bucket=100000),
    }


@pytest.mark.parametrize("kind", ["char_hs", "char_hs_pruned", "bigram_softmax", "bigram_softmax_quantized"])
def test_hand_made_lines_match_fasttext(small_models, kind):
    _assert_same(small_models[kind], HAND_LINES)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab c\t机器é😀_l_abel\x00")) | st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=40), min_size=1, max_size=8))
def test_arbitrary_lines_match_fasttext(small_models, lines):
    for path in small_models.values():
        _assert_same(path, lines)


def test_a_line_with_a_newline_is_refused(small_models):
    with pytest.raises(ValueError, match="one line"):
        fp.predict(fp.load(small_models["char_hs"]), ["two\nlines"])


def test_an_unsupported_loss_is_refused(tmp_path):
    path = _train(tmp_path, "ova", False, loss="ova", wordNgrams=2, bucket=100000)
    with pytest.raises(ValueError, match="softmax"):
        fp.load(path)


def _corpus_texts(corpus_dir, per_part: int = 300):
    for part in sorted(corpus_dir.glob("*/*.jsonl.gz")):
        rows = [r for _, r in zip(range(per_part), read_records(str(part)))]
        texts = [r.get("text") for r in rows]
        msgs = [json.dumps(r["messages"]) if r.get("messages") else None for r in rows]
        yield part, texts, msgs


def test_shipped_models_match_fasttext_on_every_source(corpus_dir):
    lid = resolve_lid_model(None)
    for part, texts, msgs in _corpus_texts(corpus_dir):
        cleaned = [c for c in (clean_for_lid(t or "", 2000) for t in texts) if c]
        _assert_same(lid, cleaned)
        for name in ("domain", "quality"):
            classifier = FastTextClassifier(default_model(name))
            _assert_same(classifier.path, render_batch(texts, msgs, None, classifier.max_tokens, classifier.line_shape))


def test_language_identifier_answers_as_the_binding_alone(corpus_dir):
    fast = LanguageIdentifier()
    plain = LanguageIdentifier()
    plain.__dict__["arrays"] = None  # the binding's path
    for part, texts, _ in _corpus_texts(corpus_dir, 150):
        assert fast.predict(texts) == plain.predict(texts), part
