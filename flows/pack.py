"""`trivium pack`: tokenize a stage folder once into a token store, then pack it at a seq_len.

    OUTPUT/token_store/   the `tokenize` stage (stage runner: Parquet parts, rejects/, _manifest.json)
    OUTPUT/seq_<N>/       packed shards (.bin + .idx and/or .trv) and their _manifest.json

Tokenizing is a stage like the curate stages: conservation is checked, a null text, loss spans
outside the text or a token id outside the vocabulary quarantine the row with that reason, and
a rerun with the same input and tokenizer reuses the store (its manifest says so), so packing
the same documents at 8K, 32K and 128K tokenizes them once.

Packing splits the documents into groups by a seeded hash of (id, epoch) (about one shard of
tokens per group, so the work spreads over Spark tasks and the result does not depend on how
Spark partitioned anything), sorts each group by (id, epoch) and packs it with best-fit
decreasing. `leftover="carry"` packs the documents of each group's under-filled bins once more,
together, so only that last pass pads.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from trivium.flows import io
from trivium.flows.manifest import Manifest, config_hash, read_manifest
from trivium.flows.stage import (
    COUNTERS,
    QUARANTINED,
    outcome_columns,
    read_documents,
    run_stage,
    schema_plus,
    set_column,
)
from trivium.kernels.pack import MAX_CAPACITY, pack_documents
from trivium.tokenizer.shards import Format, Shard, ShardManifest, build_shard, doc_keys, write_shard
from trivium.tokenizer.token_store import STORE_SCHEMA, TokenizerSpec, encode_batch, read_tokenizer_dir, store_arrays

PACK_CODE_VERSION = "1"
STORE_DIR, MANIFEST_NAME = "token_store", "_manifest.json"
UNLABELLED = "(none)"
_GROUP_DDL = "group long, shards string, documents long, documents_cut long, per_source string, per_bucket string, " \
             "carried string"


class PackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq_len: int = Field(ge=1, le=MAX_CAPACITY, description="tokens per packed sample")
    format: Format = "both"
    shard_bytes: int = Field(1_000_000_000, ge=1, description="target size of one shard's .bin")
    seed: int = Field(0, description="assigns documents to packing groups")
    leftover: Literal["pad", "carry"] = "pad"
    carry_below: float = Field(0.99, gt=0, le=1, description="with carry: a bin filled less than this is repacked")


class TokenizeConfig(BaseModel):
    """What the token store depends on besides its input (the stage's config hash)."""

    tokenizer_sha256: str
    eos_id: int
    vocab_size: int


def parse_pack_config(**values) -> PackConfig:
    try:
        return PackConfig(**values)
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


@dataclass
class PackOutcome:
    store_dir: str
    packed_dir: str
    store: Manifest
    packed: ShardManifest
    tokenized: bool  # False when the token store was reused
    packed_now: bool  # False when the packed folder was reused

    def summary(self) -> dict:
        p = self.packed
        return {
            "token_store": self.store_dir, "tokenized": self.tokenized, "docs_in": self.store.docs_in,
            "docs_tokenized": self.store.docs_out, "quarantined": self.store.quarantined,
            "packed": self.packed_dir, "reused": not self.packed_now, "format": p.format, "seq_len": p.seq_len,
            "shards": len(p.shards), "samples": p.samples, "tokens": p.tokens, "padding_fraction": p.padding_fraction,
            "documents": p.documents, "documents_cut": p.documents_cut, "tokenizer_sha256": p.tokenizer_sha256,
            "tokens_per_source": p.tokens_per_source, "tokens_per_bucket": p.tokens_per_bucket,
        }


# ---- tokenize ---------------------------------------------------------------------------


class TokenizeBatches:
    """mapInArrow function: documents -> token-store rows with `_reason`/`_disposition`/`_counters`."""

    def __init__(self, spec: TokenizerSpec):
        self.spec = spec

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # One core per Spark task: Spark runs tasks side by side, tokenizers must not add threads.
        os.environ["RAYON_NUM_THREADS"] = "1"
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        for batch in batches:
            rows, reasons = encode_batch(self.spec, batch)
            rows = outcome_columns(rows, reasons, QUARANTINED)
            tokens = pc.sum(rows.column("n_tokens")).as_py() or 0
            counters = [json.dumps({"tokens": tokens})] + [None] * (rows.num_rows - 1)
            yield set_column(rows, COUNTERS, pa.array(counters, pa.string()))


def tokenize_stage(spark, spec: TokenizerSpec, input_dir: str, store_dir: str, force: bool = False) -> Manifest:
    """Run (or reuse) the `tokenize` stage: the token store of `input_dir`'s documents."""
    from pyspark.sql import types as T

    upstream = read_manifest(input_dir)
    if upstream is None:
        raise FileNotFoundError(f"no _manifest.json in {input_dir}: pack reads a committed stage folder")
    cols = {f["name"] for f in json.loads(upstream.doc_schema)["fields"]}
    missing = {"id", "text"} - cols
    if missing:
        raise ValueError(f"{input_dir}: documents lack column(s) {', '.join(sorted(missing))}")

    def build():
        from pyspark.sql.pandas.types import from_arrow_schema

        df = read_documents(spark, input_dir, upstream)
        df = df.select(*[c for c in ("id", "text", "source", "bucket", "domain", "epoch", "loss_spans") if c in cols])
        out = schema_plus(from_arrow_schema(STORE_SCHEMA), ("_reason", "string"), ("_disposition", "string"),
                          ("_counters", T.StringType()))
        return df.mapInArrow(TokenizeBatches(spec), out)

    config = TokenizeConfig(tokenizer_sha256=spec.sha256, eos_id=spec.eos_id, vocab_size=spec.vocab_size)
    return run_stage(spark, stage="tokenize", stage_dir=store_dir, config=config, inputs=[upstream.fingerprint()],
                     build=build, docs_in=upstream.docs_out, force=force)


# ---- pack -------------------------------------------------------------------------------


class PackGroups:
    """applyInArrow function: best-fit-decreasing packs one group of token-store rows, writes its shards."""

    def __init__(self, config: PackConfig, pad_id: int, packed_dir: str, prefix: str, hold_underfilled: bool):
        self.config = config
        self.pad_id = pad_id
        self.packed_dir = packed_dir
        self.prefix = prefix
        self.hold_underfilled = hold_underfilled
        self.storage = io.current_options()

    def __call__(self, table: pa.Table) -> pa.Table:
        io.configure(self.storage)
        group = int(table.column("_group")[0].as_py())
        table = table.drop_columns(["_group"]).sort_by([("id", "ascending"), ("epoch", "ascending")])
        store = store_arrays(table)
        cfg = self.config
        packing, n_cut = pack_documents(store.lengths, cfg.seq_len)
        bins = np.arange(packing.n_bins)
        packed_docs = np.ones(len(store.lengths), dtype=bool)
        carried: list[list] = []
        if self.hold_underfilled:
            keep, packed_docs = _carry_split(packing, len(store.lengths), cfg.carry_below * cfg.seq_len)
            bins = np.flatnonzero(keep)
            ids, epochs = store.table.column("id").to_pylist(), store.table.column("epoch").to_pylist()
            carried = [[ids[d], epochs[d]] for d in np.flatnonzero(~packed_docs).tolist()]
            n_cut = int((store.lengths[packed_docs] > cfg.seq_len).sum())
        keys = doc_keys(table.column("id").to_pylist(), table.column("epoch").to_pylist())
        fs, root = io.fs_and_path(self.packed_dir)
        fs.makedirs(root, exist_ok=True)
        per_shard = max(1, cfg.shard_bytes // (4 * cfg.seq_len))
        shards: list[Shard] = []
        for k in range(0, len(bins), per_shard):
            shard = build_shard(packing, store, keys, self.pad_id, bins[k : k + per_shard])
            name = f"{self.prefix}{group:05d}-{k // per_shard:03d}"
            shards.append(write_shard(fs, root, name, shard, cfg.format, cfg.seq_len))
        per_source, per_bucket = Counter(), Counter()
        n_tok = store.lengths[packed_docs]
        for col, counter in (("source", per_source), ("bucket", per_bucket)):
            labels = np.array([v or UNLABELLED for v in store.table.column(col).to_pylist()], dtype=object)[packed_docs]
            for label, n in zip(*_sum_by(labels, n_tok)):
                counter[label] += n
        return pa.table({
            "group": [group], "shards": [json.dumps([s.model_dump() for s in shards])],
            "documents": [int(packed_docs.sum())], "documents_cut": [n_cut],
            "per_source": [json.dumps(per_source)], "per_bucket": [json.dumps(per_bucket)],
            "carried": [json.dumps(carried)],
        })


def _carry_split(packing, n_docs: int, min_fill: float) -> tuple[np.ndarray, np.ndarray]:
    """(bins to write now, documents written now): bins filled below `min_fill` are held back with
    every document they hold, and so is any bin holding a piece of a held-back document."""
    piece_bin = np.repeat(np.arange(packing.n_bins), np.diff(packing.bin_offsets))
    piece_doc = packing.pieces.doc[packing.order]
    held_bins = packing.bin_fill < min_fill
    while True:
        held_docs = np.zeros(n_docs, dtype=bool)
        held_docs[piece_doc[held_bins[piece_bin]]] = True
        grown = held_bins.copy()
        grown[piece_bin[held_docs[piece_doc]]] = True
        if np.array_equal(grown, held_bins):
            return ~held_bins, ~held_docs
        held_bins = grown


def _sum_by(labels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(labels):
        return np.zeros(0, object), np.zeros(0, np.int64)
    uniq, inv = np.unique(labels.astype(str), return_inverse=True)
    return uniq, np.bincount(inv, weights=values, minlength=len(uniq)).astype(np.int64).tolist()


def _pack_groups(spark, store_df, config: PackConfig, pad_id: int, packed_dir: str, groups: int, prefix: str,
                 hold_underfilled: bool) -> list:
    from pyspark.sql import functions as F

    epoch = F.coalesce(F.col("epoch"), F.lit(-1))
    keyed = store_df.withColumn("_group", F.pmod(F.xxhash64(F.col("id"), epoch, F.lit(config.seed)), F.lit(groups)))
    fn = PackGroups(config, pad_id, packed_dir, prefix, hold_underfilled)
    return keyed.groupBy("_group").applyInArrow(lambda t: fn(t), _GROUP_DDL).collect()


def pack_store(spark, store_dir: str, store: Manifest, spec: TokenizerSpec, packed_dir: str, config: PackConfig,
               force: bool = False) -> tuple[ShardManifest, bool]:
    """Pack a committed token store at `config.seq_len`; reuses a matching packed folder unless `force`."""
    from pyspark.sql import functions as F

    chash = config_hash("pack", config, PACK_CODE_VERSION + store.fingerprint())
    existing = _read_packed(packed_dir)
    if not force and existing is not None and existing.config_hash == chash and all(
            io.exists(io.join(packed_dir, f.path)) for f in existing.files()):
        return existing, False
    io.remove(io.join(packed_dir, MANIFEST_NAME))
    start = time.time()
    store_df = read_documents(spark, store_dir, store).select("id", "source", "bucket", "epoch", "n_tokens", "tokens",
                                                              "loss_spans")
    total = int(store.extra.get("tokens", 0))
    groups = max(1, math.ceil(total * 4 / config.shard_bytes))
    rows = _pack_groups(spark, store_df, config, spec.eos_id, packed_dir, groups, "shard-", config.leftover == "carry")
    carried = [tuple(k) for r in rows for k in json.loads(r.carried)]
    if carried:  # one more pass over the documents of every group's under-filled bins
        keys = spark.createDataFrame([(i, -1 if e is None else e) for i, e in carried], "id string, _epoch long")
        rest = store_df.join(F.broadcast(keys), (store_df.id == keys.id)
                             & (F.coalesce(store_df.epoch, F.lit(-1)) == keys._epoch), "left_semi")
        rows += _pack_groups(spark, rest, config, spec.eos_id, packed_dir, 1, "carry-", False)
    manifest = _summarise(rows, config, spec, store_dir, store, chash, round(time.time() - start, 3))
    if manifest.documents != store.docs_out:
        raise RuntimeError(f"packed {manifest.documents} documents of the store's {store.docs_out}")
    io.write_bytes(io.join(packed_dir, MANIFEST_NAME), manifest.model_dump_json(indent=1).encode())
    _remove_unlisted(packed_dir, manifest)
    return manifest, True


def _summarise(rows, config: PackConfig, spec: TokenizerSpec, store_dir: str, store: Manifest, chash: str,
               wall_s: float) -> ShardManifest:
    shards = sorted((Shard.model_validate(s) for r in rows for s in json.loads(r["shards"])), key=lambda s: s.name)
    per_source, per_bucket = Counter(), Counter()
    for r in rows:
        per_source.update(json.loads(r["per_source"]))
        per_bucket.update(json.loads(r["per_bucket"]))
    samples = sum(s.samples for s in shards)
    tokens = sum(s.tokens for s in shards)
    padding = samples * config.seq_len - tokens
    return ShardManifest(
        format=config.format, seq_len=config.seq_len, pad_id=spec.eos_id, eos_id=spec.eos_id,
        tokenizer_sha256=spec.sha256, vocab_size=spec.vocab_size, token_store=store_dir,
        token_store_fingerprint=store.fingerprint(), config_hash=chash, seed=config.seed,
        documents=sum(r["documents"] for r in rows), documents_cut=sum(r["documents_cut"] for r in rows),
        samples=samples, tokens=tokens, padding_tokens=padding,
        padding_fraction=round(padding / (samples * config.seq_len), 6) if samples else 0.0,
        tokens_per_source=dict(sorted(per_source.items())), tokens_per_bucket=dict(sorted(per_bucket.items())),
        shards=shards, wall_s=wall_s)


def pack_in_process(spec: TokenizerSpec, documents: pa.Table, packed_dir: str, config: PackConfig,
                    batch_rows: int = 2000) -> tuple[ShardManifest, dict[str, int]]:
    """Tokenize and pack a small table of documents without Spark (one group, no token store on
    disk): for tests, benchmarks and quick looks. Returns the shard manifest and quarantine counts."""
    start = time.time()
    kept, quarantined = [], Counter()
    for batch in documents.to_batches(max_chunksize=batch_rows):
        rows, reasons = encode_batch(spec, batch)
        quarantined.update(r for r in reasons if r)
        kept.append(rows.filter(pa.array([r is None for r in reasons])))
    table = pa.Table.from_batches(kept, STORE_SCHEMA)
    table = table.append_column("_group", pa.array(np.zeros(table.num_rows, np.int64)))
    io.remove(io.join(packed_dir, MANIFEST_NAME))
    row = PackGroups(config.model_copy(update={"leftover": "pad"}), spec.eos_id, packed_dir, "shard-", False)(table)
    chash = config_hash("pack", config, PACK_CODE_VERSION + spec.sha256)
    store = Manifest(stage="tokenize", config_hash=chash, inputs=[], docs_in=documents.num_rows,
                     docs_out=table.num_rows, quarantined=dict(quarantined))
    manifest = _summarise(row.to_pylist(), config, spec, "(in process)", store, chash, round(time.time() - start, 3))
    io.write_bytes(io.join(packed_dir, MANIFEST_NAME), manifest.model_dump_json(indent=1).encode())
    return manifest, dict(quarantined)


def _read_packed(packed_dir: str) -> ShardManifest | None:
    url = io.join(packed_dir, MANIFEST_NAME)
    return ShardManifest.model_validate_json(io.read_bytes(url)) if io.exists(url) else None


def _remove_unlisted(packed_dir: str, manifest: ShardManifest) -> None:
    """Shards of a superseded run would only confuse someone browsing; the loader ignores them."""
    listed = {f.path for f in manifest.files()}
    fs, base = io.fs_and_path(packed_dir)
    for p in fs.ls(base, detail=False):
        name = p.rsplit("/", 1)[-1]
        if name.startswith(("shard-", "carry-")) and name not in listed:
            fs.rm(p)


def pack_stage(spark, tokenizer_dir: str, input_dir: str, output_dir: str, seq_len: int | None = None,
               fmt: Format = "both", *, store_dir: str | None = None, force: bool = False, **options) -> PackOutcome:
    """Tokenize `input_dir` (a committed stage folder) into `output_dir/token_store` once and pack it at
    `seq_len` (default: the input manifest's `extra.seq_len`) into `output_dir/seq_<seq_len>`.

    `options` are the other PackConfig fields (shard_bytes, seed, leftover, carry_below).
    Raises ValueError / FileNotFoundError with a one-line message on bad arguments.
    """
    if seq_len is None:
        upstream = read_manifest(input_dir)
        seq_len = (upstream.extra.get("seq_len") if upstream else None)
        if seq_len is None:
            raise ValueError(f"seq_len: not given and {input_dir}'s manifest has no extra.seq_len")
    config = parse_pack_config(seq_len=seq_len, format=fmt, **options)
    spec = read_tokenizer_dir(tokenizer_dir)
    store_dir = store_dir or io.join(output_dir, STORE_DIR)
    store = tokenize_stage(spark, spec, input_dir, store_dir, force=force)
    packed_dir = io.join(output_dir, f"seq_{config.seq_len}")
    packed, now = pack_store(spark, store_dir, store, spec, packed_dir, config, force=force)
    return PackOutcome(store_dir, packed_dir, store, packed, tokenized=not store.skipped, packed_now=now)


def pack_mixture_stage(spark, stage_dir: str, output: str, seq_len: int, tokenizer: str) -> PackOutcome:
    """The step `trivium run` calls for each built mixture stage: pack_stage with its positional order."""
    return pack_stage(spark, tokenizer, stage_dir, output, seq_len)
