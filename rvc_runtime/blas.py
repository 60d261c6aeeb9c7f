"""Give MLX's Linux CPU wheel an optimized BLAS, from pip-installed wheels alone.

MLX's Linux wheel calls ``cblas_sgemm`` (and ``cblas_dgemm``, ``cblas_cgemm``) from a bundled
reference BLAS (~6 GFLOP/s on a 2-core x86_64). A library loaded with RTLD_GLOBAL *before*
``mlx.core`` that defines those names takes those calls instead (~30x faster convolutions). This
module picks that library, loads it, sets its thread count and says what it did:
:func:`status`. It must not import mlx: ``rvc_runtime/__init__.py`` calls :func:`enable` before
any module that imports ``mlx.core``. On macOS MLX uses Accelerate and nothing happens here.

Candidates, best first (the first that loads wins; every failure is kept in ``status()["tried"]``):

1. ``scipy-openblas32`` (the runtime extra installs it on Linux): OpenBLAS with nothing outside
   libc, x86_64 and aarch64 wheels, BSD licence. It exports ``scipy_cblas_*``; an in-memory copy
   with its CBLAS symbols renamed to ``cblas_*`` is loaded (``elf_symbols.py``).
2. ``cmeel-openblas``, if installed: needs the system's ``libgfortran.so.5``.
3. A system OpenBLAS (Debian's ``libopenblas0-pthread``).

Environment:
``RVC_RUNTIME_BLAS``: unset/``auto`` tries the list; ``off`` keeps MLX's reference BLAS; a
candidate's name (``scipy-openblas32``, ``cmeel-openblas``, ``system``) tries only that one; a
path tries that library (it must export ``cblas_sgemm``) and then the list.
``RVC_RUNTIME_BLAS_THREADS``: the BLAS thread count; otherwise ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS`` as OpenBLAS reads them; otherwise :data:`DEFAULT_THREADS`.

Nothing is printed unless something is wrong (no optimized BLAS, or mlx imported first): then
one line on stderr.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import sys
import time
from pathlib import Path

ENV_VAR = "RVC_RUNTIME_BLAS"
THREADS_ENV_VAR = "RVC_RUNTIME_BLAS_THREADS"
# Chosen by benchmarks/bench_blas.py (docs/blas.md): on 2 shared cores a second BLAS thread
# gains little when the machine is idle and costs up to several times when it is busy.
DEFAULT_THREADS = 1
OFF_VALUES = ("0", "off", "none", "no")
SYSTEM_OPENBLAS = (
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
)
SCIPY_PREFIX = b"scipy_"
CBLAS = b"cblas_"

_status: dict | None = None
_library: ctypes.CDLL | None = None  # kept alive for the life of the process
_prefix = ""  # the loaded library's prefix for its own functions (openblas_set_num_threads, ...)


class BlasLoadError(OSError):
    pass


# --- where the candidates are --------------------------------------------------------------------


def scipy_openblas32_path() -> Path | None:
    """libscipy_openblas.so of the scipy-openblas32 wheel, found without importing the package
    (its __init__ would load the library under its prefixed names)."""
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    found = sorted(lib_dir.glob("libscipy_openblas*.so*"))
    return found[0] if found else None


def cmeel_openblas_path() -> Path | None:
    """libopenblas.so.0 shipped by the PyPI package cmeel-openblas, if installed."""
    try:
        dist = importlib.metadata.distribution("cmeel-openblas")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == "libopenblas.so.0":
            path = Path(dist.locate_file(file))
            if path.exists():
                return path
    return None


def system_openblas_path() -> Path | None:
    for path in SYSTEM_OPENBLAS:
        if Path(path).exists():
            return Path(path)
    return None


FINDERS = {
    "scipy-openblas32": scipy_openblas32_path,
    "cmeel-openblas": cmeel_openblas_path,
    "system": system_openblas_path,
}
WHY = {
    "scipy-openblas32": "the runtime extra's OpenBLAS wheel (self-contained), CBLAS symbols renamed in an in-memory copy",
    "cmeel-openblas": "cmeel-openblas with the system's libgfortran",
    "system": "the system's OpenBLAS",
}


def candidate_libraries() -> list[tuple[str, str]]:
    """(source, path) pairs to try, best first, as RVC_RUNTIME_BLAS selects them."""
    choice = os.environ.get(ENV_VAR, "").strip()
    if choice in FINDERS:
        names = [choice]
    else:
        names = list(FINDERS)
    candidates = []
    if choice and choice.lower() != "auto" and choice not in FINDERS:
        candidates.append((f"env {ENV_VAR}", choice))
    for name in names:
        path = FINDERS[name]()
        if path is not None:
            candidates.append((name, str(path)))
    return candidates


# --- loading --------------------------------------------------------------------------------------


def _load(source: str, path: str) -> tuple[ctypes.CDLL, str, str]:
    """Load one candidate globally: (handle, what the loader mapped, prefix of its own functions)."""
    if source == "scipy-openblas32":
        from .elf_symbols import unprefixed_copy

        fd, _renamed = unprefixed_copy(path, SCIPY_PREFIX, CBLAS)
        try:
            handle = ctypes.CDLL(f"/proc/self/fd/{fd}", mode=ctypes.RTLD_GLOBAL)
        finally:
            os.close(fd)  # the mapping keeps the memory file alive
        loaded_as, prefix = f"/memfd:{os.path.basename(path)}", SCIPY_PREFIX.decode()
    else:
        handle = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        loaded_as, prefix = os.path.realpath(path), ""
    try:
        handle.cblas_sgemm  # what MLX calls; a library without it would change nothing
    except AttributeError:
        raise BlasLoadError(f"{path} does not export cblas_sgemm") from None
    return handle, loaded_as, prefix


def _function(name: str):
    """The loaded library's `name` (e.g. openblas_get_num_threads) under its prefix, or None."""
    if _library is None:
        return None
    try:
        return getattr(_library, _prefix + name)
    except AttributeError:
        return None


def _text(name: str) -> str | None:
    function = _function(name)
    if function is None:
        return None
    function.restype = ctypes.c_char_p
    value = function()
    return value.decode(errors="replace").strip() if value else None


def threads() -> int | None:
    """The BLAS thread count in force, or None when no optimized BLAS is loaded."""
    function = _function("openblas_get_num_threads")
    return int(function()) if function is not None else None


def set_threads(count: int) -> int:
    """Set the optimized BLAS's thread count (>= 1); returns the count in force."""
    if int(count) < 1:
        raise ValueError(f"BLAS thread count must be >= 1, got {count}")
    function = _function("openblas_set_num_threads")
    if function is None:
        raise RuntimeError("no optimized BLAS is loaded: " + str(enable()["reason"]))
    function(ctypes.c_int(int(count)))
    if _status is not None:
        _status["threads"] = threads()
        _status["threads_from"] = "set_threads()"
    return threads()


def _choose_threads() -> tuple[int | None, str]:
    """Apply the thread policy: (count requested from us or None to keep the library's, reason)."""
    raw = os.environ.get(THREADS_ENV_VAR, "").strip()
    if raw:
        try:
            count = int(raw)
            if count < 1:
                raise ValueError
        except ValueError:
            _notice(f"{THREADS_ENV_VAR}={raw!r} is not a positive integer; using {DEFAULT_THREADS} BLAS thread(s)")
            return DEFAULT_THREADS, f"default ({THREADS_ENV_VAR} invalid)"
        return count, THREADS_ENV_VAR
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(name, "").strip():
            return None, name  # OpenBLAS read it when it loaded
    return DEFAULT_THREADS, "default"


def _notice(message: str) -> None:
    print(f"rvc_runtime: {message}", file=sys.stderr)


def enable() -> dict:
    """Load the best available BLAS globally (once per process) and return the status dict."""
    global _status, _library, _prefix
    if _status is not None:
        return _status
    status = {
        "platform": sys.platform,
        "fast": False,
        "source": None,
        "library": None,
        "loaded_as": None,
        "config": None,
        "threads": None,
        "threads_from": None,
        "reason": None,
        "tried": [],
        "mlx_imported_before": "mlx.core" in sys.modules,
        "load_seconds": None,
        "mapped": None,
        "bound": None,
    }
    _status = status
    if not sys.platform.startswith("linux"):
        status["reason"] = "not Linux: MLX uses the platform BLAS (Accelerate on macOS)"
        return status
    if os.environ.get(ENV_VAR, "").strip().lower() in OFF_VALUES:
        status["reason"] = f"disabled by {ENV_VAR}={os.environ[ENV_VAR]}: MLX's reference BLAS"
        return status
    if status["mlx_imported_before"]:
        # measured: a BLAS loaded after mlx.core does not rebind MLX's cblas calls
        status["reason"] = "mlx.core was imported before rvc_runtime, so MLX is already bound to its reference BLAS"
        _notice(
            "mlx.core was imported before rvc_runtime, too late to give MLX a fast BLAS; "
            "it keeps its slow reference BLAS. Import rvc_runtime before mlx."
        )
        return status

    started = time.perf_counter()
    for source, path in candidate_libraries():
        try:
            handle, loaded_as, prefix = _load(source, path)
        except (OSError, ValueError) as error:  # ElfError is a ValueError
            status["tried"].append({"source": source, "path": path, "error": str(error)})
            continue
        _library, _prefix = handle, prefix
        status.update(fast=True, source=source, library=path, loaded_as=loaded_as, config=_text("openblas_get_config"))
        status["reason"] = WHY.get(source, f"chosen by {ENV_VAR}")
        if status["tried"]:
            status["reason"] += " (after: " + "; ".join(f"{t['source']} failed" for t in status["tried"]) + ")"
        count, status["threads_from"] = _choose_threads()
        setter = _function("openblas_set_num_threads")
        if count is not None and setter is not None:
            setter(ctypes.c_int(count))
        status["threads"] = threads()
        status["load_seconds"] = round(time.perf_counter() - started, 4)
        return status

    tried = "; ".join(f"{t['source']}: {t['error']}" for t in status["tried"]) or "none installed"
    status["reason"] = f"no optimized BLAS could be loaded ({tried})"
    _notice(
        f"{status['reason']}; MLX runs on its slow reference BLAS (~30x slower). "
        "Fix: pip install scipy-openblas32 (the [runtime] extra does), or see `python -m rvc_runtime`."
    )
    return status


# --- reporting ------------------------------------------------------------------------------------


def _address(function) -> int | None:
    return ctypes.cast(function, ctypes.c_void_p).value


def cblas_bound() -> bool | None:
    """Whether ``cblas_sgemm`` looked up in the process's global scope, as MLX's library resolves
    it, is the loaded library's (None when none is loaded)."""
    if _library is None:
        return None
    try:
        found = ctypes.CDLL(None).cblas_sgemm  # dlsym on the main program searches the global scope
    except AttributeError:
        return False
    return _address(found) == _address(_library.cblas_sgemm)


def library_mapped(name: str | os.PathLike) -> bool:
    """Whether a library (a path, resolved through symlinks, or a /memfd: name) is mapped here."""
    text = str(name)
    needle = text if text.startswith("/memfd:") else os.path.realpath(text)
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    return needle in maps


def measure_matmul_gflops(n: int = 512, repeats: int = 3) -> float:
    """GFLOP/s of an n x n float32 matmul in MLX (best of `repeats`)."""
    import mlx.core as mx

    a = mx.random.normal((n, n))
    b = mx.random.normal((n, n))
    mx.eval(a @ b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mx.eval(a @ b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def status(measure: bool = False) -> dict:
    """Which BLAS MLX uses and why: ``fast``, ``source``, ``library`` (the file it came from),
    ``loaded_as``, ``config`` (OpenBLAS's build string), ``threads`` and ``threads_from``,
    ``reason``, ``tried`` (each failed candidate and its error), ``mapped``.

    ``measure=True`` adds ``matmul_gflops`` from a small timed matmul (imports mlx).
    """
    current = dict(enable())
    current["tried"] = [dict(t) for t in current["tried"]]
    if current["fast"]:
        current["threads"] = threads()
        current["mapped"] = library_mapped(current["loaded_as"])
        current["bound"] = cblas_bound()
    if measure:
        current["matmul_gflops"] = round(measure_matmul_gflops(), 1)
    return current


blas_status = status  # the name validate reports use


def describe(current: dict | None = None) -> str:
    """One line for tables and logs: 'scipy-openblas32, 1 thread' or 'MLX reference BLAS'."""
    current = current or status()
    if not current["fast"]:
        return "MLX reference BLAS"
    count = current["threads"]
    return f"{current['source']}, {count} thread{'s' if count != 1 else ''}"


def main() -> int:
    """`python -m rvc_runtime [--json] [--measure]`: which BLAS is active and why."""
    import json

    current = status(measure="--measure" in sys.argv)
    if "--json" in sys.argv:
        print(json.dumps(current, indent=2))
    else:
        print(f"BLAS: {describe(current)}")
        print(f"why: {current['reason']}")
        if current["fast"]:
            print(f"library: {current['library']} (loaded as {current['loaded_as']})")
            print(f"build: {current['config']}")
            print(f"threads: {current['threads']} (from {current['threads_from']}; set {THREADS_ENV_VAR} to change)")
        for failed in current["tried"]:
            print(f"tried {failed['source']} ({failed['path']}): {failed['error']}")
        if "matmul_gflops" in current:
            print(f"matmul 512x512 float32: {current['matmul_gflops']} GFLOP/s")
    return 0 if current["fast"] or not sys.platform.startswith("linux") else 1

