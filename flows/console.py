"""The CLI's consoles: results on stdout, progress and errors on stderr; one way to fail."""

from __future__ import annotations

import re
import sys

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
