"""The hand-picked strings of web_expectations.json and the scores they give an extraction.

A page's body score is the share of its `body` strings found in the kept text; its boilerplate
score the share of its `boilerplate` strings *absent* from it. Both compare with white space
collapsed, so line breaks an extractor puts between elements do not matter. A page that was not
kept (quarantined or dropped) keeps no body and no boilerplate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

PATH = Path(__file__).with_name("web_expectations.json")
SECTIONS = ("warc", "html")  # raw_warc/ pages by target URL, raw_html/ pages by file name


def load() -> dict[str, dict[str, dict]]:
    data = json.loads(PATH.read_text())
    return {section: data[section] for section in SECTIONS}


def _norm(text: str) -> str:
    return " ".join(text.split())


class Score(NamedTuple):
    body_found: int = 0
    body_total: int = 0
    boilerplate_left: int = 0
    boilerplate_total: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(*(a + b for a, b in zip(self, other)))

    @property
    def body(self) -> float:
        return self.body_found / self.body_total if self.body_total else 1.0

    @property
    def boilerplate_removed(self) -> float:
        return 1 - self.boilerplate_left / self.boilerplate_total if self.boilerplate_total else 1.0


def score_page(text: str | None, expected: dict) -> Score:
    kept = _norm(text or "")
    body = [s for s in expected["body"] if _norm(s) in kept]
    left = [s for s in expected["boilerplate"] if _norm(s) in kept]
    return Score(len(body), len(expected["body"]), len(left), len(expected["boilerplate"]))


def score_all(texts: dict[str, str | None], expected: dict[str, dict]) -> Score:
    """Summed over the labelled pages; `texts` maps a page key to its kept text (None: not kept)."""
    return sum((score_page(texts.get(key), exp) for key, exp in expected.items()), Score())


def missing(text: str | None, expected: dict) -> tuple[list[str], list[str]]:
    """(body strings not kept, boilerplate strings kept): what a failed check prints."""
    kept = _norm(text or "")
    return ([s for s in expected["body"] if _norm(s) not in kept],
            [s for s in expected["boilerplate"] if _norm(s) in kept])
