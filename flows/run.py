"""`trivium run RECIPE`: one Prefect flow, curate -> stats -> plan -> build -> pack.

The flow's parameters are the recipe's values (a dict), so a run can be repeated from the Prefect
UI with changed weights or filters. Every step is resumable through its manifest: curate stages
whose inputs and config are unchanged are skipped, stats re-count only when a stage's selection
(filter, min_tokens) or the token counting changes, and each built stage rebuilds only when its
own plan, filter or seed changes.

Layout of OUTPUT: `curated/NN_<stage>/` (the curate run), `stats/` (stats.json), `plan.json`,
`mixture/NN_<stage>/` (one folder per curriculum stage). Pack joins as the last step once
`trivium.flows.pack` provides `pack_mixture_stage(spark, stage_dir, output, seq_len, tokenizer)`;
until then the run reports "pack: not available yet".
"""

from __future__ import annotations

import importlib
import importlib.util

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from trivium.flows import io
from trivium.flows.config import CurateConfig, load_config, parse_config
from trivium.flows.mix import MixError, Preparation, measured_tokens, run_build, run_stats, write_plan
from trivium.flows.spark import get_spark
from trivium.mixtures.plan import Plan, plan, solve
from trivium.mixtures.recipe import Recipe, parse_recipe

PACK_MODULE, PACK_FUNCTION = "trivium.flows.pack", "pack_mixture_stage"


def curate_config_of(recipe: Recipe, override: dict | None = None) -> CurateConfig:
    if override is not None:
        return parse_config(override, "(flow parameter curate_config)")
    cfg = recipe.curate.config if recipe.curate else None
    return parse_config(cfg, "(recipe curate.config)") if isinstance(cfg, dict) else load_config(cfg)


@task(name="mix-stats", cache_policy=NO_CACHE)
def stats_task(curated: str, output: str, recipe: Recipe, prep: Preparation, spark_config, force: bool):
    stats, manifest = run_stats(get_spark(spark_config), curated, output, recipe, prep, force)
    print(f"stats: {'reused' if manifest.skipped else 'counted'} (token counts {stats.tokens}) -> {output}")
    return stats, manifest


@task(name="mix-plan", cache_policy=NO_CACHE)
def plan_task(recipe: Recipe, stats, with_solve: bool, output: str) -> Plan:
    p = solve(recipe, stats) if with_solve else plan(recipe, stats)
    write_plan(output, p)
    for problem in p.problems:
        print(f"plan: {problem}")
    return p


@task(name="mix-build", cache_policy=NO_CACHE)
def build_task(curated: str, output: str, recipe: Recipe, the_plan: Plan, prep: Preparation, spark_config,
               force: bool):
    return run_build(get_spark(spark_config), curated, output, recipe, the_plan, prep, force)


@task(name="pack", cache_policy=NO_CACHE)
def pack_task(built: list, recipe: Recipe, output: str, spark_config) -> dict:
    """Pack each built stage when trivium.flows.pack is there; otherwise say so, loudly."""
    if importlib.util.find_spec(PACK_MODULE) is None:
        print("pack: not available yet (trivium.flows.pack is not installed); the built stages are its inputs")
        return {"status": "not available yet"}
    fn = getattr(importlib.import_module(PACK_MODULE), PACK_FUNCTION, None)
    if fn is None:
        print(f"pack: not available yet ({PACK_MODULE} has no {PACK_FUNCTION}() to call)")
        return {"status": "not available yet"}
    if recipe.tokenizer is None:
        print("pack: not run: the recipe names no tokenizer (recipe `tokenizer:`)")
        return {"status": "needs a tokenizer"}
    spark = get_spark(spark_config)
    done = []
    for (folder, manifest), stage in zip(built, recipe.stages):
        out = io.join(output, folder.rstrip("/").rsplit("/", 1)[-1])
        fn(spark, stage_dir=folder, output=out, seq_len=stage.seq_len, tokenizer=recipe.tokenizer)
        done.append(out)
    return {"status": "packed", "outputs": done}


@flow(name="trivium-run", log_prints=True, validate_parameters=False)
def run_flow(recipe: dict, output: str, inputs: list[str] | None = None, curate_config: dict | None = None,
             curated: str | None = None, solve_plan: bool = False, force: bool = False) -> dict:
    """curate -> stats -> plan -> build -> pack for one recipe (a dict of its values)."""
    from trivium.flows.curate import curate_flow

    r = parse_recipe(recipe, "recipe")
    config = curate_config_of(r, curate_config)
    io.configure(config.storage)
    summary: dict = {"output": output, "recipe": r.name}
    if curated is None:
        inputs = inputs or (r.curate.inputs if r.curate else None)
        if not inputs:
            raise MixError("nothing to curate: give the recipe a `curate: {inputs: [...]}` section, --input or --curated")
        outcomes = curate_flow(inputs=inputs, output=io.join(output, "curated"), config=config, force=force)
        curated = outcomes[-1].stage_dir
        summary["curate"] = [{"stage": o.manifest.stage, "skipped": o.manifest.skipped,
                              "docs_out": o.manifest.docs_out} for o in outcomes]
    summary["curated"] = curated
    prep = Preparation.of(r)
    stats, stats_manifest = stats_task(curated, io.join(output, "stats"), r, prep, config.spark, force)
    summary["stats"] = {"skipped": stats_manifest.skipped, "tokens": stats.tokens}
    the_plan = plan_task(r, stats, solve_plan, output)
    summary["plan"] = {"feasible": not the_plan.problems, "problems": the_plan.problems, "solved": the_plan.solved}
    built = build_task(curated, io.join(output, "mixture"), r, the_plan, prep, config.spark, force)
    summary["build"] = [
        {"stage": m.stage, "dir": d, "skipped": m.skipped, "rows": m.docs_out, "seq_len": m.extra.get("seq_len"),
         "tokens": sum(measured_tokens(m).values())}
        for d, m in built
    ]
    summary["pack"] = pack_task(built, r, io.join(output, "packed"), config.spark)
    return summary
