"""The run report as one self-contained HTML page: inline SVG plots, no script, nothing loaded from anywhere.

Documents are untrusted input: every string that reaches the page goes through `esc`, and the page's
Content-Security-Policy forbids scripts and any fetch, so even a missed escape could not run or load.
"""

from __future__ import annotations

import html

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;word-break:break-word;background:#f8f8f8;padding:6px;margin:4px 0;max-height:14em;overflow:auto}
.ok{color:#2a7d2a}.bad{color:#b00020;font-weight:bold}.note{color:#666}
svg text{font:11px system-ui,sans-serif}details{margin:4px 0}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(value: float | int) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


# ---- plots (inline SVG) ------------------------------------------------------------------


def bar_chart(items: list[tuple[str, float]], width: int = 640, bar: int = 18, label_w: int = 220) -> str:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    if not items:
        return '<p class="note">nothing to plot</p>'
    top = max(v for _, v in items) or 1
    h = bar * len(items) + 4
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * bar + 2
        w = max(1.0, (width - label_w - 80) * value / top) if value else 0
        rows.append(
            f'<text x="{label_w - 6}" y="{y + bar * 0.7:.1f}" text-anchor="end">{esc(label[:40])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 4}" fill="{PALETTE[0]}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar * 0.7:.1f}">{esc(num(value))}</text>'
        )
    return f'<svg role="img" width="{width}" height="{h}" viewBox="0 0 {width} {h}">{"".join(rows)}</svg>'


def histogram(counts: list[int], labels: list[str] | None = None, width: int = 160, height: int = 40) -> str:
    """A small column histogram (e.g. quality scores in ten bins of 0.1)."""
    if not counts or not any(counts):
        return '<span class="note">-</span>'
    top = max(counts)
    w = width / len(counts)
    cols = []
    for i, c in enumerate(counts):
        ch = (height - 2) * c / top
        tip = f"{labels[i]}: {c}" if labels else str(c)
        cols.append(f'<rect x="{i * w:.1f}" y="{height - ch:.1f}" width="{w - 1:.1f}" height="{ch:.1f}" '
                    f'fill="{PALETTE[2]}"><title>{esc(tip)}</title></rect>')
    return f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(cols)}</svg>'


def stacked_bar(parts: dict[str, float], width: int = 240, height: int = 16, names: list[str] | None = None) -> str:
    """One bar split by share, a colour per part, with a legend; `names` fixes each part's colour across bars."""
    total = sum(parts.values())
    if not total:
        return '<span class="note">-</span>'
    x, rects, legend = 0.0, [], []
    for i, (name, value) in enumerate(parts.items()):
        w = width * value / total
        colour = PALETTE[(names.index(name) if names and name in names else i) % len(PALETTE)]
        rects.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}">'
                     f'<title>{esc(name)}: {esc(num(value))}</title></rect>')
        legend.append(f'<span style="color:{colour}">■</span> {esc(name)} {value / total:.0%}')
        x += w
    svg = f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(rects)}</svg>'
    return svg + "<br>" + " ".join(legend)


# ---- sections ----------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def reasons_cell(counts: dict[str, int], top: int = 6) -> str:
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    shown = "<br>".join(f"{esc(k)}: {v:,}" for k, v in items[:top])
    rest = len(items) - top
    return (shown + (f"<br><span class='note'>+{rest} more</span>" if rest > 0 else "")) or "-"


def funnel_section(rows: list[dict]) -> str:
    chart = bar_chart([(r["stage"], r["docs_out"]) for r in rows])
    body = []
    for r in rows:
        ok = '<span class="ok">yes</span>' if r["conserved"] else '<span class="bad">NO</span>'
        approx = "" if r["bytes_out_exact"] else "≈"
        body.append([esc(r["stage"]), num(r["docs_in"]), num(r["docs_out"]), num(r["bytes_in"] / 1e6),
                     approx + num(r["bytes_out"] / 1e6), "≈" + num(r["tokens_out_est"]),
                     reasons_cell(r["dropped"]), reasons_cell(r["quarantined"]), ok])
    return ("<h2 id='funnel'>Funnel</h2><p>Documents kept after each stage.</p>" + chart
            + table(["stage", "docs in", "docs out", "MB in", "MB out", "tokens out (est.)", "dropped",
                     "quarantined", "conserved"], body, numeric={1, 2, 3, 4, 5}))


def fold_small(groups: dict[str, dict], limit: int) -> dict[str, dict]:
    """The `limit` largest groups by documents in; the rest summed into one 'other (N)' row."""
    if len(groups) <= limit:
        return groups
    ranked = sorted(groups, key=lambda k: (-groups[k]["docs_in"], k))
    rest = ranked[limit:]
    other = {"docs_in": 0, "kept": 0, "reasons": {}, "quality_hist": [0] * len(groups[rest[0]]["quality_hist"]),
             "domains": {}}
    for k in rest:
        g = groups[k]
        other["docs_in"] += g["docs_in"]
        other["kept"] += g["kept"]
        other["quality_hist"] = [a + b for a, b in zip(other["quality_hist"], g["quality_hist"])]
        for field in ("reasons", "domains"):
            for name, n in g[field].items():
                other[field][name] = other[field].get(name, 0) + n
    other["kept_fraction"] = other["kept"] / other["docs_in"] if other["docs_in"] else 0.0
    return {k: groups[k] for k in ranked[:limit]} | {f"other ({len(rest)})": other}


def group_section(title: str, anchor: str, groups: dict[str, dict], limit: int = 15) -> str:
    if not groups:
        return ""
    groups = fold_small(groups, limit)
    labels = [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10)]
    rows = []
    for key, g in groups.items():
        rows.append([esc(key), num(g["docs_in"]), num(g["kept"]),
                     f"{g['kept_fraction']:.1%}" + stacked_bar({"kept": g["kept"], "removed": g["docs_in"] - g["kept"]},
                                                               width=120, height=8).split("<br>")[0],
                     reasons_cell(g["reasons"], top=3), histogram(g["quality_hist"], labels),
                     stacked_bar(g["domains"]) if g["domains"] else '<span class="note">-</span>'])
    return (f"<h2 id='{anchor}'>{esc(title)}</h2>"
            + table(["", "docs in", "kept", "kept fraction", "top drop reasons", "quality score (0-1)", "domains"],
                    rows, numeric={1, 2}))


def cluster_section(clusters: dict) -> str:
    if not clusters or not clusters.get("clusters"):
        return "<h2 id='clusters'>Near-duplicate clusters</h2><p class='note'>no near-duplicate clusters in this run</p>"
    hist = [(f"size {k}", v) for k, v in clusters["size_histogram"].items()]
    rows = [[esc(c["kept"]), num(c["size"]), esc(", ".join(c["sample_ids"]))] for c in clusters["largest"]]
    return (f"<h2 id='clusters'>Near-duplicate clusters</h2><p>{clusters['clusters']:,} clusters; "
            "size = documents in the cluster, the kept one included.</p>" + bar_chart(hist)
            + "<h3>Largest clusters</h3>" + table(["kept document", "size", "dropped members (sample)"], rows, {1}))


def _doc_block(d: dict) -> str:
    head = " · ".join(esc(x) for x in (d.get("id"), d.get("source"), d.get("lang")) if x)
    return f"<div><b>{head}</b><pre>{esc(d.get('text') or '')}</pre></div>"


def samples_section(kept: list[dict], dropped: dict[str, list[dict]]) -> str:
    parts = ["<h2 id='samples'>Samples</h2><p class='note'>Random documents, truncated; shown as text, never "
             "rendered.</p><details open><summary>kept documents</summary>"]
    parts += [_doc_block(d) for d in kept]
    parts.append("</details>")
    for label, docs in dropped.items():
        parts.append(f"<details><summary>{esc(label)} ({len(docs)})</summary>")
        parts += [_doc_block(d) for d in docs]
        parts.append("</details>")
    return "".join(parts)


def throughput_section(rows: list[dict], proj: dict | None) -> str:
    body = [[esc(r["stage"]), num(r["mb_in"]), num(r["wall_s"]), str(r["cores"]), num(r["mb_per_s_per_core"])]
            for r in rows]
    out = ("<h2 id='throughput'>Throughput</h2>" + bar_chart([(r["stage"], r["mb_per_s_per_core"]) for r in rows])
           + table(["stage", "MB in", "wall s", "cores", "MB/s per core"], body, numeric={1, 2, 3, 4}))
    if proj:
        prow = [[esc(s["stage"]), f"{s['share_of_input']:.1%}", num(s["mb_per_s_per_core"]), num(s["core_hours"]),
                 num(s["wall_hours"])] for s in proj["stages"]]
        out += (f"<h3>Projection: {num(proj['target_tokens'] / 1e12)}T tokens "
                f"({num(proj['target_bytes'] / 1e12)} TB) on {proj['cores']:,} cores</h3>"
                + table(["stage", "share of input", "MB/s per core", "core-hours", "wall hours"], prow, {1, 2, 3, 4})
                + f"<p>Total: <b>{num(proj['core_hours'])} core-hours</b> ({num(proj['core_hours_per_tb'])} per TB), "
                  f"<b>{num(proj['wall_hours'])} h wall</b>. Assumptions: "
                + "; ".join(esc(a) for a in proj["assumptions"]) + ".</p>")
    return out


def mixture_section(stages: list[dict]) -> str:
    """Per curriculum stage: built tokens per bucket as one stacked bar, planned vs built tokens and epochs per source."""
    if not stages:
        return ("<h2 id='mixture'>Mixture</h2><p class='note'>no mixture was built in this run "
                "(`trivium run` or `trivium mix build` writes one)</p>")
    parts = ["<h2 id='mixture'>Mixture</h2><p>Tokens per bucket in each curriculum stage as built (counted while "
             "building); epochs = planned tokens / tokens available.</p>"]
    buckets = sorted({b for s in stages for b in s["tokens_per_bucket"]})
    head = []
    for s in stages:
        most = max((c for c in s["sources"] if c["epochs"] is not None), key=lambda c: c["epochs"], default=None)
        head.append([esc(s["stage"]), num(s["rows"]), esc(num(s["seq_len"]) if s["seq_len"] else "-"),
                     esc(num(s["budget"]) if s["budget"] is not None else "-"), num(s["built_tokens"]),
                     esc(s["tokens"]), f"{most['epochs']:.2f} ({esc(most['source'])})" if most else "-",
                     stacked_bar(s["tokens_per_bucket"], width=320, names=buckets)])
    parts.append(table(["stage", "rows", "seq_len", "budget", "built tokens", "token counts", "most epochs (source)",
                        "tokens per bucket"], head, {1, 2, 3, 4}))
    for s in stages:
        rows = [[esc(c["source"]), num(c["available_tokens"]), num(c["planned_tokens"]), num(c["built_tokens"]),
                 f"{c['epochs']:.2f}" if c["epochs"] is not None else "-"] for c in s["sources"]]
        note = "" if s["planned"] else "<p class='note'>no plan.json found: planned tokens and epochs unknown</p>"
        parts.append(f"<details><summary>{esc(s['stage'])}: per source</summary>{note}"
                     + table(["source", "available", "planned", "built", "epochs"], rows, {1, 2, 3, 4}) + "</details>")
    return "".join(parts)


def packing_section(folders: list[dict]) -> str:
    if not folders:
        return "<h2 id='packing'>Packed shards</h2><p class='note'>no packed shards in this run</p>"
    buckets = sorted({b for f in folders for b in f["tokens_per_bucket"]})
    rows = [[esc(f["folder"]), esc(num(f["seq_len"])), num(f["shards"]), num(f["samples"]), num(f["tokens"]),
             num(f["padding_tokens"]), f"{f['efficiency']:.2%}" if f["efficiency"] is not None else "-",
             f"{num(f['documents'])} ({num(f['documents_cut'])} cut)",
             stacked_bar(f["tokens_per_bucket"], width=240, names=buckets)]
            for f in folders]
    return ("<h2 id='packing'>Packed shards</h2><p>Efficiency = non-padding tokens / (samples × seq_len).</p>"
            + bar_chart([(f["folder"], f["efficiency"] or 0.0) for f in folders])
            + table(["folder", "seq_len", "shards", "samples", "tokens", "padding", "efficiency", "documents",
                     "tokens per bucket"], rows, {1, 2, 3, 4, 5, 6}))


def tokenizer_section(found: list[dict]) -> str:
    if not found:
        return "<h2 id='tokenizer'>Tokenizer</h2><p class='note'>no tokenizer was trained in this run</p>"
    parts = ["<h2 id='tokenizer'>Tokenizer</h2>"]
    for t in found:
        vocab = f", vocabulary {num(t['vocab_size'])}" if isinstance(t.get("vocab_size"), int) else ""
        parts.append(f"<h3>{esc(t['folder'])}{esc(vocab)}</h3>")
        comp = t.get("compression")
        if not comp:
            parts.append("<p class='note'>compression not measured (no eval.json beside the tokenizer; "
                         "`trivium tokenizer eval --json` writes one)</p>")
            continue
        rows = [[esc(b), num(g["docs"]), num(g["bytes"]), num(g["tokens"]),
                 f"{g['bytes_per_token']:.3f}" if g["bytes_per_token"] else "-"] for b, g in comp.items()]
        parts.append("<p>Bytes per token (higher = better compression).</p>"
                     + bar_chart([(b, g["bytes_per_token"] or 0.0) for b, g in comp.items()])
                     + table(["bucket", "docs", "bytes", "tokens", "bytes/token"], rows, {1, 2, 3, 4}))
    return "".join(parts)


def other_section(title: str, anchor: str, records: list, extras: dict) -> str:
    """Other committed stages found under the run (token stores, stats), as their manifests describe them."""
    if not records and not extras:
        return ""
    rows = []
    for r in records:
        m = r.manifest
        flat = {k: v for k, v in m.extra.items() if isinstance(v, (int, float, str))}
        ok = '<span class="ok">yes</span>' if m.conserved() else '<span class="bad">NO</span>'
        rows.append([esc(r.rel), esc(m.stage), num(m.docs_in), num(m.docs_out), ok,
                     "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in sorted(flat.items())[:20]) or "-"])
    out = f"<h2 id='{anchor}'>{esc(title)}</h2>"
    if rows:
        out += table(["folder", "stage", "docs in", "docs out", "conserved", "details"], rows, {2, 3})
    for name, data in extras.items():
        out += f"<details><summary>{esc(name)}</summary><pre>{esc(_short_json(data))}</pre></details>"
    return out


def _short_json(data: object, limit: int = 4000) -> str:
    import json

    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "\n…"


def page(title: str, sections: list[str]) -> str:
    nav = ("<p>" + " · ".join(f"<a href='#{a}'>{t}</a>" for a, t in (
        ("funnel", "funnel"), ("sources", "sources"), ("languages", "languages"), ("clusters", "clusters"),
        ("mixture", "mixture"), ("packing", "shards"), ("tokenizer", "tokenizer"), ("downstream", "other stages"),
        ("samples", "samples"), ("throughput", "throughput"))) + "</p>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        f"<meta name='referrer' content='no-referrer'><title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{esc(title)}</h1>{nav}{''.join(sections)}</body></html>"
    )
