"""The CLI's consoles: results on stdout, progress and errors on stderr; one way to fail."""

from __future__ import annotations

import importlib
import re
import sys
import threading

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

# Piped or captured output gets wide tables instead of the 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit with `code` (2: bad input or usage). The message is printed
    literally: paths and values in it may hold `[`...`]`, which Rich would read as markup."""
    line = " ".join(str(message).split())
    err.print(Text.assemble(("error: ", "bold red"), line), soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def cause_line(error: BaseException) -> str:
    """One line for an error: a Spark worker's error carries the Python traceback in its message, so
    its last `SomeError: message` line says more than its first."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    causes = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*:", ln)]
    return causes[-1] if causes else f"{type(error).__name__}: {lines[0] if lines else ''}"


def literal(text: str) -> str:
    """User data (a path, a value) inside a string that Rich renders as markup (titles, cells)."""
    return escape(str(text))


def spark_or_fail(config=None, master: str | None = None):
    """The SparkSession for a command: `--master` overrides the config; a missing Java is a clean exit."""
    from pydantic import ValidationError
    from trivium.flows.spark import JavaMissing, SparkConfig, get_spark

    config = config or SparkConfig()
    if master:
        try:
            config = SparkConfig.model_validate(config.model_dump() | {"master": master})
        except ValidationError as e:
            fail(f"--master: {e.errors()[0]['msg'].removeprefix('Value error, ')}")
    try:
        return get_spark(config)
    except JavaMissing as e:
        fail(str(e))


def spark_and_flow_or_fail(config=None, master: str | None = None, flow_module: str = "trivium.flows.curate"):
    """`spark_or_fail`, with a flow command's other two cold starts beside the JVM's: importing the flow
    module (Prefect's imports take seconds) and starting Prefect's ephemeral API server, in a thread while
    this one waits for the JVM (about 10 s of a small run's minute). A failure there is left to the flow,
    which starts both again and reports it as it would have."""
    import pyspark.sql  # noqa: F401 - imported before the thread starts, so the two share no first import
    import trivium.flows.spark  # noqa: F401

    def warm() -> None:
        try:
            importlib.import_module(flow_module)
            from trivium.flows.prefect_child import start_ephemeral_server

            start_ephemeral_server()
        except Exception:  # noqa: BLE001, S110 - the flow repeats the step and reports it
            pass

    warming = threading.Thread(target=warm, name="trivium-warm-prefect", daemon=True)
    warming.start()
    try:
        return spark_or_fail(config, master)
    finally:
        warming.join()
