"""Ingest: raw files (JSONL plain/.gz/.zst, Parquet; local or s3://) -> documents.

Every record a reader meets becomes one output row: a document, or a quarantined row that says
why (malformed JSON, invalid UTF-8, missing text, truncated archive, ...). File-level damage
(empty file, unreadable archive, unsupported format) becomes one quarantined row for the file.
"""

from __future__ import annotations

import json
import posixpath
import zlib
from collections.abc import Iterator
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field
from trivium.flows import io
from trivium.filters.extract import ExtractConfig
from trivium.flows.stage import COUNTERS, DISPOSITION, QUARANTINED, REASON

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
    text_key: str = Field("text", description="record key holding the document text")
    id_key: str = Field("id", description="record key holding the document id (made up when absent)")
    source_key: str = Field("source", description="record key naming the source; else the file's folder name")
    lang_key: str = Field("lang", description="record key (or meta key) with a declared language")
    max_doc_bytes: int = Field(10_000_000, ge=1, description="documents larger than this are quarantined")
    quarantine_preview_bytes: int = Field(4096, ge=0, description="how much of a bad record rejects keep")
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
        for k, v in (
            ("id", id),
            ("text", text),
            ("source", source),
            ("lang", lang),
            ("meta", meta),
            ("messages", messages),
            ("tools", tools),
            ("_file", file),
            ("_line", line),
            (REASON, reason),
            (DISPOSITION, disposition if reason else None),
            (COUNTERS, None),
        ):
            self.cols[k].append(v)

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
    try:
        for v in values:
            if v is not None:
                v.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _preview(raw: bytes | str, limit: int) -> str:
    if isinstance(raw, bytes):
        raw = raw[:limit].decode("utf-8", errors="replace")
    return raw[:limit].encode("utf-8", errors="replace").decode("utf-8")


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


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

    def parse(self, obj: Any, *, file: str, line: int, default_source: str, out: Emit) -> None:
        c = self.c
        fallback_id = f"{default_source}/{posixpath.basename(file)}:{line}"
        if not isinstance(obj, dict):
            out.add(
                id=fallback_id,
                text=_preview(json.dumps(obj, ensure_ascii=False), c.quarantine_preview_bytes),
                source=default_source,
                file=file,
                line=line,
                reason="malformed_json",
                meta=canonical_json({"error": f"record is a JSON {type(obj).__name__}, not an object"}),
            )
            return
        raw_id = obj.get(c.id_key)
        doc_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id) else fallback_id
        source = obj.get(c.source_key) if isinstance(obj.get(c.source_key), str) else default_source
        meta = (
            obj.get("meta")
            if isinstance(obj.get("meta"), dict)
            else ({"meta": obj["meta"]} if "meta" in obj and obj["meta"] is not None else {})
        )
        extras = {k: v for k, v in obj.items() if k not in self.KNOWN | {c.text_key, c.id_key, c.source_key}}
        meta = {**extras, **meta}
        lang = obj.get(c.lang_key) if isinstance(obj.get(c.lang_key), str) else meta.get(c.lang_key, "")
        lang = lang if isinstance(lang, str) else ""
        text = obj.get(c.text_key)
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
        elif not isinstance(text, str):
            reason, text = "non_string_text", _preview(json.dumps(text, ensure_ascii=False), c.quarantine_preview_bytes)
        if not _utf8_ok(doc_id, source, lang, meta_json, text if isinstance(text, str) else None, msg_json, tools_json):
            reason = "invalid_unicode"
            doc_id = doc_id.encode("utf-8", "replace").decode() if not _utf8_ok(doc_id) else doc_id
            source, lang = default_source, ""
            text = _preview((text or "").encode("utf-8", "replace"), c.quarantine_preview_bytes)
            meta_json, msg_json, tools_json = canonical_json({"error": "lone surrogate in a string"}), None, None
        if reason is None:
            size = (
                len(text.encode("utf-8"))
                if text is not None
                else len(msg_json.encode("utf-8")) + len((tools_json or "").encode("utf-8"))
            )
            if size > c.max_doc_bytes:
                reason = "oversized_document"
                text = _preview(text if text is not None else msg_json, c.quarantine_preview_bytes)
                meta_json = canonical_json({**meta, "bytes": size})
                msg_json = tools_json = None
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


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Complete lines as soon as their chunk arrives, so a truncated archive yields all lines before the cut."""
    pending = b""
    for data in chunks:
        pending += data
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


def read_jsonl(url: str, parser: RecordParser, out: Emit, batch_rows: int) -> Iterator[pa.RecordBatch]:
    source = source_of_file(url)
    n_lines = 0
    fs, path = io.fs_and_path(url)
    try:
        with fs.open(path, "rb") as raw:
            for n_lines, line in enumerate(_lines(_chunks(raw, url)), start=1):
                _parse_line(line, url, n_lines, source, parser, out)
                if len(out) >= batch_rows:
                    yield out.batch()
    except (EOFError, zlib.error, OSError, ValueError) as err:
        # Something decoded before the error: the archive was cut short. Nothing: it is not an archive.
        kind = "truncated_archive" if n_lines or isinstance(err, EOFError) else "unreadable_archive"
        out.quarantine(
            url, n_lines + 1, kind, f"{type(err).__name__}: {err}", source=source, record=False, lines_read=n_lines
        )
    else:
        if n_lines == 0:
            out.quarantine(url, 0, "empty_file", "file holds no records", source=source, record=False)


def _parse_line(line: bytes, url: str, lineno: int, source: str, parser: RecordParser, out: Emit) -> None:
    if not line.strip():
        return
    preview = parser.c.quarantine_preview_bytes
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as err:
        out.quarantine(url, lineno, "invalid_utf8", str(err), source=source, text=_preview(line, preview))
        return
    try:
        obj = json.loads(decoded)
    except json.JSONDecodeError as err:
        out.quarantine(url, lineno, "malformed_json", str(err), source=source, text=_preview(decoded, preview))
        return
    parser.parse(obj, file=url, line=lineno, default_source=source, out=out)


def read_parquet(url: str, parser: RecordParser, out: Emit, batch_rows: int) -> Iterator[pa.RecordBatch]:
    source = source_of_file(url)
    fs, path = io.fs_and_path(url)
    row = 0
    try:
        with fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            for b in pf.iter_batches(batch_size=batch_rows):
                for obj in b.to_pylist():
                    row += 1
                    parser.parse(obj, file=url, line=row, default_source=source, out=out)
                if len(out) >= batch_rows:
                    yield out.batch()
    except (pa.ArrowException, OSError, ValueError) as err:
        kind = "truncated_archive" if row else "unreadable_archive"
        out.quarantine(url, row + 1, kind, f"{type(err).__name__}: {err}", source=source, record=False, rows_read=row)
    else:
        if row == 0:
            out.quarantine(url, 0, "empty_file", "file holds no rows", source=source, record=False)


class FileReader:
    """mapInArrow function over a DataFrame of file URLs: every record of every file, as rows."""

    def __init__(self, config: IngestConfig, batch_rows: int = 2000):
        self.config = config
        self.batch_rows = batch_rows
        self.storage = io.current_options()

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        io.configure(self.storage)
        parser = RecordParser(self.config)
        out = Emit()
        for batch in batches:
            for url in batch.column(0).to_pylist():
                yield from self.read_file(url, parser, out)
                if len(out):
                    yield out.batch()

    def read_file(self, url: str, parser: RecordParser, out: Emit) -> Iterator[pa.RecordBatch]:
        kind = file_kind(url) if self.config.format == "auto" else self.config.format
        if kind == "jsonl":
            yield from read_jsonl(url, parser, out, self.batch_rows)
        elif kind == "parquet":
            yield from read_parquet(url, parser, out, self.batch_rows)
        elif kind in ("warc", "html"):
            from trivium.flows.ingest_web import read_web

            yield from read_web(kind, url, self.config, out, self.batch_rows)
        else:
            source = source_of_file(url)
            out.quarantine(
                url,
                0,
                "unsupported_format",
                "not JSONL(.gz|.zst), Parquet, WARC(.gz) or HTML",
                source=source,
                record=False,
            )


def read_all(urls: list[str], config: IngestConfig | None = None) -> pa.Table:
    """Read files in-process (no Spark): for tests, small tools and the tokenizer's sampler."""
    reader = FileReader(config or IngestConfig())
    batch = pa.RecordBatch.from_pydict({"path": urls})
    return pa.Table.from_batches(list(reader(iter([batch]))), schema=INGEST_ARROW_SCHEMA)


def build_ingest(spark, files: list[str], config: IngestConfig):
    """DataFrame of ingested rows with ids made unique, hash-partitioned by id."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    urls = [f for f in files if not is_hidden(f)]
    if not urls:
        return spark.createDataFrame([], INGEST_DDL).drop("_file", "_line")
    batch_rows = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "2000"))
    paths = spark.createDataFrame(spark.sparkContext.parallelize([(u,) for u in urls], len(urls)), "path string")
    rows = paths.mapInArrow(FileReader(config, batch_rows), INGEST_DDL)
    # Ids must be unique within a run: the first (file, line) keeps its id, later ones get "#n".
    nth = F.row_number().over(Window.partitionBy("id").orderBy("_file", "_line"))
    rows = rows.withColumn("_n", nth)
    rows = rows.withColumn(
        "id", F.when(F.col("_n") == 1, F.col("id")).otherwise(F.concat_ws("#", "id", F.col("_n").cast("string")))
    )
    return rows.drop("_n", "_file", "_line")
