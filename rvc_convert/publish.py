"""Publishing an asset's files (weights and config) as one unit, and cleaning up after runs that died.

Files are written into a private staging folder `.rvc-convert-<random>/` inside the destination
(same file system, so every move is an atomic rename), which its run holds an flock on. Publishing:
  1. fsync the staged files; hard-link (or copy) every file about to be replaced into
     `previous/` of the staging folder;
  2. write the journal `publish.json` (staged name -> final name): the commit point;
  3. rename each staged file over its final name, as a section SIGTERM cannot cut;
  4. fsync the destination; remove the staging folder.
A failure in 3 (a full disk, a folder in the way) renames the previous files back: the old pair
stays, whole. A run killed in 3 (SIGKILL, a power cut) leaves its journal: the next run into the
folder finishes the renames, so the pair on disk is always one asset's. A staging folder whose
run died (its lock is free) is removed by the next run; one whose run still works is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from .errors import InputIOError, UsageError
from .lifecycle import critical, fault_point

STAGING_PREFIX = ".rvc-convert-"
LOCK_NAME = ".lock"
JOURNAL_NAME = "publish.json"
PREVIOUS_DIR = "previous"
LEFTOVER_AGE_S = 3600  # without flock (Windows): a staging folder this old is a dead run's
PLAIN_NAME = re.compile(r"[^/\\\0]+")


def fsync_path(path: Path) -> None:
    """fsync a file or folder, best effort (not every file system syncs folders; a rename is still atomic)."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # not every file system syncs directories; a rename is still atomic
    finally:
        os.close(handle)


def _lock(folder: Path) -> int | None:
    """Hold an exclusive flock on the staging folder's lock file for as long as this process lives."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _owner_alive(folder: Path) -> bool:
    """Whether the run that made this staging folder is still working (it holds the folder's lock)."""
    try:
        import fcntl
    except ImportError:
        return time.time() - folder.stat().st_mtime < LEFTOVER_AGE_S
    try:
        handle = os.open(folder / LOCK_NAME, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:  # between mkdtemp and the lock, or a staging folder of an older version
        return time.time() - folder.stat().st_mtime < 60
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


def _journal_pairs(folder: Path) -> list[tuple[str, str]]:
    """The journal's (staged, final) names; only plain file names, never a path."""
    try:
        data = json.loads((folder / JOURNAL_NAME).read_text(encoding="utf-8"))
        pairs = [(str(a), str(b)) for a, b in data["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [(a, b) for a, b in pairs if PLAIN_NAME.fullmatch(a) and PLAIN_NAME.fullmatch(b) and a not in (".", "..") and b not in (".", "..")]


def recover_leftovers(final_dir: Path) -> list[str]:
    """Finish or remove what runs that died left in `final_dir`; returns what was done, for notes."""
    done: list[str] = []
    try:
        entries = list(final_dir.iterdir())
    except OSError:
        return done
    for folder in entries:
        if not folder.name.startswith(STAGING_PREFIX) or folder.is_symlink() or not folder.is_dir() or _owner_alive(folder):
            continue
        for staged, final in _journal_pairs(folder):
            source = folder / staged
            if source.is_file() and not source.is_symlink():
                os.replace(source, final_dir / final)  # a killed publish: its files are complete and checked
                done.append(f"finished publishing {final} (a run that was killed mid-publish)")
        shutil.rmtree(folder, ignore_errors=True)
        done.append(f"removed {folder.name} (left by a run that died)")
    if done:
        fsync_path(final_dir)
    return done


@contextlib.contextmanager
def staging_folder(final_dir: Path) -> Iterator[Path]:
    """A private, locked staging folder in `final_dir`, removed whatever happens (SIGTERM included)."""
    recover_leftovers(final_dir)
    folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=final_dir))
    lock = None
    try:
        lock = _lock(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def check_destinations(source: Path, finals: list[Path]) -> None:
    """Refuse outputs that would replace an input (the model file, or any file of a model folder)
    or that a folder stands in the way of, before anything is written."""
    source = Path(source)
    inputs = [source]
    if source.is_dir():
        inputs += [p for p in source.iterdir() if p.is_file()]
    resolved_inputs = {p.resolve(): p for p in inputs}
    for final in finals:
        if final.is_dir() and not final.is_symlink():
            raise InputIOError(f"{final}: a folder is in the way of the output file; move or rename it, or pass --name")
        hit = resolved_inputs.get(final.resolve())
        if hit is None and final.exists():
            hit = next((p for p in inputs if p.exists() and os.path.samefile(p, final)), None)
        if hit is not None:
            raise UsageError(f"the output {final} would overwrite the input {hit}; pass -o with another folder or --name with another name")


def write_failure(folder: Path, exc: OSError, what: str) -> InputIOError:
    """A write into `folder` failed (a full disk, a file-size limit, permissions): exit 5, naming the folder."""
    shown = folder.parent if folder.name.startswith(STAGING_PREFIX) else folder
    return InputIOError(f"cannot write {what} into {shown}: {exc.strerror or exc}; nothing was changed there")


def publish(pairs: list[tuple[Path, Path]], final_dir: Path, folder: Path) -> None:
    """Move staged files (inside `folder`) to their final names in `final_dir` as one unit (module docstring)."""
    for staged, _ in pairs:
        fsync_path(staged)
    previous = folder / PREVIOUS_DIR
    previous.mkdir(exist_ok=True)
    backups: dict[Path, Path] = {}
    try:
        for _, final in pairs:
            if final.is_file():
                backup = previous / final.name
                try:
                    os.link(final, backup, follow_symlinks=False)
                except (OSError, NotImplementedError):  # a file system (or OS) without hard links of links
                    shutil.copy2(final, backup, follow_symlinks=False)
                backups[final] = backup
        journal = folder / JOURNAL_NAME
        temp = folder / f"{JOURNAL_NAME}.partial"
        temp.write_text(json.dumps({"files": [[staged.name, final.name] for staged, final in pairs]}), encoding="utf-8")
        fsync_path(temp)
        os.replace(temp, journal)
        fsync_path(folder)
    except OSError as exc:
        raise write_failure(final_dir, exc, "the previous files' backup") from None
    done: list[Path] = []
    with critical():
        try:
            for staged, final in pairs:
                os.replace(staged, final)
                done.append(final)
                if len(done) == 1:
                    fault_point("published-one")
            fsync_path(final_dir)
        except BaseException as exc:
            for final in reversed(done):  # put the previous pair back (or take the new file away)
                if final in backups:
                    os.replace(backups[final], final)
                else:
                    final.unlink(missing_ok=True)
            journal.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise write_failure(final_dir, exc, ", ".join(final.name for _, final in pairs)) from None
            raise
    journal.unlink(missing_ok=True)
