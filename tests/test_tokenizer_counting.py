"""Spark pre-token counting gives the same counts, hence the same merges, as the direct path."""

from __future__ import annotations

import json

import pytest

from trivium.tokenizer.sample import SampleSpec, parse_weights
from trivium.tokenizer.train import TrainConfig, count_inputs, train_from_counts, train_tokenizer

pytestmark = [pytest.mark.spark, pytest.mark.corpus]

SOURCES = ["humaneval", "mbpp", "zh_poetry_alt", "react", "toolbench"]


@pytest.fixture(scope="module")
def small_inputs(corpus_dir):
    return [str(corpus_dir / s) for s in SOURCES]


def test_counting_path_equals_direct_path(spark, small_inputs):
    from trivium.tokenizer.counting import count_pretokens_spark

    spec = SampleSpec(sample_bytes=600_000, weights=parse_weights("code=3,agentic=2,lang:zh=0.5"), seed=11, holdout=0.05)
    spark_counts, info = count_pretokens_spark(spark, small_inputs, spec, partitions=3)
    direct_counts, dinfo = count_inputs(small_inputs, spec, workers=2)
    assert info["rates"] == pytest.approx(dinfo["rates"])
    assert info["sample_docs"] == dinfo["sample_docs"] and info["sample_bytes"] == dinfo["sample_bytes"]
    assert spark_counts == dict(direct_counts)
    assert len(spark_counts) > 3000

    config = TrainConfig(vocab_size=3000)
    from_spark = train_from_counts(spark_counts, config)
    direct = train_from_counts(direct_counts, config)
    assert from_spark.merges == direct.merges and from_spark.vocab == direct.vocab
    assert from_spark.n_learned == 3000 - 512

    # and the same merges as tokenizers' own BpeTrainer on the same sampled text
    tok, _ = train_tokenizer(small_inputs, spec, TrainConfig(vocab_size=3000, engine="tokenizers"))
    hf = json.loads(tok.to_str())["model"]
    assert [list(m) for m in hf["merges"]] == [list(m) for m in direct.merges]


def test_spark_path_through_train_tokenizer(spark, small_inputs):
    from trivium.tokenizer.counting import count_pretokens_spark

    spec = SampleSpec(seed=2)  # every document, no sampling pass
    counts, info = count_pretokens_spark(spark, small_inputs, spec)
    assert info["files"] == len(SOURCES) and info["bad_lines"] == 0
    tok, report = train_tokenizer(small_inputs, spec, TrainConfig(vocab_size=1024), counts=counts)
    direct, _ = train_tokenizer(small_inputs, spec, TrainConfig(vocab_size=1024))
    assert tok.to_str() == direct.to_str()
    assert report["learned_merges"] == 1024 - 512


def test_cli_train_with_spark(spark, small_inputs, tmp_path):
    from typer.testing import CliRunner

    from trivium.flows.cli import app

    out = tmp_path / "tok"
    args = ["tokenizer", "train", "--spark", "--output", str(out), "--vocab-size", "1024", "--seed", "2", "--json"]
    for p in small_inputs:
        args += ["--input", p]
    r = CliRunner().invoke(app, args)  # get_spark returns the suite's active session
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["spark"] is True and report["learned_merges"] == 1024 - 512
    direct, _ = train_tokenizer(small_inputs, SampleSpec(seed=2), TrainConfig(vocab_size=1024))
    from tokenizers import Tokenizer

    assert Tokenizer.from_file(str(out / "tokenizer.json")).to_str() == direct.to_str()
