"""`trivium report` and `trivium inspect` on a hand-made run folder (no Spark): numbers equal the
manifests, hostile documents stay inert, the page renders in a real browser offline."""

from __future__ import annotations

import hashlib
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from trivium.flows.cli import app
from trivium.flows.manifest import FileEntry, Manifest, write_manifest
from trivium.flows.run_report import parse_size, projection

EVIL = "Evil page <script>alert(1)</script> and <img src=x onerror=alert(1)> end."
ANSI = "\x1b[31mred\x1b[0m and a title \x1b]0;pwned\x07 and a bell"
ARTIFACTS = Path(os.environ.get("TRIVIUM_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def _part(folder: Path, name: str, rows: dict) -> FileEntry:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pq.write_table(pa.table(rows), path)
    data = path.read_bytes()
    rel = path.relative_to(folder.parent if folder.name == "rejects" else folder)
    return FileEntry(path=str(rel), rows=len(next(iter(rows.values()))), bytes=len(data),
                     sha256=hashlib.sha256(data).hexdigest())


def _stage(run: Path, name: str, kept: dict, rejects: dict | None, docs_in: int, dropped: dict, quarantined: dict,
           text_bytes: int, wall: float, cores: int = 2) -> Manifest:
    folder = run / name
    files = [_part(folder, "part-00000-x.parquet", kept)]
    rej = [_part(folder / "rejects", "part-00000-x.parquet", rejects)] if rejects else []
    m = Manifest(stage=name.split("_", 1)[1], config_hash="h", inputs=["i"], docs_in=docs_in,
                 docs_out=files[0].rows, dropped=dropped, quarantined=quarantined, files=files, rejects=rej,
                 wall_s=wall, text_bytes_in=text_bytes, doc_schema="", extra={"cores": cores})
    write_manifest(str(folder), m)
    return m


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    docs = {f"d{i}": f"document number {i} about the weather and the sea" for i in range(6)}
    docs["evil"] = EVIL
    docs["ansi"] = ANSI
    ids = sorted(docs)

    def rows(keep_ids, **cols):
        return {"id": keep_ids, "text": [docs[i] for i in keep_ids], "source": ["web" if i in ("evil", "ansi")
                else "wiki" for i in keep_ids], "lang": ["en"] * len(keep_ids), **cols}

    # ingest: 9 records, one quarantined (malformed JSON)
    _stage(run, "00_ingest", rows(ids), {"id": ["bad:1"], "text": [None], "source": ["web"], "lang": [None],
           "reason": ["malformed_json"], "disposition": ["quarantined"]}, 9, {}, {"malformed_json": 1}, 4000, 2.0)
    after_filter = [i for i in ids if i not in ("evil", "ansi")]
    _stage(run, "02_heuristic_filter", rows(after_filter),
           {**rows(["ansi", "evil"]), "reason": ["gopher_quality:gopher_short_doc", "c4_quality:javascript"],
            "disposition": ["dropped", "dropped"]}, 8, {"gopher_quality:gopher_short_doc": 1,
                                                       "c4_quality:javascript": 1}, {}, 3000, 1.5)
    final = [i for i in after_filter if i != "d5"]
    _stage(run, "04_near_dedup", rows(final, quality_score=[0.05, 0.15, 0.95, 0.95, 0.5],
                                      domain=["stem", "stem", "commonsense", "code", "stem"]),
           {**rows(["d5"]), "reason": ["near_duplicate"], "disposition": ["dropped"], "dup_cluster": ["d4"]},
           6, {"near_duplicate": 1}, {}, 2000, 0.5)
    _downstream(run)
    return run


HOSTILE_BUCKET = "<b onmouseover=alert(1)>bold</b>"


def _downstream(run: Path) -> None:
    """What `trivium run` / `trivium demo` leave after curate: plan.json, a built mixture stage, a packed folder,
    a token store and a tokenizer with its eval.json; and a second tokenizer never evaluated."""
    import json

    from trivium.tokenizer.shards import Shard, ShardFile, ShardManifest

    cells = [{"source": "wiki", "bucket": "stem", "subdomain": "math", "available": 400, "drawn": 600.0},
             {"source": "web", "bucket": HOSTILE_BUCKET, "subdomain": "x", "available": 500, "drawn": 250.0}]
    (run / "plan.json").write_text(json.dumps({"recipe": "t", "stages": [{"name": "warm", "cells": cells}]}))
    mix = run / "mixture" / "01_warm"
    files = [_part(mix, "part-00000-x.parquet", {"id": ["d0", "d1", "d0"], "text": ["a", "b", "a"]})]
    write_manifest(str(mix), Manifest(
        stage="mix:warm", config_hash="h", inputs=["i"], docs_in=3, docs_out=3, files=files, wall_s=1.0,
        extra={"seq_len": 64, "budget": 850, "tokens": "exact", "tokens|wiki|stem|math": 590,
               f"tokens|web|{HOSTILE_BUCKET}|x": 260}))
    store = run / "packed" / "01_warm" / "token_store"
    files = [_part(store, "part-00000-x.parquet", {"id": ["d0", "d1"], "n_tokens": [590, 260]})]
    write_manifest(str(store), Manifest(stage="tokenize", config_hash="h", inputs=["i"], docs_in=3, docs_out=2,
                                        quarantined={"token_out_of_vocab": 1}, files=files, wall_s=1.0))
    shard = Shard(name="shard-00000-000", samples=14, tokens=850, files=[ShardFile(path="shard-00000-000.bin",
                                                                                    bytes=3584, sha256="0" * 64)])
    packed = ShardManifest(format="megatron", seq_len=64, pad_id=0, eos_id=0, tokenizer_sha256="t", vocab_size=512,
                           token_store=str(store), token_store_fingerprint="f", config_hash="h", seed=0, documents=2,
                           documents_cut=1, samples=14, tokens=850, padding_tokens=14 * 64 - 850,
                           padding_fraction=round((14 * 64 - 850) / (14 * 64), 6),
                           tokens_per_bucket={"stem": 590, HOSTILE_BUCKET: 260}, shards=[shard])
    (run / "packed" / "01_warm" / "seq_64").mkdir(parents=True)
    (run / "packed" / "01_warm" / "seq_64" / "_manifest.json").write_text(packed.model_dump_json())
    for name, evaluated in (("tokenizer", True), ("tokenizer_untested", False)):
        (run / name).mkdir()
        (run / name / "trivium_tokenizer.json").write_text(json.dumps({"vocab_size": 512, "sample_bytes": 9000}))
        if evaluated:
            groups = {"all": {"docs": 5, "bytes": 9000, "tokenizers": {"t": {"tokens": 3000, "bytes_per_token": 3.0}}},
                      "bucket:stem": {"docs": 3, "bytes": 5000, "tokenizers": {"t": {"tokens": 2000,
                                                                                       "bytes_per_token": 2.5}}},
                      "source:wiki": {"docs": 3, "bytes": 5000, "tokenizers": {"t": {"tokens": 2000,
                                                                                       "bytes_per_token": 2.5}}}}
            (run / name / "eval.json").write_text(json.dumps({"tokenizers": [{"name": "t"}], "groups": groups}))


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attrs: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


def _render(run_dir: Path, tmp_path: Path) -> tuple[str, Path]:
    dest = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", str(run_dir), "--html", str(dest), "--run-cores", "2"])
    assert result.exit_code == 0, result.output
    return dest.read_text(), dest


def test_report_numbers_equal_manifests_and_documents_stay_inert(run_dir, tmp_path):
    page, _ = _render(run_dir, tmp_path)
    parser = _Page()
    parser.feed(page)
    parser.close()
    text = " ".join(parser.text)
    assert "script" not in parser.tags and "img" not in parser.tags  # the hostile markup is text, not elements
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert EVIL in text  # shown, as text
    for stage, docs_in, docs_out in (("ingest", "9", "8"), ("heuristic_filter", "8", "6"), ("near_dedup", "6", "5")):
        assert stage in text
        assert f"{stage} {docs_in} {docs_out}" in " ".join(text.split())  # the funnel row, in order
    assert "malformed_json: 1" in text and "near_duplicate: 1" in text
    assert "Content-Security-Policy" in page and "http://" not in page and "https://" not in page


def test_report_json_summary(run_dir, tmp_path):
    import json

    result = CliRunner().invoke(app, ["report", str(run_dir), "--html", str(tmp_path / "r.html"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [r["stage"] for r in summary["funnel"]] == ["ingest", "heuristic_filter", "near_dedup"]
    assert [r["docs_out"] for r in summary["funnel"]] == [8, 6, 5]
    wiki, web = summary["per_source"]["wiki"], summary["per_source"]["web"]
    assert (wiki["docs_in"], wiki["kept"]) == (6, 5) and (web["docs_in"], web["kept"]) == (3, 0)
    assert wiki["quality_hist"] == [1, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert summary["near_duplicates"]["size_histogram"] == {"2": 1}
    assert summary["near_duplicates"]["largest"][0] == {"kept": "d4", "size": 2, "sample_ids": ["d5"]}
    # throughput from the manifests: 4000 bytes in 2 s on 2 cores
    assert summary["throughput"][0]["mb_per_s_per_core"] == pytest.approx(0.004 / 2 / 2)


def test_report_downstream_sections(run_dir, tmp_path):
    """Mixture per curriculum stage, packing efficiency and tokens per bucket, tokenizer compression: the numbers
    of the hand-made manifests, hostile names escaped, a tokenizer without eval.json says so."""
    import json

    result = CliRunner().invoke(app, ["report", str(run_dir), "--html", str(tmp_path / "r.html"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    (warm,) = summary["mixture"]
    assert (warm["stage"], warm["rows"], warm["seq_len"], warm["built_tokens"]) == ("warm", 3, 64, 850)
    assert warm["tokens_per_bucket"] == {HOSTILE_BUCKET: 260, "stem": 590}
    by_source = {c["source"]: c for c in warm["sources"]}
    assert by_source["wiki"]["epochs"] == 1.5 and by_source["web"]["epochs"] == 0.5
    assert (by_source["wiki"]["planned_tokens"], by_source["wiki"]["built_tokens"]) == (600, 590)
    (packed,) = summary["packed"]
    assert packed["folder"] == "packed/01_warm/seq_64" and packed["shards"] == 1 and packed["files"] == 1
    assert packed["efficiency"] == pytest.approx(850 / (14 * 64), abs=1e-6)
    assert packed["tokens_per_bucket"]["stem"] == 590
    tokenizers = {t["folder"]: t for t in summary["tokenizers"]}
    assert tokenizers["tokenizer"]["compression"]["stem"]["bytes_per_token"] == 2.5
    assert set(tokenizers["tokenizer"]["compression"]) == {"all", "stem"}
    assert tokenizers["tokenizer_untested"]["compression"] is None
    # the token store is an ordinary stage, shown (and checked for conservation) among the others
    assert [(d["folder"], d["conserved"]) for d in summary["downstream"]] == [("packed/01_warm/token_store", True)]
    page = (tmp_path / "r.html").read_text()
    parser = _Page()
    parser.feed(page)
    text = " ".join(" ".join(parser.text).split())
    assert not any(a.startswith("on") for a in parser.attrs)  # the hostile bucket name made no element
    assert "&lt;b onmouseover=alert(1)&gt;bold&lt;/b&gt;" in page
    for heading in ("Mixture", "Packed shards", "Tokenizer", "Other stages"):
        assert heading in parser.text
    assert "warm 3 64 850 850 exact 1.50 (wiki)" in text  # rows, seq_len, budget, built tokens, most epochs
    assert "94.87%" in text  # 850 / 896
    assert "stem 3 5,000 2,000 2.500" in text
    assert "compression not measured" in text


def test_projection_hand_computed():
    rows = [{"stage": "a", "mb_in": 100.0, "mb_per_s_per_core": 2.0},
            {"stage": "b", "mb_in": 50.0, "mb_per_s_per_core": 1.0}]
    p = projection(rows, parse_size("1T"), cores=100, bytes_per_token=4.0)
    # 4 TB: stage a reads all of it at 2 MB/s/core = 4e12/1e6/2/3600 core-h; stage b half of it at 1 MB/s/core
    a = 4e12 / 1e6 / 2 / 3600
    b = 2e12 / 1e6 / 1 / 3600
    assert p["stages"][0]["core_hours"] == pytest.approx(a)
    assert p["stages"][1]["core_hours"] == pytest.approx(b)
    assert p["core_hours"] == pytest.approx(a + b) and p["wall_hours"] == pytest.approx((a + b) / 100)
    assert p["core_hours_per_tb"] == pytest.approx((a + b) / 4)
    assert parse_size("200B") == 2e11 and parse_size("1.5M") == 1.5e6
    with pytest.raises(ValueError, match="expected a number"):
        parse_size("12Q")


def test_inspect_neutralises_terminal_escapes(run_dir):
    result = CliRunner().invoke(app, ["inspect", str(run_dir), "--stage", "heuristic_filter", "--reason", "short"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b[31mred" in result.output and "gopher_quality:gopher_short_doc" in result.output
    kept = CliRunner().invoke(app, ["inspect", str(run_dir), "--kept", "--source", "wiki", "-n", "2"])
    assert kept.exit_code == 0 and kept.output.count("── near_dedup") + kept.output.count("── ingest") >= 2
    missing = CliRunner().invoke(app, ["inspect", str(run_dir), "--stage", "nope"])
    assert missing.exit_code == 2 and "no committed stage 'nope'" in missing.output


def test_report_refuses_a_folder_without_manifests(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no committed stage" in result.output


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_renders_offline_in_chromium(run_dir, tmp_path):
    browser_path = _chromium()
    if browser_path is None:
        msg = "Debian's chromium is not installed (.ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")
    _, dest = _render(run_dir, tmp_path)
    url = dest.resolve().as_uri()
    errors, requests = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
        page.on("request", lambda r: requests.append(r.url) if r.url != url else None)
        page.goto(url)
        plots = page.locator("svg rect").count()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert plots > 10
    assert errors == [] and requests == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
