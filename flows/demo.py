"""`trivium demo`: a small multi-domain sample assembled from text that ships with the installed
Python (stdlib modules and docstrings, packages' descriptions and licences), so the demo runs
on a fresh machine with no corpus and no network. Licences repeat across packages, which gives
real exact duplicates; a few damaged records show the quarantine. The rest of the module is the
demo's chain after curate: the small tokenizer (with its held-out compression) and the closing summary.
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


def _capped(rows: list[dict], limit_bytes: int) -> list[dict]:
    """The first rows whose texts fit in `limit_bytes` (a venv's licences alone can be megabytes)."""
    out, total = [], 0
    for r in rows:
        total += len(r["text"])
        if total > limit_bytes:
            break
        out.append(r)
    return out


def assemble_sample(folder: Path, max_mb: float = 6.0) -> dict[str, int]:
    """Write the demo's input sources under `folder` (about `max_mb` MB of text); returns documents per source."""
    budget = int(max_mb * 1e6)
    descriptions, licences = package_texts()
    sources = {
        "stdlib_code": stdlib_code(budget // 3),
        "stdlib_docs": stdlib_docstrings(budget // 4),
        "package_readmes": _capped(descriptions, budget // 4),
        "licences": _capped(licences, budget // 6),
    }
    for source, rows in sources.items():
        _write(folder / source / "part-00000.jsonl.gz", rows, source)
    _damaged(folder / "damaged")
    return {k: len(v) for k, v in sources.items()}


# ---- the chain: curate -> tokenizer -> stats -> plan -> build -> pack -> report ------------------

DEMO_RECIPE = "demo"  # mixtures/recipes/demo.yaml: the reference curriculum, sized for this sample
DEMO_VOCAB = 2048  # 256 special ids + 256 bytes + 1,536 merges: trains in seconds
DEMO_HOLDOUT = 0.1  # documents kept out of the tokenizer's training, for its compression figures


def model_lines() -> list[str]:
    """Which classifiers curate will use: the shipped defaults, or a plain statement that one is missing."""
    from trivium.mixtures.default_models import default_model

    lines = []
    for task in ("domain", "quality"):
        path = default_model(task)
        lines.append(f"{task} model: shipped default {path}" if path else
                     f"{task} model: NOT AVAILABLE in this installation (no shipped {task}.ftz): "
                     f"the {task} stage passes documents through unscored")
    return lines


def stage_files(stage_dir: str) -> list[str]:
    """The part files a committed stage lists (never its rejects/)."""
    from trivium.flows import io
    from trivium.flows.manifest import read_manifest

    m = read_manifest(stage_dir)
    if m is None:
        raise FileNotFoundError(f"no committed stage in {stage_dir}")
    return [io.join(stage_dir, f.path) for f in m.files]


def train_demo_tokenizer(curated: str, output: str, vocab_size: int = DEMO_VOCAB, seed: int = 0) -> dict:
    """A small BPE on the curated documents (a held-out tenth excepted), exported to `output`, and its
    compression per bucket on the held-out tenth written to `output/eval.json` (read by the report)."""
    from trivium.tokenizer.evaluate import evaluate, load_eval_tokenizer, select_eval_documents
    from trivium.tokenizer.export import export_tokenizer
    from trivium.tokenizer.sample import SampleSpec
    from trivium.tokenizer.train import TrainConfig, train_tokenizer

    files = stage_files(curated)
    spec = SampleSpec(seed=seed, holdout=DEMO_HOLDOUT)
    tok, report = train_tokenizer(files, spec, TrainConfig(vocab_size=vocab_size, workers=1))
    report["output"] = output
    export_tokenizer(tok, output, vocab_size=vocab_size, report=report)
    docs = select_eval_documents(files, split="heldout", spec=spec)
    result = evaluate(docs, [load_eval_tokenizer(output)]) if docs else None
    if result is not None:
        result["split"] = "heldout"
        Path(output, "eval.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    return {"report": report, "eval": result}


def shard_folders(run_dir: str) -> list[str]:
    """Packed folders (a shard manifest) under the run, for the closing message."""
    from trivium.flows.run_report import load_stages, packed_folders

    _, _, extras = load_stages(run_dir)
    return [f["folder"] for f in packed_folders(extras)]
