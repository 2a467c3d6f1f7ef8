"""Seed labelling without the corpus: the STEM-prose rule, its first-model step, derived Chinese
negatives, and seeds that never contain a benchmark test item."""

from __future__ import annotations

import gzip
import json

from trivium.filters.decontam import DecontamConfig
from trivium.filters.fasttext_text import Example
from trivium.filters.quality_model import mostly_han
from trivium.mixtures.seed import (
    QUALITY_NEGATIVE,
    QUALITY_POSITIVE,
    SeedData,
    chinese_negatives,
    html_to_text,
    plain_math,
    seed_examples,
    short_views,
    source_windows,
    windows,
)
from trivium.mixtures.stem_prose import AMBIGUOUS, COMMONSENSE, LABEL, STEM, StemProseRule, evidence, judge, relabel

PHYSICS = (
    "Thermodynamics is the branch of physics that deals with heat, work and temperature, and their relation to "
    "energy, entropy and the physical properties of matter and radiation. The behaviour of these quantities is "
    "governed by four laws which convey a quantitative description using measurable macroscopic physical "
    "quantities. In a heat engine, thermal energy from combustion is converted into mechanical work; the "
    "efficiency of the cycle depends on the temperature of the reservoirs and on the pressure of the working "
    "fluid. Statistical mechanics explains the same laws from the kinetic energy of molecules and atoms."
)
FOOTBALL = (
    "The 1998 season was the club's forty-second in the league. The team finished fourth after a late run of "
    "wins in the spring, and the captain scored eleven goals in the final ten matches. The manager left at the "
    "end of the season to take charge of a rival side, and the board appointed his assistant as his successor. "
    "Attendance at home games rose by a fifth, and the new stand behind the north goal was opened in October."
)
DYNAMO = (  # one field word, repeated: density without breadth
    "Dynamo Energy won again. The Energy fans sang of energy, the Energy coach praised the energy of his players "
    "and the Energy captain said energy had made the difference. Energy travel to the capital next week, where "
    "the Energy squad will meet the league leaders in front of a full stadium on Saturday afternoon at three."
)
ZH_BIOLOGY = (
    "細胞是生物體結構和功能的基本單位。細胞膜由磷脂雙分子層和蛋白質組成，控制物質進出細胞。細胞核內的染色體攜帶基因，"
    "基因由DNA分子組成，決定蛋白質的合成。線粒體通過氧化反應為細胞提供能量，而酶則催化細胞內的化學反應。"
    "在分子生物學實驗中，研究者測量基因表達的水平，並研究突變如何影響蛋白質的功能與疾病的發生。"
) * 2
ZH_HISTORY = (
    "唐朝是中國歷史上一個重要的朝代，定都長安。唐太宗在位期間，政治清明，經濟繁榮，史稱貞觀之治。"
    "唐朝的詩歌十分興盛，李白和杜甫是這一時期最著名的詩人。長安城規模宏大，各國使節和商人雲集於此。"
) * 4


def test_lexicon_needs_density_and_breadth_in_both_languages():
    assert judge(PHYSICS) == STEM
    assert judge(FOOTBALL) == COMMONSENSE
    dynamo = evidence(DYNAMO)
    assert dynamo.density >= StemProseRule().stem_density and dynamo.breadth < StemProseRule().stem_breadth
    assert judge(DYNAMO) == AMBIGUOUS  # left to the first model, never STEM by the lexicon alone
    assert judge(ZH_BIOLOGY) == STEM and judge(ZH_HISTORY) == COMMONSENSE
    assert judge(PHYSICS[:100]) is None and judge(None) is None  # too short to judge


def _ex(label, text, source, i):
    return Example(label=label, text=text, source=source, id=f"{source}/{i}")


def test_relabel_moves_stem_prose_keeps_plain_prose_and_recounts_the_report():
    data = SeedData(
        train=[_ex("commonsense/encyclopedia", PHYSICS, "wiki", 0), _ex("commonsense/encyclopedia", FOOTBALL, "wiki", 1),
               _ex("stem/math", "Solve 3x + 5 = 20 for x. " * 20, "exam", 0),
               _ex("code/python", "def f(x):\n    return x\n" * 20, "code", 0)],
        heldout=[_ex("commonsense/news", ZH_BIOLOGY, "news", 0), _ex("commonsense/news", ZH_HISTORY, "news", 1)],
        report={"wiki": {"split": "train"}, "news": {"split": "heldout"}},
    )
    relabel(data, StemProseRule(), seed=0)
    labels = {e.id: e.label for e in data.train + data.heldout}
    assert labels["wiki/0"] == LABEL and labels["wiki/1"] == "commonsense/encyclopedia"
    assert labels["news/0"] == LABEL and labels["news/1"] == "commonsense/news"  # held-out rows get the same rule
    assert labels["exam/0"] == "stem/math" and labels["code/0"] == "code/python"  # other buckets untouched
    assert data.report["wiki"]["stem_prose"] == {"relabelled": 1, "left_out": 0}
    assert data.report["wiki"]["labels"] == {LABEL: 1, "commonsense/encyclopedia": 1}


def test_ambiguous_documents_go_to_the_first_model_and_are_dropped_without_agreement(monkeypatch):
    import trivium.mixtures.stem_prose as sp

    data = SeedData(train=[_ex("commonsense/news", DYNAMO, "sport", i) for i in range(3)], report={})
    seen = {}

    def fake_first_model(train, candidates, verdicts, ambiguous, seed):
        seen["n"] = len(ambiguous)
        return {id(ambiguous[0]): 0.9, id(ambiguous[1]): 0.1, id(ambiguous[2]): 0.35}

    monkeypatch.setattr(sp, "_first_model_stem", fake_first_model)
    relabel(data, StemProseRule(), seed=0)
    assert seen["n"] == 3
    assert [e.label for e in data.train] == [LABEL, "commonsense/news"]  # agree -> STEM, sure plain -> kept
    assert data.report["sport"]["stem_prose"] == {"relabelled": 1, "left_out": 1}


def test_chinese_negatives_are_derived_deterministically_from_chinese_positives():
    pos = [_ex(QUALITY_POSITIVE, ZH_HISTORY, "zhwiki", i) for i in range(6)]
    pos.append(_ex(QUALITY_POSITIVE, FOOTBALL, "enwiki", 0))
    neg = chinese_negatives(pos, 1.0, seed=0)
    assert len(neg) == 6 and neg == chinese_negatives(pos, 1.0, seed=0)
    assert {e.label for e in neg} == {QUALITY_NEGATIVE}
    assert {e.source for e in neg} == {"zhwiki~shuffled", "zhwiki~menu", "zhwiki~repeated"}
    assert all(mostly_han(e.text) and e.text != ZH_HISTORY for e in neg)
    menu = next(e.text for e in neg if e.source.endswith("menu"))
    assert len(menu.splitlines()) >= 12 and not any(line.endswith("。") for line in menu.splitlines())


def test_seeds_never_hold_a_benchmark_item_but_held_out_rows_keep_them(tmp_path):
    item = "Natalia sold clips to 48 of her friends in April and then she sold half as many clips in May"
    rows = [{"id": "a", "text": f"Worksheet.\n{item}. How many clips did she sell?" + " Show your work." * 20},
            {"id": "b", "text": "A different word problem about apples and pears in a basket. " * 10}]
    for name in ("exam", "exam_copy"):
        (tmp_path / name).mkdir()
        with gzip.open(tmp_path / name / "part-0.jsonl.gz", "wt") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "bench.txt").write_text(item + "\n")
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps({n: {"bucket": "stem", "files": ["part-0.jsonl.gz"]} for n in ("exam", "exam_copy")}))
    decontam = DecontamConfig(benchmarks={"toy": {"path": str(tmp_path / "bench.txt")}})
    data = seed_examples(str(sources), holdout={"exam_copy"}, decontam=decontam)
    assert [e.id for e in data.train] == ["b"]
    assert data.report["exam"]["decontaminated"] == {"toy": 1}
    assert sorted(e.id for e in data.heldout) == ["a", "b"]


def test_balance_oversamples_buckets_in_equal_sub_domain_shares_and_drops_nothing():
    from collections import Counter

    from trivium.mixtures.domain import balance_by_bucket

    examples = ([_ex("stem/math", "x", "exam", i) for i in range(90)] + [_ex("stem/prose", "x", "brown", i) for i in range(10)]
                + [_ex("commonsense/encyclopedia", "x", "wiki", i) for i in range(40)])
    counts = Counter(e.label for e in balance_by_bucket(examples, seed=0))
    assert counts == {"stem/math": 90, "stem/prose": 50, "commonsense/encyclopedia": 100}
    assert balance_by_bucket(examples, seed=0) == balance_by_bucket(examples, seed=0)


def test_word_problem_solutions_lose_gsm8k_markup_only():
    solution = "She sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether 48+24 = <<48+24=72>>72 clips.\n#### 72"
    assert plain_math(solution) == "She sold 48/2 = 24 clips in May.\nAltogether 48+24 = 72 clips.\nThe answer is 72."
    latex = "Let $x << y$ and $a \\ll b$.\n\\section{Heading}"
    assert plain_math(latex) == latex and plain_math(None) is None


def test_html_pages_render_as_flat_lines_or_as_markdown():
    page = ("<html><head><title>t</title><script>var x = 1;</script></head><body><nav><ul><li><a>Home</a></li>"
            "<li>News<ul><li>World</li><li>Local   news</li></ul></li></ul></nav><h2>A headline</h2>"
            "<p>First paragraph\n that wraps.</p><p>Second.</p></body></html>")
    assert html_to_text(page) == "Home\nNews\nWorld\nLocal news\nA headline\nFirst paragraph\nthat wraps.\nSecond."
    assert html_to_text(page, markdown=True) == (
        "* Home\n* News\n  * World\n  * Local news\n\n## A headline\n\nFirst paragraph\nthat wraps.\n\nSecond.")


def test_a_raw_html_source_gives_its_markdown_rendering_to_domain_seeds_only(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "a.html").write_text("<ul>" + "".join(f"<li>Menu entry {i}</li>" for i in range(30)) + "</ul>")
    with gzip.open(tmp_path / "index.jsonl.gz", "wt") as f:
        f.write(json.dumps({"id": "web/a", "path": "pages/a.html"}) + "\n")
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps({"web": {"bucket": "noise", "format": "raw_html", "files": ["index.jsonl.gz"]}}))
    domain = seed_examples(str(sources), "domain")
    assert sorted(e.id for e in domain.train) == ["web/a", "web/a~markdown"]
    assert {e.label for e in domain.train} == {"noise/noise"}  # no sub-domain named: the bucket
    assert next(e.text for e in domain.train if e.id == "web/a~markdown").startswith("* Menu entry 0\n* Menu entry 1")
    assert [e.id for e in seed_examples(str(sources), "quality").train] == ["web/a"]  # the quality model's seeds as before


def test_short_views_add_bare_questions_and_page_fragments_to_training_seeds_only():
    page = "\n".join(f"* Menu entry number {i} | Subscribe now" for i in range(40))
    data = SeedData(
        train=[_ex("stem/word_problems", "Tom has 3 apples and buys 4 more at the market. How many apples has he?\n\n"
                   "3 + 4 = 7\nThe answer is 7.", "gsm8k", 0),
               _ex("noise/boilerplate", page, "web", 0), _ex("stem/math", "Solve x.\n\nx = 1", "exam", 0)],
        heldout=[_ex("noise/boilerplate", page, "web_held", 0)], report={"gsm8k": {"used": 1}})
    short_views(data, seed=0, fragments_per_page=3)
    views = data.train[3:]
    assert views[0].text == "Tom has 3 apples and buys 4 more at the market. How many apples has he?"
    assert views[0].label == "stem/word_problems" and views[0].id == "gsm8k/0~question"
    frags = views[1:]
    assert len(frags) == 3 and all(f.label == "noise/boilerplate" and 40 <= len(f.text) <= 250 for f in frags)
    assert all(f.text in page for f in frags)  # consecutive lines of the page
    assert len(data.heldout) == 1 and data.report["gsm8k"] == {"used": 1, "views": 1} and data.report["web"] == {"views": 3}
    again = SeedData(train=data.train[:3], heldout=[], report={})
    short_views(again, seed=0, fragments_per_page=3)
    assert [e.text for e in again.train] == [e.text for e in data.train]  # deterministic for a seed


def test_windows_are_whole_lines_past_the_prefix_the_model_reads():
    text = "\n".join(f"line {i:03d} " + "x" * 90 for i in range(60))  # 60 lines of 99 characters + newline
    got = windows(text, size=500, skip=1200, min_chars=400)
    assert got[0].startswith("line 012 ")  # lines starting within the first 1,200 characters are skipped
    assert all(len(w) >= 499 for w in got[:-1]) and len(got[-1]) >= 400
    assert "\n".join(got) in text  # consecutive, non-overlapping, whole lines
    assert [w.split("\n")[0][:8] for w in got] == ["line 012", "line 017", "line 022", "line 027", "line 032",
                                                    "line 037", "line 042", "line 047", "line 052", "line 057"][:len(got)]
    assert windows("short text", size=500) == [] and windows("a" * 5000, size=500) == []  # one line: in the prefix


def test_small_sources_are_topped_up_with_windows_of_their_long_documents():
    session = "\n".join(f"user{i % 7}: message number {i} about the weather and the game tonight" for i in range(400))
    page = "\n".join(f"* Menu entry {i} | Subscribe" for i in range(300))
    data = SeedData(
        train=[_ex("noise/chat", session, "chat", i) for i in range(3)]
        + [_ex("noise/boilerplate", page, "web", 0)]
        + [_ex("commonsense/news", "\n".join([FOOTBALL] * 20), "big", i) for i in range(5)],
        heldout=[_ex("noise/chat", session, "chat_held", 0)], report={})
    source_windows(data, seed=0, min_docs=40)
    added = data.train[9:]
    assert {e.source for e in added} == {"chat", "big"}  # boilerplate pages give none: past the menu is the article
    chat = [e for e in added if e.source == "chat"]
    assert len(chat) == 37 and data.report["chat"] == {"windows": 37}  # topped up to 40 documents
    assert all(e.label == "noise/chat" and "~window" in e.id and e.text in session for e in chat)
    assert len(data.heldout) == 1
    big = SeedData(train=data.train[4:9], heldout=[], report={})
    source_windows(big, seed=0, min_docs=5)
    assert len(big.train) == 5 and big.report == {}  # a source with enough documents gets none
    again = SeedData(train=data.train[:9], heldout=[], report={})
    source_windows(again, seed=0, min_docs=40)
    assert [e.text for e in again.train] == [e.text for e in data.train]  # deterministic for a seed
