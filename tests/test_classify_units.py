"""Classification building blocks without Spark or the corpus: language ID, rendering, decontamination, PII."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trivium.filters.decontam import BenchmarkSpec, DecontamConfig, Decontaminator, NgramIndex, benchmark_items, tokens
from trivium.filters.fasttext_text import agent_structure, classification_report, render, render_batch, text_tokens
from trivium.filters.langid import (
    LangIdConfig,
    LangIdJudge,
    LangIdModelMissing,
    LanguageIdentifier,
    bundled_lid_model,
    clean_for_lid,
    language_verdict,
    resolve_lid_model,
    script_possible,
)
from trivium.filters.pii import PIIMasker
from trivium.filters.quality_model import QualityConfig, quality_verdict, structural_bucket

POEM = (  # a Tang poem (zh_poetry) that lid.176 alone calls Japanese
    "相和歌辭 飲馬長城窟行\n袁朗\n朔風動秋草，清蹕長安道。\n長城連不窮，所以隔華戎。\n規模惟聖作，荷負曉成功。\n"
    "鳥庭已向內，龍荒更鑿空。\n玉關塵卷靜，金微路已通。\n湯征隨北怨，舜詠起南風。\n畫野功初立，綏邊事云集。\n"
    "朝服踐狼居，凱歌旋馬邑。\n山響傳鳳吹，霜華藻瓊鈒。\n屬國擁節歸，單于款關入。\n日落寒雲起，驚沙被原隰。\n"
    "零落葉已寒，河流清且急。\n四時徭役盡，千載干戈戢。\n太平今若斯，汗馬竟無施。\n惟當事筆研，歸去草封禪。"
)


# ---- language ID ---------------------------------------------------------------------------


def test_lid_model_ships_in_the_package_with_its_licence_and_a_bad_path_says_so(monkeypatch):
    import os

    import trivium.filters

    path = bundled_lid_model()
    assert path == os.path.join(os.path.dirname(trivium.filters.__file__), "models", "lid.176.ftz")
    assert os.path.exists(os.path.join(os.path.dirname(path), "LICENSE-lid.176.md"))
    monkeypatch.delenv("TRIVIUM_LID_MODEL", raising=False)
    assert resolve_lid_model(None) == path
    with pytest.raises(LangIdModelMissing, match="langid.model_path"):
        resolve_lid_model("/nonexistent/lid.bin")
    monkeypatch.setenv("TRIVIUM_LID_MODEL", "/nonexistent/env.bin")
    with pytest.raises(LangIdModelMissing, match="TRIVIUM_LID_MODEL"):
        resolve_lid_model(None)


def test_cleaning_drops_math_and_markup_but_keeps_words():
    text = "已知集合 $A=\\{x \\in R\\}$, 则 \\frac{1}{2} 的值 see https://x.org/a?b=1 mail a@b.com 42"
    cleaned = clean_for_lid(text)
    assert "已知集合" in cleaned and "的值" in cleaned and "see" in cleaned
    assert not any(s in cleaned for s in ("$", "frac", "http", "@", "42", "\n"))


def test_script_veto_turns_kana_less_han_into_chinese():
    assert not script_possible("ja", POEM)
    assert script_possible("ja", "これは日本語の文章です。東京に行きました。")
    assert not script_possible("ru", "plain english words only")
    # the share is of letters, not characters: 1 Han letter in 11 passes, in 31 does not, whatever the spaces
    assert script_possible("zh", "中 " + " . " * 20 + "a" * 10)
    assert not script_possible("zh", "中 " + "a" * 30)
    assert clean_for_lid("x=1_2#y\u00e9[z]~w\ud800") == "x y\u00e9 z w\ud800"  # symbols out, the rest kept
    lid = LanguageIdentifier()
    raw = lid.model.predict(clean_for_lid(POEM), k=2)[0][0]
    assert raw == "__label__ja"  # what lid.176 alone says about this Tang poem
    (lang, score), = lid.predict([POEM])
    assert lang == "zh" and 0.5 < score <= 1.0


def test_allow_list_thresholds_and_exemptions():
    allow = {"en": 0.65, "zh": 0.5}
    assert language_verdict("en", 0.9, allow) is None
    assert language_verdict("en", 0.4, allow) == "lang_low_score:en"
    assert language_verdict("fr", 0.99, allow) == "lang_not_allowed:fr"
    assert language_verdict("fr", 0.99, {**allow, "*": 0.5}) is None
    assert language_verdict("xx", 0.0, {}) is None
    judge = LangIdJudge(LangIdConfig())
    code = "def f(x):\n    return x + 1\n\nclass A:\n    def g(self):\n        return [i for i in range(3)]\n"
    conv = json.dumps([{"role": "user", "content": "Bonjour, quelle heure est-il à Paris ?"}])
    out = judge.judge(["Das ist ein ganz normaler deutscher Satz über das Wetter in Berlin.", code, None],
                      [None, None, conv])
    assert out[0][0] == "de" and out[0][2] == "lang_not_allowed:de"
    assert out[1][2] is None  # code is labelled, never dropped for its language
    assert out[2][0] == "fr" and out[2][2] is None  # conversations too


# ---- fastText rendering --------------------------------------------------------------------


def test_conversation_rendering_spells_out_structure_first():
    msgs = json.dumps([
        {"role": "user", "content": "Find flights to Paris"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c0", "type": "function", "function": {"name": "search_flights",
                                                                      "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "content": "3 flights found", "tool_call_id": "c0"},
    ])
    tools = json.dumps([{"type": "function", "function": {"name": "search_flights", "parameters": {}}}])
    line = render(None, msgs, tools).split()
    assert line[0] == "__conv__" and "__has_tools__" in line and "__has_tool_calls__" in line
    assert line.index("__role_tool__") < line.index("paris")  # structure before words
    assert "__observation__" in line and "city" in line
    assert agent_structure(None, msgs, tools)
    assert not agent_structure(None, json.dumps([{"role": "user", "content": "hi"}]), None)


def test_text_traces_get_the_same_markers_and_cjk_is_split():
    trace = "Question: who?\nThought: I should search.\nAction: search[Paris]\nObservation: Paris is a city."
    line = render(trace).split()
    assert {"__thought__", "__action__", "__observation__"} <= set(line)
    assert agent_structure(trace) and not agent_structure("Thought: one line of musing only.")
    assert agent_structure("thought 1: x\nACTION: y") and not agent_structure("Thought: x\nAction y")  # two colons, one
    assert render("中文 abc 123").split() == ["__nl__", "中", "文", "abc", "__num__"]


class _FixedClassifier:
    """A stand-in model: the same sub-domain probabilities for every document."""

    labels = ["agentic/trajectory", "commonsense/news", "noise/chat"]

    def __init__(self, row):
        self.row = row

    def proba_docs(self, texts, messages=None, tools=None):
        return np.tile(np.array(self.row, dtype=float), (len(texts), 1))


def test_agentic_needs_structure_in_a_plain_text_but_not_in_a_conversation():
    from trivium.mixtures.domain import DomainModel

    chat = "Sorry, my battery died. I'll let you know when I'm on my way."
    call = 'User: weather in Paris?\nAssistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}'
    trace = "Thought: I should search.\nAction: search[Paris]\nObservation: Paris is a city."
    conversation = json.dumps([{"role": "user", "content": chat}, {"role": "assistant", "content": "Sure."}])
    model = DomainModel("unused.ftz")
    model._clf = _FixedClassifier([0.55, 0.35, 0.10])
    got = model.predict([chat, call, trace, None], [None, None, None, conversation])
    assert [g[0] for g in got] == ["commonsense", "agentic", "agentic", "agentic"]
    assert got[0][1]["agentic"] == pytest.approx(0.275 / 0.725, abs=1e-4)  # scaled by 1 - w, renormalised
    assert sum(got[0][1].values()) == pytest.approx(1.0, abs=1e-3)
    assert got[1][1]["agentic"] == 0.55 and got[3][1]["agentic"] == 0.55  # tool-call syntax, a conversation: as is
    assert got[2][1]["agentic"] == pytest.approx(0.775)  # a trace: (1 - w) * 0.55 + w
    plain = DomainModel("unused.ftz", structure_weight=0.0)
    plain._clf = model._clf
    assert plain.predict([chat])[0][0] == "agentic"  # structure_weight 0: the model alone


def test_render_batch_kernel_gives_the_python_lines():
    texts = ["", "one", "...", "x²+y² = 10²", "  \n\t\t Code\n \nend.", "ΑΣ ΒΣ", "İstanbul", "a_b", "١٢٣ Ab",
             "Thought: go\nAction: x", "> THOUGHT 2 : y", "line\r\n", "中文，abc。", None, "x" * 3000]
    # by hand: "x²" is one word ("²" is \w, not \d), a word opening with "²" and every digit run are __num__
    assert render_batch(["x²+y² = 10²"]) == ["__nl__ x² + y² = __num__ __num__"]
    assert render_batch(["  a\nB 7?\n"], shape=True) == ["__indent__ __len0__ __noend__ a __nl__ __len0__ b __num__ ? "
                                                          "__nl__ __len0__"]
    for shape in (False, True):
        for limit in (256, 5):
            assert render_batch(texts, limit=limit, shape=shape) == [render(t, None, None, limit, shape) for t in texts]


def test_render_batch_kernel_survives_invalid_utf8():
    import pyarrow as pa
    from trivium.kernels.ft_tokens import render_lines

    data = b"ab" + b"\x80" * 20000  # stray continuation bytes: more code points than bytes of lead characters
    arr = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(np.array([0, len(data)], np.int32).tobytes()),
                                                 pa.py_buffer(data)])
    line = render_lines(arr, 256, False, [(0x4E00, 0x9FFF)], ".")[0]
    assert line.split()[:2] == ["__nl__", "ab"] and len(line.split()) == 256  # each bad byte is one U+FFFD token


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("aZ1²_ \t\n.:>#中ΣİßTthougAction文。!")), max_size=60), max_size=8),
       st.booleans(), st.integers(1, 40))
def test_render_batch_equals_the_token_definition_on_any_text(texts, shape, limit):
    assert render_batch(texts, limit=limit, shape=shape) == [" ".join(text_tokens(t, limit, shape)) for t in texts]


def test_lexicon_trie_finds_the_longest_term_as_the_sorted_alternation_does():
    import re

    from trivium.mixtures.stem_prose import trie_pattern

    words = ["electro", "electron", "electronic", "atom", "at"]
    rx = re.compile(r"\b" + trie_pattern(words), re.IGNORECASE)
    assert rx.findall("Electronics, electron; electro atomic xatom at") == ["Electronic", "electron", "electro", "atom",
                                                                          "at"]
    alternation = re.compile(r"\b(?:" + "|".join(sorted(words, key=len, reverse=True)) + ")", re.IGNORECASE)
    for text in ["electroelectron", "at atom atomic electronic_x", "ELECTRON2 ſatom"]:
        assert rx.findall(text) == alternation.findall(text)


def test_classification_report_macro_f1_and_confusion():
    r = classification_report(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert r["confusion"] == [[1, 1], [0, 2]]
    assert r["accuracy"] == 0.75 and r["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2, abs=1e-4)


def test_quality_threshold_per_bucket():
    cfg = QualityConfig(thresholds={"stem": 0.3, "code": 0.0}, default_threshold=0.5)
    assert quality_verdict(0.2, "code", cfg) is None
    assert quality_verdict(0.2, "stem", cfg) == "low_quality:stem"
    assert quality_verdict(0.4, None, cfg) == "low_quality:other"
    assert quality_verdict(None, "stem", cfg) is None
    assert structural_bucket(None, "[]") == "agentic"
    assert structural_bucket("def f(x):\n    return x\n\ndef g(y):\n    return {y: [1, 2]}\n") == "code"


def test_quality_stage_asks_for_a_bucket_only_where_it_decides_the_verdict():
    """A score at or above every threshold keeps its document whatever its bucket: the domain model is not run."""
    from trivium.flows.stages.quality import QualityBatches, QualityStageConfig

    fn = QualityBatches(QualityStageConfig(thresholds={"stem": 0.3, "code": 0.0}, default_threshold=0.4))
    asked = []

    class Domain:
        def predict(self, texts, messages, tools):
            asked.extend(texts)
            return [("stem", {}, "stem") for _ in texts]

    fn.domain = Domain()
    none = [None] * 4
    assert fn.buckets(["a", "b", "c", "d"], none, none, [0.9, 0.4, 0.39, 0.1]) == [None, None, "stem", "stem"]
    assert asked == ["c", "d"]
    assert fn.buckets(["a", "b"], none, none, [0.5, 0.6]) == [None, None] and asked == ["c", "d"]
    fn.domain = None  # no domain model: the structural bucket, for the same rows
    code = "def f(x):\n    return x\n\ndef g(y):\n    return {y: [1, 2]}\n"
    assert fn.buckets([code, code], [None, None], [None, None], [0.2, 0.45]) == ["code", None]


# ---- decontamination -----------------------------------------------------------------------

ITEM = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."


def test_planted_item_is_found_and_a_shared_phrase_is_not(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question": ITEM}) + "\n" + json.dumps({"question": "too short"}) + "\n")
    d = Decontaminator(DecontamConfig(benchmarks={"toy": BenchmarkSpec(path=str(bench), field="question")}))
    assert d.stats()["toy"] == {"items": 2, "ngrams": 20 - 13 + 1, "skipped_short": 1}
    planted = "Some preface text here. " + ITEM.upper().replace(",", " ,") + " And an unrelated ending."
    assert d.judge_one(planted) == ("contaminated:toy", 1.0)
    # One shared 13-gram covers 13 of 20 tokens (65%): below the 80% default, above the classic rule.
    partial = "Yesterday " + " ".join(tokens(ITEM)[:13]) + " then went home"
    assert d.judge_one(partial)[0] is None
    classic = Decontaminator(DecontamConfig(benchmarks={"toy": BenchmarkSpec(path=str(bench), field="question")},
                                            min_coverage=0))
    assert classic.judge_one(partial)[0] == "contaminated:toy"


def test_cjk_is_tokenised_by_character_and_short_items_match_whole(tmp_path):
    bench = tmp_path / "zh.txt"
    bench.write_text("已知集合A等于一到十的整数求其和\n")
    assert benchmark_items(BenchmarkSpec(path=str(bench))) == ["已知集合A等于一到十的整数求其和"]
    d = Decontaminator(DecontamConfig(benchmarks={"zh": BenchmarkSpec(path=str(bench))}, ngram=30))
    assert d.judge_one("题目：已知集合A等于一到十的整数求其和。答案55")[0] == "contaminated:zh"
    assert d.judge_one("已知集合B等于一到十的整数求其和")[0] is None


def test_benchmark_rows_can_be_selected_by_a_nested_field(tmp_path):
    bench = tmp_path / "b.jsonl"
    rows = [{"text": "q1 " * 20 + "\n\nanswer", "meta": {"split": "test"}}, {"text": "q2 " * 20, "meta": {"split": "train"}}]
    bench.write_text("\n".join(json.dumps(r) for r in rows))
    spec = BenchmarkSpec(path=str(bench), where={"meta.split": "test"}, split_on="\n\n")
    assert benchmark_items(spec) == ["q1 " * 20]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]), min_size=14, max_size=40))
def test_index_finds_every_item_inside_any_document(words):
    item = " ".join(words)
    ix = NgramIndex.build("x", [item], 13, 8)
    from trivium.filters.decontam import token_hashes

    share, which = ix.best_coverage(token_hashes("lead in " + item + " lead out"))
    assert share == 1.0 and which == 0
    assert ix.best_coverage(np.empty(0, dtype=np.uint64)) == (0.0, -1)


# ---- PII -----------------------------------------------------------------------------------


def test_pii_masks_public_addresses_and_formatted_phones_only():
    m = PIIMasker()
    text = ("Write to jane.doe@example.com or ops@mail.example.co.uk. Server 8.8.8.8, local 192.168.1.1 and "
            "127.0.0.1; v6 2001:4860:4860::8888. Call +1 415 555 0132 or (415) 555-0132. "
            "Version 1.2.3.4.5, x = 3.14159, year 2024-05-15 15:00:00, id 4155550132.")
    masked, counts = m.mask(text)
    assert counts == {"email": 2, "ip": 2, "phone": 2}
    for kept in ("192.168.1.1", "127.0.0.1", "1.2.3.4.5", "3.14159", "2024-05-15 15:00:00", "4155550132"):
        assert kept in masked
    assert "jane.doe" not in masked and "8.8.8.8" not in masked and "555-0132" not in masked
    conv = json.dumps([{"role": "user", "content": "mail bob@example.org"}], separators=(",", ":"))
    new, c = m.mask_json(conv)
    assert c == {"email": 1} and "<EMAIL>" in json.loads(new)[0]["content"]
    same = json.dumps([{"role": "user", "content": "nothing here"}])
    assert m.mask_json(same) == (same, {})


def test_pii_column_screen_is_a_superset_and_mask_array_equals_mask():
    """The RE2 screen skips a string only when Python's patterns cannot match it: Unicode digits (Python's
    `\\d`), look-around edge cases, escaped JSON and every config switch give the row-by-row result."""
    import pyarrow as pa
    from trivium.filters.pii import PIIConfig

    texts = [
        "Write to jane.doe@example.com today", "call +44 20 7946 0958 now", "(415) 555-0132", "415.555.0132",
        "server 8.8.8.8:80", "v6 2001:4860:4860::8888 here", "\uff11\uff12\uff13-\uff14\uff15\uff16-\uff17\uff18\uff19\uff10",
        "\u0663\u0661\u0662.\u0665\u0665\u0665.\u0661\u0662\u0663\u0664", "@property on a line", "x+1 = 3.14159",
        "1.2.3.4.5", "a::b in C++", "", None, "nothing at all", "mail@example.org" * 3, "+1 415 555 0132",
    ]
    convs = [json.dumps([{"role": "user", "content": t}], ensure_ascii=a) for t in texts if t for a in (True, False)]
    for config in (PIIConfig(), PIIConfig(public_ips_only=False), PIIConfig(email=False),
                   PIIConfig(ip=False, phone=False), PIIConfig(email=False, ip=False, phone=False)):
        m = PIIMasker(config)
        for values, conversations in ((texts, False), (convs, True)):
            one = m.mask_json if conversations else m.mask
            expected = [one(v) if v else (v, {}) for v in values]
            masked, counts = m.mask_array(pa.array(values, pa.string()), conversations)
            assert masked.to_pylist() == [e[0] for e in expected]
            assert {i: dict(c) for i, c in counts.items()} == {i: dict(e[1]) for i, e in enumerate(expected) if e[1]}
    screened = PIIMasker().candidates(pa.array(["nothing at all", "x+1 = 3.14159", None, "@property", "a@b.cc"]))
    assert screened.tolist() == [False, False, False, False, True]


# ---- heuristic filters follow language ID --------------------------------------------------

FRENCH = ("Le conseil municipal a voté hier soir le budget de la commune pour l'année prochaine. "
          "Les habitants pourront profiter d'une nouvelle bibliothèque et d'un parc rénové au centre du village.")


def test_heuristic_filters_use_the_langid_language_when_it_ran():
    import pyarrow as pa
    from trivium.filters.heuristic import HeuristicFilterConfig, HeuristicFilters
    from trivium.flows.stages.heuristic import HeuristicBatches

    f = HeuristicFilters(HeuristicFilterConfig())
    assert f.judge_one(FRENCH)[:2] == ("en", "en")  # the script guess calls all Latin text English
    assert f.judge_one(FRENCH, "fr")[:2] == ("fr", "default")
    assert f.judge([FRENCH], ["und"])[0][0] == "en"  # undetermined: back to the script guess

    cols = {"id": ["a"], "text": [FRENCH], "source": ["s"], "lang": ["fr"], "meta": ["{}"]}
    without = next(HeuristicBatches(HeuristicFilterConfig())(iter([pa.RecordBatch.from_pydict(cols)])))
    assert without.column("lang").to_pylist() == ["en"]  # langid disabled: the foundation's guess
    with_lid = pa.RecordBatch.from_pydict({**cols, "lang_score": [0.97]})
    assert next(HeuristicBatches(HeuristicFilterConfig())(iter([with_lid]))).column("lang").to_pylist() == ["fr"]


def test_benchmark_recipe_params_are_typed_like_train_params():
    """`benchmarks/classify.py --param NAME=VALUE` measures a recipe variant: values take the field's type."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "classify.py"
    spec = importlib.util.spec_from_file_location("classify_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    got = bench.parse_params(["epoch=10", "lr=0.1", "line_shape=true", "minn=3", "loss=ova"])
    assert got == {"epoch": 10, "lr": 0.1, "line_shape": True, "minn": 3, "loss": "ova"}
    assert type(got["epoch"]) is int and type(got["lr"]) is float
    assert bench.parse_params(None) == {}
    for bad in (["bogus=1"], ["epoch"], ["line_shape=maybe"]):
        with pytest.raises(SystemExit):
            bench.parse_params(bad)
