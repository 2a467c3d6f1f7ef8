"""Web extraction: speed and quality of each extractor, trivium's ingest stage vs a plain loop, vs datatrove.

The same pages for every contender: the 37 HTML responses of ../shared/corpus/raw_warc and the 68 pages
of raw_html (as responses, URLs from its index), repeated (`--reps` times for resiliparse, `--slow-reps`
for the ~10x slower trafilatura and datatrove), one gzip member per record.

  * direct <extractor>: FastWARC + charset decoding + the extractor called in a Python loop, one process;
  * trivium <extractor>: the ingest stage (Spark local[1]: one core) with `ingest.web.extractor`, which
    adds the per-page time-limit child, bookkeeping and Parquet output. `wall` is the Spark job, `task`
    the time inside the reader (what grows with the archive; the job's fixed cost does not);
  * datatrove: `WarcReader` + `Trafilatura` + `JsonlWriter`, one task, one worker.

Quality: body retention and boilerplate removal against the strings picked by hand in
tests/web_expectations.json, on the first copy of each labelled page; raw_warc's pages first (neither
extractor was tuned on them; raw_html is trafilatura's own evaluation set). Also: FastWARC vs warcio
reading the same archive. Pages/s are per core.

    .venv/bin/python benchmarks/extract.py [--reps 20] [--slow-reps 2] [--no-datatrove]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
sys.path.insert(0, str(REPO / "tests"))

import web_expectations as we  # noqa: E402


def _record(url: str, block: bytes) -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"WARC-Date: 2024-05-01T12:00:00Z\r\nWARC-Target-URI: {url}\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n")
    return gzip.compress(head.encode() + block + b"\r\n\r\n", compresslevel=6, mtime=0)


def build_archive(path: Path, reps: int) -> dict[str, tuple[str, str]]:
    """Writes the archive; returns {url: (section, expectation key)} for the labelled pages."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    pages, keys = [], {}
    for warc in sorted((CORPUS / "raw_warc").glob("*.warc.gz")):
        with open(warc, "rb") as f:
            for r in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=False):
                url = r.headers["WARC-Target-URI"].strip("<>")
                pages.append((url, r.reader.read()))
                keys[url] = ("warc", url)
    index = {json.loads(line)["path"].split("/")[-1]: json.loads(line) for line in gzip.open(CORPUS / "raw_html" / "index.jsonl.gz")}
    for page in sorted((CORPUS / "raw_html").glob("*.html")):
        url = index.get(page.name, {}).get("url") or f"https://raw-html.invalid/{page.name}"
        block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + page.read_bytes()
        pages.append((url, block))
        keys[url] = ("html", page.name)
    with open(path, "wb") as f:
        for _ in range(reps):
            for url, block in pages:
                f.write(_record(url, block))
    return keys


def direct(path: Path, name: str) -> tuple[float, int, int, dict[str, str | None]]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from trivium.filters.extract import charset_label, decode_html, load_extractor
    from trivium.flows.ingest_web import _split_http, decode_body

    extract = load_extractor(name)
    texts, n, kept = {}, 0, 0
    start = time.perf_counter()
    with open(path, "rb") as f:
        for r in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=False):
            url = r.headers["WARC-Target-URI"]
            _, headers, body = _split_http(r.reader.read())
            body = decode_body(body, headers, 10**7)
            html = decode_html(body, charset_label(headers.get("content-type"), body[:4096])).text
            text = extract(html)
            texts.setdefault(url, text)
            n += 1
            kept += bool(text and text.strip())
    return time.perf_counter() - start, n, kept, texts


def trivium(spark, folder: Path, out: Path, name: str) -> tuple[float, float, int, int, dict[str, str | None]]:
    import pyarrow.parquet as pq
    from trivium.flows.config import parse_config
    from trivium.flows.curate import run_ingest

    config = parse_config({"ingest": {"web": {"extractor": name, "timeout_s": 60}}})
    o = run_ingest(spark, [str(folder)], str(out / name), config, force=True)
    texts = {}
    for f in o.manifest.file_urls(o.stage_dir):
        for r in pq.read_table(f, columns=["text", "meta"]).to_pylist():
            texts.setdefault(json.loads(r["meta"])["url"], r["text"])
    m = o.manifest
    return m.wall_s, m.extra["web.warc.task_s"], m.docs_in, m.docs_out, texts


def datatrove(folder: Path, out: Path) -> tuple[float, int, int, dict[str, str | None]]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    pipeline = [WarcReader(str(folder), glob_pattern="*.warc.gz"), Trafilatura(favour_precision=True, timeout=60),
                JsonlWriter(str(out / "dt"))]
    executor = LocalPipelineExecutor(pipeline, tasks=1, workers=1, logging_dir=str(out / "dt-logs"))
    start = time.perf_counter()
    executor.run()
    wall = time.perf_counter() - start
    texts, kept = {}, 0
    for p in (out / "dt").glob("*.jsonl.gz"):
        for line in gzip.open(p, "rt"):
            r = json.loads(line)
            texts.setdefault(r["metadata"]["url"], r["text"])
            kept += 1
    stats = json.loads(next((out / "dt-logs" / "stats").glob("*.json")).read_text())
    read = next(step["stats"]["documents"]["total"] if isinstance(step["stats"]["documents"], dict)
                else step["stats"]["documents"] for step in stats if "documents" in step["stats"])
    return wall, read, kept, texts


def _kept(texts: dict[str, str | None]) -> dict[str, str]:
    return {url: t for url, t in texts.items() if t and t.strip()}


def quality(texts: dict[str, str | None], keys: dict[str, tuple[str, str]]) -> str:
    expected = we.load()
    by_section: dict[str, dict] = {"warc": {}, "html": {}}
    for url, (section, key) in keys.items():
        by_section[section][key] = texts.get(url)
    parts = []
    for section in ("warc", "html"):
        s = we.score_all(by_section[section], expected[section])
        parts.append(f"{s.body:.2f} {s.boilerplate_removed:.2f}")
    return "   ".join(parts)


def warc_readers(path: Path) -> str:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    def fast():
        with open(path, "rb") as f:
            return sum(len(r.reader.read()) > 0 for r in ArchiveIterator(f, record_types=WarcRecordType.response))

    def slow():
        from warcio.archiveiterator import ArchiveIterator as WarcioIterator

        with open(path, "rb") as f:
            return sum(len(r.content_stream().read()) > 0 for r in WarcioIterator(f) if r.rec_type == "response")

    rates = {}
    for label, fn in (("fastwarc", fast), ("warcio", slow)):
        try:
            start = time.perf_counter()
            n = fn()
            rates[label] = n / (time.perf_counter() - start)
        except ImportError:
            rates[label] = float("nan")
    return (f"WARC reading (records/s, payload read): fastwarc {rates['fastwarc']:.0f}, warcio {rates['warcio']:.0f}"
            f"  -> fastwarc/warcio {rates['fastwarc'] / rates['warcio']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20, help="copies of the 105 pages for resiliparse")
    ap.add_argument("--slow-reps", type=int, default=2, help="copies for trafilatura and datatrove (~10x slower)")
    ap.add_argument("--extractors", default="resiliparse,trafilatura")
    ap.add_argument("--no-datatrove", action="store_true")
    args = ap.parse_args()
    from trivium.flows.spark import SparkConfig, get_spark

    with tempfile.TemporaryDirectory(prefix="extract-bench-") as tmp:
        tmp = Path(tmp)
        archives = {}
        for reps in sorted({args.reps, args.slow_reps}):
            (tmp / f"in{reps}").mkdir()
            keys = build_archive(tmp / f"in{reps}" / "pages.warc.gz", reps)
            archives[reps] = tmp / f"in{reps}"
        big = archives[args.reps] / "pages.warc.gz"
        print(f"archives: {args.reps} x 105 pages ({big.stat().st_size / 1e6:.1f} MB gz) for resiliparse, "
              f"{args.slow_reps} x 105 for trafilatura and datatrove; one core each")
        print(warc_readers(big))
        spark = get_spark(SparkConfig(master="local[1]", partitions=2, driver_memory="2g"))
        print(f"{'':36}{'pages':>6}{'kept':>6}{'pages/s':>9}{'vs direct':>10}   body/boilerplate-removed: raw_warc   raw_html")
        rates = {}
        for name in args.extractors.split(","):
            folder = archives[args.reps if name == "resiliparse" else args.slow_reps]
            wall, n, kept, texts = direct(folder / "pages.warc.gz", name)
            rates[f"direct {name}"] = n / wall
            print(f"{'direct ' + name:36}{n:6}{kept:6}{n / wall:9.1f}{'':10}   {quality(texts, keys)}")
            wall, task, n2, kept, texts2 = trivium(spark, folder, tmp / "out", name)
            rates[f"trivium {name}"] = n2 / wall
            print(f"{'trivium stage ' + name + ' (wall)':36}{n2:6}{kept:6}{n2 / wall:9.1f}"
                  f"{(n2 / wall) / rates[f'direct {name}']:9.2f}x   {quality(texts2, keys)}")
            print(f"{'trivium stage ' + name + ' (in task)':36}{'':12}{n2 / task:9.1f}"
                  f"{(n2 / task) / rates[f'direct {name}']:9.2f}x   same texts as direct: {_kept(texts2) == _kept(texts)}")
        if not args.no_datatrove:
            wall, n, kept, texts = datatrove(archives[args.slow_reps], tmp / "out")
            rates["datatrove"] = n / wall
            print(f"{'datatrove WarcReader+Trafilatura':36}{n:6}{kept:6}{n / wall:9.1f}{'':10}   {quality(texts, keys)}")
            print(f"  (of {105 * args.slow_reps} responses, WarcReader passes {n}: python-magic calls the others not HTML)")
            if "trivium trafilatura" in rates:
                print(f"trivium stage trafilatura / datatrove: {rates['trivium trafilatura'] / rates['datatrove']:.2f}x pages/s")
            if "trivium resiliparse" in rates:
                print(f"trivium stage resiliparse / datatrove: {rates['trivium resiliparse'] / rates['datatrove']:.2f}x pages/s")
        spark.stop()


if __name__ == "__main__":
    main()
