"""Where the golden files are: the committed copy in fixtures/golden/, else the shared golden set.

    from golden import golden_path
    path = golden_path("synth/models/v2-48k-f0-tiny.pth")

`golden_path` skips the calling test (pytest.skip) when a file that only the shared folder holds
(the 55 MB full-size model, say) is missing, so a clone without it still runs everything else. A
committed fixture (what fixtures/copy_golden.py copies) that is missing fails the test instead: a
regression must never turn into a skip. fixtures/copy_golden.py makes the copy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import copy_golden

REPO = Path(__file__).resolve().parent.parent
FIXTURES_GOLDEN = REPO / "fixtures" / "golden"
SHARED_GOLDEN = REPO.parent / "shared" / "golden"


def committed(relpath: str) -> bool:
    """Whether fixtures/golden/ is meant to hold `relpath` (copy_golden.py's selection)."""
    if relpath in copy_golden.EXCLUDE:
        return False
    if relpath in copy_golden.FILES:
        return True
    listed = json.loads((FIXTURES_GOLDEN / "manifest.json").read_text())["files"]
    return relpath in listed and relpath.startswith(tuple(f"{folder}/" for folder in copy_golden.FOLDERS))

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
    """fixtures/golden/<relpath> if present, else <repo>/../shared/golden/<relpath>; else fail the
    test for a committed fixture, skip it for a file only the shared folder holds."""
    found = find_golden(relpath)
    if found is None:
        if committed(relpath):
            pytest.fail(f"committed golden fixture fixtures/golden/{relpath} is missing: restore it (git checkout, or fixtures/copy_golden.py)")
        pytest.skip(f"golden file {relpath} is in neither {FIXTURES_GOLDEN} nor {SHARED_GOLDEN} (run fixtures/copy_golden.py)")
    return found
