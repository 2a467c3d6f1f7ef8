"""Best-fit-decreasing kernel: the fullest-fitting-bin rule, cuts only above seq_len, exact gathers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trivium.kernels.pack import MAX_CAPACITY, cut_documents, gather_samples, pack_documents


def _reference_bfd(lengths: list[int], capacity: int) -> list[int]:
    """Quadratic best-fit decreasing straight from the definition: remaining room of every bin."""
    rooms: list[int] = []
    for n in sorted(lengths, reverse=True):
        fits = [b for b, r in enumerate(rooms) if r >= n]
        if fits:
            b = min(fits, key=lambda b: rooms[b])
            rooms[b] -= n
        else:
            rooms.append(capacity - n)
    return sorted(rooms)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 64), st.lists(st.integers(0, 200), max_size=120))
def test_matches_reference_and_places_every_token_once(capacity, lengths):
    lengths = np.array(lengths, dtype=np.int64)
    packing, n_cut = pack_documents(lengths, capacity)
    assert n_cut == int((lengths > capacity).sum())
    pieces = packing.pieces
    # the remainders (and whole documents) follow the reference rule; full chunks fill a bin alone
    assert sorted((capacity - packing.bin_fill).tolist()) == _reference_bfd(pieces.length.tolist(), capacity)
    assert (packing.bin_fill <= capacity).all() and (packing.bin_fill > 0).all()
    assert sorted(packing.order.tolist()) == list(range(len(pieces)))
    for d in np.flatnonzero(lengths <= capacity):  # a document that fits is never cut
        assert (pieces.doc == d).sum() == (1 if lengths[d] else 0)
    covered = np.zeros(int(lengths.sum()), dtype=int)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for d, a, n in zip(pieces.doc, pieces.start, pieces.length):
        covered[offsets[d] + a : offsets[d] + a + n] += 1
    assert (covered == 1).all()


def test_gather_gives_back_every_token_and_pads_only_the_end():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, 500)
    tokens = rng.integers(0, 128_256, lengths.sum()).astype(np.uint32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    packing, _ = pack_documents(lengths, 256)
    rows, seg_lens, seg_offsets = gather_samples(packing, tokens, offsets, -7, np.arange(packing.n_bins))
    assert rows.shape == (packing.n_bins, 256) and seg_offsets[-1] == len(seg_lens)
    got = {}
    for b in range(packing.n_bins):
        lens = seg_lens[seg_offsets[b] : seg_offsets[b + 1]]
        assert lens.sum() == 256
        members = packing.order[packing.bin_offsets[b] : packing.bin_offsets[b + 1]]
        pos = 0
        for p in members:
            d, a, n = packing.pieces.doc[p], packing.pieces.start[p], packing.pieces.length[p]
            got.setdefault(d, []).append((a, rows[b, pos : pos + n]))
            pos += n
        assert (rows[b, pos:] == -7).all() and (pos == 256) == (len(lens) == len(members))
    for d in range(len(lengths)):
        rebuilt = np.concatenate([t for _, t in sorted(got[d], key=lambda x: x[0])])
        assert np.array_equal(rebuilt, tokens[offsets[d] : offsets[d + 1]].astype(np.int32))


def test_deterministic_and_efficient_on_skewed_lengths():
    lengths = np.random.default_rng(1).lognormal(6.0, 1.4, 20_000).astype(np.int64) + 1
    a, cut_a = pack_documents(lengths, 8192)
    b, cut_b = pack_documents(lengths, 8192)
    assert np.array_equal(a.order, b.order) and np.array_equal(a.bin_offsets, b.bin_offsets) and cut_a == cut_b
    assert 1 - a.padding / (a.n_bins * 8192) > 0.99


@pytest.mark.parametrize("bad", [0, -1, MAX_CAPACITY + 1])
def test_seq_len_out_of_range(bad):
    with pytest.raises(ValueError, match="seq_len must be in 1..1048576"):
        cut_documents(np.array([5]), bad)
