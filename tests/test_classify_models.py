"""The default models shipped as package data: they load offline, match their cards, classify out of
the box, were built by the recipe that rebuilds them byte-identically, and no benchmark test item
is among their seeds.

The full rebuild of both models (`trivium classifier train --defaults`) takes minutes; here a
reduced-seed twin of the domain recipe (the one with every derivation step) is built twice and
must be byte-identical, and `benchmarks/classify.py --rebuild` compares a full rebuild with the
shipped files.
"""

from __future__ import annotations

import json
import os
import socket
import unicodedata

import pytest
from trivium.filters.fasttext_text import file_sha256, read_card, read_records
from trivium.filters.quality_model import QualityModel
from trivium.mixtures.default_models import BENCHMARKS, DEFAULTS, TEST_SET_SOURCES, build_default, default_model
from trivium.mixtures.domain import DomainModel
from trivium.mixtures.seed import load_sources, seed_examples

from test_classify_seeds import PHYSICS, ZH_BIOLOGY, ZH_HISTORY

SPAM = "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only."
CODE = "import os\n\n\ndef walk(root):\n    for name in sorted(os.listdir(root)):\n        path = os.path.join(root, name)\n        if os.path.isdir(path):\n            yield from walk(path)\n        else:\n            yield path\n"
TOOLS = json.dumps([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
CONV = json.dumps([{"role": "user", "content": "Weather in Oslo?"},
                   {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
                   {"role": "tool", "tool_call_id": "1", "content": "4 C, rain"}])


@pytest.fixture()
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network blocked in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_shipped_models_load_offline_match_their_cards_and_classify(offline):
    for task in DEFAULTS:
        path = default_model(task)
        assert path and path.endswith(".ftz"), f"the package ships no {task} model: run `make models`"
        card = read_card(path)
        assert card["model_sha256"] == file_sha256(path) and card["model_bytes"] == os.path.getsize(path)
        assert os.path.getsize(path) <= 2_000_000 and card["params"]["quantize"] and card["params"]["threads"] == 1
        assert card["benchmarks_excluded"] == sorted(BENCHMARKS) and "heldout_eval" in card
    domain = DomainModel(default_model("domain"))
    preds = domain.predict([PHYSICS, ZH_BIOLOGY, SPAM, CODE, None, ZH_HISTORY], [None, None, None, None, CONV, None],
                           [None, None, None, None, TOOLS, None])
    assert [p[0] for p in preds] == ["stem", "stem", "noise", "code", "agentic", "commonsense"], preds
    assert set(domain.buckets) == {"commonsense", "stem", "code", "agentic", "noise"}
    quality = QualityModel(default_model("quality"))
    shuffled = "".join(sorted(ZH_HISTORY))  # the same characters, no language left
    prose, salad = quality.score([ZH_HISTORY, shuffled])
    assert prose > 0.5 > salad


@pytest.mark.corpus
def test_no_benchmark_test_item_is_in_the_shipped_models_seeds(corpus_dir):
    sources = str(corpus_dir / "sources.json")
    entries = load_sources(sources)

    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).lower().split())[:300]

    # The test items, read independently of the decontamination index: whole texts and GSM8K test questions.
    items = set()
    for name in TEST_SET_SOURCES + ("gsm8k",):
        for f in entries[name]["files"]:
            for r in read_records(str(corpus_dir / name / f)):
                if name != "gsm8k" or r["meta"]["split"] == "test":
                    items.add(norm(r["text"].split("\n\n")[0] if name == "gsm8k" else r["text"]))
    for task, spec in DEFAULTS.items():
        card = read_card(spec.output)
        report = card["seed_report"]
        for name in TEST_SET_SOURCES:
            assert report[name]["used"] == 0 and report[name]["decontaminated"], (task, name)
        assert report["gsm8k"]["decontaminated"]["gsm8k_test"] > 0
        # The recipe's seeds (before the STEM-prose step, which only relabels or leaves documents out).
        data = seed_examples(sources, task, max_per_source=spec.max_per_source, seed=spec.params.seed,
                             decontam=_benchmarks(sources), zh_negatives=spec.zh_negatives, views=spec.views,
                             exam=spec.exam_views, windows=spec.windows)
        assert not data.heldout
        for e in data.train:
            text = e.text or ""
            assert norm(text) not in items and norm(text.split("\n\n")[0]) not in items, (task, e.source, e.id)
        for name, r in report.items():  # the card's seeds are these seeds
            if "used" in r and "stem_prose" not in r:
                assert r["used"] == data.report[name]["used"], (task, name)


def _benchmarks(sources: str):
    from trivium.mixtures.seed import corpus_benchmarks

    return corpus_benchmarks(sources, BENCHMARKS)


@pytest.mark.corpus
def test_default_recipe_rebuilds_byte_identically(corpus_dir, tmp_path):
    sources = str(corpus_dir / "sources.json")
    digests = []
    for i in range(2):
        card = build_default("domain", sources, str(tmp_path / f"domain{i}.ftz"), max_per_source=60, twin=False)
        digests.append(card["model_sha256"])
        assert card["model_sha256"] == file_sha256(str(tmp_path / f"domain{i}.ftz"))
    assert digests[0] == digests[1]
    assert (tmp_path / "domain0.ftz.json").read_bytes() == (tmp_path / "domain1.ftz.json").read_bytes()
    shipped = read_card(DEFAULTS["domain"].output)
    assert card["params"] == shipped["params"]  # the shipped model was built by this recipe
    assert card["seed_report"]["enwiki"]["stem_prose"]["relabelled"] >= 0
