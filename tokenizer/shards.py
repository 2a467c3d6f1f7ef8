"""Packed shards: what the training cluster reads.

Every shard is one `.bin` of int32 tokens (Megatron-Core's layout; ids < 2**31 so the bytes are
also the uint32 ids), `seq_len` tokens per packed sample, plus one or both indexes:

* `megatron` -> `.idx` in Megatron-Core's `MMIDIDX` layout, version 1, dtype code 4 (int32).
  One packed sample is one Megatron *document* whose *sequences* are its pieces, padding (if
  any) being the last one, so `IndexedDataset` sees where every document starts and ends.
* `trivium` -> `.trv`, an uncompressed `.npz`: per-sample segment offsets (`seg_offsets`,
  the same numbers as Megatron's document indices), `seg_lens`, `seg_doc` (xxh64 of the
  document's id and epoch, 0 for padding), `seg_start` (the piece's offset inside its
  document, -1 for padding), and the loss ranges of every sample (`loss_offsets`,
  `loss_ranges`: sample-relative half-open token ranges; padding is never in one). The loader
  turns these into `cu_seqlens`, `position_ids` (reset at every document) and the loss mask.

The shard manifest (`_manifest.json` of the packed folder, written last) lists every file with
its sha256 and the packing statistics.
"""

from __future__ import annotations

import hashlib
import io as _io
import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field

from trivium.kernels.pack import Packing, bin_pieces, gather_samples

from .token_store import StoreArrays

MEGATRON_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_VERSION = 1
MEGATRON_INT32 = 4
TRIVIUM_INDEX_VERSION = 1
FORMATS = ("megatron", "trivium", "both")
Format = Literal["megatron", "trivium", "both"]


class ShardFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str  # relative to the packed folder
    bytes: int
    sha256: str


class Shard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    samples: int
    tokens: int  # non-padding tokens
    files: list[ShardFile]


class ShardManifest(BaseModel):
    """The packed folder's commit record; the loader trusts only the shards it lists."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["trivium.packed"] = "trivium.packed"
    version: int = 1
    format: Format
    seq_len: int
    pad_id: int
    eos_id: int
    tokenizer_sha256: str
    vocab_size: int
    token_store: str  # the token store's folder
    token_store_fingerprint: str
    config_hash: str
    seed: int
    documents: int
    documents_cut: int  # documents longer than seq_len, the only ones cut
    samples: int
    tokens: int  # non-padding tokens
    padding_tokens: int
    padding_fraction: float
    tokens_per_source: dict[str, int] = Field(default_factory=dict)
    tokens_per_bucket: dict[str, int] = Field(default_factory=dict)
    shards: list[Shard] = Field(default_factory=list)
    wall_s: float = 0.0

    def files(self) -> list[ShardFile]:
        return [f for s in self.shards for f in s.files]


def doc_keys(ids: list[str], epochs: list[int | None]) -> np.ndarray:
    """xxh64 of (id, epoch): how a shard names the document a piece came from (never 0)."""
    keys = np.fromiter((xxhash.xxh64_intdigest(f"{i}\x1f{'' if e is None else e}") for i, e in zip(ids, epochs)),
                       dtype=np.uint64, count=len(ids))
    keys[keys == 0] = 1
    return keys


@dataclass
class PackedShard:
    """Rows `[n, seq_len]` of tokens with their segments and loss ranges."""

    samples: np.ndarray  # int32 [n, seq_len]
    seg_lens: np.ndarray  # int32
    seg_offsets: np.ndarray  # int64 [n + 1]
    seg_doc: np.ndarray  # uint64
    seg_start: np.ndarray  # int64
    loss_offsets: np.ndarray  # int64 [n + 1]
    loss_ranges: np.ndarray  # int32 [m, 2]

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_tokens(self) -> int:
        return int(self.seg_lens[self.seg_doc != 0].sum())

    def bin_bytes(self) -> memoryview:
        return memoryview(np.ascontiguousarray(self.samples, dtype="<i4")).cast("B")

    def megatron_index(self) -> bytes:
        lens = self.seg_lens.astype("<i4")
        pointers = np.zeros(len(lens), dtype="<i8")
        np.cumsum(lens[:-1].astype(np.int64) * 4, out=pointers[1:])
        return b"".join([
            MEGATRON_HEADER,
            struct.pack("<Q", MEGATRON_VERSION),
            struct.pack("<B", MEGATRON_INT32),
            struct.pack("<Q", len(lens)),
            struct.pack("<Q", len(self.seg_offsets)),
            lens.tobytes(),
            pointers.tobytes(),
            self.seg_offsets.astype("<i8").tobytes(),
        ])

    def trivium_index(self, seq_len: int) -> bytes:
        buf = _io.BytesIO()
        np.savez(buf, version=np.int64(TRIVIUM_INDEX_VERSION), seq_len=np.int64(seq_len),
                 seg_offsets=self.seg_offsets, seg_lens=self.seg_lens, seg_doc=self.seg_doc,
                 seg_start=self.seg_start, loss_offsets=self.loss_offsets, loss_ranges=self.loss_ranges)
        return buf.getvalue()


def build_shard(packing: Packing, store: StoreArrays, keys: np.ndarray, pad_id: int, bins: np.ndarray) -> PackedShard:
    """The packed rows for `bins` (bin numbers) of a packing over the documents of `store`."""
    samples, seg_lens, seg_offsets = gather_samples(packing, store.tokens, store.offsets, pad_id, bins)
    n, cap = samples.shape
    order, _ = bin_pieces(packing, bins)
    is_pad = np.zeros(len(seg_lens), dtype=bool)
    padded = packing.bin_fill[bins] < cap
    is_pad[seg_offsets[1:][padded] - 1] = True
    piece_doc = np.full(len(seg_lens), -1, dtype=np.int64)
    piece_start = np.full(len(seg_lens), -1, dtype=np.int64)
    piece_doc[~is_pad] = packing.pieces.doc[order]
    piece_start[~is_pad] = packing.pieces.start[order]
    seg_doc = np.where(is_pad, np.uint64(0), keys[np.maximum(piece_doc, 0)])
    seg_sample = np.repeat(np.arange(n), np.diff(seg_offsets))
    seg_pos = (np.cumsum(seg_lens, dtype=np.int64) - seg_lens) - seg_sample * cap

    loss_offsets, loss_ranges = _loss_ranges(store, piece_doc, piece_start, seg_lens, seg_pos, seg_sample, n)
    return PackedShard(samples, seg_lens, seg_offsets, seg_doc, np.where(is_pad, -1, piece_start),
                       loss_offsets, loss_ranges)


def _loss_ranges(store: StoreArrays, piece_doc, piece_start, seg_lens, seg_pos, seg_sample, n):
    """Sample-relative loss ranges: a whole piece where its document has no loss spans (the common
    case, vectorised), else the piece's intersection with each span."""
    spans_col = store.table.column("loss_spans")
    has_spans = ~np.asarray(spans_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    real = piece_doc >= 0
    whole = real & ~has_spans[np.maximum(piece_doc, 0)]
    sample = [seg_sample[whole]]
    lo, hi = [seg_pos[whole]], [seg_pos[whole] + seg_lens[whole]]
    partial = np.flatnonzero(real & ~whole)
    if partial.size:
        spans = spans_col.to_pylist()
        extra = []
        for s in partial:
            a, ln, pos = piece_start[s], int(seg_lens[s]), int(seg_pos[s])
            for sp in spans[piece_doc[s]]:
                x, y = max(sp["start"], a), min(sp["end"], a + ln)
                if y > x:
                    extra.append((seg_sample[s], pos + x - a, pos + y - a))
        if extra:
            e = np.array(extra, dtype=np.int64)
            sample.append(e[:, 0]), lo.append(e[:, 1]), hi.append(e[:, 2])
    sample, lo, hi = np.concatenate(sample), np.concatenate(lo), np.concatenate(hi)
    by = np.lexsort((lo, sample))
    loss_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(sample, minlength=n), out=loss_offsets[1:])
    return loss_offsets, np.stack([lo[by], hi[by]], axis=1).astype(np.int32)


def shard_payloads(shard: PackedShard, name: str, fmt: Format, seq_len: int) -> dict[str, bytes | memoryview]:
    """File name -> bytes of one shard in the chosen format(s)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out: dict[str, bytes | memoryview] = {f"{name}.bin": shard.bin_bytes()}
    if fmt in ("megatron", "both"):
        out[f"{name}.idx"] = shard.megatron_index()
    if fmt in ("trivium", "both"):
        out[f"{name}.trv"] = shard.trivium_index(seq_len)
    return out


def write_shard(fs, folder: str, name: str, shard: PackedShard, fmt: Format, seq_len: int) -> Shard:
    """Write one shard's files into `folder` of filesystem `fs` (fsspec); returns its manifest entry."""
    files = []
    for fname, data in shard_payloads(shard, name, fmt, seq_len).items():
        with fs.open(f"{folder}/{fname}", "wb") as f:
            f.write(data)
        files.append(ShardFile(path=fname, bytes=len(data) if isinstance(data, bytes) else data.nbytes,
                               sha256=hashlib.sha256(data).hexdigest()))
    return Shard(name=name, samples=shard.n_samples, tokens=shard.n_tokens, files=files)
