"""Near-duplicates as they occur on the web: the precision/recall curve over the verification threshold.

The labelled set of tests/neardup_eval.py (built from ../shared/corpus at run time: extractor variants
of the raw HTML pages, edited copies, unrelated background), scored by its one scorer. For each
verification measure (containment, Jaccard; each with the LSH bands its config derives) and each
threshold, the stage's algorithm runs in memory (`clusters_in_memory`: the same LSH buckets, measure
and components as the Spark stage) and prints precision, extractor-variant recall, edited-copy
recall and background false drops, on the `dev` sites (where the default was chosen) and on the
`held_out` sites (the figures to report). The last lines run the configured default
(`near_dedup.verify` / `threshold`) on the whole set, next to MinHash without verification at
datatrove's 14 x 8 bands on the same shingles.

    .venv/bin/python benchmarks/neardup_eval.py [--thresholds 0.6,0.7,0.75,0.8,0.85,0.9] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import neardup_eval as ev
from trivium.filters.near_dedup import NearDedupParams


def _row(r: dict) -> str:
    return (
        f"P {r['precision']:.4f}  variant R {r['variant_recall']:.4f}  edit R {r['edit_recall']:.4f}  "
        f"background false drops {100 * r['background_false_drops']:.2f}%"
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--corpus", type=Path, default=Path(os.environ.get("TRIVIUM_SHARED", REPO.parent / "shared")) / "corpus"
    )
    ap.add_argument("--thresholds", default="0.6,0.7,0.75,0.8,0.85,0.9")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    thresholds = [float(x) for x in args.thresholds.split(",")]

    t0 = time.perf_counter()
    labelled = ev.cached_build(args.corpus)
    build_s = time.perf_counter() - t0
    splits = {name: labelled.split(name) for name in ("dev", "held_out")}
    result: dict = {"build_s": round(build_s, 1), "documents": len(labelled.docs), "curves": {}}
    for name, part in splits.items():
        singletons = {d["id"]: d["id"] for d in part.docs}
        result[name] = {"documents": len(part.docs), "pairs": ev.score(singletons, part)["pairs"]}
    for measure in ("containment", "jaccard"):
        params = NearDedupParams(verify=measure)
        curve = {}
        for name, part in splits.items():
            by_t = ev.clusters_in_memory(part.docs, params, thresholds)
            curve[name] = {t: ev.score(c, part) for t, c in by_t.items()}
        result["curves"][measure] = {"bands_rows": params.bands_rows(), **curve}
    default = NearDedupParams()
    whole = ev.clusters_in_memory(labelled.docs, default, [default.threshold])[default.threshold]
    result["default"] = {"verify": default.verify, "threshold": default.threshold, **ev.score(whole, labelled)}
    for name, part in splits.items():
        own = ev.clusters_in_memory(part.docs, default, [default.threshold])[default.threshold]
        result["default"][name] = ev.score(own, part)
    unverified = NearDedupParams(verify="none", bands=14, rows=8)
    plain = ev.clusters_in_memory(labelled.docs, unverified, [0.0])[0.0]
    result["unverified_14x8"] = ev.score(plain, labelled)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return result

    print(
        f"labelled near-duplicate set: {len(labelled.docs)} documents (built in {build_s:.0f} s); "
        + "; ".join(f"{n}: {v['documents']} docs, pairs {v['pairs']}" for n, v in result.items() if n in splits)
    )
    for measure, curve in result["curves"].items():
        b, r = curve["bands_rows"]
        print(f"verify={measure} ({b} bands x {r} rows): precision/recall over the verification threshold")
        for t in thresholds:
            print(f"  {t:.2f}  dev: {_row(curve['dev'][t])}   held-out: {_row(curve['held_out'][t])}")
    d = result["default"]
    print(f"default (verify={d['verify']}, threshold {d['threshold']}), held-out sites: {_row(d['held_out'])}")
    print(f"                                        dev sites:      {_row(d['dev'])}")
    print(f"                                        whole set:      {_row(d)}  recall per kind {_fmt(d['recall'])}")
    u = result["unverified_14x8"]
    print(f"MinHash without verification, 14 x 8 (datatrove's bands), whole set: {_row(u)}")
    print(f"                                        recall per kind {_fmt(u['recall'])}")
    return result


def _fmt(recall: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:.3f}" for k, v in recall.items()) + "}"


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
