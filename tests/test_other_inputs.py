"""Every input is read like the model is: bundle specs, the files a bundle lists, reference .npz
files for `validate -r`, a bundle's own manifest. None of them may block (a FIFO), bomb (a bzip2
member), or make the tool follow a link out of a model folder."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

import hostile
from golden import golden_path
from outputs import subprocess_env

VOICE = "synth/models/v2-48k-f0-tiny.pth"
TIMEOUT_S = 120


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = subprocess_env()
    return subprocess.run([sys.executable, "-m", "rvc_convert", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=TIMEOUT_S)


def test_a_fifo_as_bundle_spec_is_refused_without_blocking(tmp_path):
    spec = tmp_path / "bundle.yaml"
    os.mkfifo(spec)
    proc = cli(["bundle", str(spec), "-o", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 5, proc.stderr
    assert "not a regular file" in proc.stderr


def test_a_fifo_as_a_bundle_voice_fails_that_asset_only(tmp_path):
    fifo = tmp_path / "fifo.pth"
    os.mkfifo(fifo)
    proc = cli(["bundle", str(golden_path(VOICE)), str(fifo), "-o", str(tmp_path / "out"), "--json"], tmp_path)
    report = json.loads(proc.stdout)
    assert proc.returncode == 5, proc.stderr
    assert report["counts"] == {"built": 1, "reused": 0, "failed": 1}
    (failed,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert "not a regular file" in failed["error"]["message"]


def test_a_bundled_model_folder_linking_out_is_refused_and_unread(tmp_path):
    """The folder's weights link to a file outside it: the asset fails with exit 3; its bytes are never hashed nor quoted."""
    case = next(c for c in hostile.cases() if c.name == "hf-link-weights-out")
    folder = hostile.build_case(case, tmp_path / "corpus", tmp_path / "MARKER")
    proc = cli(["bundle", str(golden_path(VOICE)), "--hubert", str(folder), "-o", str(tmp_path / "out"), "--json"], tmp_path)
    report = json.loads(proc.stdout)
    assert proc.returncode == 3, proc.stderr
    assert hostile.SECRET[:12] not in proc.stdout + proc.stderr
    (failed,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert "outside" in failed["error"]["message"]


def _converted(tmp_path: Path) -> Path:
    proc = cli(["convert", str(golden_path(VOICE)), "-o", str(tmp_path / "conv"), "--no-validate"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "conv" / "v2-48k-f0-tiny.safetensors"


def test_a_bzip2_reference_is_refused_unread(tmp_path):
    """`validate -r` reads its reference through the safe reader: a 1 GiB bzip2 member is refused, not inflated."""
    npy = io.BytesIO()
    np.save(npy, np.zeros(4, np.float32))
    packed = hostile._compressed_zeros(zipfile.ZIP_BZIP2, hostile.SMALL_ZIP_BOMB_BYTES)
    reference = tmp_path / "refs.npz"
    reference.write_bytes(hostile.zip_bytes([hostile.ZipEntry("phone.npy", packed, zipfile.ZIP_BZIP2, zlib.crc32(npy.getvalue()), len(npy.getvalue()))]))
    proc = cli(["validate", str(_converted(tmp_path)), "-r", str(reference)], tmp_path)
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert "bzip2" in proc.stderr + proc.stdout


def test_a_fifo_reference_is_refused_without_blocking(tmp_path):
    reference = tmp_path / "refs.npz"
    os.mkfifo(reference)
    proc = cli(["validate", str(_converted(tmp_path)), "-r", str(reference)], tmp_path)
    assert proc.returncode == 5, proc.stderr


def test_a_fifo_as_a_bundle_manifest_is_refused_without_blocking(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "manifest.json")
    proc = cli(["verify", str(out)], tmp_path)
    assert proc.returncode == 5, proc.stderr
    assert "not a regular file" in proc.stderr
