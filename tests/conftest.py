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
