"""`trivium demo` end to end on a 1 MB sample, in-process (the session's Spark and Prefect): curate with the
shipped models -> tokenizer -> stats -> plan -> build -> pack -> report, every step named in the output."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from trivium.flows.cli import app


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text: list[str] = []

    def handle_data(self, data):
        self.text.append(data)


def test_demo_runs_the_main_job_to_packed_shards_and_a_report(spark, prefect_harness, tmp_path):
    from trivium.flows.manifest import Manifest
    from trivium.flows.run_report import find_stage_dirs
    from trivium.tokenizer.shards import ShardManifest

    run = tmp_path / "demo"
    start = time.monotonic()
    result = CliRunner().invoke(app, ["demo", "-o", str(run), "--max-mb", "1", "--master", "local[2]"])
    print(f"trivium demo --max-mb 1: {time.monotonic() - start:.1f} s")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    for step in ("domain model:", "quality model:", "tokenizer:", "stats:", "plan:", "build ", "pack:", "report:",
                 "shards:"):
        assert any(line.startswith(step) for line in lines), f"no {step!r} line in the demo's output"
    assert "pack: packed" in result.output and f"report: {run / 'report.html'}" in result.output

    # the report parses and shows every part of the chain
    parser = _Text()
    parser.feed((run / "report.html").read_text())
    parser.close()
    for heading in ("Funnel", "Mixture", "Packed shards", "Tokenizer"):
        assert heading in parser.text
    assert "no mixture was built" not in " ".join(parser.text)

    # at least one shard file, listed by a shard manifest that accounts for every tokenized document
    bins = sorted(run.glob("packed/*/seq_*/shard-*.bin"))
    assert bins and all(b.stat().st_size > 0 for b in bins)
    stages, packed = [], []
    for folder in find_stage_dirs(str(run)):
        data = json.loads(Path(folder, "_manifest.json").read_text())
        if data.get("kind") == "trivium.packed":
            packed.append((folder, ShardManifest.model_validate(data)))
        else:
            stages.append((folder, Manifest.model_validate(data)))
    names = {m.stage for _, m in stages}
    assert {"ingest", "domain", "tokenize"} <= names and any(n.startswith("mix:") for n in names)
    assert [f for f, m in stages if not m.conserved()] == []  # every stage: in == out + dropped + quarantined
    assert packed
    for folder, shards in packed:
        store = Manifest.model_validate_json(Path(folder).parent.joinpath("token_store", "_manifest.json").read_text())
        assert shards.documents == store.docs_out and shards.tokens > 0
    evaluated = json.loads((run / "tokenizer" / "eval.json").read_text())
    assert evaluated["groups"]["all"]["docs"] > 0
