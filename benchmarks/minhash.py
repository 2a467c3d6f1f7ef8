"""MinHash signature throughput per core: trivium's kernel vs datatrove vs datasketch (vs a naive NumPy loop).

Same documents (English Wikipedia from ../shared/corpus), same parameters (5-word shingles, 112
permutations), one process, one thread each. Each contender is timed on what it needs to turn a
document's text into its signature:

* trivium: `signatures()` on an Arrow array (Numba: normalise, tokenise, xxh64 per shingle,
  affine64 permutations, minimum), plus band keys;
* datatrove: `MinhashDedupSignature.get_shingles` + `get_signature` (its text simplification,
  spaCy word tokeniser, xxhash per shingle, Mersenne-prime permutations);
* datasketch: Python 5-gram shingles (str.split) + `MinHash(num_perm=112).update_batch` (SHA-1);
* naive NumPy: str.split 5-grams, `xxhash.xxh64_intdigest` per shingle, vectorised permutations.

The GPU path (CuPy) is timed too when a CUDA device is present.

    .venv/bin/python benchmarks/minhash.py [--mb 4] [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]


def load_enwiki(corpus: Path, mb: float) -> list[str]:
    texts, size = [], 0
    for part in sorted((corpus / "enwiki").glob("part-*.jsonl.gz")):
        with gzip.open(part, "rt") as f:
            for line in f:
                t = json.loads(line)["text"]
                if t and len(t) > 200:
                    texts.append(t)
                    size += len(t.encode())
                    if size >= mb * 1e6:
                        return texts
    return texts


def timed(fn, min_seconds: float = 0.0) -> float:
    """Seconds per call (repeated until min_seconds have passed, after one warm-up when repeating)."""
    if min_seconds:
        fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / n


def trivium_fn(texts, device="cpu"):
    from trivium.kernels import minhash as mh

    arr = pa.array(texts, pa.large_string())
    params = mh.MinHashParams(num_perm=112, ngram=5)

    def run():
        sig = mh.signatures(arr, params, device=device)
        mh.band_keys(sig, 14, 8)

    return run


def datatrove_fn(texts):
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    step = MinhashDedupSignature(output_folder="/tmp/unused-minhash-bench", config=MinhashConfig())

    def run():
        for t in texts:
            shingles = step.get_shingles(t)
            if shingles.size:
                step.get_signature(shingles)

    return run


def datasketch_fn(texts):
    from datasketch import MinHash

    def run():
        for t in texts:
            words = t.split()
            m = MinHash(num_perm=112)
            m.update_batch([" ".join(words[i : i + 5]).encode() for i in range(max(1, len(words) - 4))])

    return run


def naive_numpy_fn(texts):
    import xxhash

    rng = np.random.RandomState(1)
    prime = np.uint64((1 << 61) - 1)
    a = rng.randint(1, prime, size=(1, 112), dtype=np.uint64)
    b = rng.randint(0, prime, size=(1, 112), dtype=np.uint64)

    def run():
        with np.errstate(over="ignore"):
            for t in texts:
                words = t.split()
                hv = np.fromiter(
                    (xxhash.xxh64_intdigest(" ".join(words[i : i + 5])) for i in range(max(1, len(words) - 4))),
                    dtype=np.uint64,
                ).reshape(-1, 1)
                ((hv * a + b) % prime).min(axis=0)

    return run


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path(os.environ.get("TRIVIUM_SHARED", REPO.parent / "shared")) / "corpus")
    ap.add_argument("--mb", type=float, default=4.0, help="MB of English Wikipedia text")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    texts = load_enwiki(args.corpus, args.mb)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    load = os.getloadavg()[0]
    results = {}
    # the fast ones are repeated for a steadier number; the slow ones run once over the same documents
    results["trivium"] = mb / timed(trivium_fn(texts), min_seconds=2.0)
    results["naive_numpy"] = mb / timed(naive_numpy_fn(texts))
    results["datasketch"] = mb / timed(datasketch_fn(texts))
    results["datatrove"] = mb / timed(datatrove_fn(texts))
    from trivium.kernels import minhash_gpu

    if minhash_gpu.available():
        results["trivium_gpu"] = mb / timed(trivium_fn(texts, "gpu"), min_seconds=2.0)
    out = {
        "documents": len(texts),
        "mb": round(mb, 2),
        "params": "5-word shingles, 112 permutations (14 bands x 8 rows)",
        "load_average_1m": round(load, 2),
        "mb_per_s_per_core": {k: round(v, 2) for k, v in results.items()},
        "trivium_vs": {k: round(results["trivium"] / v, 1) for k, v in results.items() if k != "trivium"},
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return out
    print(f"MinHash signatures, {out['params']}: {len(texts)} English Wikipedia documents, {mb:.1f} MB, "
          f"1 core each (1-min load average {load:.1f} on {os.cpu_count()} cores)")
    for name, v in results.items():
        ratio = "" if name == "trivium" else f"   trivium = {results['trivium'] / v:6.1f}x"
        print(f"  {name:12s} {v:9.2f} MB/s/core{ratio}")
    if "trivium_gpu" not in results:
        print("  trivium_gpu  (no CUDA device/CuPy here: GPU path not timed)")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
