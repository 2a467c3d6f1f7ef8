"""The 128,256-entry tokenizer from ../shared/corpus: export, transformers, chat template, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trivium.tokenizer.chat_template import render_conversation
from trivium.tokenizer.special_tokens import NAMED_SPECIAL_TOKENS, VOCAB_SIZE

pytestmark = pytest.mark.corpus

# small sources: the sample runs out of pairs long before 128,000 entries, which exercises
# the padding that keeps the special ids at 128,000..128,255
SOURCES = ["humaneval", "mbpp", "gaokao_stem", "tau_airline", "react", "toolbench"]

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What's the weather in Paris? 用摄氏度。"},
    {"role": "assistant", "content": None, "reasoning_content": "I should call the weather tool.",
     "tool_calls": [{"id": "call_0", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},
    {"role": "tool", "tool_call_id": "call_0", "content": "{\"temp\": 21, \"sky\": \"clear\"}"},
    {"role": "assistant", "content": "It is 21°C and clear in Paris."},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                                                              "unit": {"type": "string"}},
                                                           "required": ["city"]}}}]


@pytest.fixture(scope="module")
def trained_dir(corpus_dir, tmp_path_factory) -> Path:
    from trivium.flows.cli import app

    out = tmp_path_factory.mktemp("tok") / "tok128k"
    args = ["tokenizer", "train", "--output", str(out), "--vocab-size", "128256", "--weights", "code=2,agentic=1.5",
            "--seed", "3", "--holdout", "0.1", "--json"]
    for s in SOURCES:
        args += ["--input", str(corpus_dir / s)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["vocab_size"] == VOCAB_SIZE and report["learned_merges"] > 10_000
    return out


def test_exported_files_and_fixed_ids(trained_dir: Path):
    from tokenizers import Tokenizer

    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "trivium_tokenizer.json"):
        assert (trained_dir / name).exists(), name
    tok = Tokenizer.from_file(str(trained_dir / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == 128_256
    assert tok.get_vocab_size(with_added_tokens=False) == 128_000  # BPE part; specials are added tokens
    for i, t in enumerate(NAMED_SPECIAL_TOKENS):
        assert tok.token_to_id(t) == 128_000 + i
    assert tok.token_to_id("<|reserved_special_token_0|>") == 128_010
    assert tok.token_to_id("<|reserved_special_token_245|>") == 128_255
    report = json.loads((trained_dir / "trivium_tokenizer.json").read_text())
    # the sample could not fill 128,000 BPE entries: unreachable placeholders fill the gap
    assert report["padding_entries"] > 0
    assert 256 + report["learned_merges"] + report["padding_entries"] == 128_000
    model = json.loads((trained_dir / "tokenizer.json").read_text())["model"]
    assert len(model["vocab"]) == 128_000 and len(model["merges"]) == report["learned_merges"]
    text = "def f(x):\n\treturn x ** 2  # 平方 😀"
    assert tok.decode(tok.encode(text).ids) == text


def test_transformers_loads_and_applies_the_chat_template(trained_dir: Path):
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(trained_dir))
    assert len(hf) == 128_256
    assert hf.bos_token == "<|begin_of_text|>" and hf.bos_token_id == 128_000
    assert hf.eos_token == "<|end_of_text|>" and hf.eos_token_id == 128_001
    text = hf.apply_chat_template(MESSAGES, tools=TOOLS, tokenize=False)
    assert text == render_conversation(MESSAGES, TOOLS)  # the training renderer is the same template
    assert text.startswith("<|begin_of_text|>You are a helpful assistant.\n\n# Tools")
    assert "<|Assistant|><think>\nI should call the weather tool.\n</think>\n\n<tool_call>\n" in text
    assert '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}' in text
    assert "<|User|><tool_response>\n{\"temp\": 21, \"sky\": \"clear\"}\n</tool_response><|Assistant|>It is" in text
    enc = hf.apply_chat_template(MESSAGES, tools=TOOLS, tokenize=True, return_dict=True)
    ids = enc["input_ids"]
    for special in ("<|begin_of_text|>", "<|User|>", "<|Assistant|>", "<think>", "</think>", "<tool_call>",
                    "</tool_call>", "<tool_response>", "</tool_response>", "<|end_of_text|>"):
        assert hf.convert_tokens_to_ids(special) in ids, special
    assert ids[0] == 128_000
    assert hf.decode(ids) == text
    prompt = hf.apply_chat_template(MESSAGES[:2], tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|User|>What's the weather in Paris? 用摄氏度。<|Assistant|>")
    no_think = hf.apply_chat_template(MESSAGES[:2], tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert no_think.endswith("<|Assistant|><think>\n\n</think>\n\n")
    # the same ids as tokenizers with special tokens allowed
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(trained_dir / "tokenizer.json"))
    assert tok.encode(text, add_special_tokens=False).ids == ids


def test_training_is_deterministic(corpus_dir, tmp_path: Path):
    from trivium.tokenizer.sample import SampleSpec
    from trivium.tokenizer.train import TrainConfig, train_tokenizer

    inputs = [str(corpus_dir / "humaneval"), str(corpus_dir / "zh_poetry_alt")]
    spec = SampleSpec(sample_bytes=400_000, weights={"code": 3}, seed=9, holdout=0.1)
    a, _ = train_tokenizer(inputs, spec, TrainConfig(vocab_size=2048, workers=2))
    b, _ = train_tokenizer(list(reversed(inputs)), spec, TrainConfig(vocab_size=2048, workers=1))
    assert a.to_str() == b.to_str()
    c, _ = train_tokenizer(inputs, SampleSpec(sample_bytes=400_000, weights={"code": 3}, seed=10, holdout=0.1),
                           TrainConfig(vocab_size=2048))
    assert c.to_str() != a.to_str()


def test_cli_eval_table_json_and_html(trained_dir: Path, corpus_dir, tokenizers_dir, tmp_path: Path):
    from trivium.flows.cli import app

    html = tmp_path / "eval.html"
    args = ["tokenizer", "eval", "--tokenizer", str(trained_dir),
            "--baseline", str(tokenizers_dir / "llama3.tiktoken"),
            "--baseline", str(tokenizers_dir / "deepseek_v3.tokenizer.json"),
            "--input", str(corpus_dir / "humaneval"), "--input", str(corpus_dir / "gaokao_stem"),
            "--split", "heldout", "--max-mb-per-source", "0.3", "--html", str(html), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    res = json.loads(result.stdout)
    names = [t["name"] for t in res["tokenizers"]]
    assert names == ["tok128k", "llama3", "deepseek_v3", "llama3@d1", "llama3@d3", "deepseek_v3@d1", "deepseek_v3@d3"]
    ref = res["references"]["all"]["llama3"]  # like for like: Llama-3's vocabulary behind our pre-tokenizer
    t = {n: res["groups"]["all"]["tokenizers"][n]["tokens"] for n in names}
    assert ref["like_for_like"] == pytest.approx(t["tok128k"] / t["llama3@d1"])
    assert ref["digit_cost"] == pytest.approx(t["llama3@d1"] / t["llama3@d3"] - 1) and ref["digit_cost"] > 0
    groups = res["groups"]
    assert {"all", "bucket:code", "bucket:stem", "source:humaneval", "source:gaokao_stem"} <= set(groups)
    allg = groups["all"]
    assert allg["docs"] > 0
    for n in names:
        v = allg["tokenizers"][n]
        assert v["roundtrip_failures"] == 0
        assert v["bytes_per_token"] == pytest.approx(allg["bytes"] / v["tokens"])
        assert v["chars_per_token"] == pytest.approx(allg["chars"] / v["tokens"])
        assert v["tokens_per_word"] == pytest.approx(v["tokens"] / allg["words"])
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "llama3" in page
    # held-out documents only: the split of the training run (seed 3, holdout 0.1 from its report)
    from trivium.tokenizer.sample import SampleSpec, is_heldout, iter_documents

    held = [d for d in iter_documents([str(corpus_dir / "humaneval")]) if is_heldout(d, SampleSpec(seed=3, holdout=0.1))]
    assert groups["source:humaneval"]["docs"] == len(held)
    # the table form
    table = CliRunner().invoke(app, args[:-3])
    assert table.exit_code == 0 and "bytes per token" in table.output and "bucket:code" in table.output


def test_cli_help_everywhere():
    from trivium.flows.cli import app

    for args in (["tokenizer", "--help"], ["tokenizer", "train", "--help"], ["tokenizer", "eval", "--help"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0 and "Usage" in r.output


def test_cli_rejects_bad_options(tmp_path: Path, corpus_dir):
    from trivium.flows.cli import app

    base = ["tokenizer", "train", "-i", str(corpus_dir / "humaneval"), "-o", str(tmp_path / "x"), "--quiet"]
    r = CliRunner().invoke(app, base + ["--vocab-size", "300"])
    assert r.exit_code == 2 and "too small" in r.output
    r = CliRunner().invoke(app, base + ["--engine", "tokenizers", "--base", "whatever.tiktoken"])
    assert r.exit_code == 2 and "trivium engine" in r.output
    r = CliRunner().invoke(app, base + ["--weights", "code"])
    assert r.exit_code == 2
    assert not os.path.exists(tmp_path / "x" / "tokenizer.json")
