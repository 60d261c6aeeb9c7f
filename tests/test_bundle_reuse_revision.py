"""Bundle reuse is keyed on what shapes the bytes: rvc_convert.OUTPUT_FORMAT_REVISION (which
tests/test_output_hashes.py forces up whenever a golden conversion's bytes change) and each rule
pack's hash (pack plus layout table), never on the version string, which stayed "0.1.0" while
commits changed output bytes (a stale reuse)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from outputs import subprocess_env

from golden import golden_path
from rvc_convert import OUTPUT_FORMAT_REVISION

VOICE = "synth/models/v2-48k-f0-tiny.pth"


def bundle(args: list[str], cwd: Path) -> dict:
    env = subprocess_env()
    proc = subprocess.run([sys.executable, "-m", "rvc_convert", "bundle", *args, "--json"], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def edit_manifest(out: Path, edit) -> None:
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def built(tmp_path) -> Path:
    out = tmp_path / "out"
    first = bundle([str(golden_path(VOICE)), "-o", str(out)], tmp_path)
    assert first["counts"] == {"built": 1, "reused": 0, "failed": 0}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["converter"]["output_format_revision"] == OUTPUT_FORMAT_REVISION
    return out


def test_unchanged_rerun_reuses(built):
    assert bundle([str(golden_path(VOICE)), "-o", str(built)], built.parent)["counts"]["reused"] == 1


def test_another_output_format_revision_rebuilds(built):
    """Files written under another revision have other bytes: never reused, even with the same version string."""
    edit_manifest(built, lambda m: m["converter"].update(output_format_revision=OUTPUT_FORMAT_REVISION - 1))
    assert bundle([str(golden_path(VOICE)), "-o", str(built)], built.parent)["counts"] == {"built": 1, "reused": 0, "failed": 0}


def test_a_manifest_without_a_revision_rebuilds(built):
    """A manifest from before the revision was recorded: its files' bytes are unknown, so rebuilt."""
    edit_manifest(built, lambda m: m["converter"].pop("output_format_revision"))
    assert bundle([str(golden_path(VOICE)), "-o", str(built)], built.parent)["counts"]["built"] == 1


def test_another_version_string_alone_still_reuses(built):
    """The version string does not shape the bytes: same revision and rules hash, the files are reused."""
    edit_manifest(built, lambda m: m["converter"].update(version="0.0.9"))
    assert bundle([str(golden_path(VOICE)), "-o", str(built)], built.parent)["counts"]["reused"] == 1


def test_a_changed_rules_or_layout_hash_rebuilds(built):
    edit_manifest(built, lambda m: [v.update(rules_sha256="0" * 64) for v in m["voices"]])
    assert bundle([str(golden_path(VOICE)), "-o", str(built)], built.parent)["counts"]["built"] == 1
