"""Which formulation the runtime's hot layers use: MLX's stock ops, or kernels for Linux CPU.

MLX's Linux CPU backend is slow for some of the layers RVC models are made of (measured in
benchmarks/bench_kernels.py: dilated and 1-channel convolutions, transposed convolutions, erf/exp),
so the runtime carries faster formulations of them built from matmuls and numpy. Those were
measured only on Linux CPU. On macOS (Metal, Accelerate) and on MLX's CUDA backend MLX's own
kernels are the ones to use, so the stock formulation is the reference and the default
everywhere else; both are tested against the golden references (docs/runtime_kernels.md).

    from .kernels import cpu_kernels
    if cpu_kernels():              # at call time, in a layer's __call__
        ...Linux CPU formulation...
    else:
        ...stock MLX op...

Selection, first that applies:
1. :func:`force` / :func:`forced` (tests, benchmarks);
2. ``RVC_RUNTIME_KERNELS=stock|linux-cpu`` (read when this module is imported);
3. ``linux-cpu`` on Linux when MLX's default device is the CPU, else ``stock``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import mlx.core as mx

STOCK = "stock"
LINUX_CPU = "linux-cpu"
PATHS = (STOCK, LINUX_CPU)
ENV_VAR = "RVC_RUNTIME_KERNELS"

_forced: str | None = None


def _check(path: str) -> str:
    if path not in PATHS:
        raise ValueError(f"kernel path must be one of {', '.join(PATHS)}, got {path!r}")
    return path


def _from_environment() -> str | None:
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in PATHS:
        raise ValueError(f"{ENV_VAR}={value!r}: use auto, {STOCK} or {LINUX_CPU}")
    return value


_environment = _from_environment()


def automatic() -> str:
    """The path chosen when nothing forces one: Linux CPU kernels only on Linux with the CPU device."""
    return LINUX_CPU if sys.platform.startswith("linux") and mx.default_device() == mx.cpu else STOCK


def active() -> str:
    """The path layers take on their next call."""
    return _forced or _environment or automatic()


def cpu_kernels() -> bool:
    """Whether layers should use the Linux CPU formulations now."""
    return active() == LINUX_CPU


def force(path: str | None) -> None:
    """Use `path` from now on (None: back to the environment / automatic choice)."""
    global _forced
    _forced = None if path is None else _check(path)


@contextmanager
def forced(path: str) -> Iterator[None]:
    """``with kernels.forced("stock"): ...`` runs the block on `path`, then restores the choice."""
    global _forced
    previous, _forced = _forced, _check(path)
    try:
        yield
    finally:
        _forced = previous


def describe() -> str:
    """'linux-cpu (automatic)', 'stock (RVC_RUNTIME_KERNELS)', 'stock (forced)'."""
    why = "forced" if _forced else ENV_VAR if _environment else "automatic"
    return f"{active()} ({why})"
