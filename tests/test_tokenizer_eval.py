"""Compression metrics and round-trip accounting of trivium.tokenizer.evaluate."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers

from trivium.tokenizer.evaluate import EvalTokenizer, count_words, evaluate, load_eval_tokenizer, relative_tokens, render_html, render_table
from trivium.tokenizer.pretokenize import build_pre_tokenizer, count_words as count_pretokens
from trivium.tokenizer.sample import Document
from trivium.tokenizer.train import TrainConfig, build_tokenizer, byte_symbols, train_from_counts

DOCS = [
    Document(source="wiki", bucket="commonsense", id="1", text="The cat sat on the mat. 1984 was a year.", lang="en"),
    Document(source="wiki_zh", bucket="commonsense", id="2", text="北京是中国的首都。Beijing!", lang="zh"),
    Document(source="code", bucket="code", id="3", text="def f(x):\n\treturn x + 1\n", lang="en"),
]


def _bytes_only(tmp_path) -> str:
    """A byte-level tokenizer without merges: exactly one token per byte."""
    tok = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(byte_symbols())}, merges=[]))
    tok.pre_tokenizer = build_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    path = tmp_path / "bytes.json"
    tok.save(str(path))
    return str(path)


def _lossy(tmp_path) -> str:
    """Lowercases: round trips fail on upper-case text."""
    tok = Tokenizer.from_file(_bytes_only(tmp_path))
    tok.normalizer = normalizers.Lowercase()
    path = tmp_path / "lossy.tokenizer.json"
    tok.save(str(path))
    return str(path)


def test_word_counting():
    assert count_words("The cat sat.") == 3
    assert count_words("北京是首都") == 5  # one word per Han character
    assert count_words("x_1 = y2;") == 2


def test_metrics_per_group(tmp_path):
    trained = train_from_counts(count_pretokens([d.text for d in DOCS] * 20), TrainConfig(vocab_size=700))
    ours = tmp_path / "ours"
    from trivium.tokenizer.export import export_tokenizer

    export_tokenizer(build_tokenizer(trained, 700), str(ours), vocab_size=700)
    toks = [load_eval_tokenizer(str(ours)), load_eval_tokenizer(_bytes_only(tmp_path)), load_eval_tokenizer(_lossy(tmp_path))]
    assert [t.name for t in toks] == ["ours", "bytes", "lossy"]
    res = evaluate(DOCS, toks, batch_size=2)
    g = res["groups"]
    assert set(g) == {"all", "bucket:commonsense", "bucket:code", "bucket_lang:commonsense/en", "bucket_lang:commonsense/zh",
                      "bucket_lang:code/en", "source:wiki", "source:wiki_zh", "source:code"}
    total_bytes = sum(len(d.text.encode()) for d in DOCS)
    assert g["all"]["bytes"] == total_bytes and g["all"]["docs"] == 3
    assert g["all"]["chars"] == sum(len(d.text) for d in DOCS)
    assert g["all"]["tokenizers"]["bytes"]["tokens"] == total_bytes
    assert g["all"]["tokenizers"]["bytes"]["bytes_per_token"] == 1.0
    assert g["all"]["tokenizers"]["ours"]["bytes_per_token"] > 2.0  # learned merges compress
    assert g["all"]["tokenizers"]["ours"]["roundtrip_failures"] == 0
    assert g["all"]["tokenizers"]["lossy"]["roundtrip_failures"] == 2  # 'The', 'Beijing'
    assert g["source:code"]["tokenizers"]["lossy"]["roundtrip_failures"] == 0
    zh = g["bucket_lang:commonsense/zh"]
    assert zh["words"] == count_words(DOCS[1].text)
    assert zh["tokenizers"]["ours"]["tokens_per_word"] == pytest.approx(zh["tokenizers"]["ours"]["tokens"] / zh["words"])
    rel = relative_tokens(res, "bytes")
    assert rel["all"]["bytes"] == 1.0 and rel["all"]["ours"] < 0.5
    table = render_table(res)
    assert table.row_count == len(g)
    html = render_html(res)
    assert html.count("<rect") >= 3 * 6 and "ours" in html
    json.dumps(res)  # serialisable for --json


def test_names_must_be_unique(tmp_path):
    t = load_eval_tokenizer(_bytes_only(tmp_path))
    with pytest.raises(ValueError):
        evaluate(DOCS, [t, EvalTokenizer(name=t.name, kind="x", vocab_size=1, encode_batch=t.encode_batch, decode=t.decode)])
