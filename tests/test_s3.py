"""curate end to end over S3 (a moto server on loopback): inputs, stage outputs and manifests in a bucket."""

from __future__ import annotations

import json

from damage import build_clean_inputs
from test_curate import by_stage, run_plain
from trivium.flows.config import CurateConfig


def test_curate_reads_and_writes_s3(spark, s3_server, fsspec_config, tmp_path):
    import s3fs

    s3_server.bucket("raw")
    storage = {"s3": s3_server.options}
    fs = s3fs.S3FileSystem(**storage["s3"])
    build_clean_inputs(tmp_path / "in")
    fs.put(str(tmp_path / "in") + "/", "raw/in/", recursive=True)

    config = CurateConfig(storage=storage)
    first = run_plain(spark, ["s3://raw/in"], "s3://raw/runs/r1", config)
    stages = by_stage(first)
    assert stages["ingest"].manifest.docs_in == 37 and all(o.manifest.conserved() for o in first)
    assert stages["exact_dedup"].manifest.dropped == {"exact_duplicate": 5}
    for o in first:
        assert o.stage_dir.startswith("s3://raw/runs/r1/")
        committed = json.loads(fs.cat(o.stage_dir + "/_manifest.json"))
        assert committed["docs_out"] == o.manifest.docs_out
        assert all(fs.exists(o.stage_dir + "/" + f["path"]) for f in committed["files"])

    again = run_plain(spark, ["s3://raw/in"], "s3://raw/runs/r1", config)
    assert all(o.manifest.skipped for o in again)
