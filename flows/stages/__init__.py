"""The curation stages after ingest, in the order documents flow through them.

Each module defines one `StageDef` (its Spark wiring) and its config; the per-document logic
lives in `trivium.filters` / `trivium.mixtures`. A new stage: add its module here, in order,
and its config section to `trivium.flows.config.CurateConfig`.
"""

from __future__ import annotations

from trivium.flows.stage import StageDef
from trivium.flows.stages.exact_dedup import EXACT_DEDUP
from trivium.flows.stages.heuristic import HEURISTIC

STAGES: list[StageDef] = [HEURISTIC, EXACT_DEDUP]


def stage_names() -> list[str]:
    return ["ingest"] + [s.name for s in STAGES]
