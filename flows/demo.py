"""`trivium demo`: a small multi-domain sample assembled from text that ships with the installed
Python (stdlib modules and docstrings, packages' descriptions and licences), so the demo runs
on a fresh machine with no corpus and no network. Licences repeat across packages, which gives
real exact duplicates; a few damaged records show the quarantine.
"""

from __future__ import annotations

import ast
import gzip
import importlib.metadata as md
import json
import sysconfig
from pathlib import Path


def _stdlib_files(limit_bytes: int) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files, total = [], 0
    for p in sorted(root.glob("*.py")):
        size = p.stat().st_size
        if total + size > limit_bytes:
            break
        files.append(p)
        total += size
    return files


def stdlib_code(limit_bytes: int) -> list[dict]:
    return [
        {"id": f"stdlib/{p.name}", "text": p.read_text(encoding="utf-8", errors="replace"), "meta": {"path": p.name}}
        for p in _stdlib_files(limit_bytes)
    ]


def stdlib_docstrings(limit_bytes: int) -> list[dict]:
    """Module, class and function docstrings of the stdlib: English technical prose."""
    docs, total = [], 0
    for p in _stdlib_files(limit_bytes * 8):
        try:
            tree = ast.parse(p.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        parts = [ast.get_docstring(n) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))]
        text = "\n\n".join(d for d in parts if d)
        if text and total < limit_bytes:
            docs.append({"id": f"docstrings/{p.stem}", "text": text, "meta": {"module": p.stem}})
            total += len(text)
    return docs


def package_texts() -> tuple[list[dict], list[dict]]:
    """(long descriptions, licence files) of installed distributions, sorted by name."""
    descriptions, licences = [], []
    for dist in sorted(md.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name = dist.metadata["Name"]
        body = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        if len(body) > 200:
            descriptions.append({"id": f"readme/{name}", "text": body, "meta": {"package": name}})
        for f in dist.files or []:
            if "licen" in f.name.lower() or "copying" in f.name.lower():
                try:
                    text = Path(dist.locate_file(f)).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                licences.append({"id": f"licence/{name}/{f.name}", "text": text, "meta": {"package": name}})
    return descriptions, licences


def _write(path: Path, rows: list[dict], source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({**r, "source": source}, ensure_ascii=False) + "\n")


def _damaged(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    good = json.dumps({"id": "ok-1", "text": "A perfectly ordinary record that survives."})
    (folder / "broken.jsonl").write_bytes(
        b"\n".join([good.encode(), b'{"id": "cut-off", "text": "never clo', b'{"id": "latin1", "text": "caf\xe9"}',
                    json.dumps({"id": "no-text", "title": "only a title"}).encode()]) + b"\n"
    )
    whole = gzip.compress((good.replace("ok-1", "ok-2") + "\n").encode() * 50)
    (folder / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.jsonl").write_bytes(b"")


def assemble_sample(folder: Path, max_mb: float = 6.0) -> dict[str, int]:
    """Write the demo's input sources under `folder`; returns documents per source."""
    budget = int(max_mb * 1e6)
    descriptions, licences = package_texts()
    sources = {
        "stdlib_code": stdlib_code(budget // 3),
        "stdlib_docs": stdlib_docstrings(budget // 4),
        "package_readmes": descriptions,
        "licences": licences,
    }
    for source, rows in sources.items():
        _write(folder / source / "part-00000.jsonl.gz", rows, source)
    _damaged(folder / "damaged")
    return {k: len(v) for k, v in sources.items()}
