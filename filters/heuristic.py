"""Heuristic quality filters: datatrove's Gopher, C4 and FineWeb rules, chosen per document profile.

A profile is the document's language (from the script guess, later fastText), `code` for source
code and LaTeX/markup, or `math` for digit- and formula-dense prose: there, prose rules (stop
words, alphabetic-word share, terminal punctuation, curly brackets) would throw away exactly
the STEM data the curriculum wants. Conversations (text null) are
never judged here: the agentic rules of later stages own them.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from trivium.filters.script_lang import guess_language

FilterName = Literal["gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]

# Languages datatrove can word-tokenize here without extra models; others use its English rules.
_TOKENIZER_LANGS = {"en", "zh", "de", "fr", "es", "it", "pt", "nl", "ru"}


class FilterSpec(BaseModel):
    name: FilterName
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the datatrove filter")


def _specs(*items: tuple[str, dict] | str) -> list[FilterSpec]:
    return [FilterSpec(name=i) if isinstance(i, str) else FilterSpec(name=i[0], params=i[1]) for i in items]


def default_profiles() -> dict[str, list[FilterSpec]]:
    return {
        # FineWeb's recipe for English prose.
        "en": _specs("gopher_repetition", "gopher_quality", ("c4_quality", {"filter_no_terminal_punct": False}), "fineweb_quality"),
        # No stop-word or English punctuation rules. Gopher's top-n-gram share is meaningless on short
        # CJK texts (one 3-gram of a 40-character poem is already 18%), so only true repetition counts.
        "zh": _specs(("gopher_repetition", {"top_n_grams": []}), ("fineweb_quality", {"short_line_length": 10, "short_line_thr": 0.8, "new_line_ratio": 1.0})),
        # Code and markup: only degenerate repetition (copy-pasted blocks, generated junk).
        "code": _specs(("gopher_repetition", {"dup_line_frac": None, "dup_line_char_frac": None, "top_n_grams": [], "dup_n_grams": [[10, 0.3]]})),
        # Math and numeric prose: numbers and formulas are words here, not noise.
        "math": _specs(("gopher_repetition", {"top_n_grams": [], "dup_n_grams": [[10, 0.2]]}), ("gopher_quality", {"max_non_alpha_words_ratio": 0.4, "min_doc_words": 20, "min_stop_words": 1, "min_avg_word_length": 2})),
        "default": _specs(("gopher_repetition", {"top_n_grams": []})),
    }


class HeuristicFilterConfig(BaseModel):
    profiles: dict[str, list[FilterSpec]] = Field(default_factory=default_profiles)
    latin_language: str = Field("en", description="what the script guess calls Latin-script text")
    detect_code: bool = Field(True, description="judge code/markup with the `code` profile")
    code_symbol_ratio: float = Field(0.05, ge=0, le=1, description="share of code symbols that marks code/markup")
    detect_math: bool = Field(True, description="judge digit/operator-dense text with the `math` profile")
    math_char_ratio: float = Field(0.06, ge=0, le=1, description="share of digits/operators that marks math text")

    @model_validator(mode="after")
    def _filters_build(self):
        if "default" not in self.profiles:
            raise ValueError("profiles.default: a profile for languages without their own is required")
        for profile, specs in self.profiles.items():
            for i, spec in enumerate(specs):
                try:
                    build_filter(spec, profile)
                except TypeError as err:
                    raise ValueError(f"profiles.{profile}[{i}].params: {err}") from err
        return self


def build_filter(spec: FilterSpec, profile: str):
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    cls = {
        "gopher_repetition": GopherRepetitionFilter,
        "gopher_quality": GopherQualityFilter,
        "c4_quality": C4QualityFilter,
        "fineweb_quality": FineWebQualityFilter,
    }[spec.name]
    params = dict(spec.params)
    params.setdefault("language", profile if profile in _TOKENIZER_LANGS else "en")
    for key in ("top_n_grams", "dup_n_grams"):
        if key in params:
            params[key] = tuple(tuple(x) for x in params[key])
    return cls(**params)


# Characters that are common in code/LaTeX and rare in prose.
_CODE_SYMBOLS = re.compile(r"[{}\[\]();=<>\\_$^|&*#/+]")
# A line that only code or markup would have: indented, ending in a block/statement mark, or a keyword.
_CODE_LINE = re.compile(
    r"^(?:[ \t]{2,}\S|.*[{};:)]\s*$|\s*(?:def |class |import |from \S+ import|#include|function |return\b|\\begin|\\end|\\item|@))"
)


_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")
_MATH = re.compile(r"[0-9=+*/^<>%$]")


def looks_like_code(text: str, symbol_ratio: float) -> bool:
    """Source code or LaTeX/markup: dense in code symbols and mostly code-shaped lines, or LaTeX commands."""
    sample = text[:8000]
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        return False
    if len(_LATEX_COMMAND.findall(sample)) >= 0.03 * max(1, len(sample.split())):
        return True
    symbols = len(_CODE_SYMBOLS.findall(sample)) / len(sample)
    code_lines = sum(1 for ln in lines if _CODE_LINE.match(ln)) / len(lines)
    return symbols >= symbol_ratio and code_lines >= 0.4


def looks_like_math(text: str, ratio: float) -> bool:
    """Word problems, solutions, tables of figures: digits and operators make up a visible share."""
    sample = text[:8000]
    return len(_MATH.findall(sample)) >= ratio * max(1, len(sample))


class HeuristicFilters:
    """Judges documents: `judge(texts) -> [(lang, profile, reason or None)]`. Picklable; filters built lazily."""

    def __init__(self, config: HeuristicFilterConfig):
        self.config = config

    @cached_property
    def _filters(self) -> dict[str, list]:
        return {p: [(s.name, build_filter(s, p)) for s in specs] for p, specs in self.config.profiles.items()}

    def __getstate__(self):
        return {"config": self.config}

    def profile_of(self, text: str, lang: str) -> str:
        if self.config.detect_code and "code" in self.config.profiles and looks_like_code(text, self.config.code_symbol_ratio):
            return "code"
        if self.config.detect_math and "math" in self.config.profiles and lang == self.config.latin_language \
                and looks_like_math(text, self.config.math_char_ratio):
            return "math"
        return lang if lang in self.config.profiles else "default"

    def judge_one(self, text: str | None, lang: str | None = None) -> tuple[str, str, str | None]:
        """`lang`: the document's language from fastText language ID when it ran; else the script guess."""
        from datatrove.data import Document

        if text is None:  # a conversation: agentic rules come later
            return "und", "conversation", None
        lang = lang if lang and lang != "und" else guess_language(text, self.config.latin_language)
        profile = self.profile_of(text, lang)
        if not text.strip():
            return lang, profile, "empty_text"
        doc = Document(text=text, id="", metadata={"language": lang})
        for name, f in self._filters[profile]:
            result = f.filter(doc)
            keep, why = result if isinstance(result, tuple) else (result, None)
            if not keep:
                return lang, profile, f"{name}:{why or 'failed'}"
        return lang, profile, None

    def judge(self, texts: list[str | None], langs: list[str | None] | None = None) -> list[tuple[str, str, str | None]]:
        return [self.judge_one(t, lang) for t, lang in zip(texts, langs or [None] * len(texts))]
