"""Fuzzing read_model_file with mutated golden files (Hypothesis).

Whatever the mutation (byte flips, truncations, insertions, overwrites of the whole file; edits of the
pickle inside a re-packed zip with a valid CRC; spliced code-execution payloads; edits of a
safetensors header), the reader either returns a tree whose tensors are valid, readable views, or
raises an rvc_convert.errors.RvcConvertError subclass with a one-line message. Nothing else escapes,
no payload runs and the reader writes no file. Every mutation strategy may splice in code-execution
payloads that would create the folder's marker file, so the marker check of every test can fail.
"""

from __future__ import annotations

import io
import struct
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile
from golden import golden_path
from rvc_convert.errors import RvcConvertError
from rvc_convert.reader import iter_tensors, read_model_file

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], database=None, print_blob=True)
MAX_TOUCH = 10_000_000  # elements; larger (zero-stride) views are the hostile tests' business


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, bytes]:
    """Golden tiny files as bytes: torch zip, fairseq zip, safetensors, a legacy-format copy, an npz."""
    folder = tmp_path_factory.mktemp("fuzz-sources")
    export = golden_path("synth/models/v2-48k-f0-tiny.pth")
    legacy = folder / "legacy.pth"
    torch.save(torch.load(golden_path("synth/models/v1-32k-nof0-tiny.pth"), weights_only=True), legacy, _use_new_zipfile_serialization=False)
    npz = io.BytesIO()
    np.savez(npz, a=np.arange(6, dtype=np.float16).reshape(2, 3), b=np.ones(4, np.int64))
    return {
        "zip": export.read_bytes(),
        "fairseq": golden_path("hubert/hubert_tiny.pt").read_bytes(),
        "safetensors": golden_path("hubert/contentvec_tiny_hf/model.safetensors").read_bytes(),
        "legacy": legacy.read_bytes(),
        "npz": npz.getvalue(),
    }


def check_read(make: Callable[[Path], bytes], suffix: str = ".pth") -> None:
    """Build the file with `make(marker)` (payload edits write to `marker` if they ever run), read
    it from a fresh folder, and check the reader's contract."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        marker = folder / "MARKER"
        path = folder / f"fuzzed{suffix}"
        path.write_bytes(make(marker))
        try:
            loaded = read_model_file(path)
        except RvcConvertError as exc:
            message = str(exc)
            assert message.strip() and "\n" not in message and "Traceback" not in message
        else:
            for _, tensor in iter_tensors(loaded.root):
                array = tensor.array
                if array.size <= MAX_TOUCH:
                    np.ascontiguousarray(array)  # every view must be readable
        assert not marker.exists()
        assert sorted(p.name for p in folder.iterdir()) == [path.name], "the reader wrote a file"


PAYLOADS = sorted(hostile._payload_exprs(Path("/m")))


@st.composite
def mutations(draw, size: int):
    """A short list of byte-level edits: ("flip", pos, xor), ("cut", pos), ("insert", pos, bytes),
    ("write", pos, bytes), ("payload", pos, name): a code-execution payload that writes the marker."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "cut", "insert", "write", "payload"]))
        pos = draw(st.integers(0, max(size - 1, 0)))
        if kind == "flip":
            edits.append(("flip", pos, draw(st.integers(1, 255))))
        elif kind == "cut":
            edits.append(("cut", pos))
        elif kind == "payload":
            edits.append(("payload", pos, draw(st.sampled_from(PAYLOADS))))
        else:
            edits.append((kind, pos, draw(st.binary(min_size=1, max_size=16))))
    return edits


def apply(data: bytes, edits, marker: Path) -> bytes:
    buf = bytearray(data)
    for edit in edits:
        kind, pos = edit[0], min(edit[1], max(len(buf) - 1, 0))
        if not buf:
            break
        if kind == "flip":
            buf[pos] ^= edit[2]
        elif kind == "cut":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = edit[2]
        elif kind == "payload":
            buf[pos:pos] = hostile._payload_exprs(marker)[edit[2]][0]
        else:
            buf[pos : pos + len(edit[2])] = edit[2]
    return bytes(buf)


@given(data=st.data(), which=st.sampled_from(["zip", "fairseq", "legacy", "safetensors", "npz"]))
@FUZZ
def test_fuzz_whole_file(sources, data, which):
    """Random byte edits anywhere in the file (mostly tensor bytes, headers and zip structures)."""
    source = sources[which]
    edits = data.draw(mutations(len(source)))
    check_read(lambda marker: apply(source, edits, marker))


@given(data=st.data(), which=st.sampled_from(["zip", "legacy"]))
@FUZZ
def test_fuzz_near_the_start(sources, data, which):
    """Edits confined to the first 4 KiB: the legacy pickles and the zip's first local headers / data.pkl."""
    source = sources[which]
    edits = data.draw(mutations(min(len(source), 4096)))
    check_read(lambda marker: apply(source, edits, marker))


def _repack(source: bytes, new_pickle: bytes) -> bytes:
    """The same torch zip with data.pkl replaced (fresh CRC), so pickle edits reach the unpickler."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, new_pickle if info.filename.endswith("/data.pkl") else zin.read(info))
    return out.getvalue()


def _data_pkl(source: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(source)) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))


@given(data=st.data(), which=st.sampled_from(["zip", "fairseq"]))
@settings(FUZZ, max_examples=100)
def test_fuzz_pickle_inside_zip(sources, data, which):
    """Edits of data.pkl itself, re-packed with a valid CRC: opcodes, lengths, memo indices, storage
    keys, element counts, sizes and strides all get corrupted."""
    source = sources[which]
    pkl = _data_pkl(source)
    edits = data.draw(mutations(len(pkl)))
    check_read(lambda marker: _repack(source, apply(pkl, edits, marker)))


@given(data=st.data(), which=st.sampled_from(["zip", "legacy"]), payload=st.sampled_from(sorted(hostile._payload_exprs(Path("/m")))))
@settings(FUZZ, max_examples=60)
def test_fuzz_spliced_payloads(sources, data, which, payload):
    """A code-execution payload spliced into the pickle stream at a random position never runs."""
    if which == "zip":
        pkl = _data_pkl(sources["zip"])
        pos = data.draw(st.integers(2, len(pkl) - 1))
        check_read(lambda marker: _repack(sources["zip"], pkl[:pos] + hostile._payload_exprs(marker)[payload][0] + pkl[pos:]))
    else:
        src = sources["legacy"]
        pos = data.draw(st.integers(0, min(len(src), 30_000)))
        check_read(lambda marker: src[:pos] + hostile._payload_exprs(marker)[payload][0] + src[pos:])


@given(data=st.data())
@settings(FUZZ, max_examples=40)
def test_fuzz_safetensors_header(sources, data):
    """Edits inside the safetensors JSON header (dtypes, shapes, offsets, the length prefix)."""
    source = sources["safetensors"]
    (header_len,) = struct.unpack("<Q", source[:8])
    edits = data.draw(mutations(8 + header_len))
    check_read(lambda marker: apply(source, edits, marker), suffix=".safetensors")


def test_marker_check_catches_a_reader_that_runs_code(monkeypatch):
    """The marker check is live: with a reader that unpickles for real, a payload's marker appears and check_read fails."""
    import pickle

    from rvc_convert.errors import CorruptFileError

    def unsafe_reader(path):
        pickle.loads(Path(path).read_bytes())  # what the reader must never do
        raise CorruptFileError("unpickled")

    monkeypatch.setattr(sys.modules[__name__], "read_model_file", unsafe_reader)
    with pytest.raises(AssertionError):
        check_read(lambda marker: hostile.proto(2) + hostile._payload_exprs(marker)["os_system"][0] + hostile.STOP)
