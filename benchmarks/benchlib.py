"""Small shared pieces of the benchmark scripts: child processes, peak RSS, statistics, tables.

Every measurement that needs its own peak RSS, its own BLAS binding or its own thread pool runs
in a fresh child interpreter (`run_child`): the child runs a snippet that ends by calling
`report(...)`, which prints one JSON line with the results and the process's peak RSS
(/proc/self/status VmHWM, falling back to ru_maxrss).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
SHARED_GOLDEN = REPO.parent / "shared" / "golden"
FIXTURES_GOLDEN = REPO / "fixtures" / "golden"
MB = 1e6
RESULT_TAG = "BENCH_RESULT "
# Some shared machines pin OpenBLAS's kernel (OPENBLAS_CORETYPE, older builds mis-detected their
# CPUs); a user's machine does not. Children run without the pin, so they measure the kernel
# OpenBLAS picks for this CPU itself; every table's BLAS line names it.
UNPINNED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# Prepended to every child snippet: `report(**values)` prints the result line.
CHILD_PRELUDE = f"""
import json as _json, os as _os, resource as _resource, sys as _sys
_sys.path[:0] = [{str(BENCH)!r}, {str(REPO)!r}]

def peak_rss_bytes():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if _sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss * scale

def report(**values):
    values["peak_rss"] = peak_rss_bytes()
    print({RESULT_TAG!r} + _json.dumps(values), flush=True)
"""


class ChildError(RuntimeError):
    pass


def run_child(snippet: str, args: list[str] | None = None, env: dict[str, str] | None = None, timeout: float = 3600) -> dict:
    """Run `snippet` in a fresh `python -c`; its `report(...)` values plus `process_s` (wall time
    of the whole child: interpreter start, imports, work, exit)."""
    code = CHILD_PRELUDE + textwrap.dedent(snippet)
    child_env = {k: v for k, v in os.environ.items() if k not in UNPINNED}
    child_env.update(env or {})
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), child_env.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *(args or [])], capture_output=True, text=True, env=child_env, timeout=timeout, cwd=REPO)
    elapsed = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise ChildError(f"child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len(RESULT_TAG) :])
    result["process_s"] = elapsed
    result["stderr"] = proc.stderr
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_s(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def fmt_mb(nbytes: float) -> str:
    return f"{nbytes / MB:.1f}"


_BLAS_LINE: str | None = None

BLAS_CHILD = """
import rvc_runtime
s = rvc_runtime.blas.status()
report(line=rvc_runtime.blas.describe(s) + (f" ({s['config']}; threads from {s['threads_from']})" if s["fast"] else f" ({s['reason']})"))
"""


def blas_line() -> str:
    """The BLAS and thread count an MLX child of this benchmark gets with this environment, e.g.
    'scipy-openblas32, 1 thread (OpenBLAS 0.3.34 DYNAMIC_ARCH ... Haswell ...; threads from default)'."""
    global _BLAS_LINE
    if _BLAS_LINE is None:
        try:
            _BLAS_LINE = run_child(BLAS_CHILD)["line"]
        except ChildError as error:
            _BLAS_LINE = f"unknown (rvc_runtime did not import: {str(error).splitlines()[-1][:120]})"
    return _BLAS_LINE


def print_table(headers: list[str], rows: list[list[str]], title: str | None = None, blas: bool = True) -> None:
    """A plain Markdown table (pastes into a README unchanged), followed by the BLAS line: which
    BLAS library and how many threads MLX children got (rows that differ say so themselves)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}\n")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
    if blas:
        print(f"\nBLAS for MLX: {blas_line()}")


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def print_header(title: str) -> None:
    """What the numbers were measured on: the machine is shared, so its load is part of the result."""
    print(f"# {title}")
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load_average()}, {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    pinned = [f"{name}={os.environ[name]}" for name in UNPINNED if os.environ.get(name)]
    if pinned:
        print(f"children run without {', '.join(pinned)} (OpenBLAS picks its kernel, as on a user's machine)")


def golden_file(relpath: str) -> Path | None:
    """The golden file from fixtures/golden/ or the shared set, or None."""
    for root in (FIXTURES_GOLDEN, SHARED_GOLDEN):
        if (root / relpath).exists():
            return root / relpath
    return None


def require_golden(relpath: str) -> Path:
    path = golden_file(relpath)
    if path is None:
        sys.exit(f"golden file {relpath} not found in {FIXTURES_GOLDEN} or {SHARED_GOLDEN}; nothing to benchmark")
    return path


def work_dir(name: str) -> Path:
    """A scratch folder under the system temp dir, kept between runs (cached inputs)."""
    path = Path(tempfile.gettempdir()) / "rvc-convert-bench" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
