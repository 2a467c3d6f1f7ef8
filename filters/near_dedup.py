"""Near-duplicate logic that needs no Spark: LSH parameters, shingling config, representatives, verification.

* `optimal_bands_rows` picks bands x rows for a Jaccard threshold by minimising the weighted
  integral of false-positive and false-negative probability of the LSH S-curve
  `P(s) = 1 - (1 - s**r)**b` (the rule of datasketch's `MinHashLSH`).
* `NearDedupParams` is the shingling + LSH part of the stage config; it derives the kernel's
  `MinHashParams` and the (bands, rows) actually used.
* `representative_key` orders the members of a cluster: highest quality score if there is one,
  then longest, then smallest id; the first is kept.
* `bucket_star_edges`, `cluster_drops`: LSH candidates and representatives in NumPy, for
  corpora whose band keys fit the driver (the Spark stage gives the same result either way).
* `pair_similarity` / `indexed_pair_similarity`: containment (overlap coefficient) or exact Jaccard
  of the shingle sets of candidate pairs; `components_local` clusters the verified edges.
* Conversations (text null): their messages are rendered to plain text (role, content, tool-call
  names and arguments; the tool schemas are left out because many unrelated conversations share
  them) and deduplicated like any text (`conversations="messages"`), or passed through untouched
  (`conversations="skip"`).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field, model_validator
from trivium.kernels import minhash as mh

NEAR_DUPLICATE = "near_duplicate"
CONTAINMENT_CANDIDATES = 0.25  # LSH target with containment: extraction variants sit at Jaccard 0.2-0.6


def collision_probability(s: float | np.ndarray, bands: int, rows: int):
    """Probability that two documents of Jaccard similarity `s` share at least one band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=float) ** rows) ** bands


def _integral(f, lo: float, hi: float, n: int = 2001) -> float:
    """Composite Simpson's rule (n odd); the integrands are smooth polynomials in s."""
    if hi <= lo:
        return 0.0
    x = np.linspace(lo, hi, n)
    y = f(x)
    h = (hi - lo) / (n - 1)
    return float(h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum()))


def false_positive_area(threshold: float, bands: int, rows: int) -> float:
    return _integral(lambda s: collision_probability(s, bands, rows), 0.0, threshold)


def false_negative_area(threshold: float, bands: int, rows: int) -> float:
    return _integral(lambda s: 1.0 - collision_probability(s, bands, rows), threshold, 1.0)


@lru_cache(maxsize=256)
def optimal_bands_rows(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising fp_weight*FP + fn_weight*FN."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    best, best_err = (1, 1), math.inf
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            err = fp_weight * false_positive_area(threshold, b, r) + fn_weight * false_negative_area(threshold, b, r)
            if err < best_err - 1e-15:
                best, best_err = (b, r), err
    return best


class NearDedupParams(BaseModel):
    """What decides which documents are near-duplicates (shingling, MinHash, LSH, verification)."""

    threshold: float = Field(
        0.8,
        gt=0.0,
        lt=1.0,
        description="similarity to merge at, in the verify measure (containment: shared shingles over the "
        "smaller document's; jaccard, signature and none: Jaccard of the shingle sets)",
    )
    candidate_threshold: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Jaccard the LSH bands are tuned for; default: threshold, or 0.25 with containment "
        "(a short extraction inside a long page has a low Jaccard but a high containment)",
    )
    num_perm: int = Field(112, ge=1, le=1024, description="MinHash permutations (signature length)")
    bands: int | None = Field(None, ge=1, description="LSH bands; with rows, overrides the threshold-derived choice")
    rows: int | None = Field(None, ge=1, description="rows (signature values) per band")
    ngram: int = Field(5, ge=1, description="tokens per shingle (word mode) or code points (char mode)")
    tokenizer: Literal["word", "char"] = Field(
        "word",
        description="word: words, with Han/kana/Thai/... characters and emoji as one token each "
        "(so CJK gets character n-grams); char: code points of the normalised text",
    )
    seed: int = Field(1, description="permutation seed (datasketch's generator)")
    scheme: Literal["affine64", "affine32", "legacy"] = "affine64"
    verify: Literal["containment", "jaccard", "signature", "none"] = Field(
        "containment",
        description="check candidate pairs before merging: containment (overlap coefficient) or Jaccard of "
        "the shingle sets, the signature's Jaccard estimate, or not at all; containment at 0.8 was chosen "
        "from the precision/recall curve of benchmarks/neardup_eval.py",
    )
    fp_weight: float | None = Field(None, ge=0.0, description="weight of false positives when deriving bands/rows")
    fn_weight: float | None = Field(
        None,
        ge=0.0,
        description="weight of false negatives; default 0.5/0.5 without verification and 0.02/0.98 with "
        "it (verification removes false positives, so a missed pair costs more than an extra candidate: "
        "for Jaccard 0.8 and 112 permutations this gives 16 bands x 7 rows, P(candidate | J=0.8) = 0.98; "
        "for containment, candidates at Jaccard 0.25: 56 x 2)",
    )
    conversations: Literal["messages", "skip"] = Field(
        "messages", description="conversation rows: dedup their rendered messages, or pass them through"
    )
    markup: Literal["strip", "keep"] = Field(
        "strip", description="strip: markdown links count by their anchor text and URLs not at all; keep: as written"
    )

    @model_validator(mode="after")
    def _check(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they follow from threshold)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    def weights(self) -> tuple[float, float]:
        default = (0.5, 0.5) if self.verify == "none" else (0.02, 0.98)
        return (
            default[0] if self.fp_weight is None else self.fp_weight,
            default[1] if self.fn_weight is None else self.fn_weight,
        )

    def lsh_threshold(self) -> float:
        """The Jaccard similarity the LSH bands are tuned to catch."""
        if self.candidate_threshold is not None:
            return self.candidate_threshold
        return CONTAINMENT_CANDIDATES if self.verify == "containment" else self.threshold

    def bands_rows(self) -> tuple[int, int]:
        if self.bands is not None:
            return self.bands, self.rows
        return optimal_bands_rows(round(self.lsh_threshold(), 6), self.num_perm, *self.weights())

    def minhash_params(self) -> mh.MinHashParams:
        return mh.MinHashParams(
            num_perm=self.num_perm, ngram=self.ngram, tokenizer=self.tokenizer, seed=self.seed, scheme=self.scheme
        )

    def index_signature(self) -> dict:
        """What must match for band keys of two runs to be comparable."""
        import unicodedata

        b, r = self.bands_rows()
        return {
            "num_perm": self.num_perm,
            "bands": b,
            "rows": r,
            "ngram": self.ngram,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
            "scheme": self.scheme,
            "markup": self.markup,
            "kernel_version": mh.KERNEL_VERSION,
            "unicode": unicodedata.unidata_version,
        }


# ---- documents -> text to shingle --------------------------------------------------------------


def _content_text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


def conversation_text(messages_json: str | None) -> str | None:
    """Plain text of a conversation: role, content and tool calls (name + arguments) per message."""
    if not messages_json:
        return None
    try:
        messages = json.loads(messages_json)
    except (TypeError, ValueError):
        return messages_json
    if not isinstance(messages, list):
        return messages_json
    parts: list[str] = []
    for m in messages:
        if not isinstance(m, dict):
            parts.append(str(m))
            continue
        parts.append(f"{m.get('role', '')}: {_content_text(m.get('content'))}")
        for call in m.get("tool_calls") or []:
            fn = call.get("function", call) if isinstance(call, dict) else {}
            if isinstance(fn, dict):
                parts.append(f"call {fn.get('name', '')} {_content_text(fn.get('arguments'))}")
    return "\n".join(parts)


# Markdown links and bare URLs, as html2text-style extractors leave them: `[anchor](target "title")`
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"\n]*\")?\)")
_URL = re.compile(r"(?:https?://|www\.)\S+")


def strip_markup(text: str) -> str:
    """`text` with markdown links reduced to their anchor text and URLs removed.

    An extractor that writes markdown puts every link's target between the words of the sentence
    (`[Economía](/economia/)`); the tokeniser splits URLs into words, so the same article's 5-grams
    would differ from a plain-text extraction's wherever it links. Anchors stay, targets go.
    """
    if "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    return text


def dedup_text(
    text: str | None, messages: str | None, conversations: str = "messages", markup: str = "strip"
) -> str | None:
    """The text whose shingles represent a document; None = not deduplicated (passed through)."""
    if text is None:
        if conversations == "skip":
            return None
        text = conversation_text(messages)
    return strip_markup(text) if markup == "strip" and text else text


def dedup_texts(texts: pa.Array, messages: pa.Array | None, params: NearDedupParams) -> pa.Array:
    """`dedup_text` over Arrow columns; only the rows that need it (no text, links, URLs) go through Python."""
    need = pc.is_null(texts)
    if params.markup == "strip":
        marked = pc.or_(pc.match_substring(texts, "]("), pc.match_substring(texts, "://"))
        need = pc.or_(need, pc.or_(marked, pc.match_substring(texts, "www.")))
    need = pc.fill_null(need, True)
    if not pc.any(need).as_py():
        return texts
    rows = pc.indices_nonzero(need)
    values = texts.take(rows).to_pylist()
    msgs = messages.take(rows).to_pylist() if messages is not None else [None] * len(values)
    done = [dedup_text(v, m, params.conversations, params.markup) for v, m in zip(values, msgs)]
    return pc.replace_with_mask(texts, need, pa.array(done, texts.type))


# ---- representatives ---------------------------------------------------------------------------


# Per rule, the (field, descending) keys a cluster's members are ordered by; the first is kept. Missing
# (null or NaN) values sort last. The Spark path turns the same list into window order columns.
REPRESENTATIVE_ORDER: dict[str, tuple[tuple[str, bool], ...]] = {
    "quality": (("quality", True), ("length", True), ("id", False)),
    "longest": (("length", True), ("id", False)),
    "smallest_id": (("id", False),),
}
_MEMBER_FIELDS = {"id": 0, "length": 1, "quality": 2}  # positions in a member tuple (id, length, quality)


def member_key(representative: str):
    """Sort key over (id, length, quality) for a `representative` rule: quality, longest or smallest_id."""
    order = [(_MEMBER_FIELDS[name], desc) for name, desc in REPRESENTATIVE_ORDER[representative]]

    def key(member: tuple) -> tuple:
        out: list = []
        for pos, desc in order:
            v = member[pos] if pos < len(member) else None
            missing = v is None or (isinstance(v, float) and math.isnan(v))
            out += [1, 0] if missing else [0, -v if desc else v]  # only numeric fields sort descending
        return tuple(out)

    return key


def representative_key(doc_id: str, length: int, quality: float | None = None) -> tuple:
    """Sort key of a cluster member; the smallest is kept (quality desc, length desc, id asc)."""
    return member_key("quality")((doc_id, length, quality))


def choose_representative(members: list[tuple[str, int, float | None]]) -> str:
    """The id kept of a cluster given (id, length, quality) per member."""
    return min(members, key=lambda m: representative_key(*m))[0]


def cluster_drops(
    roots: dict[int, int], members: dict[int, tuple[str, int, float | None]], representative: str = "quality"
) -> list[tuple[str, str]]:
    """(dropped id, kept id) for every clustered node but its component's representative.

    `roots` maps node -> component root; `members` gives (id, length, quality) per node.
    """
    key = member_key(representative)
    clusters: dict[int, list[tuple[str, int, float | None]]] = {}
    for node, root in roots.items():
        clusters.setdefault(root, []).append(members[node])
    drops = []
    for group in clusters.values():
        kept = min(group, key=key)[0]
        drops += [(m[0], kept) for m in group if m[0] != kept]
    return drops


# ---- LSH buckets -------------------------------------------------------------------------------


def bucket_star_edges(nodes: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate edges (src, dst) of LSH buckets: every member to its bucket's smallest node.

    `keys[i, j]` is node `nodes[i]`'s key in band j; a bucket is (band, key). Edges are unique
    and src != dst, as the Spark path's window over (band, key) gives them.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    src, dst = [], []
    for band in range(keys.shape[1]):
        order = np.lexsort((nodes, keys[:, band]))
        k, n = keys[order, band], nodes[order]
        first = np.ones(len(k), dtype=bool)
        first[1:] = k[1:] != k[:-1]
        smallest = n[np.flatnonzero(first)[np.cumsum(first) - 1]]
        member = ~first
        src.append(n[member])
        dst.append(smallest[member])
    if not src:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(src), np.concatenate(dst)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


# ---- verification ------------------------------------------------------------------------------


def pair_similarity(texts_a, texts_b, params: mh.MinHashParams, measure: str = "jaccard") -> np.ndarray:
    """`measure` ("jaccard" or "containment") of the shingle sets (64-bit shingle hashes) of each pair (a[i], b[i]);
    the texts as lists or Arrow string arrays."""
    n = len(texts_a)
    as_arrow = [t.cast(pa.string()) if isinstance(t, pa.Array) else pa.array(t, pa.string()) for t in (texts_a, texts_b)]
    hashes, offsets = mh.shingle_hashes(pa.concat_arrays(as_arrow), params)
    return indexed_pair_similarity(hashes, offsets, np.arange(n), np.arange(n, 2 * n), measure)


def indexed_pair_similarity(
    hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, measure: str = "jaccard"
) -> np.ndarray:
    """Jaccard or containment of documents a[i] and b[i], given every document's shingle hashes once
    (`hashes[offsets[d]:offsets[d + 1]]`, as `minhash.shingle_hashes` returns them).

    Containment is |A & B| / min(|A|, |B|) (the overlap coefficient): 1.0 when the smaller set is inside
    the larger, as a main-content extraction is inside the same page's full-page text.
    """
    if measure not in ("jaccard", "containment"):
        raise ValueError(f"measure must be jaccard or containment, got {measure!r}")
    sets, set_offsets = mh.shingle_sets(hashes, offsets)
    sizes = np.diff(set_offsets)
    inter = mh.set_intersections(sets, set_offsets, a, b).astype(np.float64)
    size_a, size_b = sizes[a], sizes[b]
    denom = np.minimum(size_a, size_b) if measure == "containment" else size_a + size_b - inter
    # an empty set shares nothing: 0, not 0/0
    return np.divide(inter, denom, out=np.zeros(len(a), dtype=np.float64), where=(size_a > 0) & (size_b > 0))


def components_local(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, roots) of an edge list: hook every root to the smaller one, jump pointers, repeat.

    roots[i] is the smallest node of nodes[i]'s component, as the Spark path's star rounds give it.
    """
    nodes, inv = np.unique(np.concatenate([src, dst]).astype(np.int64), return_inverse=True)
    a, b = inv[: len(src)], inv[len(src) :]
    parent = np.arange(len(nodes))
    while True:
        pa, pb = parent[a], parent[b]
        moved = pa != pb
        if not moved.any():
            break
        np.minimum.at(parent, np.maximum(pa, pb)[moved], np.minimum(pa, pb)[moved])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return nodes, nodes[parent]  # nodes are sorted: the smallest index of a component is its smallest node


def signature_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard per row pair: the fraction of equal signature values."""
    return (sig_a == sig_b).mean(axis=1)
