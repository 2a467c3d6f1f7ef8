"""File access through fsspec, so local disks and s3:// share one code path (no hadoop-aws here)."""

from __future__ import annotations

import hashlib
import os
import posixpath
import uuid
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs


def configure(options) -> None:
    """Default keyword arguments per protocol (e.g. {"s3": {"endpoint_url": ..., "key": ...}}) for every
    filesystem opened from now on in this process; Spark tasks re-apply the driver's at their start.
    A config's storage section (anything with `fsspec_options()`) is unwrapped first."""
    if hasattr(options, "fsspec_options"):
        options = options.fsspec_options()
    for protocol, kwargs in (options or {}).items():
        fsspec.config.conf.setdefault(protocol, {}).update(kwargs)


def current_options() -> dict[str, dict]:
    return {p: dict(kw) for p, kw in fsspec.config.conf.items()}


def fs_and_path(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return url_to_fs(url)


def protocol_of(url: str) -> str:
    fs, _ = fs_and_path(url)
    proto = fs.protocol
    return proto[0] if isinstance(proto, (tuple, list)) else proto


def join(base: str, *parts: str) -> str:
    if "://" in base:
        scheme, rest = base.split("://", 1)
        return f"{scheme}://{posixpath.join(rest, *parts)}"
    return posixpath.join(base, *parts)


def unstrip(fs: fsspec.AbstractFileSystem, path: str, like: str) -> str:
    """fsspec lists paths without their scheme; put it back so tasks can reopen them."""
    if "://" in like and "://" not in path:
        scheme = like.split("://", 1)[0]
        return f"{scheme}://{path}"
    return path


@dataclass(frozen=True)
class FileRef:
    """A file as the driver saw it; `fingerprint` changes when the file does."""

    url: str
    size: int
    fingerprint: str


def _fingerprint(info: dict) -> str:
    # S3 gives an ETag; local files an mtime. Either changes when the content does.
    tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
    return f"{info.get('size', 0)}:{tag}"


def list_files(urls: list[str]) -> list[FileRef]:
    """Expand files, directories (recursively) and globs into a sorted, de-duplicated file list."""
    found: dict[str, FileRef] = {}
    for url in urls:
        fs, path = fs_and_path(url)
        if any(ch in path for ch in "*?["):
            candidates = fs.glob(path, detail=True)
        elif fs.isdir(path):
            candidates = fs.find(path, detail=True, withdirs=False)
        elif fs.exists(path):
            candidates = {path: fs.info(path)}
        else:
            raise FileNotFoundError(f"input not found: {url}")
        for p, info in sorted(candidates.items()):
            if info.get("type") == "directory":
                continue
            full = unstrip(fs, p, url)
            found[full] = FileRef(full, int(info.get("size") or 0), _fingerprint(info))
    return [found[k] for k in sorted(found)]


def read_bytes(url: str) -> bytes:
    with fsspec.open(url, "rb") as f:
        return f.read()


def write_bytes(url: str, data: bytes) -> None:
    fs, path = fs_and_path(url)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    with fs.open(path, "wb") as f:
        f.write(data)


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Readers see the old content or the new, never half of it: a local file is written beside its
    target, synced and renamed over it; an object store's PUT is atomic already."""
    fs, path = fs_and_path(url)
    if protocol_of(url) not in ("file", "local"):
        write_bytes(url, data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def exists(url: str) -> bool:
    fs, path = fs_and_path(url)
    return fs.exists(path)


def remove(url: str) -> None:
    fs, path = fs_and_path(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


class HashingWriter:
    """A write-only file wrapper that hashes and counts what passes through it."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()

    def tell(self) -> int:
        return self.bytes

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        self._raw.close()
