"""Mixture benchmark: `mix plan` / `--solve` wall for 10, 100 and 1,000 sources (goal < 1 s at 1,000),
and `mix build` seconds per GB of curated input on Spark (local[2]).

    .venv/bin/python benchmarks/mix.py                                   # planner only
    .venv/bin/python benchmarks/mix.py --curated RUN/08_domain --recipe R.yaml   # + a build

The planner lines time what the CLI does (recipe + stats parse, plan, solve, JSON) in-process,
side by side with a plain proportional allocation in NumPy (the floor any planner pays), as ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

import numpy as np


def synthetic(n_sources: int, seed: int = 0):
    from trivium.mixtures.recipe import parse_recipe
    from trivium.mixtures.stats import Stats

    rng = np.random.default_rng(seed)
    buckets = ["commonsense", "stem", "code", "agentic"]
    cells = [{"source": f"src{i:04d}", "bucket": buckets[i % 4], "subdomain": f"sub{i % 37}",
              "docs": int(rng.integers(10, 10**6)), "tokens": int(rng.integers(10**6, 10**10))} for i in range(n_sources)]
    weights = {"commonsense": 0.5, "stem": 0.25, "code": 0.15, "agentic": 0.1, "sub3": 0.05, "src0007": 0.01}
    total = sum(c["tokens"] for c in cells)
    recipe = {"max_epochs": {"default": 1, "stem": 3}, "stages": [
        {"name": f"s{k}", "budget": int(total * f), "seq_len": 8192, "weights": weights} for k, f in enumerate((0.6, 0.9))]}
    stats = {"tokens": "estimated", "selections": {"*": cells}}
    return json.dumps(recipe), json.dumps(stats), parse_recipe, Stats


def time_plan(n: int, repeat: int = 3) -> tuple[float, float, float]:
    from trivium.mixtures.plan import plan, solve

    recipe_json, stats_json, parse_recipe, Stats = synthetic(n)
    best_plan = best_solve = best_np = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        p = plan(parse_recipe(json.loads(recipe_json)), Stats.model_validate_json(stats_json))
        json.dumps(p.to_dict())
        best_plan = min(best_plan, time.perf_counter() - t)
        t = time.perf_counter()
        s = solve(parse_recipe(json.loads(recipe_json)), Stats.model_validate_json(stats_json))
        json.dumps(s.to_dict())
        best_solve = min(best_solve, time.perf_counter() - t)
        t = time.perf_counter()
        tokens = np.array([c["tokens"] for c in json.loads(stats_json)["selections"]["*"]], float)
        _ = tokens / tokens.sum() * 1e12
        best_np = min(best_np, time.perf_counter() - t)
    return best_plan, best_solve, best_np


def time_build(curated: str, recipe_path: str, master: str) -> None:
    from trivium.flows.manifest import read_manifest
    from trivium.flows.mix import Preparation, run_build, run_stats
    from trivium.flows.spark import SparkConfig, get_spark
    from trivium.mixtures.plan import solve
    from trivium.mixtures.recipe import load_recipe

    spark = get_spark(SparkConfig(master=master, partitions=4, driver_memory="3g"))
    recipe = load_recipe(recipe_path)
    prep = Preparation.of(recipe)
    gb = read_manifest(curated).text_bytes_in / 1e9
    out = tempfile.mkdtemp(prefix="mixbench-")
    try:
        t = time.perf_counter()
        stats, _ = run_stats(spark, curated, f"{out}/stats", recipe, prep, force=True)
        t_stats = time.perf_counter() - t
        p = solve(recipe, stats)
        t = time.perf_counter()
        run_build(spark, curated, f"{out}/mix", recipe, p, prep, force=True)
        t_build = time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"mix stats : {t_stats:7.1f} s on {gb * 1000:.1f} MB curated -> {t_stats / gb:8.0f} s/GB ({master})")
    print(f"mix build : {t_build:7.1f} s on {gb * 1000:.1f} MB curated, {len(recipe.stages)} stages -> "
          f"{t_build / gb:8.0f} s/GB ({master})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--curated", help="a committed curate stage folder to build from")
    ap.add_argument("--recipe", help="recipe YAML for the build (with labels when the corpus has no domain model)")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    print("sources   plan s   solve s   numpy-proportional s   plan/numpy  solve/numpy  (goal: < 1 s at 1,000)")
    for n in (10, 100, 1000):
        p, s, base = time_plan(n)
        print(f"{n:7d} {p:8.4f} {s:9.4f} {base:22.6f} {p / base:11.0f}x {s / base:11.0f}x")
    if args.curated and args.recipe:
        time_build(args.curated, args.recipe, args.master)


if __name__ == "__main__":
    main()
