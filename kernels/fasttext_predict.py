"""fastText supervised prediction in Numba: the answer of `fasttext`'s `predict`, a batch per call.

The `fasttext` binding spends most of its time outside the arithmetic: a stream and a string per
line, a string per character n-gram, Python lists of labels back. Language ID (lid.176: character
2-4-grams, hierarchical softmax) ran at ~350 ns per input character, the classifiers (word
bigrams, softmax) at ~30 µs per line. This module reads the model file itself and runs the same
steps over one UTF-8 buffer, following fastText 0.9.2 step for step (`Dictionary::getLine`,
`computeSubwords`, `pushHash`, `addWordNgrams`, `Model::computeHidden`, the softmax and
hierarchical-softmax `predict`), in float32 as fastText computes:

* a line is `text + "\\n"`, as the Python binding sends it: tokens are runs of bytes other than
  space, \\n, \\r, \\t, \\v, \\f and \\0, and the line ends with the `</s>` token;
* a token hashes with FNV-1a over its bytes read as *signed* chars (fastText's released models
  were trained so); a known word adds its row and its n-gram rows, an unknown one its n-gram rows,
  a token starting with the label prefix adds nothing; word n-grams hash the tokens' int32 hashes;
* the hidden vector is the mean of the rows (product-quantized or dense); the output is the
  softmax over labels or the hierarchical-softmax tree search fastText does for k = 1.

Labels and probabilities equal `fasttext`'s (tests compare every corpus source); a probability can
differ in the last float32 bit where the C library's `exp` and LLVM's disagree. Models with a
loss other than softmax or hierarchical softmax are not handled (`load` raises ValueError).
"""

from __future__ import annotations

import struct

import numba as nb
import numpy as np

_MAGIC, _VERSION = 793712314, 12
_LOSS_HS, _LOSS_SOFTMAX = 1, 3
_KSUB = 256  # centroids per product-quantizer sub-space

# The per-token and per-n-gram helpers take arrays but allocate none: without Numba's reference counting
# (`_nrt=False`) a call passes them as plain pointers; with it, every call paid an atomic increment and
# decrement per array argument, which was most of the time.
_leaf = nb.njit(cache=True, _nrt=False)


class FastTextArrays:
    """A supervised fastText model file as flat arrays (`load`)."""

    def __init__(self, **arrays):
        self.__dict__.update(arrays)


def _read(buf: memoryview, pos: int, fmt: str):
    values = struct.unpack_from("<" + fmt, buf, pos)
    return values, pos + struct.calcsize("<" + fmt)


def _read_matrix(buf: memoryview, pos: int, quantized: bool) -> tuple[dict, int]:
    if not quantized:
        (m, n), pos = _read(buf, pos, "qq")
        rows = np.frombuffer(buf, np.float32, m * n, pos).reshape(m, n)
        return {"dense": rows, "dim": n}, pos + 4 * m * n
    (qnorm, m, n, codesize), pos = _read(buf, pos, "?qqi")
    codes = np.frombuffer(buf, np.uint8, codesize, pos)
    pos += codesize
    (dim, nsubq, dsub, lastdsub), pos = _read(buf, pos, "iiii")
    centroids = np.frombuffer(buf, np.float32, dim * _KSUB, pos)
    pos += 4 * dim * _KSUB
    norms = np.ones(m, np.float32)
    if qnorm:
        norm_codes = np.frombuffer(buf, np.uint8, m, pos)
        pos += m
        (ndim, _, _, _), pos = _read(buf, pos, "iiii")
        norm_centroids = np.frombuffer(buf, np.float32, ndim * _KSUB, pos)
        pos += 4 * ndim * _KSUB
        norms = norm_centroids[norm_codes].astype(np.float32)
    return {"codes": codes.reshape(m, nsubq), "centroids": centroids, "dsub": dsub, "lastdsub": lastdsub,
            "norms": norms, "dim": n, "dense": _dequantize(codes.reshape(m, nsubq), centroids, dsub, lastdsub, norms, n)}, pos


@nb.njit(cache=True)
def _dequantize(codes, centroids, dsub, lastdsub, norms, dim):
    """Each row as `ProductQuantizer::addcode` adds it (alpha * centroid, in float32): adding these rows gives
    the same sums as adding the codes, without decoding them per use."""
    m, nsubq = codes.shape
    out = np.zeros((m, dim), np.float32)
    for row in range(m):
        alpha = norms[row]
        for q in range(nsubq):
            code = np.int64(codes[row, q])
            if q == nsubq - 1:
                base, width = q * _KSUB * dsub + code * lastdsub, lastdsub
            else:
                base, width = (q * _KSUB + code) * dsub, dsub
            for k in range(width):
                out[row, q * dsub + k] = alpha * centroids[base + k]
    return out


def load(path: str) -> FastTextArrays:
    """Parse a `.bin`/`.ftz` supervised model (fastText's format, version 12)."""
    with open(path, "rb") as f:
        data = f.read()
    buf = memoryview(data)
    (magic, version), pos = _read(buf, 0, "ii")
    if magic != _MAGIC or version != _VERSION:
        raise ValueError(f"{path}: not a fastText model of format version {_VERSION}")
    (dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_rate, _t), pos = _read(
        buf, pos, "iiiiiiiiiiiid")
    if model != 3 or loss not in (_LOSS_HS, _LOSS_SOFTMAX):
        raise ValueError(f"{path}: only supervised softmax / hierarchical-softmax models are handled")
    (size, nwords, nlabels, _ntokens, prune_size), pos = _read(buf, pos, "iiiqq")
    words, counts, kinds = [], [], []
    for _ in range(size):
        end = data.index(b"\0", pos)
        words.append(data[pos:end])
        (count, kind), pos = _read(buf, end + 1, "qb")
        counts.append(count)
        kinds.append(kind)
    prune = np.full(bucket if prune_size > 0 else 0, -1, np.int32)
    kept = np.zeros((bucket + 63) // 64 if prune_size > 0 else 0, np.uint64)
    if prune_size > 0:
        pairs = np.frombuffer(buf, np.int32, 2 * prune_size, pos).reshape(-1, 2)
        prune[pairs[:, 0]] = pairs[:, 1]
        np.bitwise_or.at(kept, pairs[:, 0] >> 6, np.left_shift(np.uint64(1), (pairs[:, 0] & 63).astype(np.uint64)))
        pos += 8 * prune_size
    (quant_input,), pos = _read(buf, pos, "?")
    wi, pos = _read_matrix(buf, pos, quant_input)
    (qout,), pos = _read(buf, pos, "?")
    wo, pos = _read_matrix(buf, pos, quant_input and qout)
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} unread bytes after the output matrix")

    word_bytes = np.frombuffer(b"".join(words), np.uint8) if words else np.zeros(0, np.uint8)
    word_offsets = np.zeros(size + 1, np.int64)
    word_offsets[1:] = np.cumsum([len(w) for w in words])
    hashes = np.array([_fnv_py(w) for w in words], np.uint32)
    table = _word_table(hashes)
    m = FastTextArrays(
        dim=dim, word_ngrams=word_ngrams, loss=loss, bucket=bucket, minn=minn, maxn=maxn, nwords=nwords,
        nlabels=nlabels, prune_size=prune_size, prune=prune, kept=kept, word_bytes=word_bytes, word_offsets=word_offsets,
        word_hashes=hashes, word_kinds=np.array(kinds, np.int8), table=table,
        labels=[w.decode("utf-8") for w in words[nwords:]],
        quantized=bool(quant_input), wi=wi, wo=wo,
    )
    m.tree_left, m.tree_right = _tree(np.array(counts[nwords:], np.int64)) if loss == _LOSS_HS else (
        np.zeros(0, np.int32), np.zeros(0, np.int32))
    m.subword_offsets, m.subwords = _word_subwords(m)
    return m


def _fnv_py(word: bytes) -> int:
    h = 2166136261
    for b in word:
        h = ((h ^ (b if b < 128 else b | 0xFFFFFF00)) * 16777619) & 0xFFFFFFFF
    return h


def _word_table(hashes: np.ndarray) -> np.ndarray:
    """Open addressing on the word hash: slot -> word id, -1 empty (size a power of two, half full at most)."""
    size = 1 << max(4, int(2 * len(hashes)).bit_length())
    table = np.full(size, -1, np.int32)
    for i, h in enumerate(hashes.tolist()):
        slot = h & (size - 1)
        while table[slot] != -1:
            slot = (slot + 1) & (size - 1)
        table[slot] = i
    return table


def _tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`HierarchicalSoftmaxLoss::buildTree`: the Huffman tree over labels (counts sorted as the dictionary has them)."""
    osz = len(counts)
    count = np.full(2 * osz - 1, 10**15, np.int64)
    count[:osz] = counts
    left = np.full(2 * osz - 1, -1, np.int32)
    right = np.full(2 * osz - 1, -1, np.int32)
    leaf, node = osz - 1, osz
    for i in range(osz, 2 * osz - 1):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j], leaf = leaf, leaf - 1
            else:
                mini[j], node = node, node + 1
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
    return left, right


def _word_subwords(m: FastTextArrays) -> tuple[np.ndarray, np.ndarray]:
    """`Dictionary::initNgrams`: each word's own row followed by its character n-gram rows."""
    out = np.zeros(64, np.int32)
    offsets = np.zeros(m.nwords + 1, np.int64)
    rows: list[np.ndarray] = []
    eos = b"</s>"
    for i in range(m.nwords):
        w = m.word_bytes[m.word_offsets[i]:m.word_offsets[i + 1]]
        n = 0
        if m.maxn > 0 and w.tobytes() != eos:
            need = 3 * (len(w) + 2) * m.maxn + 1
            if len(out) < need:
                out = np.zeros(need, np.int32)
            n = _subwords(w, 0, len(w), m.minn, m.maxn, m.bucket, m.nwords, m.prune_size, m.prune, m.kept, out, 0,
                          np.empty(len(w) + 2, np.uint8))
        rows.append(np.concatenate(([i], out[:n])).astype(np.int32))
        offsets[i + 1] = offsets[i] + 1 + n
    return offsets, np.concatenate(rows) if rows else np.zeros(0, np.int32)


@_leaf
def _signed_byte(c):
    """A byte as fastText's hash reads it: a signed char widened to uint32 (held in a uint64: Numba widens
    narrower integer arithmetic, so hashes are kept to 32 bits by masking)."""
    x = np.uint64(c)
    return x | np.uint64(0xFFFFFF00) if c >= 128 else x


@_leaf
def _fnv(buf, a, b):
    h = np.uint64(2166136261)
    for i in range(a, b):
        h = ((h ^ _signed_byte(buf[i])) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)
    return h


@_leaf
def _push_hash(out, n, idx, nwords, prune_size, prune, kept):
    """`Dictionary::pushHash`: an n-gram bucket's row (through the pruning map), if it has one. `kept` is
    a bitmap of the buckets the pruning kept: it stays in cache where the map (one int per bucket) does not."""
    if prune_size == 0 or idx < 0:
        return n
    if prune_size > 0:
        if not (kept[idx >> 6] >> np.uint64(idx & 63)) & np.uint64(1):
            return n
        idx = prune[idx]
    out[n] = nwords + idx
    return n + 1


@_leaf
def _subwords(buf, a, b, minn, maxn, bucket, nwords, prune_size, prune, kept, out, n, scratch):
    """`Dictionary::computeSubwords` of "<" + buf[a:b] + ">": character n-grams (UTF-8 aware), each hash
    extending its prefix's. `scratch` holds the bracketed word."""
    length = b - a + 2
    scratch[0] = 60
    for i in range(b - a):
        scratch[i + 1] = buf[a + i]
    scratch[length - 1] = 62
    for i in range(length):
        if (scratch[i] & 0xC0) == 0x80:
            continue
        h = np.uint64(2166136261)
        j = i
        k = 1
        while j < length and k <= maxn:
            h = ((h ^ _signed_byte(scratch[j])) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)
            j += 1
            while j < length and (scratch[j] & 0xC0) == 0x80:
                h = ((h ^ _signed_byte(scratch[j])) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)
                j += 1
            if k >= minn and not (k == 1 and (i == 0 or j == length)):
                n = _push_hash(out, n, np.int64(h) % bucket, nwords, prune_size, prune, kept)
            k += 1
    return n


@_leaf
def _is_space(c):
    return c == 32 or c == 10 or c == 13 or c == 9 or c == 11 or c == 12 or c == 0


@_leaf
def _word_id(buf, a, b, h, table, word_bytes, word_offsets):
    mask = len(table) - 1
    slot = np.int64(h) & mask
    while table[slot] != -1:
        w = table[slot]
        s, e = word_offsets[w], word_offsets[w + 1]
        if e - s == b - a:
            same = True
            for i in range(b - a):
                if word_bytes[s + i] != buf[a + i]:
                    same = False
                    break
            if same:
                return w
        slot = (slot + 1) & mask
    return -1


@_leaf
def _line_rows(buf, a, b, eos, word_ngrams, minn, maxn, bucket, nwords, prune_size, prune, kept, table, word_bytes,
               word_offsets, word_kinds, subword_offsets, subwords, label_prefix, rows, hashes, scratch):
    """`Dictionary::getLine` over buf[a:b] + "\\n": the input rows of one line, written to `rows` (sized by
    the caller for the line's length)."""
    n = 0
    nh = 0
    i = a
    at_end = False
    while not at_end:
        while i < b and _is_space(buf[i]):
            i += 1
        if i < b:
            s = i
            while i < b and not _is_space(buf[i]):
                i += 1
            tok, ta, tb = buf, s, i
        else:
            tok, ta, tb = eos, 0, len(eos)  # the "\\n" the binding appends reads as fastText's </s>
            at_end = True
        h = _fnv(tok, ta, tb)
        wid = _word_id(tok, ta, tb, h, table, word_bytes, word_offsets)
        if wid >= 0:
            is_label = word_kinds[wid] == 1
        else:
            is_label = tb - ta >= len(label_prefix)
            for q in range(len(label_prefix) if is_label else 0):
                if tok[ta + q] != label_prefix[q]:
                    is_label = False
                    break
        if is_label:
            continue
        if wid < 0:
            if not at_end:
                n = _subwords(tok, ta, tb, minn, maxn, bucket, nwords, prune_size, prune, kept, rows, n, scratch)
        elif maxn <= 0:
            rows[n] = wid
            n += 1
        else:
            for q in range(subword_offsets[wid], subword_offsets[wid + 1]):
                rows[n] = subwords[q]
                n += 1
        hashes[nh] = np.int32(np.uint32(h))
        nh += 1
    for p in range(nh):  # Dictionary::addWordNgrams: int32 hashes widened to uint64, as C++ does
        hw = np.uint64(np.int64(hashes[p]))
        for q in range(p + 1, min(nh, p + word_ngrams)):
            hw = hw * np.uint64(116049371) + np.uint64(np.int64(hashes[q]))
            n = _push_hash(rows, n, np.int64(hw % np.uint64(bucket)), nwords, prune_size, prune, kept)
    return n


@_leaf
def _hidden(rows, n, wi, hidden):
    """`Model::computeHidden`: the float32 mean of the input rows, added in order."""
    dim = wi.shape[1]
    for d in range(dim):
        hidden[d] = np.float32(0.0)
    for r in range(n):
        row = rows[r]
        for d in range(dim):
            hidden[d] += wi[row, d]
    scale = np.float32(1.0 / n)
    for d in range(dim):
        hidden[d] *= scale


@_leaf
def _dot(i, hidden, quantized, dense, codes, centroids, dsub, lastdsub, norms, dim):
    """`Matrix::dotRow` of the output matrix, summed in fastText's order."""
    res = np.float32(0.0)
    if quantized:
        nsubq = codes.shape[1]
        for m in range(nsubq):
            code = np.int64(codes[i, m])
            if m == nsubq - 1:
                base = m * _KSUB * dsub + code * lastdsub
                width = lastdsub
            else:
                base = (m * _KSUB + code) * dsub
                width = dsub
            for k in range(width):
                res += hidden[m * dsub + k] * centroids[base + k]
        return res * norms[i]
    for d in range(dim):
        res += dense[i, d] * hidden[d]
    return res


@_leaf
def _std_log(x):
    """fastText's `std_log(real x)`: x arrives as float32, the log is taken in double."""
    return np.float32(np.log(np.float64(np.float32(x)) + 1e-5))


@_leaf
def _hs_best(hidden, left, right, osz, quantized, dense, codes, centroids, dsub, lastdsub, norms, dim, stack_node,
             stack_score):
    """`HierarchicalSoftmaxLoss::dfs` with k = 1 and threshold 0: (leaf, log score), with its pruning and order
    (the stacks hold 2 * osz entries)."""
    floor = _std_log(0.0)
    stack_node[0], stack_score[0] = 2 * osz - 2, np.float32(0.0)
    top = 1
    best, best_score = -1, np.float32(0.0)
    while top > 0:
        top -= 1
        node, score = stack_node[top], stack_score[top]
        if score < floor or (best >= 0 and score < best_score):
            continue
        if left[node] == -1 and right[node] == -1:
            best, best_score = node, score  # an equal score replaces the kept leaf, as fastText's heap does
            continue
        f = _dot(node - osz, hidden, quantized, dense, codes, centroids, dsub, lastdsub, norms, dim)
        f = np.float32(1.0 / np.float64(np.float32(1.0) + np.exp(-f)))
        stack_node[top], stack_score[top] = right[node], score + _std_log(f)
        stack_node[top + 1], stack_score[top + 1] = left[node], score + _std_log(1.0 - np.float64(f))  # explored first
        top += 2
    return best, best_score


@_leaf
def _softmax(hidden, nlabels, quantized, dense, codes, centroids, dsub, lastdsub, norms, dim, out):
    """`SoftmaxLoss::computeOutput`, then each label's reported probability exp(std_log(p))."""
    mx = np.float32(-np.inf)
    for i in range(nlabels):
        out[i] = _dot(i, hidden, quantized, dense, codes, centroids, dsub, lastdsub, norms, dim)
    mx = out[0]
    for i in range(nlabels):
        mx = max(out[i], mx)
    z = np.float32(0.0)
    for i in range(nlabels):
        out[i] = np.exp(out[i] - mx)
        z += out[i]
    for i in range(nlabels):
        out[i] = np.exp(_std_log(out[i] / z))


@nb.njit(cache=True)
def _predict(buf, starts, ends, all_labels, eos, word_ngrams, minn, maxn, bucket, nwords, nlabels, prune_size,
             prune, kept, table, word_bytes, word_offsets, word_kinds, subword_offsets, subwords, label_prefix,
             loss_hs, left, right, wi, quantized_out, wo_dense, wo_codes, wo_centroids, wo_dsub, wo_lastdsub, wo_norms, dim,
             top_label, top_prob, probs):
    hidden = np.zeros(dim, np.float32)
    rows = np.empty(0, np.int32)
    hashes = np.empty(0, np.int32)
    scratch = np.empty(0, np.uint8)
    out = np.empty(nlabels, np.float32)
    stack_node = np.empty(2 * nlabels, np.int64)
    stack_score = np.empty(2 * nlabels, np.float32)
    for d in range(len(starts)):
        a, b = starts[d], ends[d]
        # a token of L bytes adds at most 1 + (L + 2) * maxn rows, and word_ngrams - 1 more
        need = (3 * (b - a) + 8) * (maxn + word_ngrams + 2)
        if len(rows) < need:
            rows = np.empty(2 * need, np.int32)
            hashes = np.empty(2 * need, np.int32)
            scratch = np.empty(2 * need, np.uint8)
        n = _line_rows(buf, a, b, eos, word_ngrams, minn, maxn, bucket, nwords, prune_size, prune, kept, table,
                       word_bytes, word_offsets, word_kinds, subword_offsets, subwords, label_prefix, rows, hashes, scratch)
        top_label[d] = -1
        top_prob[d] = 0.0
        if n == 0:
            continue  # fastText predicts nothing for a line without input rows
        _hidden(rows, n, wi, hidden)
        if loss_hs:
            leaf, score = _hs_best(hidden, left, right, nlabels, quantized_out, wo_dense, wo_codes, wo_centroids,
                                   wo_dsub, wo_lastdsub, wo_norms, dim, stack_node, stack_score)
            if leaf >= 0:
                top_label[d] = leaf
                top_prob[d] = np.exp(score)
            continue
        _softmax(hidden, nlabels, quantized_out, wo_dense, wo_codes, wo_centroids, wo_dsub, wo_lastdsub, wo_norms,
                 dim, out)
        best = 0
        for i in range(nlabels):
            if out[i] >= out[best]:  # ties: the later label, as fastText's heap keeps it
                best = i
        top_label[d] = best
        top_prob[d] = out[best]
        if all_labels:
            for i in range(nlabels):
                probs[d, i] = out[i]


_EOS = np.frombuffer(b"</s>", np.uint8)
_LABEL = np.frombuffer(b"__label__", np.uint8)


def _matrix_args(mat: dict, dim: int) -> tuple:
    empty_f = np.zeros((0, max(dim, 1)), np.float32)
    if "dense" in mat:
        return (False, mat["dense"], np.zeros((0, 1), np.uint8), np.zeros(0, np.float32), 1, 1, np.zeros(0, np.float32))
    return (True, empty_f, mat["codes"], mat["centroids"], mat["dsub"], mat["lastdsub"], mat["norms"])


def _lines_buffer(lines: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for line in lines:
        if "\n" in line:
            raise ValueError("fastText predicts one line at a time: a line contains '\\n'")
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    buf = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buf == 10) if lines else np.zeros(0, np.int64)
    ends = np.append(ends, len(buf)) if lines else ends
    starts = np.concatenate(([0], ends[:-1] + 1)) if lines else ends
    return buf, starts.astype(np.int64), ends.astype(np.int64)


def predict(model: FastTextArrays, lines: list[str], all_labels: bool = False):
    """(top label index per line (-1: no input), its probability, and with `all_labels` every label's
    probability (softmax models only))."""
    if all_labels and model.loss != _LOSS_SOFTMAX:
        raise ValueError("every label's probability is only computed for softmax models")
    buf, starts, ends = _lines_buffer(lines)
    n = len(lines)
    top_label = np.empty(n, np.int32)
    top_prob = np.empty(n, np.float32)
    probs = np.zeros((n if all_labels else 0, model.nlabels), np.float32)
    _predict(buf, starts, ends, all_labels, _EOS, model.word_ngrams, model.minn, model.maxn, model.bucket,
             model.nwords, model.nlabels, model.prune_size, model.prune, model.kept, model.table, model.word_bytes,
             model.word_offsets, model.word_kinds, model.subword_offsets, model.subwords, _LABEL,
             model.loss == _LOSS_HS, model.tree_left, model.tree_right,
             model.wi["dense"], *_matrix_args(model.wo, model.dim), model.dim,
             top_label, top_prob, probs)
    return top_label, top_prob, probs
