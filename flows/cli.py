"""The `trivium` command line: one typer app, one sub-app per domain."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="trivium",
    help="Data curation and tokenizer building for LLM pretraining.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def main() -> None:
    app()
