"""Byte-pair-encoding merge loop over pre-token counts (Numba CPU kernel).

Input: distinct pre-tokens ("words") already segmented into token ids (bytes for training
from scratch, or the segmentation a base vocabulary's merges give), one count per word,
and the byte string of every existing token. Output: the merges learned on top, each as
``(left id, right id, result id)``.

Semantics follow ``tokenizers``' ``BpeTrainer`` so both learn the same merges from the
same counts: at each step the pair with the highest count wins, ties go to the smallest
``(left, right)`` id pair; every occurrence is merged left to right within each word
(``a a a`` with pair ``(a, a)`` gives ``aa a``); a result whose bytes already name a token
reuses that token's id (and does not grow the vocabulary); training stops when the
vocabulary reaches ``target_vocab`` distinct tokens, when no pair is left, or when the
best count falls below ``min_frequency``.

Data structures (all flat NumPy arrays, so one merge costs time proportional to the
occurrences it touches, never a rescan of the corpus):

* symbols of all words in one array with ``prev``/``next`` links (merging unlinks the
  right symbol) and the owning word of each position;
* a pair table (``Dict[(left << 32) | right] -> pair index``) with live counts;
* per pair, a singly linked list of candidate positions (appended when the pair is formed;
  stale entries are skipped when the pair is merged, and a merged pair's list nodes are
  recycled through a free list);
* a binary max-heap of ``(count, pair)`` with lazy invalidation: a popped entry whose count
  is stale is re-pushed with the live count when the count fell, or dropped when it rose
  (every increase pushes a fresh entry).

The kernel runs in chunks (``BPEKernel.run(max_steps)``) so callers can show progress; the
arrays grow between chunks when a merge needs more room. Imports nothing of the project.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict

_I64 = types.int64

# status codes of _merge_steps
DONE = 0  # stop condition reached (target, no pairs, min frequency)
LIMIT = 1  # processed max_steps merges, more may follow
GROW = 2  # needs larger buffers before the next merge

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True)
def _fnv(pool, off, length, h):
    for i in range(length):
        h = (h ^ np.uint64(pool[off + i])) * FNV_PRIME
    return h


@njit(cache=True)
def _token_hash(pool, tok_off, tok_len, t):
    return np.int64(_fnv(pool, tok_off[t], tok_len[t], FNV_OFFSET))


@njit(cache=True)
def _lookup(d, key):
    if key in d:
        return d[key]
    return np.int64(-1)


@njit(cache=True)
def _heap_less(hc, hp, i, j, pa, pb):
    """True when entry i ranks below entry j (max-heap on count, then min (a, b))."""
    ci = hc[i]
    cj = hc[j]
    if ci != cj:
        return ci < cj
    pi = hp[i]
    pj = hp[j]
    if pa[pi] != pa[pj]:
        return pa[pi] > pa[pj]
    return pb[pi] > pb[pj]


@njit(cache=True)
def _heap_swap(hc, hp, i, j):
    c = hc[i]
    hc[i] = hc[j]
    hc[j] = c
    p = hp[i]
    hp[i] = hp[j]
    hp[j] = p


@njit(cache=True)
def _sift_up(hc, hp, i, pa, pb):
    while i > 0:
        parent = (i - 1) >> 1
        if _heap_less(hc, hp, parent, i, pa, pb):
            _heap_swap(hc, hp, parent, i)
            i = parent
        else:
            break


@njit(cache=True)
def _sift_down(hc, hp, i, n, pa, pb):
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        best = left
        right = left + 1
        if right < n and _heap_less(hc, hp, left, right, pa, pb):
            best = right
        if _heap_less(hc, hp, i, best, pa, pb):
            _heap_swap(hc, hp, i, best)
            i = best
        else:
            break


@njit(cache=True)
def _heap_push(hc, hp, n, count, pidx, pa, pb):
    hc[n] = count
    hp[n] = pidx
    _sift_up(hc, hp, n, pa, pb)
    return n + 1


@njit(cache=True)
def _heap_pop(hc, hp, n, pa, pb):
    """Remove the top entry (caller read it at index 0); return the new size."""
    n -= 1
    if n > 0:
        hc[0] = hc[n]
        hp[0] = hp[n]
        _sift_down(hc, hp, 0, n, pa, pb)
    return n


@njit(cache=True)
def _init(word_offsets, word_symbols, word_counts, vocab_cap):
    """Link symbols, count pairs, build the position lists and the heap."""
    n_words = word_offsets.shape[0] - 1
    n_sym = word_symbols.shape[0]
    sym = word_symbols.astype(np.int32).copy()
    nxt = np.empty(n_sym, dtype=np.int32)
    prv = np.empty(n_sym, dtype=np.int32)
    wid = np.empty(n_sym, dtype=np.int32)
    for w in range(n_words):
        s = word_offsets[w]
        e = word_offsets[w + 1]
        for i in range(s, e):
            wid[i] = w
            prv[i] = i - 1 if i > s else -1
            nxt[i] = i + 1 if i + 1 < e else -1
    pair_index = Dict.empty(key_type=_I64, value_type=_I64)
    n_pos_nodes = 0
    for w in range(n_words):
        n_pos_nodes += max(0, word_offsets[w + 1] - word_offsets[w] - 1)
    cap_nodes = max(1024, int(n_pos_nodes * 1.25) + 1024)
    cap_pairs = max(1024, n_pos_nodes // 4 + 1024)
    pa = np.empty(cap_pairs, dtype=np.int32)
    pb = np.empty(cap_pairs, dtype=np.int32)
    pcount = np.zeros(cap_pairs, dtype=np.int64)
    phead = np.full(cap_pairs, -1, dtype=np.int32)
    pstamp = np.full(cap_pairs, -1, dtype=np.int32)
    npos = np.empty(cap_nodes, dtype=np.int32)
    nnext = np.empty(cap_nodes, dtype=np.int32)
    n_pairs = 0
    n_nodes = 0
    # build lists back to front so each list is in ascending position order
    for i in range(n_sym - 1, -1, -1):
        j = nxt[i]
        if j < 0:
            continue
        key = (np.int64(sym[i]) << 32) | np.int64(sym[j])
        p = _lookup(pair_index, key)
        if p < 0:
            if n_pairs >= pa.shape[0]:
                newcap = pa.shape[0] * 2
                pa2 = np.empty(newcap, dtype=np.int32)
                pa2[:n_pairs] = pa[:n_pairs]
                pa = pa2
                pb2 = np.empty(newcap, dtype=np.int32)
                pb2[:n_pairs] = pb[:n_pairs]
                pb = pb2
                pc2 = np.zeros(newcap, dtype=np.int64)
                pc2[:n_pairs] = pcount[:n_pairs]
                pcount = pc2
                ph2 = np.full(newcap, -1, dtype=np.int32)
                ph2[:n_pairs] = phead[:n_pairs]
                phead = ph2
                ps2 = np.full(newcap, -1, dtype=np.int32)
                ps2[:n_pairs] = pstamp[:n_pairs]
                pstamp = ps2
            p = n_pairs
            n_pairs += 1
            pair_index[key] = p
            pa[p] = sym[i]
            pb[p] = sym[j]
        pcount[p] += word_counts[wid[i]]
        npos[n_nodes] = i
        nnext[n_nodes] = phead[p]
        phead[p] = n_nodes
        n_nodes += 1
    cap_heap = max(1024, n_pairs * 2 + 1024)
    hc = np.empty(cap_heap, dtype=np.int64)
    hp = np.empty(cap_heap, dtype=np.int32)
    nh = 0
    for p in range(n_pairs):
        if pcount[p] > 0:
            hc[nh] = pcount[p]
            hp[nh] = p
            nh += 1
    for i in range(nh // 2 - 1, -1, -1):
        _sift_down(hc, hp, i, nh, pa, pb)
    return (sym, nxt, prv, wid, pair_index, pa, pb, pcount, phead, pstamp, n_pairs,
            npos, nnext, n_nodes, hc, hp, nh)


@njit(cache=True)
def _move_occurrence(old_key, x, y, pos, cnt, stamp, pair_index, pa, pb, pcount, phead, pstamp, npos, nnext,
                     free_state, n_pairs, n_nodes):
    """One occurrence (weight ``cnt``, left symbol at ``pos``) leaves pair ``old_key`` for pair (x, y):
    counts move, (x, y) gets the position (a new pair id or list node when needed) and this
    merge's stamp. Returns the updated (n_pairs, n_nodes)."""
    pcount[pair_index[old_key]] -= cnt
    key = (np.int64(x) << 32) | np.int64(y)
    q = _lookup(pair_index, key)
    if q < 0:
        q = n_pairs
        n_pairs += 1
        pair_index[key] = q
        pa[q] = x
        pb[q] = y
        pcount[q] = 0
        phead[q] = -1
    pcount[q] += cnt
    if free_state[0] >= 0:
        nd = free_state[0]
        free_state[0] = nnext[nd]
        free_state[1] -= 1
    else:
        nd = n_nodes
        n_nodes += 1
    npos[nd] = pos
    nnext[nd] = phead[q]
    phead[q] = nd
    pstamp[q] = stamp
    return n_pairs, n_nodes


@njit(cache=True)
def _push_grown(q, stamp, pstamp, pcount, hc, hp, nh, pa, pb):
    """Push pair ``q`` once per merge if this merge added to it (stamp flips to "pushed")."""
    if pstamp[q] == stamp:
        pstamp[q] = -stamp - 1
        if pcount[q] > 0:
            nh = _heap_push(hc, hp, nh, pcount[q], q, pa, pb)
    return nh


@njit(cache=True)
def _merge_steps(
    max_steps, target_vocab, min_frequency,
    sym, nxt, prv, wid, word_counts,
    pair_index, pa, pb, pcount, phead, pstamp, n_pairs,
    npos, nnext, n_nodes, free_state,
    hc, hp, nh,
    tok_pool, pool_used, tok_off, tok_len, n_tok, n_distinct, tok_hash,
    merges, n_merges, scratch,
):
    """Run up to ``max_steps`` merges. Returns status and the updated scalars."""
    steps = 0
    status = LIMIT
    while steps < max_steps:
        if n_distinct >= target_vocab:
            status = DONE
            break
        if nh == 0:
            status = DONE
            break
        c = hc[0]
        p = hp[0]
        cur = pcount[p]
        if cur != c:
            nh = _heap_pop(hc, hp, nh, pa, pb)
            if cur < c and cur > 0:
                nh = _heap_push(hc, hp, nh, cur, p, pa, pb)
            continue
        if c < 1 or c < min_frequency:
            status = DONE
            break
        # room check: collect this pair's candidate positions
        L = 0
        node = phead[p]
        while node >= 0:
            if L >= scratch.shape[0]:
                return GROW, nh, n_pairs, n_nodes, pool_used, n_tok, n_distinct, n_merges, L * 2 + 16
            scratch[L] = npos[node]
            L += 1
            node = nnext[node]
        a = pa[p]
        b = pb[p]
        need = 2 * L + 4
        fresh = max(0, need - free_state[1] - L)  # nodes beyond the free list (this list is freed below)
        if (n_nodes + fresh > npos.shape[0] or nh + need > hc.shape[0] or n_pairs + need > pa.shape[0]
                or n_tok + 1 >= tok_off.shape[0] or merges.shape[0] <= n_merges
                or pool_used + tok_len[a] + tok_len[b] > tok_pool.shape[0]):
            return GROW, nh, n_pairs, n_nodes, pool_used, n_tok, n_distinct, n_merges, need
        nh = _heap_pop(hc, hp, nh, pa, pb)
        # this pair's position list is consumed: its nodes go to the free list
        node = phead[p]
        while node >= 0:
            following = nnext[node]
            nnext[node] = free_state[0]
            free_state[0] = node
            free_state[1] += 1
            node = following
        phead[p] = -1
        # result token: reuse an existing id when the bytes already name a token
        la = tok_len[a]
        lb = tok_len[b]
        h = _fnv(tok_pool, tok_off[a], la, FNV_OFFSET)
        h = np.int64(_fnv(tok_pool, tok_off[b], lb, h))
        z = -1
        existing = _lookup(tok_hash, h)
        if existing >= 0 and tok_len[existing] == la + lb:
            same = True
            eo = tok_off[existing]
            for k in range(la):
                if tok_pool[eo + k] != tok_pool[tok_off[a] + k]:
                    same = False
                    break
            if same:
                for k in range(lb):
                    if tok_pool[eo + la + k] != tok_pool[tok_off[b] + k]:
                        same = False
                        break
            if same:
                z = existing
        if z < 0:
            z = n_tok
            tok_off[z] = pool_used
            tok_len[z] = la + lb
            for k in range(la):
                tok_pool[pool_used + k] = tok_pool[tok_off[a] + k]
            for k in range(lb):
                tok_pool[pool_used + la + k] = tok_pool[tok_off[b] + k]
            pool_used += la + lb
            n_tok += 1
            n_distinct += 1
            if existing < 0:
                tok_hash[h] = z
        merges[n_merges, 0] = a
        merges[n_merges, 1] = b
        merges[n_merges, 2] = z
        n_merges += 1
        stamp = n_merges
        # positions: ascending order matters only for overlapping (a, a) pairs
        if a == b:
            scratch[:L].sort()
        for t in range(L):
            i = scratch[t]
            if sym[i] != a:
                continue
            j = nxt[i]
            if j < 0 or sym[j] != b:
                continue
            cnt = word_counts[wid[i]]
            hprev = prv[i]
            k = nxt[j]
            if hprev >= 0:  # (x, a) -> (x, z)
                x = sym[hprev]
                n_pairs, n_nodes = _move_occurrence(
                    (np.int64(x) << 32) | np.int64(a), x, z, hprev, cnt, stamp, pair_index, pa, pb, pcount,
                    phead, pstamp, npos, nnext, free_state, n_pairs, n_nodes)
            if k >= 0:  # (b, y) -> (z, y)
                y = sym[k]
                n_pairs, n_nodes = _move_occurrence(
                    (np.int64(b) << 32) | np.int64(y), z, y, i, cnt, stamp, pair_index, pa, pb, pcount,
                    phead, pstamp, npos, nnext, free_state, n_pairs, n_nodes)
            # merge in place: i becomes z, j is unlinked
            sym[i] = z
            sym[j] = -1
            nxt[i] = k
            if k >= 0:
                prv[k] = i
        pcount[p] = 0
        # push a fresh heap entry for every pair that grew in this merge
        for t in range(L):
            i = scratch[t]
            if sym[i] != z:
                continue
            hprev = prv[i]
            if hprev >= 0:
                q = pair_index[(np.int64(sym[hprev]) << 32) | np.int64(z)]
                nh = _push_grown(q, stamp, pstamp, pcount, hc, hp, nh, pa, pb)
            k = nxt[i]
            if k >= 0:
                q = pair_index[(np.int64(z) << 32) | np.int64(sym[k])]
                nh = _push_grown(q, stamp, pstamp, pcount, hc, hp, nh, pa, pb)
        steps += 1
    return status, nh, n_pairs, n_nodes, pool_used, n_tok, n_distinct, n_merges, 0


def _grow(arr: np.ndarray, min_size: int, fill=None) -> np.ndarray:
    size = max(min_size, int(arr.shape[0] * 1.5) + 16)
    out = np.empty((size,) + arr.shape[1:], dtype=arr.dtype) if fill is None else np.full(
        (size,) + arr.shape[1:], fill, dtype=arr.dtype
    )
    out[: arr.shape[0]] = arr
    return out


class BPEKernel:
    """Incremental BPE trainer state over segmented, counted words.

    ``word_offsets`` (int64, W+1), ``word_symbols`` (int32, ids into the current
    vocabulary), ``word_counts`` (int64, W); ``token_bytes[i]`` is the byte string of
    token id ``i`` (ids ``0 .. len(token_bytes)-1`` exist already). ``n_distinct`` is the
    number of distinct tokens counted towards ``target_vocab`` (defaults to the number
    of given tokens).
    """

    def __init__(
        self,
        word_offsets: np.ndarray,
        word_symbols: np.ndarray,
        word_counts: np.ndarray,
        token_bytes: list[bytes],
        *,
        target_vocab: int,
        min_frequency: int = 0,
    ) -> None:
        self.word_counts = np.ascontiguousarray(word_counts, dtype=np.int64)
        offs = np.ascontiguousarray(word_offsets, dtype=np.int64)
        syms = np.ascontiguousarray(word_symbols, dtype=np.int32)
        if offs.shape[0] != self.word_counts.shape[0] + 1:
            raise ValueError("word_offsets must have one more entry than word_counts")
        n_tok = len(token_bytes)
        if syms.size and (syms.min() < 0 or syms.max() >= n_tok):
            raise ValueError("word symbol outside the given vocabulary")
        (self.sym, self.nxt, self.prv, self.wid, self.pair_index, self.pa, self.pb, self.pcount,
         self.phead, self.pstamp, self.n_pairs, self.npos, self.nnext, self.n_nodes, self.hc,
         self.hp, self.nh) = _init(offs, syms, self.word_counts, n_tok)
        pool = b"".join(token_bytes)
        self.tok_pool = np.frombuffer(pool, dtype=np.uint8).copy()
        self.tok_pool = _grow(self.tok_pool, max(1024, len(pool) * 2))
        self.pool_used = len(pool)
        lens = np.fromiter((len(t) for t in token_bytes), dtype=np.int64, count=n_tok)
        offsets = np.zeros(n_tok, dtype=np.int64)
        if n_tok:
            offsets[1:] = np.cumsum(lens)[:-1]
        cap_tok = n_tok + 1024
        self.tok_off = np.zeros(cap_tok, dtype=np.int64)
        self.tok_len = np.zeros(cap_tok, dtype=np.int64)
        self.tok_off[:n_tok] = offsets
        self.tok_len[:n_tok] = lens
        self.n_tok = n_tok
        self.n_distinct = n_tok
        self.tok_hash = _build_hash(self.tok_pool, self.tok_off, self.tok_len, n_tok)
        self.target_vocab = int(target_vocab)
        self.min_frequency = int(min_frequency)
        self.merges = np.zeros((1024, 3), dtype=np.int32)
        self.n_merges = 0
        self.scratch = np.zeros(1024, dtype=np.int32)
        self.free_state = np.array([-1, 0], dtype=np.int64)  # free-list head, length
        self.finished = False

    def run(self, max_steps: int = 1 << 62) -> int:
        """Learn up to ``max_steps`` more merges; returns how many were learned."""
        before = self.n_merges
        remaining = max_steps
        while not self.finished and remaining > 0:
            start = self.n_merges
            (status, self.nh, self.n_pairs, self.n_nodes, self.pool_used, self.n_tok, self.n_distinct,
             self.n_merges, need) = _merge_steps(
                remaining, self.target_vocab, self.min_frequency,
                self.sym, self.nxt, self.prv, self.wid, self.word_counts,
                self.pair_index, self.pa, self.pb, self.pcount, self.phead, self.pstamp, self.n_pairs,
                self.npos, self.nnext, self.n_nodes, self.free_state,
                self.hc, self.hp, self.nh,
                self.tok_pool, self.pool_used, self.tok_off, self.tok_len, self.n_tok, self.n_distinct,
                self.tok_hash, self.merges, self.n_merges, self.scratch,
            )
            remaining -= self.n_merges - start
            if status == DONE:
                self.finished = True
            elif status == GROW:
                self._grow(need)
            else:
                break
        return self.n_merges - before

    def _grow(self, need: int) -> None:
        if self.scratch.shape[0] < need:
            self.scratch = _grow(self.scratch, need)
        if self.n_nodes + need > self.npos.shape[0]:
            self.npos = _grow(self.npos, self.n_nodes + need)
            self.nnext = _grow(self.nnext, self.n_nodes + need)
        if self.nh + need > self.hc.shape[0]:
            self.hc = _grow(self.hc, self.nh + need)
            self.hp = _grow(self.hp, self.nh + need)
        if self.n_pairs + need > self.pa.shape[0]:
            m = self.n_pairs + need
            self.pa = _grow(self.pa, m)
            self.pb = _grow(self.pb, m)
            self.pcount = _grow(self.pcount, m, 0)
            self.phead = _grow(self.phead, m, -1)
            self.pstamp = _grow(self.pstamp, m, -1)
        if self.n_tok + 1 >= self.tok_off.shape[0]:
            self.tok_off = _grow(self.tok_off, self.n_tok + 1024, 0)
            self.tok_len = _grow(self.tok_len, self.n_tok + 1024, 0)
        if self.merges.shape[0] <= self.n_merges:
            self.merges = _grow(self.merges, self.n_merges + 1024)
        longest = int(self.tok_len[: self.n_tok].max()) if self.n_tok else 0
        if self.pool_used + 2 * longest + 16 > self.tok_pool.shape[0]:
            self.tok_pool = _grow(self.tok_pool, self.pool_used + 2 * longest + 1024)

    # --- results -----------------------------------------------------------------------

    def merge_list(self) -> np.ndarray:
        """Learned merges as an (n, 3) int32 array of (left, right, result) ids."""
        return self.merges[: self.n_merges].copy()

    def token_bytes(self, t: int) -> bytes:
        o = int(self.tok_off[t])
        return self.tok_pool[o : o + int(self.tok_len[t])].tobytes()

    def new_tokens(self, first: int) -> list[bytes]:
        """Byte strings of the tokens created from id ``first`` on."""
        return [self.token_bytes(t) for t in range(first, self.n_tok)]

    def segmentation(self) -> list[list[int]]:
        """Current token ids of every word (for tests)."""
        out = []
        starts = np.flatnonzero(self.prv == -1)
        for s in starts:
            seq = []
            i = int(s)
            while i >= 0:
                seq.append(int(self.sym[i]))
                i = int(self.nxt[i])
            out.append(seq)
        return out


@njit(cache=True)
def _build_hash(pool, tok_off, tok_len, n_tok):
    d = Dict.empty(key_type=_I64, value_type=_I64)
    for t in range(n_tok):
        h = _token_hash(pool, tok_off, tok_len, t)
        if h not in d:
            d[h] = t
    return d


def train_merges(
    words: list[list[int]],
    counts: list[int],
    token_bytes: list[bytes],
    target_vocab: int,
    min_frequency: int = 0,
) -> np.ndarray:
    """Convenience wrapper: learn merges for small inputs given as Python lists."""
    lens = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    offs = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lens, out=offs[1:])
    syms = np.fromiter((s for w in words for s in w), dtype=np.int32, count=int(offs[-1]))
    k = BPEKernel(offs, syms, np.asarray(counts, dtype=np.int64), token_bytes,
                  target_vocab=target_vocab, min_frequency=min_frequency)
    k.run()
    return k.merge_list()


# --- applying known merges (rank-priority BPE, as encoders do) ------------------------------


@njit(cache=True)
def _merge_table(left, right, result):
    d = Dict.empty(key_type=_I64, value_type=_I64)
    for r in range(left.shape[0]):
        key = (np.int64(left[r]) << 32) | np.int64(right[r])
        if key not in d:  # the first (lowest) rank of a pair wins
            d[key] = (np.int64(r) << 32) | np.int64(result[r])
    return d


@njit(cache=True)
def _segment(word_offsets, word_symbols, table):
    n_words = word_offsets.shape[0] - 1
    out = np.empty(word_symbols.shape[0], dtype=np.int32)
    out_offsets = np.zeros(n_words + 1, dtype=np.int64)
    none = np.int64(1) << 62
    pos = 0
    maxlen = 0
    for w in range(n_words):
        maxlen = max(maxlen, word_offsets[w + 1] - word_offsets[w])
    s = np.empty(max(maxlen, 1), dtype=np.int64)
    rk = np.empty(max(maxlen, 1), dtype=np.int64)
    for w in range(n_words):
        a = word_offsets[w]
        n = word_offsets[w + 1] - a
        for i in range(n):
            s[i] = word_symbols[a + i]
        for i in range(n - 1):
            key = (s[i] << 32) | s[i + 1]
            rk[i] = table[key] if key in table else none
        while n > 1:
            best = 0
            for i in range(1, n - 1):
                if rk[i] < rk[best]:
                    best = i
            if rk[best] == none:
                break
            s[best] = rk[best] & 0xFFFFFFFF
            for i in range(best + 1, n - 1):  # drop symbol best+1
                s[i] = s[i + 1]
                rk[i] = rk[i + 1]
            n -= 1
            if best > 0:
                key = (s[best - 1] << 32) | s[best]
                rk[best - 1] = table[key] if key in table else none
            if best < n - 1:
                key = (s[best] << 32) | s[best + 1]
                rk[best] = table[key] if key in table else none
        for i in range(n):
            out[pos + i] = s[i]
        pos += n
        out_offsets[w + 1] = pos
    return out_offsets, out[:pos].copy()


def apply_merges(
    word_offsets: np.ndarray, word_symbols: np.ndarray, merges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Segment words with ranked merges ``(left, right, result)`` (row = rank).

    Standard BPE encoding: repeatedly merge the adjacent pair of lowest rank (leftmost on
    ties) until none applies. Returns the new offsets and symbols.
    """
    merges = np.asarray(merges, dtype=np.int64).reshape(-1, 3)
    table = _merge_table(merges[:, 0].copy(), merges[:, 1].copy(), merges[:, 2].copy())
    return _segment(np.ascontiguousarray(word_offsets, dtype=np.int64), np.ascontiguousarray(word_symbols, dtype=np.int64), table)
