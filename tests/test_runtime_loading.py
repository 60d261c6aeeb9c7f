"""Every runtime model's `from_file` treats a converted file as hostile.

A converted file's `config` metadata sizes the model (layer counts, widths) and its front end (STFT
sizes, hops): forged, it once made the runtime loop a billion times building layers, or allocate
what the metadata asked for at the first call. Damaged containers made MLX raise RuntimeError or
IndexError, or read lazily a tensor whose bytes were missing. Now each is refused by `from_file`
with a one-line ValueError that names the file and the field; the forged cases run in a subprocess
under a 4 GiB address-space cap and a timeout, so a loop or an allocation sized by the file fails
the test instead of the machine.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import pytest
from golden import golden_path
from pipeline_helpers import HUBERT, RMVPE, VOICE
from pitch_convert import convert_pitch_file
from pitch_reference import reference_checkpoint

from rvc_convert.convert import convert_model
from rvc_runtime import Synthesizer
from rvc_runtime.crepe import CREPE
from rvc_runtime.fcpe import FCPE
from rvc_runtime.hubert import HuBERT
from rvc_runtime.rmvpe import RMVPE as RMVPEModel

REPO = Path(__file__).resolve().parent.parent
MODELS = {"hubert": HuBERT, "rmvpe": RMVPEModel, "crepe": CREPE, "fcpe": FCPE, "synthesizer": Synthesizer}
# (model, config fields to change, or metadata entries with "meta:", the words the refusal must hold)
FORGED = {
    "hubert-billion-layers": ("hubert", {"num_layers": 10**9}, "num_layers"),
    "hubert-100k-conv-layers": ("hubert", {"conv_layers": [[32, 10, 5]] * 100_000}, "conv_layers"),
    "hubert-width-as-text": ("hubert", {"hidden_size": "64"}, "hidden_size"),
    "hubert-no-heads": ("hubert", {"num_heads": 0}, "num_heads"),
    "hubert-heads-do-not-divide": ("hubert", {"num_heads": 7}, "num_heads 7"),
    "rmvpe-million-levels": ("rmvpe", {"en_de_layers": 10**6}, "en_de_layers"),
    "rmvpe-too-wide": ("rmvpe", {"en_out_channels": 16384}, "doubled over 5 levels"),
    "rmvpe-terabyte-fft": ("rmvpe", {"n_fft": 1 << 40, "win_length": 1 << 40}, "n_fft"),
    "rmvpe-zero-pool": ("rmvpe", {"kernel_size": [0, 2]}, "kernel_size"),
    "rmvpe-window-past-fft": ("rmvpe", {"win_length": 4096}, "win_length 4096"),
    "crepe-terabyte-window": ("crepe", {"window": 1 << 40}, "window"),
    "crepe-100k-layers": ("crepe", {"channels": [4] * 100_000}, "channels"),
    "crepe-layer-lists-disagree": ("crepe", {"strides": [4, 1, 1]}, "one entry per layer"),
    "fcpe-billion-layers": ("fcpe", {"n_layers": 10**9}, "n_layers"),
    "fcpe-huge-hop": ("fcpe", {"hop_length": 10**12}, "hop_length"),
    "fcpe-groups-do-not-divide": ("fcpe", {"group_norm_groups": 5}, "group_norm_groups"),
    "synth-million-upsampling": ("synthesizer", {12: [10**6, 10, 2, 2]}, "upsample_rates"),
    "synth-hop-beyond-4096": ("synthesizer", {12: [64, 64, 2, 2]}, "hop of at most 4096"),
    "synth-dilation-of-ten-million": ("synthesizer", {11: [[1, 3, 10**7], [1, 3, 5], [1, 3, 5]]}, "resblock_dilation_sizes"),
    "synth-billion-layers": ("synthesizer", {6: 10**9}, "n_layers"),
    "synth-no-heads": ("synthesizer", {5: 0}, "n_heads"),
    "synth-speakers-5000-digits": ("synthesizer", {"meta:speakers": "9" * 5000, "drop:emb_g": True}, "speakers"),
    "synth-sample-rate-as-words": ("synthesizer", {"meta:sample_rate": "forty thousand"}, "sample_rate"),
    "synth-negative-hop": ("synthesizer", {"meta:hop": "-400"}, "hop"),
    "config-not-json": ("rmvpe", {"meta:config": "{not json"}, "not JSON"),
    "config-a-list": ("hubert", {"meta:config": "[1, 2, 3]"}, "not a JSON object"),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("loading")
    files = {name: Path(convert_model(golden_path(source), "ios", out, dtype="fp32").weights_path) for name, source in (("hubert", HUBERT), ("rmvpe", RMVPE), ("synthesizer", VOICE))}
    for name, checkpoint in (("crepe", "crepe-tiny"), ("fcpe", "fcpe")):
        files[name] = convert_pitch_file(reference_checkpoint(checkpoint), out / name, target="ios")[0]
    return files


def read_safetensors(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def write_safetensors(path: Path, header: dict, body: bytes) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


def forge(source: Path, dest: Path, changes: dict) -> Path:
    """A copy of a converted .safetensors with config fields (by name, or by index for the RVC config
    list), metadata entries ("meta:<key>") or tensors ("drop:<prefix>") changed."""
    header, body = read_safetensors(source)
    metadata = header["__metadata__"]
    config = json.loads(metadata["config"])
    for key, value in changes.items():
        if isinstance(key, str) and key.startswith("meta:"):
            metadata[key[5:]] = value
        elif isinstance(key, str) and key.startswith("drop:"):
            header = {k: v for k, v in header.items() if not k.startswith(key[5:])}
        else:
            config[key] = value
    if not any(isinstance(k, str) and k == "meta:config" for k in changes):
        metadata["config"] = json.dumps(config)
    return write_safetensors(dest, header, body)


def test_forged_configs_are_refused_naming_the_field(converted, tmp_path):
    cases = {}
    for name, (model, changes, _) in FORGED.items():
        cases[name] = (model, str(forge(converted[model], tmp_path / f"{name}.safetensors", changes)))
    script = f"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
sys.path.insert(0, {str(REPO)!r})
import rvc_runtime
from rvc_runtime import Synthesizer
from rvc_runtime.crepe import CREPE
from rvc_runtime.fcpe import FCPE
from rvc_runtime.hubert import HuBERT
from rvc_runtime.rmvpe import RMVPE
classes = {{"hubert": HuBERT, "rmvpe": RMVPE, "crepe": CREPE, "fcpe": FCPE, "synthesizer": Synthesizer}}
results = {{}}
for name, (model, path) in json.loads(sys.argv[1]).items():
    try:
        classes[model].from_file(path)
        results[name] = ["loaded", ""]
    except Exception as error:
        results[name] = [type(error).__name__, str(error)]
print(json.dumps(results))
"""
    run = subprocess.run([sys.executable, "-c", script, json.dumps(cases)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    for name, (model, changes, words) in FORGED.items():
        kind, message = results[name]
        assert kind in ("ValueError",), f"{name}: {kind} {message[:300]}"
        assert cases[name][1] in message and words in message and "\n" not in message, f"{name}: {message[:300]}"


def test_the_untouched_files_load(converted):
    for model, path in converted.items():
        assert MODELS[model].from_file(path) is not None


def test_damaged_containers_are_value_errors_naming_the_file(converted, tmp_path):
    header, body = read_safetensors(converted["rmvpe"])
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(converted["rmvpe"].read_bytes()[: -len(body) // 2])
    name = next(k for k in header if k != "__metadata__")
    huge = write_safetensors(tmp_path / "huge.safetensors", header | {name: header[name] | {"shape": [1 << 20, 1 << 20]}}, body)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    for path in (cut, huge, garbage, tmp_path / "missing.safetensors"):
        with pytest.raises(ValueError) as error:
            RMVPEModel.from_file(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)


def npz_with(path: Path, members: dict[str, bytes], comment: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.comment = comment
    return path


def test_forged_npz_members_are_value_errors(tmp_path):
    """An .npz member whose .npy header promises 2^36 floats, or whose data stops short of its shape
    (MLX reads it lazily: the damage showed only when the weights were first used)."""
    npz = Path(convert_model(golden_path(RMVPE), "mlx", tmp_path / "npz", dtype="fp32").weights_path)
    with zipfile.ZipFile(npz) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
        comment = archive.comment
    name = max(members, key=lambda n: len(members[n]))
    raw = members[name]
    header_len = int.from_bytes(raw[8:10], "little")
    header = raw[10 : 10 + header_len].decode("latin1")
    shape = header[header.index("(") : header.index(")") + 1]
    forged = header.replace(shape, "(68719476736,)").ljust(header_len)[:header_len]
    cases = {
        "promises-2^36": npz_with(tmp_path / "promise.npz", members | {name: raw[:10] + forged.encode("latin1") + raw[10 + header_len :]}, comment),
        "data-cut-short": npz_with(tmp_path / "short.npz", members | {name: raw[: 10 + header_len + 64]}, comment),
    }
    for case, path in cases.items():
        with pytest.raises(ValueError) as error:
            RMVPEModel.from_file(path)
        assert str(path) in str(error.value), case


def test_f0_method_of_a_forged_config_is_a_value_error(converted, tmp_path):
    """rvc_runtime.pitch.f0_method_of reads the same config metadata: a list, broken JSON or another
    family is a one-line ValueError naming the file (a list was once an AttributeError, exit 70)."""
    from rvc_runtime.pitch import f0_method_of

    assert f0_method_of(converted["rmvpe"]) == "rmvpe" and f0_method_of(converted["crepe"]) == "crepe-tiny"
    for name, changes in {"list": {"meta:config": "[1, 2]"}, "not-json": {"meta:config": "{not json"}, "hubert": {}}.items():
        source = converted["hubert"] if name == "hubert" else converted["rmvpe"]
        path = forge(source, tmp_path / f"{name}.safetensors", changes)
        with pytest.raises(ValueError) as error:
            f0_method_of(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value), name
