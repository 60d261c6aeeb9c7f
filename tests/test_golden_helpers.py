"""tests/golden.py: a missing committed fixture fails the test; only shared-only files may skip."""

from __future__ import annotations

import pytest

import golden


@pytest.mark.parametrize("relpath", ["hubert/hubert_tiny.pt", "rmvpe/rmvpe_small.pt", "synth/models/v1-32k-nof0-tiny.pth", "synth/refs/v2-48k-f0-tiny.npz"])
def test_missing_committed_fixture_fails(relpath, monkeypatch):
    """A committed fixture that cannot be found fails its test (a regression must not read as a skip)."""
    assert golden.committed(relpath)
    monkeypatch.setattr(golden, "find_golden", lambda _relpath: None)
    with pytest.raises(pytest.fail.Exception, match="committed golden fixture"):
        golden.golden_path(relpath)


@pytest.mark.parametrize("relpath", ["synth/models/v2-40k-f0.pth", "synth/refs/v2-40k-f0.npz"])
def test_missing_shared_only_file_skips(relpath, monkeypatch):
    """The 55 MB full-size model and its references live in the shared folder only: without it, skip."""
    assert not golden.committed(relpath)
    monkeypatch.setattr(golden, "find_golden", lambda _relpath: None)
    with pytest.raises(pytest.skip.Exception):
        golden.golden_path(relpath)


def test_every_committed_fixture_is_present():
    """Everything copy_golden.py selects is in fixtures/golden/ (the committed set is complete)."""
    import json

    listed = json.loads((golden.FIXTURES_GOLDEN / "manifest.json").read_text())["files"]
    missing = [rel for rel in listed if golden.committed(rel) and not (golden.FIXTURES_GOLDEN / rel).is_file()]
    assert not missing
