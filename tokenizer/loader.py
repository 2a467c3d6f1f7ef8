"""Read packed shards for training: memory-mapped, globally shuffled, sharded by rank, resumable.

`PackedDataset(folder, seed=, rank=, world_size=)` yields `Sample(tokens, cu_seqlens,
position_ids, loss_mask)` (the last two built on first access) per packed sample of a folder
written by `trivium pack` (trivium or both formats). The order of epoch `e` is one permutation
of every sample, drawn from `(seed, e)`; rank `r` of `w` takes positions `r, r + w, r + 2w, ...`
of it, so the ranks see disjoint samples whose union is the epoch (`drop_last=True` trims the
epoch so every rank gets the same count). `state_dict()` records the epoch and how many samples this rank has yielded;
`load_state_dict()` in a new process continues at exactly the next sample.

Local shards are memory-mapped; `s3://` (any fsspec URL) shards are read by byte range.
"""

from __future__ import annotations

import bisect
import io as _io
import posixpath
from collections.abc import Iterator

import numba as nb
import numpy as np

from .shards import ShardManifest

MANIFEST_NAME = "_manifest.json"


class Sample:
    """One packed sample: `tokens` (int32 [seq_len]) and `cu_seqlens` (int32 [segments + 1]: 0, end of
    segment 1, ..., seq_len; padding is a segment) are read when the sample is; `position_ids` (int32
    [seq_len], 0 at the start of every document piece) and `loss_mask` (bool [seq_len], False on
    padding and outside loss spans) are built on first access and kept, so a step that derives them
    on the device does not pay for them here. Unpacks like the 4-tuple it stands for."""

    __slots__ = ("tokens", "cu_seqlens", "_loss", "_pos", "_mask")
    _fields = ("tokens", "cu_seqlens", "position_ids", "loss_mask")

    def __init__(self, tokens: np.ndarray, cu_seqlens: np.ndarray, loss_ranges: np.ndarray):
        self.tokens, self.cu_seqlens, self._loss = tokens, cu_seqlens, loss_ranges
        self._pos = self._mask = None

    @property
    def position_ids(self) -> np.ndarray:
        if self._pos is None:
            self._pos = _positions(self.cu_seqlens, len(self.tokens))
        return self._pos

    @property
    def loss_mask(self) -> np.ndarray:
        if self._mask is None:
            self._mask = _mask(self._loss, len(self.tokens))
        return self._mask

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.tokens, self.cu_seqlens, self.position_ids, self.loss_mask))

    def __len__(self) -> int:
        return 4

    def __getitem__(self, k):
        return tuple(self)[k]


@nb.njit(cache=True)
def _positions(cu, seq_len):
    """0, 1, ... restarting at every segment. Unsigned indices: with no negative index to wrap around,
    the loop vectorises."""
    pos = np.empty(nb.uint64(seq_len), dtype=np.int32)
    for s in range(len(cu) - 1):
        a, n = nb.uint64(cu[s]), nb.uint64(cu[s + 1] - cu[s])
        v = np.int32(0)
        for t in range(n):
            pos[a + nb.uint64(t)] = v
            v += np.int32(1)
    return pos


@nb.njit(cache=True)
def _mask(loss_ranges, seq_len):
    mask = np.zeros(seq_len, dtype=np.bool_)
    for r in range(loss_ranges.shape[0]):
        mask[loss_ranges[r, 0] : loss_ranges[r, 1]] = True
    return mask


class _ShardReader:
    """One shard's index in memory and its tokens memory-mapped (local) or read by range (remote)."""

    def __init__(self, fs, folder: str, name: str, seq_len: int, local: bool):
        trv = f"{folder}/{name}.trv"
        if not fs.exists(trv):
            raise FileNotFoundError(f"{trv} is missing: the loader reads the trivium index (pack with --format trivium or both)")
        with np.load(_io.BytesIO(fs.cat_file(trv))) as z:
            if int(z["seq_len"]) != seq_len:
                raise ValueError(f"{trv} was packed at seq_len {int(z['seq_len'])}, the manifest says {seq_len}")
            self.seg_offsets = z["seg_offsets"]
            self.seg_lens = z["seg_lens"]
            self.loss_offsets = z["loss_offsets"]
            self.loss_ranges = z["loss_ranges"]
            self.seg_doc = z["seg_doc"]
            self.seg_start = z["seg_start"]
        # every sample's cu_seqlens side by side (sample j: cu_flat[seg_offsets[j] + j : seg_offsets[j + 1] + j + 1]),
        # so reading one is a slice, not a loop over its segments
        n, starts = len(self.seg_offsets) - 1, self.seg_offsets[:-1].astype(np.int64)
        ends = np.cumsum(self.seg_lens, dtype=np.int64)
        ends -= np.repeat(np.concatenate([[0], ends])[starts], np.diff(self.seg_offsets))
        self.cu_flat = np.zeros(len(self.seg_lens) + n, dtype=np.int32)
        self.cu_flat[np.arange(len(self.seg_lens)) + np.repeat(np.arange(n), np.diff(self.seg_offsets)) + 1] = ends
        self.seq_len = seq_len
        self.bin_path = f"{folder}/{name}.bin"
        self.fs = fs
        self._tokens = np.asarray(np.memmap(self.bin_path, dtype="<i4", mode="r")) if local else None
        self._remote = None

    def __len__(self) -> int:
        return len(self.seg_offsets) - 1

    def sample(self, j: int) -> Sample:
        L = self.seq_len
        if self._tokens is not None:
            src, base = self._tokens, j * L
        else:
            if self._remote is None:
                self._remote = self.fs.open(self.bin_path, "rb", block_size=max(1 << 22, 4 * L), cache_type="readahead")
            self._remote.seek(j * L * 4)
            src, base = np.frombuffer(self._remote.read(L * 4), dtype="<i4"), 0
        a, b = int(self.seg_offsets[j]), int(self.seg_offsets[j + 1])
        return Sample(src[base : base + L].copy(), self.cu_flat[a + j : b + j + 1].copy(),
                      self.loss_ranges[self.loss_offsets[j] : self.loss_offsets[j + 1]])


class PackedDataset:
    """The samples of one packed folder, in this rank's share of a seeded per-epoch shuffle."""

    def __init__(self, folder: str, *, seed: int = 0, rank: int = 0, world_size: int = 1, epochs: int | None = 1,
                 shuffle: bool = True, drop_last: bool = False):
        import fsspec

        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1 (rank={rank}, world_size={world_size})")
        fs, root = fsspec.core.url_to_fs(folder)
        mpath = posixpath.join(root, MANIFEST_NAME)
        if not fs.exists(mpath):
            raise FileNotFoundError(f"no {MANIFEST_NAME} in {folder}: not a packed folder (or packing did not finish)")
        self.manifest = ShardManifest.model_validate_json(fs.cat_file(mpath))
        proto = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
        local = proto in ("file", "local")
        self.shards = [_ShardReader(fs, root, s.name, self.manifest.seq_len, local) for s in self.manifest.shards]
        counts = np.array([len(s) for s in self.shards], dtype=np.int64)
        if not np.array_equal(counts, [s.samples for s in self.manifest.shards]):
            raise ValueError(f"{folder}: shard indexes disagree with the manifest's sample counts")
        self._starts = [0] + np.cumsum(counts).tolist()
        self.num_samples = self._starts[-1]
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epochs, self.shuffle, self.drop_last = epochs, shuffle, drop_last
        self.epoch, self.position = 0, 0
        self._order_epoch, self._order = None, None

    # --- order -------------------------------------------------------------------------
    def epoch_order(self, epoch: int) -> np.ndarray:
        """Global sample numbers this rank visits in `epoch`, in order."""
        if self._order_epoch != epoch:
            n = self.num_samples
            perm = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
            if self.drop_last:
                perm = perm[: n - n % self.world_size]
            self._order, self._order_epoch = perm[self.rank :: self.world_size], epoch
        return self._order

    def __len__(self) -> int:
        """Samples this rank yields per epoch."""
        return len(self.epoch_order(self.epoch))

    def sample(self, index: int) -> Sample:
        """Global sample `index` (0 .. num_samples-1) in shard order."""
        s = bisect.bisect_right(self._starts, index) - 1
        return self.shards[s].sample(index - self._starts[s])

    def __iter__(self) -> Iterator[Sample]:
        while self.epochs is None or self.epoch < self.epochs:
            order = self.epoch_order(self.epoch)
            while self.position < len(order):
                i = order[self.position]
                self.position += 1  # counted before the yield: a state taken now resumes after this sample
                yield self.sample(int(i))
            self.epoch, self.position = self.epoch + 1, 0

    # --- resume ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"seed": self.seed, "rank": self.rank, "world_size": self.world_size, "epoch": self.epoch,
                "position": self.position, "num_samples": self.num_samples, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "config_hash": self.manifest.config_hash}

    def load_state_dict(self, state: dict) -> None:
        for key in ("seed", "rank", "world_size", "num_samples", "shuffle", "drop_last", "config_hash"):
            if state.get(key) != self.state_dict()[key]:
                raise ValueError(f"state_dict was saved with {key}={state.get(key)!r}, this dataset has "
                                 f"{self.state_dict()[key]!r}")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


def torch_dataset(dataset: PackedDataset):
    """A `torch.utils.data.IterableDataset` over `dataset` yielding dicts of tensors (torch optional).

    Use it with `num_workers=0` (or 1): the rank's order is one stream, and the state dict
    describes that stream.
    """
    import torch
    from torch.utils.data import IterableDataset, get_worker_info

    class PackedIterable(IterableDataset):
        def __init__(self, inner: PackedDataset):
            self.inner = inner

        def __iter__(self):
            info = get_worker_info()
            if info is not None and info.num_workers > 1:
                raise ValueError("PackedDataset streams one rank's order: use num_workers=0 or 1")
            for s in self.inner:
                yield {"tokens": torch.from_numpy(s.tokens), "cu_seqlens": torch.from_numpy(s.cu_seqlens),
                       "position_ids": torch.from_numpy(s.position_ids), "loss_mask": torch.from_numpy(s.loss_mask)}

        def state_dict(self) -> dict:
            return self.inner.state_dict()

        def load_state_dict(self, state: dict) -> None:
            self.inner.load_state_dict(state)

    return PackedIterable(dataset)


def collate_packed(samples: list[dict]) -> dict:
    """DataLoader `collate_fn`: [B, seq_len] tokens, position_ids and loss_mask, and one `cu_seqlens`
    over the flattened batch (flash-attention varlen convention: sample b's boundaries + b * seq_len)."""
    import torch

    seq_len = samples[0]["tokens"].shape[0]
    cu = [samples[0]["cu_seqlens"][:1]] + [s["cu_seqlens"][1:] + b * seq_len for b, s in enumerate(samples)]
    return {"tokens": torch.stack([s["tokens"] for s in samples]),
            "position_ids": torch.stack([s["position_ids"] for s in samples]),
            "loss_mask": torch.stack([s["loss_mask"] for s in samples]),
            "cu_seqlens": torch.cat(cu)}
