"""Real servers for the operations tests, started from what the environment installs: a Prefect API server
and a Spark standalone cluster (master + workers from the pyspark installation), all on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s\n{tail}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def prefect_server(home: Path):
    """`prefect server start` on a free loopback port with its own PREFECT_HOME; yields the API URL."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                        "PREFECT_API_URL": "", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL")
    log = home / "server.log"
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait(lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200, 180, "prefect server",
              proc, log)
        yield url
    finally:
        _stop(proc)


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


@contextmanager
def spark_cluster(workdir: Path, workers: int = 2, cores: int = 1, memory: str = "1g"):
    """A standalone Spark master and `workers` workers on loopback; yields (master URL, worker processes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
                        "SPARK_NO_DAEMONIZE": "1", "SPARK_LOG_DIR": str(workdir)}
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    log = workdir / "master.log"
    master = subprocess.Popen([str(_spark_class()), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(free_port())],
                              env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(master)
    try:
        _wait(lambda: "I have been elected leader" in log.read_text(errors="replace"), 120, "spark master", master, log)
        worker_procs = []
        for i in range(workers):
            wlog = workdir / f"worker{i}.log"
            w = subprocess.Popen([str(_spark_class()), "org.apache.spark.deploy.worker.Worker", master_url,
                                  "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                                  "--webui-port", str(free_port()), "--work-dir", str(workdir / f"work{i}")],
                                 env=env, stdout=wlog.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(w)
            worker_procs.append(w)
        for i in range(workers):
            wlog = workdir / f"worker{i}.log"
            _wait(lambda wlog=wlog: "Successfully registered with master" in wlog.read_text(errors="replace"), 120,
                  f"spark worker {i}", procs[i + 1], wlog)
        yield master_url, worker_procs
    finally:
        for p in reversed(procs):
            _stop(p)
