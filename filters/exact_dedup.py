"""Exact duplicates: one key per document from its normalised text (or canonical conversation)."""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from trivium.kernels.whitespace import fold_whitespace


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


def dedup_keys(text: pa.Array, messages: pa.Array | None = None, tools: pa.Array | None = None) -> list[str]:
    """`dedup_key` of every row, a column at a time: NFKC by Arrow's utf8proc (the rows that are not ASCII)
    and the whitespace fold in native code; the few conversation rows (no text) one by one. utf8proc may
    know a newer Unicode than `unicodedata` (equal on all of ../shared/corpus): one run uses this path alone."""
    wide = pc.invert(pc.fill_null(pc.string_is_ascii(text), True))
    if pc.any(wide).as_py():
        text = pc.replace_with_mask(text, wide, pc.utf8_normalize(text.filter(wide), "NFKC"))
    folded = fold_whitespace(text)
    _, offsets, data = folded.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64, count=len(folded) + 1).tolist()
    data = memoryview(data) if data is not None else memoryview(b"")
    keys = [xxhash.xxh3_128_hexdigest(data[a:b]) for a, b in zip(ends, ends[1:])]
    for i in pc.indices_nonzero(pc.is_null(text)).to_pylist():
        keys[i] = dedup_key(None, messages[i].as_py() if messages is not None else None,
                            tools[i].as_py() if tools is not None else None)
    return keys
