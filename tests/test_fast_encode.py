"""The tiktoken twin of a tokenizer gives exactly the `tokenizers` ids, and steps aside where it cannot."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pyarrow as pa
import pytest

from trivium.tokenizer.fast_encode import FastEncoder

HARD = [
    "数学题：求函数 f(x)=x²+3x−4 的最小值。解：f'(x)=2x+3=0，x=-1.5。答案是-6.25。",
    "def fib(n: int) -> int:\n\tif n < 2:\n\t\treturn n\r\n    return fib(n-1)+fib(n-2)  # O(2^n)\n\n\n",
    "$$\\sum_{k=0}^{\\infty} \\frac{x^k}{k!} = e^x$$, ∀ε>0 ∃δ: |x−a|<δ ⇒ |f(x)−f(a)|<ε",
    'Thought: I need the weather.\nAction: {"tool": "get_weather", "args": {"city": "Zürich"}}\nObservation: 21°C',
    "1234567890 3.14159265 2,718,281 0x7fff_ffff 1e-10 ١٢٣٤ ½ ²³ ０１２３ 𝟘𝟙",
    "emoji 😀😃🏳️‍🌈👩🏽‍💻🇯🇵 ZWJ\u200d joiner \ufeff BOM \u00a0nbsp \u3000ideographic",
    "<|end_of_text|> <|begin_of_text|><｜end▁of▁sentence｜><｜begin▁of▁sentence｜> <|im_start|>assistant",
    "<｜fim▁hole｜> a non-special added token in the text",
    "", " ", "\n", "   \n\n  \t ", "a" * 3000, "ab " * 500 + "长" * 400,
    "I'LL say it's THEIR'S, we'Ve ſt K",
]


def corpus_slice(corpus_dir: Path, per_source: int = 12, max_chars: int = 6000) -> list[str]:
    texts = []
    for source in sorted(p for p in corpus_dir.iterdir() if p.is_dir()):
        taken = 0
        for part in sorted(source.glob("*.jsonl.gz")):
            with gzip.open(part, "rt", encoding="utf-8") as fh:
                for line in fh:
                    text = json.loads(line).get("text")
                    if isinstance(text, str) and taken < per_source:
                        texts.append(text[:max_chars])
                        taken += 1
    return texts


@pytest.fixture(scope="module")
def deepseek(tokenizers_dir):
    from trivium.tokenizer.token_store import _cached_tokenizer

    text = (tokenizers_dir / "deepseek_v3.tokenizer.json").read_text(encoding="utf-8")
    tok = _cached_tokenizer(text, "deepseek-test")
    return tok, text


def hf_ids(tok, texts):
    return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]


def test_the_twin_matches_tokenizers_on_every_kind_of_text(deepseek, corpus_dir):
    tok, text = deepseek
    fast = FastEncoder.build(tok, text)
    assert fast is not None, "DeepSeek-V3's tokenizer should have an exact tiktoken twin"
    texts = corpus_slice(corpus_dir) + HARD
    got = fast.encode(texts)
    for t, g, want in zip(texts, got, hf_ids(tok, texts)):
        if g is not None:
            assert g.tolist() == want, t[:80]
    assert sum(g is not None for g in got) >= 0.9 * len(texts)  # the fast path really ran
    # a non-special added token is matched even with encode_special_tokens: that text goes to tokenizers
    assert got[texts.index(HARD[7])] is None


def test_the_token_store_keeps_todays_ids(deepseek, corpus_dir, tmp_path):
    from trivium.tokenizer.token_store import encode_batch, read_tokenizer_dir, store_arrays

    tok, text = deepseek
    (tmp_path / "tokenizer.json").write_text(text, encoding="utf-8")
    eos = "<｜end▁of▁sentence｜>"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": eos}))
    spec = read_tokenizer_dir(str(tmp_path))
    texts = corpus_slice(corpus_dir, per_source=3) + HARD
    batch = pa.RecordBatch.from_pylist([{"id": str(i), "text": t} for i, t in enumerate(texts)])
    rows, reasons = encode_batch(spec, batch)
    assert reasons == [None] * len(texts)
    arrays = store_arrays(pa.Table.from_batches([rows]))
    for i, want in enumerate(hf_ids(tok, texts)):
        assert arrays.tokens[arrays.offsets[i] : arrays.offsets[i + 1]].tolist() == want + [spec.eos_id]


def test_a_trivium_trained_tokenizer_is_exact_or_declined(tmp_path, corpus_dir):
    from test_pack import tiny_tokenizer_dir
    from trivium.tokenizer.token_store import _cached_tokenizer

    text = (tiny_tokenizer_dir(tmp_path, vocab=600) / "tokenizer.json").read_text(encoding="utf-8")
    tok = _cached_tokenizer(text, "tiny-test")
    fast = FastEncoder.build(tok, text)
    if fast is None:
        pytest.skip("no exact twin for this tokenizer (the reason is logged)")
    texts = corpus_slice(corpus_dir, per_source=4, max_chars=3000) + HARD
    for t, g, want in zip(texts, fast.encode(texts), hf_ids(tok, texts)):
        if g is not None:
            assert g.tolist() == want, t[:80]


def test_a_pipeline_tiktoken_cannot_run_falls_back_with_the_reason(deepseek, caplog):
    tok, text = deepseek
    config = json.loads(text)
    config["normalizer"] = {"type": "NFKC"}
    with caplog.at_level(logging.WARNING, logger="trivium.tokenizer.fast_encode"):
        assert FastEncoder.build(tok, json.dumps(config)) is None
    assert "normalizer" in caplog.text
