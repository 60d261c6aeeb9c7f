"""How a run ends: termination signals become an exception (so every `finally` cleans up), a
critical section defers them (so a publish is never cut between its renames), and the test hooks
that stand in for a full disk, a crash or a slow step.

Test hooks (environment variables; tests only):
  RVC_CONVERT_TEST_FAIL_AT=<point>        raise "No space left on device" at <point>
  RVC_CONVERT_TEST_CRASH_AT=<point>       die like `kill -9` at <point>
  RVC_CONVERT_TEST_PAUSE_AT=<point>:<file> wait at <point> until <file> exists (at most 120 s)
Points: `write-config` (a conversion writes its sidecar), `staged` (staged and validated, before
publishing), `publish` and `published-one` (between the renames of a publish).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterator

FAIL_ENV, CRASH_ENV, PAUSE_ENV = "RVC_CONVERT_TEST_FAIL_AT", "RVC_CONVERT_TEST_CRASH_AT", "RVC_CONVERT_TEST_PAUSE_AT"
PAUSE_LIMIT_S = 120
TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(BaseException):
    """SIGTERM/SIGHUP arrived: unwinds like Ctrl-C, so cleanup runs; the CLI exits 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_deferred: list[int] = []
_critical_depth = 0


def _on_signal(signum: int, frame: Any) -> None:
    if _critical_depth:
        _deferred.append(signum)  # raised when the critical section ends
        return
    raise Terminated(signum)


def install_termination_handlers() -> None:
    """Turn SIGTERM and SIGHUP into Terminated (main thread of the main program only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in TERMINATION_SIGNALS:
        signal.signal(signum, _on_signal)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A section a termination signal must not cut (the renames of a publish): the signal is
    honoured as soon as the section ends."""
    global _critical_depth
    _critical_depth += 1
    try:
        yield
    finally:
        _critical_depth -= 1
        if not _critical_depth and _deferred:
            raise Terminated(_deferred.pop())


def fault_point(point: str) -> None:
    """The test hooks of the module docstring; nothing at all unless one is set."""
    if os.environ.get(FAIL_ENV) == point:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        os._exit(137)
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.startswith(f"{point}:"):
        release = Path(pause.split(":", 1)[1])
        deadline = time.monotonic() + PAUSE_LIMIT_S
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
