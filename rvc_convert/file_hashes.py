"""sha256 of files, remembered between runs by what the file system says about them.

A no-change `bundle` rerun must know that every source and output is what the manifest recorded.
Re-reading gigabytes to find out costs seconds; instead the digest of a file is stored with its
identity (device, inode, size, modification and change times in ns) under the cache folder
(resources.cache_dir(): $RVC_CONVERT_CACHE, default ~/.cache/rvc-convert), and re-used while that
identity is unchanged, as git's index and rsync do. Any write to a file changes its change time,
which no user can set back; a file changed within the last RACY_SECONDS is never remembered (file
systems with coarse timestamps could otherwise hide a second write in the same tick).
`rehash_all()` (bundle --paranoid) ignores what is remembered; `verify` always re-reads.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .reader import file_sha256
from .resources import cache_dir

RACY_SECONDS = 2.0
_REHASH_ALL = contextvars.ContextVar("rvc_convert_rehash_all", default=False)


@contextlib.contextmanager
def rehash_all(enabled: bool = True) -> Iterator[None]:
    """Within the block, sha256_of reads every file (and refreshes what is remembered)."""
    token = _REHASH_ALL.set(enabled)
    try:
        yield
    finally:
        _REHASH_ALL.reset(token)


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _record_path(path: Path) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    return folder / "file-sha256" / hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()


def _store(path: Path, record: Path, identity: list[int], digest: str) -> None:
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        temp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps({"path": os.path.abspath(path), "identity": identity, "sha256": digest}))
        os.replace(temp, record)
    except OSError:
        pass  # an unwritable cache only means reading the file next time


def remember(path: str | os.PathLike, digest: str) -> None:
    """Record the digest of a file this process has just written from bytes it hashed itself (a
    bundle's published outputs), so that the next run need not read it back."""
    path = Path(path)
    record = _record_path(path)
    if record is not None:
        _store(path, record, _identity(path.stat()), digest)


def sha256_of(path: str | os.PathLike) -> str:
    """The file's sha256: remembered while its identity is unchanged, else read (and remembered)."""
    path = Path(path)
    before = _identity(path.stat())
    record = _record_path(path)
    if record is not None and not _REHASH_ALL.get():
        try:
            saved = json.loads(record.read_text())
            if saved["identity"] == before and isinstance(saved["sha256"], str):
                return saved["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    digest = file_sha256(path)
    after = path.stat()
    racy = time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) < RACY_SECONDS * 1e9
    if record is not None and _identity(after) == before and not racy:
        _store(path, record, before, digest)
    return digest
