"""The mixture planner: how many tokens each stage draws from each cell, and whether it can.

A cell (source, bucket, sub-domain) named by weight `k` is asked for
`budget * w_k / sum(w) * tokens_cell / tokens_k` tokens: the weight is a share of the stage, spread
over its cells in proportion to their size. Epochs are drawn / available. A plan is infeasible
when a cell needs more epochs than its `max_epochs`, when a weight names data the stage's
filter leaves empty, or when the budget exceeds every eligible token at its epoch cap.

`solve` finds the feasible plan closest to the request: minimise sum((t - r)^2 / r) over the
cells' drawn tokens t (r: requested) subject to sum(t) = budget and 0 <= t <= max_epochs *
available. The objective is separable and convex, so its minimiser is t = clip(r * (1 + lam), 0,
cap) for the one multiplier lam that meets the budget (KKT); scipy's brentq finds lam. Cells
within a weight keep their natural proportions unless their cap binds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .recipe import STANDARD_BUCKETS, Recipe, RecipeError, Stage, format_tokens, max_epochs_of, most_specific
from .stats import Stats

_EPS = 1e-9


@dataclass
class CellPlan:
    source: str
    bucket: str
    subdomain: str
    weight_name: str
    available: int
    requested: float
    drawn: float
    max_epochs: float
    share: float = 0.0  # of the stage's drawn tokens

    @property
    def epochs(self) -> float:
        return self.drawn / self.available if self.available else 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.bucket, self.subdomain)


@dataclass
class StagePlan:
    name: str
    budget: int
    seq_len: int
    weights: dict[str, float]
    cells: list[CellPlan]
    problems: list[str] = field(default_factory=list)

    @property
    def drawn(self) -> float:
        return sum(c.drawn for c in self.cells)

    @property
    def feasible(self) -> bool:
        return not self.problems

    def shares_by_weight(self, attr: str = "drawn") -> dict[str, float]:
        out = {k: 0.0 for k, w in self.weights.items() if w > 0}
        for c in self.cells:
            out[c.weight_name] += getattr(c, attr) / max(self.budget, 1)
        return out

    def distance(self) -> float:
        """How far the drawn tokens are from the request: sum((t - r)^2 / r), in tokens."""
        return sum((c.drawn - c.requested) ** 2 / c.requested for c in self.cells if c.requested > 0)


@dataclass
class Plan:
    recipe: str
    estimated: bool
    stages: list[StagePlan]
    solved: bool = False

    @property
    def problems(self) -> list[str]:
        return [p for s in self.stages for p in s.problems]

    def to_dict(self) -> dict:
        return {
            "recipe": self.recipe,
            "tokens": "estimated" if self.estimated else "exact",
            "solved": self.solved,
            "feasible": not self.problems,
            "problems": self.problems,
            "stages": [
                {
                    "name": s.name,
                    "budget": s.budget,
                    "seq_len": s.seq_len,
                    "drawn": s.drawn,
                    "feasible": s.feasible,
                    "problems": s.problems,
                    "weights": s.weights,
                    "requested_shares": s.shares_by_weight("requested"),
                    "shares": s.shares_by_weight("drawn"),
                    "cells": [asdict(c) | {"epochs": c.epochs} for c in s.cells],
                }
                for s in self.stages
            ],
        }


def check_names(recipe: Recipe, stats: Stats) -> None:
    """Every weight and max_epochs name must be a source, sub-domain or bucket the stats know."""
    known = stats.names() | set(STANDARD_BUCKETS)  # a bucket without data is a plan problem, not a typo
    for i, stage in enumerate(recipe.stages):
        for what, table in (("weights", stage.weights), ("max_epochs", stage.max_epochs)):
            for name in table:
                if name not in known:
                    raise RecipeError(
                        f"stages.{i}.{what}: {name!r} is not a source, sub-domain or bucket of the stats"
                        f" (known: {', '.join(sorted(known)[:12])}{', ...' if len(known) > 12 else ''})"
                    )
    for name in recipe.max_epochs:
        if name != "default" and name not in known:
            raise RecipeError(f"max_epochs: {name!r} is not a source, sub-domain or bucket of the stats")


def _stage_cells(recipe: Recipe, stage: Stage, stats: Stats, index: int) -> list[CellPlan]:
    selection = stage.selection()
    if selection not in stats.selections:
        raise RecipeError(
            f"stages.{index} ({stage.name}): the stats hold no counts for its filter/min_tokens;"
            " run `trivium mix stats --recipe` with this recipe"
        )
    cells = []
    for c in stats.selections[selection]:
        name, weight = most_specific(stage.weights, c.source, c.subdomain, c.bucket)
        if name is None or weight <= 0:
            continue
        cap = max_epochs_of(recipe, stage, c.source, c.subdomain, c.bucket)
        cells.append(CellPlan(c.source, c.bucket, c.subdomain, name, c.tokens, 0.0, 0.0, cap))
    cells.sort(key=lambda c: (c.weight_name, c.source, c.bucket, c.subdomain))
    return cells


def _plan_stage(recipe: Recipe, stage: Stage, stats: Stats, index: int) -> StagePlan:
    cells = _stage_cells(recipe, stage, stats, index)
    positive = {k: w for k, w in stage.weights.items() if w > 0}
    total_w = sum(positive.values())
    per_name: dict[str, int] = {k: 0 for k in positive}
    for c in cells:
        per_name[c.weight_name] += c.available
    sp = StagePlan(stage.name, stage.budget, stage.seq_len, dict(stage.weights), cells)
    for c in cells:
        c.requested = stage.budget * positive[c.weight_name] / total_w * c.available / per_name[c.weight_name]
        c.drawn = c.requested
    for name, avail in per_name.items():
        if avail == 0:
            sp.problems.append(f"stage {stage.name}: {name!r} has no eligible tokens (its filter/min_tokens leave none)")
    _check_caps(sp)
    return sp


def _check_caps(sp: StagePlan) -> None:
    for c in sp.cells:
        if c.epochs > c.max_epochs * (1 + 1e-6) + _EPS:
            sp.problems.append(
                f"stage {sp.name}: source {c.source} ({c.bucket}/{c.subdomain}) needs {c.epochs:.2f} epochs,"
                f" max_epochs {c.max_epochs:g}"
            )
    capacity = sum(c.available * c.max_epochs for c in sp.cells)
    if sp.budget > capacity * (1 + 1e-6) + _EPS:
        sp.problems.append(
            f"stage {sp.name}: budget {format_tokens(sp.budget)} exceeds all eligible data"
            f" ({format_tokens(capacity)} tokens at max_epochs)"
        )
    total = sum(c.drawn for c in sp.cells) or 1.0
    for c in sp.cells:
        c.share = c.drawn / total


def plan(recipe: Recipe, stats: Stats) -> Plan:
    check_names(recipe, stats)
    return Plan(recipe.name, stats.estimated, [_plan_stage(recipe, s, stats, i) for i, s in enumerate(recipe.stages)])


def _solve_stage(sp: StagePlan) -> None:
    from scipy.optimize import brentq

    live = [c for c in sp.cells if c.available > 0 and c.requested > 0]
    for c in sp.cells:
        c.drawn = 0.0
    sp.problems = []
    if not live:
        _check_caps(sp)
        return
    r = np.array([c.requested for c in live])
    cap = np.array([c.available * c.max_epochs for c in live])
    budget = float(sp.budget)
    if cap.sum() <= budget:
        t = cap  # nothing left to trade: every cell at its cap, the budget stays unmet
    else:
        def excess(lam: float) -> float:
            return float(np.minimum(r * (1 + lam), cap).sum() - budget)

        hi = max(float((cap / r).max()) - 1, 0.0) + 1.0
        lam = brentq(excess, -1.0, hi, xtol=1e-15, rtol=1e-14, maxiter=200)
        t = np.minimum(r * (1 + lam), cap)
        t *= budget / t.sum()  # the root's last rounding, so the stage sums to its budget exactly
        t = np.minimum(t, cap)
    for c, v in zip(live, t):
        c.drawn = float(v)
    _check_caps(sp)


def solve(recipe: Recipe, stats: Stats) -> Plan:
    """The feasible plan nearest the request (see the module docstring)."""
    p = plan(recipe, stats)
    for sp in p.stages:
        _solve_stage(sp)
    p.solved = True
    return p
