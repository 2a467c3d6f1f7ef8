"""Near-duplicate removal on Spark: MinHash signatures, LSH buckets, connected components, representatives.

1. Signatures: `mapInArrow` runs the MinHash kernel over each Arrow batch (one call per batch)
   and hashes every band of the signature to one 64-bit key. The result (id, node id, length,
   quality, band keys, signature) is checkpointed to Parquet: node ids come from
   `monotonically_increasing_id`, and the checkpoint fixes them for the rest of the job.
2. Candidate edges: (band, key, node) rows; in every bucket each member gets an edge to the
   bucket's smallest node (star edges: linear in the bucket size, whatever the size).
3. Verification (config `verify`): the containment (overlap coefficient, the default) or the exact
   Jaccard of the shingle sets of both documents, or the signature's Jaccard estimate (`signature`),
   must reach the threshold; edges to documents of an earlier run (cross-run index) are checked on
   their stored signatures (Jaccard estimate: their texts are not at hand).
4. Connected components with DataFrame operations: alternating large-star / small-star
   (Kiveris et al., SoCC 2014) over edges oriented larger -> smaller node, each round
   checkpointed; converged when the edges form a star forest (every node points to exactly
   one root and no root points anywhere), which makes every root its component's minimum.
5. Representatives: per component the first by (quality desc, length desc, id asc) is kept;
   the others are dropped as `near_duplicate` with `dup_cluster` = the kept document's id. A
   component that holds a document of an earlier run keeps none of this run's members:
   `dup_cluster` is then that earlier document's id. The (id, dup_cluster) rows are marked on the
   upstream files row-wise (`mark_rows`): the texts are read, never shuffled or checkpointed.
   Steps 2-5 run on the driver in NumPy instead (`driver_band_rows`: documents x bands up to 5M, the
   candidate documents' text under `driver_text_bytes`, no cross-run index): the band keys are
   collected, candidates and components found, and only the texts of candidate documents fetched;
   same result, without the fixed cost of a dozen small Spark jobs. Larger corpora stay on Spark.
6. Cross-run index (`index_out`): (id, band keys, signature) of every kept document plus an
   `_index.json` with the LSH parameters; a later run lists it in `index_in` and is deduplicated
   against it without recomputing the old corpus.

Checkpoints go to `checkpoint_dir` (default: a temporary folder on the driver, fine for
`local[*]`; on a cluster give a folder every executor can reach, e.g. s3://); the work folder, its
clean-up after a killed run and the index files are in `_near_dedup_work`, the pure algorithms
(buckets, similarity, components, representatives) in `trivium.filters.near_dedup`.
Documents without any shingle (empty text, only punctuation) and, with `conversations="skip"`,
conversation rows are passed through. Markdown link targets and URLs do not count (`markup: strip`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field
from trivium.filters.near_dedup import (
    NEAR_DUPLICATE,
    REPRESENTATIVE_ORDER,
    NearDedupParams,
    bucket_star_edges,
    cluster_drops,
    components_local,
    dedup_texts,
    indexed_pair_similarity,
    pair_similarity,
    signature_jaccard,
)
from trivium.flows.stage import StageDef, mark_rows
from trivium.flows.stages._near_dedup_work import Workdir, read_index, write_index
from trivium.kernels import minhash as mh

# what the signature pass gives per document (the texts stay where they are)
SIGNATURE_DDL = "id string, length long, quality double, n_shingles int, keys array<long>, sig binary"


class NearDedupConfig(NearDedupParams):
    enabled: bool = True
    representative: Literal["quality", "longest", "smallest_id"] = Field(
        "quality", description="quality: highest quality_column, then longest, then smallest id"
    )
    quality_column: str = Field("quality_score", description="column with a quality score (used when present)")
    index_in: list[str] = Field(default_factory=list, description="band-key indexes of earlier runs to dedup against")
    index_out: str | None = Field(None, description="write this run's band-key index here (local or s3://)")
    max_iterations: int = Field(40, ge=1, description="connected-components rounds before giving up")
    cc_driver_edges: int = Field(
        1_000_000,
        ge=0,
        exclude=True,
        description="finish connected components on the driver once at most this many edges remain "
        "(0: always on Spark); the components are the same either way",
    )
    driver_band_rows: int = Field(
        20_000_000,
        ge=0,
        exclude=True,
        description="find candidates, verify and cluster on the driver (NumPy) when documents x bands is at most "
        "this and the candidate documents' text fits driver_text_bytes (0: always on Spark); same result either way",
    )
    driver_text_bytes: int = Field(
        256_000_000, ge=0, exclude=True, description="most candidate-document text the driver path collects"
    )
    shuffle_partitions: int | None = Field(
        None,
        ge=1,
        exclude=True,
        description="shuffle partitions while finding duplicates; default: one per 100K documents and at "
        "least one per core, at most the session's spark.sql.shuffle.partitions",
    )
    checkpoint_dir: str | None = Field(
        None, exclude=True, description="folder for checkpoints (default: a temp dir); not part of the config hash"
    )
    device: Literal["cpu", "auto", "gpu"] = Field(
        "cpu", exclude=True, description="where permutations run; signatures are identical on every device"
    )


# ---- signatures ---------------------------------------------------------------------------------


class SignatureBatches:
    """mapInArrow function: each document's id, length, quality, shingle count, band keys and signature.

    One kernel call per Arrow batch. The signature itself is kept only where something reads it
    (signature verification, the cross-run index); the band keys always.
    """

    def __init__(self, params: NearDedupParams, quality_column: str | None, device: str = "cpu", keep_sig: bool = True):
        self.params = params
        self.keep_sig = keep_sig
        self.kparams = params.minhash_params()
        self.bands, self.rows = params.bands_rows()
        self.quality_column = quality_column
        self.device = device

    def texts(self, batch: pa.RecordBatch) -> pa.Array:
        msgs = batch.column("messages") if "messages" in batch.schema.names else None
        return dedup_texts(batch.column("text"), msgs, self.params)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            n = batch.num_rows
            texts = self.texts(batch)
            hashes, offsets = mh.shingle_hashes(texts, self.kparams)
            if self.device == "cpu":
                sig = mh.signatures_from_hashes(hashes, offsets, self.kparams)
            else:
                from trivium.kernels import minhash_gpu

                use_gpu = self.device == "gpu" or minhash_gpu.available()
                sig = (minhash_gpu if use_gpu else mh).signatures_from_hashes(hashes, offsets, self.kparams)
            keys = mh.band_keys(sig, self.bands, self.rows).view(np.int64)
            length = pc.fill_null(pc.binary_length(texts), 0).cast(pa.int64())
            if self.quality_column and self.quality_column in batch.schema.names:
                quality = batch.column(self.quality_column).cast(pa.float64())
                quality = pc.if_else(pc.is_nan(quality), pa.scalar(None, pa.float64()), quality)  # NaN: no score
            else:
                quality = pa.nulls(n, pa.float64())
            if self.keep_sig:
                width = sig.shape[1] * sig.dtype.itemsize
                sig_arr = pa.FixedSizeBinaryArray.from_buffers(
                    pa.binary(width), n, [None, pa.py_buffer(np.ascontiguousarray(sig).tobytes())]
                ).cast(pa.binary())
            else:  # only signature verification and the cross-run index need the signature itself
                sig_arr = pa.nulls(n, pa.binary())
            key_arr = pa.ListArray.from_arrays(
                pa.array(np.arange(0, n * self.bands + 1, self.bands, dtype=np.int32)), pa.array(keys.ravel())
            )
            n_shingles = pa.array(np.diff(offsets).astype(np.int32))
            columns = [batch.column("id"), length, quality, n_shingles, key_arr, sig_arr]
            yield pa.RecordBatch.from_arrays(columns, names=["id", "length", "quality", "n_shingles", "keys", "sig"])


# ---- verification -------------------------------------------------------------------------------


class TextPairs:
    """mapInArrow function over (src, dst, text_a, messages_a, text_b, messages_b) -> (src, dst, sim),
    sim = the config's `verify` measure (containment or Jaccard) of the two shingle sets."""

    def __init__(self, params: NearDedupParams):
        self.params = params
        self.kparams = params.minhash_params()

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            ta = dedup_texts(b.column("text_a"), b.column("msg_a"), self.params)
            tb = dedup_texts(b.column("text_b"), b.column("msg_b"), self.params)
            sim = pair_similarity(ta, tb, self.kparams, self.params.verify)
            yield pa.RecordBatch.from_arrays([b.column("src"), b.column("dst"), pa.array(sim)], ["src", "dst", "sim"])


class SignaturePairs:
    """mapInArrow function over (src, dst, sig_a, sig_b) -> (src, dst, estimated Jaccard)."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            if b.num_rows == 0:
                continue
            sa = np.stack([np.frombuffer(x, dtype=self.dtype) for x in b.column("sig_a").to_pylist()])
            sb = np.stack([np.frombuffer(x, dtype=self.dtype) for x in b.column("sig_b").to_pylist()])
            sim = signature_jaccard(sa, sb)
            yield pa.RecordBatch.from_arrays([b.column("src"), b.column("dst"), pa.array(sim)], ["src", "dst", "sim"])


# ---- connected components -----------------------------------------------------------------------


def _is_star_forest(edges) -> bool:
    """Every src has exactly one dst, and no dst is itself a src (one Spark job)."""
    from pyspark.sql import functions as F

    as_src = edges.select(F.col("src").alias("node"), F.col("dst").alias("to"), F.lit(True).alias("is_src"))
    as_dst = edges.select(
        F.col("dst").alias("node"), F.lit(None).cast("long").alias("to"), F.lit(False).alias("is_src")
    )
    per_node = as_src.unionByName(as_dst).groupBy("node")
    per_node = per_node.agg(
        F.countDistinct("to").alias("k"), F.max("is_src").alias("src"), F.min("is_src").alias("only")
    )
    return per_node.where((F.col("k") > 1) | (F.col("src") & ~F.col("only"))).limit(1).count() == 0


def connected_components(
    spark, edges, work: Workdir, max_iterations: int = 40, stats: dict | None = None, driver_edges: int = 0
):
    """(node, root) for every node of `edges` (columns src, dst: long); root = the component's smallest node.

    Alternating large-star / small-star rounds on edges oriented src > dst, checkpointed each
    round; stops when the edges form a star forest (then every root is its component's minimum).
    Once at most `driver_edges` edges remain, the rest is solved on the driver (same components).
    """
    from pyspark.sql import functions as F

    e = (
        edges.select(F.greatest("src", "dst").alias("src"), F.least("src", "dst").alias("dst"))
        .where(F.col("src") != F.col("dst"))
        .distinct()
    )
    e, n_edges = work.checkpoint(spark, e, "cc-0")
    rounds = 0
    remaining = n_edges
    while remaining and not (remaining <= driver_edges or _is_star_forest(e)):
        if rounds >= max_iterations:
            raise RuntimeError(f"connected components did not converge in {max_iterations} rounds")
        rounds += 1
        # large-star: every neighbour v > u is linked to m(u) = min(N(u) + u)
        nb = e.select(F.col("src").alias("u"), F.col("dst").alias("v")).union(
            e.select(F.col("dst").alias("u"), F.col("src").alias("v"))
        )
        m = nb.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
        large = (
            nb.join(m, "u").where(F.col("v") > F.col("u")).select(F.col("v").alias("src"), F.col("m").alias("dst"))
        ).distinct()
        # small-star: u and its smaller neighbours (the dst of its edges) are linked to their minimum
        m2 = large.groupBy("src").agg(F.min("dst").alias("m"))
        small = (
            large.join(m2, "src")
            .select(F.col("dst").alias("src"), F.col("m").alias("dst"))
            .where(F.col("src") != F.col("dst"))
            .union(m2.select("src", F.col("m").alias("dst")))
            .distinct()
        )
        e, remaining = work.checkpoint(spark, small, f"cc-{rounds}")
        work.remove(f"cc-{rounds - 1}")
    if stats is not None:
        stats["edges"] = n_edges
        stats["cc_rounds"] = rounds
        stats["cc_on_driver"] = bool(remaining) and remaining <= driver_edges
    if remaining and remaining <= driver_edges:
        pairs = e.toArrow()
        nodes, roots = components_local(pairs["src"].to_numpy(), pairs["dst"].to_numpy())
        return work.from_arrow(spark, pa.table({"node": nodes, "root": roots}), "cc-driver")
    nodes = e.select(F.col("src").alias("node"), F.col("dst").alias("root"))
    roots = e.select(F.col("dst").alias("node"), F.col("dst").alias("root")).distinct()
    return nodes.union(roots)


# ---- the stage ----------------------------------------------------------------------------------


def _representative_order(config: NearDedupConfig):
    from pyspark.sql import functions as F

    old_first = (F.col("nid") < 0).desc()  # a document of an earlier run is kept over this run's
    order = REPRESENTATIVE_ORDER[config.representative]
    return [old_first] + [F.col(n).desc_nulls_last() if desc else F.col(n).asc_nulls_last() for n, desc in order]


BROADCAST_ROWS = 2_000_000  # below this many rows, the small side of a join is broadcast


def _score_pairs(docs, cand, n_cand: int, nodes, config: NearDedupConfig):
    """(src, dst, sim) for candidate pairs: containment or Jaccard on the texts, the signature estimate, or null."""
    from pyspark.sql import functions as F

    if config.verify == "none":
        return cand.withColumn("sim", F.lit(None).cast("double"))
    dtype = config.minhash_params().dtype
    sig_of = nodes.select("nid", "sig")
    sig_pairs = (
        cand.join(sig_of.withColumnRenamed("nid", "src").withColumnRenamed("sig", "sig_a"), "src")
        .join(sig_of.withColumnRenamed("nid", "dst").withColumnRenamed("sig", "sig_b"), "dst")
        .select("src", "dst", "sig_a", "sig_b")
    )
    if config.verify == "signature":
        return sig_pairs.mapInArrow(SignaturePairs(dtype), "src long, dst long, sim double")
    # pairs of this run's documents: the measure on the texts; a pair with an earlier run's
    # document (dst < 0: the bucket minimum) is checked on the stored signature, its text is not at hand
    # only the documents of candidate pairs: their ids are few, so they are broadcast and the texts
    # of all the others never leave their partition
    needed = cand.select(F.col("src").alias("nid")).union(
        cand.where(F.col("dst") >= 0).select(F.col("dst").alias("nid"))
    )
    needed = needed.distinct().join(nodes.select("nid", "id"), "nid")
    texts = _texts(docs).join(F.broadcast(needed) if 2 * n_cand <= BROADCAST_ROWS else needed, "id")
    ta = texts.select(F.col("nid").alias("src"), F.col("text").alias("text_a"), F.col("messages").alias("msg_a"))
    tb = texts.select(F.col("nid").alias("dst"), F.col("text").alias("text_b"), F.col("messages").alias("msg_b"))
    local = cand.where(F.col("dst") >= 0).join(ta, "src").join(tb, "dst")
    local = local.select("src", "dst", "text_a", "msg_a", "text_b", "msg_b")
    sims = local.mapInArrow(TextPairs(config), "src long, dst long, sim double")
    if config.index_in:
        cross = sig_pairs.where(F.col("dst") < 0).mapInArrow(SignaturePairs(dtype), "src long, dst long, sim double")
        sims = sims.unionByName(cross)
    return sims


def _texts(docs):
    """(id, text, messages) of the documents (messages null where the input has none)."""
    from pyspark.sql import functions as F

    msgs = F.col("messages") if "messages" in docs.columns else F.lit(None).cast("string").alias("messages")
    return docs.select("id", "text", msgs)


def find_duplicates(spark, docs, config: NearDedupConfig, work: Workdir, stats: dict):
    """(id, dup_cluster) of the documents to drop, and the signatures table."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    bands, rows = config.bands_rows()
    stats.update(bands=bands, rows=rows, threshold=config.threshold, num_perm=config.num_perm)
    t0 = time.time()
    # Only the signatures are materialised (a few hundred bytes a document); the texts of candidate
    # pairs are read again from the upstream files, and the documents are marked where they are.
    quality = config.quality_column if config.quality_column in docs.columns else None
    keep_sig = config.verify == "signature" or bool(config.index_in) or bool(config.index_out)
    batches = SignatureBatches(config, quality, config.device, keep_sig)
    content = docs.select("id", *[c for c in ("text", "messages", quality) if c and c in docs.columns])
    sigs = content.mapInArrow(batches, SIGNATURE_DDL).withColumn("nid", F.monotonically_increasing_id())
    sigs, n_docs = work.checkpoint(spark, sigs, "signatures")
    stats["signature_s"] = round(time.time() - t0, 3)
    # size the shuffles of what follows to the data: a few small tasks for a small corpus, but at
    # least one per core (one task holding every band row of 160K documents took 4x as long)
    session_parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
    cores = spark.sparkContext.defaultParallelism
    parts = config.shuffle_partitions or min(session_parts, max(cores, math.ceil(n_docs / 100_000)))
    spark.conf.set("spark.sql.shuffle.partitions", str(parts))

    buckets = sigs.where(F.col("n_shingles") > 0).select("nid", F.posexplode("keys").alias("band", "key"))
    nodes = sigs.select("nid", "id", "length", "quality", "sig")
    if config.index_in:
        index = read_index(spark, config.index_in, config)
        old = index.select("id", "sig", F.posexplode("keys").alias("band", "key"))
        old = old.join(buckets.select("band", "key").distinct(), ["band", "key"], "leftsemi")
        old_docs = old.groupBy("id").agg(F.first("sig").alias("sig"))
        old_docs = old_docs.withColumn("nid", -1 - F.monotonically_increasing_id())
        old_docs, n_old = work.checkpoint(spark, old_docs, "index-matches")
        stats["index_docs_matched"] = n_old
        buckets = buckets.unionByName(old.join(old_docs.select("id", "nid"), "id").select("nid", "band", "key"))
        nodes = nodes.unionByName(
            old_docs.select(
                "nid",
                "id",
                F.lit(None).cast("long").alias("length"),
                F.lit(None).cast("double").alias("quality"),
                "sig",
            )
        )

    if not config.index_in and n_docs * bands <= config.driver_band_rows:
        dropped = _duplicates_on_driver(spark, docs, sigs, config, stats)
        if dropped is not None:
            stats["documents"] = n_docs
            return dropped, sigs

    t0 = time.time()
    bucket_min = F.min("nid").over(Window.partitionBy("band", "key"))
    cand = buckets.withColumn("dst", bucket_min).where(F.col("nid") != F.col("dst"))
    cand = cand.select(F.col("nid").alias("src"), "dst").distinct()
    cand, n_cand = work.checkpoint(spark, cand, "candidates")
    stats["candidate_pairs"] = n_cand
    stats["candidates_s"] = round(time.time() - t0, 3)
    scored = _score_pairs(docs, cand, n_cand, nodes, config)
    edges = scored if config.verify == "none" else scored.where(F.col("sim") >= F.lit(config.threshold))
    comp = connected_components(
        spark, edges.select("src", "dst"), work, config.max_iterations, stats, config.cc_driver_edges
    )
    stats["verified_pairs"] = stats.pop("edges")
    stats["lsh_cc_s"] = round(time.time() - t0, 3)
    members = comp.join(nodes.drop("sig").withColumnRenamed("nid", "node"), "node").withColumnRenamed("node", "nid")
    w = Window.partitionBy("root").orderBy(*_representative_order(config))
    members = members.withColumn("_rank", F.row_number().over(w)).withColumn("_rep", F.first("id").over(w))
    dropped = members.where((F.col("_rank") > 1) & (F.col("nid") >= 0)).select(
        "id", F.col("_rep").alias("_dup_cluster")
    )
    stats["documents"] = n_docs
    return dropped, sigs


def _duplicates_on_driver(spark, docs, sigs, config: NearDedupConfig, stats: dict):
    """`find_duplicates` after the signatures, in NumPy on the driver: the same (id, _dup_cluster) rows
    as the Spark path, without its handful of small jobs. None when the candidate documents' text is
    too large to collect (the caller goes on with Spark)."""
    from pyspark.sql import functions as F

    t0 = time.time()
    bands, _ = config.bands_rows()
    cols = ["nid", "id", "length", "quality", "n_shingles", "keys"] + (["sig"] if config.verify == "signature" else [])
    table = sigs.select(*cols).toArrow()
    nid = table["nid"].to_numpy()
    keys = pc.list_flatten(table["keys"]).to_numpy().reshape(-1, bands)
    has = table["n_shingles"].to_numpy() > 0
    src, dst = bucket_star_edges(nid[has], keys[has])
    stats["candidate_pairs"] = len(src)
    by_nid = np.argsort(nid)  # node ids are sparse (partition id in the high bits): rows found by search

    def row_of(n: np.ndarray) -> np.ndarray:
        return by_nid[np.searchsorted(nid, n, sorter=by_nid)]

    lengths = table["length"].to_numpy()
    if config.verify in ("jaccard", "containment") and len(src):
        needed = np.unique(np.concatenate([src, dst]))
        if int(lengths[row_of(needed)].sum()) > config.driver_text_bytes:
            return None
        wanted = spark.createDataFrame(pa.table({"id": table["id"].take(pa.array(row_of(needed))), "nid": needed}))
        rows = _texts(docs).join(F.broadcast(wanted), "id").toArrow()
        at = {n: i for i, n in enumerate(rows["nid"].to_pylist())}
        texts = dedup_texts(rows["text"].combine_chunks(), rows["messages"].combine_chunks(), config)
        hashes, offsets = mh.shingle_hashes(texts, config.minhash_params())
        idx = np.array([at[n] for n in needed.tolist()], dtype=np.int64)
        pos = np.searchsorted(needed, src), np.searchsorted(needed, dst)
        sim = indexed_pair_similarity(hashes, offsets, idx[pos[0]], idx[pos[1]], config.verify)
    elif config.verify == "signature" and len(src):
        dtype = config.minhash_params().dtype
        sig = np.frombuffer(b"".join(table["sig"].to_pylist()), dtype=dtype).reshape(len(nid), -1)
        sim = signature_jaccard(sig[row_of(src)], sig[row_of(dst)])
    else:  # verify "none" (or no candidates): every candidate is an edge
        sim = np.ones(len(src))
    keep = sim >= config.threshold
    src, dst = src[keep], dst[keep]
    nodes, roots = components_local(src, dst) if len(src) else (np.empty(0, np.int64), np.empty(0, np.int64))
    stats.update(verified_pairs=len(src), cc_rounds=0, cc_on_driver=True, lsh_on_driver=True)
    ids, quality = table["id"].to_pylist(), table["quality"].to_pylist()
    members = {n: (ids[r], int(lengths[r]), quality[r]) for n, r in zip(nodes.tolist(), row_of(nodes).tolist())}
    drops = cluster_drops(dict(zip(nodes.tolist(), roots.tolist())), members, config.representative)
    dropped_ids, kept_ids = zip(*drops) if drops else ((), ())
    dropped = pa.table({"id": pa.array(dropped_ids, pa.string()), "_dup_cluster": pa.array(kept_ids, pa.string())})
    stats["lsh_cc_s"] = round(time.time() - t0, 3)
    return spark.createDataFrame(dropped)


def build_near_dedup(spark, df, config: NearDedupConfig, stats: dict | None = None):
    """Documents with `_reason` = near_duplicate (and `_dup_cluster`) for all but one per cluster."""
    from pyspark.sql import functions as F

    stats = {} if stats is None else stats
    Workdir.release_earlier()
    work = Workdir(config.checkpoint_dir)
    session_parts = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        dropped, sigs = find_duplicates(spark, df, config, work, stats)
        if config.index_out:
            kept = sigs.where(F.col("n_shingles") > 0).join(dropped, "id", "left_anti")
            run = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]
            stats["index_docs_written"] = write_index(kept, config.index_out, config, run)["docs"]
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", session_parts)
    return mark_rows(df, dropped, NEAR_DUPLICATE, "_dup_cluster")


NEAR_DEDUP = StageDef(
    "near_dedup",
    "near_dedup",
    build_near_dedup,
    "MinHash LSH near-duplicates: connected components, one representative per cluster",
)
