"""hubert_base.pt needs one non-torch global (fairseq's Dictionary), stubbed inertly; anything more is refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from golden import golden_path

from rvc_convert.convert import convert_model
from rvc_convert.errors import UnsafeInputError
from rvc_convert.reader import read_model_file

DICTIONARY_GLOBAL = b"cfairseq.data.dictionary\nDictionary\n"


def with_extra_global(source: Path, destination: Path, marker: Path, before: bytes = DICTIONARY_GLOBAL) -> Path:
    """Copy a torch zip checkpoint, inserting `posix.system("touch marker")` (then POP) into its
    pickle just before the global `before` (default: the fairseq Dictionary of a HuBERT checkpoint)."""
    command = f"touch {marker}".encode()
    payload = b"cposix\nsystem\n(X" + len(command).to_bytes(4, "little") + command + b"tR0"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(destination, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename.endswith("/data.pkl"):
                assert before in data
                data = data.replace(before, payload + before, 1)
            copy.writestr(info, data)
    return destination


def test_fairseq_checkpoint_converts_through_the_inert_dictionary(tmp_path):
    """The real layout (Dictionary in task_state) converts; the global is reported, nothing runs."""
    result = convert_model(golden_path("hubert/hubert_tiny.pt"), "ios", tmp_path)
    assert "fairseq.data.dictionary.Dictionary" in result.loaded.globals_seen
    assert result.weights_path.is_file()


def test_one_extra_global_is_refused_and_never_runs(tmp_path):
    """The same file with one more global (posix.system) is refused by name; the marker never appears."""
    marker = tmp_path / "marker"
    hostile = with_extra_global(golden_path("hubert/hubert_tiny.pt"), tmp_path / "hubert_base.pt", marker)
    with pytest.raises(UnsafeInputError, match="posix.system"):
        read_model_file(hostile)
    assert not marker.exists()
