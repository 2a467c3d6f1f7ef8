"""The CLI's consoles: results on stdout, progress and errors on stderr; one way to fail."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

# Piped or captured output gets wide tables instead of the 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit with `code` (2: bad input or usage)."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def spark_or_fail(config=None, master: str | None = None):
    """The SparkSession for a command: `--master` overrides the config; a missing Java is a clean exit."""
    from trivium.flows.spark import JavaMissing, SparkConfig, get_spark

    config = config or SparkConfig()
    if master:
        config.master = master
    try:
        return get_spark(config)
    except JavaMissing as e:
        fail(str(e))
