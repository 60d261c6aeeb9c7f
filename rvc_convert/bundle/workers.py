"""The worker pool: every conversion job runs in a spawned process with one BLAS thread, staging
its files through the shared convert-then-validate path (rvc_convert.staging) and sending back a
JobOutcome, never an exception. A worker that dies fails its own job only."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import EXIT_INTERNAL, EXIT_VALIDATION_FAILED, RvcConvertError
from ..families import family_named
from ..reader import file_sha256
from ..staging import stage
from .manifest import validation_figures
from .records import AssetRecord, Failure, Job, JobOutcome, StagedFile
from .transaction import crash_point, stop_processes

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
STAGED_NAME = "asset"  # every job stages `asset.<ext>`; the bundle renames by content

Event = dict[str, Any]
EventSink = Callable[[Event], None]

_worker_events: Any = None  # the event queue in a worker process


PARENT_POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _exit_with_parent(parent: int) -> None:
    """A worker must not outlive the bundle run that spawned it, whatever killed the run (kill -9
    included): on Linux the kernel sends it SIGKILL when its parent dies (PR_SET_PDEATHSIG); everywhere a
    watchdog thread exits it once it has been re-parented. Checked once more after arming, in case
    the parent died before."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(PARENT_POLL_S)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _init_worker(events: Any, parent: int) -> None:
    global _worker_events
    _exit_with_parent(parent)
    _worker_events = events
    events.put(("worker", os.getpid()))  # so the parent can stop exactly its own workers


def _run_job_in_worker(job: Job) -> JobOutcome:
    def emit(phase: str, fraction: float | None) -> None:
        _worker_events.put(("phase", job.id, phase, fraction))

    return run_job(job, emit)


def _staged_file(path: Path) -> StagedFile:
    return StagedFile(str(path), file_sha256(path), path.stat().st_size, path.suffix)


def run_job(job: Job, emit: Callable[[str, float | None], None]) -> JobOutcome:
    """Convert one source into the job's staging folder and validate it. An outcome back, never an exception."""
    started = time.perf_counter()
    last_step = -1

    def tensor_progress(done: int, total: int) -> None:
        nonlocal last_step
        step = 20 * done // max(total, 1)
        if step != last_step:
            last_step = step
            emit("converting", done / max(total, 1))

    def finished(**fields: Any) -> JobOutcome:
        return JobOutcome(job.id, seconds=round(time.perf_counter() - started, 3), **fields)

    variant = None
    try:
        emit("reading", None)
        try:
            staged = stage(job.source, job.target, job.staging, job.dtype, STAGED_NAME, tensor_progress, lambda: emit("validating", None))
        except ImportError as exc:
            # Not shipping what could not be checked.
            return finished(error=Failure("validation_unavailable", f"{job.label}: cannot validate this model ({exc})", EXIT_VALIDATION_FAILED))
        result, report = staged.result, staged.report
        variant = result.info.variant
        validation = validation_figures(report)
        if not report.ok:
            failed = (report.failures() or ["unknown"])[0]
            return finished(variant=variant, validation=validation, error=Failure("validation", f"{job.label}: the converted file failed validation ({failed})", EXIT_VALIDATION_FAILED))
        family = family_named(result.info.family)
        record = AssetRecord(
            family=result.info.family,
            kind=result.info.kind,
            variant=family.describe_variant(result.info),
            dtype=result.output_dtype,
            rule_pack=result.plan.pack.name,
            rules_sha256=result.plan.pack.sha256,
            validation=validation,
            contract=family.asset_contract(result.info),
        )
        outcome = finished(
            ok=True,
            variant=variant,
            validation=validation,
            read_sha256=result.loaded.sha256 if result.loaded else None,
            weights=_staged_file(result.weights_path),
            config=_staged_file(result.config_path),
            record=record,
        )
        emit("staged", None)
        return outcome
    except RvcConvertError as exc:
        return finished(variant=variant, error=Failure.of(exc))
    except Exception as exc:  # a bug: report it against this asset and keep building the others
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"{job.label}: internal error {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno}; please report it)"
        return finished(variant=variant, error=Failure("internal", message, EXIT_INTERNAL))


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Spawned workers inherit the environment: one BLAS thread each, since the processes already fill
    the cores (on a 2-core Linux box OpenBLAS's own threads made the MLX smoke test ~9x slower)."""
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_jobs(jobs: list[Job], workers: int, on_event: EventSink, names: dict[str, list[str]], on_result: Callable[[str, JobOutcome], None]) -> None:
    """Run every job in up to `workers` spawned processes, handing each outcome to on_result as it
    arrives (then the test hook may fire). A worker that dies fails its own job only."""
    if not jobs:
        return
    context = multiprocessing.get_context("spawn")  # fork is unsafe beside the progress thread, and on macOS
    events = context.Queue()
    worker_pids: set[int] = set()

    def drain() -> None:
        while True:
            try:
                kind, *payload = events.get_nowait()
            except Exception:  # queue.Empty, or a queue torn down by a dead worker
                return
            if kind == "worker":
                worker_pids.add(payload[0])
            else:
                job_id, phase, fraction = payload
                on_event({"event": "phase", "names": names[job_id], "phase": phase, "fraction": fraction})

    with _worker_environment(), ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context, initializer=_init_worker, initargs=(events, os.getpid())) as pool:
        futures = {pool.submit(_run_job_in_worker, job): job for job in jobs}  # workers are spawned here
        pending, finished = set(futures), 0
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                drain()
                for future in done:
                    job = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as exc:  # the worker died (a crash in native code, out of memory)
                        message = f"{job.label}: the worker process died ({type(exc).__name__}: {exc})"
                        outcome = JobOutcome(job.id, error=Failure("internal", message, EXIT_INTERNAL))
                    on_result(job.id, outcome)
                    finished += 1
                    crash_point("staged", finished, worker_pids)
        except BaseException:  # Ctrl-C: stop the workers and the queued jobs now; the next run clears staging
            drain()
            stop_processes(worker_pids, signal.SIGTERM)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        drain()
    events.close()
