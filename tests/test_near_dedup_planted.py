"""Planted near-duplicates in a slice of ../shared/corpus: precision and recall of the near-dedup stage.

The slice: English Wikipedia, Chinese Wikipedia and Python files from the shared corpus, cleared
of pairs that are already near-duplicates of each other. For a third of the documents a copy is
planted, one of three kinds, with an intensity p drawn from [5%, 20%] of the document's words
(characters for Chinese):

* `boilerplate`: p x words of site boilerplate (navigation, share buttons, cookie notice,
  copyright) added as a header and a footer;
* `reorder`: paragraphs (code: blank-line separated blocks; a single-paragraph text: sentences)
  shuffled;
* `edits`: p x words edited in short runs (an edited phrase): half of the runs are surface edits
  (case, punctuation, full-width letters) that normalisation undoes, half change content (words
  substituted, deleted, duplicated, typos).

Content edits scattered over 20% of the words leave little of the 5-word shingle set intact: such
copies are not near-duplicates at Jaccard 0.8 for any shingle-based method (datatrove's included).
The test therefore computes every planted pair's true Jaccard and asserts recall on the pairs at or
above the threshold, the near-duplicates by definition; it prints recall on all planted pairs, per
kind, and the Jaccard distribution, and checks that most planted pairs are above the threshold so the
assertion covers every kind. A pair is found when both documents end in one cluster; precision is
over all the pairs the clusters imply (an unrelated merge counts against it).
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_near_dedup import run
from trivium.flows.manifest import read_manifest
from trivium.flows.stage import read_documents
from trivium.flows.stages.near_dedup import NearDedupConfig
from trivium.kernels import minhash as mh

_BOILERPLATE_PROSE = (
    "home about us contact privacy policy terms of use cookie settings accept all cookies subscribe to our "
    "newsletter share on facebook share on twitter share on linkedin email this page print this page copyright "
    "all rights reserved advertisement related articles read more sign in register menu search skip to content "
    "back to top follow us sitemap careers help center"
)
BOILERPLATE = _BOILERPLATE_PROSE.split()
ZH_BOILERPLATE = list(
    "首页关于我们联系我们隐私政策使用条款版权所有保留所有权利分享到微博微信返回顶部相关文章阅读更多登录注册"
)
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
SOURCES = (("enwiki", 170, 500), ("zhwiki", 90, 250), ("code_python", 60, 600))
KINDS = ("boilerplate", "reorder", "edits")


def load_slice(corpus_dir: Path, per_source=SOURCES) -> list[dict]:
    docs = []
    for source, n, min_chars in per_source:
        got = 0
        for part in sorted((corpus_dir / source).glob("part-*.jsonl.gz")):
            with gzip.open(part, "rt") as f:
                for line in f:
                    d = json.loads(line)
                    if d.get("text") and len(d["text"]) >= min_chars and len(d["text"]) < 60_000:
                        docs.append({"id": d["id"], "text": d["text"], "source": source})
                        got += 1
                        if got >= n:
                            break
            if got >= n:
                break
    return docs


def drop_natural_duplicates(docs: list[dict], params: mh.MinHashParams, limit: float = 0.5) -> list[dict]:
    """Remove documents whose Jaccard with an earlier one is >= limit: the slice must start duplicate-free."""
    texts = [d["text"] for d in docs]
    sig = mh.signatures(texts, params)
    hashes, offsets = mh.shingle_hashes(texts, params)
    est = (sig[:, None, :] == sig[None, :, :]).mean(axis=2)
    drop = set()
    for i, j in zip(*np.nonzero(np.triu(est, 1) >= limit * 0.6)):
        if i in drop or j in drop:
            continue
        if mh.jaccard(hashes[offsets[i] : offsets[i + 1]], hashes[offsets[j] : offsets[j + 1]]) >= limit:
            drop.add(int(j))
    return [d for k, d in enumerate(docs) if k not in drop]


def _is_cjk(text: str) -> bool:
    return sum(1 for c in text if "\u4e00" <= c <= "\u9fff") > len(text) * 0.2


def _tokens(text: str, cjk: bool) -> list[str]:
    return [c for c in text if not c.isspace()] if cjk else text.split()


def add_boilerplate(text: str, p: float, rng: random.Random) -> str:
    cjk = _is_cjk(text)
    n = max(2, round(p * len(_tokens(text, cjk))))
    pool = ZH_BOILERPLATE if cjk else BOILERPLATE
    words = [rng.choice(pool) for _ in range(n)]
    head, tail = words[: n // 2], words[n // 2 :]
    joiner = "" if cjk else " "
    return joiner.join(head) + "\n" + text + "\n" + joiner.join(tail)


def reorder(text: str, p: float, rng: random.Random) -> str:
    """Move paragraphs: one (p < 12.5%) or two blocks of paragraphs cut out and put back elsewhere."""
    blocks = re.split(r"(\n\s*\n)", text) if "\n\n" in text else re.split(r"(\n)", text)
    paras, seps = blocks[0::2], blocks[1::2]
    if sum(1 for b in paras if b.strip()) < 3:  # one paragraph: move its sentences instead
        paras = [x for x in re.split(r"(?<=[.!?。！？])\s*", text) if x.strip()]
        seps = [" "] * len(paras)
    if len(paras) < 3:
        return text + "\n" + text[: len(text) // 10]  # nothing to reorder: repeat its opening
    seps = (seps + [seps[-1] if seps else "\n"]) if len(seps) < len(paras) else seps
    items = [a + b for a, b in zip(paras, seps)]
    for _ in range(1 if p < 0.125 else 2):
        size = rng.randint(1, max(1, len(items) // 4))
        start = rng.randrange(len(items) - size + 1)
        moved, rest = items[start : start + size], items[:start] + items[start + size :]
        at = rng.choice([k for k in range(len(rest) + 1) if k != start] or [0])
        items = rest[:at] + moved + rest[at:]
    out = "".join(items)
    return out if out != text else "".join(items[1:] + items[:1])


def _surface(word: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return word.upper() if word.islower() else word.lower()
    if r < 0.7:
        return word + rng.choice([",", ";", "!", "...", ")"])
    return "".join(FULLWIDTH.get(c, c) for c in word)


def _content(word: str, doc_tokens: list[str], rng: random.Random) -> list[str]:
    r = rng.random()
    if r < 0.4:
        return [rng.choice(doc_tokens)]
    if r < 0.6:
        return []
    if r < 0.8:
        return [word, word]
    if len(word) > 1:
        i = rng.randrange(len(word) - 1)
        return [word[:i] + word[i + 1] + word[i] + word[i + 2 :]]
    return [rng.choice(doc_tokens)]


def edit_words(text: str, p: float, rng: random.Random) -> str:
    cjk = _is_cjk(text)
    if cjk:
        parts = list(text)
        editable = [i for i, c in enumerate(parts) if not c.isspace()]
    else:
        parts = re.split(r"(\s+)", text)
        editable = [i for i, w in enumerate(parts) if w and not w.isspace()]
    doc_tokens = [parts[i] for i in editable]
    budget = max(1, round(p * len(editable)))
    chosen: set[int] = set()
    while len(chosen) < budget:
        run = min(rng.randint(1, 6), budget - len(chosen))
        start = rng.randrange(len(editable))
        surface = rng.random() < 0.7
        for k in range(start, min(start + run, len(editable))):
            if editable[k] in chosen:
                continue
            chosen.add(editable[k])
            i = editable[k]
            if surface and not cjk:
                parts[i] = _surface(parts[i], rng)
            elif surface:  # CJK: punctuation and spacing around the character
                parts[i] = parts[i] + rng.choice(["，", " ", "、", "　"])
            else:
                parts[i] = ("" if cjk else " ").join(_content(parts[i], doc_tokens, rng))
    return "".join(parts)


def plant(docs: list[dict], seed: int = 2024) -> tuple[list[dict], list[tuple[str, str, str, float]]]:
    """Documents + planted copies, and the planted pairs (orig id, copy id, kind, p)."""
    rng = random.Random(seed)
    out = list(docs)
    pairs = []
    for k, d in enumerate(docs):
        if k % 3:
            continue
        kind = KINDS[(k // 3) % 3]
        p = rng.uniform(0.05, 0.20)
        if kind == "boilerplate":
            text = add_boilerplate(d["text"], p, rng)
        elif kind == "reorder":
            text = reorder(d["text"], p, rng)
        else:
            text = edit_words(d["text"], p, rng)
        copy_id = f"planted/{kind}/{d['id']}"
        out.append({"id": copy_id, "text": text, "source": d["source"]})
        pairs.append((d["id"], copy_id, kind, p))
    return out, pairs


def true_jaccard(docs: list[dict], pairs, params: mh.MinHashParams) -> dict[tuple[str, str], float]:
    index = {d["id"]: k for k, d in enumerate(docs)}
    hashes, offsets = mh.shingle_hashes([d["text"] for d in docs], params)

    def sh(i):
        k = index[i]
        return hashes[offsets[k] : offsets[k + 1]]

    return {(a, b): mh.jaccard(sh(a), sh(b)) for a, b, _, _ in pairs}


def evaluate(clusters: dict[str, str], pairs, sims, threshold: float) -> dict:
    """Pair-level precision/recall; `clusters` maps every document to its cluster id (kept ones to themselves)."""
    members = defaultdict(list)
    for doc, c in clusters.items():
        members[c].append(doc)
    predicted = {tuple(sorted(p)) for m in members.values() if len(m) > 1 for p in combinations(m, 2)}
    planted = {tuple(sorted((a, b))) for a, b, _, _ in pairs}
    near = {tuple(sorted((a, b))) for a, b, _, _ in pairs if sims[(a, b)] >= threshold}
    found = predicted & planted
    per_kind = Counter()
    per_kind_found = Counter()
    for a, b, kind, _ in pairs:
        per_kind[kind] += 1
        per_kind_found[kind] += tuple(sorted((a, b))) in found
    return {
        "dropped": sum(len(m) - 1 for m in members.values()),
        "predicted_pairs": len(predicted),
        "planted_pairs": len(planted),
        "near_pairs": len(near),
        "precision": len(found) / len(predicted) if predicted else 1.0,
        "recall_near": len(found & near) / len(near) if near else 1.0,
        "recall_all": len(found) / len(planted),
        "per_kind": {k: f"{per_kind_found[k]}/{per_kind[k]}" for k in per_kind},
        "false_merges": sorted(predicted - planted)[:10],
        "missed_near": sorted(near - found)[:10],
    }


def clusters_from_stage(spark, stage_dir: str) -> dict[str, str]:
    manifest = read_manifest(stage_dir)
    clusters = {r.id: r.id for r in read_documents(spark, stage_dir, manifest).select("id").collect()}
    for f in manifest.rejects:
        t = pq.read_table(f"{stage_dir}/{f.path}", columns=["id", "dup_cluster"])
        clusters.update(zip(t["id"].to_pylist(), t["dup_cluster"].to_pylist()))
    return clusters


@pytest.fixture(scope="module")
def planted(corpus_dir):
    params = NearDedupConfig().minhash_params()
    docs = drop_natural_duplicates(load_slice(corpus_dir), params)
    all_docs, pairs = plant(docs)
    return all_docs, pairs, true_jaccard(all_docs, pairs, params)


def test_planted_set_is_what_it_claims(planted):
    docs, pairs, sims = planted
    assert {k for _, _, k, _ in pairs} == set(KINDS) and len(pairs) >= 100
    assert {d["source"] for d in docs} == {"enwiki", "zhwiki", "code_python"}
    assert all(0.05 <= p <= 0.20 for *_, p in pairs)
    texts = {d["id"]: d["text"] for d in docs}
    assert all(texts[a] != texts[b] for a, b, _, _ in pairs)  # every copy differs from its original
    by_kind = defaultdict(list)
    for a, b, kind, _ in pairs:
        by_kind[kind].append(sims[(a, b)])
    summary = {k: np.percentile(v, [0, 50, 100]).round(3).tolist() for k, v in by_kind.items()}
    print(f"\nplanted pairs: {len(pairs)}; true Jaccard min/median/max per kind: {summary}")
    above = sum(s >= 0.8 for s in sims.values()) / len(sims)
    assert above >= 0.75, above  # most planted copies are near-duplicates at 0.8
    for kind in KINDS:  # and every kind contributes to the asserted set
        assert sum(s >= 0.8 for s in by_kind[kind]) >= len(by_kind[kind]) // 2, kind


@pytest.mark.spark
@pytest.mark.corpus
def test_planted_near_duplicates_precision_recall(spark, planted, tmp_path):
    docs, pairs, sims = planted
    rows = [(d["id"], d["text"], d["source"], "", "{}", None, None) for d in docs]
    df = spark.createDataFrame(
        rows, "id string, text string, source string, lang string, meta string, messages string, tools string"
    ).repartition(2)
    config = NearDedupConfig(threshold=0.8)
    stats: dict = {}
    stage_dir = str(tmp_path / "near_dedup")
    manifest = run(spark, df, stage_dir, config, len(docs), stats)
    assert manifest.conserved()
    result = evaluate(clusters_from_stage(spark, stage_dir), pairs, sims, config.threshold)
    print(
        f"\nnear-dedup on {len(docs)} documents ({len(pairs)} planted pairs, {result['near_pairs']} with "
        f"J >= {config.threshold}): precision {result['precision']:.3f}, recall (J >= threshold) "
        f"{result['recall_near']:.3f}, recall (all planted) {result['recall_all']:.3f}, found per kind "
        f"{result['per_kind']}, bands x rows {stats['bands']} x {stats['rows']}, stats {stats}"
    )
    if result["false_merges"] or result["missed_near"]:
        print(
            f"false merges: {result['false_merges']}\nmissed (J >= threshold): "
            f"{[(p, round(sims.get(p, sims.get(p[::-1], -1)), 3)) for p in result['missed_near']]}"
        )
    assert result["recall_near"] >= 0.95
    assert result["precision"] >= 0.98
    assert manifest.dropped == {"near_duplicate": result["dropped"]}
