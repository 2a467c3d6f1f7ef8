"""Web pages to main text: charset decoding, HTML sniffing, URL block lists and the extractors
(resiliparse, trafilatura), run in a child process with a per-page time limit. No Spark, no IO
beyond reading the block-list file named in the config."""

from __future__ import annotations

import codecs
import multiprocessing
import re
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

EXTRACTORS = ("resiliparse", "trafilatura")


class ExtractConfig(BaseModel):
    """`ingest.web`: how WARC responses and HTML files become text."""

    model_config = ConfigDict(extra="forbid")

    extractor: Literal["resiliparse", "trafilatura"] = Field(
        "resiliparse", description="main-text extractor; README and benchmarks/extract.py say why resiliparse"
    )
    timeout_s: float = Field(5.0, gt=0, description="per-page limit; a slower page is quarantined as extraction_timeout")
    url_blocklist: Annotated[str | None, AfterValidator(lambda p: None if p is None else BlocklistFile(p))] = Field(
        None, description="YAML file with `domains`, `substrings` and/or `regexes` lists; matching URLs are dropped"
    )

    @computed_field
    @property
    def url_blocklist_sha256(self) -> str | None:
        """Part of the config hash, so an edited block list re-runs ingest instead of resuming it."""
        return self.blocklist.sha256 if self.blocklist else None

    @property
    def blocklist(self) -> UrlBlocklist | None:
        return self.url_blocklist.blocklist if isinstance(self.url_blocklist, BlocklistFile) else None


# ---- URL block lists ---------------------------------------------------------------------


class UrlBlocklist:
    """Domains (a listed domain blocks its subdomains too), substrings (case-insensitive) and regexes."""

    KINDS = ("domains", "substrings", "regexes")

    def __init__(self, domains=(), substrings=(), regexes=(), sha256: str = ""):
        self.domains = frozenset(d.strip().lower().lstrip(".") for d in domains if d.strip())
        subs = [s.lower() for s in substrings if s]
        self.substrings = re.compile("|".join(map(re.escape, subs))) if subs else None
        self.regexes = re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None
        self.sha256 = sha256

    @classmethod
    def from_file(cls, path: str) -> UrlBlocklist:
        import hashlib

        try:
            raw = Path(path).read_bytes()
            data = yaml.safe_load(raw) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"cannot read URL block list {path}: {err}") from None
        if not isinstance(data, dict) or set(data) - set(cls.KINDS):
            raise ValueError(f"URL block list {path}: expected a mapping with keys {', '.join(cls.KINDS)}")
        lists = {}
        for kind in cls.KINDS:
            items = data.get(kind) or []
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(f"URL block list {path}: `{kind}` must be a list of strings")
            lists[kind] = items
        for r in lists["regexes"]:
            try:
                re.compile(r)
            except re.error as err:
                raise ValueError(f"URL block list {path}: bad regex {r!r}: {err}") from None
        return cls(**lists, sha256=hashlib.sha256(raw).hexdigest())

    def reason(self, url: str | None) -> str | None:
        """The drop reason for `url` (`url_blocked_domain`, ...), or None when no list matches."""
        if not url:
            return None
        low = url.lower()
        if self.domains and _host_suffixes(low) & self.domains:
            return "url_blocked_domain"
        if self.substrings is not None and self.substrings.search(low):
            return "url_blocked_substring"
        if self.regexes is not None and self.regexes.search(url):
            return "url_blocked_regex"
        return None


class BlocklistFile(str):
    """The block list's path, carrying the lists read from it (read once, when the config is loaded)."""

    def __new__(cls, path: str):
        self = super().__new__(cls, path)
        self.blocklist = UrlBlocklist.from_file(path)
        return self

    def __reduce__(self):  # travel to Spark workers with the lists, not re-read there
        return _blocklist_file, (str(self), self.blocklist)


def _blocklist_file(path: str, blocklist: UrlBlocklist) -> BlocklistFile:
    self = str.__new__(BlocklistFile, path)
    self.blocklist = blocklist
    return self


def host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


def _host_suffixes(url: str) -> set[str]:
    parts = host_of(url).split(".")
    return {".".join(parts[i:]) for i in range(len(parts))}


# ---- is it HTML, and in which charset ------------------------------------------------------

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream", "unknown/unknown", "application/unknown"})
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x1f\x8b", b"RIFF", b"OggS", b"\x00\x00\x00")
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<meta", b"<div", b"<p>", b"<p ")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]{1,40})""", re.I)
# WHATWG: these labels mean windows-1252 in browsers, which is what servers that send them meant.
_AS_CP1252 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "ascii", "us-ascii", "iso_8859-1", "cp819"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def mime_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_html(content_type: str | None, head: bytes) -> bool:
    """Declared HTML whose bytes are not a known binary format, or undeclared bytes that look like HTML."""
    if head.lstrip().startswith(_BINARY_MAGIC):
        return False
    mime = mime_of(content_type)
    if mime in HTML_TYPES:
        return True
    return mime in _UNTYPED and looks_like_html(head)


def looks_like_html(head: bytes) -> bool:
    start = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith(b"<") and any(m in start for m in _HTML_MARKERS)


def charset_label(content_type: str | None, head: bytes) -> str | None:
    """The charset the server (Content-Type) or the page (`<meta charset>`) declares, as a Python codec."""
    m = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type or "", re.I)
    label = m.group(1) if m else None
    if label is None:
        mm = _META_CHARSET.search(head[:4096])
        label = mm.group(1).decode("ascii", "replace") if mm else None
    return _codec(label)


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


_CANONICAL = (
    re.compile(r"""<link\b[^>]*?\brel=["']?canonical["']?[^>]*?\bhref=["']([^"'\s>]+)""", re.I),
    re.compile(r"""<link\b[^>]*?\bhref=["']([^"'\s>]+)["'][^>]*?\brel=["']?canonical""", re.I),
    re.compile(r"""<meta\b[^>]*?\bproperty=["']og:url["'][^>]*?\bcontent=["']([^"'\s>]+)""", re.I),
)


def page_url(html_head: str) -> str | None:
    """The URL a page gives for itself (`<link rel=canonical>`, `og:url`), for pages read without one."""
    for pattern in _CANONICAL:
        m = pattern.search(html_head)
        if m and m.group(1).startswith(("http://", "https://")):
            return m.group(1)
    return None


class Decoded(NamedTuple):
    text: str
    charset: str
    declared: str | None  # what the headers or <meta> said, when it disagrees with the bytes


def decode_html(raw: bytes, declared: str | None) -> Decoded:
    """Bytes to text: a BOM wins; then strict UTF-8 (far the most common truth, and what mislabelled pages
    usually are); then the declared charset, strictly; then detection (uchardet), replacing what is left."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return Decoded(raw.decode(codec, errors="replace"), codec.removesuffix("-sig"), _disagree(declared, codec))
    if raw.isascii():
        return Decoded(raw.decode("ascii"), declared or "ascii", None)
    try:
        return Decoded(raw.decode("utf-8"), "utf-8", _disagree(declared, "utf-8"))
    except UnicodeDecodeError:
        pass
    if declared and declared != "utf-8":
        try:
            return Decoded(raw.decode(declared), declared, None)
        except (UnicodeDecodeError, LookupError):
            pass
    from resiliparse.parse.encoding import detect_encoding

    detected = _codec(detect_encoding(raw, html5_compatible=True)) or "cp1252"
    return Decoded(raw.decode(detected, errors="replace"), detected, _disagree(declared, detected))


def _disagree(declared: str | None, used: str) -> str | None:
    if declared is None or _codec(used) == _codec(declared):
        return None
    return declared


# ---- extractors and the time limit ---------------------------------------------------------


def load_extractor(name: str):
    """A function html -> text (or None) for `name`; imports happen here, before any child is forked."""
    if name == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text

        def extract(html: str) -> str:
            return extract_plain_text(html, main_content=True, alt_texts=False, comments=False)

        return extract
    if name == "trafilatura":
        import trafilatura

        # datatrove's Trafilatura settings, but without `deduplicate`: its cache of segments seen in earlier
        # pages would make a page's text depend on which pages its worker saw before (not reproducible).
        def extract(html: str) -> str | None:
            return trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=False)

        return extract
    raise ValueError(f"unknown extractor {name!r}; expected one of {', '.join(EXTRACTORS)}")


class Extraction(NamedTuple):
    text: str | None
    reason: str | None  # extraction_failed | extraction_timeout | empty_extraction
    error: str = ""


_OK, _ERR, _NONE = b"0", b"1", b"2"


def _serve(conn, name: str) -> None:
    """The child's loop: one page in, one answer out, until the parent goes away."""
    try:  # the kernel's OOM killer takes this process, not the Spark worker
        Path("/proc/self/oom_score_adj").write_text("1000")
    except OSError:
        pass
    extract = load_extractor(name)
    while True:
        try:
            html = conn.recv_bytes().decode("utf-8")
        except (EOFError, OSError):
            return
        try:
            text = extract(html)
            conn.send_bytes(_NONE if text is None else _OK + text.encode("utf-8", "replace"))
        except Exception as err:  # noqa: BLE001 - any extractor error is this page's quarantine reason
            conn.send_bytes(_ERR + f"{type(err).__name__}: {err}"[:500].encode("utf-8", "replace"))


class TimedExtractor:
    """Runs one extractor in a forked child, one page at a time. A page over `timeout_s` gets the child
    killed (the next page forks a fresh one), so a pathological page costs at most the limit; a crash or
    an out-of-memory kill of the child costs only its page. Fork, not a signal alarm: resiliparse and
    lxml spend their time in C, where a Python signal handler never runs."""

    def __init__(self, name: str, timeout_s: float):
        load_extractor(name)  # import in the parent: every fork inherits it instead of importing again
        self.name, self.timeout_s = name, timeout_s
        self._proc = self._conn = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self.name), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def close(self) -> None:
        if self._proc is not None:
            self._conn.close()
            self._proc.kill()
            self._proc.join(1)
            self._proc = self._conn = None

    def __call__(self, html: str) -> Extraction:
        if self._proc is None or not self._proc.is_alive():
            self.close()
            self._start()
        try:
            self._conn.send_bytes(html.encode("utf-8", "replace"))
            if not self._conn.poll(self.timeout_s):
                self.close()
                return Extraction(None, "extraction_timeout", f"over {self.timeout_s:g} s")
            answer = self._conn.recv_bytes()
        except (EOFError, OSError) as err:
            code = self._proc.exitcode if self._proc is not None else None
            self.close()
            return Extraction(None, "extraction_failed", f"extractor process died ({code}): {err!r}")
        tag, body = answer[:1], answer[1:].decode("utf-8")
        if tag == _ERR:
            return Extraction(None, "extraction_failed", body)
        if tag == _NONE or not body.strip():
            return Extraction(None, "empty_extraction", "the extractor found no main text")
        return Extraction(body, None)

    def __enter__(self) -> TimedExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
