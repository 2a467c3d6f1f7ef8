"""Classification on ../shared/corpus: language ID accuracy, domain generalisation to held-out sources,
agentic recall, quality ranking, GSM8K decontamination, and the classification stages run offline,
conserving documents and giving byte-identical outputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from trivium.filters.fasttext_text import TrainParams, format_confusion, read_records, render, render_batch
from trivium.filters.langid import LanguageIdentifier
from trivium.flows.cli import app
from trivium.flows.config import parse_config
from trivium.flows.curate import final_documents, run_after, run_ingest
from trivium.flows.stages import STAGES
from trivium.mixtures.domain import DomainModel, train_domain
from trivium.mixtures.seed import load_sources, seed_examples
from typer.testing import CliRunner

pytestmark = pytest.mark.corpus

# Whole sources held out: STEM prose (brown_learned), English news (its science stories are STEM
# prose), the English math evaluation sets, MBPP, ReAct, SMS spam/chat (noise).
DOMAIN_HOLDOUT = "brown_learned,nltk_news,math_eval_en,mbpp,react,sms_spam"
# Quality: a positive of each language kept out, and the boilerplate-page source.
QUALITY_HOLDOUT = "nltk_news,gaokao_stem,web_boilerplate"


def _rows(corpus: Path, source: str) -> list[dict]:
    entry = load_sources(str(corpus / "sources.json"))[source]
    return [r for f in entry["files"] for r in read_records(str(corpus / source / f))]


@pytest.fixture(scope="module")
def models(corpus_dir, tmp_path_factory) -> Path:
    """Domain and quality models trained through the CLI, each with held-out sources written beside them."""
    root = tmp_path_factory.mktemp("models")
    runner = CliRunner()
    sources = str(corpus_dir / "sources.json")
    for task, holdout in (("domain", DOMAIN_HOLDOUT), ("quality", QUALITY_HOLDOUT)):
        result = runner.invoke(app, [
            "classifier", "train", "--task", task, "--seed-sources", sources, "--output", str(root / f"{task}.bin"),
            "--holdout", holdout, "--holdout-output", str(root / f"{task}_heldout.jsonl.gz"),
            "--max-per-source", "1000", "--json",
        ])
        assert result.exit_code == 0, result.output
        card = json.loads(result.stdout)
        assert card["task"] == task and card["holdout"] == sorted(holdout.split(","))
        assert card["params"]["threads"] == 1 and card["model_sha256"]
    return root


def test_domain_classifier_generalises_to_held_out_sources(models):
    result = CliRunner().invoke(app, ["classifier", "eval", "--model", str(models / "domain.bin"),
                                      "--input", str(models / "domain_heldout.jsonl.gz"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    print(f"\nheld out {DOMAIN_HOLDOUT}: macro-F1 {report['macro_f1']}, accuracy {report['accuracy']}")
    print(format_confusion(report))
    print({k: v["accuracy"] for k, v in report["per_source"].items()})
    assert set(report["per_source"]) == set(DOMAIN_HOLDOUT.split(","))
    assert report["labels"] == ["commonsense", "stem", "code", "agentic", "noise"]
    assert report["macro_f1"] >= 0.85
    assert report["per_source"]["brown_learned"]["accuracy"] >= 0.5  # STEM prose never seen (a twin without sub-domain balance: 0.0)
    assert "subdomain" in report  # sub-domain labels were trained and evaluated too


def test_every_agentic_source_lands_in_agentic(models, corpus_dir):
    model = DomainModel(str(models / "domain.bin"))
    sources = load_sources(str(corpus_dir / "sources.json"))
    agentic = sorted(name for name, e in sources.items() if e["bucket"] == "agentic")
    assert {"bfcl", "tau_airline", "react", "toolbench"} <= set(agentic)
    shares = {}
    for name in agentic:
        rows = _rows(corpus_dir, name)
        preds = model.predict([r.get("text") for r in rows],
                              [json.dumps(r["messages"]) if r.get("messages") else None for r in rows],
                              [json.dumps(r["tools"]) if r.get("tools") else None for r in rows])
        shares[name] = sum(p[0] == "agentic" for p in preds) / len(rows)
    print("\nagentic share per source (react was held out of training):", shares)
    assert all(s >= 0.95 for s in shares.values()), shares


def test_quality_model_ranks_held_out_sources(models):
    result = CliRunner().invoke(app, ["classifier", "eval", "--model", str(models / "quality.bin"),
                                      "--input", str(models / "quality_heldout.jsonl.gz"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    print("\nquality held out:", report["per_source_mean"], "AUC", report["auc"])
    means = report["per_source_mean"]
    assert min(means["nltk_news"], means["gaokao_stem"]) > means["web_boilerplate"] + 0.2
    assert report["auc"] >= 0.7


def test_rendering_kernel_gives_the_python_lines_on_every_source(corpus_dir):
    for part in sorted(corpus_dir.glob("*/*.jsonl.gz")):
        rows = [r for _, r in zip(range(400), read_records(str(part)))]
        texts = [r.get("text") for r in rows]
        msgs = [json.dumps(r["messages"]) if r.get("messages") else None for r in rows]
        for shape in (False, True):
            expected = [render(t, m, None, 256, shape) for t, m in zip(texts, msgs)]
            assert render_batch(texts, msgs, None, 256, shape) == expected, part


def test_langid_matches_the_declared_language_of_every_en_and_zh_source(corpus_dir):
    lid = LanguageIdentifier()
    sources = load_sources(str(corpus_dir / "sources.json"))
    shares = {}
    for name, entry in sorted(sources.items()):
        if entry.get("format") != "text" or entry["language"] not in ("en", "zh"):
            continue
        texts = [r["text"] for r in _rows(corpus_dir, name) if r.get("text") and len(r["text"]) > 200]
        langs = [lang for lang, _ in lid.predict(texts)]
        shares[name] = (sum(lang == entry["language"] for lang in langs) / len(texts), len(texts))
    print("\nlangid share of the declared language (docs > 200 chars):", shares)
    assert {"enwiki", "zhwiki", "zh_poetry", "gaokao_stem", "gsm8k"} <= set(shares)
    assert all(share >= 0.98 for share, _ in shares.values()), shares


def test_training_is_reproducible_with_one_thread(corpus_dir, tmp_path):
    data = seed_examples(str(corpus_dir / "sources.json"), max_per_source=150,
                         only={"enwiki", "gsm8k", "code_python", "bfcl", "zhwiki"})
    digests = []
    for i in range(2):
        out = tmp_path / f"m{i}.bin"
        train_domain(data.train, str(out), TrainParams(epoch=3))
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


# ---- stages on Spark ------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _gsm8k(corpus: Path) -> tuple[list[dict], list[dict]]:
    rows = _rows(corpus, "gsm8k")
    return [r for r in rows if r["meta"]["split"] == "train"], [r for r in rows if r["meta"]["split"] == "test"]


def _stage_index(name: str) -> int:
    return next(i for i, s in enumerate(STAGES, start=1) if s.name == name)


def test_every_planted_gsm8k_test_question_is_removed_and_no_train_question(spark, corpus_dir, tmp_path):
    train, test = _gsm8k(corpus_dir)
    bench = tmp_path / "gsm8k_test.jsonl.gz"
    _write_jsonl(bench, [{"question": r["text"].split("\n\n", 1)[0]} for r in test])
    planted = [{"id": f"planted-{i}", "text": f"Homework sheet {i}.\n{r['text'].split(chr(10) * 2)[0]}\nShow your work."}
               for i, r in enumerate(test)]
    _write_jsonl(tmp_path / "in" / "planted" / "part-0.jsonl.gz", planted)
    _write_jsonl(tmp_path / "in" / "train" / "part-0.jsonl.gz", train)
    config = parse_config({"decontam": {"benchmarks": {"gsm8k": {"path": str(bench), "field": "question"}}}})
    out = str(tmp_path / "run")
    ingest = run_ingest(spark, [str(tmp_path / "in")], out, config)
    sdef = STAGES[_stage_index("decontam") - 1]
    result = run_after(spark, sdef, _stage_index("decontam"), ingest, out, config)
    m = result.manifest
    assert m.docs_in == len(train) + len(test) and m.conserved()
    assert m.dropped == {"contaminated:gsm8k": len(test)}
    rejects = pq.read_table(result.stage_dir + "/rejects").to_pylist()
    assert {r["id"] for r in rejects} == {p["id"] for p in planted}
    assert all(r["reason"] == "contaminated:gsm8k" and r["coverage"] == 1.0 for r in rejects)


class _Guard:
    """Blocks and records every non-loopback socket connection (Spark's py4j loopback still works)."""

    LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})

    def __init__(self, monkeypatch):
        self.attempts: list = []
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
        real_create = socket.create_connection
        guard = self

        def allowed(sock_family, address) -> bool:
            if sock_family == getattr(socket, "AF_UNIX", None):
                return True
            host = address[0] if isinstance(address, tuple) else address
            return str(host) in guard.LOOPBACK

        def connect(self, address):
            if not allowed(self.family, address):
                guard.attempts.append(address)
                raise OSError(f"network blocked in tests: {address}")
            return real_connect(self, address)

        def connect_ex(self, address):
            if not allowed(self.family, address):
                guard.attempts.append(address)
                raise OSError(f"network blocked in tests: {address}")
            return real_connect_ex(self, address)

        def create_connection(address, *args, **kwargs):
            if str(address[0]) not in guard.LOOPBACK:
                guard.attempts.append(address)
                raise OSError(f"network blocked in tests: {address}")
            return real_create(address, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "create_connection", create_connection)


def _sample_inputs(corpus: Path, root: Path) -> list[dict]:
    sources = load_sources(str(corpus / "sources.json"))
    sample = [r for name, entry in sorted(sources.items()) if entry.get("format") in ("text", "messages")
              for r in _rows(corpus, name)[:15]]
    _write_jsonl(root / "sample" / "part-0.jsonl.gz", sample)
    _, test = _gsm8k(corpus)
    extra = [
        {"id": "pii-1", "text": (
            "The village library reopened on Monday after a long renovation of its reading rooms. The new building "
            "has a children's corner, a quiet study hall and a small gallery for local painters. Visitors who want "
            "to reserve a room can write to the librarian at help.desk@example.com or call +1 415 555 0132 during "
            "opening hours. The online catalogue, hosted on the server at 8.8.8.8, lists every book and journal "
            "that the library holds, and it shows which titles are on loan. The council thanked the volunteers who "
            "moved thousands of books during the works, and the mayor said the library would stay open late on "
            "Thursdays so that students could prepare for their examinations in peace.")},
        {"id": "planted-gsm8k", "text": (
            "In today's arithmetic class the teacher wrote a word problem on the board and asked every pupil to "
            "solve it alone before discussing the method with a partner. Here is the problem exactly as she gave "
            "it to us. " + test[0]["text"].split("\n\n")[0] + " We first wrote down what we knew, then we "
            "worked out each step carefully and compared our answers at the end of the lesson.")},
    ]
    _write_jsonl(root / "extra" / "part-0.jsonl.gz", extra)
    return extra


def _run_all(spark, inputs: str, out: str, config) -> list:
    outcomes = [run_ingest(spark, [inputs], out, config)]
    for i, sdef in enumerate(STAGES, start=1):
        if sdef.enabled(getattr(config, sdef.config_field)):
            outcomes.append(run_after(spark, sdef, i, outcomes[-1], out, config))
    return outcomes


def test_stages_run_offline_conserve_and_repeat_byte_identically(spark, corpus_dir, models, tmp_path, monkeypatch):
    guard = _Guard(monkeypatch)
    _sample_inputs(corpus_dir, tmp_path / "in")
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"question": r["text"].split("\n\n")[0]}) + "\n" for r in _gsm8k(corpus_dir)[1]))
    config = parse_config({
        # low thresholds: the planted and PII documents must reach the decontam and pii stages
        "quality": {"model": str(models / "quality.bin"), "default_threshold": 0.2,
                    "thresholds": {"commonsense": 0.2, "stem": 0.2, "code": 0.0, "agentic": 0.0}},
        "domain": {"model": str(models / "domain.bin")},
        "decontam": {"benchmarks": {"gsm8k": {"path": str(bench), "field": "question"}}},
        "exact_dedup": {"enabled": False},  # not this stages: saves time
        "near_dedup": {"enabled": False},
    })
    assert config.quality.domain_model == str(models / "domain.bin")
    first = _run_all(spark, str(tmp_path / "in"), str(tmp_path / "run0"), config)
    # Determinism: this stages again, on the same inputs, into another folder.
    second, rerun, previous = [], None, None
    for o in first:
        if o.manifest.stage in ("langid", "quality", "decontam", "pii", "domain"):
            i = _stage_index(o.manifest.stage)
            rerun = run_after(spark, STAGES[i - 1], i, rerun or previous, str(tmp_path / "run1"), config)
            second.append(rerun)
        else:
            rerun = None
        previous = o
    runs = [[o for o in first if o.manifest.stage in {x.manifest.stage for x in second}], second]

    # The per-document code of every stage, run in this process too (Spark's Python workers are
    # separate processes the socket guard cannot reach).
    from trivium.flows.stages.decontam import DecontamBatches
    from trivium.flows.stages.domain import DomainBatches
    from trivium.flows.stages.langid import LangIdBatches
    from trivium.flows.stages.pii import PIIBatches
    from trivium.flows.stages.quality import QualityBatches

    ingest = first[0]
    batch = pq.read_table(str(Path(ingest.stage_dir) / ingest.manifest.files[0].path)).to_batches()[0]
    for fn in (LangIdBatches(config.langid), QualityBatches(config.quality), DecontamBatches(config.decontam),
               PIIBatches(config.pii), DomainBatches(config.domain)):
        assert next(fn(iter([batch]))).num_rows == batch.num_rows
    assert guard.attempts == []

    names = [o.manifest.stage for o in first]
    assert names == ["ingest", "langid", "heuristic_filter", "quality", "decontam", "pii", "domain"]
    assert [s.name for s in STAGES][-4:] == ["quality", "decontam", "pii", "domain"]
    assert all(o.manifest.conserved() for o in first)
    for a, b in zip(*runs):
        assert a.manifest.conserved()
        assert [f.sha256 for f in a.manifest.files + a.manifest.rejects] == \
               [f.sha256 for f in b.manifest.files + b.manifest.rejects], a.manifest.stage
    by = {o.manifest.stage: o.manifest for o in first}
    assert by["decontam"].dropped == {"contaminated:gsm8k": 1}
    assert by["pii"].extra["pii_email"] >= 1 and by["pii"].extra["pii_phone"] >= 1 and by["pii"].extra["pii_ip"] >= 1
    assert sum(v for k, v in by["domain"].extra.items() if k.startswith("domain_")) == by["domain"].docs_in

    docs = final_documents(spark, first).toPandas()
    for col in ("lang", "lang_score", "quality_score", "domain", "domain_scores", "subdomain"):
        assert col in docs.columns and docs[col].notna().all(), col
    assert docs["quality_score"].between(0, 1).all()
    assert set(docs["domain"]) <= {"commonsense", "stem", "code", "agentic", "noise"}
    assert set(docs.loc[docs["source"] == "bfcl", "domain"]) == {"agentic"}
    assert set(docs.loc[docs["source"] == "zhwiki", "lang"]) == {"zh"}
    pii = docs.loc[docs["id"] == "pii-1", "text"].iloc[0]
    assert "<EMAIL>" in pii and "<PHONE>" in pii and "<IP_ADDRESS>" in pii and "example.com" not in pii
    assert all(abs(sum(dict(s).values()) - 1) < 0.01 for s in docs["domain_scores"])


def test_without_a_model_named_the_shipped_models_classify_and_the_manifest_names_them(spark, tmp_path):
    paragraphs = [
        ("The river rose quickly after three days of heavy rain, and farmers moved their cattle to higher ground "
        "before the water reached the fields. Neighbours shared tractors and trailers, and by the evening every "
        "animal in the valley was safe in the barns on the hill above the old mill."),
        ("Our chess club meets every Wednesday evening in the back room of the town hall. Beginners are welcome, "
        "and the older members are happy to explain openings, endgames and the history of famous matches to "
        "anyone who asks, as long as they are willing to lose a few games at first."),
        ("The bakery on the corner sells bread made with flour from a mill in the next village. The owner starts "
        "work at four in the morning, and by seven the shelves are full of loaves, rolls and the small sweet "
        "pastries that the children buy on their way to school every day."),

    ]
    rows = [{"id": f"d{i}", "text": p} for i, p in enumerate(paragraphs)]
    _write_jsonl(tmp_path / "in" / "s" / "part-0.jsonl.gz", rows)
    config = parse_config({})
    decontam = STAGES[_stage_index("decontam") - 1]
    assert not decontam.enabled(config.decontam)  # no benchmark configured: disabled
    outcomes = [run_ingest(spark, [str(tmp_path / "in")], str(tmp_path / "run"), config)]
    for name in ("quality", "domain"):
        i = _stage_index(name)
        outcomes.append(run_after(spark, STAGES[i - 1], i, outcomes[-1], str(tmp_path / "run"), config))
    by = {o.manifest.stage: o.manifest for o in outcomes}
    from trivium.filters.fasttext_text import file_sha256
    from trivium.mixtures.default_models import default_model

    for stage, task in (("quality", "quality"), ("domain", "domain")):
        record = by[stage].extra["model"]
        assert record == {"path": default_model(task), "sha256": file_sha256(default_model(task)), "shipped_default": True}
    assert by["quality"].extra["domain_model"]["shipped_default"] is True
    assert sum(v for k, v in by["domain"].extra.items() if k.startswith("domain_")) == by["domain"].docs_in
    docs = final_documents(spark, outcomes).toPandas()
    assert len(docs) + sum(by["quality"].dropped.values()) == 3
    assert docs["quality_score"].notna().all() and set(docs["domain"]) == {"commonsense"}
