"""Fingerprints of the files a stage reads besides its documents (models, benchmark sets).

They enter the stage's config hash (as pydantic computed fields), so a retrained model at the
same path re-runs the stage instead of resuming from a manifest made with the old one.
"""

from __future__ import annotations

import hashlib
import os

_CACHE: dict[str, str] = {}


def file_fingerprint(path: str | None) -> str | None:
    """sha256 of a local file ("missing" when absent, None when no path), cached by size and mtime."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    key = f"{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"
    if key not in _CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _CACHE[key] = h.hexdigest()
    return _CACHE[key]


def model_record(path: str | None, default: str | None) -> dict | None:
    """What a manifest says about the model that scored a stage: its file, sha256 and whether it is the shipped default."""
    if not path:
        return None
    return {"path": path, "sha256": file_fingerprint(path), "shipped_default": bool(default) and path == default}
