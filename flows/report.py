"""Per-stage summaries of a run: a rich table for people, one JSON object for scripts."""

from __future__ import annotations

from rich.table import Table

from trivium.flows.manifest import Manifest


def stage_summary(stage_dir: str, m: Manifest) -> dict:
    return {
        "stage": m.stage,
        "dir": stage_dir,
        "docs_in": m.docs_in,
        "docs_out": m.docs_out,
        "dropped": m.dropped,
        "quarantined": m.quarantined,
        "extra": m.extra,
        "wall_s": m.wall_s,
        "mb_in": round(m.text_bytes_in / 1e6, 3),
        "mb_per_s": round(m.mb_per_s, 3),
        "skipped": m.skipped,
        "conserved": m.conserved(),
    }


def _reasons(counts: dict[str, int]) -> str:
    return "\n".join(f"{k}: {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


EXTRACT_PREFIXES = ("web.extract.", "web.extractor.")
EXTRACT_REASONS = ("extraction_failed", "extraction_timeout", "empty_extraction")


def _notes(extra: dict) -> str:
    """Stage counters (masks per PII type, documents left unscored for want of a model, ...)."""
    flat = {k: v for k, v in extra.items() if isinstance(v, (int, float, str)) and not k.startswith(EXTRACT_PREFIXES)
            and k != "spark_cores"}
    return "\n".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in sorted(flat.items())) or "-"


def stage_table(summaries: list[dict], title: str = "trivium curate") -> Table:
    table = Table(title=title, show_lines=True)
    table.add_column("stage", no_wrap=True)
    for col in ("docs in", "docs out"):
        table.add_column(col, justify="right", no_wrap=True)
    for col in ("dropped", "quarantined", "notes"):
        table.add_column(col, overflow="fold")
    for col in ("MB in", "MB/s", "wall s"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in summaries:
        table.add_row(
            s["stage"] + (" (resumed)" if s["skipped"] else ""),
            f"{s['docs_in']:,}",
            f"{s['docs_out']:,}",
            _reasons(s["dropped"]),
            _reasons(s["quarantined"]),
            _notes(s["extra"]),
            f"{s['mb_in']:.1f}",
            "-" if s["skipped"] else f"{s['mb_per_s']:.2f}",
            f"{s['wall_s']:.1f}",
        )
        if s["extra"].get("web.extract.pages"):
            table.add_row(*_extraction_row(s))
    return table


def _extraction_row(s: dict) -> list[str]:
    """Web ingest's main-text extraction as a line of its own: pages in, texts out, its own reasons and
    per-core speed (`wall s` here is the extractor's time summed over tasks)."""
    x = s["extra"]
    name = next((k.rsplit(".", 1)[1] for k in x if k.startswith("web.extractor.")), "?")
    failed = {r: n for r, n in s["quarantined"].items() if r in EXTRACT_REASONS}
    return [f"  └ extract ({name})", f"{x['web.extract.pages']:,}", f"{x.get('web.extract.kept', 0):,}", "-",
            _reasons(failed), "-", f"{x.get('web.extract.mb', 0):.1f}", f"{x.get('web.extract.mb_per_s', 0):.2f}",
            f"{x.get('web.extract.task_s', 0):.1f}"]


def compact_summary(summaries: list[dict], bytes_per_token: float = 4.0) -> list[str]:
    """The end of a run in a few lines: documents and bytes kept overall, estimated tokens, the three largest
    drop reasons per stage, and where the final output is."""
    if not summaries:
        return ["no stage ran"]
    first, last = summaries[0], summaries[-1]
    kept_mb = last["mb_in"] * (last["docs_out"] / last["docs_in"]) if last["docs_in"] else 0.0
    share = last["docs_out"] / first["docs_in"] if first["docs_in"] else 0.0
    lines = [f"kept {last['docs_out']:,} of {first['docs_in']:,} documents ({share:.1%}), "
             f"~{kept_mb:,.1f} MB of text, ~{kept_mb * 1e6 / bytes_per_token:,.0f} tokens (est. "
             f"{bytes_per_token:g} bytes/token)"]
    for s in summaries:
        removed = {**s["dropped"], **s["quarantined"]}
        top = sorted(removed.items(), key=lambda kv: -kv[1])[:3]
        note = "resumed" if s["skipped"] else f"{s['wall_s']:.1f} s"
        reasons = ", ".join(f"{r} {n:,}" for r, n in top) or "nothing removed"
        more = f" (+{len(removed) - 3} more reasons)" if len(removed) > 3 else ""
        lines.append(f"  {s['stage']:<17} {s['docs_in']:>10,} -> {s['docs_out']:>10,}  [{note}]  {reasons}{more}")
    lines.append(f"final output: {last['dir']} (--verbose for the full per-reason table)")
    return lines
