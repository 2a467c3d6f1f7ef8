"""Tokenize once: documents -> token runs that every packing (8K, 32K, 128K) reuses.

A token store row is one document: `id`, `source`, `bucket` (the mixture's `bucket`, else `domain`),
`epoch` (a repeated document is a distinct row), `n_tokens`, `tokens` and `loss_spans`.
`tokens` is binary: the document's token ids as little-endian uint32 (vocabularies of 128,256
ids do not fit uint16) followed by `<|end_of_text|>`. Read as an Arrow binary column, the store
is literally one flat uint32 array plus per-document offsets (`StoreArrays`), with no copy.
`loss_spans` are half-open token positions that count toward the loss; null means all of them.

Encoding runs over Arrow batches with the exact tiktoken twin of the tokenizer (`fast_encode`: the
same ids, several times faster) and the `tokenizers` batch encoder for whatever the twin cannot
vouch for; rows that cannot be encoded get a quarantine reason instead of an exception.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .special_tokens import EOS

TOKEN_DTYPE = np.dtype("<u4")
LOSS_SPAN_TYPE = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64())]))
STORE_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("source", pa.string()),
    ("bucket", pa.string()),
    ("epoch", pa.int64()),
    ("n_tokens", pa.int64()),
    ("tokens", pa.binary()),
    ("loss_spans", LOSS_SPAN_TYPE),
])

NULL_TEXT = "null_text"
OUT_OF_VOCAB = "token_id_out_of_vocab"
BAD_LOSS_SPANS = "bad_loss_spans"


@dataclass(frozen=True)
class TokenizerSpec:
    """What a Spark task needs to rebuild the tokenizer, and what the manifests record of it."""

    json: str
    sha256: str
    eos_id: int
    vocab_size: int

    def load(self):
        return _cached_tokenizer(self.json, self.sha256)

    def fast_encoder(self):
        """The exact tiktoken twin of the tokenizer (`fast_encode`), or None where it cannot be exact."""
        if self.sha256 not in _FAST:
            from .fast_encode import FastEncoder

            _FAST.clear()
            _FAST[self.sha256] = FastEncoder.build(self.load(), self.json)
        return _FAST[self.sha256]


def read_tokenizer_dir(path: str, eos_token: str | None = None) -> TokenizerSpec:
    """`tokenizer.json` of a `trivium tokenizer train` directory (local or s3://).

    The end-of-document token is `eos_token`, else `tokenizer_config.json`'s `eos_token`, else
    `<|end_of_text|>`; a tokenizer without it is an error. The vocabulary size (the model's
    embedding rows; a larger id quarantines its document) is `trivium_tokenizer.json`'s
    `vocab_size` where training recorded it, else the tokenizer's own count.
    """
    import fsspec
    from tokenizers import Tokenizer

    tok_path = path if path.endswith(".json") else posixpath.join(path, "tokenizer.json")
    fs, p = fsspec.core.url_to_fs(tok_path)
    if not fs.exists(p):
        raise FileNotFoundError(f"no tokenizer.json at {tok_path} (train one with `trivium tokenizer train`)")
    raw = fs.cat_file(p)
    folder = posixpath.dirname(p)
    if eos_token is None:
        eos = _json_field(fs, posixpath.join(folder, "tokenizer_config.json"), "eos_token") or EOS
        eos_token = eos.get("content") if isinstance(eos, dict) else eos
    try:
        tok = Tokenizer.from_str(raw.decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - the tokenizers error names what is wrong
        raise ValueError(f"{tok_path} is not a valid tokenizer.json: {e}") from None
    eos_id = tok.token_to_id(eos_token)
    if eos_id is None:
        raise ValueError(f"tokenizer {tok_path} has no end-of-document token {eos_token!r}")
    vocab_size = _json_field(fs, posixpath.join(folder, "trivium_tokenizer.json"), "vocab_size")
    return TokenizerSpec(raw.decode("utf-8"), hashlib.sha256(raw).hexdigest(), eos_id,
                         int(vocab_size or tok.get_vocab_size(with_added_tokens=True)))


def _json_field(fs, path: str, key: str):
    return json.loads(fs.cat_file(path)).get(key) if fs.exists(path) else None


_TOKENIZERS: dict[str, object] = {}
_FAST: dict[str, object] = {}


def _cached_tokenizer(text: str, sha: str):
    """One tokenizer per worker process: a reused Spark worker parses tokenizer.json once."""
    tok = _TOKENIZERS.get(sha)
    if tok is None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(text)
        tok.encode_special_tokens = True  # special-token strings in documents stay plain text
        _TOKENIZERS.clear()
        _TOKENIZERS[sha] = tok
    return tok


def char_spans_to_tokens(starts: np.ndarray, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans -> token spans: a token counts when it starts inside a span."""
    out = []
    for a, b in spans:
        ta, tb = int(np.searchsorted(starts, a, "left")), int(np.searchsorted(starts, b, "left"))
        if tb > ta:
            out.append((ta, tb))
    return out


def _valid_spans(spans, n_chars: int) -> bool:
    return all(s is not None and s.get("start") is not None and s.get("end") is not None
               and 0 <= s["start"] <= s["end"] <= n_chars for s in spans)


def encode_batch(spec: TokenizerSpec, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[str | None]]:
    """Tokenize one batch of documents (`id`, `text`, `source`, optional `bucket`/`domain`, `epoch`,
    `loss_spans`) into token-store rows; returns the rows and a quarantine reason per row."""
    tok = spec.load()
    n = batch.num_rows
    cols = batch.schema.names
    texts = batch.column("text").to_pylist()
    spans_in = batch.column("loss_spans").to_pylist() if "loss_spans" in cols else [None] * n
    reasons: list[str | None] = [None] * n
    for i, t in enumerate(texts):
        if t is None:
            reasons[i] = NULL_TEXT
        elif spans_in[i] is not None and not _valid_spans(spans_in[i], len(t)):
            reasons[i] = BAD_LOSS_SPANS
    plain = [i for i in range(n) if reasons[i] is None and spans_in[i] is None]
    spanned = [i for i in range(n) if reasons[i] is None and spans_in[i] is not None]
    ids: list[list[int] | None] = [None] * n
    token_spans: list[list[tuple[int, int]] | None] = [None] * n
    if plain:
        fast = spec.fast_encoder()
        got = fast.encode([texts[i] for i in plain]) if fast is not None else [None] * len(plain)
        rest = [k for k, g in enumerate(got) if g is None]  # what the fast encoder cannot vouch for
        for k, e in zip(rest, tok.encode_batch_fast([texts[plain[k]] for k in rest], add_special_tokens=False)):
            got[k] = e.ids
        for i, g in zip(plain, got):
            ids[i] = g
    if spanned:  # offsets cost time: only documents with loss spans pay for them
        for i, e in zip(spanned, tok.encode_batch([texts[i] for i in spanned], add_special_tokens=False)):
            ids[i] = e.ids
            starts = np.fromiter((o[0] for o in e.offsets), dtype=np.int64, count=len(e.offsets))
            tspans = char_spans_to_tokens(starts, [(s["start"], s["end"]) for s in spans_in[i]])
            if any(s["end"] == len(texts[i]) and s["end"] > s["start"] for s in spans_in[i]):
                tspans = _extend_to(tspans, len(e.ids) + 1)  # a span reaching the end owns the EOS too
            token_spans[i] = tspans
    lengths = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if ids[i] is not None:
            lengths[i] = len(ids[i]) + 1
    eos = np.array([spec.eos_id], dtype=np.int64)
    runs = [np.asarray(run, dtype=np.int64) for i in range(n) if ids[i] is not None for run in (ids[i], eos)]
    flat = np.concatenate(runs) if runs else np.zeros(0, np.int64)
    if flat.size:
        offs = np.concatenate([[0], np.cumsum(lengths)])
        too_big = np.maximum.reduceat(flat, offs[:-1][lengths > 0]) >= spec.vocab_size
        for i, bad in zip(np.flatnonzero(lengths > 0), too_big):
            if bad:
                reasons[i] = OUT_OF_VOCAB
    keep = np.array([r is None for r in reasons], dtype=bool)
    if flat.size and not keep.all():
        flat = flat[np.repeat(keep, lengths)]
    lengths = np.where(keep, lengths, 0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths * TOKEN_DTYPE.itemsize, out=offsets[1:])
    tokens = pa.Array.from_buffers(pa.binary(), n, [pa.py_buffer(np.packbits(keep, bitorder="little")),
                                                    pa.py_buffer(offsets),
                                                    pa.py_buffer(flat.astype(TOKEN_DTYPE).tobytes())])
    bucket = next((c for c in ("bucket", "domain") if c in cols), None)  # the mixture's bucket, else the domain stage's
    rows = pa.RecordBatch.from_arrays([
        batch.column("id").cast(pa.string()),
        batch.column("source").cast(pa.string()) if "source" in cols else pa.nulls(n, pa.string()),
        batch.column(bucket).cast(pa.string()) if bucket else pa.nulls(n, pa.string()),
        batch.column("epoch").cast(pa.int64()) if "epoch" in cols else pa.nulls(n, pa.int64()),
        pa.array(lengths, pa.int64(), mask=~keep),
        tokens,
        pa.array([[{"start": a, "end": b} for a, b in s] if s is not None and k else None
                  for s, k in zip(token_spans, keep)], LOSS_SPAN_TYPE),
    ], schema=STORE_SCHEMA)
    return rows, reasons


def _extend_to(spans: list[tuple[int, int]], end: int) -> list[tuple[int, int]]:
    if spans and spans[-1][1] == end - 1:
        return spans[:-1] + [(spans[-1][0], end)]
    return spans + [(end - 1, end)]


@dataclass(frozen=True)
class StoreArrays:
    """A slice of the token store in packing form: document i is tokens[offsets[i]:offsets[i+1]]."""

    tokens: np.ndarray  # uint32
    offsets: np.ndarray  # int64, n_docs + 1
    table: pa.Table  # the rows (id, source, bucket, epoch, n_tokens, loss_spans), tokens dropped

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def store_arrays(table: pa.Table) -> StoreArrays:
    """The flat uint32 tokens and per-document offsets of store rows (zero-copy for one chunk)."""
    col = table.column("tokens").combine_chunks()
    if col.null_count:
        raise ValueError("token store rows without tokens")
    _, offs_buf, data_buf = col.buffers()
    wide = pa.types.is_large_binary(col.type)
    offs = np.frombuffer(offs_buf, dtype=np.int64 if wide else np.int32)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    base, end = int(offs[0]), int(offs[-1])
    if (end - base) % TOKEN_DTYPE.itemsize or np.any(offs % TOKEN_DTYPE.itemsize != base % TOKEN_DTYPE.itemsize):
        raise ValueError("token store rows are not whole uint32 runs")
    tokens = data[base:end].view(TOKEN_DTYPE)
    offsets = (offs.astype(np.int64) - base) // TOKEN_DTYPE.itemsize
    lengths = np.diff(offsets)
    if not np.array_equal(lengths, table.column("n_tokens").to_numpy(zero_copy_only=False)):
        raise ValueError("token store rows whose n_tokens disagree with their tokens")
    return StoreArrays(tokens, offsets, table.drop_columns(["tokens"]))
