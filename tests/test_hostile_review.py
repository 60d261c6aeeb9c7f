"""Resource bombs found in review: small files that made the reader allocate gigabytes before refusing.

Each file is built here; each read runs in a subprocess whose peak RSS (VmHWM) must stay under
500 MB, and must end in the tool's own error (never an internal error)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PEAK_RSS_LIMIT_MB = 500

READ = """
import json, sys
from rvc_convert.errors import RvcConvertError
from rvc_convert.reader import read_model_file
from rvc_convert.detect import detect
try:
    detect(read_model_file(sys.argv[1]))
    kind = "ok"
except RvcConvertError as exc:
    kind = type(exc).__name__
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"kind": kind, "peak_mb": hwm / 1024}))
"""


def read_in_subprocess(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def opcode_expansion(path: Path) -> Path:
    """8M one-byte EMPTY_SET opcodes (each a ~200-byte object), deflated to a few KB."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x04(" + b"\x8f" * 8_000_000 + b"l.")
    return path


def forged_compressed_size(path: Path, elements: int = 25_000_000) -> Path:
    """A deflated storage record whose central directory understates its compressed size (to pass a ratio check)."""
    count = struct.pack("<i", elements)
    pickle_bytes = (
        b"\x80\x02}q\x00X\x01\x00\x00\x00xq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storageq\x03"
        b"ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06J" + count + b"tq\x07QK\x00J" + count
        + b"\x85q\x08K\x01\x85q\t\x89ccollections\nOrderedDict\nq\n)Rq\x0btq\x0cRq\rs."
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr(zipfile.ZipInfo("archive/data/0"), bytes(4 * elements), compress_type=zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack("<H", raw[at + 28 : at + 30])[0]
        if raw[at + 46 : at + 46 + name_len] == b"archive/data/0":
            raw[at + 20 : at + 24] = struct.pack("<I", 4 * elements // 100 + 10)
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))
    return path


def byteorder_bomb(path: Path) -> Path:
    """A `byteorder` record of 'little' plus 400 MB of spaces, deflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/byteorder", b"little" + b" " * 400_000_000)
    return path


def conv_layers_bomb(path: Path) -> Path:
    """A fairseq-style HuBERT checkpoint whose config repeats a conv layer 30 million times."""
    torch = pytest.importorskip("torch")
    cfg = {"model": {"conv_feature_layers": "[(8,10,5)] * 30000000", "encoder_layers": 1}, "task": {}}
    torch.save({"cfg": cfg, "model": {"post_extract_proj.weight": torch.zeros(4, 8)}}, path)
    return path


@pytest.mark.parametrize(
    "build, expected",
    [
        (opcode_expansion, "UnsafeInputError"),
        (forged_compressed_size, "UnsafeInputError"),
        (byteorder_bomb, "UnsupportedModelError"),  # only 16 bytes are read: "little", then an empty model
        (conv_layers_bomb, "UnsupportedModelError"),
    ],
    ids=["pickle-opcode-expansion", "forged-compressed-size", "byteorder-bomb", "hubert-conv-layers-bomb"],
)
def test_small_hostile_file_is_refused_with_bounded_memory(tmp_path, build, expected):
    """Refused with the tool's own error type, peak RSS under 500 MB."""
    outcome = read_in_subprocess(build(tmp_path / "model.pth"))
    assert outcome["kind"] == expected
    assert outcome["peak_mb"] < PEAK_RSS_LIMIT_MB, outcome


@pytest.mark.parametrize(
    "header",
    [
        {"w": {"dtype": [1], "shape": [1], "data_offsets": [0, 4]}},
        {"w": {"dtype": "F32", "shape": [1], "data_offsets": 5}},
        {"w": {"dtype": "F32", "shape": [3, 6148914691236517206], "data_offsets": [0, 4]}},
        {"w": {"dtype": "F32", "shape": [2**70], "data_offsets": [0, 4]}},
    ],
    ids=["dtype-list", "offsets-int", "shape-wraps-int64", "shape-2-70"],
)
def test_malformed_safetensors_headers_are_tool_errors(tmp_path, header):
    """Odd header field types and overflowing shapes end in the tool's errors, not an internal error."""
    encoded = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"\0" * 8)
    outcome = read_in_subprocess(path)
    assert outcome["kind"] in ("CorruptFileError", "UnsafeInputError", "UnsupportedModelError")
