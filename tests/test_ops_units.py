"""Operations pieces without servers: retry classification, progress arithmetic, `status`, `config show`,
deployment specs, the CLI's version/help."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from trivium.flows.cli import app
from trivium.flows.manifest import ConservationError, Manifest, write_manifest
from trivium.flows.observe import is_transient
from trivium.flows.progress import Snapshot


@pytest.mark.parametrize("exc,transient", [
    (ConnectionRefusedError(111, "Connection refused"), True),
    (TimeoutError("read timed out"), True),
    (RuntimeError("Job aborted: ExecutorLostFailure (executor 1 exited caused by one of the running tasks)"), True),
    (RuntimeError("botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL"), True),
    (ValueError("spark.partitions: Input should be greater than or equal to 1"), False),
    (ImportError("cannot import name 'x'"), False),
    (ConservationError("stage 'x' was given 4 documents but accounted for 6"), False),
    (RuntimeError("PythonException: KeyError: 'text'"), False),
])
def test_only_transient_failures_are_retried(exc, transient):
    assert is_transient(exc) is transient


def test_transient_cause_anywhere_in_the_chain():
    try:
        try:
            raise ConnectionResetError("Connection reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("stage failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_progress_snapshot_estimates_documents_and_never_goes_back():
    snap = Snapshot("near_dedup", tasks_done=3, tasks_total=12, docs_in=1000, elapsed=30.0)
    assert snap.fraction == 0.25 and snap.docs_done == 250 and snap.eta == pytest.approx(90.0)
    assert "near_dedup: 25% ~250/1,000 docs" in snap.line() and "ETA 90s" in snap.line()
    later = Snapshot("near_dedup", tasks_done=3, tasks_total=30, docs_in=1000, elapsed=40.0)  # a new job added tasks
    assert later.monotone(best=0.25).fraction == 0.25
    done = Snapshot("near_dedup", tasks_done=30, tasks_total=30, docs_in=1000, elapsed=50.0)
    assert done.monotone(best=0.5).fraction == 0.99  # 100% only when the stage ends
    assert Snapshot("ingest", 0, 0, None, 1.0).line() == "[progress] ingest: 0% elapsed 1s"


def _manifest(stage: str, docs_in: int, docs_out: int, dropped: dict) -> Manifest:
    return Manifest(stage=stage, config_hash="h", inputs=[], docs_in=docs_in, docs_out=docs_out, dropped=dropped,
                    wall_s=1.5)


def test_status_reports_done_partial_and_missing(tmp_path):
    write_manifest(str(tmp_path / "00_ingest"), _manifest("ingest", 10, 10, {}))
    write_manifest(str(tmp_path / "01_langid"), _manifest("langid", 10, 8, {"lang_not_allowed:xx": 2}))
    (tmp_path / "02_heuristic_filter").mkdir()
    (tmp_path / "02_heuristic_filter" / "part-00000-x.parquet").write_bytes(b"half written")
    result = CliRunner().invoke(app, ["status", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    states = {r["folder"]: r for r in json.loads(result.output)["stages"]}
    assert states["00_ingest"]["state"] == "done" and states["01_langid"]["dropped"] == 2
    assert states["02_heuristic_filter"]["state"] == "partial"
    assert states["03_exact_dedup"]["state"] == "missing"
    table = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert table.exit_code == 0 and "partial" in table.output and "01_langid" in table.output
    missing = CliRunner().invoke(app, ["status", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "run folder not found" in missing.output


def test_config_show_masks_secrets(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("storage: {s3: {key: AKIASHOWKEY, secret: SHOWSECRET}}\nnear_dedup: {threshold: 0.7}\n")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["near_dedup"]["threshold"] == 0.7 and data["storage"]["s3"]["secret"] == "**********"
    assert "SHOWSECRET" not in result.output and "AKIASHOWKEY" not in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("near_dedup: {threshhold: 0.7}\n")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(bad)])
    assert result.exit_code == 2 and "threshhold" in result.output


def test_deployment_parameters_never_carry_credentials():
    from trivium.flows.deploy import DeploymentSpec, redacted

    params = redacted({"storage": {"s3": {"endpoint_url": "http://x", "key": "K", "secret": "S", "token": "T"}},
                       "spark": {"partitions": 2}})
    assert params == {"storage": {"s3": {"endpoint_url": "http://x"}}, "spark": {"partitions": 2}}
    assert DeploymentSpec(name="nightly", parameters={}, cron="0 2 * * *").cron == "0 2 * * *"
    with pytest.raises(ValueError, match="not a cron expression"):
        DeploymentSpec(name="nightly", parameters={}, cron="every night")
    with pytest.raises(ValueError):
        DeploymentSpec(name="bad name/with slash", parameters={})


def test_version_and_short_help():
    from importlib.metadata import version

    assert CliRunner().invoke(app, ["--version"]).output.strip() == f"trivium {version('trivium')}"
    result = CliRunner().invoke(app, ["curate", "-h"])
    assert result.exit_code == 0 and "--force" in result.output and "<bool>" not in result.output


def test_set_overrides_and_stage_selection():
    from trivium.flows.cli import apply_sets, select_stages
    from trivium.flows.config import ConfigError, CurateConfig

    cfg = apply_sets(CurateConfig(), ["near_dedup.threshold=0.7", "spark.partitions=3"])
    assert cfg.near_dedup.threshold == 0.7 and cfg.spark.partitions == 3
    with pytest.raises(ConfigError, match="threshhold"):
        apply_sets(CurateConfig(), ["near_dedup.threshhold=0.7"])
    with pytest.raises(ValueError, match="expected SECTION.FIELD=VALUE"):
        apply_sets(CurateConfig(), ["near_dedup"])
    cut = select_stages(CurateConfig(), None, "exact_dedup")
    assert cut.exact_dedup.enabled and not cut.near_dedup.enabled and not cut.domain.enabled
    with pytest.raises(ValueError, match="not a stage"):
        select_stages(CurateConfig(), "nope", None)


def test_compact_summary_lists_top_reasons_and_the_final_output():
    from trivium.flows.report import compact_summary

    stage = {"stage": "heuristic_filter", "dir": "runs/r1/02_heuristic_filter", "docs_in": 100, "docs_out": 60,
             "dropped": {"a": 20, "b": 10, "c": 5, "d": 5}, "quarantined": {}, "skipped": False, "wall_s": 3.0,
             "mb_in": 2.0}
    ingest = {**stage, "stage": "ingest", "dir": "runs/r1/00_ingest", "docs_out": 100, "dropped": {},
              "skipped": True}
    lines = compact_summary([ingest, stage])
    assert lines[0].startswith("kept 60 of 100 documents (60.0%), ~1.2 MB of text, ~300,000 tokens")
    assert "a 20, b 10, c 5 (+1 more reasons)" in lines[2] and "[resumed]" in lines[1]
    assert lines[-1].startswith("final output: runs/r1/02_heuristic_filter")
