"""Heuristic filter choice per language/profile, and config errors that name the field."""

from __future__ import annotations

import pytest
from damage import good

from trivium.filters.exact_dedup import dedup_key, normalise
from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters, looks_like_code
from trivium.filters.script_lang import guess_language
from trivium.flows.config import ConfigError, parse_config

ZH = "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。城市历史悠久，拥有众多名胜古迹。" * 2


def test_script_guess():
    assert guess_language("The cat sat on the mat.") == "en"
    assert guess_language(ZH) == "zh"
    assert guess_language("これは日本語の文章です。漢字も使います。") == "ja"
    assert guess_language("12345 !!!") == "und"


def test_chinese_is_not_judged_by_english_stop_words():
    f = HeuristicFilters(HeuristicFilterConfig())
    lang, profile, reason = f.judge_one(ZH)
    assert (lang, profile) == ("zh", "zh")
    assert reason is None or "stop_words" not in reason
    assert "gopher_quality" not in [s.name for s in HeuristicFilterConfig().profiles["zh"]]


def test_code_and_latex_use_the_code_profile():
    code = "def f(x):\n    if x > 1:\n        return x * f(x - 1)\n    return 1\n\nclass A:\n    pass\n" * 3
    latex = r"\begin{lemma} Let $X$ be a scheme. \end{lemma} \begin{proof} See \ref{x}. \end{proof}" * 5
    assert looks_like_code(code, 0.05) and looks_like_code(latex, 0.05)
    assert not looks_like_code(good(0)["text"], 0.05)
    assert HeuristicFilters(HeuristicFilterConfig()).judge_one(code)[1] == "code"


def test_prose_passes_and_junk_is_dropped_with_a_reason():
    f = HeuristicFilters(HeuristicFilterConfig())
    assert f.judge_one(good(3)["text"])[2] is None
    assert f.judge_one("buy now " * 200)[2].startswith("gopher_repetition:")
    assert f.judge_one("   ")[2] == "empty_text"
    assert f.judge_one(None) == ("und", "conversation", None)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"heuristic_filter.*profiles\.en\[0\]\.params"):
        parse_config({"heuristic_filter": {"profiles": {"en": [{"name": "gopher_quality", "params": {"nope": 1}}],
                                                        "default": []}}})
    with pytest.raises(ConfigError, match=r"spark\.partitions"):
        parse_config({"spark": {"partitions": 0}})
    with pytest.raises(ConfigError, match=r"unknown_section"):
        parse_config({"unknown_section": {}})


def test_exact_dedup_key_ignores_layout_not_content():
    assert normalise("ﬁne\u00a0 text\n\n") == "fine text"
    assert dedup_key("a  b\nc") == dedup_key(" a b c ")
    assert dedup_key("a b c") != dedup_key("a b d")
    assert dedup_key(None, '[{"role":"user"}]') != dedup_key('[{"role":"user"}]')
