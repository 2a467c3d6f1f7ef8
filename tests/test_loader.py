"""The packed-shard loader: rank sharding, seeded per-epoch shuffle, exact resume in a new process,
sample fields, the torch wrapper and s3:// reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from test_pack import make_documents, tiny_tokenizer_dir
from trivium.tokenizer.loader import PackedDataset


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    from trivium.flows.pack import PackConfig, pack_in_process
    from trivium.tokenizer.token_store import read_tokenizer_dir

    root = tmp_path_factory.mktemp("loader")
    spec = read_tokenizer_dir(str(tiny_tokenizer_dir(root / "tok")))
    docs = make_documents(300, seed=1)
    docs[7]["loss_spans"] = [{"start": 0, "end": 10}, {"start": 20, "end": 30}]
    manifest, quarantined = pack_in_process(spec, pa.Table.from_pylist(docs), str(root / "packed"),
                                            PackConfig(seq_len=128, shard_bytes=20 * 128 * 4))
    assert quarantined == {} and len(manifest.shards) > 2 and manifest.samples > 60
    return str(root / "packed")


def _keys(samples) -> list[bytes]:
    return [s.tokens.tobytes() + s.loss_mask.tobytes() for s in samples]


def test_ranks_are_disjoint_and_cover_the_epoch(folder):
    ds = PackedDataset(folder, seed=3)
    everything = sorted(_keys(ds))
    assert len(everything) == ds.num_samples
    ranks = [list(PackedDataset(folder, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert abs(len(ranks[0]) - len(ranks[1])) <= 1
    a, b = _keys(ranks[0]), _keys(ranks[1])
    assert sorted(a + b) == everything
    orders = [PackedDataset(folder, seed=3, rank=r, world_size=2).epoch_order(0) for r in range(2)]
    assert not set(orders[0]) & set(orders[1]) and len(set(orders[0]) | set(orders[1])) == ds.num_samples
    trimmed = PackedDataset(folder, seed=3, rank=1, world_size=4, drop_last=True)
    assert len(trimmed) == ds.num_samples // 4


def test_seed_and_epoch_change_the_order(folder):
    first = PackedDataset(folder, seed=0).epoch_order(0)
    assert not np.array_equal(first, PackedDataset(folder, seed=1).epoch_order(0))
    assert not np.array_equal(first, PackedDataset(folder, seed=0).epoch_order(1))
    assert np.array_equal(first, PackedDataset(folder, seed=0).epoch_order(0))
    assert sorted(first.tolist()) == list(range(len(first)))


RESUME = """
import json, sys
from trivium.tokenizer.loader import PackedDataset
folder, state = sys.argv[1], json.loads(sys.argv[2])
ds = PackedDataset(folder, seed=7, rank=1, world_size=2, epochs=2)
ds.load_state_dict(state)
for s in ds:
    sys.stdout.write((s.tokens.tobytes() + s.loss_mask.tobytes()).hex() + "\\n")
"""


def test_resume_in_a_new_process_continues_at_the_next_sample(folder):
    full = _keys(PackedDataset(folder, seed=7, rank=1, world_size=2, epochs=2))
    ds = PackedDataset(folder, seed=7, rank=1, world_size=2, epochs=2)
    k = len(ds) + 5  # past the epoch boundary
    head = []
    for s in ds:
        head += _keys([s])
        if len(head) == k:
            break
    state = json.loads(json.dumps(ds.state_dict()))
    assert state["epoch"] == 1 and state["position"] == 5
    out = subprocess.run([sys.executable, "-c", RESUME, folder, json.dumps(state)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert head + [bytes.fromhex(h) for h in out] == full
    other = PackedDataset(folder, seed=8, rank=1, world_size=2)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)


def test_sample_fields(folder):
    ds = PackedDataset(folder, shuffle=False)
    seq_len = ds.manifest.seq_len
    spans_seen = False
    for s in ds:
        assert s.tokens.shape == s.position_ids.shape == s.loss_mask.shape == (seq_len,)
        assert s.cu_seqlens[0] == 0 and s.cu_seqlens[-1] == seq_len and (np.diff(s.cu_seqlens) > 0).all()
        for a, b in zip(s.cu_seqlens[:-1], s.cu_seqlens[1:]):
            assert np.array_equal(s.position_ids[a:b], np.arange(b - a))
        spans_seen |= 0 < s.loss_mask.sum() < (s.tokens != ds.manifest.pad_id).sum() - 1
    assert spans_seen  # doc 7's two spans leave holes in its mask


def test_torch_wrapper_yields_tensors(folder):
    torch = pytest.importorskip("torch")
    from trivium.tokenizer.loader import collate_packed, torch_dataset

    ds = PackedDataset(folder, seed=2)
    batches = list(torch.utils.data.DataLoader(torch_dataset(ds), batch_size=4, num_workers=0,
                                               collate_fn=collate_packed))
    first = batches[0]
    assert first["tokens"].shape == (4, 128) and first["loss_mask"].dtype == torch.bool
    assert first["cu_seqlens"][0] == 0 and first["cu_seqlens"][-1] == 4 * 128
    assert torch.equal(first["position_ids"].flatten()[first["cu_seqlens"][:-1]], torch.zeros(len(first["cu_seqlens"]) - 1, dtype=torch.int32))
    assert sum(len(b["tokens"]) for b in batches) == ds.num_samples


def test_reads_s3(folder, s3_server, fsspec_config):
    import fsspec

    fsspec_config.setdefault("s3", {}).update(s3_server.options)
    bucket = s3_server.bucket("packed")
    fs = fsspec.filesystem("s3")
    for f in Path(folder).iterdir():
        fs.put_file(str(f), f"{bucket}/seq/{f.name}")
    remote = PackedDataset(f"s3://{bucket}/seq", seed=5, rank=0, world_size=2)
    assert _keys(remote) == _keys(PackedDataset(folder, seed=5, rank=0, world_size=2))
