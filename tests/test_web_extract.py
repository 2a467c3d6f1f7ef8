"""Web extraction's pure pieces: charset decoding, HTML sniffing, URL block lists, HTTP bodies, the time limit."""

from __future__ import annotations

import gzip
import time

import pytest
from damage import good
from trivium.filters import extract as ex
from trivium.flows.config import ConfigError, parse_config
from trivium.flows.ingest_web import decode_body, dechunk

RUSSIAN = ("Городской совет утвердил новый план реконструкции старого моста через реку. "
           "Работы начнутся весной и продлятся два года.")


def article(i: int, title: str = "A report from the valley") -> str:
    """A page with navigation and a footer around two paragraphs of distinct body text."""
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        "<nav><ul><li><a href='/'>Home</a></li><li><a href='/about'>About this site</a></li>"
        "<li><a href='/contact'>Contact the newsroom</a></li></ul></nav>"
        f"<main><article><h1>{title}</h1><p>{good(i)['text']}</p><p>{good(i + 1000)['text']}</p></article></main>"
        "<footer><p>Copyright 2024 Example Media Group. All rights reserved.</p></footer></body></html>"
    )


PATHOLOGICAL = "<html><body>" + "<div>" * 20000 + "deep" + "</div>" * 20000 + "</body></html>"


@pytest.mark.parametrize(
    ("raw", "declared", "charset", "disagrees"),
    [
        (RUSSIAN.encode("cp1251"), "utf-8", "cp1251", True),  # declared wrong: detection
        ("Grüße aus Köln, schöne Straße".encode(), "cp1252", "utf-8", True),  # labelled latin, really UTF-8
        ("Grüße aus Köln, schöne Straße".encode("cp1252"), "cp1252", "cp1252", False),
        (RUSSIAN.encode("koi8_r"), "koi8_r", "koi8_r", False),
        (b"\xef\xbb\xbf" + RUSSIAN.encode(), None, "utf-8", False),  # a BOM wins
        (b"plain ascii", "shift_jis", "shift_jis", False),  # ASCII agrees with any declaration
    ],
)
def test_decode_html(raw, declared, charset, disagrees):
    decoded = ex.decode_html(raw, declared)
    assert decoded.charset == charset
    assert (decoded.declared is not None) == disagrees
    assert "Straße" in decoded.text or "моста" in decoded.text or decoded.text == "plain ascii"


def test_charset_label_and_html_sniffing():
    assert ex.charset_label("text/html; charset=ISO-8859-1", b"") == "cp1252"  # WHATWG: latin1 means 1252
    assert ex.charset_label(None, b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">') == "cp1251"
    assert ex.charset_label("text/html", b"<meta charset='bogus-charset'>") is None
    assert ex.is_html("text/html; charset=utf-8", b"<html>")
    assert not ex.is_html("text/html", b"%PDF-1.7 ...")  # declared HTML, bytes of a PDF
    assert not ex.is_html("image/png", b"\x89PNG\r\n")
    assert ex.is_html(None, b"  <!DOCTYPE html><html><head>")  # undeclared: sniffed
    assert not ex.is_html(None, b"just some text")
    assert ex.page_url('<link href="https://ex.org/a" rel="canonical">') == "https://ex.org/a"
    assert ex.page_url('<meta property="og:url" content="https://ex.org/b">') == "https://ex.org/b"


def test_url_blocklist(tmp_path):
    path = tmp_path / "block.yaml"
    path.write_text("domains: [bad.example]\nsubstrings: [casino]\nregexes: ['/ads?/[0-9]+']\n")
    cfg = parse_config({"ingest": {"web": {"url_blocklist": str(path)}}})
    bl = cfg.ingest.web.blocklist
    assert bl.reason("https://www.bad.example/page") == "url_blocked_domain"
    assert bl.reason("https://notbad.example/page") is None  # a suffix of the name, not a parent domain
    assert bl.reason("http://x.org/Online-CASINO-bonus") == "url_blocked_substring"
    assert bl.reason("http://x.org/ad/123") == "url_blocked_regex"
    assert bl.reason("http://x.org/adverts") is None
    # An edited list changes the config hash (resume must not reuse the old stage).
    before = cfg.ingest.model_dump(mode="json")
    path.write_text("domains: [other.example]\n")
    assert parse_config({"ingest": {"web": {"url_blocklist": str(path)}}}).ingest.model_dump(mode="json") != before
    for bad, says in (({"url_blocklist": str(tmp_path / "nope.yaml")}, "ingest.web.url_blocklist"),
                      ({"extractor": "boilerpipe"}, "ingest.web.extractor"),
                      ({"timeout_s": 0}, "ingest.web.timeout_s"),
                      ({"timeout": 3}, "ingest.web.timeout")):
        with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
            parse_config({"ingest": {"web": bad}})
    path.write_text("regexes: ['(unclosed']\n")
    with pytest.raises(ConfigError, match="bad regex"):
        parse_config({"ingest": {"web": {"url_blocklist": str(path)}}})


def test_http_bodies():
    html = article(1).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (html[:100], html[100:])) + b"0\r\n\r\n"
    assert dechunk(chunked) == html
    assert decode_body(chunked, {"transfer-encoding": "chunked"}, 10**6) == html
    assert decode_body(html, {"transfer-encoding": "chunked"}, 10**6) == html  # already de-chunked by the archiver
    assert decode_body(gzip.compress(html), {"content-encoding": "gzip"}, 10**6) == html
    with pytest.raises(ValueError, match="Content-Encoding"):
        decode_body(html, {"content-encoding": "compress"}, 10**6)


@pytest.mark.parametrize("name", ex.EXTRACTORS)
def test_extractors_keep_the_body_and_drop_the_frame(name):
    with ex.TimedExtractor(name, timeout_s=20) as extract:
        result = extract(article(7))
    assert result.reason is None
    assert good(7)["text"][:80] in result.text and good(1007)["text"][-60:] in result.text
    assert "Contact the newsroom" not in result.text and "Example Media Group" not in result.text


def test_time_limit_kills_only_the_slow_page():
    """resiliparse's main-content pass is quadratic in nesting depth: 20,000 nested <div> take ~20 s."""
    with ex.TimedExtractor("resiliparse", timeout_s=0.5) as extract:
        start = time.perf_counter()
        slow = extract(PATHOLOGICAL)
        assert time.perf_counter() - start < 5
        assert slow.reason == "extraction_timeout"
        after = extract(article(3))  # a fresh child takes the next page
        assert after.reason is None and good(3)["text"][:60] in after.text
        assert extract("<html><body><script>var x = 1;</script></body></html>").reason == "empty_extraction"
