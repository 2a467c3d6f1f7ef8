"""Operations end to end, with real servers on loopback: a `prefect server`, a Spark standalone cluster
(master + 2 workers from the pyspark installation), SIGKILLs and a killed executor.

Every run is the `trivium` CLI in its own process, on the same small input and config; each is compared
file by file (sha256 of everything a manifest lists) with an undisturbed local run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servers import prefect_server, spark_cluster

pytestmark = [pytest.mark.slow]
TRIVIUM = Path(sys.executable).parent / "trivium"
PREFECT = Path(sys.executable).parent / "prefect"
SOURCES = {"enwiki": 60, "code_python": 20, "gsm8k": 40, "sms_spam": 40}


def _digest(run: Path | str, **storage) -> dict[str, str]:
    """sha256 of every file a committed manifest lists, and each stage's counts (local or s3://)."""
    import fsspec

    fs, base = fsspec.core.url_to_fs(str(run), **storage)
    out = {}
    for manifest in sorted(fs.glob(f"{base}/*/_manifest.json")):
        stage_dir = manifest.rsplit("/", 1)[0]
        stage = stage_dir.rsplit("/", 1)[-1]
        m = json.loads(fs.cat(manifest))
        out[f"{stage}/counts"] = json.dumps([m["docs_in"], m["docs_out"], m["dropped"], m["quarantined"]])
        for f in m["files"] + m["rejects"]:
            out[f"{stage}/{f['path']}"] = hashlib.sha256(fs.cat(f"{stage_dir}/{f['path']}")).hexdigest()
    return out


@pytest.fixture(scope="module")
def ops(tmp_path_factory, corpus_dir):
    """Input, config, a real Prefect server and the reference (undisturbed, local) run."""
    work = tmp_path_factory.mktemp("ops")
    inp = work / "input"
    for source, n in SOURCES.items():
        (inp / source).mkdir(parents=True)
        with gzip.open(sorted((corpus_dir / source).glob("*.jsonl.gz"))[0], "rt", encoding="utf-8") as f, \
                open(inp / source / "part.jsonl", "w") as g:
            for _, line in zip(range(n), f):
                g.write(line)
    config = work / "config.yaml"
    # the stages whose Spark wiring differs (ingest, per-batch filters, shuffles, near-dedup's driver path);
    # the scoring stages after them add run time, not coverage of cluster/kill behaviour
    config.write_text("spark: {partitions: 3, driver_memory: 1g}\nquality: {enabled: false}\n"
                      "decontam: {enabled: false}\npii: {enabled: false}\ndomain: {enabled: false}\n")
    with prefect_server(work / "prefect-server") as api:
        env = os.environ | {"PREFECT_API_URL": api, "SPARK_LOCAL_IP": "127.0.0.1"}
        ref = work / "reference"
        result = _curate(inp, ref, config, env, "--master", "local[2]")
        assert result.returncode == 0, result.stderr[-3000:]
        yield {"work": work, "input": inp, "config": config, "env": env, "api": api, "reference": _digest(ref),
               "ref_dir": ref, "ref_json": json.loads(result.stdout)}


def _curate(inp: Path, out: Path | str, config: Path, env: dict, *extra: str, timeout: float = 600):
    return subprocess.run([str(TRIVIUM), "curate", "-i", str(inp), "-o", str(out), "-c", str(config), "--json",
                           *extra], env=env, capture_output=True, text=True, timeout=timeout)


def test_prefect_server_shows_runs_tasks_and_stage_artifacts(ops):
    assert len(ops["reference"]) > 10
    for args in (["flow", "ls"], ["flow-run", "ls"], ["deployment", "ls"], ["work-pool", "ls"], ["task-run", "ls"]):
        r = subprocess.run([str(PREFECT), *args], env=ops["env"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "422" not in r.stdout + r.stderr, (args, r.stderr[-2000:])
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from prefect.settings import PREFECT_API_URL, temporary_settings

    flow_run_id = ops["ref_json"]["flow_run_id"]
    with temporary_settings({PREFECT_API_URL: ops["api"]}):
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(flow_run_id)
            assert run.state.is_completed() and "trivium" in run.tags
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            names = {t.name.rsplit("-", 1)[0] for t in tasks}
            assert {"ingest", "langid", "heuristic_filter", "exact_dedup"} <= names
            artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            by_key = {a.key: a for a in artifacts}
            ingest = by_key["stage-ingest"]
            manifest = json.loads((ops["ref_dir"] / "00_ingest" / "_manifest.json").read_text())
            rows = json.loads(ingest.data) if isinstance(ingest.data, str) else ingest.data
            assert {"docs_in": manifest["docs_in"], "docs_out": manifest["docs_out"]}.items() <= rows[0].items()


def test_deployment_with_schedule_keeps_no_credentials(ops):
    cfg = ops["work"] / "with-keys.yaml"
    cfg.write_text("storage: {s3: {endpoint_url: 'http://127.0.0.1:9', key: AKIAOPSTESTKEY, secret: OPSSECRETVALUE}}\n")
    env = ops["env"] | {"PREFECT_HOME": str(ops["work"] / "client-home")}
    r = subprocess.run([str(TRIVIUM), "deploy", str(cfg), "--name", "nightly", "-i", str(ops["input"]), "-o",
                        str(ops["work"] / "nightly"), "--cron", "0 2 * * *"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    shown = subprocess.run([str(PREFECT), "deployment", "inspect", "curate/nightly"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0 and "0 2 * * *" in shown.stdout
    assert "OPSSECRETVALUE" not in shown.stdout and "AKIAOPSTESTKEY" not in shown.stdout
    bad = subprocess.run([str(TRIVIUM), "deploy", str(cfg), "--name", "x", "-i", "a", "-o", "b", "--cron", "soon"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "cron" in bad.stderr and "Traceback" not in bad.stderr


def _wait_for(path_glob: tuple[Path, str], proc: subprocess.Popen, timeout: float = 300) -> bool:
    base, pattern = path_glob
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if list(base.glob(pattern)):
            return True
        time.sleep(0.2)
    return False


def test_cluster_with_an_executor_killed_mid_stage_matches_local(ops):
    out = ops["work"] / "cluster"
    with spark_cluster(ops["work"] / "spark") as (master, workers):
        proc = subprocess.Popen([str(TRIVIUM), "curate", "-i", str(ops["input"]), "-o", str(out), "-c",
                                 str(ops["config"]), "--master", master, "--json"], env=ops["env"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = False
        if _wait_for((out, "02_heuristic_filter"), proc):
            executors = subprocess.run(["pgrep", "-f", "CoarseGrainedExecutorBackend"], capture_output=True,
                                       text=True).stdout.split()
            if executors:
                os.kill(int(executors[0]), signal.SIGKILL)
                killed = True
        stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    assert killed, "the run ended before an executor could be killed"
    assert _digest(out) == ops["reference"]


def test_sigkill_mid_stage_then_rerun_is_byte_identical(ops):
    """Killed (with its ephemeral Prefect server, fresh PREFECT_HOME, a CPU hog beside it while the server
    starts and migrates its new database), re-run: the committed stages are skipped, the interrupted one
    redone, files nobody listed never read."""
    out = ops["work"] / "killed"
    env = {k: v for k, v in ops["env"].items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(ops["work"] / "fresh-prefect-home")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        proc = subprocess.Popen([str(TRIVIUM), "curate", "-i", str(ops["input"]), "-o", str(out), "-c",
                                 str(ops["config"]), "--master", "local[2]"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        assert _wait_for((out, "01_langid/_manifest.json"), proc), "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        hog.kill()  # its job (a loaded first start) is done; the re-run need not share a core with it
        # planted: files no manifest lists, in a committed stage and in the interrupted one
        for stage in ("00_ingest", "02_heuristic_filter"):
            (out / stage).mkdir(exist_ok=True)
            (out / stage / "part-99999-planted.parquet").write_bytes(b"not parquet")
        committed = {p.parent.name for p in out.glob("*/_manifest.json")}
        result = _curate(ops["input"], out, ops["config"], env, "--master", "local[2]")
    finally:
        hog.kill()
        hog.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    skipped = {s["dir"].rsplit("/", 1)[-1] for s in summary["stages"] if s["skipped"]}
    assert committed <= skipped and "00_ingest" in skipped
    assert _digest(out) == ops["reference"]


def test_s3_server_restarted_while_a_stage_writes(ops, tmp_path):
    """Output on an S3-compatible server (moto, HTTP on loopback), credentials from the standard AWS
    environment; the server goes away mid-run and comes back: the stage's retry (or a re-run) completes,
    byte-identical to the local run, and the credentials appear in no output file."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    from servers import free_port

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    creds = {"AWS_ACCESS_KEY_ID": "AKIAFAULTTESTKEY", "AWS_SECRET_ACCESS_KEY": "faultTestSecretValue"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket="runs")
    config = tmp_path / "s3.yaml"
    config.write_text(ops["config"].read_text() + f"storage: {{s3: {{endpoint_url: '{endpoint}'}}}}\n")
    env = ops["env"] | creds
    out = "s3://runs/r1"
    try:
        proc = subprocess.Popen([str(TRIVIUM), "curate", "-i", str(ops["input"]), "-o", out, "-c", str(config),
                                 "--master", "local[2]", "--json"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="runs").get("Contents", [])]
            if any(k.startswith("r1/02_heuristic_filter/") for k in keys):
                break
            time.sleep(0.2)
        server.stop()
        time.sleep(3)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)  # moto keeps its state
        server.start()
        stdout, stderr = proc.communicate(timeout=600)
        if proc.returncode != 0:  # a clear error, then a re-run completes
            assert "Traceback" not in stderr.splitlines()[-1]
            again = _curate(ops["input"], out, config, env, "--master", "local[2]")
            assert again.returncode == 0, again.stderr[-3000:]
        storage = {"endpoint_url": endpoint, "key": creds["AWS_ACCESS_KEY_ID"],
                   "secret": creds["AWS_SECRET_ACCESS_KEY"]}
        assert _digest(out, **storage) == ops["reference"]
        leaked = [k for k in (o["Key"] for o in s3.list_objects_v2(Bucket="runs").get("Contents", []))
                  if creds["AWS_SECRET_ACCESS_KEY"].encode() in s3.get_object(Bucket="runs", Key=k)["Body"].read()]
        assert leaked == [] and creds["AWS_SECRET_ACCESS_KEY"] not in stdout + stderr
    finally:
        server.stop()
