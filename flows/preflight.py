"""What a run will read and write, checked before Spark or Prefect start.

A missing input, a glob that matches nothing, an output that cannot be written or an interrupted
stage folder among the inputs fails here, in seconds, with one line. A run whose every stage is
already committed for these inputs and this config is answered from its manifests alone.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

from trivium.flows import io
from trivium.flows.config import CurateConfig
from trivium.flows.ingest import is_hidden, printable
from trivium.flows.manifest import MANIFEST_NAME, Manifest, read_manifest
from trivium.flows.stage import StageDef, committed_match
from trivium.flows.stages import STAGES


class InputError(ValueError):
    """Inputs or output a run cannot use; the message is one line for the user."""


@dataclass
class StageOutcome:
    stage_dir: str
    manifest: Manifest


def stage_dir(output: str, index: int, name: str) -> str:
    return io.join(output, f"{index:02d}_{name}")


def enabled_stages(config: CurateConfig) -> list[tuple[int, StageDef]]:
    """The stages after ingest that this config runs, with their folder numbers."""
    return [(i, s) for i, s in enumerate(STAGES, start=1) if s.enabled(getattr(config, s.config_field))]


def ingest_inputs(files: list[io.FileRef]) -> list[str]:
    """What the ingest manifest records as its inputs: every file with its fingerprint."""
    return [f"{printable(f.url)}@{f.fingerprint}" for f in files]


def _location(url: str) -> tuple[str, str]:
    proto = io.protocol_of(url)
    path = io.fs_and_path(url)[1]
    if proto in ("file", "local"):
        path = os.path.realpath(path)
    return proto, path.rstrip("/")


def _inside(url: str, folder: tuple[str, str]) -> bool:
    proto, path = _location(url)
    return proto == folder[0] and (path == folder[1] or path.startswith(folder[1] + "/"))


STAGE_PART = re.compile(r"part-\d{5}-[0-9a-f]{12}\.parquet")  # as the stage runner names its files


def _stage_folders(urls: list[str]) -> set[str]:
    """Folders a trivium stage wrote: they hold a manifest, the runner's part files or `rejects/`."""
    folders = set()
    for url in urls:
        parent, name = posixpath.split(url)
        if name == MANIFEST_NAME or STAGE_PART.fullmatch(name) and posixpath.basename(parent) != "rejects":
            folders.add(parent)
        elif name.startswith("part-") and posixpath.basename(parent) == "rejects":
            folders.add(posixpath.dirname(parent))
    return folders


def _committed_files(urls: list[str]) -> tuple[list[str], list[str]]:
    """(the data files, the folders refused). A stage folder among the inputs gives only the kept
    files its committed manifest lists (never its rejects or a killed attempt's parts); one without a
    readable manifest is refused, since nothing in it can be trusted."""
    keep, refused = set(urls), []
    for folder in sorted(_stage_folders(urls)):
        manifest = read_manifest(folder)
        if manifest is None:
            refused.append(folder)
            continue
        listed = set(manifest.file_urls(folder))
        keep -= {u for u in urls if u.startswith(folder + "/") and u not in listed}
    return [u for u in urls if u in keep], refused


def plan_inputs(inputs: list[str], output: str | None = None, allow_empty: bool = False) -> list[io.FileRef]:
    """The data files of `inputs` (files, folders, globs): hidden files skipped, the output tree left
    out (an output folder inside an input folder is never read back), stage folders read through
    their manifests. Every input must give at least one file unless `allow_empty`."""
    out = _location(output) if output else None
    chosen: dict[str, io.FileRef] = {}
    for url in inputs:
        refs = {f.url: f for f in _reached(lambda: io.list_files([url]), f"input {printable(url)}")}
        urls = [u for u in refs if not (out and _inside(u, out))]
        urls, refused = _committed_files(urls)
        if refused:
            raise InputError(
                f"{printable(refused[0])} is a stage folder without a committed {MANIFEST_NAME} (an interrupted "
                "run?): re-run the stage that writes it, or remove the folder"
            )
        urls = [u for u in urls if not is_hidden(u)]
        if not urls and not allow_empty:
            what = "matches no files" if any(ch in url for ch in "*?[") else "holds no data files"
            skipped = len(refs) - len(urls)
            raise InputError(
                f"input {printable(url)} {what}"
                + (f" ({skipped} hidden, stage-bookkeeping or output files skipped)" if skipped else "")
                + "; pass --allow-empty to run on nothing"
            )
        chosen.update((u, refs[u]) for u in urls)
    return [chosen[u] for u in sorted(chosen)]


def _reached(call, what: str):
    """`call()`, with whatever a file system or object store raises (an unreachable endpoint, refused
    credentials, a path through a file) turned into one line that names `what`."""
    try:
        return call()
    except (InputError, FileNotFoundError):
        raise
    except Exception as err:  # noqa: BLE001 - botocore/aiohttp errors are not OSErrors
        detail = getattr(err, "strerror", None) or next((ln for ln in str(err).splitlines() if ln.strip()), "")
        raise InputError(f"cannot reach {what}: {type(err).__name__}: {detail}") from None


def check_output(output: str) -> None:
    """The output is a folder that can be created (local) and a location that can be reached."""
    fs, path = io.fs_and_path(output)

    def check() -> None:
        if fs.exists(path) and not fs.isdir(path):
            raise InputError(f"output {printable(output)} is a file, not a folder")
        if io.protocol_of(output) in ("file", "local"):
            os.makedirs(path, exist_ok=True)

    _reached(check, f"output {printable(output)}")


def committed_run(files: list[io.FileRef], output: str, config: CurateConfig) -> list[StageOutcome] | None:
    """Every stage's manifest when all of them are committed for these files and this config (the
    run would skip every stage), else None."""
    folder = stage_dir(output, 0, "ingest")
    manifest = committed_match("ingest", folder, config.ingest, ingest_inputs(files))
    if manifest is None:
        return None
    outcomes = [StageOutcome(folder, manifest)]
    for index, sdef in enabled_stages(config):
        folder = stage_dir(output, index, sdef.name)
        upstream = [outcomes[-1].manifest.fingerprint()]
        manifest = committed_match(sdef.name, folder, getattr(config, sdef.config_field), upstream)
        if manifest is None:
            return None
        outcomes.append(StageOutcome(folder, manifest))
    return outcomes
