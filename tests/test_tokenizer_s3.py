"""Training reads s3:// inputs (a moto server on loopback) the same as local ones, directly and with Spark."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from trivium.tokenizer.sample import SampleSpec, discover_files
from trivium.tokenizer.train import TrainConfig, count_inputs, train_tokenizer


@pytest.fixture(scope="module")
def s3_corpus(tmp_path_factory, s3_server):
    import fsspec
    import s3fs

    s3_server.bucket("tok")
    local = tmp_path_factory.mktemp("s3src") / "corpus"
    rng = random.Random(4)
    words = ["matrix", "integral", "函数", "def", "return", "weather", "😀", "12", "x_1"]
    for src, bucket in (("math", "stem"), ("chat", "agentic"), ("web", "commonsense")):
        rows = []
        for i in range(120):
            if src == "chat":
                rows.append({"id": f"{src}/{i}", "text": None, "messages": [
                    {"role": "user", "content": " ".join(rng.choice(words) for _ in range(10))},
                    {"role": "assistant", "content": " ".join(rng.choice(words) for _ in range(10))}]})
            else:
                rows.append({"id": f"{src}/{i}", "text": " ".join(rng.choice(words) for _ in range(40))})
        (local / src).mkdir(parents=True)
        (local / src / "part-0.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    (local / "sources.json").write_text(json.dumps({"math": {"bucket": "stem"}, "chat": {"bucket": "agentic"},
                                                    "web": {"bucket": "commonsense"}}))
    options = s3_server.options
    s3fs.S3FileSystem(**options).put(str(local) + "/", "tok/corpus/", recursive=True)
    saved = {p: dict(kw) for p, kw in fsspec.config.conf.items()}
    fsspec.config.conf.setdefault("s3", {}).update(options)
    yield "s3://tok/corpus", local
    fsspec.config.conf.clear()
    fsspec.config.conf.update(saved)


def test_s3_inputs_train_like_local_ones(s3_corpus):
    url, local = s3_corpus
    files = discover_files([url])
    assert [f.path for f in files] == [f"{url}/chat/part-0.jsonl.gz", f"{url}/math/part-0.jsonl.gz", f"{url}/web/part-0.jsonl.gz"]
    assert {f.source: f.bucket_of(f.source) for f in files} == {"chat": "agentic", "math": "stem", "web": "commonsense"}
    spec = SampleSpec(sample_bytes=40_000, weights={"stem": 2}, seed=1, holdout=0.1)
    remote, _ = train_tokenizer([url], spec, TrainConfig(vocab_size=900))
    here, _ = train_tokenizer([str(local)], spec, TrainConfig(vocab_size=900))
    assert remote.to_str() == here.to_str()


@pytest.mark.spark
def test_spark_counts_s3_inputs(spark, s3_corpus):
    from trivium.tokenizer.counting import count_pretokens_spark

    url, local = s3_corpus
    spec = SampleSpec(sample_bytes=40_000, weights={"agentic": 3}, seed=2)
    counts, info = count_pretokens_spark(spark, [url], spec, partitions=2)
    direct, _ = count_inputs([str(local)], spec, workers=1)
    assert info["files"] == 3 and counts == dict(direct)
