"""The wheel carries what an installed rvc-convert needs: every rule pack, every schema, the runtime."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_rule_packs_schemas_and_runtime(tmp_path):
    """`pip wheel` output lists every mappings/*.yaml and schemas/*.json under rvc_convert/, and rvc_runtime."""
    pytest.importorskip("setuptools")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("rvc_convert-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for pack in (REPO / "mappings").glob("*.yaml"):
        assert f"rvc_convert/mappings/{pack.name}" in names
    for schema in (REPO / "schemas").glob("*.json"):
        assert f"rvc_convert/schemas/{schema.name}" in names
    for module in ("synthesizer", "hubert", "rmvpe", "weights", "blas", "index", "decoders/__init__", "decoders/dsp", "decoders/mrf_hifigan", "decoders/refinegan"):
        assert f"rvc_runtime/{module}.py" in names
    for module in (REPO / "rvc_convert").rglob("*.py"):  # every sub-package: families, commands, bundle
        assert module.relative_to(REPO).as_posix() in names
    assert any(n.endswith("entry_points.txt") for n in names)
