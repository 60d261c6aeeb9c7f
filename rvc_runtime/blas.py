"""Give MLX's Linux CPU wheel an optimized BLAS.

The Linux wheel links a reference BLAS (~5 GFLOP/s on a 2-core x86_64). Loading an optimized
library with RTLD_GLOBAL *before* ``mlx.core`` is imported makes MLX's ``cblas_*`` calls bind to
it instead (~30x faster convolutions). On macOS MLX uses Accelerate and nothing happens here.

This module must not import mlx at import time: ``rvc_runtime/__init__.py`` calls
:func:`enable` first, before any module that imports ``mlx.core``.

Environment: ``RVC_RUNTIME_BLAS=/path/to/libblas.so`` tries that library first;
``RVC_RUNTIME_BLAS=off`` keeps MLX's own BLAS.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
import time
from pathlib import Path

ENV_VAR = "RVC_RUNTIME_BLAS"
DEBIAN_OPENBLAS = (
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
)

_status: dict | None = None
_handle: ctypes.CDLL | None = None  # kept alive for the life of the process


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


def candidate_libraries() -> list[tuple[str, str]]:
    """(source, path) pairs to try, best first."""
    candidates = []
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        candidates.append(("env " + ENV_VAR, override))
    cmeel = cmeel_openblas_path()
    if cmeel is not None:
        candidates.append(("cmeel-openblas", str(cmeel)))
    candidates += [("debian", p) for p in DEBIAN_OPENBLAS if Path(p).exists()]
    return candidates


def _notice(message: str) -> None:
    print(f"rvc_runtime: {message}", file=sys.stderr)


def enable() -> dict:
    """Load the best available BLAS globally (once) and return :func:`blas_status`."""
    global _status, _handle
    if _status is not None:
        return _status
    status = {
        "platform": sys.platform,
        "library": None,
        "source": None,
        "fast": False,
        "mlx_imported_before": "mlx.core" in sys.modules,
        "tried": [],
        "reason": None,
    }
    _status = status
    if not sys.platform.startswith("linux"):
        status["reason"] = "not Linux: MLX uses the platform BLAS (Accelerate on macOS)"
        return status
    if os.environ.get(ENV_VAR, "").strip().lower() in ("0", "off", "none", "no"):
        status["reason"] = f"disabled by {ENV_VAR}"
        return status

    if status["mlx_imported_before"]:
        # measured: a BLAS loaded after mlx.core does not rebind MLX's cblas calls
        status["reason"] = "mlx.core was imported before rvc_runtime, so MLX is already bound"
        _notice(
            "mlx.core was imported before rvc_runtime, too late to give MLX a fast BLAS; "
            "it keeps its slow reference BLAS. Import rvc_runtime before mlx."
        )
        return status

    for source, path in candidate_libraries():
        try:
            _handle = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as error:
            # typically "libgfortran.so.5: cannot open shared object file" for cmeel-openblas
            status["tried"].append({"source": source, "path": path, "error": str(error)})
            continue
        status.update(library=path, source=source, fast=True)
        return status

    tried = "; ".join(f"{t['source']}: {t['error']}" for t in status["tried"]) or "none found"
    status["reason"] = f"no optimized BLAS could be loaded ({tried})"
    _notice(
        f"{status['reason']}; MLX runs on its slow reference BLAS. Fix: pip install "
        "cmeel-openblas and apt-get install libgfortran5 (or apt-get install libopenblas0-pthread)."
    )
    return status


def library_mapped(path: str | os.PathLike) -> bool:
    """Whether the shared library (resolved through symlinks) is mapped into this process."""
    real = os.path.realpath(path)
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    return real in maps


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


def blas_status(measure: bool = False) -> dict:
    """Which BLAS MLX uses: library path, source, whether the fast path is active, and why not.

    ``measure=True`` adds ``matmul_gflops`` from a small timed matmul.
    """
    status = dict(enable())
    status["tried"] = list(status["tried"])
    if status["library"] is not None:
        status["mapped"] = library_mapped(status["library"])
    if measure:
        status["matmul_gflops"] = round(measure_matmul_gflops(), 1)
    return status
