"""The atomic update of a bundle folder: lock, journal, publish, commit, collect, and recovery.

In this order, under an exclusive flock on the output folder:
  1. recover: finish what an interrupted run left (step 6 using the journal and whichever manifest
     is current), delete `.rvc-staging/` and stray temp files;
  2. stage: every job writes only inside `.rvc-staging/` (workers.py);
  3. journal: `.rvc-bundle.journal.json` (atomic) lists every file the old manifest names and
     every file about to be placed;
  4. publish: new files are renamed into the folder (same file system, so `rename` is atomic)
     under names the old manifest cannot reference (content-addressed: a different name, or the
     same name only for the same bytes);
  5. commit: `manifest.json` is replaced atomically (temp + fsync + rename + directory fsync): the
     single point where the bundle switches from old to new;
  6. collect: journal files the current manifest does not name are deleted, then the journal.
Killed before 5, the folder holds the old manifest and all its files (plus unreferenced new files
that `verify` reports as pending and the next run deletes); killed after 5, the new bundle is
complete. A rerun with nothing changed writes nothing.

Test hook: RVC_CONVERT_TEST_CRASH_AFTER=N kills the build (SIGKILL, worker processes first) once
N jobs are committed to staging; `published` kills it after step 4, `committed` after step 5.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputIOError, RvcConvertError
from ..reader import read_text_file
from ..publish import fsync_path
from ..writer import atomic_output
from .manifest import MANIFEST_NAME, manifest_file_names, manifest_text, read_manifest
from .records import Placement

STAGING_DIR = ".rvc-staging"
JOURNAL_NAME = ".rvc-bundle.journal.json"
CRASH_HOOK_ENV = "RVC_CONVERT_TEST_CRASH_AFTER"
# <asset name>[-index].<sha256[:12]>.<ext>: an asset name is at most 64 characters; `.index` is
# what manifest format 1 shipped (a voice's index copied unconverted), still collected on rebuild
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,69}\.[0-9a-f]{12}\.(safetensors|npz|json|index)$")


@contextlib.contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """An exclusive flock on the folder itself (no lock file to ship): one bundle run per folder at a time."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent runs are the user's to avoid
        yield
        return
    handle = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputIOError(f"{out_dir}: another rvc-convert bundle run is updating this folder; wait for it to finish") from None
        yield
    finally:
        os.close(handle)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_durably(path: Path, text: str) -> None:
    with atomic_output(path) as temp:
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    fsync_path(path.parent)


def stop_processes(pids: set[int], how: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, how)


def crash_point(point: str, staged: int = 0, worker_pids: set[int] = frozenset()) -> None:
    """The test hook (module docstring): die like `kill -9` at a named point of the update, workers first."""
    wanted = os.environ.get(CRASH_HOOK_ENV, "")
    if not wanted or not (wanted == point or (point == "staged" and wanted.isdigit() and staged == int(wanted))):
        return
    kill = getattr(signal, "SIGKILL", signal.SIGTERM)
    stop_processes(worker_pids, kill)
    os.kill(os.getpid(), kill)
    os._exit(137)


def safe_names(names: Any) -> set[str]:
    """Journal entries are deleted later: only plain bundle file names, never a path."""
    return {n for n in names if isinstance(n, str) and FILE_NAME_PATTERN.match(n)} if isinstance(names, list) else set()


def _remove_unreferenced(out_dir: Path, candidates: set[str], referenced: set[str]) -> list[str]:
    removed = []
    for name in sorted(candidates - referenced):
        path = out_dir / name
        if path.exists():
            path.unlink()
            removed.append(name)
    return removed


def recover_interrupted_run(out_dir: Path, warnings: list[str]) -> list[str]:
    """Finish step 6 of a run that was killed, against whichever manifest is current; drop its staging and temp files."""
    removed: list[str] = []
    journal = out_dir / JOURNAL_NAME
    if journal.exists():
        try:
            candidates = safe_names(json.loads(read_text_file(journal, 1 << 20, "bundle journal")).get("files"))
            current = manifest_file_names(read_manifest(out_dir)) if (out_dir / MANIFEST_NAME).exists() else set()
            removed = _remove_unreferenced(out_dir, candidates, current)
        except (RvcConvertError, ValueError, AttributeError, OSError) as exc:
            warnings.append(f"could not finish the interrupted run's clean-up ({exc}); `rvc-convert verify` lists what it left")
        journal.unlink(missing_ok=True)
    shutil.rmtree(out_dir / STAGING_DIR, ignore_errors=True)
    for stray in (p for p in out_dir.iterdir() if is_temp_file(p.name)):
        stray.unlink(missing_ok=True)
    if removed or journal.exists():
        fsync_path(out_dir)
    return removed


def is_temp_file(name: str) -> bool:
    """writer.atomic_output's temp files for the manifest and the journal (`.<name>.<random>.partial`)."""
    return name.endswith(".partial") and any(name.startswith(f".{own}.") for own in (MANIFEST_NAME, JOURNAL_NAME))


def _hard_link(source: Path, link: Path) -> bool:
    try:
        os.link(source, link)
        return True
    except OSError:  # a file system without hard links
        return False


def _publish(out_dir: Path, placements: list[Placement]) -> None:
    """Step 4: rename each new file into the folder; a hard link from staging where possible, else a copy."""
    scratch = out_dir / STAGING_DIR / "publish"
    scratch.mkdir(parents=True, exist_ok=True)
    for placement in placements:
        temp = scratch / placement.name
        temp.unlink(missing_ok=True)
        if not (placement.ours and _hard_link(placement.source, temp)):
            shutil.copyfile(placement.source, temp)
        _fsync_file(temp)
        os.replace(temp, out_dir / placement.name)
    fsync_path(out_dir)


def commit_bundle(out_dir: Path, manifest: dict[str, Any], placements: list[Placement], previous_names: set[str]) -> tuple[bool, list[str]]:
    """Steps 3-6 of the update. Returns (manifest written, files removed). Writes nothing when nothing changed."""
    text = manifest_text(manifest)
    manifest_path = out_dir / MANIFEST_NAME
    old_text = manifest_path.read_text(encoding="utf-8") if manifest_path.exists() else None
    if text == old_text and not placements:
        return False, []
    journal = out_dir / JOURNAL_NAME
    candidates = previous_names | {p.name for p in placements}
    _write_durably(journal, json.dumps({"files": sorted(candidates)}, indent=2) + "\n")
    _publish(out_dir, placements)
    crash_point("published")
    written = text != old_text
    if written:
        _write_durably(manifest_path, text)
    crash_point("committed")
    removed = _remove_unreferenced(out_dir, candidates, manifest_file_names(manifest))
    journal.unlink()
    fsync_path(out_dir)
    return written, removed


def older_format_file_names(out_dir: Path) -> set[str]:
    """The file names an older-format manifest.json in out_dir lists (read without its schema, each
    name checked against the bundle's file-name pattern): what a rebuild may delete once the new
    manifest replaces it. Empty when there is none or it is not readable."""
    try:
        old = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
        assets = [old.get(key) for key in old if isinstance(old.get(key), dict)] + [a for v in old.values() if isinstance(v, list) for a in v]
        names = [record.get("path") for asset in assets if isinstance(asset, dict) for record in (asset.get("files") or {}).values() if isinstance(record, dict)]
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return set()
    return safe_names(names)
