"""Ingest: raw files (JSONL plain/.gz/.zst, Parquet; local or s3://) -> documents.

Every record a reader meets becomes one output row: a document, or a quarantined row that says
why (malformed JSON, invalid UTF-8, missing text, truncated archive, ...). File-level damage
(empty file, unreadable archive, unsupported format) becomes one quarantined row for the file.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import os
import posixpath
import stat
import tempfile
import zlib
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field
from trivium.flows import io
from trivium.filters.extract import ExtractConfig
from trivium.flows.spark import rows_frame
from trivium.flows.stage import COUNTERS, DISPOSITION, QUARANTINED, REASON, LaidOut, arrow_batch_rows

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz", ".jsonl.zst", ".json.zst", ".jsonl.zstd")
PARQUET_SUFFIXES = (".parquet",)

DOC_FIELDS = ["id", "text", "source", "lang", "meta", "messages", "tools"]
INGEST_ARROW_SCHEMA = pa.schema(
    [(name, pa.string()) for name in DOC_FIELDS]
    + [("_file", pa.string()), ("_line", pa.int64()), (REASON, pa.string()), (DISPOSITION, pa.string())]
    + [(COUNTERS, pa.string())]  # per-file reader counters (web ingest), summed into the manifest
)
INGEST_DDL = ", ".join(f"{f.name} {'long' if f.type == pa.int64() else 'string'}" for f in INGEST_ARROW_SCHEMA)


class IngestConfig(BaseModel):
    text_key: str = Field("text", min_length=1, description="record key holding the document text")
    id_key: str = Field("id", min_length=1, description="record key holding the document id (made up when absent)")
    source_key: str = Field(
        "source", min_length=1, description="record key naming the source; else the file's folder name"
    )
    lang_key: str = Field("lang", min_length=1, description="record key (or meta key) with a declared language")
    max_doc_bytes: int = Field(
        10_000_000,
        ge=1,
        description="records larger than this are quarantined: a JSONL line as stored (checked before parsing, "
        "so memory stays bounded), or the UTF-8 bytes of all of a row's fields",
    )
    quarantine_preview_bytes: int = Field(4096, ge=0, description="how much of a bad record rejects keep")
    max_id_bytes: int = Field(
        1024, ge=16, description="a longer id marks a broken record (an id key naming the text?): oversized_id"
    )
    format: Literal["auto", "jsonl", "parquet", "warc", "html"] = Field(
        "auto", description="input format of every file; auto: from each file's extension (`curate --format`)"
    )
    web: ExtractConfig = Field(default_factory=ExtractConfig, description="WARC / HTML: extractor, time limit, URL block list")


class Emit:
    """Builds output rows in columnar form (cheaper than a dict per row through Arrow)."""

    def __init__(self):
        self.cols: dict[str, list] = {f.name: [] for f in INGEST_ARROW_SCHEMA}

    def __len__(self) -> int:
        return len(self.cols["id"])

    def add(self, *, id, text=None, source, lang="", meta="{}", messages=None, tools=None, file, line, reason=None,
            disposition=QUARANTINED):
        c = self.cols  # one append per column, in schema order: this runs once per record
        c["id"].append(id)
        c["text"].append(text)
        c["source"].append(source)
        c["lang"].append(lang)
        c["meta"].append(meta)
        c["messages"].append(messages)
        c["tools"].append(tools)
        c["_file"].append(file)
        c["_line"].append(line)
        c[REASON].append(reason)
        c[DISPOSITION].append(disposition if reason else None)
        c[COUNTERS].append(None)

    def quarantine(
        self,
        url: str,
        line: int,
        reason: str,
        error: str,
        *,
        source: str,
        record: bool = True,
        text: str | None = None,
        **meta,
    ) -> None:
        """A bad record (`record`: id from file and line) or a bad file (id from file and reason)."""
        name = posixpath.basename(url)
        doc_id = f"{source}/{name}:{line}" if record else f"{source}/{name}#{reason}"
        self.add(
            id=doc_id,
            text=text,
            source=source,
            file=url,
            line=line,
            reason=reason,
            meta=canonical_json({"error": error, **meta}),
        )

    def note(self, counters: dict) -> None:
        """Attach counters (JSON numbers) to the last row; the stage runner sums them into the manifest."""
        self.cols[COUNTERS][-1] = canonical_json(counters)

    def batch(self) -> pa.RecordBatch:
        b = pa.RecordBatch.from_pydict(self.cols, schema=INGEST_ARROW_SCHEMA)
        self.cols = {f.name: [] for f in INGEST_ARROW_SCHEMA}
        return b


def file_kind(url: str) -> str | None:
    name = url.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    from trivium.flows.ingest_web import web_kind  # ingest_web imports this module

    return web_kind(url)


def is_hidden(url: str) -> bool:
    """Hadoop/Spark convention: `_SUCCESS`, `_manifest.json`, `.crc` and friends are not data."""
    return posixpath.basename(url).startswith(("_", "."))


def source_of_file(url: str) -> str:
    return posixpath.basename(posixpath.dirname(url.split("://", 1)[-1])) or "unknown"


def _utf8_ok(*values: str | None) -> bool:
    """json.loads accepts lone surrogates (\\ud800), which no UTF-8 writer can store."""
    return _utf8_size(*values) is not None


def _utf8_size(*values: str | None) -> int | None:
    """The UTF-8 bytes of `values` together, or None when one holds a lone surrogate. An ASCII
    string (the common case, known to CPython without a scan) is not encoded at all."""
    total = 0
    try:
        for v in values:
            if v:
                total += len(v) if v.isascii() else len(v.encode("utf-8"))
    except UnicodeEncodeError:
        return None
    return total


def _preview(raw: bytes | str, limit: int) -> str:
    if isinstance(raw, bytes):
        raw = raw[:limit].decode("utf-8", errors="replace")
    return raw[:limit].encode("utf-8", errors="replace").decode("utf-8")


def _json_default(value: Any) -> Any:
    """What Parquet hands over beyond JSON's types: timestamps, decimals, binary, ..."""
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact, unlike a float
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


def _finite(value: Any) -> Any:
    """NaN and Infinity (which json.loads accepts) as null: JSON has no spelling for them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# One encoder for every record: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                              default=_json_default)


def canonical_json(value: Any) -> str:
    """Valid JSON for any record a reader meets (sorted keys, no NaN, Parquet's types spelled out)."""
    try:
        return _CANONICAL.encode(value)
    except ValueError:  # a NaN or an Infinity somewhere
        return _CANONICAL.encode(_finite(value))


def _as_text(value: Any) -> Any:
    """Parquet often stores strings as binary without the UTF-8 annotation: decode what decodes."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def printable(url: str) -> str:
    """A file name as it can be stored: names that are not UTF-8 (os.listdir's surrogate escapes)
    keep a replacement character instead."""
    return url.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _valid_messages(messages: Any) -> bool:
    return (
        isinstance(messages, list)
        and len(messages) > 0
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    )


class RecordParser:
    """Turns one decoded record (a dict) into a document row or a quarantine row."""

    KNOWN = {"meta", "messages", "tools"}

    def __init__(self, config: IngestConfig):
        self.c = config
        self.reserved = self.KNOWN | {config.text_key, config.id_key, config.source_key}

    def parse(self, obj: Any, *, file: str, line: int, default_source: str, out: Emit) -> None:
        c = self.c
        fallback_id = f"{default_source}/{posixpath.basename(file)}:{line}"
        if not isinstance(obj, dict):
            out.add(
                id=fallback_id,
                text=_preview(canonical_json(obj), c.quarantine_preview_bytes),
                source=default_source,
                file=file,
                line=line,
                reason="malformed_json",
                meta=canonical_json({"error": f"record is a JSON {type(obj).__name__}, not an object"}),
            )
            return
        raw_id = _as_text(obj.get(c.id_key))
        doc_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id) else fallback_id
        source = _as_text(obj.get(c.source_key))
        source = source if isinstance(source, str) and source else default_source
        meta = obj.get("meta")
        meta = meta if isinstance(meta, dict) else ({"meta": meta} if meta is not None else {})
        extras = {k: v for k, v in obj.items() if k not in self.reserved}
        meta = {**extras, **meta} if extras else meta
        lang = _as_text(obj.get(c.lang_key))
        lang = lang if isinstance(lang, str) else _as_text(meta.get(c.lang_key, ""))
        lang = lang if isinstance(lang, str) else ""
        text = _as_text(obj.get(c.text_key))
        messages, tools = obj.get("messages"), obj.get("tools")
        reason = None
        meta_json = canonical_json(meta)
        msg_json = tools_json = None
        if text is None and messages is not None:
            if not _valid_messages(messages):
                reason = "malformed_messages"
            else:
                msg_json = canonical_json(messages)
                tools_json = canonical_json(tools) if tools is not None else None
        elif text is None:
            reason = "missing_text"
        elif isinstance(text, bytes):
            reason, text = "invalid_utf8", _preview(text, c.quarantine_preview_bytes)
        elif not isinstance(text, str):
            reason, text = "non_string_text", _preview(canonical_json(text), c.quarantine_preview_bytes)
        elif not text.strip():
            reason = "empty_text"
        size = _utf8_size(doc_id, source, lang, meta_json, text if isinstance(text, str) else None, msg_json,
                          tools_json)
        if size is None:
            reason = "invalid_unicode"
            doc_id = doc_id.encode("utf-8", "replace").decode() if not _utf8_ok(doc_id) else doc_id
            source, lang = default_source, ""
            text = _preview((text or "").encode("utf-8", "replace"), c.quarantine_preview_bytes)
            meta_json, msg_json, tools_json = canonical_json({"error": "lone surrogate in a string"}), None, None
        if reason is None:
            # The cap covers the whole record: a huge meta or id costs every stage as much as a huge text.
            if size > c.max_doc_bytes:
                reason = "oversized_document"
                doc_id = doc_id if len(doc_id.encode("utf-8")) <= c.max_id_bytes else fallback_id
                source, lang = (source if len(source) <= c.max_id_bytes else default_source), lang[:64]
                text = _preview(text if text is not None else msg_json, c.quarantine_preview_bytes)
                meta_json = canonical_json({"bytes": size, "meta_preview": _preview(meta_json, c.quarantine_preview_bytes)})
                msg_json = tools_json = None
            elif (id_bytes := len(doc_id.encode("utf-8"))) > c.max_id_bytes:
                reason = "oversized_id"
                meta_json = canonical_json({"id_bytes": id_bytes, "id_preview": _preview(doc_id, 256)})
                doc_id = fallback_id
        if reason in ("missing_text", "malformed_messages"):
            raw = canonical_json(obj)
            text = _preview(raw if _utf8_ok(raw) else "", c.quarantine_preview_bytes)
            msg_json = tools_json = None
        out.add(
            id=doc_id,
            text=text,
            source=source,
            lang=lang,
            meta=meta_json,
            messages=msg_json,
            tools=tools_json,
            file=file,
            line=line,
            reason=reason,
        )


CHUNK = 1 << 16


def _frames(raw, new_decoder) -> Iterator[bytes]:
    """Decompress frame by frame (gzip members, zstd frames), yielding output as it comes, so the
    lines before a cut survive; a stream that ends inside a frame raises EOFError."""
    obj, mid_frame = new_decoder(), False
    while data := raw.read(CHUNK):
        while data:
            mid_frame = True
            out = obj.decompress(data)
            if out:
                yield out
            if obj.eof:
                data, obj, mid_frame = obj.unused_data, new_decoder(), False
            else:
                data = b""
    if mid_frame:
        raise EOFError("compressed stream ends before its end mark")


def _chunks(raw, url: str) -> Iterator[bytes]:
    name = url.lower()
    if name.endswith(".gz"):
        yield from _frames(raw, lambda: zlib.decompressobj(16 + zlib.MAX_WBITS))
    elif name.endswith((".zst", ".zstd")):
        import zstandard

        dctx = zstandard.ZstdDecompressor()
        yield from _frames(raw, dctx.decompressobj)
    else:
        while data := raw.read(CHUNK):
            yield data


class LongLine(NamedTuple):
    """A line over the cap, not kept: its first bytes (for the quarantine preview) and its real size."""

    head: bytes
    size: int


def _lines(chunks: Iterator[bytes], cap: int, head_bytes: int) -> Iterator[bytes | LongLine]:
    """Complete lines as soon as their chunk arrives, so a truncated archive yields all lines before
    the cut. Linear in the input whatever the line lengths; a line longer than `cap` is not
    accumulated but measured and handed on as a LongLine."""
    parts: list[bytes] = []
    size, head = 0, None
    for data in chunks:
        pieces = data.split(b"\n")
        for i, piece in enumerate(pieces):
            size += len(piece)
            if head is None:
                if size > cap:
                    head = b"".join([*parts, piece])[:head_bytes]
                    parts = []
                else:
                    parts.append(piece)
            if i < len(pieces) - 1:  # the piece ends its line
                yield LongLine(head, size) if head is not None else b"".join(parts)
                parts, size, head = [], 0, None
    if size:
        yield LongLine(head, size) if head is not None else b"".join(parts)


BINARY_SNIFF_BYTES = 8192


def _sniffed(chunks: Iterator[bytes]) -> tuple[bool, Iterator[bytes]]:
    """(looks binary, the same chunks): JSON text never holds a raw NUL byte; UTF-16 text,
    images and archives under a .jsonl name do, within their first few KB."""
    first = next(chunks, b"")
    while len(first) < BINARY_SNIFF_BYTES and (more := next(chunks, None)) is not None:
        first += more

    def again() -> Iterator[bytes]:
        if first:
            yield first
        yield from chunks

    return b"\x00" in first[:BINARY_SNIFF_BYTES], again()


def read_jsonl(url: str, parser: RecordParser, out: Emit, batch_rows: int) -> Iterator[pa.RecordBatch]:
    name = printable(url)
    source = source_of_file(name)
    n_lines = 0
    fs, path = io.fs_and_path(url)
    try:
        with fs.open(path, "rb") as raw:
            binary, chunks = _sniffed(_chunks(raw, url))
            if binary:
                out.quarantine(name, 1, "binary_file", "holds NUL bytes: not UTF-8 JSON text", source=source,
                               record=False)
                return
            lines = _lines(chunks, parser.c.max_doc_bytes, parser.c.quarantine_preview_bytes)
            for n_lines, line in enumerate(lines, start=1):
                _parse_line(line, name, n_lines, source, parser, out)
                if len(out) >= batch_rows:
                    yield out.batch()
    except (EOFError, zlib.error, OSError, ValueError) as err:
        # Something decoded before the error: the archive was cut short. Nothing: it is not an archive.
        kind = "truncated_archive" if n_lines or isinstance(err, EOFError) else "unreadable_archive"
        out.quarantine(
            name, n_lines + 1, kind, f"{type(err).__name__}: {err}", source=source, record=False, lines_read=n_lines
        )
    else:
        if n_lines == 0:
            out.quarantine(name, 0, "empty_file", "file holds no records", source=source, record=False)


BOM = b"\xef\xbb\xbf"


def _parse_line(line: bytes | LongLine, url: str, lineno: int, source: str, parser: RecordParser, out: Emit) -> None:
    preview = parser.c.quarantine_preview_bytes
    if isinstance(line, LongLine):
        out.quarantine(url, lineno, "oversized_document", f"line of {line.size} bytes exceeds max_doc_bytes",
                       source=source, text=_preview(line.head, preview), bytes=line.size)
        return
    if not line.strip():
        return
    if line.startswith(BOM):  # editors on Windows start files (and concatenations, lines) with one
        line = line[len(BOM) :]
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as err:
        out.quarantine(url, lineno, "invalid_utf8", str(err), source=source, text=_preview(line, preview))
        return
    try:
        obj = json.loads(decoded)
        parser.parse(obj, file=url, line=lineno, default_source=source, out=out)
    except json.JSONDecodeError as err:
        out.quarantine(url, lineno, "malformed_json", str(err), source=source, text=_preview(decoded, preview))
    except RecursionError:
        out.quarantine(url, lineno, "too_deeply_nested", "JSON nested deeper than Python's recursion limit",
                       source=source, text=_preview(decoded, preview))


def read_parquet(url: str, parser: RecordParser, out: Emit, batch_rows: int) -> Iterator[pa.RecordBatch]:
    name = printable(url)
    source = source_of_file(name)
    fs, path = io.fs_and_path(url)
    row = 0
    try:
        with fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            for b in pf.iter_batches(batch_size=batch_rows):
                for obj in b.to_pylist():
                    row += 1
                    parser.parse(obj, file=name, line=row, default_source=source, out=out)
                if len(out) >= batch_rows:
                    yield out.batch()
    except (pa.ArrowException, OSError, ValueError) as err:
        if row == 0 and fs.size(path) == 0:
            out.quarantine(name, 0, "empty_file", "file holds no bytes", source=source, record=False)
            return
        kind = "truncated_archive" if row else "unreadable_archive"
        out.quarantine(name, row + 1, kind, f"{type(err).__name__}: {err}", source=source, record=False, rows_read=row)
    else:
        if row == 0:
            out.quarantine(name, 0, "empty_file", "file holds no rows", source=source, record=False)


def special_file(url: str) -> str | None:
    """What a local path is when it is not a regular file (a FIFO would block the reader forever,
    a device never ends); checked without opening it."""
    if io.protocol_of(url) not in ("file", "local"):
        return None
    mode = os.stat(io.fs_and_path(url)[1]).st_mode
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISFIFO: "named pipe", stat.S_ISCHR: "character device", stat.S_ISBLK: "block device",
             stat.S_ISSOCK: "socket", stat.S_ISDIR: "directory"}
    return next((k for test, k in kinds.items() if test(mode)), "special file")


class FileReader:
    """mapInArrow function over a DataFrame of file URLs (binary: names need not be UTF-8): every
    record of every file, as rows."""

    def __init__(self, config: IngestConfig, batch_rows: int = 2000):
        self.config = config
        self.batch_rows = batch_rows
        self.storage = io.current_options()

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        io.configure(self.storage)
        parser = RecordParser(self.config)
        out = Emit()
        for batch in batches:
            for raw in batch.column(0).to_pylist():
                url = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
                yield from self.read_file(url, parser, out)
                if len(out):
                    yield out.batch()

    def read_file(self, url: str, parser: RecordParser, out: Emit) -> Iterator[pa.RecordBatch]:
        name = printable(url)
        source = source_of_file(name)
        try:
            if special := special_file(url):
                out.quarantine(name, 0, "not_a_regular_file", f"a {special}, not read", source=source, record=False)
                return
            kind = file_kind(url) if self.config.format == "auto" else self.config.format
            if kind == "jsonl":
                yield from read_jsonl(url, parser, out, self.batch_rows)
            elif kind == "parquet":
                yield from read_parquet(url, parser, out, self.batch_rows)
            elif kind in ("warc", "html"):
                from trivium.flows.ingest_web import read_web

                yield from read_web(kind, url, self.config, out, self.batch_rows)
            else:
                out.quarantine(
                    name,
                    0,
                    "unsupported_format",
                    "not JSONL(.gz|.zst), Parquet, WARC(.gz) or HTML",
                    source=source,
                    record=False,
                )
        except Exception as err:  # noqa: BLE001 - no input may stop the run: one row says what broke
            out.quarantine(name, -1, "unreadable_file", f"{type(err).__name__}: {err}"[:1000], source=source,
                           record=False)


def _path_bytes(url: str) -> bytes:
    """A file name as it travels to the readers: binary, since local names need not be UTF-8."""
    return url.encode("utf-8", "surrogateescape")


def _paths_batch(urls: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"path": pa.array([_path_bytes(u) for u in urls], pa.binary())})


def read_all(urls: list[str], config: IngestConfig | None = None) -> pa.Table:
    """Read files in-process (no Spark): for tests, small tools and the tokenizer's sampler."""
    reader = FileReader(config or IngestConfig())
    return pa.Table.from_batches(list(reader(iter([_paths_batch(urls)]))), schema=INGEST_ARROW_SCHEMA)


def new_ids(ids: list[str]) -> list[str]:
    """Ids unique within the run whatever the input ids are, for ids sorted so that the copies of an id
    are together, in (file, line) order. The first of each id keeps it; the j-th later copy of
    `b` becomes `b#c`, c the j-th integer >= 2 for which `b#c` is no input id. A new id is
    `base#digits`, so copies of different ids never get the same one, and no input id is ever taken:
    unique by construction, however the inputs spell their ids. Every input id a copy of `b` could
    meet starts with `b#`, so `ids` need only hold those (`RenameCopies` holds such a region)."""
    taken = set(ids)
    out = list(ids)
    i = 0
    while i < len(ids):
        j, c = i + 1, 2
        while j < len(ids) and ids[j] == ids[i]:
            while f"{ids[i]}#{c}" in taken:
                c += 1
            out[j] = f"{ids[i]}#{c}"
            j, c = j + 1, c + 1
        i = j
    return out


def _repeated(ids: pa.Array, before: str | None) -> list[str]:
    """Ids of a sorted batch equal to the id before them (`before`: the previous batch's last)."""
    n = len(ids)
    repeated = []
    if n and before is not None and ids[0].as_py() == before:
        repeated.append(before)
    if n > 1:
        same = pc.equal(ids.slice(1), ids.slice(0, n - 1))
        if pc.any(same).as_py():
            repeated += pc.filter(ids.slice(1), same).to_pylist()
    return repeated


ID_HELPERS = ["_family", "_file", "_line"]


class _Held:
    """Rows `RenameCopies` holds: in memory up to `budget` bytes, beyond that in a memory-mapped Arrow
    file (all of a huge family, say every record of a source with id 1, may have to be held)."""

    def __init__(self, budget: int):
        self.budget, self.batches, self.bytes = budget, [], 0
        self.path = self.writer = None

    def __bool__(self) -> bool:
        return bool(self.batches) or self.writer is not None

    def add(self, batch: pa.RecordBatch) -> None:
        batch = batch.drop_columns(ID_HELPERS)
        if self.writer is not None:
            self.writer.write_batch(batch)
            return
        self.batches.append(batch)
        self.bytes += batch.nbytes
        if self.bytes > self.budget:
            fd, self.path = tempfile.mkstemp(prefix="trivium-ingest-held-", suffix=".arrow")
            os.close(fd)
            self.writer = pa.ipc.new_file(self.path, batch.schema)
            for b in self.batches:
                self.writer.write_batch(b)
            self.batches = []

    def drain(self) -> pa.Table:
        """Every held row (a memory-mapped table once spilled); holds nothing after."""
        if self.writer is None:
            table = pa.Table.from_batches(self.batches)
        else:
            self.writer.close()
            table = pa.ipc.open_file(pa.memory_map(self.path)).read_all()
            os.remove(self.path)  # the mapping stays readable until the table goes
        self.batches, self.bytes, self.path, self.writer = [], 0, None, None
        return table


class RenameCopies:
    """mapInArrow step of the task that writes one ingest part: its rows come clustered by id family
    (the id without trailing `#digits`) and sorted by (id, _file, _line), so the copies of an id are
    together. Batches without a copy pass through; from a batch with one, rows are held until the
    stream passes `b$` for every copied `b` (every input id `b#...` sorts before it), then renamed
    (`new_ids`) and re-sorted. Rows leave sorted by id, without the helper columns."""

    def __init__(self, hold_bytes: int = 256 << 20, batch_rows: int = 2000):
        self.hold_bytes, self.batch_rows = hold_bytes, batch_rows

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held = _Held(self.hold_bytes)
        bound = None  # held rows end before the first id >= bound
        emitted = last = None  # the last id written; the last id seen
        for batch in batches:
            ids = batch.column("id")
            repeated = _repeated(ids, last)
            last = ids[-1].as_py() if len(ids) else last
            if repeated:
                bound = max([bound or "", *(b + "$" for b in repeated)])
            if bound is None:
                emitted = last
                yield batch.drop_columns(ID_HELPERS)
                continue
            held.add(batch)
            if last >= bound:
                yield from self._renamed(held.drain(), emitted)
                bound, emitted = None, last
        if held:
            yield from self._renamed(held.drain(), emitted)

    def _renamed(self, table: pa.Table, emitted: str | None) -> Iterator[pa.RecordBatch]:
        ids = table.column("id").to_pylist()
        # the first copy of the held region's first id may already be written (it kept its id)
        ahead = [emitted] if ids and ids[0] == emitted else []
        renamed = pa.array(new_ids(ahead + ids)[len(ahead):], pa.string())
        order = pc.sort_indices(renamed)
        at = table.schema.get_field_index("id")
        for start in range(0, len(order), self.batch_rows):
            rows = order.slice(start, self.batch_rows)
            yield from table.take(rows).set_column(at, "id", renamed.take(rows)).to_batches()


def build_ingest(spark, files: list[str], config: IngestConfig):
    """Ingested rows, laid out for the writer: clustered by id family (one shuffle), sorted by id, with
    copies renamed in the writing task (`RenameCopies`), so no window or second shuffle moves the text."""
    from pyspark.sql import functions as F

    urls = [f for f in files if not is_hidden(f)]
    if not urls:
        return spark.createDataFrame([], INGEST_DDL).drop("_file", "_line")
    rows_per_batch = arrow_batch_rows(spark)
    # One task per file, up to 4 per core: a folder of HTML pages is thousands of small files.
    tasks = min(len(urls), 4 * spark.sparkContext.defaultParallelism)
    paths = rows_frame(spark, pa.Table.from_batches([_paths_batch(urls)]), tasks)
    rows = paths.mapInArrow(FileReader(config, rows_per_batch), INGEST_DDL)
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
    # A copy's new id `b#c` keeps the family of `b`, and so the partition: ids stay unique across parts.
    family = F.regexp_replace("id", r"(?:#[0-9]+)+\z", "")
    rows = rows.withColumn("_family", family).repartition(partitions, "_family")
    return LaidOut(rows.sortWithinPartitions("id", "_file", "_line"), RenameCopies(batch_rows=rows_per_batch))
