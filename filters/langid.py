"""Offline language identification with fastText's `lid.176` model, loaded from a local file.

The model comes from a path in config, else `$TRIVIUM_LID_MODEL`, else the `lid.176.ftz` shipped
inside this package (`filters/models/`, CC BY-SA 3.0, licence beside it), so a plain
`pip install` identifies languages. Nothing is downloaded, ever.

Two corrections make the raw model fit curation data:
- Noise that is not language (LaTeX math, commands, URLs, e-mail addresses, digits and markup
  symbols) is removed before prediction: a Chinese exam question full of `\\frac{}` was called
  Russian or Japanese.
- Script veto: a label whose writing system is (almost) absent from the text is impossible, e.g.
  `ja` for Han text without any kana (classical Chinese poetry) or `ru` without Cyrillic. The
  best remaining label of the top k wins, with its probability renormalised over the remaining
  labels: P(lang | text, lang is possible).
"""

from __future__ import annotations

import json
import os
import re
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, Field

LID_MODEL_ENV = "TRIVIUM_LID_MODEL"


class LangIdModelMissing(FileNotFoundError):
    pass


def bundled_lid_model() -> str | None:
    """Path of the `lid.176.ftz` shipped as package data, or None when the installation lacks it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "lid.176.ftz")
    return path if os.path.exists(path) else None


def resolve_lid_model(path: str | None = None) -> str:
    """The language-ID model file to use; raises with instructions when there is none."""
    candidates = [("langid.model_path", path), (f"${LID_MODEL_ENV}", os.environ.get(LID_MODEL_ENV))]
    for origin, p in candidates:
        if p:
            if not os.path.exists(p):
                raise LangIdModelMissing(f"{origin} points to {p!r}, which does not exist")
            return p
    bundled = bundled_lid_model()
    if bundled:
        return bundled
    raise LangIdModelMissing(
        "no language-ID model: set langid.model_path (or $TRIVIUM_LID_MODEL) to a fastText lid.176 .bin/.ftz file; "
        "the package's own copy (trivium/filters/models/lid.176.ftz) is missing from this installation"
    )


_MODELS: dict[str, object] = {}


def load_fasttext(path: str):
    """fastText model, loaded once per process (workers are reused across batches and stages)."""
    st = os.stat(path)
    key = f"{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"  # a retrained file is a new model
    model = _MODELS.get(key)
    if model is None:
        import fasttext

        fasttext.FastText.eprint = lambda *a, **k: None  # silence the load_model deprecation notice
        model = _MODELS[key] = fasttext.load_model(path)
    return model


def load_fasttext_arrays(path: str):
    """The model's arrays for `trivium.kernels.fasttext_predict` (same answers, several times faster), loaded
    once per process; None for a model that kernel does not handle (the `fasttext` binding serves it)."""
    from trivium.kernels import fasttext_predict

    st = os.stat(path)
    key = f"arrays:{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"
    if key not in _MODELS:
        try:
            _MODELS[key] = fasttext_predict.load(path)
        except ValueError:
            _MODELS[key] = None
    return _MODELS[key]


# ---- text cleaning -----------------------------------------------------------------------

_MATH = re.compile(r"\$\$.{0,2000}?\$\$|\$[^$\n]{0,500}\$|\\\(.{0,500}?\\\)|\\\[.{0,2000}?\\\]", re.DOTALL)
_LATEX_CMD = re.compile(r"\\[A-Za-z]+\*?")
_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"]+|www\.[^\s<>\"]+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Digits and symbols, each to a space (the whitespace fold then joins runs): bytes.translate over the
# UTF-8 is exact (no multi-byte sequence holds an ASCII byte) and several times faster than a regex.
_NOISE = bytes.maketrans(b"0123456789_#*=<>|{}[]\\^~`$&/+%@-", b" " * 32)


def clean_for_lid(text: str, max_chars: int = 2000) -> str:
    """The language-bearing part of a text prefix, on one line (fastText reads one line per example).

    A pattern runs only when the character it needs is there (a substring test costs a fraction of a
    regex pass); removals only add spaces, so the result is that of running every pattern in turn."""
    t = text[: max_chars * 2]
    if "$" in t or "\\" in t:
        t = _MATH.sub(" ", t)
    if "://" in t or "www." in t:
        t = _URL.sub(" ", t)
    if "@" in t:
        t = _EMAIL.sub(" ", t)
    if "\\" in t:
        t = _LATEX_CMD.sub(" ", t)
    t = t.encode("utf-8", "surrogatepass").translate(_NOISE).decode("utf-8", "surrogatepass")
    return " ".join(t.split())[:max_chars]  # split() folds exactly the whitespace `\s+` does


# ---- script veto -------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
_SCRIPTS = {
    "han": _HAN,
    "kana": _KANA,
    "hangul": "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f",
    "cyrillic": "\u0400-\u04ff",
    "greek": "\u0370-\u03ff",
    "armenian": "\u0530-\u058f",
    "georgian": "\u10a0-\u10ff",
    "hebrew": "\u0590-\u05ff",
    "arabic": "\u0600-\u06ff\u0750-\u077f",
    "thai": "\u0e00-\u0e7f",
    "devanagari": "\u0900-\u097f",
    "bengali": "\u0980-\u09ff",
    "tamil": "\u0b80-\u0bff",
}
# Counting by deleting everything else: a sub() builds one string, findall() one per character.
_NOT_SCRIPT = {name: re.compile(f"[^{ranges}]+") for name, ranges in _SCRIPTS.items()}
# lid.176 labels written in one non-Latin script (the rest are Latin-script or mixed: never vetoed).
_LABEL_SCRIPT = {
    **dict.fromkeys(["zh", "wuu", "yue"], "han"),
    "ja": "kana",
    "ko": "hangul",
    **dict.fromkeys(["ru", "uk", "bg", "be", "sr", "mk", "kk", "ky", "tg", "tt", "ba", "cv", "mn", "sah", "ce",
                     "os", "mhr", "mrj", "xal", "kv", "myv", "bxr", "av", "lez", "krc", "udm"], "cyrillic"),
    "el": "greek",
    "hy": "armenian",
    "ka": "georgian",
    **dict.fromkeys(["he", "yi"], "hebrew"),
    **dict.fromkeys(["ar", "fa", "ur", "ps", "ckb", "arz", "azb", "mzn", "pnb", "sd", "ug", "ku"], "arabic"),
    "th": "thai",
    **dict.fromkeys(["hi", "mr", "ne", "sa", "new", "bh", "gom", "mai", "bpy"], "devanagari"),
    **dict.fromkeys(["bn", "as"], "bengali"),
    "ta": "tamil",
}
_NOT_LETTER = re.compile(r"[\W\d_]+")


def _count(not_class: re.Pattern, text: str) -> int:
    return len(not_class.sub("", text))


def script_possible(label: str, text: str, min_share: float = 0.05) -> bool:
    """False when `label`'s script makes up less than `min_share` of the letters (kana for `ja`)."""
    script = _LABEL_SCRIPT.get(label)
    if script is None:
        return True
    found = _count(_NOT_SCRIPT[script], text)
    if script != "kana" and found >= min_share * len(text):  # letters <= len(text): no need to count them
        return True
    letters = _count(_NOT_LETTER, text)
    if not letters:
        return True
    if script == "kana":  # Japanese is Han + kana; Han alone is Chinese
        han_kana = found + _count(_NOT_SCRIPT["han"], text)
        return han_kana > 0 and found >= min_share * han_kana
    return found >= min_share * letters


class LanguageIdentifier:
    """`predict(texts) -> [(lang, score)]` in one batched fastText call; picklable (model loaded lazily)."""

    def __init__(self, model_path: str | None = None, top_k: int = 5, max_chars: int = 2000, script_check: bool = True):
        self.model_path = resolve_lid_model(model_path)
        self.top_k = top_k
        self.max_chars = max_chars
        self.script_check = script_check

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("model", "arrays")}

    @cached_property
    def model(self):
        return load_fasttext(self.model_path)

    @cached_property
    def arrays(self):
        return load_fasttext_arrays(self.model_path)

    def _candidates(self, line: str) -> list[tuple[str, float]]:
        labels, probs = self.model.predict(line, k=self.top_k)
        return [(lab[9:], min(1.0, float(p))) for lab, p in zip(labels, probs)] or [("und", 0.0)]

    def _first(self, lines: list[str]) -> list[tuple[str, float]]:
        """The first candidate per line, through the kernel where the model allows."""
        if self.arrays is None:
            return [self._candidates(line)[0] for line in lines]
        from trivium.kernels.fasttext_predict import predict

        index, prob, _ = predict(self.arrays, lines)
        names = self.arrays.labels
        return [(names[i][9:], min(1.0, float(p))) if i >= 0 else ("und", 0.0) for i, p in zip(index.tolist(), prob.tolist())]

    def predict(self, texts: list[str | None]) -> list[tuple[str, float]]:
        cleaned = [clean_for_lid(t or "", self.max_chars) for t in texts]
        todo = [i for i, c in enumerate(cleaned) if c]
        out: list[tuple[str, float]] = [("und", 0.0)] * len(texts)
        if not todo:
            return out
        for i, first in zip(todo, self._first([cleaned[i] for i in todo])):
            out[i] = first
            # the other candidates matter only when the first one's script is not in the text
            if self.script_check and not script_possible(first[0], cleaned[i]):
                possible = [c for c in self._candidates(cleaned[i])[1:] if script_possible(c[0], cleaned[i])]
                if possible:
                    total = sum(p for _, p in possible)
                    lang, p = possible[0]
                    out[i] = (lang, min(1.0, p / total) if total > 0 else 0.0)
        return out


def conversation_text(messages: str | None, limit: int = 4000) -> str:
    """The natural-language content of an OpenAI-format conversation (tool schemas and arguments left out)."""
    if not messages:
        return ""
    try:
        msgs = json.loads(messages)
    except (json.JSONDecodeError, TypeError):
        return ""
    parts, size = [], 0
    for m in msgs if isinstance(msgs, list) else []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):  # content parts
            content = " ".join(c.get("text", "") for c in content if isinstance(c, dict))
        if isinstance(content, str) and content and m.get("role") != "tool":
            parts.append(content)
            size += len(content)
            if size >= limit:
                break
    return "\n".join(parts)


# ---- config and per-document verdicts -----------------------------------------------------


class LangIdConfig(BaseModel):
    model_path: str | None = Field(
        None, description="fastText lid.176 model file; default: $TRIVIUM_LID_MODEL, else the copy shipped in the package"
    )
    allow: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"en": 0.65, "zh": 0.5},
        description="languages kept, each with its minimum score; key '*' = any other language; empty = keep all",
    )
    top_k: int = Field(5, ge=1, le=20, description="labels considered by the script veto")
    max_chars: int = Field(2000, ge=50, description="prefix of the cleaned text that is classified")
    script_check: bool = Field(True, description="veto labels whose script is absent from the text")
    exempt_code: bool = Field(True, description="label code/markup but never drop it for its language")
    exempt_conversations: bool = Field(True, description="label conversations but never drop them for it")
    code_symbol_ratio: float = Field(0.05, ge=0, le=1, description="as heuristic_filter: what marks code/markup")


def language_verdict(lang: str, score: float, allow: dict[str, float]) -> str | None:
    """Reason to drop a document of language `lang` with confidence `score`, or None to keep it."""
    if not allow:
        return None
    threshold = allow.get(lang, allow.get("*"))
    if threshold is None:
        return f"lang_not_allowed:{lang}"
    if score < threshold:
        return f"lang_low_score:{lang}"
    return None


class LangIdJudge:
    """`judge(texts, messages) -> [(lang, score, reason)]` for a batch of documents (messages: JSON or None)."""

    def __init__(self, config: LangIdConfig):
        self.config = config
        self.identifier = LanguageIdentifier(config.model_path, config.top_k, config.max_chars, config.script_check)

    def judge(self, texts: list[str | None], messages: list[str | None]) -> list[tuple[str, float, str | None]]:
        from trivium.filters.code_shape import looks_like_code

        c = self.config
        is_conv = [t is None and m is not None for t, m in zip(texts, messages)]
        inputs = [conversation_text(m) if conv else t for t, m, conv in zip(texts, messages, is_conv)]
        out = []
        for (lang, score), text, conv in zip(self.identifier.predict(inputs), inputs, is_conv):
            reason = language_verdict(lang, score, c.allow)
            if reason and conv and c.exempt_conversations or reason and not conv and c.exempt_code and text and looks_like_code(text, c.code_symbol_ratio):
                reason = None
            out.append((lang, round(score, 4), reason))
        return out
