"""Agentic rendering: text equals transformers' apply_chat_template with the exported tokenizer, and the
loss spans are exactly the assistant turns (return_assistant_tokens_mask)."""

from __future__ import annotations

import gzip
import json

import pytest

from trivium.mixtures.render import normalize_message, render_messages
from trivium.tokenizer.chat_template import CHAT_TEMPLATE, render_conversation

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def hf_tokenizer(corpus_dir, tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    from trivium.tokenizer.export import export_tokenizer
    from trivium.tokenizer.sample import SampleSpec
    from trivium.tokenizer.train import TrainConfig, train_tokenizer

    # a small vocabulary is enough to compare renderings and masks; ids stay as exported
    tok, _ = train_tokenizer([str(corpus_dir / "tau_airline")], SampleSpec(sample_bytes=200_000, seed=1),
                             TrainConfig(vocab_size=1024, workers=1))
    out = tmp_path_factory.mktemp("tok") / "small"
    export_tokenizer(tok, str(out), vocab_size=1024)
    return transformers.AutoTokenizer.from_pretrained(str(out))


def tau_conversations(corpus_dir, n: int = 3) -> list[dict]:
    rows = []
    with gzip.open(next((corpus_dir / "tau_airline").glob("*.jsonl.gz")), "rt") as f:
        for line in f:
            row = json.loads(line)
            if any(m.get("tool_calls") for m in row["messages"]):
                rows.append(row)
            if len(rows) == n:
                return rows
    return rows


def span_mask(offsets, spans) -> list[int]:
    return [int(any(s < e and a < b and a < e and s < b for a, b in spans)) for s, e in offsets]


def test_template_marks_assistant_content_for_transformers():
    assert "{%- generation -%}" in CHAT_TEMPLATE and "{%- endgeneration -%}" in CHAT_TEMPLATE


def test_tau_airline_renders_as_transformers_and_spans_are_the_assistant_turns(corpus_dir, hf_tokenizer):
    for row in tau_conversations(corpus_dir):
        messages, tools = row["messages"], row.get("tools")
        text, spans = render_messages(json.dumps(messages), json.dumps(tools) if tools else None)
        assert text == hf_tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
        assert text == render_conversation(messages, tools)
        # one span per assistant message, each from after <|Assistant|> to its <|end_of_text|>
        assistants = [m for m in messages if m["role"] == "assistant"]
        assert len(spans) == len(assistants)
        for (a, b), m in zip(spans, assistants):
            assert text[a - len("<|Assistant|>"):a] == "<|Assistant|>" and text[a:b].endswith("<|end_of_text|>")
            if m.get("content"):
                assert m["content"] in text[a:b]
        for m in messages:  # user and tool content lies outside every span
            if m["role"] in ("user", "tool") and m.get("content"):
                at = text.index(m["content"])
                assert not any(a <= at < b for a, b in spans)
        enc = hf_tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                               return_assistant_tokens_mask=True)
        offsets = hf_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        assert len(offsets) == len(enc["input_ids"])
        assert span_mask(offsets, spans) == list(enc["assistant_masks"])
        assert sum(enc["assistant_masks"]) > 0


def test_loss_all_means_null_spans_and_reasoning_styles_get_tags():
    msgs = [{"role": "user", "content": "Find the capital."},
            {"role": "assistant", "content": "Thought: I should search.\nAction: search[capital]"},
            {"role": "user", "content": "Observation: Paris"},
            {"role": "assistant", "content": "Paris.", "analysis": "The user wants a capital.", "plan": "Answer.",
             "reflection": "The search found it.", "summary": "Paris"}]
    text, spans = render_messages(msgs)
    assert "<|Assistant|><think>\nI should search.\n</think>\n\nAction: search[capital]<|end_of_text|>" in text
    assert ("<think>\n<analysis>\nThe user wants a capital.\n</analysis>\n<plan>\nAnswer.\n</plan>\n"
            "<reflection>\nThe search found it.\n</reflection>\n<summary>\nParis\n</summary>\n</think>\n\nParis.") in text
    assert [text[a:b].endswith("<|end_of_text|>") for a, b in spans] == [True, True]
    assert render_messages(msgs, loss="all") == (text, None)
    plain = {"role": "assistant", "content": "No thought here."}
    assert normalize_message(plain) is plain
