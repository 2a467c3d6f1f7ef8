"""curate end to end over S3 (a moto server on loopback): inputs, stage outputs and manifests in a bucket."""

from __future__ import annotations

import json

import pytest
from damage import build_clean_inputs

from trivium.flows.config import CurateConfig
from test_curate import by_stage, run_plain


@pytest.fixture(scope="module")
def s3_endpoint():
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket="raw")
    yield endpoint
    server.stop()


def test_curate_reads_and_writes_s3(spark, s3_endpoint, tmp_path):
    import s3fs

    storage = {"s3": {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}}
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
