"""Shared pytest setup."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Before any test imports mlx.core: rvc_runtime gives MLX its fast BLAS only if it loads first.
try:
    import rvc_runtime  # noqa: F401
except ImportError:  # the runtime extra is not installed; runtime tests skip themselves
    pass

_TESTS = Path(__file__).resolve().parent
# `from golden import golden_path` (tests/golden.py), the fixture generators in fixtures/
# (`import make_variants`, `import hostile`) and the torch references proven against the golden
# files (benchmarks/torch_reference.py) work from any test module.
for _folder in (_TESTS, _TESTS.parent / "fixtures", _TESTS.parent / "benchmarks"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


@pytest.fixture(params=["stock", "linux-cpu"])
def kernel_path(request):
    """Runs the test on both runtime kernel paths (rvc_runtime/kernels.py): MLX's stock ops, which
    apps run on macOS/Metal, and the Linux CPU kernels, which Linux CPU runs by default."""
    from rvc_runtime import kernels

    with kernels.forced(request.param):
        yield request.param


def pytest_report_header(config):
    """The BLAS MLX runs on and the kernel path, in the header of every test run."""
    try:
        from rvc_runtime import blas, kernels
    except ImportError as error:
        return f"rvc_runtime: not importable ({error})"
    return f"rvc_runtime: BLAS {blas.describe()}; kernels {kernels.describe()}"
