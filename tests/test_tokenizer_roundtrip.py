"""Pre-tokenizer, special tokens and round-trip properties of a trained tokenizer.

The tokenizer here is trained on synthetic mixed text (no ../shared needed) through the
same code path as `trivium tokenizer train` (counts -> kernel -> build_tokenizer).
"""

from __future__ import annotations

import random

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from trivium.tokenizer.pretokenize import (
    CJK_PATTERN,
    O200K_SINGLE_DIGIT_PATTERN,
    build_pre_tokenizer,
    bytes_to_unicode,
    count_words,
    pretokenize_text,
    symbols_to_bytes,
)
from trivium.tokenizer.special_tokens import NAMED_SPECIAL_TOKENS, special_tokens
from trivium.tokenizer.train import TrainConfig, build_tokenizer, train_from_counts

VOCAB = 3072
HAN = "数学函数积分微分方程矩阵向量概率统计几何代数中文测试汉字北京大学"

SNIPPETS = [
    "The quick brown fox jumps over the lazy dog. ",
    "def f(x):\n\treturn x ** 2  # square\n",
    "\\int_0^1 x^2\\,dx = \\frac{1}{3}, \\quad \\alpha_{i,j} ",
    "函数 f(x) 在区间 [0, 1] 上的积分是 1/3。",
    "北京大学（Peking University）成立于1898年。",
    "价格：¥1234.56，数量：７件 ",
    "😀👍🏽👨‍👩‍👧 emoji 🇫🇷 ",
    "안녕하세요 세계 ",
    "カタカナとひらがな ",
    '{"name": "get_weather", "arguments": {"city": "Paris"}}\n',
    "   leading spaces\n\n\ttabs\r\n",
    "Ünïcödé àçcénts naïve café ",
]


def _texts(n: int = 1500) -> list[str]:
    rng = random.Random(0)
    return ["".join(rng.choice(SNIPPETS) for _ in range(rng.randint(1, 8))) for _ in range(n)]


@pytest.fixture(scope="module")
def tok():
    trained = train_from_counts(count_words(_texts()), TrainConfig(vocab_size=VOCAB))
    t = build_tokenizer(trained, VOCAB)
    t.encode_special_tokens = True  # plain text
    return t


def _tokens_text(tok, text):
    ids = tok.encode(text, add_special_tokens=False).ids
    return ids, [symbols_to_bytes(tok.id_to_token(i)) for i in ids]


# --- the patterns ---------------------------------------------------------------------


def test_cjk_pattern_is_llama_cpp_youtu_verbatim():
    assert CJK_PATTERN == "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+"
    assert r"\p{N}|" in O200K_SINGLE_DIGIT_PATTERN and r"\p{N}{1,3}" not in O200K_SINGLE_DIGIT_PATTERN


def test_pre_tokenizer_examples():
    assert pretokenize_text("abc 12345 中文，测试xyz") == ["abc", " ", "1", "2", "3", "4", "5", " ", "中文", "，", "测试", "xyz"]
    assert pretokenize_text("I'm here\n\n  ok") == ["I'm", " here", "\n\n", " ", " ok"]


def test_byte_alphabet_complete(tok):
    vocab = tok.get_vocab()
    for b, sym in bytes_to_unicode().items():
        assert sym in vocab, f"byte {b} has no token"
        assert tok.decode([vocab[sym]]) == bytes([b]).decode("utf-8", errors="replace")
    # any byte sequence that is valid UTF-8 decodes exactly from its byte tokens
    text = "é中😀\x00\x7f"
    ids = [vocab[bytes_to_unicode()[b]] for b in text.encode("utf-8")]
    assert tok.decode(ids) == text


# --- round trip ------------------------------------------------------------------------

mojibake = st.sampled_from(["Ã©", "â€™", "Ã¼ber", "\ufffd", "\x00", "\x1b[0m", "\u200b\u200d", "\u202e", "e\u0301", "\ufeff", "\uffff", "\U0010ffff", "\x80\x81", "Â\xa0"])
emoji = st.sampled_from(["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🏳️‍🌈", "1️⃣"])
cjk = st.text(alphabet=HAN + "，。、！？（）「」ぁァ가", min_size=1, max_size=12)
latex = st.sampled_from(["\\frac{a}{b}", "$x^2$", "\\begin{align} a &= b \\\\ \\end{align}", "\\mathbb{R}^{n}", "\\{x\\}"])
code = st.sampled_from(["\tif x:\n\t\treturn 1\n", "    for i in range(10):\n", "a = [1,2,3]  # c\n", "x\t=\t'\\t'\r\n", "}\n\n\n"])
mixed = st.lists(st.one_of(st.text(max_size=20), mojibake, emoji, cjk, latex, code), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), mixed))
def test_round_trip_arbitrary_unicode(tok, text):
    ids = tok.encode(text, add_special_tokens=False).ids
    assert tok.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), mixed), max_size=8))
def test_batch_encoding_matches_single(tok, texts):
    batch = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
    assert batch == [tok.encode(t, add_special_tokens=False).ids for t in texts]
    assert tok.decode_batch(batch) == texts


# --- digits and CJK boundaries -------------------------------------------------------

_NUM = regex.compile(r"\p{N}")
_LATIN_OR_SPACE = regex.compile(r"[\p{Latin}\s]")
_HAN_RANGE = regex.compile("[一-龥]")

digits_text = st.text(alphabet="0123456789٣①５ x.,-abc中\n", max_size=40)
han_text = st.lists(st.one_of(cjk, st.sampled_from([" ", "  ", "a", "abc", "Z", "\t", "\n", " x", "1", "。", "é"])), max_size=15).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(digits_text, mixed))
def test_digits_are_single_tokens(tok, text):
    for piece in pretokenize_text(text):
        if _NUM.search(piece):
            assert len(piece) == 1, piece
    _, parts = _tokens_text(tok, text)
    for b in parts:
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a fragment of a multi-byte character
        if _NUM.search(s):
            assert len(s) == 1, s


@settings(max_examples=200, deadline=None)
@given(st.one_of(han_text, mixed))
def test_han_run_never_merges_across_space_or_latin(tok, text):
    for piece in pretokenize_text(text):
        if _HAN_RANGE.search(piece):
            assert not _LATIN_OR_SPACE.search(piece), piece
    _, parts = _tokens_text(tok, text)
    for b in parts:
        s = b.decode("utf-8", errors="ignore")
        if _HAN_RANGE.search(s):
            assert not _LATIN_OR_SPACE.search(s), s


def test_learned_cjk_and_words_are_used(tok):
    ids, parts = _tokens_text(tok, "函数 f(x) 在区间")
    assert len(ids) < len("函数 f(x) 在区间".encode())  # merges learned and used
    assert "函数".encode() in parts  # a frequent Han word became one token


# --- special tokens ------------------------------------------------------------------


def test_special_tokens_have_fixed_ids(tok):
    specials = special_tokens(VOCAB)
    assert [i for _, i in specials] == list(range(VOCAB - 256, VOCAB))
    assert [t for t, _ in specials[: len(NAMED_SPECIAL_TOKENS)]] == list(NAMED_SPECIAL_TOKENS)
    assert specials[-1][0] == "<|reserved_special_token_245|>"
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB
    for t, i in specials:
        assert tok.token_to_id(t) == i


def test_special_tokens_only_when_allowed(tok):
    text = "<|User|>hi<think>x</think><tool_call>{}</tool_call><|reserved_special_token_7|><|end_of_text|>"
    tok.encode_special_tokens = False  # allowed: the strings become their ids
    allowed = tok.encode(text, add_special_tokens=False).ids
    tok.encode_special_tokens = True
    plain = tok.encode(text, add_special_tokens=False).ids
    first = VOCAB - 256
    assert allowed[0] == first + 2 and allowed[-1] == first + 1
    assert first + 4 in allowed and first + 6 in allowed and first + 10 + 7 in allowed
    assert all(i < first for i in plain)
    assert tok.decode(plain) == text
    assert tok.decode(allowed, skip_special_tokens=False) == text
    assert tok.decode(allowed) == "hix{}"  # skip_special_tokens drops them


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=10), st.sampled_from(list(NAMED_SPECIAL_TOKENS))), max_size=10).map("".join))
def test_plain_text_never_produces_special_ids(tok, text):
    ids = tok.encode(text, add_special_tokens=False).ids
    assert all(i < VOCAB - 256 for i in ids)
    assert tok.decode(ids) == text


def test_pre_tokenizer_is_the_one_in_the_tokenizer(tok):
    # the tokenizer's pre-tokenizer gives the same pieces as the training pre-tokenizer
    text = "Ab 12 中文，x\t\ty  \n"
    assert tok.pre_tokenizer.pre_tokenize_str(text) == build_pre_tokenizer().pre_tokenize_str(text)


def test_encode_batch_helper(tok):
    from trivium.tokenizer.export import encode_batch

    texts = ["<|User|>hi", "plain 123", "中文<think>"]
    plain = encode_batch(tok, texts)
    allowed = encode_batch(tok, texts, allow_special=True)
    assert all(i < VOCAB - 256 for ids in plain for i in ids)
    assert allowed[0][0] == VOCAB - 256 + 2 and allowed[2][-1] == VOCAB - 256 + 4
    assert [tok.decode(ids) for ids in plain] == texts
    assert tok.encode_special_tokens is True  # restored


def _hf_counts(texts):
    from collections import Counter

    pt = build_pre_tokenizer()
    c = Counter()
    for t in texts:
        c.update(w for w, _ in pt.pre_tokenize_str(t))
    return c


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(), mixed, han_text, st.text(alphabet=st.characters(min_codepoint=0x2000)))), st.integers(1, 3))
def test_fast_counting_equals_the_tokenizers_pre_tokenizer(texts, weight):
    """count_words' regex twin (with its fallback for Unicode-version differences) counts
    exactly the pre-tokens the tokenizers pre-tokenizer produces."""
    expected = _hf_counts(texts)
    got = count_words(texts, weight=weight)
    assert got == {k: v * weight for k, v in expected.items()}


def test_twin_falls_back_on_unicode_version_differences():
    from trivium.tokenizer.pretokenize import install_twin_ranges, twin_ranges, twin_unsafe

    ranges = twin_ranges()
    assert ranges is not None and twin_unsafe() is not None
    if ranges:  # these code points go through tokenizers itself
        a, b = ranges[-1]
        text = f"x{chr(a)}y {chr(b)}1"
        assert twin_unsafe().search(text) is not None
        assert count_words([text]) == _hf_counts([text])
    install_twin_ranges([(0x41, 0x41)])  # as shipped from a Spark driver
    try:
        assert twin_unsafe().search("A") is not None and twin_unsafe().search("b") is None
    finally:
        install_twin_ranges(None)
    assert twin_ranges() == ranges


def test_parallel_counting_equals_serial_and_tokenizers():
    from collections import Counter

    from trivium.tokenizer.train import count_pieces

    texts = _texts(600)
    pieces = [(t, 1 + i % 3) for i, t in enumerate(texts)] + [(texts[0], 5)] * 10  # repeated documents
    parallel = count_pieces(pieces, workers=2, batch_bytes=5_000)  # many batches, two processes
    serial = count_pieces(pieces, workers=1)
    expected: Counter = Counter()
    for t, m in pieces:
        for w, c in _hf_counts([t]).items():
            expected[w] += c * m
    assert parallel == serial == expected
