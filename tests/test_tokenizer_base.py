"""Base vocabularies: tiktoken loading, merge recovery, keep/drop rules, continuation training."""

from __future__ import annotations

import json
import random

import pytest
import regex

from trivium.tokenizer.base_vocab import BaseVocab, load_base, parse_rule, select_base
from trivium.tokenizer.pretokenize import count_words, symbols_to_bytes
from trivium.tokenizer.tiktoken_loader import load_tiktoken_ranks, recover_merges, tiktoken_encoding, tiktoken_to_tokenizer
from trivium.tokenizer.train import TrainConfig, build_tokenizer, train_from_counts

pytestmark = pytest.mark.corpus

SAMPLE_TEXT = [
    "The derivative of x^2 is 2x, so \\int_0^1 2x\\,dx = 1.\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    "北京是中华人民共和国的首都。数学是研究数量、结构以及空间的学科。",
    "Café naïve résumé — “quotes” and emoji 😀👍🏽, numbers 1234567 and 3.14159.",
    "   indented\n\n\n\ttabs\t\tand  double  spaces  ",
]


@pytest.fixture(scope="module")
def o200k(tokenizers_dir):
    return load_base(str(tokenizers_dir / "o200k_base.tiktoken"))


def test_tiktoken_loader_matches_tiktoken(tokenizers_dir):
    path = str(tokenizers_dir / "cl100k_base.tiktoken")
    ours = tiktoken_to_tokenizer(path)
    enc = tiktoken_encoding(path)
    rng = random.Random(0)
    texts = SAMPLE_TEXT + ["".join(rng.choice(SAMPLE_TEXT) for _ in range(5)) for _ in range(50)]
    for t in texts:
        assert ours.encode(t, add_special_tokens=False).ids == enc.encode_ordinary(t)
        assert ours.decode(enc.encode_ordinary(t)) == t


def test_recovered_merges_rebuild_every_token(tokenizers_dir):
    ranks = load_tiktoken_ranks(str(tokenizers_dir / "cl100k_base.tiktoken"))
    merges = recover_merges(ranks)
    assert len(ranks) == 100_256
    assert len(merges) == sum(1 for t in ranks if len(t) > 1)  # every cl100k token is reachable
    for tok, (a, b) in list(merges.items())[:5000]:
        assert a + b == tok and ranks[a] < ranks[tok] and ranks[b] < ranks[tok]


def _closed(base: BaseVocab, kept: set[bytes]) -> bool:
    index = {t: i for i, t in enumerate(base.tokens)}
    for t in kept:
        a, b = base.parts[index[t]]
        for p in (base.tokens[a], base.tokens[b]):
            if len(p) > 1 and p not in kept:
                return False
    return True


def test_keep_ascii_is_closed_and_ascii(o200k):
    sel = select_base(o200k, keep="ascii", max_tokens=20_000)
    assert len(sel.tokens) == 20_000
    assert all(t.isascii() for t in sel.tokens)
    assert _closed(o200k, set(sel.tokens))
    assert [a + b for a, b in sel.merges] == list(sel.tokens)
    ranks = {t: i for i, t in enumerate(o200k.tokens)}
    assert [ranks[t] for t in sel.tokens] == sorted(ranks[t] for t in sel.tokens)  # a rank prefix
    # digits split one by one: multi-digit o200k tokens can never be produced, so not kept
    assert b"2019" not in set(select_base(o200k, keep="ascii").tokens)


def test_drop_removes_descendants_and_keep_adds_parts(o200k):
    sel = select_base(o200k, keep="all", drop="han", max_tokens=None)
    han = regex.compile(r"\p{Han}")
    kept = set(sel.tokens)
    assert not any(han.search(t.decode("utf-8", "ignore")) for t in kept if _valid(t))
    assert _closed(o200k, kept)
    assert sel.stats["dropped_by_rule"] > 1000
    emoji = select_base(o200k, keep="emoji", max_tokens=None)
    assert any(_valid(t) and "😀" in t.decode() for t in emoji.tokens)
    # partial UTF-8 fragments are kept only as parts of kept emoji
    assert any(not _valid(t) for t in emoji.tokens)
    assert _closed(o200k, set(emoji.tokens))


def _valid(t: bytes) -> bool:
    try:
        t.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_rules_parse():
    from trivium.tokenizer.base_vocab import _Tok

    tok = _Tok(data=" hello".encode(), text=" hello", rank=5)
    assert parse_rule("ascii")(tok) and parse_rule("latin")(tok) and not parse_rule("han")(tok)
    assert parse_rule("rank<10")(tok) and not parse_rule("rank<5")(tok)
    assert parse_rule("script:Latin&len<=6")(tok) and not parse_rule("script:Cyrillic")(tok)
    assert parse_rule("han,re:\\s\\w+")(tok) and not parse_rule("!ascii")(tok)
    with pytest.raises(ValueError):
        parse_rule("no_such_rule")


def test_load_base_from_tokenizer_json(tokenizers_dir):
    base = load_base(str(tokenizers_dir / "deepseek_v3.tokenizer.json"))
    assert len(base.tokens) > 100_000
    for i in range(256, 2256):
        a, b = base.parts[i]
        assert base.tokens[a] + base.tokens[b] == base.tokens[i] and a < i and b < i


def test_continuation_training_from_a_base(o200k):
    """Base merges first (rank order), then merges learned on the counts; consistent BPE."""
    rng = random.Random(1)
    zh = ["函数", "积分", "矩阵", "概率", "数学", "北京大学", "微分方程", "，", "。"]
    texts = SAMPLE_TEXT * 50 + ["".join(rng.choice(zh) for _ in range(20)) for _ in range(300)]
    base = select_base(o200k, keep="ascii", drop="cjk", max_tokens=3000)
    vocab_size = 256 + 3000 + 1500 + 256
    trained = train_from_counts(count_words(texts), TrainConfig(vocab_size=vocab_size, base_select="rank"), base=base)
    assert trained.n_base == 3000 and trained.n_learned > 0
    tok = build_tokenizer(trained, vocab_size)
    data = json.loads(tok.to_str())["model"]
    vocab, merges = data["vocab"], [tuple(m) for m in data["merges"]]
    # every merge's parts and result are in the vocabulary, parts have smaller ids than results
    for a, b in merges:
        assert a in vocab and b in vocab and a + b in vocab
        assert vocab[a] < vocab[a + b] and vocab[b] < vocab[a + b]
    assert merges[:3000] == [(t[0], t[1]) for t in ((symbols(a), symbols(b)) for a, b in base.merges)]
    ids = {symbols_to_bytes(s): i for s, i in vocab.items() if not s.startswith("<|bpe_unused_")}
    # base tokens are used whole, learned Chinese words too
    enc = tok.encode(" the function", add_special_tokens=False)
    assert [symbols_to_bytes(t) for t in enc.tokens] == [b" the", b" function"]
    assert "微分方程".encode() in ids or "北京大学".encode() in ids
    for t in SAMPLE_TEXT:
        assert tok.decode(tok.encode(t, add_special_tokens=False).ids) == t


def symbols(b: bytes) -> str:
    from trivium.tokenizer.pretokenize import bytes_to_symbols

    return bytes_to_symbols(b)


def test_prune_by_usage_keeps_most_used_with_parts(o200k):
    from trivium.tokenizer.base_vocab import prune_by_usage

    sel = select_base(o200k, keep="ascii", max_tokens=5000)
    usage = {t: float(len(t)) for t in sel.tokens if b"e" in t}  # "used": tokens with an 'e'
    pruned = prune_by_usage(sel, usage, 1200)
    kept = set(pruned.tokens)
    assert len(kept) <= 1200
    assert _closed(o200k, kept)
    ranks = {t: i for i, t in enumerate(o200k.tokens)}
    assert [ranks[t] for t in pruned.tokens] == sorted(ranks[t] for t in pruned.tokens)
    assert all(b"e" in t or any(t in (a, b) for a, b in pruned.merges) for t in kept)  # used, or a part
    longest_used = max(usage, key=lambda t: (usage[t], -ranks[t]))
    assert longest_used in kept
    assert pruned.stats["select"] == "usage" and pruned.stats["candidates"] == 5000


def test_used_selection_takes_used_tokens_in_rank_order(o200k):
    from trivium.tokenizer.base_vocab import prune_by_usage

    sel = select_base(o200k, keep="ascii", max_tokens=5000)
    ranks = {t: i for i, t in enumerate(o200k.tokens)}
    usage = {t: float(len(t)) for t in sel.tokens if b"e" in t}  # "used": tokens with an 'e'
    pruned = prune_by_usage(sel, usage, 300, select="used")
    kept = set(pruned.tokens)
    assert len(kept) <= 300 and _closed(o200k, kept)
    assert [ranks[t] for t in pruned.tokens] == sorted(ranks[t] for t in pruned.tokens)
    assert pruned.stats["select"] == "used"
    # used tokens are taken in rank order: the lowest-ranked used ones are all there, and an
    # unused token is only there as a part of a kept one
    used_by_rank = [t for t in sel.tokens if t in usage]
    assert set(used_by_rank[:100]) <= kept
    assert all(t in usage or any(t in (a, b) for a, b in pruned.merges) for t in kept)
    by_usage = prune_by_usage(sel, usage, 300)  # the most used instead (long tokens here)
    assert by_usage.stats["select"] == "usage" and set(by_usage.tokens) != kept
    with pytest.raises(ValueError):
        prune_by_usage(sel, usage, 300, select="sideways")


def test_usage_selection_keeps_only_what_the_text_uses(o200k):
    texts = SAMPLE_TEXT * 20
    counts = count_words(texts)
    base = select_base(o200k, keep="ascii", drop="cjk")  # all candidates
    trained = train_from_counts(counts, TrainConfig(vocab_size=256 + 1000 + 256, base_max=400, base_select="usage"), base=base)
    assert 0 < trained.n_base <= 400
    assert trained.stats["base"]["select"] == "usage"
    base_tokens = trained.vocab[256 : 256 + trained.n_base]
    # what the text uses when segmented with every candidate (before pruning)
    from tokenizers import Tokenizer, models

    from trivium.tokenizer.pretokenize import build_pre_tokenizer, bytes_to_symbols
    from trivium.tokenizer.train import byte_symbols

    vocab = byte_symbols() + [bytes_to_symbols(t) for t in base.tokens]
    merges = [(bytes_to_symbols(a), bytes_to_symbols(b)) for a, b in base.merges]
    full = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(vocab)}, merges=merges))
    full.pre_tokenizer = build_pre_tokenizer()
    used = set()
    for t in texts:
        used.update(full.encode(t, add_special_tokens=False).tokens)
    parts = {p for a, b in trained.merges[: trained.n_base] for p in (a, b)}
    assert all(t in used or t in parts for t in base_tokens)
    assert trained.stats["base"]["used_candidates"] == len(used - set(byte_symbols()))
    assert set(base_tokens) >= used - set(byte_symbols())  # under the cap: every used token kept
    capped = train_from_counts(counts, TrainConfig(vocab_size=256 + 1000 + 256, base_max=20), base=base)
    assert 0 < capped.n_base <= 20


def _write_tiktoken(path, tokens: list[bytes]) -> str:
    """A tiny tiktoken rank file: the 256 single bytes, then ``tokens`` in rank order."""
    import base64

    every = [bytes([b]) for b in range(256)] + tokens
    path.write_text("".join(f"{base64.b64encode(t).decode()} {i}\n" for i, t in enumerate(every)))
    return str(path)


def test_in_rule_pins_what_two_vocabularies_agree_on(tmp_path):
    """``in:FILE``: tokens the base shares with another vocabulary (hand-made, both files)."""
    from trivium.tokenizer.base_vocab import _Tok

    base_path = _write_tiktoken(tmp_path / "base.tiktoken", [b"ab", b"cd", b" x", b"abcd", b"ef", b" xy"])
    other = _write_tiktoken(tmp_path / "other.tiktoken", [b"cd", b" x", b"gh", b" xy"])
    base = load_base(base_path)
    # the predicate: membership in the other vocabulary, by bytes (ranks there do not matter)
    agree = parse_rule(f"in:{other}")
    assert [t for i, t in enumerate(base.tokens) if len(t) > 1 and agree(_Tok(t, t.decode(), i))] == [b"cd", b" x", b" xy"]
    # pinned whatever the limit, the rest of the limit in rank order; a relative name is looked
    # up next to the base file
    sel = select_base(base, keep="all", pin="in:other.tiktoken", max_tokens=4)
    assert sel.pinned == {b"cd", b" x", b" xy"}
    assert sel.tokens == (b"ab", b"cd", b" x", b" xy")  # rank order; "ab" fills the one free place
    assert sel.stats["pinned"] == 3
    # combined with a rank cut: only agreed tokens below rank 259 ("cd" 257, " x" 258)
    sel = select_base(base, keep="all", pin="in:other.tiktoken&rank<259", max_tokens=2)
    assert sel.pinned == {b"cd", b" x"} and sel.tokens == (b"cd", b" x")
    # no limit: the pin changes nothing about what is kept
    assert select_base(base, keep="all", pin=f"in:{other}").tokens == select_base(base, keep="all").tokens
    with pytest.raises(ValueError, match="cannot read"):
        select_base(base, keep="all", pin="in:no_such_vocab.tiktoken")
