"""Heuristic quality filters: datatrove's Gopher, C4 and FineWeb rules, chosen per document profile.

A profile is the document's language (language ID when it ran, else the script guess), `code` for
source code and LaTeX/markup, or `math` for digit- and formula-dense prose: there, prose rules
(stop words, alphabetic-word share, terminal punctuation, curly brackets) would throw away
exactly the STEM data the curriculum wants. Conversations (text null) are never judged here: the
agentic rules of later stages own them.

Two engines decide with the same rules and thresholds:
- `fast` (default): the statistics come from one Numba pass per batch (`kernels.textstats`) and
  each rule is a comparison on them, in datatrove's order, so the first failing rule is the
  reason datatrove would give. A profile the kernel cannot express (another word tokenizer than
  English/Chinese, C4 in sentence mode, a Gopher filter after C4, which rewrites the text) is
  judged by datatrove itself, so a configuration never changes meaning with the engine.
- `datatrove`: datatrove's filter objects, document by document (the reference, ~0.15 MB/s).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from trivium.filters.script_lang import _SCRIPT_LANG
from trivium.kernels.textstats import (
    C4_CURLY,
    C4_LOREM,
    STATS,
    WORD_TOKENIZERS,
    StatParams,
    TextStats,
    route_stats,
    script_stats,
    text_stats,
)

FilterName = Literal["gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]

# Languages datatrove can word-tokenize here without extra models; others use its English rules.
_TOKENIZER_LANGS = {"en", "zh", "de", "fr", "es", "it", "pt", "nl", "ru"}


def kernel_tokenizer(language: str) -> str | None:
    """The kernel's word tokenizer for a datatrove language: the spaCy rule tokenizer datatrove itself
    loads for it when the kernel reproduces that one ("en"; "xx" is what datatrove 0.10 gives Chinese),
    else None."""
    from datatrove.utils.word_tokenizers import SpaCyTokenizer, load_word_tokenizer

    try:
        tok = load_word_tokenizer(language)
    except ValueError:
        return None
    if type(tok) is SpaCyTokenizer and tok.config is None and tok.language in WORD_TOKENIZERS:
        return tok.language
    return None


class FilterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
        # The line-punctuation rule is kept for menus and lists, but a text of one or two lines (an
        # encyclopedia paragraph, a poem's title line) is not a list: `line_punct_exclude_zero`
        # keeps a text none of whose lines ends in a full stop only when it has no more than
        # `min_lines_for_line_rules` lines (see HeuristicFilterConfig).
        "zh": _specs(("gopher_repetition", {"top_n_grams": []}), ("fineweb_quality", {"short_line_length": 10, "short_line_thr": 0.8, "new_line_ratio": 1.0})),
        # Code and markup: only degenerate repetition (copy-pasted blocks, generated junk).
        "code": _specs(("gopher_repetition", {"dup_line_frac": None, "dup_line_char_frac": None, "top_n_grams": [], "dup_n_grams": [[20, 0.3]]})),
        # Math and numeric prose: numbers and formulas are words here, not noise.
        # Worked solutions restate the same expression step after step: duplicated 10-grams count from 30%, as in code.
        "math": _specs(("gopher_repetition", {"top_n_grams": [], "dup_n_grams": [[10, 0.3]]}), ("gopher_quality", {"max_non_alpha_words_ratio": 0.4, "min_doc_words": 20, "min_stop_words": 1, "min_avg_word_length": 2})),
        # Chinese exam and math text (options, formulas): repetition only, as for English math, and no
        # line rules, which read option lines and formula lines as a list.
        "math_zh": _specs(("gopher_repetition", {"top_n_grams": [], "dup_n_grams": [[10, 0.3]]})),
        "default": _specs(("gopher_repetition", {"top_n_grams": []})),
    }


class HeuristicFilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: Literal["fast", "datatrove"] = Field("fast", description="fast: the Numba statistics kernel; datatrove: its filter objects")
    profiles: dict[str, list[FilterSpec]] = Field(default_factory=default_profiles)
    latin_language: str = Field("en", description="what the script guess calls Latin-script text")
    detect_code: bool = Field(True, description="judge code/markup with the `code` profile")
    code_symbol_ratio: float = Field(0.05, ge=0, le=1, description="share of code symbols that marks code/markup")
    detect_math: bool = Field(True, description="judge digit/operator-dense text with the `math` profile")
    math_char_ratio: float = Field(0.06, ge=0, le=1, description="share of digits/operators that marks math text")
    line_punct_min_lines: int = Field(
        3, ge=0, description="FineWeb's line_punct_ratio judges texts of at least this many non-blank lines (0: all, as datatrove)"
    )

    @model_validator(mode="after")
    def _filters_build(self):
        if "default" not in self.profiles:
            raise ValueError("profiles.default: a profile for languages without their own is required")
        for profile, specs in self.profiles.items():
            for i, spec in enumerate(specs):
                try:
                    filter_arguments(spec, profile)
                except TypeError as err:
                    raise ValueError(f"profiles.{profile}[{i}].params: {err}") from err
        return self


def _filter_class(name: str):
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    return {
        "gopher_repetition": GopherRepetitionFilter,
        "gopher_quality": GopherQualityFilter,
        "c4_quality": C4QualityFilter,
        "fineweb_quality": FineWebQualityFilter,
    }[name]


def _constructor_params(spec: FilterSpec, profile: str) -> dict:
    params = dict(spec.params)
    params.setdefault("language", profile if profile in _TOKENIZER_LANGS else "en")
    for key in ("top_n_grams", "dup_n_grams"):
        if key in params:
            params[key] = tuple(tuple(x) for x in params[key])
    return params


def filter_arguments(spec: FilterSpec, profile: str) -> dict:
    """Every constructor argument of the datatrove filter `spec` names: its defaults, then `params`.
    Raises TypeError for an argument the filter does not take, as its constructor would."""
    sig = inspect.signature(_filter_class(spec.name).__init__)
    bound = sig.bind(None, **_constructor_params(spec, profile))  # TypeError for unknown names
    bound.apply_defaults()
    args = dict(bound.arguments)
    args.pop("self")
    return args


def build_filter(spec: FilterSpec, profile: str):
    return _filter_class(spec.name)(**_constructor_params(spec, profile))


# ---- profile choice -------------------------------------------------------------------------
#
# The stage runs after language ID and before the domain classifier, so the profile can only use what
# is known by then: the language label, the document's own content, and its metadata. Language ID
# says "en" for a Python file with English docstrings, so code is recognised by content (symbol
# share, code-shaped lines, keyword lines such as `def`/`import`/`\begin`, LaTeX commands) and by a
# file name in the metadata, whichever speaks first. The domain model's verdict comes later and
# cannot steer this stage; a recipe can still combine both through the `hf_*` columns.

# A source file's name in the record's metadata (ingest keeps unknown record keys there), as code
# datasets carry it. Markup and data files (html, json, yaml) are left out: their text is often prose.
_CODE_FILE = re.compile(
    r'"(?:path|file_path|filepath|filename|file_name|ext|extension)"\s*:\s*"[^"]*\.(?:py|pyi|js|jsx|ts|tsx|java|c|cc|cpp|'
    r'cxx|h|hpp|cs|go|rs|rb|php|swift|kt|kts|scala|sh|bash|zsh|ps1|pl|pm|lua|r|jl|mm|sql|tex|sty|cls|hs|ml|clj|ex|'
    r'exs|erl|dart|f90|asm|cu|cuh|sv|vhd|css|scss|cmake|gradle)"',
    re.IGNORECASE,
)


def code_file_in_meta(meta: str | None) -> bool:
    return bool(meta) and _CODE_FILE.search(meta) is not None


def guess_languages(texts: list[str | None], latin: str = "en") -> list[str]:
    """`script_lang.guess_language` for a batch, counted in the kernel: the dominant script's language, "ja" when
    kana make up over 5% of the letters, "und" without letters."""
    counts, names = script_stats(texts, ("HIRAGANA", "KATAKANA"))
    out = []
    for text, (best, total, hira, kata) in zip(texts, counts):
        if not text or total == 0:
            out.append("und")
        elif hira + kata > 0.05 * total:
            out.append("ja")
        else:
            script = names[best]
            out.append(latin if script == "LATIN" else _SCRIPT_LANG.get(script, latin if script.startswith("LATIN") else "und"))
    return out


class Router:
    """Chooses each document's profile from its language, its content signals (`route_stats`) and its metadata."""

    def __init__(self, config: HeuristicFilterConfig):
        self.config = config

    def code(self, signals: np.ndarray, metas: list[str | None]) -> np.ndarray:
        symbols, code_lines, keyword_lines, latex = signals[:, :4].T
        code = (
            (latex >= 0.03)  # LaTeX: commands are a visible share of the words
            | ((symbols >= self.config.code_symbol_ratio) & (code_lines >= 0.4))
            # source files whose docstrings and comments dilute the symbols: structure still shows
            | ((keyword_lines >= 2) & (code_lines >= 0.4))
        )
        for i in np.flatnonzero(~code).tolist():
            code[i] = code_file_in_meta(metas[i])
        return code

    def math(self, signals: np.ndarray, latin: np.ndarray) -> np.ndarray:
        """Inline formulas ($...$ with LaTeX commands) or an exam layout (three option lines, or numbered parts
        "(1)" "(2)"); for Latin-script text also a visible share of digits and operators (in Chinese, where a
        character carries a word, dates and figures alone reach that share)."""
        math_chars, latex, dollars, options, parts = signals[:, 4:9].T
        return (latin & (math_chars >= self.config.math_char_ratio)) | ((dollars >= 2) & (latex >= 1)) \
            | (options >= 3) | (parts >= 2)

    def profiles(self, langs: list[str], signals: np.ndarray, metas: list[str | None]) -> list[str]:
        """Each document's profile (`signals`: one row of `route_stats` per document)."""
        c = self.config
        code = self.code(signals, metas) if c.detect_code and "code" in c.profiles else np.zeros(len(langs), bool)
        latin = np.array([lang == c.latin_language for lang in langs], dtype=bool)
        math = self.math(signals, latin) if c.detect_math else np.zeros(len(langs), bool)
        out = []
        for lang, is_code, is_math, is_latin in zip(langs, code.tolist(), math.tolist(), latin.tolist()):
            # `math` is for the Latin-script language; others have `math_<lang>` where configured
            math_profile = "math" if is_latin else f"math_{lang}"
            if is_code:
                out.append("code")
            elif is_math and math_profile in c.profiles:
                out.append(math_profile)
            else:
                out.append(lang if lang in c.profiles else "default")
        return out


# ---- rules as comparisons on the kernel's statistics ------------------------------------------

Rule = tuple[str, Callable[[TextStats], np.ndarray]]  # ("filter:reason", stats -> failing mask)
TOP_N, DUP_N = (2, 3, 4), (5, 6, 7, 8, 9, 10)


def _above(stat: str, limit):
    return lambda st: st[stat] > limit


def _below(stat: str, limit):
    return lambda st: st[stat] < limit


def _gopher_repetition(a: dict) -> tuple[list[Rule], dict]:
    rules = []
    for key in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"):
        if a[key]:  # datatrove: a falsy threshold (None, 0) switches the rule off
            rules.append((key, _above(key, a[key])))
    for n, frac in a["top_n_grams"]:
        rules.append((f"top_{n}_gram", lambda st, n=n, frac=frac: st.top_share(n) > frac))
    for n, frac in a["dup_n_grams"]:
        rules.append((f"duplicated_{n}_n_grams", lambda st, n=n, frac=frac: st.dup_share(n) > frac))
    needs = {"top_n": {n for n, _ in a["top_n_grams"]}, "dup_n": {n for n, _ in a["dup_n_grams"]}}
    return rules, needs


def _gopher_quality(a: dict) -> tuple[list[Rule], dict]:
    checks = [
        ("min_doc_words", "gopher_short_doc", _below, "non_symbol_words"),
        ("max_doc_words", "gopher_long_doc", _above, "non_symbol_words"),
        ("min_avg_word_length", "gopher_below_avg_threshold", _below, "mean_word_length"),
        ("max_avg_word_length", "gopher_above_avg_threshold", _above, "mean_word_length"),
        ("max_symbol_word_ratio", "gopher_too_many_hashes", _above, "hash_ratio"),
        ("max_symbol_word_ratio", "gopher_too_many_ellipsis", _above, "ellipsis_ratio"),
        ("max_bullet_lines_ratio", "gopher_too_many_bullets", _above, "bullet_lines_ratio"),
        ("max_ellipsis_lines_ratio", "gopher_too_many_end_ellipsis", _above, "ellipsis_lines_ratio"),
        ("max_non_alpha_words_ratio", "gopher_below_alpha_threshold", _below, "alpha_ratio"),
        ("min_stop_words", "gopher_enough_stop_words", _below, "stop_words"),
    ]
    rules = [(reason, cmp(stat, a[key])) for key, reason, cmp, stat in checks if a[key]]
    from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

    stop = tuple(STOP_WORDS if a["stop_words"] is None else a["stop_words"])
    return rules, {"stop_words": stop}


def _c4_quality(a: dict) -> tuple[list[Rule], dict]:
    rules = [
        ("lorem_ipsum", lambda st: st.c4_drop == C4_LOREM),
        ("curly_bracket", lambda st: st.c4_drop == C4_CURLY),
        ("too_few_sentences", lambda st: (st.c4_drop == 0) & (st["c4_sentences"] < a["min_num_sentences"])),
    ]
    keys = ("remove_citations", "filter_no_terminal_punct", "min_words_per_line", "max_word_length",
            "filter_lorem_ipsum", "filter_javascript", "filter_curly_bracket", "filter_policy")
    return rules, {"c4": tuple((k, int(a[k])) for k in keys)}


def _fineweb_quality(a: dict, min_lines: int = 0) -> tuple[list[Rule], dict]:
    thr, exclude_zero = a["line_punct_thr"], a["line_punct_exclude_zero"]
    rules = [
        ("empty", lambda st: np.isnan(st["line_punct_ratio"])),
        # On one or two lines the share of lines ending in a full stop says whether the text was cut (a
        # one-line encyclopedia paragraph, a CJK passage), not whether it is a menu or a list.
        ("line_punct_ratio", lambda st: (st["line_punct_ratio"] < thr) & ~((st["line_punct_ratio"] == 0) & exclude_zero)
         & (st["lines"] >= min_lines)),
        ("short_line_ratio", _above("short_line_ratio", a["short_line_thr"])),
        ("char_dup_ratio", _above("char_dup_ratio", a["char_duplicates_ratio"])),
        ("list_ratio", _above("newline_ratio", a["new_line_ratio"])),
    ]
    stop_chars = None if a["stop_chars"] is None else tuple(a["stop_chars"])
    return rules, {"stop_chars": stop_chars, "short_line_length": a["short_line_length"]}


_RULES = {
    "gopher_repetition": _gopher_repetition,
    "gopher_quality": _gopher_quality,
    "c4_quality": _c4_quality,
    "fineweb_quality": _fineweb_quality,
}


@dataclass(frozen=True)
class ProfilePlan:
    """How one profile is judged: kernel statistics + rules, or (params None) datatrove's filters."""

    stat_params: StatParams
    rules: tuple[Rule, ...]
    kernel: bool
    why_not_kernel: str = ""


def plan_profile(profile: str, specs: list[FilterSpec], line_punct_min_lines: int = 0) -> ProfilePlan:
    """The kernel plan for a profile's filters, or a datatrove plan (with the reason) when the kernel cannot
    reproduce them."""
    args = [filter_arguments(s, profile) for s in specs]
    tokenizers = {kernel_tokenizer(a["language"]) for a in args} or {"en"}
    tokenizer = next(iter(tokenizers))
    rules: list[Rule] = []
    needs: dict[str, list] = {}
    why = ""
    if len(tokenizers) > 1 or tokenizer is None:
        why = f"word tokenizer of {sorted({a['language'] for a in args})}"
    c4_seen = False
    for spec, a in zip(specs, args):
        if spec.name == "c4_quality" and (not a["split_paragraph"] or c4_seen):
            why = why or "C4 in sentence mode, or twice"
        if spec.name.startswith("gopher") and c4_seen:
            why = why or "a Gopher filter after C4 (which rewrites the text)"
        r, need = _fineweb_quality(a, line_punct_min_lines) if spec.name == "fineweb_quality" else _RULES[spec.name](a)
        rules += [(f"{spec.name}:{reason}", fn) for reason, fn in r]
        for key, value in need.items():
            if key in ("top_n", "dup_n"):
                needs.setdefault(key, set()).update(value)
            elif key in needs and needs[key] != value:
                why = why or f"two {spec.name} filters with different {key}"
            else:
                needs[key] = value
        c4_seen = c4_seen or spec.name == "c4_quality"
    fineweb_after_c4 = any(s.name == "fineweb_quality" for s in specs[[s.name for s in specs].index("c4_quality") + 1:]) \
        if c4_seen else False
    params = StatParams(
        word_tokenizer=tokenizer or "en",
        stop_words=needs.get("stop_words", StatParams.stop_words),
        top_n=tuple(sorted(set(TOP_N) | needs.get("top_n", set()))),
        dup_n=tuple(sorted(set(DUP_N) | needs.get("dup_n", set()))),
        stop_chars=needs.get("stop_chars"),
        short_line_length=needs.get("short_line_length", StatParams.short_line_length),
        c4=needs.get("c4", ()),
        fineweb_after_c4=fineweb_after_c4,
    )
    return ProfilePlan(params, tuple(rules), kernel=not why, why_not_kernel=why)


# ---- statistics as document attributes ---------------------------------------------------------

STAT_COLUMNS = tuple(f"hf_{s}" for s in STATS) + tuple(f"hf_top_{n}_gram" for n in TOP_N) + tuple(
    f"hf_dup_{n}_gram" for n in DUP_N
)
INT_STATS = {"hf_chars", "hf_words", "hf_non_symbol_words", "hf_stop_words", "hf_c4_sentences", "hf_lines"}


def stat_rows(stats: TextStats) -> np.ndarray:
    """[docs, len(STAT_COLUMNS)]: the statistics in STAT_COLUMNS order (NaN where undefined)."""
    return np.hstack([stats.values] + [stats.top_share(n)[:, None] for n in TOP_N]
                     + [stats.dup_share(n)[:, None] for n in DUP_N])


@dataclass
class Verdicts:
    """One batch's judgement: per document its language, profile, first failing rule (the drop reason),
    every failing rule, and the statistics (rows of STAT_COLUMNS; NaN for conversations and blank text)."""

    langs: list[str]
    profiles: list[str]
    reasons: list[str | None]
    failed: list[list[str] | None]
    stats: np.ndarray


class HeuristicFilters:
    """Judges documents: `judge(texts) -> [(lang, profile, reason or None)]`, `judge_batch` for everything.
    Picklable; filters and plans built lazily."""

    def __init__(self, config: HeuristicFilterConfig):
        self.config = config

    @cached_property
    def _filters(self) -> dict[str, list]:
        """Per profile: (name, filter, the filter for texts of few lines): FineWeb without its line-punctuation
        rule below `line_punct_min_lines`."""
        out = {}
        for p, specs in self.config.profiles.items():
            out[p] = []
            for s in specs:
                few = None
                if s.name == "fineweb_quality" and self.config.line_punct_min_lines:
                    few = build_filter(FilterSpec(name=s.name, params={**s.params, "line_punct_thr": 0}), p)
                out[p].append((s.name, build_filter(s, p), few))
        return out

    @cached_property
    def plans(self) -> dict[str, ProfilePlan]:
        return {p: plan_profile(p, specs, self.config.line_punct_min_lines) for p, specs in self.config.profiles.items()}

    def __getstate__(self):
        return {"config": self.config}

    def profile_of(self, text: str, lang: str, meta: str | None = None) -> str:
        return Router(self.config).profiles([lang], route_stats([text]), [meta])[0]

    def _datatrove_failures(self, text: str, lang: str, profile: str) -> list[str]:
        """datatrove's verdict: the first failing filter's reason (datatrove stops there)."""
        from datatrove.data import Document

        doc = Document(text=text, id="", metadata={"language": lang})
        for name, f, few in self._filters[profile]:
            if few is not None and sum(1 for ln in doc.text.split("\n") if ln.strip()) < self.config.line_punct_min_lines:
                f = few  # doc.text as the filters before left it (C4 rewrites it)
            result = f.filter(doc)
            keep, why = result if isinstance(result, tuple) else (result, None)
            if not keep:
                return [f"{name}:{why or 'failed'}"]
        return []

    def judge_batch(self, texts: list[str | None], langs: list[str | None] | None = None,
                    metas: list[str | None] | None = None) -> Verdicts:
        """`langs`: each document's language from language ID when it ran; else (None/"und") the script guess.
        `metas`: the records' meta JSON (a source file name there routes to the code profile)."""
        n = len(texts)
        langs = list(langs) if langs is not None else [None] * n
        metas = list(metas) if metas is not None else [None] * n
        signals = route_stats(texts)
        router = Router(self.config)
        if any(not lang or lang == "und" for lang in langs):
            guessed = guess_languages(texts, self.config.latin_language)
            langs = [lang if lang and lang != "und" else g for lang, g in zip(langs, guessed)]
        out_lang, out_profile = ["und"] * n, ["conversation"] * n
        failed: list[list[str] | None] = [None] * n
        stats = np.full((n, len(STAT_COLUMNS)), np.nan)
        groups: dict[str, list[int]] = {}
        texts_at = [i for i, text in enumerate(texts) if text is not None]  # None: a conversation, for agentic rules
        routed = router.profiles([langs[i] for i in texts_at], signals[texts_at], [metas[i] for i in texts_at])
        for i, profile in zip(texts_at, routed):
            text = texts[i]
            out_lang[i] = langs[i]
            out_profile[i] = profile
            if not text.strip():
                failed[i] = ["empty_text"]
            else:
                groups.setdefault(out_profile[i], []).append(i)
        for profile, idx in groups.items():
            plan = self.plans[profile]
            st = text_stats([texts[i] for i in idx], plan.stat_params)
            stats[idx] = stat_rows(st)
            if self.config.engine == "fast" and plan.kernel:
                fails = np.stack([np.asarray(fn(st), dtype=bool) for _, fn in plan.rules], axis=1) \
                    if plan.rules else np.zeros((len(idx), 0), dtype=bool)
                names = [name for name, _ in plan.rules]
                for i, row, any_fail in zip(idx, fails.tolist(), fails.any(axis=1).tolist()):
                    failed[i] = [name for name, f in zip(names, row) if f] if any_fail else []
            else:
                for i in idx:
                    failed[i] = self._datatrove_failures(texts[i], out_lang[i], profile)
        reasons = [f[0] if f else None for f in failed]
        return Verdicts(out_lang, out_profile, reasons, failed, stats)

    def judge(self, texts: list[str | None], langs: list[str | None] | None = None) -> list[tuple[str, str, str | None]]:
        v = self.judge_batch(texts, langs)
        return list(zip(v.langs, v.profiles, v.reasons))

    def judge_one(self, text: str | None, lang: str | None = None) -> tuple[str, str, str | None]:
        return self.judge([text], [lang])[0]
