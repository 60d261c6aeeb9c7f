"""Bundle workers never outlive their run: `kill -9` of a running `bundle --jobs 2` once left its
workers (~300 MB each) alive indefinitely, re-parented to init and blocked on a pipe read.

The workers are held inside their jobs by the RVC_CONVERT_TEST_PAUSE_AT hook (rvc_convert/lifecycle.py)
so they are surely running when the parent is killed; nobody ever releases them, so a worker that
is still alive afterwards would stay alive until the hook's own 120 s limit."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from golden import golden_path
from outputs import subprocess_env

MODELS = ("synth/models/v2-48k-f0-tiny.pth", "synth/models/v1-40k-f0-tiny.pth", "synth/models/v2-32k-nof0-tiny.pth")
WORKER_EXIT_S = 30  # a liveness bound, far above the ~0.5 s a worker needs to notice


def children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_bundle_run_dies(how, tmp_path):
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("RVC_CONVERT_TEST_")}
    env["RVC_CONVERT_TEST_PAUSE_AT"] = f"write-config:{tmp_path / 'never'}"
    # eight voices: without the hook too, the run is still converting when it is killed
    sources = []
    for index in range(8):
        copy = tmp_path / "models" / f"voice{index}.pth"
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(golden_path(MODELS[index % len(MODELS)]).read_bytes())
        sources.append(str(copy))
    run = subprocess.Popen([sys.executable, "-m", "rvc_convert", "bundle", *sources, "-o", str(tmp_path / "out"), "--jobs", "2"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            # spawn's resource tracker is a child too; the workers are the ones that run rvc_convert jobs
            workers = {pid for pid in children(run.pid) if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes() and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()}
            time.sleep(0.1)
        assert len(workers) >= 2, "the bundle run never started two workers"
        time.sleep(1.5)  # let them reach a job
        os.kill(run.pid, how)
        run.wait(60)
        deadline = time.monotonic() + WORKER_EXIT_S
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [pid for pid in workers if alive(pid)]
        assert not survivors, f"workers {survivors} outlived the bundle run (killed by signal {how})"
    finally:
        if run.poll() is None:
            run.kill()
        for pid in workers:  # never leave a failure's survivors behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
