"""Bad input is refused cleanly, through the CLI and through convert_model.

For every case: the documented exit code (2 unsupported / unmapped / damaged model, 3 unsafe, 5
I/O or corrupt file), one line on stderr (no traceback), and no file left in the output folder —
not even a `.partial` temp file. Pickle payloads never run.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import shlex
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from rvc_convert.convert import convert_model
from rvc_convert.errors import RvcConvertError, UnsafeInputError

REPO = Path(__file__).resolve().parent.parent

from golden import golden_path


EXPORT = "synth/models/v2-48k-f0-tiny.pth"
TRAINING = "synth/extra/G_2333333.pth"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def run_cli(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rvc_convert", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd or REPO
    )


def assert_one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line: {proc.stderr!r}"
    assert lines[0].startswith("rvc-convert: error: "), lines[0]
    return lines[0]


def files_in(folder: Path) -> list[str]:
    """Every entry under folder, hidden ones (.partial temp files) included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- builders: each writes one bad file into `folder` and returns its path ---------------------------


def _edited_export(folder: Path, name: str, edit: Callable[[dict], None], source: str = EXPORT) -> Path:
    cpt = torch.load(golden_path(source), map_location="cpu", weights_only=True)
    key = "weight" if "weight" in cpt else "model"
    cpt[key] = OrderedDict(cpt[key])
    edit(cpt[key])
    path = folder / name
    torch.save(cpt, path)
    return path


def zero_bytes(folder: Path) -> Path:
    path = folder / "empty.pth"
    path.write_bytes(b"")
    return path


def truncated(folder: Path) -> Path:
    data = golden_path(EXPORT).read_bytes()
    path = folder / "truncated.pth"
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


def truncated_tail(folder: Path) -> Path:
    data = golden_path(EXPORT).read_bytes()
    path = folder / "cut_tail.pth"
    path.write_bytes(data[:-100])  # the zip central directory is gone
    return path


def random_bytes(folder: Path) -> Path:
    data = np.random.default_rng(0).bytes(4096)
    assert not data.startswith((b"PK", b"\x80"))
    path = folder / "noise.pth"
    path.write_bytes(data)
    return path


def missing_tensor(folder: Path) -> Path:
    return _edited_export(folder, "missing.pth", lambda w: w.pop("enc_p.encoder.ffn_layers.1.conv_2.bias"))


def unknown_tensor(folder: Path) -> Path:
    return _edited_export(folder, "unknown.pth", lambda w: w.__setitem__("dec.foo.weight", torch.zeros(3, 3, 3, dtype=torch.float16)))


def extra_stage(folder: Path) -> Path:
    def edit(w):
        for part in ("bias", "weight_g", "weight_v"):
            w[f"dec.ups.9.{part}"] = w[f"dec.ups.3.{part}"].clone()

    return _edited_export(folder, "ups9.pth", edit)


def wrong_shape(folder: Path) -> Path:
    # resblocks.5 (stage 1, 16 channels, kernel 11) given kernel 5: g still fits, the shape does not
    return _edited_export(folder, "shape.pth", lambda w: w.__setitem__("dec.resblocks.5.convs1.1.weight_v", torch.ones(16, 16, 5, dtype=torch.float16)))


def reshaped(folder: Path) -> Path:
    def edit(w):
        w["enc_p.encoder.attn_layers.1.conv_q.weight"] = w["enc_p.encoder.attn_layers.1.conv_q.weight"].reshape(24, 1, 24).clone()

    return _edited_export(folder, "reshaped.pth", edit)


def v_without_g(folder: Path) -> Path:
    return _edited_export(folder, "no_g.pth", lambda w: w.pop("dec.ups.2.weight_g"))


def nan_in_weight(folder: Path) -> Path:
    def edit(w):
        t = w["dec.conv_pre.weight"].clone()
        t[3, 2, 1] = float("nan")
        w["dec.conv_pre.weight"] = t

    return _edited_export(folder, "nan.pth", edit)


def nan_in_weight_v(folder: Path) -> Path:
    def edit(w):
        t = w["flow.flows.2.enc.in_layers.1.weight_v"].clone()
        t[3, 2, 1] = float("nan")
        w["flow.flows.2.enc.in_layers.1.weight_v"] = t

    return _edited_export(folder, "nan_v.pth", edit)


def discriminator(folder: Path) -> Path:
    path = folder / "D_2333333.pth"
    state = OrderedDict(
        [
            ("discriminators.0.convs.0.weight", torch.zeros(16, 1, 15)),
            ("discriminators.0.convs.0.bias", torch.zeros(16)),
            ("discriminators.1.convs.0.weight", torch.zeros(32, 1, 5, 1)),
        ]
    )
    torch.save({"model": state, "iteration": 20, "optimizer": {}, "learning_rate": 1e-4}, path)
    return path


def discriminator_state_dict(folder: Path) -> Path:
    path = folder / "disc_state.pth"
    torch.save(OrderedDict([("discriminators.0.convs.0.weight", torch.zeros(16, 1, 15))]), path)
    return path


def fp16_overflow(folder: Path) -> Path:
    def edit(w):
        t = w["dec.conv_pre.weight"].clone()
        t[0, 0, 0] = 70000.0
        w["dec.conv_pre.weight"] = t

    return _edited_export(folder, "G_big.pth", edit, source=TRAINING)


# name -> (builder, exit code, words the message must contain, extra CLI args)
CASES = {
    "zero-byte": (zero_bytes, 5, ["empty"], []),
    "truncated": (truncated, 5, ["truncated"], []),
    "truncated-tail": (truncated_tail, 5, ["truncated"], []),
    "random-bytes": (random_bytes, 2, ["not a model file"], []),
    "missing-tensor": (missing_tensor, 2, ["enc_p.encoder.ffn_layers.1.conv_2.bias", "missing"], []),
    "unknown-tensor": (unknown_tensor, 2, ["dec.foo.weight"], []),
    "extra-upsample-stage": (extra_stage, 2, ["dec.ups"], []),
    "wrong-shape": (wrong_shape, 2, ["dec.resblocks.5.convs1.1"], []),
    "reshaped": (reshaped, 2, ["enc_p.encoder.attn_layers.1.conv_q.weight"], []),
    "weight_v-without-weight_g": (v_without_g, 2, ["dec.ups.2", "weight_g"], []),
    "nan-in-weight": (nan_in_weight, 2, ["dec.conv_pre.weight"], []),
    "nan-in-weight_v": (nan_in_weight_v, 2, ["flow.flows.2.enc.in_layers.1"], []),
    "discriminator": (discriminator, 2, ["discriminator"], []),
    "discriminator-state-dict": (discriminator_state_dict, 2, ["discriminator"], []),
    "fp16-overflow": (fp16_overflow, 2, ["dec.conv_pre.weight", "65504"], ["--dtype", "fp16"]),
}


@pytest.fixture
def case_dirs(tmp_path):
    inp, out = tmp_path / "input", tmp_path / "out"
    inp.mkdir()
    return inp, out


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_through_cli(case, case_dirs):
    """CLI: the documented exit code, one stderr line naming the problem, no traceback, nothing
    written to the output folder (no .partial either), the input folder untouched."""
    builder, code, words, extra = CASES[case]
    inp, out = case_dirs
    model = builder(inp)
    before = files_in(inp)
    proc = run_cli(model, "-o", out, *extra)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    line = assert_one_line_error(proc)
    for word in words:
        assert word in line, f"message does not mention {word!r}: {line}"
    assert files_in(out) == []
    assert files_in(inp) == before


WRITE_STAGE = ("nan-in-weight", "nan-in-weight_v", "fp16-overflow")  # found while the writer runs


@pytest.mark.parametrize("case,target", [(case, "ios") for case in CASES] + [(case, "mlx") for case in WRITE_STAGE])
def test_bad_input_through_api(case, target, case_dirs):
    """convert_model raises an RvcConvertError with the documented exit code and a one-line
    message, and leaves no file behind."""
    builder, code, words, extra = CASES[case]
    inp, out = case_dirs
    model = builder(inp)
    dtype = extra[1] if extra[:1] == ["--dtype"] else None
    with pytest.raises(RvcConvertError) as err:
        convert_model(model, target, out, dtype=dtype)
    assert err.value.exit_code == code, type(err.value).__name__
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value)
    assert files_in(out) == []
    assert files_in(inp) == [model.name]


@pytest.mark.parametrize("case", ["nan-in-weight", "fp16-overflow"])
def test_failure_while_writing_leaves_nothing_beside_the_model(case, tmp_path):
    """Failures found while writing (NaN, fp16 overflow) with the default output folder (beside the
    model): the folder still holds only the model, no .partial temp file."""
    builder, code, _words, extra = CASES[case]
    model = builder(tmp_path)
    proc = run_cli(model, *extra)
    assert proc.returncode == code
    assert_one_line_error(proc)
    assert files_in(tmp_path) == [model.name]
    with pytest.raises(RvcConvertError):
        convert_model(model, "mlx", dtype=extra[1] if extra else None)
    assert files_in(tmp_path) == [model.name]


def test_nan_in_weight_v_is_reported_as_nan_not_as_a_zero_row(tmp_path):
    """A NaN in weight_v must be blamed on the NaN in the source, not on "an all-zero weight_v row"
    (which is what the message said): the fix hint must point at the real damage."""
    model = nan_in_weight_v(tmp_path)
    with pytest.raises(RvcConvertError) as err:
        convert_model(model, "ios", tmp_path / "out")
    message = str(err.value)
    assert "all-zero" not in message, message
    assert "NaN" in message


def test_all_zero_weight_v_row_is_refused(tmp_path):
    """An all-zero weight_v row makes g·v/‖v‖ divide by zero: refused (exit 2), not written as NaN."""

    def edit(w):
        t = w["dec.resblocks.7.convs2.0.weight_v"].clone()
        t[4] = 0
        w["dec.resblocks.7.convs2.0.weight_v"] = t

    model = _edited_export(tmp_path, "zero_row.pth", edit)
    with pytest.raises(RvcConvertError) as err:
        convert_model(model, "ios", tmp_path / "out")
    assert err.value.exit_code == 2 and "dec.resblocks.7.convs2.0" in str(err.value)
    assert files_in(tmp_path / "out") == []


def test_fp16_overflow_converts_with_fp32(tmp_path):
    """The fp32 checkpoint holding 70000 converts with --dtype fp32 (exit 0), the value intact."""
    model = fp16_overflow(tmp_path)
    proc = run_cli(model, "-o", tmp_path / "cli", "--dtype", "fp32", "--no-validate")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli" / "G_big.safetensors").is_file()
    result = convert_model(model, "ios", tmp_path / "api", dtype="fp32")
    import safetensors.numpy

    out = safetensors.numpy.load_file(str(result.weights_path))
    assert out["dec.conv_pre.weight"].dtype == np.float32
    assert out["dec.conv_pre.weight"][0, 0, 0] == 70000.0  # (O,K,I): [0,0,0] stays [0,0,0]


# --- pickle payloads ----------------------------------------------------------------------------


class _Payload:
    """Unpickling this runs os.system(command): what a hostile checkpoint does."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _payload_pickle(marker: Path, protocol: int) -> bytes:
    data = pickle.dumps(OrderedDict([("weight", _Payload(f"touch {shlex.quote(str(marker))}")), ("config", [])]), protocol=protocol)
    names = {str(arg) for op, arg, _ in pickletools.genops(data) if arg is not None}
    assert any("system" in name for name in names), "the payload must reference os.system"
    return data


def payload_zip(folder: Path, marker: Path, protocol: int = 2) -> Path:
    """The PyTorch zip layout written with zipfile (no torch): archive/data.pkl carries the payload."""
    path = folder / "evil_zip.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", _payload_pickle(marker, protocol))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    return path


def payload_legacy(folder: Path, marker: Path, protocol: int = 2) -> Path:
    """The legacy (non-zip) torch layout: magic, protocol, sys_info, then the payload object."""
    path = folder / "evil_legacy.pth"
    with open(path, "wb") as handle:
        pickle.dump(LEGACY_MAGIC, handle, protocol=2)
        pickle.dump(1001, handle, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, handle, protocol=2)
        handle.write(_payload_pickle(marker, protocol))
        pickle.dump([], handle, protocol=2)
    return path


PAYLOADS = {
    "zip-protocol2": lambda folder, marker: payload_zip(folder, marker, 2),
    "zip-protocol4": lambda folder, marker: payload_zip(folder, marker, 4),
    "legacy": lambda folder, marker: payload_legacy(folder, marker, 2),
}


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_pickle_payload_is_refused_and_never_runs(kind, tmp_path):
    """A checkpoint whose pickle calls os.system via __reduce__ (zip written with zipfile, and the
    legacy format) is refused with exit code 3 by convert, inspect and the API; the marker file
    the payload would create never appears."""
    marker = tmp_path / "PWNED"
    inp = tmp_path / "input"
    inp.mkdir()
    model = PAYLOADS[kind](inp, marker)
    for args in ([model, "-o", tmp_path / "out"], ["inspect", model]):
        proc = run_cli(*args)
        assert proc.returncode == 3, (args, proc.returncode, proc.stderr)
        assert_one_line_error(proc)
        assert not marker.exists(), "the pickle payload ran"
    for target in ("ios", "mlx"):
        with pytest.raises(UnsafeInputError) as err:
            convert_model(model, target, tmp_path / "out")
        assert err.value.exit_code == 3
        assert "system" in str(err.value)
    assert not marker.exists(), "the pickle payload ran"
    assert files_in(tmp_path / "out") == []


# --- --json on failure ----------------------------------------------------------------------------


@pytest.mark.parametrize("case,code", [("zero-byte", 5), ("missing-tensor", 2), ("fp16-overflow", 2), ("random-bytes", 2)])
def test_json_error_object_on_failure(case, code, case_dirs):
    """With --json a failure prints a JSON error object on stdout: ok false, the exit code, a kind
    and the message (stderr keeps its one line)."""
    builder, _code, words, extra = CASES[case]
    inp, out = case_dirs
    model = builder(inp)
    proc = run_cli(model, "-o", out, "--json", *extra)
    assert proc.returncode == code
    document = json.loads(proc.stdout)
    assert document["ok"] is False
    assert document["error"]["exit_code"] == code
    assert document["error"]["kind"]
    assert all(word in document["error"]["message"] for word in words)
    assert_one_line_error(proc)
    assert files_in(out) == []


def test_json_error_object_for_unsafe_input(tmp_path):
    """--json on an unsafe file: ok false, exit code 3 in the JSON and as the process status."""
    model = payload_zip(tmp_path, tmp_path / "PWNED")
    proc = run_cli(model, "-o", tmp_path / "out", "--json")
    assert proc.returncode == 3
    document = json.loads(proc.stdout)
    assert document["ok"] is False and document["error"]["exit_code"] == 3
    assert not (tmp_path / "PWNED").exists()


def test_missing_input_file_is_an_io_error(tmp_path):
    """A path that does not exist: exit 5, one line, nothing created."""
    proc = run_cli(tmp_path / "nope.pth", "-o", tmp_path / "out")
    assert proc.returncode == 5
    assert "nope.pth" in assert_one_line_error(proc)
    assert files_in(tmp_path / "out") == []
