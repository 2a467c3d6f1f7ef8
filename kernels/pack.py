"""Best-fit-decreasing packing of token runs into fixed-length samples (Ding et al. 2024,
"Fewer Truncations Improve Language Modeling").

Documents longer than the capacity are cut into capacity-sized chunks first; the remainder of a
cut document and every other document become *pieces* that are placed whole, longest first,
into the fullest bin that still has room (a new bin when none has). The fullest fitting bin is
found in O(log C) with a segment tree over remaining capacities 0..C, so packing n pieces costs
O(n log n + n log C). Ties are broken by the caller's order (a stable sort), and bins are
numbered in opening order, so the result is a pure function of (lengths, order, capacity).

`gather_samples` then copies the pieces of each bin out of a flat token array into
fixed-length rows, padded at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

MAX_CAPACITY = 1 << 20  # 1,048,576 tokens


@dataclass(frozen=True)
class Pieces:
    """Runs of tokens to pack: piece i is tokens [start[i], start[i] + length[i]) of document doc[i]."""

    doc: np.ndarray  # int64, index into the caller's documents
    start: np.ndarray  # int64, offset inside the document
    length: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.doc)


@dataclass(frozen=True)
class Packing:
    """`order` lists piece indices bin after bin; bin b holds order[bin_offsets[b]:bin_offsets[b+1]]."""

    pieces: Pieces
    order: np.ndarray  # int64
    bin_offsets: np.ndarray  # int64, n_bins + 1
    bin_fill: np.ndarray  # int64 tokens per bin
    capacity: int

    @property
    def n_bins(self) -> int:
        return len(self.bin_fill)

    @property
    def padding(self) -> int:
        return int(self.n_bins * self.capacity - self.bin_fill.sum())


def cut_documents(lengths: np.ndarray, capacity: int) -> tuple[Pieces, int]:
    """Split documents longer than `capacity` into capacity-sized chunks plus a remainder.

    Returns the pieces (a document's pieces in document order) and the number of documents cut.
    Zero-length documents yield no piece.
    """
    _check_capacity(capacity)
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and lengths.min() < 0:
        raise ValueError("document lengths must be >= 0")
    per_doc = (lengths + capacity - 1) // capacity
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), per_doc)
    first = np.cumsum(per_doc) - per_doc
    k = np.arange(len(doc), dtype=np.int64) - np.repeat(first, per_doc)  # chunk number inside the document
    start = k * capacity
    length = np.minimum(lengths[doc] - start, capacity)
    return Pieces(doc, start, length), int((lengths > capacity).sum())


def best_fit_decreasing(pieces: Pieces, capacity: int) -> Packing:
    """Pack the pieces (none longer than `capacity`) longest first into the fullest bin they fit."""
    _check_capacity(capacity)
    length = np.asarray(pieces.length, dtype=np.int64)
    if length.size and (length.max() > capacity or length.min() <= 0):
        raise ValueError(f"piece lengths must be in 1..{capacity}")
    by_length = np.argsort(-length, kind="stable")
    bin_of, n_bins = _bfd(length[by_length], capacity)
    # pieces of one bin keep their placement order (longest first)
    within = np.argsort(bin_of, kind="stable")
    order = by_length[within]
    counts = np.bincount(bin_of, minlength=n_bins)
    fill = np.bincount(bin_of, weights=length[by_length], minlength=n_bins).astype(np.int64)
    offsets = np.zeros(n_bins + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Packing(pieces, order, offsets, fill, capacity)


def pack_documents(lengths: np.ndarray, capacity: int) -> tuple[Packing, int]:
    """cut_documents + best_fit_decreasing; returns the packing and the number of documents cut."""
    pieces, n_cut = cut_documents(lengths, capacity)
    return best_fit_decreasing(pieces, capacity), n_cut


def _check_capacity(capacity: int) -> None:
    if not 1 <= int(capacity) <= MAX_CAPACITY:
        raise ValueError(f"seq_len must be in 1..{MAX_CAPACITY}, got {capacity}")


@nb.njit(cache=True)
def _bfd(sorted_lengths, capacity):
    """Bin index of every piece; lengths arrive longest first."""
    size = 1
    while size < capacity + 1:
        size *= 2
    tree = np.zeros(2 * size, dtype=np.uint8)  # tree[node] = 1 when some bin in its range has that much room
    head = np.full(capacity + 1, -1, dtype=np.int64)  # bins with exactly r tokens of room: a linked stack
    n = len(sorted_lengths)
    nxt = np.full(n, -1, dtype=np.int64)
    room = np.zeros(n, dtype=np.int64)
    bin_of = np.empty(n, dtype=np.int64)
    n_bins = 0
    for i in range(n):
        need = sorted_lengths[i]
        r = _first_set_at_or_above(tree, size, need)
        if r < 0:
            b = n_bins
            n_bins += 1
            left = capacity - need
        else:
            b = head[r]
            head[r] = nxt[b]
            if head[r] < 0:
                _set(tree, size, r, 0)
            left = r - need
        bin_of[i] = b
        room[b] = left
        if left > 0:  # a full bin never receives another piece
            nxt[b] = head[left]
            head[left] = b
            _set(tree, size, left, 1)
    return bin_of, n_bins


@nb.njit(cache=True, inline="always")
def _set(tree, size, leaf, value):
    node = leaf + size
    tree[node] = value
    node //= 2
    while node >= 1:
        v = tree[2 * node] | tree[2 * node + 1]
        if tree[node] == v:
            break
        tree[node] = v
        node //= 2


@nb.njit(cache=True, inline="always")
def _first_set_at_or_above(tree, size, x):
    """Smallest leaf index >= x whose flag is set, or -1."""
    node = x + size
    if tree[node]:
        return x
    while node > 1:
        if node % 2 == 0 and tree[node + 1]:
            node += 1
            while node < size:
                node = 2 * node if tree[2 * node] else 2 * node + 1
            return node - size
        node //= 2
    return -1


@nb.njit(cache=True)
def _gather(tokens, doc_offsets, p_doc, p_start, p_len, order, bin_offsets, capacity, pad_id, out, seg_lens):
    """Row b of `out` = the pieces of bin b back to back, then `pad_id`; seg_lens gets every piece's
    length in row order and, where a row has padding, one more entry for it."""
    s = 0
    for b in range(len(bin_offsets) - 1):
        pos = 0
        for j in range(bin_offsets[b], bin_offsets[b + 1]):
            p = order[j]
            src = doc_offsets[p_doc[p]] + p_start[p]
            n = p_len[p]
            for t in range(n):
                out[b, pos + t] = tokens[src + t]
            pos += n
            seg_lens[s] = n
            s += 1
        if pos < capacity:
            for t in range(pos, capacity):
                out[b, t] = pad_id
            seg_lens[s] = capacity - pos
            s += 1
    return s


def bin_pieces(packing: Packing, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pieces of `bins` (in that order) as (piece indices, per-bin offsets into them)."""
    bins = np.asarray(bins, dtype=np.int64)
    counts = packing.bin_offsets[bins + 1] - packing.bin_offsets[bins]
    offsets = np.zeros(len(bins) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], counts)
    return packing.order[np.repeat(packing.bin_offsets[bins], counts) + within], offsets


def gather_samples(packing: Packing, tokens: np.ndarray, doc_offsets: np.ndarray, pad_id: int,
                   bins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed-length rows for `bins` of the packing: (samples int32 [n, capacity], segment lengths
    int32 in row order with padding as a trailing segment, segment offsets per row int64 [n+1])."""
    order, local = bin_pieces(packing, bins)
    n = len(local) - 1
    out = np.empty((n, packing.capacity), dtype=np.int32)
    seg_lens = np.empty(len(order) + n, dtype=np.int32)
    p = packing.pieces
    used = _gather(tokens, np.asarray(doc_offsets, np.int64), p.doc, p.start, p.length, order, local,
                   packing.capacity, pad_id, out, seg_lens)
    padded = packing.bin_fill[bins] < packing.capacity
    seg_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.diff(local) + padded, out=seg_offsets[1:])
    return out, seg_lens[:used], seg_offsets
