"""What the Prefect UI shows of a stage, and which failures Prefect should retry.

Each stage task publishes its counts as a table artifact (key `stage-<name>`), so the flow run's page
lists docs in/out, drops and MB/s per stage. Retries are for failures that may pass on their own: an
object store that refused or timed out, an executor that was lost. A data or config error would fail
the same way again, so it fails at once.
"""

from __future__ import annotations

import re

# Messages of transient failures, as raised by s3fs/botocore/aiohttp in a Spark Python worker (and so seen
# by the driver only as text inside a PythonException) or by Spark itself when an executor goes away.
TRANSIENT = re.compile(
    r"ExecutorLostFailure|executor lost|Executor heartbeat timed out|FetchFailed|Connection refused|"
    r"Connection reset|ConnectionResetError|ConnectionRefusedError|EndpointConnectionError|ConnectTimeout|"
    r"ReadTimeout|SocketTimeout|ServerDisconnectedError|ClientConnectorError|ServiceUnavailable|SlowDown|"
    r"InternalError|RequestTimeout|Temporary failure in name resolution|503 Service|500 Internal",
    re.IGNORECASE,
)
PERMANENT = (ValueError, TypeError, KeyError, LookupError, ImportError, AttributeError, AssertionError)


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: OS-level connection/timeouts and the messages above, anywhere in the
    exception chain; False for errors of the data, the config or the code (and for conservation failures)."""
    from trivium.flows.manifest import ConservationError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConservationError):
            return False
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        text = f"{type(exc).__name__}: {exc}"
        if TRANSIENT.search(text):
            return True
        if isinstance(exc, PERMANENT):
            return False
        exc = exc.__cause__ or exc.__context__
    return False


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the failure being classified
        return is_transient(exc)
    return False


def stage_row(outcome) -> dict:
    m = outcome.manifest
    return {
        "stage": m.stage,
        "docs_in": m.docs_in,
        "docs_out": m.docs_out,
        "dropped": sum(m.dropped.values()),
        "quarantined": sum(m.quarantined.values()),
        "mb_in": round(m.text_bytes_in / 1e6, 3),
        "mb_per_s": round(m.mb_per_s, 3),
        "wall_s": m.wall_s,
        "resumed": m.skipped,
        "conserved": m.conserved(),
    }


def publish_stage(outcome) -> None:
    """The stage's counts as a table artifact on the current task run; top reasons in its description."""
    from prefect.artifacts import create_table_artifact

    m = outcome.manifest
    reasons = sorted({**m.dropped, **m.quarantined}.items(), key=lambda kv: -kv[1])[:10]
    lines = [f"**{m.stage}**: {m.docs_in:,} in, {m.docs_out:,} out ({outcome.stage_dir})"]
    lines += [f"- `{r}`: {n:,}" for r, n in reasons]
    create_table_artifact(key=f"stage-{m.stage.replace('_', '-')}", table=[stage_row(outcome)],
                          description="\n".join(lines))
