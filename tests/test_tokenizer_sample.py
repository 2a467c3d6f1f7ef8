"""Reading sources and the weighted, deterministic training sample (trivium.tokenizer.sample)."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from trivium.tokenizer.chat_template import render_conversation
from trivium.tokenizer.sample import (
    ReadStats,
    SampleSpec,
    discover_files,
    iter_documents,
    measure_sources,
    parse_weights,
    sample_documents,
)
from trivium.tokenizer.special_tokens import split_on_special


def _write_jsonl(path: Path, rows, compress: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows).encode()
    if compress == "gz":
        data = gzip.compress(data)
    elif compress == "zst":
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    rng = random.Random(0)
    root = tmp_path / "corpus"
    words = ["alpha", "beta", "gamma", "delta", "integral", "matrix", "def", "return"]

    def doc(i, src):
        return {"id": f"{src}/{i}", "text": " ".join(rng.choice(words) for _ in range(rng.randint(20, 60))), "source": src,
                "meta": {"lang": "en"}}

    _write_jsonl(root / "web" / "part-0.jsonl.gz", [doc(i, "web") for i in range(400)], "gz")
    _write_jsonl(root / "math" / "part-0.jsonl.zst", [doc(i, "math") for i in range(200)], "zst")
    code_rows = [doc(i, "code") for i in range(100)]
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "code").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{**r, "meta": json.dumps(r["meta"])} for r in code_rows]), root / "code" / "part-0.parquet")
    agent = [
        {"id": f"agent/{i}", "text": None, "source": "agent",
         "messages": [{"role": "user", "content": f"weather {i}?"},
                      {"role": "assistant", "content": None,
                       "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                      {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "assistant", "content": "21 degrees"}],
         "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]}
        for i in range(50)
    ]
    _write_jsonl(root / "agent" / "part-0.jsonl", agent + ["{not json", json.dumps({"id": "x", "text": None}),
                                                         '{"id": "s", "text": "lone \\udc80 surrogate", "source": "web"}'])
    (root / "sources.json").write_text(json.dumps({"web": {"bucket": "commonsense"}, "math": {"bucket": "stem"},
                                                   "code": {"bucket": "code"}, "agent": {"bucket": "agentic"}}))
    return root


def test_parse_weights():
    assert parse_weights("stem=3, code=2.5,noise=0,lang:zh=0.5") == {"stem": 3.0, "code": 2.5, "noise": 0.0, "lang:zh": 0.5}
    assert parse_weights(None) == {}
    for bad in ("stem", "stem=-1", "stem=x"):
        with pytest.raises(ValueError):
            parse_weights(bad)


def test_reads_formats_buckets_and_counts_bad_rows(corpus: Path):
    files = discover_files([str(corpus)])
    assert [f.fmt for f in files] == ["jsonl", "parquet", "jsonl", "jsonl"]
    stats = ReadStats()
    docs = list(iter_documents(files, stats))
    by_source = Counter(d.source for d in docs)
    assert by_source == {"web": 401, "math": 200, "code": 100, "agent": 50}
    assert {d.source: d.bucket for d in docs} == {"web": "commonsense", "math": "stem", "code": "code", "agent": "agentic"}
    assert stats.bad_lines == 1 and stats.no_text == 1  # never fatal, always counted
    assert stats.repaired == 1 and next(d for d in docs if d.id == "s").text == "lone \ufffd\ufffd\ufffd surrogate"
    agent = next(d for d in docs if d.source == "agent")
    assert agent.text == render_conversation(
        [{"role": "user", "content": "weather 0?"},
         {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
         {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "assistant", "content": "21 degrees"}],
        [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
    assert "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>" in agent.text
    assert "<tool_call>" not in "".join(split_on_special(agent.text))  # training never sees special strings
    assert {d.lang for d in docs if d.source == "code"} == {"en"}  # meta as a JSON string
    # a single source folder still finds the buckets in the parent's sources.json
    assert discover_files([str(corpus / "math")])[0].bucket_of("math") == "stem"


def _sample(inputs, spec):
    return [(d.source, d.id, m) for d, m in sample_documents(inputs, spec)]


def test_sample_is_deterministic_and_order_independent(corpus: Path):
    spec = SampleSpec(sample_bytes=60_000, weights={"stem": 3}, seed=5, holdout=0.1)
    a = _sample([str(corpus)], spec)
    b = _sample([str(corpus / "math"), str(corpus / "web"), str(corpus / "code"), str(corpus / "agent")], spec)
    assert a and sorted(a) == sorted(b)
    c = _sample([str(corpus)], SampleSpec(sample_bytes=60_000, weights={"stem": 3}, seed=6, holdout=0.1))
    assert sorted(a) != sorted(c)


def test_weights_and_sample_size(corpus: Path):
    files = discover_files([str(corpus)])
    sizes = Counter()
    for d in iter_documents(files):
        sizes[d.source] += len(d.text.encode())
    plain = SampleSpec(sample_bytes=100_000, seed=1)
    weighted = SampleSpec(sample_bytes=100_000, weights=parse_weights("stem=4,commonsense=1"), seed=1)

    def share(spec):
        got = Counter()
        for d, m in sample_documents(files, spec):
            got[d.source] += m * len(d.text.encode())
        return got

    p, w = share(plain), share(weighted)
    assert abs(sum(p.values()) - 100_000) < 15_000 and abs(sum(w.values()) - 100_000) < 15_000
    ratio_plain = p["math"] / p["web"]
    ratio_weighted = w["math"] / w["web"]
    assert 2.5 < ratio_weighted / ratio_plain < 6.5  # math up-weighted about 4x relative to web
    # a rate above 1 repeats documents
    big = SampleSpec(sample_bytes=3 * sum(sizes.values()), seed=1)
    assert max(m for _, m in sample_documents(files, big)) >= 3


def test_weight_zero_and_no_sample_bytes(corpus: Path):
    got = Counter(d.source for d, m in sample_documents([str(corpus)], SampleSpec(weights={"code": 0, "agentic": 2})) for _ in range(m))
    assert got["code"] == 0 and got["agent"] == 100 and got["web"] == 401


def test_language_weights_multiply_the_source_weight(corpus: Path):
    # the agent rows and the one "s" web row carry no language: group "other"
    def counts(weights, **kw):
        return Counter(d.source for d, m in sample_documents([str(corpus)], SampleSpec(weights=weights, **kw)) for _ in range(m))

    assert counts({"lang:other": 3}) == {"web": 400 + 3, "math": 200, "code": 100, "agent": 150}
    assert counts({"lang:other": 0, "code": 2}) == {"web": 400, "math": 200, "code": 200}
    assert counts({"lang:en": 1}) == counts({})
    # with a byte budget the language weight is in the budget: the agent bytes count half
    files = discover_files([str(corpus)])
    spec = SampleSpec(sample_bytes=50_000, weights={"lang:other": 0.5})
    half = sum(int(len(d.text.encode()) * 0.5) for d in iter_documents(files) if d.source == "agent")
    assert measure_sources(files, spec)[("agent", "agentic")] == half
    assert measure_sources(files, spec)[("math", "stem")] == measure_sources(files, SampleSpec())[("math", "stem")]


def test_holdout_is_disjoint_from_training(corpus: Path):
    spec = SampleSpec(seed=3, holdout=0.2)
    train = {d.id for d, _ in sample_documents([str(corpus)], spec)}
    held = {d.id for d, _ in sample_documents([str(corpus)], spec, split="heldout")}
    assert train and held and not (train & held)
    assert 0.1 < len(held) / (len(train) + len(held)) < 0.3


def test_truncated_archive_keeps_lines_before_the_cut(tmp_path: Path):
    rows = [{"id": str(i), "text": f"document number {i} " * 20} for i in range(200)]
    full = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "part-0.jsonl.gz").write_bytes(full[: len(full) // 2])
    stats = ReadStats()
    docs = list(iter_documents([str(tmp_path)], stats))
    assert 0 < len(docs) < 200
    assert [d.id for d in docs] == [str(i) for i in range(len(docs))]
    assert len(stats.file_errors) == 1 and "part-0.jsonl.gz" in stats.file_errors[0]
