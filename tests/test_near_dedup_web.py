"""Near-duplicates as they occur on the web, and the work folder a killed run leaves behind.

* The labelled set of `neardup_eval` (extractor variants of real pages, edited copies, unrelated
  background; built from ../shared/corpus) through the near-dedup stage with its defaults:
  precision, extractor-variant recall and background false drops asserted, edited-copy recall
  printed. (`benchmarks/neardup_eval.py` draws the curve with the same algorithm in memory; its
  clusters can differ from the stage's in a few members, as every bucket member is checked against
  the bucket's smallest node and node numbers differ.)
* `strip_markup`: markdown link targets and URLs do not count.
* A work folder whose process was killed (SIGKILL: no atexit) is removed by the next run; the
  folder of a process still running is not.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import neardup_eval as ev
import pytest
from test_near_dedup import run
from test_near_dedup_planted import clusters_from_stage
from trivium.filters import near_dedup as nd
from trivium.flows import io
from trivium.flows.stages import _near_dedup_work as work
from trivium.flows.stages.near_dedup import NearDedupConfig


@pytest.mark.spark
@pytest.mark.corpus
def test_web_near_duplicates_labelled_set(spark, corpus_dir, tmp_path):
    labelled = ev.cached_build(corpus_dir)
    docs = labelled.docs
    assert {d["kind"] for d in docs} == {ev.VARIANT, "background", *ev.EDIT_KINDS}
    rows = [(d["id"], d["text"], d["source"], "", "{}", None, None) for d in docs]
    df = spark.createDataFrame(
        rows, "id string, text string, source string, lang string, meta string, messages string, tools string"
    ).repartition(2)
    config = NearDedupConfig()
    stats: dict = {}
    manifest = run(spark, df, str(tmp_path / "near_dedup"), config, len(docs), stats)
    assert manifest.conserved()
    clusters = clusters_from_stage(spark, str(tmp_path / "near_dedup"))
    result = ev.score(clusters, labelled)
    held_out = ev.score(clusters, labelled.split("held_out"))
    print(
        f"\nweb near-duplicates ({len(docs)} documents, pairs {result['pairs']}), verify={config.verify} at "
        f"{config.threshold}, {stats['bands']} x {stats['rows']} bands: precision {result['precision']:.4f}, "
        f"extractor-variant recall {result['variant_recall']:.4f}, edited-copy recall {result['edit_recall']:.4f} "
        f"{ {k: round(v, 3) for k, v in result['recall'].items()} }, background false drops "
        f"{100 * result['background_false_drops']:.2f}% of {result['background']}; held-out sites: precision "
        f"{held_out['precision']:.4f}, variant recall {held_out['variant_recall']:.4f}; "
        f"false pairs {result['false_pairs']}"
    )
    assert result["precision"] >= 0.995
    assert result["variant_recall"] >= 0.97 and held_out["variant_recall"] >= 0.97
    assert result["background_false_drops"] <= 0.001


def test_strip_markup_keeps_anchor_text_only():
    md = 'Read the [annual report](https://example.org/r?id=1 "Report") and ![chart](/img/c.png) at www.example.org now'
    assert nd.strip_markup(md) == "Read the annual report and chart at   now"
    plain = "no links here: a [bracket] and (parens)"
    assert nd.strip_markup(plain) == plain
    params = nd.NearDedupParams(ngram=3)
    body = "the quick brown fox jumps over the lazy dog near the river bank today"
    linked = "the quick brown [fox](https://x.org/fox) jumps over the [lazy dog](/dog) near the river bank today"
    assert nd.pair_similarity([body], [nd.dedup_text(linked, None)], params.minhash_params())[0] == 1.0
    assert nd.pair_similarity([body], [nd.dedup_text(linked, None, markup="keep")], params.minhash_params())[0] < 0.6
    assert nd.NearDedupParams(markup="keep").index_signature() != params.index_signature()


_HOLD_WORKDIR = """
import sys, time
from trivium.flows.stages._near_dedup_work import Workdir
w = Workdir(sys.argv[1])
print(w.url, flush=True)
time.sleep(600)
"""


def _start_holder(base: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_HOLD_WORKDIR), str(base)], stdout=subprocess.PIPE, text=True
    )
    return proc, proc.stdout.readline().strip()


def test_work_folder_of_a_killed_run_is_removed_by_the_next(tmp_path):
    killed, killed_url = _start_holder(tmp_path)
    alive, alive_url = _start_holder(tmp_path)
    try:
        os.kill(killed.pid, signal.SIGKILL)  # no atexit, no finally: its folder stays behind
        killed.wait()
        (Path(killed_url) / "documents").mkdir()
        assert Path(killed_url).exists() and Path(alive_url).exists()
        unrelated = tmp_path / "my-data"  # not a work folder: never touched
        unrelated.mkdir()
        old = time.time() - 3600
        for url in (killed_url, alive_url, str(unrelated)):
            os.utime(url, (old, old))  # past the grace period of a folder being created
        assert work.is_stale(killed_url) and not work.is_stale(alive_url)
        mine = work.Workdir(str(tmp_path))
        assert mine.removed_stale == [killed_url]
        assert not Path(killed_url).exists() and Path(alive_url).exists() and unrelated.exists()
        assert not work.is_stale(mine.url, now=time.time() + 3600)  # this process holds its lock
        mine.release()
        assert not Path(mine.url).exists()
    finally:
        alive.kill()
        alive.wait()
    os.utime(alive_url, (time.time() - 3600,) * 2)
    assert work.remove_stale(str(tmp_path)) == [alive_url]


def test_remote_work_folder_owner_record(tmp_path):
    base = "memory://trivium-test-workdirs"
    here = socket.gethostname()
    owners = {
        "dead": {"host": here, "pid": _dead_pid(), "created": time.time()},
        "live": {"host": here, "pid": os.getpid(), "created": time.time()},
        "other-host-new": {"host": "elsewhere", "pid": 1, "created": time.time()},
        "other-host-old": {"host": "elsewhere", "pid": 1, "created": time.time() - work.REMOTE_STALE_S - 1},
    }
    for name, owner in owners.items():
        io.write_bytes(io.join(base, f"{work.PREFIX}{name}", work.OWNER), json.dumps(owner).encode())
    removed = {u.split(work.PREFIX)[-1] for u in work.remove_stale(base)}
    assert removed == {"dead", "other-host-old"}
    io.remove(base)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
