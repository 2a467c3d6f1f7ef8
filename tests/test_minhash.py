"""MinHash kernel: reference mode == datasketch bit for bit, fast path == reference, estimates within binomial error."""

from __future__ import annotations

import gzip
import json
import math
import random

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32, sha1_hash64
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from trivium.kernels import minhash as mh

# Latin, CJK, kana, Hangul, Thai, emoji (with ZWJ / variation selector), full-width forms, combining marks,
# punctuation and whitespace of several kinds.
ALPHABET = st.sampled_from(
    list("abcdefghij ABCDEFG 0123456789 .,;:!?'\"-_()\n\t")
    + list("中文維基百科是一個自由的百科全書とうきょうカタカナ한국어ภาษาไทย")
    + [
        "😀",
        "🎉",
        "👍🏽",
        "👨\u200d👩\u200d👧",
        "❤\ufe0f",
        "Ａ",
        "ｂ",
        "１",
        "é",
        "e\u0301",
        "ß",
        "İ",
        "Σ",
        "\u00ad",
        "\u3000",
    ]
)
TEXTS = st.lists(ALPHABET, max_size=120).map("".join)
WORDY = st.lists(
    st.sampled_from(["the", "cat", "sat", "on", "mat", "中", "文", "😀", "Ｆｏｏ", "naïve", ",", " "]), max_size=60
).map(" ".join)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def datasketch_signature(text, params: mh.MinHashParams, hashfunc) -> np.ndarray:
    m = MinHash(num_perm=params.num_perm, seed=params.seed, scheme=params.scheme, hashfunc=hashfunc)
    sh = mh.shingles(text, params.ngram, params.tokenizer)
    if sh:
        m.update_batch(sh)
    return m.hashvalues


def _xxh(params):
    mask = (1 << 64) - 1 if params.scheme == "affine64" else (1 << 32) - 1
    return lambda b: xxhash.xxh64_intdigest(b, params.hash_seed) & mask


# ---- reference mode == datasketch ------------------------------------------------------------


@pytest.mark.parametrize("scheme", mh.SCHEMES)
def test_permutations_are_datasketchs(scheme):
    a, b = mh.permutations(64, 7, scheme)
    m = MinHash(num_perm=64, seed=7, scheme=scheme)
    assert np.array_equal(a, np.asarray(m.permutations[0], dtype=a.dtype))
    assert np.array_equal(b, np.asarray(m.permutations[1], dtype=b.dtype))


@SETTINGS
@given(
    texts=st.lists(st.one_of(TEXTS, WORDY), min_size=1, max_size=4),
    scheme=st.sampled_from(mh.SCHEMES),
    tokenizer=st.sampled_from(mh.TOKENIZERS),
    ngram=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
)
@example(texts=["", "word", "中", "😀", "   ", "Hello, World!"], scheme="affine32", tokenizer="word", ngram=5, seed=1)
def test_reference_equals_datasketch_default_hash(texts, scheme, tokenizer, ngram, seed):
    """datasketch's own default hash functions (SHA-1 based), every scheme."""
    params = mh.MinHashParams(num_perm=32, ngram=ngram, tokenizer=tokenizer, seed=seed, scheme=scheme)
    hashfunc = sha1_hash64 if scheme == "affine64" else sha1_hash32
    ref = mh.signatures(texts, params, mode="reference", hashfunc=hashfunc)
    assert ref.dtype == (np.uint32 if scheme == "affine32" else np.uint64)
    for text, row in zip(texts, ref):
        expected = datasketch_signature(text, params, hashfunc)
        assert expected.dtype == row.dtype
        assert np.array_equal(row, expected), (text, scheme)


@SETTINGS
@given(
    texts=st.lists(st.one_of(TEXTS, WORDY, st.none()), min_size=1, max_size=6),
    scheme=st.sampled_from(mh.SCHEMES),
    tokenizer=st.sampled_from(mh.TOKENIZERS),
    ngram=st.integers(1, 6),
    num_perm=st.integers(1, 130),
    seed=st.integers(0, 2**31 - 1),
)
@example(
    texts=["", None, "one", "中文維基百科", "😀🎉", "a b c d e f g h"],
    scheme="affine64",
    tokenizer="word",
    ngram=5,
    num_perm=112,
    seed=1,
)
def test_fast_path_equals_reference_and_datasketch(texts, scheme, tokenizer, ngram, num_perm, seed):
    """The Numba path == the reference with the same (xxh64) hash == datasketch fed that hash."""
    params = mh.MinHashParams(num_perm=num_perm, ngram=ngram, tokenizer=tokenizer, seed=seed, scheme=scheme)
    fast = mh.signatures(texts, params)
    ref = mh.signatures(texts, params, mode="reference")
    assert fast.dtype == ref.dtype and fast.shape == (len(texts), num_perm)
    assert np.array_equal(fast, ref)
    for text, row in zip(texts, fast):
        assert np.array_equal(row, datasketch_signature(text or "", params, _xxh(params)))


@given(data=st.binary(max_size=300), seed=st.integers(0, 2**64 - 1))
@settings(max_examples=300, deadline=None)
def test_xxh64_kernel_equals_xxhash(data, seed):
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
    assert int(mh.xxh64(buf, 0, len(data), np.uint64(seed))) == xxhash.xxh64_intdigest(data, seed)


def test_band_keys_match_reference():
    params = mh.MinHashParams(num_perm=112)
    sig = mh.signatures(["a b c d e f g", "中文維基百科是一個自由的百科全書", ""], params)
    assert np.array_equal(mh.band_keys(sig, 14, 8), mh.reference_band_keys(sig, 14, 8))
    sig32 = mh.signatures(["a b c d e f g"], mh.MinHashParams(num_perm=64, scheme="affine32"))
    assert np.array_equal(mh.band_keys(sig32, 8, 8), mh.reference_band_keys(sig32, 8, 8))
    with pytest.raises(ValueError):
        mh.band_keys(sig, 15, 8)


# ---- tokenisation rules ----------------------------------------------------------------------


def test_token_rules():
    assert mh.tokens("Hello, WORLD!  ｆｕｌｌ-width") == ["hello", "world", "full", "width"]
    assert mh.tokens("中文維基") == ["中", "文", "維", "基"]  # CJK: one token per character
    assert mh.tokens("I ❤️ NY 😀😀") == ["i", "❤", "ny", "😀", "😀"]  # variation selector ignored
    assert mh.tokens("snake_case soft\u00adhyphen") == ["snake_case", "softhyphen"]
    assert mh.tokens("ab, cd", "char") == ["a", "b", " ", "c", "d"]
    assert mh.shingles("one two", ngram=5) == [b"one two"]  # shorter than n: one shingle of all tokens
    assert mh.shingles("...!!!", ngram=5) == []
    assert mh.shingles("a b c", ngram=2) == [b"a b", b"b c"]


def test_empty_and_punctuation_only_documents_have_no_shingle():
    params = mh.MinHashParams(num_perm=16)
    hashes, offsets = mh.shingle_hashes(["", None, "?!", "word"], params)
    assert mh.empty_mask(offsets).tolist() == [True, True, True, False]
    sig = mh.signatures_from_hashes(hashes, offsets, params)
    assert (sig[:3] == np.iinfo(np.uint64).max).all()


def test_arrow_inputs_sliced_chunked_and_large():
    params = mh.MinHashParams(num_perm=32, ngram=2)
    texts = ["x y z", None, "中文 字", "the quick brown fox", ""]
    expected = mh.signatures(texts, params, mode="reference")
    arr = pa.array(["pad"] + texts, pa.string()).slice(1)
    assert np.array_equal(mh.signatures(arr, params), expected)
    assert np.array_equal(mh.signatures(arr.cast(pa.large_string()), params), expected)
    assert np.array_equal(mh.signatures(pa.chunked_array([texts[:2], texts[2:]]), params), expected)


def test_fast_path_on_corpus_documents(corpus_dir):
    """Real documents (English, Chinese, code): fast == reference."""
    texts = []
    for source in ("enwiki", "zhwiki", "code_python", "zh_poetry"):
        with gzip.open(corpus_dir / source / "part-00000.jsonl.gz", "rt") as f:
            for i, line in enumerate(f):
                if i >= 25:
                    break
                texts.append(json.loads(line)["text"])
    for scheme in mh.SCHEMES:
        params = mh.MinHashParams(num_perm=112, scheme=scheme)
        assert np.array_equal(mh.signatures(texts, params), mh.signatures(texts, params, mode="reference"))


# ---- estimates -------------------------------------------------------------------------------


def test_estimated_jaccard_within_binomial_error():
    """Over pairs spanning the whole similarity range, |estimate - J| stays within the binomial error."""
    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(3000)]
    num_perm = 256
    params = mh.MinHashParams(num_perm=num_perm, ngram=3)
    pairs = []
    for _ in range(120):
        base = [rng.choice(vocab) for _ in range(rng.randint(80, 400))]
        other = list(base)
        frac = rng.random() * 0.6
        for i in rng.sample(range(len(other)), int(frac * len(other))):
            other[i] = rng.choice(vocab)
        pairs.append((" ".join(base), " ".join(other)))
    texts = [t for p in pairs for t in p]
    sig = mh.signatures(texts, params)
    hashes, offsets = mh.shingle_hashes(texts, params)
    z_scores, within_2sigma = [], 0
    for k in range(len(pairs)):
        a, b = 2 * k, 2 * k + 1
        true = mh.jaccard(hashes[offsets[a] : offsets[a + 1]], hashes[offsets[b] : offsets[b + 1]])
        est = mh.estimated_jaccard(sig[a], sig[b])
        sigma = math.sqrt(max(true * (1 - true), 1e-9) / num_perm)
        assert abs(est - true) <= 4 * sigma + 1.0 / num_perm, (true, est)
        within_2sigma += abs(est - true) <= 2 * sigma + 1.0 / num_perm
        z_scores.append((est - true) / sigma if sigma > 1e-4 else 0.0)
    # ~95% of a binomial falls within 2 sigma; allow for the sample size
    assert within_2sigma / len(pairs) >= 0.88
    assert abs(float(np.mean(z_scores))) < 0.4  # unbiased
    sims = [
        mh.jaccard(hashes[offsets[2 * k] : offsets[2 * k + 1]], hashes[offsets[2 * k + 1] : offsets[2 * k + 2]])
        for k in range(len(pairs))
    ]
    assert min(sims) < 0.2 and max(sims) > 0.9  # the sample does span the range


def test_gpu_flag_auto_falls_back_to_cpu():
    params = mh.MinHashParams(num_perm=16)
    cpu = mh.signatures(["a b c d e f"], params)
    assert np.array_equal(mh.signatures(["a b c d e f"], params, device="auto"), cpu)


def test_shingle_sets_and_their_intersections_by_hand():
    # three documents' shingle hashes, with repeats and out of order; the third is empty
    hashes = np.array([5, 3, 5, 9, 3, 9, 7, 1], dtype=np.uint64)
    offsets = np.array([0, 4, 8, 8], dtype=np.int64)
    sets, set_offsets = mh.shingle_sets(hashes, offsets)
    assert sets.tolist() == [3, 5, 9, 1, 3, 7, 9] and set_offsets.tolist() == [0, 3, 7, 7]
    # {3,5,9} & {1,3,7,9} = {3,9}; anything & {} = {}; a set with itself is itself
    got = mh.set_intersections(sets, set_offsets, np.array([0, 0, 1, 1]), np.array([1, 2, 1, 0]))
    assert got.tolist() == [2, 0, 4, 2]
