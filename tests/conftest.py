"""Shared fixtures: one SparkSession and one Prefect harness for the whole suite; ../shared lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRIVIUM_SHARED", REPO.parent / "shared"))


def require_shared(sub: str = "") -> Path:
    """The ../shared path, or skip (fail under CI=true, where it must be there)."""
    path = SHARED / sub
    if not path.exists():
        msg = f"{path} is absent: this test reads the shared corpus/tokenizers that sit beside the repository"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return require_shared("corpus")


@pytest.fixture(scope="session")
def tokenizers_dir() -> Path:
    return require_shared("tokenizers")


@pytest.fixture(scope="session")
def spark():
    from trivium.flows.spark import SparkConfig, get_spark

    session = get_spark(SparkConfig(master="local[2]", partitions=4, driver_memory="3g"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's ephemeral test API (a temporary SQLite database), started once."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


class S3Server:
    """A moto S3 server on loopback: `options` are the s3fs keyword arguments that reach it."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}

    def bucket(self, name: str) -> str:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server():
    pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}")
    server.stop()


@pytest.fixture()
def fsspec_config():
    """fsspec's per-protocol defaults are process-global: restore them after the test."""
    import fsspec

    saved = {p: dict(kw) for p, kw in fsspec.config.conf.items()}
    yield fsspec.config.conf
    fsspec.config.conf.clear()
    fsspec.config.conf.update(saved)
