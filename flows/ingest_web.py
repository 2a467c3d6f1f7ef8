"""Web ingest: WARC archives (`.warc`, `.warc.gz`) and raw HTML files -> extracted main text.

One more reader kind of the ingest stage. An archive is streamed record by record (FastWARC), each
body read up to `ingest.max_doc_bytes`; every `response` record (and every HTML file) becomes one
row: a document with its URL, fetch date, WARC record id, HTTP status and charset in `meta`, a drop
(`url_blocked_*`) or a quarantine with its own reason. Other record types (request, warcinfo,
metadata, ...) are not documents; they are counted. Per-format counters ride on each file's last row
(`_counters`) into the manifest's `extra`.
"""

from __future__ import annotations

import posixpath
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa
from trivium.filters import extract as ex
from trivium.flows import io
from trivium.flows.ingest import Emit, IngestConfig, _preview, canonical_json, source_of_file
from trivium.flows.stage import DROPPED, QUARANTINED

WEB_SUFFIXES = {"warc": (".warc", ".warc.gz"), "html": (".html", ".htm", ".html.gz", ".htm.gz")}
_HEAD = 4096  # bytes in which a charset declaration or an HTML marker is looked for

_extractors: dict[tuple[str, float], ex.TimedExtractor] = {}


def web_kind(url: str) -> str | None:
    name = url.lower()
    return next((kind for kind, suffixes in WEB_SUFFIXES.items() if name.endswith(suffixes)), None)


def extractor_for(config: ex.ExtractConfig) -> ex.TimedExtractor:
    """One extraction child per Python worker process, reused by every file its tasks read."""
    key = (config.extractor, config.timeout_s)
    if key not in _extractors:
        _extractors[key] = ex.TimedExtractor(*key)
    return _extractors[key]


class Page(NamedTuple):
    """One candidate document: a WARC response/revisit record or an HTML file."""

    doc_id: str
    line: int  # record number in its archive (1-based)
    url: str | None
    body: bytes | None  # None for a revisit record
    content_type: str | None
    meta: dict
    status: int | None = None
    size: int = 0  # the body's real size (only its first max_doc_bytes are read)
    problem: str | None = None  # a reason found while reading (truncated record, undecodable payload)


class PageSink:
    """Turns pages of one file into rows of `out`, in the order the checks are cheapest."""

    def __init__(self, url: str, kind: str, config: IngestConfig, out: Emit):
        self.url, self.kind, self.config, self.out = url, kind, config, out
        self.web = config.web
        self.source = source_of_file(url)
        self.stats: Counter = Counter()

    def _row(self, page: Page, *, text=None, reason=None, disposition=QUARANTINED, error=None, **meta) -> None:
        meta = {**page.meta, **meta, **({"error": error} if error else {})}
        self.out.add(id=page.doc_id, text=text, source=self.source, meta=canonical_json(meta), file=self.url,
                     line=page.line, reason=reason, disposition=disposition)
        self.stats[f"web.{self.kind}.documents"] += 1

    def add(self, page: Page) -> None:
        preview = self.config.quarantine_preview_bytes
        if page.problem:
            return self._row(page, reason=page.problem, text=_preview(page.body or b"", preview) or None)
        if page.body is None:
            return self._row(page, reason="revisit_record", error="a revisit record points at an earlier capture")
        blocked = self.web.blocklist.reason(page.url) if self.web.blocklist else None
        if blocked:
            return self._row(page, reason=blocked, disposition=DROPPED)
        if page.status is not None and not 200 <= page.status < 300:
            return self._row(page, reason="http_status", error=f"HTTP {page.status}")
        if not ex.is_html(page.content_type, page.body[:_HEAD]):
            return self._row(page, reason="non_html", error=f"content type {ex.mime_of(page.content_type) or '?'}")
        if max(page.size, len(page.body)) > self.config.max_doc_bytes:
            return self._row(page, reason="oversized_document", text=_preview(page.body, preview),
                             bytes=max(page.size, len(page.body)))
        decoded = ex.decode_html(page.body, ex.charset_label(page.content_type, page.body[:_HEAD]))
        charset = {"charset": decoded.charset}
        if decoded.declared:
            charset["declared_charset"] = decoded.declared
            self.stats["web.charset_mismatch"] += 1
        start = time.perf_counter()
        result = extractor_for(self.web)(decoded.text)
        self.stats["web.extract.task_s"] += time.perf_counter() - start
        self.stats["web.extract.pages"] += 1
        self.stats["web.extract.mb"] += len(page.body) / 1e6
        self.stats[f"web.extractor.{self.web.extractor}"] += 1
        if result.reason:
            return self._row(page, reason=result.reason, error=result.error, text=_preview(decoded.text, preview),
                             **charset)
        self.stats["web.extract.kept"] += 1
        self._row(page, text=result.text, reason=None, **charset)

    def finish(self, seconds: float, size: int) -> None:
        """Attach this file's counters to its last row."""
        self.stats[f"web.{self.kind}.files"] += 1
        self.stats[f"web.{self.kind}.mb"] += size / 1e6
        self.stats[f"web.{self.kind}.task_s"] += seconds
        self.out.note(dict(self.stats))


# ---- HTTP payloads ---------------------------------------------------------------------------


def dechunk(body: bytes) -> bytes:
    """Undo `Transfer-Encoding: chunked` (wget and browsers archive it as sent; Common Crawl does not)."""
    parts, pos = [], 0
    while True:
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ValueError("chunk size line without an end")
        size = int(body[pos:eol].split(b";", 1)[0].strip(), 16)
        if size == 0:
            return b"".join(parts)
        start = eol + 1
        if start + size > len(body):
            raise ValueError("chunk runs past the end of the body")
        parts.append(body[start : start + size])
        pos = start + size
        pos += 2 if body[pos : pos + 2] == b"\r\n" else (1 if body[pos : pos + 1] == b"\n" else 0)


def decode_body(body: bytes, headers: dict[str, str], limit: int) -> bytes:
    """The HTTP body as the server meant it: de-chunked, then decompressed (at most `limit` + 1 bytes)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        try:
            body = dechunk(body)
        except ValueError:
            pass  # the header lied (some archivers de-chunk and keep it): the body is already plain
    coding = headers.get("content-encoding", "").strip().lower()
    if coding in ("", "identity", "none", "utf-8", "utf8"):
        return body
    if coding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
        try:
            return zlib.decompressobj(wbits).decompress(body, limit + 1)
        except zlib.error:
            if coding != "deflate":
                raise
            return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, limit + 1)
    if coding == "br":
        import brotli

        return brotli.decompress(body)
    raise ValueError(f"unsupported Content-Encoding {coding!r}")


# ---- readers ---------------------------------------------------------------------------------


def read_warc(url: str, config: IngestConfig, out: Emit, batch_rows: int) -> Iterator[pa.RecordBatch]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    sink = PageSink(url, "warc", config, out)
    name = posixpath.basename(url)
    fs, path = io.fs_and_path(url)
    start, n, size = time.perf_counter(), 0, 0
    wanted = (WarcRecordType.response, WarcRecordType.revisit)
    try:
        size = int(fs.size(path) or 0)
        with fs.open(path, "rb") as raw:
            for record in ArchiveIterator(raw, record_types=WarcRecordType.any_type, parse_http=False):
                n += 1
                if record.record_type not in wanted:
                    sink.stats["web.warc.other_records"] += 1
                    continue
                if len(out) >= batch_rows:  # before the row, so each file's last row stays to carry its counters
                    yield out.batch()
                sink.add(_warc_page(record, name, n, config.max_doc_bytes, record.record_type == wanted[1]))
    except (OSError, ValueError, EOFError) as err:  # FastWARC reports bad gzip and bad headers as OSError
        kind = "truncated_archive" if n else "unreadable_archive"
        sink.stats["web.warc.documents"] += 1
        out.quarantine(url, n + 1, kind, f"{type(err).__name__}: {err}", source=sink.source, record=False,
                       records_read=n)
    else:
        if not sink.stats["web.warc.documents"]:
            sink.stats["web.warc.documents"] += 1
            out.quarantine(url, 0, "empty_file", f"no response records among {n} records", source=sink.source,
                           record=False)
    sink.finish(time.perf_counter() - start, size)


def _warc_page(record, name: str, n: int, limit: int, revisit: bool) -> Page:
    h = record.headers
    record_id = h.get("WARC-Record-ID", "").strip("<>")
    url = h.get("WARC-Target-URI", "").strip().strip("<>") or None
    meta = {"url": url, "fetch_date": h.get("WARC-Date"), "warc_record_id": record_id, "warc_file": name}
    doc_id = record_id or f"{name}:{n}"
    if revisit:
        return Page(doc_id, n, url, None, None, meta)
    declared = int(h.get("Content-Length") or 0)
    block = record.reader.read(limit + 65536)  # HTTP headers + body; the rest is skipped unread
    status, headers, body = _split_http(block)
    meta["http_status"] = status
    content_type = headers.get("content-type") or h.get("WARC-Identified-Payload-Type")
    size = declared - (len(block) - len(body))
    problem = None
    if len(block) < min(declared, limit + 65536):
        problem, meta["error"] = "truncated_archive", f"record ends after {len(block)} of {declared} bytes"
    elif size <= limit:
        try:
            body = decode_body(body, headers, limit)
        except Exception as err:  # noqa: BLE001 - any decoder error means the same thing here
            problem, meta["error"] = "undecodable_payload", f"{type(err).__name__}: {err}"[:300]
    return Page(doc_id, n, url, body, content_type, meta, status, size, problem)


def _split_http(block: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of an HTTP response block; a block without HTTP is all body."""
    end = block.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = block.find(b"\n\n"), 2
    if not block.startswith(b"HTTP/") or end < 0:
        return None, {}, block
    lines = block[:end].decode("latin-1").splitlines()
    try:
        status = int(lines[0].split(None, 2)[1])
    except (IndexError, ValueError):
        status = None
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, block[end + sep :]


def read_html(url: str, config: IngestConfig, out: Emit) -> None:
    """One HTML file, one page (no URL unless the page names its canonical one)."""
    sink = PageSink(url, "html", config, out)
    name = posixpath.basename(url)
    start, size = time.perf_counter(), 0
    meta = {"url": None, "html_file": name}
    page = Page(f"{sink.source}/{name}", 1, None, None, None, meta)
    try:
        fs, path = io.fs_and_path(url)
        size = int(fs.size(path) or 0)
        with fs.open(path, "rb", compression="infer") as f:
            body = f.read(config.max_doc_bytes + 1)
        found = ex.page_url(body[:65536].decode("utf-8", "replace"))
        problem = None if body.strip() else "empty_file"
        sink.add(page._replace(body=body, size=max(size, len(body)), url=found, meta={**meta, "url": found},
                               problem=problem))
    except (OSError, EOFError, zlib.error) as err:
        sink.add(page._replace(problem="unreadable_archive", meta={**meta, "error": f"{type(err).__name__}: {err}"}))
    sink.finish(time.perf_counter() - start, size)


def read_web(kind: str, url: str, config: IngestConfig, out: Emit, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The ingest stage's hook: rows of one web file into `out`, yielding full batches on the way."""
    if kind == "warc":
        yield from read_warc(url, config, out, batch_rows)
    else:
        read_html(url, config, out)
