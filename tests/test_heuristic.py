"""Heuristic filters: profile choice, config errors, the fast engine agreeing with datatrove, statistics as
columns, and `mode: tag` keeping every document."""

from __future__ import annotations

import collections
import gzip
import itertools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from damage import good

from trivium.filters.exact_dedup import dedup_key, normalise
from trivium.filters.heuristic import STAT_COLUMNS, HeuristicFilterConfig, HeuristicFilters, guess_languages, plan_profile
from trivium.filters.script_lang import guess_language
from trivium.flows.config import ConfigError, CurateConfig, parse_config

ZH = "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。城市历史悠久，拥有众多名胜古迹。" * 2
CODE = "def f(x):\n    if x > 1:\n        return x * f(x - 1)\n    return 1\n\nclass A:\n    pass\n" * 3
LATEX = r"\begin{lemma} Let $X$ be a scheme. \end{lemma} \begin{proof} See \ref{x}. \end{proof}" * 5
DOCSTRING_CODE = ('from typing import List\n\n\ndef below_zero(operations: List[int]) -> bool:\n'
                  '    """ You are given a list of deposit and withdrawal operations on a bank account that\n'
                  '    starts with zero balance. Your task is to detect if at any point the balance of the\n'
                  '    account falls below zero, and at that point the function should return True.\n'
                  '    Otherwise it should return False.\n    """\n    balance = 0\n'
                  '    for op in operations:\n        balance += op\n        if balance < 0:\n'
                  '            return True\n    return False\n')
ENGINES = {e: HeuristicFilters(HeuristicFilterConfig(engine=e)) for e in ("fast", "datatrove")}


def test_script_guess_in_the_kernel_is_the_python_guess():
    texts = ["The cat sat on the mat.", ZH, "これは日本語の文章です。漢字も使います。", "12345 !!!", "", "Привет мир",
             "Ελληνικά", "ab中文中文", "中文ab", "café naïve", CODE, "\ufffd" * 3]
    assert guess_languages(texts) == [guess_language(t) for t in texts]
    assert guess_languages(texts[:4]) == ["en", "zh", "ja", "und"]


@pytest.mark.parametrize("engine", ["fast", "datatrove"])
def test_profiles_and_reasons_are_the_same_in_both_engines(engine):
    f = ENGINES[engine]
    lang, profile, reason = f.judge_one(ZH)
    assert (lang, profile) == ("zh", "zh") and (reason is None or "stop_words" not in reason)
    assert f.judge_one(CODE)[1] == "code" and f.judge_one(LATEX)[1] == "code"
    assert f.judge_one(good(0)["text"])[1] == "en" and f.judge_one(good(3)["text"])[2] is None
    assert f.judge_one("buy now " * 200)[2].startswith("gopher_repetition:")
    assert f.judge_one("   ")[2] == "empty_text"
    assert f.judge_one(None) == ("und", "conversation", None)


def test_code_is_routed_by_structure_and_file_name():
    f = ENGINES["fast"]
    assert f.judge_one(DOCSTRING_CODE, "en")[1:] == ("code", None)  # few symbols, but def/import/return lines
    prose = good(1)["text"]
    assert f.judge_batch([prose], ["en"], ['{"path": "src/notes.py"}']).profiles == ["code"]
    assert f.judge_batch([prose], ["en"], ['{"path": "notes.txt"}']).profiles == ["en"]


def test_one_line_texts_are_not_judged_by_line_punctuation():
    # a one-line encyclopedia paragraph cut before its full stop: the line rule reads truncation, not a list
    para = "新角龙类是角龙下目的一个演化支，生存于白垩纪早到末期，分布于现今的北美洲与东亚" * 8
    for engine in ENGINES.values():
        assert engine.judge_one(para, "zh")[2] is None
    strict = HeuristicFilters(HeuristicFilterConfig(line_punct_min_lines=0))
    assert strict.judge_one(para, "zh")[2] == "fineweb_quality:line_punct_ratio"


def test_unsupported_profiles_fall_back_to_datatrove():
    spec = {"name": "c4_quality", "params": {"split_paragraph": False}}
    cfg = HeuristicFilterConfig(profiles={"default": [spec], "de": [{"name": "gopher_quality"}]})
    assert not plan_profile("default", cfg.profiles["default"]).kernel  # C4 in sentence mode
    assert not plan_profile("de", cfg.profiles["de"]).kernel  # German word tokenizer
    assert plan_profile("en", HeuristicFilterConfig().profiles["en"]).kernel


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"heuristic_filter.*profiles\.en\[0\]\.params"):
        parse_config({"heuristic_filter": {"profiles": {"en": [{"name": "gopher_quality", "params": {"nope": 1}}],
                                                        "default": []}}})
    with pytest.raises(ConfigError, match=r"heuristic_filter\.engine"):
        parse_config({"heuristic_filter": {"engine": "spacy"}})
    with pytest.raises(ConfigError, match=r"heuristic_filter\.mode"):
        parse_config({"heuristic_filter": {"mode": "drop"}})
    with pytest.raises(ConfigError, match=r"spark\.partitions"):
        parse_config({"spark": {"partitions": 0}})
    with pytest.raises(ConfigError, match=r"unknown_section"):
        parse_config({"unknown_section": {}})


def test_exact_dedup_key_ignores_layout_not_content():
    assert normalise("ﬁne\u00a0 text\n\n") == "fine text"
    assert dedup_key("a  b\nc") == dedup_key(" a b c ")
    assert dedup_key("a b c") != dedup_key("a b d")
    assert dedup_key(None, '[{"role":"user"}]') != dedup_key('[{"role":"user"}]')



def test_exact_dedup_keys_of_a_column_equal_the_reference_row_by_row():
    """The column path (utf8proc NFKC, the Numba fold) gives `dedup_key` for every whitespace character
    str.split() knows, full-width forms, conversations and a sliced Arrow array."""
    import random

    import pyarrow as pa
    from trivium.filters.exact_dedup import dedup_keys
    from trivium.kernels.whitespace import SPACES, fold_whitespace

    rng = random.Random(7)
    pieces = ["a", "Zürich", "数学", "ﬁ", "（１）", "x²", "é", "\u1680y", *map(chr, SPACES)]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(400)]
    texts += ["", "   ", "\u3000\u2028", "one", None, None]
    messages = [None] * (len(texts) - 2) + ['[{"role":"user","content":"hi"}]', None]
    tools = [None] * (len(texts) - 2) + ['[{"name":"f"}]', None]
    t, m, tl = (pa.array(v, pa.string()) for v in (texts, messages, tools))
    expected = [dedup_key(*row) for row in zip(texts, messages, tools)]
    assert dedup_keys(t, m, tl) == expected
    assert dedup_keys(t.slice(3, 50), m.slice(3, 50), tl.slice(3, 50)) == expected[3:53]
    assert fold_whitespace(t).to_pylist()[:400] == [" ".join(x.split()).encode() for x in texts[:400]]
    assert len(SPACES) == 29 and " " in map(chr, SPACES) and "\u3000" in map(chr, SPACES)

# ---- the fast engine decides as datatrove does ---------------------------------------------------

SLICE = {"enwiki": 150, "zhwiki": 120, "code_python": 40, "math_eval_en": 100, "gaokao_stem": 60, "web_boilerplate": 60}


@pytest.mark.corpus
def test_fast_engine_agrees_with_datatrove_on_a_corpus_slice(corpus_dir):
    for source, n in SLICE.items():
        with gzip.open(sorted((corpus_dir / source).glob("*.jsonl.gz"))[0], "rt", encoding="utf-8") as f:
            texts = [r["text"] for r in map(json.loads, itertools.islice(f, n)) if isinstance(r.get("text"), str)]
        fast, ref = (ENGINES[e].judge(texts) for e in ("fast", "datatrove"))
        assert [v[:2] for v in fast] == [v[:2] for v in ref]  # same language and profile
        same_verdict = sum((a[2] is None) == (b[2] is None) for a, b in zip(fast, ref))
        both = [(a[2], b[2]) for a, b in zip(fast, ref) if a[2] and b[2]]
        assert same_verdict >= 0.995 * len(texts), (source, collections.Counter(a[2] for a in fast))
        assert sum(a == b for a, b in both) >= 0.99 * len(both), source


# ---- the stage: statistics as columns, tag mode --------------------------------------------------


def _stage_batch(config: HeuristicFilterConfig, texts):
    from trivium.flows.stages.heuristic import HeuristicBatches

    cols = {"id": [str(i) for i in range(len(texts))], "text": texts, "source": ["s"] * len(texts),
            "lang": [""] * len(texts), "meta": ["{}"] * len(texts)}
    return next(HeuristicBatches(config)(iter([pa.RecordBatch.from_pydict(cols)])))


def test_stage_writes_statistics_and_every_failing_rule():
    from trivium.flows.stages.heuristic import HeuristicStageConfig

    texts = [good(2)["text"], "buy now " * 200, None]
    out = _stage_batch(HeuristicStageConfig(), texts).to_pydict()
    assert out["_reason"][0] is None and out["_reason"][1].startswith("gopher_repetition:")
    assert out["hf_failed"][0] == [] and out["hf_failed"][1][0] == out["_reason"][1] and len(out["hf_failed"][1]) > 1
    assert out["hf_profile"] == ["en", "en", "conversation"]
    assert out["hf_words"][0] > 50 and 0 < out["hf_alpha_ratio"][0] <= 1 and out["hf_top_2_gram"][1] > 0.2
    assert all(out[c][2] is None for c in STAT_COLUMNS) and out["hf_failed"][2] is None
    tagged = _stage_batch(HeuristicStageConfig(mode="tag"), texts).to_pydict()
    assert tagged["_reason"] == [None] * 3 and tagged["hf_failed"] == out["hf_failed"]


@pytest.mark.spark
def test_tag_mode_keeps_every_document_with_its_verdicts(spark, tmp_path):
    from test_curate import by_stage, run_plain

    root = tmp_path / "in" / "news"
    root.mkdir(parents=True)
    docs = [good(i) for i in range(6)] + [{"id": "junk", "text": "click here " * 100, "source": "news"}]
    with gzip.open(root / "part-0.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    only = {s: {"enabled": False} for s in ("langid", "exact_dedup", "near_dedup", "quality", "decontam", "pii", "domain")}
    config = CurateConfig(**only, heuristic_filter={"mode": "tag"})
    tagged = by_stage(run_plain(spark, [str(tmp_path / "in")], tmp_path / "t", config))["heuristic_filter"]
    m = tagged.manifest
    assert m.conserved() and m.dropped == {} and m.docs_out == m.docs_in == len(docs)
    rows = pa.concat_tables([pq.read_table(p) for p in m.file_urls(tagged.stage_dir)]).to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert by_id["junk"]["hf_failed"] and all(by_id[d["id"]]["hf_words"] > 0 for d in docs)
    assert all(by_id[d["id"]]["hf_failed"] == [] for d in docs if d["id"] != "junk")
    assert set(STAT_COLUMNS) <= set(rows[0])
