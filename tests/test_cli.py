"""The command line: `rvc-convert MODEL` converts, --dry-run writes nothing, inspect --json tells
everything about the plan, --help documents the exit codes, a bad flag exits 4."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch

from rvc_convert.convert import convert_model

REPO = Path(__file__).resolve().parent.parent

from golden import golden_path


EXPORT = "synth/models/v2-48k-f0-tiny.pth"
TRAINING = "synth/extra/G_2333333.pth"
PARAMETRIZATIONS = "synth/extra/v2-48k-f0-tiny-parametrizations.pth"
# What a PyTorch checkpoint of plain tensors may legitimately name (and nothing that executes code).
HARMLESS_GLOBALS = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.HalfStorage",
    "torch.FloatStorage",
    "torch.LongStorage",
    "torch.BFloat16Storage",
    "torch.DoubleStorage",
    "torch.IntStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
}


def console_script() -> list[str]:
    """The installed `rvc-convert` console script (falls back to `python -m rvc_convert`)."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        script = folder / "rvc-convert"
        if script.is_file():
            return [str(script)]
    found = shutil.which("rvc-convert")
    return [found] if found else [sys.executable, "-m", "rvc_convert"]


def run(command: list[str], *args) -> subprocess.CompletedProcess:
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=REPO)


def run_module(*args) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "rvc_convert"], *args)


def copy_model(relpath: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / Path(relpath).name
    shutil.copyfile(golden_path(relpath), dest)
    return dest


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- the default command ------------------------------------------------------------------------


@pytest.mark.parametrize("launcher", ["console-script", "python-m"])
def test_model_without_subcommand_converts(launcher, tmp_path):
    """`rvc-convert MODEL` (no sub-command) converts: beside the model by default, the same bytes
    as the Python API; `-t mlx -o DIR` writes the .npz into DIR."""
    command = console_script() if launcher == "console-script" else [sys.executable, "-m", "rvc_convert"]
    model = copy_model(EXPORT, tmp_path / "voices")
    proc = run(command, model) if launcher == "console-script" else run(command, model, "--no-validate")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree(model.parent) == sorted([model.name, "v2-48k-f0-tiny.json", "v2-48k-f0-tiny.safetensors"])
    assert "wrote" in proc.stdout and "v2-48k-f0-tiny.safetensors" in proc.stdout
    api = convert_model(model, "ios", tmp_path / "api")
    assert (model.parent / "v2-48k-f0-tiny.safetensors").read_bytes() == api.weights_path.read_bytes()
    assert (model.parent / "v2-48k-f0-tiny.json").read_bytes() == api.config_path.read_bytes()

    proc = run(command, model, "-t", "mlx", "-o", tmp_path / "mlx-out", "--no-validate")
    assert proc.returncode == 0, proc.stderr
    assert tree(tmp_path / "mlx-out") == ["v2-48k-f0-tiny.json", "v2-48k-f0-tiny.npz"]
    api_npz = convert_model(model, "mlx", tmp_path / "api-mlx")
    assert (tmp_path / "mlx-out" / "v2-48k-f0-tiny.npz").read_bytes() == api_npz.weights_path.read_bytes()


def test_explicit_convert_subcommand_equals_default(tmp_path):
    """`rvc-convert convert MODEL` and `rvc-convert MODEL` produce identical files."""
    model = golden_path(EXPORT)
    a = run_module(model, "-o", tmp_path / "a", "--dtype", "fp32", "--no-validate")
    b = run_module("convert", model, "-o", tmp_path / "b", "--dtype", "fp32", "--no-validate")
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    for name in ("v2-48k-f0-tiny.safetensors", "v2-48k-f0-tiny.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert safetensors.numpy.load_file(str(tmp_path / "a" / "v2-48k-f0-tiny.safetensors"))["dec.conv_pre.weight"].dtype == np.float32


# --- --dry-run ----------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_prints_the_plan(tmp_path):
    """--dry-run reads, detects and plans, prints the plan, and writes nothing (neither into -o nor
    beside the model); with --json the plan is the full per-tensor plan and outputs is empty."""
    model = copy_model(EXPORT, tmp_path / "voices")
    proc = run_module(model, "--dry-run", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "out").exists()
    assert tree(model.parent) == [model.name]
    assert "dry run" in proc.stdout
    assert "281 target tensors" in proc.stdout
    assert "v2" in proc.stdout and "48000 Hz" in proc.stdout

    proc = run_module(model, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["ok"] is True and document["dry_run"] is True
    assert document["outputs"] == []
    assert len(document["plan"]["tensors"]) == 281
    assert tree(model.parent) == [model.name]


# --- inspect --json ---------------------------------------------------------------------------------


def _safetensors_data_bytes(path: Path) -> int:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return len(raw) - 8 - length


@pytest.mark.parametrize("relpath,dropped", [(TRAINING, 103), (PARAMETRIZATIONS, 0), (EXPORT, 0)])
def test_inspect_json_lists_every_tensor(relpath, dropped, tmp_path):
    """inspect --json is valid JSON: every source tensor (as torch reads it) appears exactly once,
    with its stored key, shape and dtype, the rule and the target key/shape (equal to what a
    conversion writes), or among the dropped keys with its rule; the pickle globals (all harmless)
    and the output size (equal to the written tensor bytes). inspect writes nothing."""
    model = copy_model(relpath, tmp_path / "voices")
    proc = run_module("inspect", model, "--json")
    assert proc.returncode == 0, proc.stderr
    assert tree(model.parent) == [model.name]
    document = json.loads(proc.stdout)
    assert document["ok"] is True
    plan = document["plan"]

    cpt = torch.load(model, map_location="cpu", weights_only=True)
    state = cpt["weight"] if "weight" in cpt else cpt["model"]
    seen: dict[str, int] = {}
    for item in plan["tensors"]:
        assert item["rule"] and item["target"] and item["kind"]
        assert set(item["sources"]) == set(item["source_shapes"])
        for role, key in item["sources"].items():
            seen[key] = seen.get(key, 0) + 1
            assert key in state, f"{key} is not a stored key"
            assert item["source_shapes"][role] == list(state[key].shape), key
            assert item["source_dtype"] == str(state[key].dtype).replace("torch.", ""), key
    for item in plan["dropped"]:
        assert item["rule"]
        seen[item["source"]] = seen.get(item["source"], 0) + 1
    assert set(seen) == set(state), sorted(set(state) ^ set(seen))[:5]
    assert all(count == 1 for count in seen.values())
    assert len(plan["dropped"]) == dropped
    assert all(item["source"].startswith("enc_q.") for item in plan["dropped"])

    assert plan["pickle_globals"], "the pickle globals must be listed"
    assert set(plan["pickle_globals"]) <= HARMLESS_GLOBALS, plan["pickle_globals"]
    assert "torch._utils._rebuild_tensor_v2" in plan["pickle_globals"]

    result = convert_model(model, "ios", tmp_path / "out")
    written = safetensors.numpy.load_file(str(result.weights_path))
    assert {item["target"] for item in plan["tensors"]} == set(written)
    for item in plan["tensors"]:
        assert list(written[item["target"]].shape) == item["target_shape"], item["target"]
    assert plan["output_bytes"] == _safetensors_data_bytes(result.weights_path)
    assert plan["output_dtype"] == result.output_dtype
    assert plan["config"] == json.loads(result.config_path.read_text())


def test_inspect_text_shows_the_table_and_brief_hides_it():
    """inspect (text) prints one line per target tensor with its rule; --brief only the summary."""
    model = golden_path(EXPORT)
    full = run_module("inspect", model)
    brief = run_module("inspect", model, "--brief")
    assert full.returncode == 0 and brief.returncode == 0
    assert "dec.up_0.weight" in full.stdout and "generator_upsample_weight" in full.stdout
    assert "dec.up_0.weight" not in brief.stdout
    assert "281 target tensors" in brief.stdout


# --- help and usage errors -----------------------------------------------------------------------


def test_help_mentions_exit_codes():
    """--help documents every exit code (0-5)."""
    proc = run_module("--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "Exit codes" in text
    for phrase in ("0 ok", "1 validation", "2 unsupported", "3 unsafe", "4 usage", "5 I/O"):
        assert phrase in text, phrase


@pytest.mark.parametrize(
    "args",
    [
        ["{model}", "--bogus"],
        ["{model}", "-t", "android"],
        ["{model}", "--dtype", "fp8"],
        ["inspect", "{model}", "--bogus"],
        ["inspect"],
        ["convert"],
    ],
    ids=["unknown-flag", "bad-target", "bad-dtype", "inspect-unknown-flag", "inspect-no-model", "convert-no-model"],
)
def test_bad_usage_exits_4(args, tmp_path):
    """A usage error (unknown flag, bad choice, missing argument) exits 4, writes nothing, no traceback."""
    model = copy_model(EXPORT, tmp_path / "voices")
    proc = run_module(*[str(model) if a == "{model}" else a for a in args])
    assert proc.returncode == 4, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert tree(model.parent) == [model.name]
