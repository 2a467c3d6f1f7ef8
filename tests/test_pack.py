"""`trivium pack` on Spark: tokenize once, conservation and quarantine, exact reconstruction from the
shards, Megatron-Core reading them, reuse of the token store at another seq_len, bad arguments."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from trivium.tokenizer.loader import PackedDataset

pytestmark = pytest.mark.spark

SPAN_TYPE = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64())]))
WORDS = "the quick brown fox jumps over a lazy dog 函数 積分 def return x ** 2 😀 naïve café".split()


def tiny_tokenizer_dir(path: Path, vocab: int = 1024) -> Path:
    """A byte-level BPE trained in a second through `trivium tokenizer train`'s code path."""
    from trivium.tokenizer.export import export_tokenizer
    from trivium.tokenizer.pretokenize import count_words
    from trivium.tokenizer.train import TrainConfig, build_tokenizer, train_from_counts

    texts = [" ".join(random.Random(i).choices(WORDS, k=40)) for i in range(200)]
    export_tokenizer(build_tokenizer(train_from_counts(count_words(texts), TrainConfig(vocab_size=vocab)), vocab),
                     str(path), vocab_size=vocab)
    return path


def make_documents(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        k = int(rng.lognormvariate(4.0, 1.2)) + 1  # mostly short, a few far longer than seq_len
        text = " ".join(rng.choices(WORDS, k=k))
        docs.append({"id": f"doc-{i:04d}", "text": text, "source": f"src{i % 3}",
                     "domain": ["commonsense", "stem", "code"][i % 3], "epoch": i % 2, "loss_spans": None})
    return docs


def write_stage(folder: Path, rows: list[dict], seq_len: int | None = None) -> Path:
    """A committed stage folder as the mixtures step leaves one: Parquet part + _manifest.json."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from trivium.flows.manifest import FileEntry, Manifest, write_manifest

    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                        ("domain", pa.string()), ("epoch", pa.int64()), ("loss_spans", SPAN_TYPE)])
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema), folder / "part-00000.parquet")
    write_manifest(str(folder), Manifest(
        stage="mix", config_hash="test", inputs=[], docs_in=len(rows), docs_out=len(rows),
        files=[FileEntry(path="part-00000.parquet", rows=len(rows), bytes=(folder / "part-00000.parquet").stat().st_size,
                         sha256="-")],
        doc_schema=from_arrow_schema(schema).json(), extra={"seq_len": seq_len} if seq_len else {}))
    return folder


def shard_pieces(folder: str) -> tuple[dict[int, list[tuple[int, np.ndarray]]], int]:
    """doc key -> [(offset in document, tokens)] read back from the trivium index; and padding tokens."""
    ds = PackedDataset(folder, shuffle=False)
    pieces: dict[int, list] = {}
    padding = 0
    for reader in ds.shards:
        for j in range(len(reader)):
            s = reader.sample(j)
            a = reader.seg_offsets[j]
            for k in range(len(s.cu_seqlens) - 1):
                run = s.tokens[s.cu_seqlens[k] : s.cu_seqlens[k + 1]]
                key, start = int(reader.seg_doc[a + k]), int(reader.seg_start[a + k])
                if key == 0:
                    padding += len(run)
                    assert (run == ds.manifest.pad_id).all() and not s.loss_mask[s.cu_seqlens[k]:].any()
                else:
                    pieces.setdefault(key, []).append((start, run))
    return pieces, padding


def _pack_cli(args: list[str]) -> SimpleNamespace:
    """`trivium pack ... --json`, its summary read back like pack_stage's outcome."""
    from trivium.flows.cli import app
    from trivium.tokenizer.shards import ShardManifest

    result = CliRunner().invoke(app, ["pack", *args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    packed = ShardManifest.model_validate_json((Path(summary["packed"]) / "_manifest.json").read_text())
    assert summary["samples"] == packed.samples and summary["padding_fraction"] == packed.padding_fraction
    return SimpleNamespace(tokenized=summary["tokenized"], packed=packed, packed_dir=summary["packed"])


@pytest.fixture(scope="module")
def packed(spark, tmp_path_factory):
    from trivium.flows.pack import pack_stage

    root = tmp_path_factory.mktemp("pack")
    tok_dir = tiny_tokenizer_dir(root / "tok")
    docs = make_documents(400)
    docs[3]["text"] = None  # e.g. a conversation nobody rendered
    docs[4]["loss_spans"] = [{"start": 5, "end": 999_999}]  # beyond the text
    docs[5]["text"] = "system: be brief. user: hi. assistant: hello there, friend."
    docs[5]["loss_spans"] = [{"start": 39, "end": len(docs[5]["text"])}]
    stage = write_stage(root / "mix", docs, seq_len=256)
    first = pack_stage(spark, str(tok_dir), str(stage), str(root / "out"), None, "both", shard_bytes=64 * 1024)
    second = _pack_cli(["--tokenizer", str(tok_dir), "--input", str(stage), "--output", str(root / "out"),
                        "--seq-len", "1024", "--shard-size", "64KiB"])
    return {"root": root, "tok": tok_dir, "docs": docs, "stage": stage, "first": first, "second": second}


def test_tokenize_conserves_and_quarantines_with_reasons(packed):
    store = packed["first"].store
    assert store.conserved() and store.docs_in == 400 and store.docs_out == 398
    assert store.quarantined == {"bad_loss_spans": 1, "null_text": 1}
    # every rejects file: how many there are depends on the session's shuffle partitions
    rejects = [r for f in store.rejects for r in pq.read_table(os.path.join(packed["first"].store_dir, f.path)).to_pylist()]
    assert {(r["id"], r["reason"]) for r in rejects} == {("doc-0003", "null_text"), ("doc-0004", "bad_loss_spans")}


def test_every_token_back_exactly_once_in_order(packed):
    from tokenizers import Tokenizer

    from trivium.tokenizer.shards import doc_keys

    tok = Tokenizer.from_file(str(packed["tok"] / "tokenizer.json"))
    eos = tok.token_to_id("<|end_of_text|>")
    docs = [d for d in packed["docs"] if d["id"] not in ("doc-0003", "doc-0004")]
    keys = doc_keys([d["id"] for d in docs], [d["epoch"] for d in docs])
    for outcome in (packed["first"], packed["second"]):
        pieces, padding = shard_pieces(outcome.packed_dir)
        assert set(pieces) == set(keys.tolist())
        n_tokens = 0
        for d, key in zip(docs, keys.tolist()):
            runs = sorted(pieces[key], key=lambda p: p[0])
            rebuilt = np.concatenate([r for _, r in runs])
            expected = tok.encode(d["text"], add_special_tokens=False).ids + [eos]
            assert rebuilt.tolist() == expected, d["id"]
            assert [a for a, _ in runs] == list(np.cumsum([0] + [len(r) for _, r in runs[:-1]]))
            n_tokens += len(expected)
        m = outcome.packed
        assert m.tokens == n_tokens and m.padding_tokens == padding
        assert m.samples * m.seq_len == n_tokens + padding  # padding is the only addition
        lengths = np.array([len(tok.encode(d["text"], add_special_tokens=False).ids) + 1 for d in docs])
        assert m.documents_cut == int((lengths > m.seq_len).sum())
        assert sum(m.tokens_per_source.values()) == sum(m.tokens_per_bucket.values()) == n_tokens


def test_loss_spans_become_the_loss_mask(packed):
    from tokenizers import Tokenizer

    from trivium.tokenizer.shards import doc_keys

    tok = Tokenizer.from_file(str(packed["tok"] / "tokenizer.json"))
    key = int(doc_keys(["doc-0005"], [1])[0])
    ds = PackedDataset(packed["first"].packed_dir, shuffle=False)
    for reader in ds.shards:
        hit = np.flatnonzero(reader.seg_doc == key)
        if hit.size:
            j = int(np.searchsorted(reader.seg_offsets, hit[0], "right") - 1)
            s = reader.sample(j)
            k = hit[0] - reader.seg_offsets[j]
            a, b = s.cu_seqlens[k], s.cu_seqlens[k + 1]
            learned = s.tokens[a:b][s.loss_mask[a:b]].tolist()
            assert tok.decode(learned[:-1]) == "hello there, friend." and learned[-1] == ds.manifest.eos_id
            assert not s.loss_mask[a:b][: b - a - len(learned)].any()
            return
    pytest.fail("doc-0005 not found in any shard")


def test_megatron_core_reads_the_same_tokens_and_boundaries(packed):
    pytest.importorskip("torch")
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    folder = packed["first"].packed_dir
    ds = PackedDataset(folder, shuffle=False)
    for shard, reader in zip(ds.manifest.shards, ds.shards):
        mg = indexed.IndexedDataset(os.path.join(folder, shard.name))
        assert len(mg.document_indices) - 1 == shard.samples == len(reader)
        assert np.array_equal(mg.sequence_lengths, reader.seg_lens)
        assert np.array_equal(mg.document_indices, reader.seg_offsets)
        for j in range(len(reader)):
            s = reader.sample(j)
            a, b = mg.document_indices[j], mg.document_indices[j + 1]
            assert np.array_equal(np.concatenate([mg[i] for i in range(a, b)]), s.tokens)
            assert np.array_equal(np.cumsum(mg.sequence_lengths[a:b]), s.cu_seqlens[1:])


def test_second_seq_len_reuses_the_token_store(packed):
    first, second = packed["first"], packed["second"]
    assert first.tokenized and not second.tokenized
    assert first.packed.seq_len == 256 and second.packed.seq_len == 1024  # 256 came from the manifest's extra
    assert first.packed.token_store_fingerprint == second.packed.token_store_fingerprint == first.store.fingerprint()
    on_disk = json.loads((Path(first.store_dir) / "_manifest.json").read_text())
    assert on_disk["wall_s"] == first.store.wall_s  # the store was not rewritten
    for m in (first.packed, second.packed):
        for f in m.files():
            import hashlib

            assert hashlib.sha256((Path(m.token_store).parent / f"seq_{m.seq_len}" / f.path).read_bytes()).hexdigest() == f.sha256


def test_packing_does_not_depend_on_spark_partitioning_and_carry_pads_less(packed, spark):
    from trivium.flows.pack import pack_stage

    root = packed["root"]
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "1")
    try:
        again = pack_stage(spark, str(packed["tok"]), str(packed["stage"]), str(root / "one_part"), 256, "both",
                           shard_bytes=64 * 1024)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    assert len(again.store.files) == 1 < len(packed["first"].store.files)
    assert [f.sha256 for f in again.packed.files()] == [f.sha256 for f in packed["first"].packed.files()]
    carry = pack_stage(spark, str(packed["tok"]), str(packed["stage"]), str(root / "one_part"), 256, "trivium",
                       shard_bytes=64 * 1024, leftover="carry")
    assert not carry.tokenized and carry.packed.documents == 398 and carry.packed.tokens == again.packed.tokens
    assert carry.packed.padding_tokens < again.packed.padding_tokens
    assert not any(f.path.endswith(".idx") for f in carry.packed.files())
    pieces, _ = shard_pieces(carry.packed_dir)
    assert sum(len(r) for runs in pieces.values() for _, r in runs) == carry.packed.tokens


def test_token_ids_outside_the_vocabulary_are_quarantined(packed, spark, tmp_path):
    from trivium.flows.pack import pack_stage

    from tokenizers import AddedToken, Tokenizer

    # a token added after training, the model (1,024 embeddings, as training recorded) never resized
    tok = Tokenizer.from_file(str(packed["tok"] / "tokenizer.json"))
    tok.add_tokens([AddedToken("<|stray|>", normalized=False)])
    (tmp_path / "tok").mkdir()
    tok.save(str(tmp_path / "tok" / "tokenizer.json"))
    (tmp_path / "tok" / "trivium_tokenizer.json").write_text(json.dumps({"vocab_size": 1024}))
    docs = make_documents(6)
    docs[2]["text"] += " <|stray|>"
    stage = write_stage(tmp_path / "mix", docs)
    out = pack_stage(spark, str(tmp_path / "tok"), str(stage), str(tmp_path / "out"), 64, "trivium")
    assert out.store.quarantined == {"token_id_out_of_vocab": 1} and out.packed.documents == 5


@pytest.mark.parametrize("args, message", [
    (["--seq-len", "0"], "seq_len"),
    (["--seq-len", "1048577"], "seq_len"),
    (["--seq-len", "128", "--format", "hdf5"], "format"),
    (["--seq-len", "128", "--tokenizer", "/nonexistent-dir"], "no tokenizer.json"),
])
def test_bad_arguments_are_one_line_errors(packed, args, message, tmp_path):
    from trivium.flows.cli import app

    base = {"--tokenizer": str(packed["tok"]), "--input": str(packed["stage"]), "--output": str(tmp_path)}
    for flag in args[::2]:
        base.pop(flag, None)
    argv = ["pack"] + [x for kv in base.items() for x in kv] + args
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
