"""`trivium report` (the run's HTML data card) and `trivium inspect` (what a stage removed, and why)."""

from __future__ import annotations

import json
import re
import sys

import typer
from trivium.flows.console import fail, out

# C0/C1 controls (ESC starts ANSI sequences) and bidirectional overrides that can disguise text on a terminal.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SHOWN = ("id", "source", "lang", "reason", "disposition", "text")
_NOT_DETAIL = set(_SHOWN) | {"meta", "messages", "tools", "loss_spans"}


def neutralise(text: str) -> str:
    """Control characters become visible escapes (`\\x1b`), so a document cannot drive the terminal."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       text)


def report(
    run_dir: str = typer.Argument(..., help="run folder (local or s3://) holding stage folders with manifests"),
    html_path: str = typer.Option(None, "--html", help="where to write the HTML page (default RUN_DIR/report.html)"),
    as_json: bool = typer.Option(False, "--json", help="print the report's numbers as one JSON object"),
    target: str = typer.Option("11T", "--target", help="projection target in tokens (e.g. 11T, 500B)"),
    cores: int = typer.Option(512, "--cores", min=1, help="cores for the projection"),
    bytes_per_token: float = typer.Option(4.0, "--bytes-per-token", min=0.1, help="raw bytes per token assumed"),
    run_cores: int = typer.Option(None, "--run-cores", min=1,
                                  help="cores this run used, where its manifests do not say (default: this machine's)"),
) -> None:
    """Write a self-contained HTML data card of a run: funnel, per-source and per-language outcomes,
    near-duplicate clusters, samples, throughput and a cost projection.

    Example: trivium report runs/r1 --html r1.html --target 11T --cores 512
    """
    from trivium.flows import io
    from trivium.flows.run_report import build_report

    try:
        page, summary = build_report(run_dir, target=target, cores=cores, bytes_per_token=bytes_per_token,
                                     run_cores=run_cores)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    dest = html_path or io.join(run_dir, "report.html")
    io.write_bytes(dest, page.encode())
    summary["html"] = dest
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=1, default=str) + "\n")
    else:
        stages = len(summary["funnel"])
        out.print(f"report: {dest} ({stages} curate stages, {len(summary['mixture'])} mixture stages, "
                  f"{len(summary['packed'])} packed folders, {len(summary['downstream'])} other stages)",
                  markup=False, highlight=False)


def write_run_report(run_dir: str, quiet: bool = False) -> str | None:
    """RUN_DIR/report.html at the end of curate/run/demo. A report that fails never fails the run: one
    warning line on stderr instead. Returns where it was written (None on failure)."""
    from trivium.flows import io
    from trivium.flows.console import err
    from trivium.flows.run_report import build_report

    dest = io.join(run_dir, "report.html")
    try:
        page, _ = build_report(run_dir)
        io.write_bytes(dest, page.encode())
    except Exception as e:  # noqa: BLE001 - the run's data is committed; only the page is missing
        err.print(f"warning: report not written ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                  f"`trivium report {run_dir}` retries", markup=False, highlight=False)
        return None
    if not quiet:
        out.print(f"report: {dest}", markup=False, highlight=False)
    return dest


def inspect(
    run_dir: str = typer.Argument(..., help="run folder (local or s3://)"),
    stage: str = typer.Option(None, "--stage", "-s", help="only this stage (e.g. heuristic_filter)"),
    reason: str = typer.Option(None, "--reason", "-r", help="only rows whose reason contains this text"),
    source: str = typer.Option(None, "--source", help="only documents of this source"),
    n: int = typer.Option(5, "-n", min=1, help="documents to show"),
    kept: bool = typer.Option(False, "--kept", help="show kept documents instead of rejected ones"),
    chars: int = typer.Option(400, "--chars", min=20, help="characters of text to show per document"),
) -> None:
    """Show rejected (or kept) documents with their reason, source and the statistics that decided.

    Example: trivium inspect runs/r1 --stage heuristic_filter --reason alpha -n 3
    """
    from trivium.flows.run_report import _columns, _file_urls, load_stages

    try:
        stages, _, _ = load_stages(run_dir)
    except FileNotFoundError as e:
        fail(str(e))
    chosen = [r for r in stages if stage is None or r.manifest.stage == stage]
    if not chosen:
        names = ", ".join(r.manifest.stage for r in stages) or "none"
        fail(f"no committed stage {stage!r} under {run_dir} (stages: {names})")
    shown = 0
    for rec in chosen:
        for url in _file_urls(rec, rejects=not kept):
            cols = _columns(url)
            for i in range(len(cols.get("id", []))):
                row = {c: cols[c][i] for c in cols}
                if reason and reason not in str(row.get("reason") or ""):
                    continue
                if source and row.get("source") != source:
                    continue
                _print_row(rec.manifest.stage, row, chars)
                shown += 1
                if shown >= n:
                    return
    if not shown:
        out.print("no matching documents", markup=False)


def _print_row(stage: str, row: dict, chars: int) -> None:
    text = row.get("text")
    if text is None and row.get("messages") is not None:
        text = json.dumps(row["messages"], ensure_ascii=False, default=str)
    text = text or ""
    clipped = text[:chars] + (" …" if len(text) > chars else "")
    details = {k: v for k, v in row.items() if k not in _NOT_DETAIL and v is not None}
    head = f"── {stage} · {row.get('id')} · source={row.get('source')} · lang={row.get('lang')}"
    lines = [head]
    if row.get("reason"):
        lines.append(f"reason: {row.get('reason')} ({row.get('disposition')})")
    if details:
        lines.append("details: " + ", ".join(f"{k}={_short(v)}" for k, v in sorted(details.items())))
    lines.append(clipped)
    for line in lines:
        out.print(neutralise(line), markup=False, highlight=False, emoji=False)


def _short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if isinstance(value, float):
        text = f"{value:.4g}"
    return text if len(text) <= limit else text[:limit] + "…"
