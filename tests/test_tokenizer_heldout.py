"""Held-out sources, like-for-like references, base selection and the preset, on a tiny corpus
whose token counts are worked out by hand.

Every source uses its own letters, so a tokenizer trained without a source has no merge for
its text: on a left-out source it gives one token per byte, while in-sample text compresses.
The reference vocabulary knows ``gh``, `` gh`` and ``123``, so what the pre-tokenizer costs it
(single digits, o200k's split) is countable by hand too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trivium.flows.cli import app
from trivium.tokenizer.base_vocab import load_base, select_base
from trivium.tokenizer.pretokenize import bytes_to_symbols, count_words, pretokenize_text
from trivium.tokenizer.presets import Recipe, load_recipe
from trivium.tokenizer.sample import holdout_folds
from trivium.tokenizer.train import TrainConfig, choose_base_max, prepare_base

runner = CliRunner()

SOURCES = {  # source: (bucket, text); 3 documents each
    "code_a": ("code", "ab ab"),
    "code_b": ("code", "cd cd"),
    "prose_a": ("commonsense", "ef 123 ef"),
    "prose_b": ("commonsense", "gh 123 gh"),
}
BASE_TOKENS = [b"xy", b"_i", b"_id", b"):", b"  ", b"12", b"123", b"ma", b"mat"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("heldout")
    corpus = root / "corpus"
    for source, (_bucket, text) in SOURCES.items():
        (corpus / source).mkdir(parents=True)
        rows = [{"id": f"{source}/{i}", "text": text, "source": source, "lang": "en"} for i in range(3)]
        (corpus / source / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (corpus / "sources.json").write_text(json.dumps({s: {"bucket": b} for s, (b, _) in SOURCES.items()}))
    # a tiktoken base: the 256 bytes, then a few merges
    lines = [base64.b64encode(t).decode() + f" {r}" for r, t in enumerate([bytes([i]) for i in range(256)] + BASE_TOKENS)]
    (root / "tiny.tiktoken").write_text("\n".join(lines) + "\n")
    # the vocabularies the preset's agreement pins read next to the base (``in:FILE``): an
    # English-heavy one that shares "_id" and "ma" with the base, a Chinese-heavy one
    other = [bytes([i]) for i in range(256)] + [b"_i", b"_id", b"ma", b"zz"]
    (root / "cl100k_base.tiktoken").write_text("".join(base64.b64encode(t).decode() + f" {r}\n" for r, t in enumerate(other)))
    # the reference: a byte-level BPE that knows gh, " gh" and 123, GPT-2's split (numbers whole)
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from trivium.tokenizer.train import byte_symbols

    vocab = {s: i for i, s in enumerate(byte_symbols())}
    merges = [("g", "h"), ("Ġ", "gh"), ("1", "2"), ("12", "3")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    ref = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    ref.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    ref.decoder = decoders.ByteLevel()
    ref.save(str(root / "ref.tokenizer.json"))
    ref.save(str(root / "deepseek_v3.tokenizer.json"))
    return root


def _cli(*args: str) -> dict:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_folds_hold_out_one_source_of_every_group():
    groups = {"code/en": ["a", "b", "c"], "commonsense/en": ["d", "e"], "commonsense/zh": ["z"], "noise/en": ["n"]}
    folds = holdout_folds(groups, 3, seed=0)
    assert folds == holdout_folds(groups, 3, seed=0)  # deterministic
    for f in folds:
        assert len(set(f) & {"a", "b", "c"}) == 1 and len(set(f) & {"d", "e"}) == 1
        assert "z" in f  # a lone group in a bucket with other sources: held out every fold
        assert "n" not in f  # a bucket's only source is never held out
    assert {x for f in folds for x in f} >= {"a", "b", "c", "d", "e"}  # three folds cover all three code sources
    with pytest.raises(ValueError):
        holdout_folds(groups, 0)


def test_heldout_sources_and_like_for_like_by_hand(tiny: Path, tmp_path: Path):
    corpus = str(tiny / "corpus")
    folds = []
    for k in (0, 1):
        out = tmp_path / f"fold{k}"
        rep = _cli("tokenizer", "train", "-i", corpus, "-o", str(out), "--vocab-size", "600", "--fold", f"{k}/2",
                   "--workers", "1", "--json", "-q")
        held = set(rep["holdout_sources"])
        assert len(held & {"code_a", "code_b"}) == 1 and len(held & {"prose_a", "prose_b"}) == 1
        folds.append(held)
    assert folds[0].isdisjoint(folds[1])  # two folds: every source left out once
    res = _cli("tokenizer", "eval", "-t", str(tmp_path / "fold0"), "-t", str(tmp_path / "fold1"), "-i", corpus,
               "--split", "heldout-sources", "-b", str(tiny / "ref.tokenizer.json"), "--json")
    g = res["groups"]
    # each source measured once, by the fold that never saw it: one token per byte
    # (ab ab = 5, cd cd = 5, ef 123 ef = 9, gh 123 gh = 9 bytes; 3 documents each)
    assert g["all"]["docs"] == 12
    code, prose = g["bucket:code"]["tokenizers"], g["bucket:commonsense"]["tokenizers"]
    assert code["fold0"]["tokens"] == 3 * (5 + 5)
    assert prose["fold0"]["tokens"] == 3 * (9 + 9)
    # the reference: published (GPT-2 split) ef|" 123"|" ef" = 2+2+3, gh|" 123"|" gh" = 1+2+1;
    # behind our split with groups of 3: ef|" "|123|" ef" = 2+1+1+3, gh|" "|123|" gh" = 1+1+1+1;
    # with single digits: 2+1+3+3 and 1+1+3+1
    assert prose["ref"]["tokens"] == 3 * (7 + 4)
    assert prose["ref@d3"]["tokens"] == 3 * (7 + 4)
    assert prose["ref@d1"]["tokens"] == 3 * (9 + 6)
    r = res["references"]["bucket:commonsense"]["ref"]
    assert r["published"] == pytest.approx(54 / 33)
    assert r["like_for_like"] == pytest.approx(54 / 45)
    assert r["digit_cost"] == pytest.approx(45 / 33 - 1)
    assert r["split_cost"] == pytest.approx(0.0)
    assert res["references"]["bucket:code"]["ref"]["like_for_like"] == pytest.approx(1.0)  # ab ab: 2 + 3 either way
    # the same tokenizer on in-sample text compresses: the held-out split is what made it 1 token/byte
    seen = _cli("tokenizer", "eval", "-t", str(tmp_path / "fold0"), "-i", corpus, "--split", "all", "--json")
    assert seen["groups"]["all"]["tokenizers"]["fold0"]["bytes_per_token"] > g["all"]["tokenizers"]["fold0"]["bytes_per_token"]


def test_base_pin_survives_the_rank_cut(tiny: Path):
    base = load_base(str(tiny / "tiny.tiktoken"))
    # no pin: the two lowest ranks; pinned symbols (``):``) first, the room left by rank;
    # pinned tokens stay even past the limit (``_i``, ``_id`` identifier pieces and ``):``)
    assert select_base(base, keep="ascii", max_tokens=2).tokens == (b"xy", b"_i")
    assert select_base(base, keep="ascii", pin="symbols", max_tokens=2).tokens == (b"xy", b"):")
    assert select_base(base, keep="ascii", pin="symbols,identifier", max_tokens=2).tokens == (b"_i", b"_id", b"):")
    assert select_base(base, keep="ascii", pin="symbols,identifier").stats["pinned"] == 3


def test_base_max_measured_on_held_out_counts(tiny: Path):
    config = TrainConfig(vocab_size=256 + 256 + 12, base=str(tiny / "tiny.tiktoken"), base_max_candidates=(1, 9))
    base = prepare_base(config)
    fit = count_words(["ab ab"] * 4)
    held = {"commonsense/en": count_words(["mat"] * 5)}
    chosen, info = choose_base_max(fit, held, config, base)
    # one base token (xy): "mat" is 3 tokens x 5; nine (ma, mat among them): 1 token x 5
    assert info["candidates"]["1"]["tokens"] == {"commonsense/en": 15}
    assert info["candidates"]["9"]["tokens"] == {"commonsense/en": 5}
    assert chosen == 9 and info["candidates"]["9"]["score"] == pytest.approx(1 / 3, abs=1e-4)


def test_base_max_split_counts_add_up_to_the_sample(tiny: Path):
    from collections import Counter

    from trivium.tokenizer.sample import SampleSpec, discover_files, parse_weights
    from trivium.tokenizer.train import NullProgress, _count_base_max_split, count_inputs

    files = discover_files([str(tiny / "corpus")])
    spec = SampleSpec(weights=parse_weights("code=2.5"), seed=3)
    fit, held, sampled, info = _count_base_max_split(files, spec, TrainConfig(workers=1), NullProgress())
    left_out = info["base_max_held_out_sources"]
    assert len(left_out) == 2 and set(held) == {"code/en", "commonsense/en"}  # one source per group
    assert sum(held["code/en"].values()) == 3 * 2  # "ab ab" or "cd cd": 2 pre-tokens, 3 documents, once each
    whole, _ = count_inputs(files, spec, workers=1)
    assert fit + sampled == Counter(whole)  # fit + left-out with multiplicity = the whole sample


def test_digits_three_groups_numbers():
    assert pretokenize_text("x 12345") == ["x", " ", "1", "2", "3", "4", "5"]
    assert pretokenize_text("x 12345", digits=3) == ["x", " ", "123", "45"]
    assert count_words(["12345 1"], digits=3) == {bytes_to_symbols(b"123"): 1, bytes_to_symbols(b"45"): 1,
                                                   bytes_to_symbols(b" "): 1, bytes_to_symbols(b"1"): 1}


def test_preset_is_exactly_its_flags(tiny: Path, tmp_path: Path):
    recipe = load_recipe("youtu")
    assert recipe.base_file == "o200k_base.tiktoken" and recipe.digits == 1 and recipe.base_max == 80_000
    assert recipe.base_select == "used" and "in:cl100k_base.tiktoken&rank<100000" in recipe.base_pin
    assert "lang:zh=0.25" in recipe.weights
    corpus, base = str(tiny / "corpus"), str(tiny / "tiny.tiktoken")
    common = ["-i", corpus, "--base", base, "--vocab-size", "600", "--workers", "1", "--json", "-q"]
    by_preset = _cli("tokenizer", "train", "-o", str(tmp_path / "preset"), "--preset", "youtu", *common)
    flags = [f for f in recipe.as_flags()]
    i = flags.index("--vocab-size")
    del flags[i : i + 2]
    _cli("tokenizer", "train", "-o", str(tmp_path / "flags"), *flags, *common)
    assert (tmp_path / "preset" / "tokenizer.json").read_bytes() == (tmp_path / "flags" / "tokenizer.json").read_bytes()
    assert by_preset["base"]["select"] == "used"
    assert by_preset["recipe"]["preset"] == "youtu"
    # the agreement pins read the vocabularies next to the base: "ma" is pinned only because the
    # English one shares it ("_id" is an identifier anyway), nothing CJK here
    sel = select_base(load_base(base), keep=recipe.base_keep, drop=recipe.base_drop, pin=recipe.base_pin)
    assert {b"ma", b"_id", b"_i"} <= sel.pinned and b"mat" not in sel.pinned
    assert by_preset["base"]["pinned"] == sel.stats["pinned"]
    # --base-max auto still measures the size on left-out sources
    auto = _cli("tokenizer", "train", "-o", str(tmp_path / "auto"), "--preset", "youtu", "--base-max", "auto", *common)
    assert "base_max_measured" in auto
    # a flag overrides the preset's value
    d3 = _cli("tokenizer", "train", "-o", str(tmp_path / "d3"), "--preset", "youtu", "--digits", "3", *common)
    assert d3["digits"] == 3 and d3["recipe"]["base_keep"] == recipe.base_keep
    # the preset names its base file; a bad value names its field
    res = runner.invoke(app, ["tokenizer", "train", "-i", corpus, "-o", str(tmp_path / "x"), "--preset", "youtu"])
    assert res.exit_code == 2 and "--base" in res.output
    res = runner.invoke(app, ["tokenizer", "train", "-i", corpus, "-o", str(tmp_path / "x"), "--digits", "2"])
    assert res.exit_code == 2 and "--digits" in res.output
    bad = tmp_path / "recipe.yaml"
    bad.write_text("digits: 1\nbase_mx: 5\n")  # a recipe file of one's own; a typo names its field
    res = runner.invoke(app, ["tokenizer", "train", "-i", corpus, "-o", str(tmp_path / "x"), "--preset", str(bad)])
    assert res.exit_code == 2 and "base_mx" in res.output
    assert Recipe().as_flags()[:2] == ["--vocab-size", "128256"]
