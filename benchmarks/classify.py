"""Classification throughput: documents/s per core for language ID + quality + domain together,
and the sizes of the model files.

One process, one core (fastText predicts single-threaded here): the three models run over a
mixed sample of the shared corpus (every text and conversation source, `--per-source` documents
each, in batches of 2,000 as the Spark stages see them). The domain and quality models are
trained first from the corpus (or given with --domain-model / --quality-model).

    .venv/bin/python benchmarks/classify.py [--per-source 400] [--domain-model M] [--quality-model M]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def sample(per_source: int) -> list[dict]:
    from trivium.filters.fasttext_text import as_json_str, read_records
    from trivium.mixtures.seed import load_sources

    rows = []
    for name, entry in sorted(load_sources(str(CORPUS / "sources.json")).items()):
        if entry.get("format") not in ("text", "messages"):
            continue
        got = 0
        for f in entry["files"]:
            for r in read_records(str(CORPUS / name / f)):
                rows.append({"text": r.get("text"), "messages": as_json_str(r.get("messages")),
                             "tools": as_json_str(r.get("tools"))})
                got += 1
                if got >= per_source:
                    break
            if got >= per_source:
                break
    return rows


def train_models(folder: Path) -> tuple[str, str]:
    from trivium.filters.fasttext_text import TrainParams
    from trivium.filters.quality_model import train_quality
    from trivium.mixtures.domain import train_domain
    from trivium.mixtures.seed import seed_examples

    sources = str(CORPUS / "sources.json")
    domain, quality = str(folder / "domain.bin"), str(folder / "quality.bin")
    train_domain(seed_examples(sources, "domain", max_per_source=2000).train, domain, TrainParams())
    train_quality(seed_examples(sources, "quality", max_per_source=2000).train, quality, TrainParams(line_shape=True))
    return domain, quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-source", type=int, default=400)
    parser.add_argument("--domain-model")
    parser.add_argument("--quality-model")
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()

    from trivium.filters.langid import LangIdConfig, LangIdJudge, resolve_lid_model
    from trivium.filters.quality_model import QualityModel
    from trivium.mixtures.domain import DomainModel

    with tempfile.TemporaryDirectory() as tmp:
        if args.domain_model and args.quality_model:
            domain_path, quality_path = args.domain_model, args.quality_model
        else:
            t = time.time()
            domain_path, quality_path = train_models(Path(tmp))
            print(f"trained domain + quality models on the corpus in {time.time() - t:.1f} s (one thread each)")
        rows = sample(args.per_source)
        n = len(rows)
        mb = sum(len((r["text"] or r["messages"] or "").encode()) + len((r["tools"] or "").encode()) for r in rows) / 1e6
        lid, quality, domain = LangIdJudge(LangIdConfig()), QualityModel(quality_path), DomainModel(domain_path)
        # warm up: load the three models once, as a reused Spark worker has them
        lid.judge(["warm up"], [None])
        quality.score(["warm up"])
        domain.predict(["warm up"])
        timings = {"langid": 0.0, "quality": 0.0, "domain": 0.0}
        for i in range(0, n, args.batch):
            chunk = rows[i : i + args.batch]
            texts = [r["text"] for r in chunk]
            msgs = [r["messages"] for r in chunk]
            tools = [r["tools"] for r in chunk]
            t0 = time.perf_counter()
            lid.judge(texts, msgs)
            t1 = time.perf_counter()
            quality.score(texts, msgs, tools)
            t2 = time.perf_counter()
            domain.predict(texts, msgs, tools)
            t3 = time.perf_counter()
            timings["langid"] += t1 - t0
            timings["quality"] += t2 - t1
            timings["domain"] += t3 - t2
        total = sum(timings.values())
        print(f"sample: {n:,} documents, {mb:.1f} MB, {args.per_source} per source (text + conversations)")
        for k, v in timings.items():
            print(f"{k:8s} {n / v:10,.0f} docs/s per core  {mb / v:6.2f} MB/s  ({v:.2f} s)")
        print(f"{'together':8s} {n / total:10,.0f} docs/s per core  {mb / total:6.2f} MB/s  ({total:.2f} s)")
        sizes = {"lid.176.ftz (language ID)": resolve_lid_model(None), "quality model": quality_path,
                 "domain model": domain_path}
        for label, path in sizes.items():
            print(f"model file {label}: {os.path.getsize(path) / 1e6:.2f} MB")
        print(json.dumps({"docs": n, "mb": round(mb, 2), "docs_per_s_per_core": round(n / total, 1),
                          **{f"{k}_docs_per_s": round(n / v, 1) for k, v in timings.items()},
                          "model_bytes": {k: os.path.getsize(p) for k, p in sizes.items()}}))


if __name__ == "__main__":
    main()
