"""curate on a slice of ../shared/corpus: Chinese survives English rules; planted cross-source duplicates go once."""

from __future__ import annotations

import collections
import gzip
import itertools
import json

import pyarrow.parquet as pq
import pytest

from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters
from trivium.flows.curate import final_documents

from test_curate import by_stage, run_plain

PER_SOURCE = 400


def head(path, n):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, n)]


@pytest.fixture(scope="module")
def corpus_run(spark, corpus_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    slices = {}
    for source in ("enwiki", "zhwiki", "gsm8k", "code_python"):
        rows = head(corpus_dir / source / "part-00000.jsonl.gz", PER_SOURCE)
        slices[source] = rows
        (root / source).mkdir()
        with gzip.open(root / source / "part-00000.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    # Plant: long English and Chinese articles re-published by a mirror with other layout and ids.
    judge = HeuristicFilters(HeuristicFilterConfig()).judge_one
    planted = [r for r in slices["enwiki"] if len(r["text"]) > 2000 and judge(r["text"])[2] is None][:10] + \
              [r for r in slices["zhwiki"] if len(r["text"]) > 1000 and judge(r["text"])[2] is None][:10]
    (root / "mirror").mkdir()
    with gzip.open(root / "mirror" / "part-00000.jsonl.gz", "wt", encoding="utf-8") as f:
        for i, r in enumerate(planted):
            f.write(json.dumps({"id": f"zz-mirror-{i}", "text": "\n " + r["text"].replace(" ", "\u00a0 ") + "  ",
                                "source": "mirror"}, ensure_ascii=False) + "\n")
    outcomes = run_plain(spark, [str(root)], root / "out")
    return root, outcomes, planted


def test_conservation_on_real_data(corpus_run):
    _, outcomes, _ = corpus_run
    for o in outcomes:
        assert o.manifest.conserved(), o.manifest.stage


def test_chinese_wikipedia_is_not_removed_by_english_stop_word_rules(corpus_run):
    root, outcomes, _ = corpus_run
    rejects = pq.read_table(by_stage(outcomes)["heuristic_filter"].stage_dir + "/rejects").to_pylist()
    zh_rejects = [r for r in rejects if r["source"] == "zhwiki"]
    by_rule = collections.Counter(r["reason"].split(":")[0] for r in zh_rejects)
    print("zhwiki drops by rule:", dict(by_rule))
    assert not any(r["reason"].startswith(("gopher_quality", "c4_quality")) for r in zh_rejects if r["lang"] == "zh")
    long_zh = [r for r in zh_rejects if len(r["text"] or "") > 500]
    assert len(long_zh) <= 0.1 * PER_SOURCE, "long Chinese articles should pass"


def test_planted_duplicates_are_removed_once(spark, corpus_run):
    _, outcomes, planted = corpus_run
    dedup = by_stage(outcomes)["exact_dedup"].manifest
    kept = {r["id"]: r for r in final_documents(spark, outcomes).collect()}
    for i, original in enumerate(planted):
        survivors = [x for x in (original["id"], f"zz-mirror-{i}") if x in kept]
        assert len(survivors) == 1, original["id"]
        assert survivors == [min(original["id"], f"zz-mirror-{i}")]
    assert dedup.dropped.get("exact_duplicate", 0) >= len(planted)
