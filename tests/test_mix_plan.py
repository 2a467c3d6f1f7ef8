"""Recipes, plans and --solve on hand-made stats (no Spark): arithmetic checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from trivium.mixtures.plan import plan, solve
from trivium.mixtures.recipe import RecipeError, apply_what_if, load_recipe, parse_recipe, parse_tokens
from trivium.mixtures.stats import Stats

CELLS = [
    {"source": "enwiki", "bucket": "commonsense", "subdomain": "encyclopedia", "docs": 60, "tokens": 6000},
    {"source": "news", "bucket": "commonsense", "subdomain": "news", "docs": 20, "tokens": 2000},
    {"source": "gsm8k", "bucket": "stem", "subdomain": "math", "docs": 10, "tokens": 1000},
    {"source": "mathx", "bucket": "stem", "subdomain": "math", "docs": 10, "tokens": 1000},
    {"source": "physics", "bucket": "stem", "subdomain": "science", "docs": 5, "tokens": 500},
    {"source": "py", "bucket": "code", "subdomain": "python", "docs": 40, "tokens": 4000},
    {"source": "tau", "bucket": "agentic", "subdomain": "trajectory", "docs": 2, "tokens": 3000},
    {"source": "spam", "bucket": "noise", "subdomain": "noise", "docs": 9, "tokens": 900},
]


def stats_for(recipe, cells=CELLS) -> Stats:
    keys = {"*"} | {s.selection() for s in recipe.stages}
    return Stats.model_validate({"tokens": "estimated", "bytes_per_token": {"default": 4.0},
                                 "selections": {k: cells for k in keys}})


def cells_of(stage_plan) -> dict[str, tuple[float, float]]:
    return {c.source: (c.drawn, c.epochs) for c in stage_plan.cells}


def test_token_counts_parse():
    assert parse_tokens("8.16T") == 8_160_000_000_000
    assert parse_tokens("200B") == 200_000_000_000
    assert parse_tokens("1.5M") == 1_500_000
    assert parse_tokens("250k") == 250_000 and parse_tokens(1234) == 1234
    with pytest.raises(ValueError, match="12Q"):
        parse_tokens("12Q")


def test_plan_arithmetic_most_specific_name_wins():
    recipe = parse_recipe({
        "max_epochs": {"default": 1, "stem": 3},
        "stages": [{"name": "a", "budget": "8K", "seq_len": 8192,
                    "weights": {"commonsense": 0.5, "math": 0.25, "gsm8k": 0.125, "code": 0.125}}],
    })
    p = plan(recipe, stats_for(recipe))
    got = cells_of(p.stages[0])
    # commonsense 4000 over 8000 available: 0.5 epochs each; math (gsm8k named on its own) 2000 from
    # mathx's 1000 (2 epochs, cap 3); gsm8k 1000 (1 epoch); code 1000 of 4000; physics and spam unnamed
    assert got == {"enwiki": (3000, 0.5), "news": (1000, 0.5), "mathx": (2000, 2.0), "gsm8k": (1000, 1.0),
                   "py": (1000, 0.25)}  # tau (agentic) and spam (noise) are not named
    assert p.stages[0].feasible and p.stages[0].drawn == 8000
    assert p.stages[0].shares_by_weight() == {"commonsense": 0.5, "math": 0.25, "gsm8k": 0.125, "code": 0.125}
    assert {c.source: c.share for c in p.stages[0].cells}["mathx"] == 0.25


def test_infeasible_plan_names_the_source():
    recipe = parse_recipe({"stages": [
        {"name": "big", "budget": 20000, "seq_len": 8192, "weights": {"code": 1}},
        {"name": "empty", "budget": 100, "seq_len": 8192, "weights": {"code": 1, "stem": 1}, "min_tokens": 10},
    ]})
    stats = stats_for(recipe)
    stats.selections[recipe.stages[1].selection()] = [c for c in stats.selections["*"] if c.bucket != "stem"]
    p = plan(recipe, stats)
    assert not p.stages[0].feasible
    assert "stage big: source py (code/python) needs 5.00 epochs, max_epochs 1" in p.problems
    assert any(m.startswith("stage big: budget 20K exceeds all eligible data (4K tokens") for m in p.problems)
    assert "stage empty: 'stem' has no eligible tokens (its filter/min_tokens leave none)" in p.problems


def test_solve_is_feasible_and_no_farther_than_a_hand_checked_plan():
    recipe = parse_recipe({"stages": [{"name": "c", "budget": 8000, "seq_len": 8192,
                                       "weights": {"commonsense": 0.5, "stem": 0.5}}]})
    stats = stats_for(recipe)
    requested = plan(recipe, stats)
    assert "needs 1.60 epochs" in requested.problems[0]  # stem asks 4000 of 2500 at max_epochs 1
    solved = solve(recipe, stats)
    assert solved.stages[0].feasible and solved.problems == []
    got = {s: round(t, 6) for s, (t, _) in cells_of(solved.stages[0]).items()}
    # by hand: stem at its cap (2500), the other 1500 spread over commonsense in proportion (KKT)
    assert got == {"enwiki": 4125, "news": 1375, "gsm8k": 1000, "mathx": 1000, "physics": 500}
    hand = requested.stages[0]
    for c in hand.cells:  # a feasible plan chosen by hand: stem at cap, the rest on enwiki mostly
        c.drawn = {"enwiki": 5000, "news": 500, "gsm8k": 1000, "mathx": 1000, "physics": 500}[c.source]
    assert sum(c.drawn for c in hand.cells) == 8000
    assert solved.stages[0].distance() <= hand.distance()


def test_solve_cannot_exceed_all_data():
    recipe = parse_recipe({"stages": [{"name": "x", "budget": 50000, "seq_len": 8, "weights": {"stem": 1}}]})
    p = solve(recipe, stats_for(recipe))
    assert [round(c.epochs, 6) for c in p.stages[0].cells] == [1, 1, 1]
    assert "exceeds all eligible data" in p.problems[0]


def test_what_if_and_scale():
    recipe = parse_recipe({"stages": [{"name": "a", "budget": "1M", "seq_len": 8, "weights": {"stem": 0.2, "code": 0.5}},
                                      {"name": "b", "budget": "2M", "seq_len": 8, "weights": {"code": 1}}]})
    r = apply_what_if(recipe, ["stem=+10%", "b.code=0.5", "a.math=0.1"])
    assert r.stages[0].weights == {"stem": pytest.approx(0.22), "code": 0.5, "math": 0.1}
    assert r.stages[1].weights == {"code": 0.5}
    assert apply_what_if(recipe, ["code*=2"]).stages[1].weights == {"code": 2.0}
    assert recipe.scaled(1e-3).stages[1].budget == 2000
    with pytest.raises(RecipeError, match="no stage weights 'agentic'"):
        apply_what_if(recipe, ["agentic=+5%"])
    with pytest.raises(RecipeError, match="negative"):
        apply_what_if(recipe, ["stem=-200%"])


def test_shipped_youtu_recipe_reproduces_the_reference_curriculum():
    recipe = load_recipe("youtu")
    assert [s.name for s in recipe.stages] == ["commonsense", "stem", "long_32k", "long_128k", "agentic"]
    assert [s.seq_len for s in recipe.stages] == [8192, 8192, 32768, 131072, 32768]
    assert sum(s.budget for s in recipe.stages) == pytest.approx(11.06e12)
    agentic = recipe.stages[-1]
    assert agentic.budget == 200e9 and agentic.weights["agentic"] >= 0.5
    huge = [c | {"tokens": c["tokens"] * 10**9} for c in CELLS]
    p = plan(recipe, stats_for(recipe, huge))
    assert p.problems == []
    assert {c.source for s in p.stages for c in s.cells}.isdisjoint({"spam"})  # noise is never weighted
    commonsense = p.stages[0].shares_by_weight()
    assert commonsense["commonsense"] == pytest.approx(0.75)


def _write(tmp_path: Path, data: dict, name: str = "r.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_cli_plan_table_json_html_and_bad_recipes(tmp_path: Path):
    from trivium.flows.cli import app

    recipe = {"stages": [{"name": "a", "budget": "8K", "seq_len": 8192, "weights": {"commonsense": 0.5, "stem": 0.5}}]}
    stats_path = tmp_path / "stats.json"
    stats_path.write_text(stats_for(parse_recipe(recipe)).model_dump_json())
    rpath = _write(tmp_path, recipe)
    runner = CliRunner()
    r = runner.invoke(app, ["mix", "plan", rpath, "--stats", str(stats_path)])
    assert r.exit_code == 1 and "infeasible" in r.output and "physics" in r.output  # stem needs 1.6 epochs
    assert "estimated" in r.output
    html = tmp_path / "plan.html"
    r = runner.invoke(app, ["mix", "plan", rpath, "--stats", str(stats_path), "--solve", "--json", "--html", str(html)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["feasible"] and out["solved"] and out["tokens"] == "estimated"
    assert out["stages"][0]["shares"]["stem"] == pytest.approx(2500 / 8000)
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2 and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")
    r = runner.invoke(app, ["mix", "plan", rpath, "--stats", str(stats_path), "--solve", "--what-if", "stem=-50%"])
    assert r.exit_code == 0 and "solved vs requested" in r.output

    bad = {
        "unknown source": ({"weights": {"nosuch_source": 1}}, "'nosuch_source' is not a source, sub-domain or bucket"),
        "negative weight": ({"weights": {"stem": -1}}, "weights.stem: Input should be greater than or equal to 0"),
        "budget 12Q": ({"budget": "12Q"}, "stages.0.budget: expected a token count like 8.16T"),
        "unknown key": ({"wieghts": {"stem": 1}}, "stages.0.wieghts: Extra inputs are not permitted"),
    }
    for name, (change, message) in bad.items():
        path = _write(tmp_path, {"stages": [recipe["stages"][0] | change]}, f"{name.replace(' ', '_')}.yaml")
        r = runner.invoke(app, ["mix", "plan", path, "--stats", str(stats_path)])
        flat = " ".join(r.output.split())
        assert r.exit_code == 2 and message in flat and "Traceback" not in r.output, (name, r.output)
