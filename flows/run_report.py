"""What a run did, read back from its manifests and the files they list: the data behind `trivium report`.

Only committed manifests are trusted (a stage folder without `_manifest.json` is reported as
missing, never read). Everything goes through fsspec and pyarrow, so a run folder on s3:// works
without Spark. Reading is column-projected: whole texts are read only for the few sampled documents.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pyarrow.parquet as pq
from trivium.flows import io
from trivium.flows.manifest import MANIFEST_NAME, Manifest
from trivium.flows.stages import STAGE_NAMES

SAMPLE_CHARS = 600
QUALITY_BINS = 10


@dataclass
class StageRecord:
    """One committed stage of the run, by folder."""

    dir: str
    rel: str  # folder relative to the run directory
    manifest: Manifest


@dataclass
class RunData:
    run_dir: str
    stages: list[StageRecord]  # curate stages in pipeline order
    other: list[StageRecord]  # mixture / pack / other manifests found under the run
    per_source: dict[str, dict] = field(default_factory=dict)
    per_lang: dict[str, dict] = field(default_factory=dict)
    clusters: dict = field(default_factory=dict)
    samples_kept: list[dict] = field(default_factory=list)
    samples_dropped: dict[str, list[dict]] = field(default_factory=dict)  # "stage: reason" -> docs
    extras: dict[str, object] = field(default_factory=dict)  # JSON side files (shard manifests, tokenizer eval)
    mixture: list[dict] = field(default_factory=list)  # per built curriculum stage
    packed: list[dict] = field(default_factory=list)  # per packed folder
    tokenizers: list[dict] = field(default_factory=list)  # per trained tokenizer found under the run


# ---- discovery ---------------------------------------------------------------------------


def find_stage_dirs(run_dir: str, max_depth: int = 3) -> list[str]:
    """Every folder under `run_dir` (itself included) that holds a `_manifest.json`, sorted."""
    fs, base = io.fs_and_path(run_dir)
    base = base.rstrip("/")
    found = []
    for path in fs.find(base, maxdepth=max_depth + 1, withdirs=False):
        if path.endswith("/" + MANIFEST_NAME) or path == MANIFEST_NAME:
            folder = path[: -len(MANIFEST_NAME)].rstrip("/")
            if "/rejects" not in folder[len(base):]:
                found.append(io.unstrip(fs, folder, run_dir))
    return sorted(found)


def _rel(run_dir: str, folder: str) -> str:
    rel = folder[len(run_dir.rstrip("/")):].lstrip("/")
    return rel or "."


def load_stages(run_dir: str) -> tuple[list[StageRecord], list[StageRecord], dict[str, object]]:
    curate, other, extras = [], [], {}
    for folder in find_stage_dirs(run_dir):
        raw = io.read_bytes(io.join(folder, MANIFEST_NAME))
        try:
            data = json.loads(raw)
            manifest = Manifest.model_validate(data)
        except ValueError:
            # Not a stage manifest (a shard manifest, a tokenizer card): kept as side data for the report.
            try:
                extras[_rel(run_dir, folder)] = json.loads(raw)
            except ValueError:
                pass
            continue
        record = StageRecord(folder, _rel(run_dir, folder), manifest)
        (curate if manifest.stage in STAGE_NAMES else other).append(record)
    curate.sort(key=lambda r: (STAGE_NAMES.index(r.manifest.stage), r.rel))
    return curate, other, extras


# ---- reading the listed files ------------------------------------------------------------


def _columns(url: str, wanted: list[str] | None = None) -> dict[str, list]:
    """The `wanted` columns of one Parquet file (None: all), missing ones as nulls."""
    fs, path = io.fs_and_path(url)
    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        wanted = pf.schema_arrow.names if wanted is None else wanted
        names = [c for c in wanted if c in pf.schema_arrow.names]
        table = pf.read(columns=names)
    n = table.num_rows
    return {c: (table[c].to_pylist() if c in names else [None] * n) for c in wanted}


def _file_urls(record: StageRecord, rejects: bool = False) -> list[str]:
    entries = record.manifest.rejects if rejects else record.manifest.files
    return [io.join(record.dir, f.path) for f in entries]


def per_group(stages: list[StageRecord]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Per source and per language: documents in, kept, dropped by reason, quality histogram, domains.

    Documents in = kept by the last stage + rejected anywhere (conservation makes that the ingest count).
    """
    if not stages:
        return {}, {}
    blank = lambda: {"docs_in": 0, "kept": 0, "reasons": Counter(), "quality_hist": [0] * QUALITY_BINS,  # noqa: E731
                     "domains": Counter()}
    by_source: dict[str, dict] = defaultdict(blank)
    by_lang: dict[str, dict] = defaultdict(blank)
    last = stages[-1]
    for url in _file_urls(last):
        cols = _columns(url, ["source", "lang", "quality_score", "domain"])
        for src, lang, q, dom in zip(cols["source"], cols["lang"], cols["quality_score"], cols["domain"]):
            for key, table in ((src or "unknown", by_source), (lang or "und", by_lang)):
                g = table[key]
                g["docs_in"] += 1
                g["kept"] += 1
                if q is not None and q == q:  # NaN is no score
                    g["quality_hist"][min(int(q * QUALITY_BINS), QUALITY_BINS - 1)] += 1
                if dom:
                    g["domains"][dom] += 1
    for rec in stages:
        for url in _file_urls(rec, rejects=True):
            cols = _columns(url, ["source", "lang", "reason"])
            for src, lang, reason in zip(cols["source"], cols["lang"], cols["reason"]):
                label = f"{rec.manifest.stage}: {reason}"
                for key, table in ((src or "unknown", by_source), (lang or "und", by_lang)):
                    table[key]["docs_in"] += 1
                    table[key]["reasons"][label] += 1
    return _finish(by_source), _finish(by_lang)


def _finish(groups: dict[str, dict]) -> dict[str, dict]:
    out = {}
    for key in sorted(groups):
        g = groups[key]
        out[key] = {
            "docs_in": g["docs_in"],
            "kept": g["kept"],
            "kept_fraction": round(g["kept"] / g["docs_in"], 4) if g["docs_in"] else 0.0,
            "reasons": dict(g["reasons"].most_common()),
            "quality_hist": g["quality_hist"],
            "domains": dict(sorted(g["domains"].items())),
        }
    return out


def cluster_summary(stages: list[StageRecord], largest: int = 10, sample_ids: int = 5) -> dict:
    """Near-duplicate clusters from near_dedup's rejects: size = dropped members + the kept representative."""
    members: dict[str, list[str]] = defaultdict(list)
    for rec in stages:
        if rec.manifest.stage != "near_dedup":
            continue
        for url in _file_urls(rec, rejects=True):
            cols = _columns(url, ["id", "dup_cluster"])
            for doc_id, rep in zip(cols["id"], cols["dup_cluster"]):
                if rep is not None:
                    members[rep].append(doc_id)
    sizes = Counter(len(m) + 1 for m in members.values())
    top = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:largest]
    return {
        "clusters": len(members),
        "size_histogram": {str(k): v for k, v in sorted(sizes.items())},
        "largest": [{"kept": rep, "size": len(m) + 1, "sample_ids": sorted(m)[:sample_ids]} for rep, m in top],
    }


def _truncate(text: str | None) -> str:
    if text is None:
        return ""
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"


def sample_documents(stages: list[StageRecord], per_reason: int = 2, kept: int = 8, seed: int = 0,
                     max_files: int = 6) -> tuple[list[dict], dict[str, list[dict]]]:
    """A seeded random sample of kept documents (last stage) and of dropped/quarantined ones per reason.

    Reads at most `max_files` part files per stage, chosen at random, so the cost does not grow with the run.
    """
    rng = random.Random(seed)
    wanted = ["id", "source", "lang", "text", "reason"]
    kept_docs: list[dict] = []
    if stages:
        urls = _file_urls(stages[-1])
        rng.shuffle(urls)
        pool = []
        for url in urls[:max_files]:
            cols = _columns(url, wanted[:4])
            pool += [dict(zip(wanted[:4], row)) for row in zip(*(cols[c] for c in wanted[:4]))]
        kept_docs = [{**d, "text": _truncate(d["text"])} for d in rng.sample(pool, min(kept, len(pool)))]
    dropped: dict[str, list[dict]] = {}
    for rec in stages:
        urls = _file_urls(rec, rejects=True)
        rng.shuffle(urls)
        pools: dict[str, list[dict]] = defaultdict(list)
        for url in urls[:max_files]:
            cols = _columns(url, wanted)
            for row in zip(*(cols[c] for c in wanted)):
                d = dict(zip(wanted, row))
                pools[f"{rec.manifest.stage}: {d['reason']}"].append(d)
        for label in sorted(pools):
            chosen = rng.sample(pools[label], min(per_reason, len(pools[label])))
            dropped[label] = [{**d, "text": _truncate(d["text"])} for d in chosen]
    return kept_docs, dropped


# ---- mixture, packing, tokenizer ---------------------------------------------------------------

MIX_PREFIX = "mix:"
PACKED_KIND = "trivium.packed"
TOKENIZER_CARD, TOKENIZER_EVAL = "trivium_tokenizer.json", "eval.json"


def _read_json(url: str) -> dict | None:
    try:
        data = json.loads(io.read_bytes(url)) if io.exists(url) else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _parent(folder: str) -> str:
    return folder.rstrip("/").rsplit("/", 1)[0]


def mixture_stages(run_dir: str, other: list[StageRecord]) -> list[dict]:
    """Each built curriculum stage: built tokens per bucket and per source (its manifest's counters), planned
    tokens and epochs per source (plan.json beside the mixture folder, or at the run's top)."""
    plans: dict[str, dict] = {}
    out = []
    for rec in other:
        m = rec.manifest
        if not m.stage.startswith(MIX_PREFIX):
            continue
        name = m.stage[len(MIX_PREFIX):]
        plan = None
        for where in (_parent(rec.dir), run_dir):
            if where not in plans:
                plans[where] = _read_json(io.join(where, "plan.json")) or {}
            plan = next((s for s in plans[where].get("stages", []) if s.get("name") == name), None)
            if plan is not None:
                break
        by_bucket, by_source = Counter(), Counter()
        for key, n in m.extra.items():
            if key.startswith("tokens|") and isinstance(n, (int, float)):
                source, bucket = (key.split("|") + ["", ""])[1:3]
                by_bucket[bucket] += n
                by_source[source] += n
        planned, available = Counter(), Counter()
        for c in (plan or {}).get("cells", []):
            planned[c["source"]] += c.get("drawn", 0)
            available[c["source"]] += c.get("available", 0)
        sources = [{"source": s, "built_tokens": int(by_source.get(s, 0)), "planned_tokens": round(planned.get(s, 0)),
                    "available_tokens": int(available.get(s, 0)),
                    "epochs": round(planned[s] / available[s], 4) if available.get(s) else None}
                   for s in sorted(set(by_source) | set(planned))]
        out.append({"stage": name, "folder": rec.rel, "rows": m.docs_out, "seq_len": m.extra.get("seq_len"),
                    "budget": m.extra.get("budget"), "tokens": m.extra.get("tokens", "?"),
                    "built_tokens": int(sum(by_bucket.values())), "tokens_per_bucket": dict(sorted(by_bucket.items())),
                    "sources": sources, "planned": plan is not None})
    return out


def packed_folders(extras: dict[str, object]) -> list[dict]:
    """Every packed folder (a shard manifest, `kind: trivium.packed`): efficiency and tokens per bucket."""
    out = []
    for rel, data in sorted(extras.items()):
        if not isinstance(data, dict) or data.get("kind") != PACKED_KIND:
            continue
        shards = data.get("shards") or []
        out.append({
            "folder": rel, "seq_len": data.get("seq_len"), "format": data.get("format"), "shards": len(shards),
            "files": sum(len(s.get("files") or []) for s in shards), "samples": data.get("samples", 0),
            "tokens": data.get("tokens", 0), "padding_tokens": data.get("padding_tokens", 0),
            "efficiency": round(1 - float(data.get("padding_fraction", 0.0)), 6) if data.get("samples") else None,
            "documents": data.get("documents", 0), "documents_cut": data.get("documents_cut", 0),
            "tokens_per_bucket": data.get("tokens_per_bucket") or {},
        })
    return out


def tokenizers(run_dir: str, max_depth: int = 2) -> list[dict]:
    """Tokenizers trained into the run (a folder with trivium_tokenizer.json) and, when an `eval.json`
    (`trivium tokenizer eval --json`) lies beside it, bytes per token per bucket."""
    fs, base = io.fs_and_path(run_dir)
    base = base.rstrip("/")
    found = []
    for depth in range(1, max_depth + 1):
        found += fs.glob(base + "/*" * depth + "/" + TOKENIZER_CARD)
    out = []
    for path in sorted(found):
        folder = io.unstrip(fs, path[: -len(TOKENIZER_CARD)].rstrip("/"), run_dir)
        card = _read_json(io.join(folder, TOKENIZER_CARD)) or {}
        result = _read_json(io.join(folder, TOKENIZER_EVAL))
        per_bucket = None
        if result and result.get("tokenizers") and isinstance(result.get("groups"), dict):
            name = result["tokenizers"][0]["name"]
            per_bucket = {}
            for group, g in result["groups"].items():
                if group == "all" or group.startswith("bucket:"):
                    t = (g.get("tokenizers") or {}).get(name) or {}
                    per_bucket[group.removeprefix("bucket:")] = {
                        "docs": g.get("docs", 0), "bytes": g.get("bytes", 0), "tokens": t.get("tokens", 0),
                        "bytes_per_token": t.get("bytes_per_token")}
        out.append({"folder": _rel(run_dir, folder), "vocab_size": card.get("vocab_size"),
                    "sample_bytes": card.get("sample_bytes"), "compression": per_bucket})
    return out


def collect(run_dir: str, seed: int = 0) -> RunData:
    stages, other, extras = load_stages(run_dir)
    if not stages and not other:
        raise FileNotFoundError(f"no committed stage (no {MANIFEST_NAME}) under {run_dir}")
    data = RunData(run_dir=run_dir, stages=stages, other=other, extras=extras)
    data.per_source, data.per_lang = per_group(stages)
    data.clusters = cluster_summary(stages)
    data.samples_kept, data.samples_dropped = sample_documents(stages, seed=seed)
    data.mixture = mixture_stages(run_dir, other)
    data.packed = packed_folders(extras)
    data.tokenizers = tokenizers(run_dir)
    return data


# ---- numbers derived from manifests (pure) -----------------------------------------------


def funnel(stages: list[StageRecord], bytes_per_token: float) -> list[dict]:
    """Documents, text bytes and estimated tokens into and out of every stage.

    A stage's output bytes are the next stage's input bytes; the last stage's are scaled by its kept fraction
    (marked estimated).
    """
    rows = []
    for i, rec in enumerate(stages):
        m = rec.manifest
        if i + 1 < len(stages):
            out_bytes, exact = stages[i + 1].manifest.text_bytes_in, True
        else:
            out_bytes = int(m.text_bytes_in * (m.docs_out / m.docs_in)) if m.docs_in else 0
            exact = False
        rows.append({
            "stage": m.stage,
            "docs_in": m.docs_in,
            "docs_out": m.docs_out,
            "bytes_in": m.text_bytes_in,
            "bytes_out": out_bytes,
            "bytes_out_exact": exact,
            "tokens_out_est": int(out_bytes / bytes_per_token),
            "dropped": m.dropped,
            "quarantined": m.quarantined,
            "conserved": m.conserved(),
        })
    return rows


def stage_cores(m: Manifest, default_cores: int) -> int:
    return int(m.extra.get("spark_cores") or m.extra.get("cores") or default_cores)


def throughput(stages: list[StageRecord], default_cores: int) -> list[dict]:
    rows = []
    for rec in stages:
        m = rec.manifest
        cores = stage_cores(m, default_cores)
        per_core = m.text_bytes_in / 1e6 / m.wall_s / cores if m.wall_s > 0 else 0.0
        rows.append({"stage": m.stage, "mb_in": m.text_bytes_in / 1e6, "wall_s": m.wall_s, "cores": cores,
                     "mb_per_s_per_core": per_core})
    return rows


def parse_size(text: str) -> float:
    """'11T' -> 1.1e13, '200B' -> 2e11, '1.5M' -> 1.5e6, '5000' -> 5000 (a count of tokens)."""
    units = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
    s = str(text).strip().upper()
    try:
        if s and s[-1] in units:
            value = float(s[:-1]) * units[s[-1]]
        else:
            value = float(s)
    except ValueError:
        raise ValueError(f"size {text!r}: expected a number with an optional K/M/B/T suffix, e.g. 11T") from None
    if value <= 0:
        raise ValueError(f"size {text!r}: must be positive")
    return value


def projection(throughput_rows: list[dict], target_tokens: float, cores: int, bytes_per_token: float) -> dict:
    """Core-hours and wall time to run every stage over `target_tokens` of raw text on `cores` cores.

    Assumes each stage sees the share of the raw bytes it saw in this run, its measured MB/s per core, and
    linear scaling across cores (no start-up, no stragglers).
    """
    if cores < 1:
        raise ValueError("cores must be at least 1")
    target_bytes = target_tokens * bytes_per_token
    first = throughput_rows[0]["mb_in"] if throughput_rows else 0.0
    stages, total = [], 0.0
    for row in throughput_rows:
        share = row["mb_in"] / first if first else 0.0
        rate = row["mb_per_s_per_core"]
        core_h = (target_bytes * share / 1e6 / rate / 3600) if rate > 0 else 0.0
        total += core_h
        stages.append({"stage": row["stage"], "share_of_input": share, "mb_per_s_per_core": rate,
                       "core_hours": core_h, "wall_hours": core_h / cores})
    tb = target_bytes / 1e12
    return {
        "target_tokens": target_tokens,
        "target_bytes": target_bytes,
        "cores": cores,
        "bytes_per_token": bytes_per_token,
        "stages": stages,
        "core_hours": total,
        "wall_hours": total / cores,
        "core_hours_per_tb": total / tb if tb else 0.0,
        "assumptions": [
            f"{bytes_per_token} bytes of raw text per token",
            "each stage sees the share of the input bytes it saw in this run",
            "throughput per core as measured in this run, scaling linearly to the target cores",
            "Spark/Prefect start-up, object-store latency and stragglers not included",
        ],
    }


# ---- the report ------------------------------------------------------------------------------


def build_report(run_dir: str, target: str = "11T", cores: int = 512, bytes_per_token: float = 4.0,
                 run_cores: int | None = None, seed: int = 0) -> tuple[str, dict]:
    """(HTML page, JSON-able summary) for the run under `run_dir`."""
    import os

    from trivium.flows import report_html as H

    data = collect(run_dir, seed=seed)
    default_cores = run_cores or os.cpu_count() or 1
    fun = funnel(data.stages, bytes_per_token)
    thr = throughput(data.stages, default_cores)
    proj = projection(thr, parse_size(target), cores, bytes_per_token) if thr else None
    # mixture stages and shard manifests have their own sections; the rest (token stores, stats) are listed
    rest = [r for r in data.other if not r.manifest.stage.startswith(MIX_PREFIX)]
    side = {k: v for k, v in data.extras.items() if not (isinstance(v, dict) and v.get("kind") == PACKED_KIND)}
    summary = {
        "run_dir": run_dir,
        "funnel": fun,
        "per_source": data.per_source,
        "per_language": data.per_lang,
        "near_duplicates": data.clusters,
        "throughput": thr,
        "projection": proj,
        "mixture": data.mixture,
        "packed": data.packed,
        "tokenizers": data.tokenizers,
        "downstream": [{"folder": r.rel, "stage": r.manifest.stage, "docs_in": r.manifest.docs_in,
                        "docs_out": r.manifest.docs_out, "conserved": r.manifest.conserved()} for r in rest],
        "side_files": sorted(side),
        "samples": {"kept": len(data.samples_kept), "dropped_reasons": len(data.samples_dropped)},
    }
    sections = [
        H.funnel_section(fun) if fun else "",
        H.group_section("Per source", "sources", data.per_source),
        H.group_section("Per language", "languages", data.per_lang),
        H.cluster_section(data.clusters) if data.stages else "",
        H.mixture_section(data.mixture),
        H.packing_section(data.packed),
        H.tokenizer_section(data.tokenizers),
        H.other_section("Other stages", "downstream", rest, side),
        H.samples_section(data.samples_kept, data.samples_dropped),
        H.throughput_section(thr, proj) if thr else "",
    ]
    return H.page(f"trivium run report: {run_dir}", sections), summary
