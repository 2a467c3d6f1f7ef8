"""Web ingest through the ingest stage on Spark: ../shared's WARC archives and HTML pages plus a folder of
damaged web input, in one run; every record accounted for, hand-checked pages, reasons, counters, memory."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import web_expectations as we
from damage import good
from test_web_extract import PATHOLOGICAL, RUSSIAN, article
from trivium.flows import io

pytestmark = pytest.mark.spark


def http_response(body: bytes, content_type: str = "text/html; charset=utf-8", status: int = 200,
                  headers: tuple = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Type: {content_type}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def warc_record(rtype: str, url: str, block: bytes, n: int) -> bytes:
    """One WARC/1.0 record in a gzip member of its own, as crawlers write them."""
    kind = "application/http; msgtype=response" if rtype in ("response", "revisit") else "application/warc-fields"
    headers = {"WARC-Type": rtype, "WARC-Record-ID": f"<urn:uuid:{uuid.UUID(int=n)}>",
               "WARC-Date": "2024-05-01T12:00:00Z", "WARC-Target-URI": url, "Content-Type": kind,
               "Content-Length": str(len(block))}
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return gzip.compress(head.encode() + block + b"\r\n\r\n", mtime=0)


def write_synthetic_warc(path: str, n: int) -> None:
    """`n` small, distinct HTML responses, written as they are made."""
    with open(path, "wb") as f:
        for i in range(n):
            page = f"<html><body><nav>Home | About</nav><p>{good(i)['text'][:300]}</p></body></html>".encode()
            f.write(warc_record("response", f"https://site{i % 97}.example/p/{i}", http_response(page), 10**6 + i))


def russian_page() -> bytes:
    paragraph = (RUSSIAN + " Жители района давно просили отремонтировать переправу, по которой каждый день "
                 "проезжают тысячи машин. ") * 3
    return f"<html><body><nav>Главная</nav><article><p>{paragraph}</p></article></body></html>".encode("cp1251")


# (record type, URL, HTTP block) -> the outcome the damaged archive must give it
DAMAGED = [
    ("warcinfo", "", b"software: test\r\n", "not a document"),
    ("request", "https://ok.example/a", b"GET /a HTTP/1.1\r\nHost: ok.example\r\n\r\n", "not a document"),
    ("response", "https://ok.example/a", http_response(article(1).encode()), "kept"),
    ("response", "https://ru.example/news", http_response(russian_page()), "kept"),  # says UTF-8, is cp1251
    ("response", "https://ok.example/logo.png", http_response(b"\x89PNG\r\n\x1a\n" + bytes(300), "image/png"),
     "non_html"),
    ("response", "https://ok.example/paper.pdf", http_response(b"%PDF-1.7\n" + bytes(300), "application/pdf"),
     "non_html"),
    ("revisit", "https://ok.example/a", http_response(b""), "revisit_record"),
    ("response", "https://ok.example/empty", http_response(b"<html><head></head><body></body></html>"),
     "empty_extraction"),
    ("response", "https://ok.example/deep", http_response(PATHOLOGICAL.encode()), "extraction_timeout"),
    ("response", "https://ok.example/gone", http_response(article(2).encode(), status=404), "http_status"),
    ("response", "https://www.blocked.example/x", http_response(article(3).encode()), "url_blocked_domain"),
    ("response", "https://ok.example/chunked-gzip",
     http_response(b"%x\r\n%s\r\n0\r\n\r\n" % (len(z := gzip.compress(article(4).encode())), z),
                   headers=(("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip"))), "kept"),
]


def build_damaged_web(root: Path) -> Counter:
    """The damaged web inputs under `root`; returns {outcome: count} over their documents."""
    web = root / "web"
    web.mkdir()
    (web / "damaged.warc.gz").write_bytes(b"".join(warc_record(t, u, b, i) for i, (t, u, b, _) in enumerate(DAMAGED)))
    whole = b"".join(warc_record("response", f"https://cut.example/{i}", http_response(article(10 + i).encode()),
                                 100 + i) for i in range(5))
    last = len(warc_record("response", "https://cut.example/4", http_response(article(14).encode()), 104))
    (web / "cut.warc.gz").write_bytes(whole[: len(whole) - last // 2])  # the cut falls inside the 5th record
    (web / "garbage.warc.gz").write_bytes(b"this is no archive at all\n" * 40)
    (web / "story.html").write_text(article(20), encoding="utf-8")
    (web / "latin.htm").write_bytes(article(21).replace("valley", "Tälchen").encode("cp1252"))
    (web / "blank.html").write_bytes(b"")
    (web / "scan.html").write_bytes(b"%PDF-1.4\n" + bytes(200))
    outcomes = Counter(o for *_, o in DAMAGED if o != "not a document")
    outcomes.update({"kept": 4 + 2, "truncated_archive": 1, "unreadable_archive": 1, "empty_file": 1, "non_html": 1})
    return outcomes


def response_ids(warc: Path) -> list[str]:
    """The record ids of an archive's response records, read without any WARC library."""
    raw = gzip.decompress(warc.read_bytes())
    ids = []
    for head in re.findall(rb"WARC/1\.[01]\r\n(.*?)\r\n\r\n", raw, re.S):
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n") if b": " in line)
        if fields.get(b"WARC-Type") == b"response":
            ids.append(fields[b"WARC-Record-ID"].decode().strip("<>"))
    return ids


@pytest.fixture(scope="module")
def web_run(spark, corpus_dir, tmp_path_factory):
    from trivium.flows.config import parse_config
    from trivium.flows.curate import run_ingest

    root = tmp_path_factory.mktemp("web")
    expected = build_damaged_web(root)
    (root / "block.yaml").write_text("domains: [blocked.example]\n")
    config = parse_config({"ingest": {"web": {"timeout_s": 2.0, "url_blocklist": str(root / "block.yaml")}}})
    inputs = [str(corpus_dir / "raw_warc" / "*.warc.gz"), str(corpus_dir / "raw_html" / "*.html"), str(root / "web")]
    outcome = run_ingest(spark, inputs, str(root / "out"), config)
    m, stage = outcome.manifest, outcome.stage_dir
    kept = [r for f in m.file_urls(stage) for r in pq.read_table(f).to_pylist()]
    rejects = [r for f in m.rejects for r in pq.read_table(io.join(stage, f.path)).to_pylist()]
    return {"manifest": m, "kept": kept, "rejects": rejects, "expected": expected, "outcome": outcome}


def test_every_shared_record_and_page_accounted_for(web_run, corpus_dir):
    m, kept, rejects = web_run["manifest"], web_run["kept"], web_run["rejects"]
    assert m.conserved() and m.docs_in == len(kept) + len(rejects)
    ids = [r["id"] for r in kept + rejects]
    assert len(ids) == len(set(ids))
    shared = [i for w in sorted((corpus_dir / "raw_warc").glob("*.warc.gz")) for i in response_ids(w)]
    shared += [f"raw_html/{p.name}" for p in sorted((corpus_dir / "raw_html").glob("*.html"))]
    assert len(shared) == 37 + 68
    assert set(shared) <= set(ids)
    shared_rows = [r for r in kept + rejects if r["id"] in set(shared)]
    assert len(shared_rows) == len(shared)
    # Every shared page is HTML with a body: all but the one page whose markup hides its text are kept.
    assert Counter(r.get("reason") for r in shared_rows) == Counter({None: 104, "empty_extraction": 1})


def test_hand_checked_pages_keep_body_and_drop_boilerplate(web_run):
    kept = web_run["kept"]
    texts = {"warc": {}, "html": {}}
    for r in kept:
        meta = json.loads(r["meta"])
        if meta.get("warc_file", "").startswith("sample-"):
            texts["warc"][meta["url"]] = r["text"]
        elif r["source"] == "raw_html":
            texts["html"][meta["html_file"]] = r["text"]
    expected = we.load()
    for section, pages in expected.items():
        for key, exp in pages.items():
            if exp.get("check"):
                lost, left = we.missing(texts[section].get(key), exp)
                assert not lost and not left, (key, lost, left)
    total = we.score_all(texts["warc"], expected["warc"]) + we.score_all(texts["html"], expected["html"])
    # Regression guards for the default extractor (resiliparse measured 0.95 / 0.92, benchmarks/extract.py).
    assert total.body >= 0.9 and total.boilerplate_removed >= 0.85, total


def test_meta_keeps_provenance(web_run):
    warc = [json.loads(r["meta"]) for r in web_run["kept"] if r["id"].startswith("urn:uuid:283E41D7")]
    assert warc == [{"charset": "utf-8", "fetch_date": "2024-04-25T16:24:44Z", "http_status": 200,
                     "url": "https://www.semanticscholar.org/research/research-team", "warc_file": "sample-0000.warc.gz",
                     "warc_record_id": "urn:uuid:283E41D7-F686-4C3E-B7DA-E8D248A100C1"}]
    chunked = [r for r in web_run["kept"] if json.loads(r["meta"])["url"] == "https://www.cs.washington.edu/people/faculty/weld"]
    assert "Professor Emeritus" in chunked[0]["text"] and not re.match(r"^[0-9a-f]+\s", chunked[0]["text"])


def test_damaged_web_input_ends_under_its_own_reasons(web_run):
    rows = [r for r in web_run["kept"] + web_run["rejects"] if r["source"] == "web"]
    got = Counter(r.get("reason") or "kept" for r in rows)
    assert got == web_run["expected"]
    dropped = [r for r in rows if r.get("reason") == "url_blocked_domain"]
    assert [r["disposition"] for r in dropped] == ["dropped"]
    by_url = {json.loads(r["meta"]).get("url"): r for r in rows}
    ru = by_url["https://ru.example/news"]
    assert RUSSIAN in ru["text"]
    assert json.loads(ru["meta"])["charset"] == "cp1251" and json.loads(ru["meta"])["declared_charset"] == "utf-8"
    assert good(4)["text"][:60] in by_url["https://ok.example/chunked-gzip"]["text"]
    # The records before the cut are kept; the cut one says where the archive ended.
    cut = sorted((json.loads(r["meta"])["url"], r.get("reason")) for r in rows if "cut.example" in r["meta"])
    assert cut == [(f"https://cut.example/{i}", None) for i in range(4)] + [("https://cut.example/4", "truncated_archive")]
    latin = next(r for r in rows if r["id"] == "web/latin.htm")
    assert "Tälchen" in latin["text"] and json.loads(latin["meta"])["charset"] == "cp1252"


def test_manifest_counts_formats_and_extraction(web_run):
    from trivium.flows.report import stage_summary, stage_table
    from rich.console import Console

    m = web_run["manifest"]
    x = m.extra
    assert x["web.warc.files"] == 2 + 3 and x["web.html.files"] == 68 + 4
    assert x["web.warc.documents"] + x["web.html.documents"] == m.docs_in
    assert x["web.warc.other_records"] == 45 + 2
    assert x["web.extract.pages"] == x["web.extract.kept"] + m.quarantined["empty_extraction"] + 1  # + the timeout
    assert x["web.charset_mismatch"] >= 1 and x["web.extractor.resiliparse"] == x["web.extract.pages"]
    for key in ("web.warc", "web.html", "web.extract"):
        assert x[f"{key}.mb_per_s"] > 0
    console = Console(width=200, record=True)
    console.print(stage_table([stage_summary(web_run["outcome"].stage_dir, m)]))
    table = console.export_text()
    assert "extract (resiliparse)" in table and "extraction_timeout: 1" in table


def test_format_override(tmp_path):
    from trivium.flows.ingest import IngestConfig, read_all

    odd = tmp_path / "crawl" / "segment.dat"
    odd.parent.mkdir()
    odd.write_bytes(warc_record("response", "https://ok.example/z", http_response(article(5).encode()), 7))
    assert read_all([str(odd)]).column("_reason").to_pylist() == ["unsupported_format"]
    table = read_all([str(odd)], IngestConfig(format="warc"))
    assert table.column("_reason").to_pylist() == [None] and good(5)["text"][:50] in table.column("text")[0].as_py()


def test_curate_rejects_an_unknown_format(tmp_path):
    from trivium.flows.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["curate", "-i", str(tmp_path), "-o", str(tmp_path / "o"), "--format", "pdf"])
    assert result.exit_code == 2 and "--format" in result.output and "warc" in result.output


MEMORY_PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[3])
import pyarrow as pa
from test_web_ingest import write_synthetic_warc
from trivium.flows import ingest_web
from trivium.flows.ingest import FileReader, IngestConfig

def rss_mb(pid="self"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

path, n = sys.argv[1], int(sys.argv[2])
write_synthetic_warc(path, n)
reader = FileReader(IngestConfig(), batch_rows=100)
rows, marks = 0, []
for batch in reader(iter([pa.RecordBatch.from_pydict({"path": [path]})])):
    rows += batch.num_rows
    if not marks and rows >= n // 5:
        child = next(iter(ingest_web._extractors.values()))._proc.pid
        marks.append((rss_mb(), rss_mb(child)))
marks.append((rss_mb(), rss_mb(child)))
print(json.dumps({"rows": rows, "marks": marks}))
"""


def test_memory_stays_flat_over_a_long_archive(tmp_path):
    """20,000 records, batches of 100: RSS after the whole archive is what it was after the first fifth."""
    n = 20_000
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "big.warc.gz"), str(n),
                            str(Path(__file__).parent)], capture_output=True, text=True, timeout=600)
    assert probe.returncode == 0, probe.stderr[-2000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["rows"] == n
    (parent_early, child_early), (parent_late, child_late) = result["marks"]
    assert parent_late - parent_early < 20, result  # MB, for 16,000 more records (~15 MB of archive)
    assert child_late - child_early < 20, result


def test_web_files_read_from_s3(s3_server, fsspec_config, tmp_path):
    """The same readers over s3:// (fsspec), streamed from the bucket: a WARC cut short and an HTML page."""
    import s3fs
    from trivium.flows import io as tio
    from trivium.flows.ingest import read_all

    s3_server.bucket("crawl")
    tio.configure({"s3": s3_server.options})
    fs = s3fs.S3FileSystem(**s3_server.options)
    whole = b"".join(warc_record("response", f"https://s3.example/{i}", http_response(article(30 + i).encode()), 300 + i)
                     for i in range(3))
    fs.pipe("crawl/seg/a.warc.gz", whole[: len(whole) - 200])
    fs.pipe("crawl/seg/b.html", article(40).encode())
    table = read_all(["s3://crawl/seg/a.warc.gz", "s3://crawl/seg/b.html"])
    assert table.column("_reason").to_pylist() == [None, None, "truncated_archive", None]
    assert good(40)["text"][:50] in table.column("text")[3].as_py()
