"""Exam-shaped views of training documents (`trivium.mixtures.exam_views`), on hand-made texts."""

from __future__ import annotations

import random
import re

from trivium.filters.fasttext_text import Example
from trivium.mixtures.exam_views import STOP, exam_item, exam_views, is_english
from trivium.mixtures.seed import SeedData

PHYSICS = (
    "Thermodynamics is the branch of physics that deals with heat, work and temperature. "
    "The behaviour of these quantities is governed by four laws of measurable macroscopic quantities. "
    "In a heat engine, thermal energy from combustion is converted into mechanical work by a cycle. "
    "The efficiency of the cycle depends on the temperature of the reservoirs and the working fluid. "
    "Statistical mechanics explains the same laws from the kinetic energy of molecules and atoms. "
    "Entropy measures the number of microscopic states that are compatible with a macroscopic state."
)
HISTORY = (
    "The castle was built by the duke in the twelfth century on a hill above the river valley. "
    "Its walls were raised again after a long siege destroyed the northern gate and the chapel. "
    "The family sold the estate to a merchant whose grandson turned the great hall into a library. "
    "During the war the building served as a hospital and later as a school for the local children. "
    "Today the castle belongs to a charitable trust and opens its gardens to visitors every summer."
)
ITEM = re.compile(
    r"\A(?P<q>(?:.+\n)?.+)\n\n(?P<opts>(?:(?:\([A-E]\)|[A-E]\.) .+\n?){4,5})(?:\nAnswer: (?P<a>[A-E]))?\Z")


def _ex(label, text, source, i):
    return Example(label=label, text=text, source=source, id=f"{source}/{i}")


def test_an_item_is_lettered_options_cut_from_the_document_itself():
    for seed in range(30):
        item = exam_item(PHYSICS, random.Random(seed))
        m = ITEM.match(item)
        assert m, item
        options = [re.sub(r"^(\([A-E]\)|[A-E]\.) ", "", line) for line in m.group("opts").strip().split("\n")]
        letters = [line[:3].strip("(). ") for line in m.group("opts").strip().split("\n")]
        assert letters == list("ABCDE"[: len(options)])
        if "_____" in m.group("q"):  # cloze: the blank's options are content words of the document
            assert all(o in PHYSICS and o.lower() not in STOP and " " not in o for o in options)
            blanked = m.group("q").split("\n")[-1]
            assert any(blanked.replace("_____", o) in PHYSICS for o in options)  # one option restores the sentence
        else:  # statements: (the start of) sentences of the document
            assert all(o in PHYSICS for o in options)
        if m.group("a"):
            assert m.group("a") in letters
    assert exam_item(PHYSICS, random.Random(7)) == exam_item(PHYSICS, random.Random(7))


def test_documents_too_short_or_not_english_give_no_item():
    assert exam_item("One short sentence about heat and temperature in engines today.", random.Random(0)) is None
    assert not is_english("熱力學是研究熱與溫度的物理學分支。" * 20)
    assert is_english(PHYSICS)


def test_views_keep_the_label_skip_word_problems_chinese_and_held_out_and_are_deterministic():
    def data():
        return SeedData(
            train=[_ex("stem/prose", PHYSICS, "wiki", 0), _ex("commonsense/encyclopedia", HISTORY, "wiki", 1),
                   _ex("stem/word_problems", PHYSICS, "gsm8k", 0), _ex("noise/chat", HISTORY, "chat", 0),
                   _ex("commonsense/encyclopedia", "熱力學是研究熱與溫度的物理學分支。" * 20, "zhwiki", 0)],
            heldout=[_ex("stem/prose", PHYSICS, "held", 0)], report={"wiki": {"used": 2}})

    d = data()
    exam_views(d, seed=0, buckets=("stem", "commonsense"))
    views = d.train[5:]
    assert [(v.label, v.id) for v in views] == [("stem/prose", "wiki/0~exam"),
                                                ("commonsense/encyclopedia", "wiki/1~exam")]
    assert ITEM.match(views[0].text) and ITEM.match(views[1].text)
    assert len(d.heldout) == 1 and d.report == {"wiki": {"used": 2, "exam_views": 2}}
    again = data()
    again.train.reverse()  # an item depends on its document and the seed, not on the seeds' order
    exam_views(again, seed=0, buckets=("stem", "commonsense"))
    assert sorted(e.text for e in again.train[5:]) == sorted(v.text for v in views)
    other = data()
    exam_views(other, seed=1, buckets=("stem", "commonsense"))
    assert [e.text for e in other.train[5:]] != [v.text for v in views]
    stem_only = data()
    exam_views(stem_only, seed=0)  # the default: STEM documents only
    assert [v.id for v in stem_only.train[5:]] == ["wiki/0~exam"]


def test_cli_train_seeds_exam_views_unless_told_not_to(tmp_path):
    """`trivium classifier train --seed-sources --exam-views` adds them as the shipped recipe does; without the
    switch (or with `--no-exam-views`) there are none."""
    import gzip
    import json

    from typer.testing import CliRunner

    from trivium.flows.cli import app

    def sentences(text: str) -> list[str]:
        return [s.strip() + "." for s in text.split(".") if s.strip()]

    entries = {}
    for name, bucket, text in (("physics", "stem", PHYSICS), ("castles", "commonsense", HISTORY)):
        parts = sentences(text)
        rows = [{"id": f"{name}/{k}", "text": " ".join(parts[k:] + parts[:k])} for k in range(len(parts))]
        (tmp_path / name).mkdir()
        with gzip.open(tmp_path / name / "part-0.jsonl.gz", "wt") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        entries[name] = {"bucket": bucket, "language": "en", "files": ["part-0.jsonl.gz"]}
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(entries))
    reports = {}
    for flags in (["--exam-views"], ["--no-exam-views"], []):
        model = tmp_path / f"model{len(reports)}.bin"
        result = CliRunner().invoke(app, ["classifier", "train", "--seed-sources", str(sources), "--output",
                                          str(model), "--no-stem-prose", "--keep-benchmarks", "--epoch", "1",
                                          "--json", *flags])
        assert result.exit_code == 0, result.output
        reports[" ".join(flags) or "default"] = json.loads((tmp_path / f"{model.name}.json").read_text())["seed_report"]
    assert reports["--exam-views"]["physics"]["exam_views"] == reports["--exam-views"]["physics"]["used"] > 0
    assert "exam_views" not in reports["--no-exam-views"]["physics"]
    assert "exam_views" not in reports["default"]["physics"]
    assert "exam_views" not in reports["--exam-views"]["castles"]  # STEM documents only
