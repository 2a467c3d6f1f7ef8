"""Exact duplicates: one key per document from its normalised text (or canonical conversation)."""

from __future__ import annotations

import unicodedata

import xxhash


def normalise(text: str) -> str:
    """NFKC, then every whitespace run folded to one space: layout differences are not content.

    ASCII is already NFKC; str.split() splits on exactly the characters `\\s` matches (str.isspace),
    so split/join is the regex fold, stripped, at a fraction of its cost."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def dedup_key(text: str | None, messages: str | None = None, tools: str | None = None) -> str:
    """128-bit hex digest; conversations hash their canonical JSON (ingest already sorted its keys)."""
    if text is None:
        payload = "\x00conversation\x00" + (messages or "") + "\x00" + (tools or "")
    else:
        payload = normalise(text)
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))
