"""Shared pytest setup."""

from __future__ import annotations

import sys
from pathlib import Path

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
