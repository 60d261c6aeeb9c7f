"""Where the golden files are: the committed copy in fixtures/golden/, else the shared golden set.

    from golden import golden_path
    path = golden_path("synth/models/v2-48k-f0-tiny.pth")

`golden_path` skips the calling test (pytest.skip) when the file is in neither place, so a clone
without the shared folder still runs everything else. fixtures/copy_golden.py makes the copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES_GOLDEN = REPO / "fixtures" / "golden"
SHARED_GOLDEN = REPO.parent / "shared" / "golden"

# The tiny synthesizers with upstream references, and their companions of v2-48k-f0-tiny.
TINY_SYNTH_MODELS = (
    "synth/models/v1-40k-f0-tiny.pth",
    "synth/models/v2-48k-f0-tiny.pth",
    "synth/models/v2-32k-nof0-tiny.pth",
    "synth/models/v1-32k-nof0-tiny.pth",
)
SYNTH_EXTRA = (
    "synth/extra/G_2333333.pth",
    "synth/extra/v2-48k-f0-tiny-applio.pth",
    "synth/extra/v2-48k-f0-tiny-parametrizations.pth",
)
FULL_SYNTH_MODEL = "synth/models/v2-40k-f0.pth"  # 55 MB, only in the shared folder


def find_golden(relpath: str) -> Path | None:
    """The golden file's path, or None when neither the committed copy nor the shared set has it."""
    for root in (FIXTURES_GOLDEN, SHARED_GOLDEN):
        candidate = root / relpath
        if candidate.exists():
            return candidate
    return None


def golden_path(relpath: str) -> Path:
    """fixtures/golden/<relpath> if present, else <repo>/../shared/golden/<relpath>, else skip the test."""
    found = find_golden(relpath)
    if found is None:
        pytest.skip(f"golden file {relpath} is in neither {FIXTURES_GOLDEN} nor {SHARED_GOLDEN} (run fixtures/copy_golden.py)")
    return found
