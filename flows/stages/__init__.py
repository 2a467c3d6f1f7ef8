"""The curation stages after ingest, in the order documents flow through them.

Each module defines one `StageDef` (its Spark wiring) and its config; the per-document logic
lives in `trivium.filters` / `trivium.mixtures`. A new stage: add its module here, in order,
and its config section to `trivium.flows.config.CurateConfig`.
"""

from __future__ import annotations

from trivium.flows.stage import StageDef
from trivium.flows.stages.decontam import DECONTAM
from trivium.flows.stages.domain import DOMAIN
from trivium.flows.stages.exact_dedup import EXACT_DEDUP
from trivium.flows.stages.heuristic import HEURISTIC
from trivium.flows.stages.langid import LANGID
from trivium.flows.stages.near_dedup import NEAR_DEDUP
from trivium.flows.stages.pii import PII
from trivium.flows.stages.quality import QUALITY

STAGES: list[StageDef] = [LANGID, HEURISTIC, EXACT_DEDUP, NEAR_DEDUP, QUALITY, DECONTAM, PII, DOMAIN]
# every curate stage by name, ingest first: folder NN of a run is STAGE_NAMES[NN]
STAGE_NAMES: list[str] = ["ingest"] + [s.name for s in STAGES]

