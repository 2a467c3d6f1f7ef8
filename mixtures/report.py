"""A plan as a self-contained HTML page: a stacked bar of shares per stage and epochs per source (inline SVG)."""

from __future__ import annotations

from html import escape

from .plan import Plan
from .recipe import format_tokens

_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]


def _stacked_bar(shares: dict[str, float], width: int = 760) -> str:
    parts, x = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="44" font-size="11">'], 0.0
    for i, (name, share) in enumerate(sorted(shares.items(), key=lambda kv: -kv[1])):
        w = share * width
        color = _COLORS[i % len(_COLORS)]
        parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="24" fill="{color}">'
                     f'<title>{escape(name)}: {share:.1%}</title></rect>')
        if w > 40:
            parts.append(f'<text x="{x + 3:.1f}" y="16" fill="white">{escape(name)} {share:.0%}</text>')
        x += w
    parts.append("</svg>")
    return "".join(parts)


def _epoch_bars(cells, width: int = 500) -> str:
    row = 16
    top = max([c.max_epochs for c in cells] + [c.epochs for c in cells] + [1.0])
    height = row * len(cells) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 260}" height="{height}" font-size="11">']
    for i, c in enumerate(cells):
        y = i * row
        over = c.epochs > c.max_epochs * (1 + 1e-6)
        parts.append(f'<text x="0" y="{y + 11}">{escape(c.source)} ({escape(c.subdomain)})</text>')
        parts.append(f'<rect x="220" y="{y + 2}" width="{c.epochs / top * width:.1f}" height="{row - 4}" '
                     f'fill="{"#e15759" if over else "#4e79a7"}"/>')
        cap_x = 220 + c.max_epochs / top * width
        parts.append(f'<line x1="{cap_x:.1f}" x2="{cap_x:.1f}" y1="{y}" y2="{y + row}" stroke="black"/>')
        parts.append(f'<text x="{224 + c.epochs / top * width:.1f}" y="{y + 11}">{c.epochs:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_plan_html(p: Plan) -> str:
    est = " (estimated from bytes)" if p.estimated else ""
    body = [f"<h1>Mixture plan: {escape(p.recipe)}{' (solved)' if p.solved else ''}</h1>",
            f"<p>Token counts are {'estimated from bytes' if p.estimated else 'exact'}.</p>"]
    for s in p.stages:
        status = "feasible" if s.feasible else "INFEASIBLE"
        body.append(f"<h2>{escape(s.name)}: {format_tokens(s.budget)} tokens{est}, seq_len {s.seq_len:,}, {status}</h2>")
        body += [f'<p class="bad">{escape(msg)}</p>' for msg in s.problems]
        body.append("<h3>share of the stage</h3>" + _stacked_bar(s.shares_by_weight()))
        body.append("<h3>epochs per source (line: max_epochs)</h3>" + _epoch_bars(s.cells))
    style = "body{font-family:sans-serif;margin:2em} .bad{color:#b00}"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>plan {escape(p.recipe)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
