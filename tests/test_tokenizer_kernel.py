"""The BPE merge kernel (trivium.kernels.bpe) against a naive reference and tokenizers' trainer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trivium.kernels.bpe import BPEKernel, train_merges


def reference_bpe(words, counts, token_bytes, target_vocab, min_frequency=0):
    """Recount every pair at every step; the rule the kernel must follow exactly."""
    words = [list(w) for w in words]
    tb = list(token_bytes)
    index: dict[bytes, int] = {}
    for i, t in enumerate(tb):
        index.setdefault(t, i)
    n_distinct = len(tb)
    merges = []
    while n_distinct < target_vocab:
        pc: dict[tuple[int, int], int] = {}
        for w, c in zip(words, counts):
            for x, y in zip(w, w[1:]):
                pc[(x, y)] = pc.get((x, y), 0) + c
        pc = {k: v for k, v in pc.items() if v > 0}
        if not pc:
            break
        best = min(pc, key=lambda k: (-pc[k], k))  # highest count, then smallest (a, b)
        if pc[best] < max(1, min_frequency):
            break
        a, b = best
        nb = tb[a] + tb[b]
        if nb in index:
            z = index[nb]
        else:
            z = len(tb)
            tb.append(nb)
            index[nb] = z
            n_distinct += 1
        merges.append((a, b, z))
        for w in words:  # left to right, non-overlapping
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i : i + 2] = [z]
                i += 1
    return merges, words


@st.composite
def bpe_inputs(draw):
    alpha = draw(st.integers(1, 5))
    tb = [bytes([97 + i]) for i in range(alpha)]
    # sometimes a "base vocabulary": multi-byte tokens, so words can be segmented two ways
    # and a merge can rebuild the bytes of an existing token
    for a, b in draw(st.lists(st.tuples(st.integers(0, alpha - 1), st.integers(0, alpha - 1)), max_size=4)):
        if tb[a] + tb[b] not in tb:
            tb.append(tb[a] + tb[b])
    n = len(tb)
    words = draw(st.lists(st.lists(st.integers(0, n - 1), min_size=1, max_size=14), min_size=1, max_size=25))
    counts = draw(st.lists(st.integers(0, 6), min_size=len(words), max_size=len(words)))
    target = draw(st.integers(n, n + 50))
    min_freq = draw(st.sampled_from([0, 0, 2, 3]))
    return words, counts, tb, target, min_freq


@settings(max_examples=200, deadline=None)
@given(bpe_inputs())
def test_kernel_matches_reference(inp):
    words, counts, tb, target, min_freq = inp
    expected, _ = reference_bpe(words, counts, tb, target, min_freq)
    got = [tuple(int(x) for x in row) for row in train_merges(words, counts, tb, target, min_freq)]
    assert got == expected


def test_segmentation_and_overlapping_pairs():
    # 'a a a a' with (a, a): left to right gives 'aa aa'; 'a a a' gives 'aa a'
    words = [[0, 0, 0, 0], [0, 0, 0]]
    k = BPEKernel(np.array([0, 4, 7]), np.array([0, 0, 0, 0, 0, 0, 0]), np.array([1, 1]), [b"a"], target_vocab=2)
    k.run()
    assert k.merge_list().tolist() == [[0, 0, 1]]
    assert sorted(k.segmentation()) == sorted([[1, 1], [1, 0]])
    assert k.token_bytes(1) == b"aa"
    ref, segs = reference_bpe(words, [1, 1], [b"a"], 2)
    assert ref == [(0, 0, 1)]


def test_result_with_existing_bytes_reuses_the_id():
    # a base vocabulary segments 'abc' two ways: [a, bc] (x5) and [ab, c] (x3)
    tb = [b"a", b"b", b"c", b"ab", b"bc"]
    words = [[0, 4], [3, 2]]
    counts = [5, 3]
    got = [tuple(map(int, r)) for r in train_merges(words, counts, tb, 10)]
    assert got == [(0, 4, 5), (3, 2, 5)]  # the second merge builds the same bytes: same id 5
    assert got == reference_bpe(words, counts, tb, 10)[0]
    k = BPEKernel(np.array([0, 2, 4]), np.array([0, 4, 3, 2]), np.array(counts), tb, target_vocab=10)
    k.run()
    assert k.n_distinct == 6 and k.new_tokens(5) == [b"abc"]
    assert k.segmentation() == [[5], [5]]


def test_stops_at_target_vocabulary_and_when_pairs_run_out():
    tb = [bytes([i]) for i in range(3)]
    words = [[0, 1, 2, 0, 1, 2, 1]]
    assert len(train_merges(words, [1], tb, 4)) == 1  # 3 tokens + 1 merge
    merges = train_merges(words, [1], tb, 100)
    k = BPEKernel(np.array([0, 7]), np.array(words[0]), np.array([1]), tb, target_vocab=100)
    k.run()
    assert k.finished and len(k.segmentation()[0]) == 1  # merged down to one token
    assert len(merges) == k.n_merges


def test_runs_in_chunks_with_the_same_result():
    rng = np.random.default_rng(0)
    words = [list(rng.integers(0, 6, size=rng.integers(2, 20))) for _ in range(300)]
    counts = list(rng.integers(1, 9, size=300))
    tb = [bytes([i]) for i in range(6)]
    once = train_merges(words, counts, tb, 200)
    lens = np.array([len(w) for w in words])
    offs = np.concatenate([[0], np.cumsum(lens)])
    k = BPEKernel(offs, np.concatenate(words), np.array(counts), tb, target_vocab=200)
    steps = 0
    while not k.finished:
        steps += k.run(7)
    assert steps == len(once)
    assert np.array_equal(k.merge_list(), once)


def test_rejects_symbols_outside_the_vocabulary():
    with pytest.raises(ValueError):
        BPEKernel(np.array([0, 2]), np.array([0, 5]), np.array([1]), [b"a", b"b"], target_vocab=10)


def test_same_merges_as_tokenizers_trainer_on_text():
    """Counts -> kernel gives tokenizers' BpeTrainer merges on the same text."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from trivium.tokenizer.pretokenize import build_pre_tokenizer, count_words
    from trivium.tokenizer.train import TrainConfig, train_from_counts

    rng = np.random.default_rng(7)
    vocab = ["the", " quick", " brown", " fox", "数学", "函数", " x", "=", "1", "2", "\n", "  ", "def", "(", ")", ":", "é", "🎉"]
    texts = ["".join(rng.choice(vocab, size=rng.integers(5, 60))) for _ in range(400)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = build_pre_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=1000, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    import json

    hf = json.loads(tok.to_str())["model"]
    counts = count_words(texts)
    ours = train_from_counts(counts, TrainConfig(vocab_size=1000 + 256))
    assert [list(m) for m in ours.merges] == [list(m) for m in hf["merges"]]
    hf_vocab = [s for s, _ in sorted(hf["vocab"].items(), key=lambda kv: kv[1])]
    assert ours.vocab[: len(hf_vocab)] == hf_vocab


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcdé中 \n", min_size=1, max_size=12), min_size=1, max_size=40), st.integers(0, 2**32 - 1))
def test_apply_merges_is_rank_priority_bpe_like_tokenizers(words, seed):
    """apply_merges (used to segment counts with a base vocabulary) == tokenizers' BPE."""
    from tokenizers import Tokenizer, models

    from trivium.kernels.bpe import apply_merges
    from trivium.tokenizer.pretokenize import bytes_to_symbols
    from trivium.tokenizer.train import _segment_bytes, byte_symbols

    rng = np.random.default_rng(seed)
    sym_words = [bytes_to_symbols(w.encode()) for w in words]
    vocab = byte_symbols()
    index = {s: i for i, s in enumerate(vocab)}
    merges = []
    for _ in range(60):  # random merges between existing tokens
        a, b = vocab[rng.integers(len(vocab))], vocab[rng.integers(len(vocab))]
        if rng.random() < 0.7:  # mostly pairs that occur in the words
            w = sym_words[rng.integers(len(sym_words))]
            if len(w) >= 2:
                k = rng.integers(len(w) - 1)
                a, b = w[k], w[k + 1]
        if a + b in index or (a, b) in merges:
            continue
        index[a + b] = len(vocab)
        vocab.append(a + b)
        merges.append((a, b))
    hf = Tokenizer(models.BPE(vocab=dict(index), merges=merges))
    expected = [e.ids for e in hf.encode_batch(sym_words, add_special_tokens=False)]
    offs, syms = _segment_bytes(sym_words)
    table = np.array([(index[a], index[b], index[a + b]) for a, b in merges], dtype=np.int64).reshape(-1, 3)
    o2, s2 = apply_merges(offs, syms, table)
    got = [s2[o2[i] : o2[i + 1]].tolist() for i in range(len(words))]
    assert got == expected
