"""The conversion is right: golden RVC synthesizers -> MLX files (.safetensors for ios, .npz for mlx).

Every expectation here is computed independently of rvc_convert: source tensors come from
`torch.load(weights_only=True)`, target names from the naming table (docs/synthesizer_format.md, "Target naming"), layouts from
docs/synthesizer_format.md, "Layouts", weight norm from `torch._weight_norm`, configs and facts from
fixtures/golden/README.md. The converter's own plan is only used to know *what it claims* it did, which the
tests then check.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import shutil
import struct
import zipfile
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import safetensors
import safetensors.numpy
import torch

import rvc_convert
from rvc_convert.convert import convert_model
from rvc_convert.rules import load_rule_pack

REPO = Path(__file__).resolve().parent.parent

from golden import golden_path
from outputs import load_output, output_metadata, torch_single_thread
import make_variants

# --- facts from fixtures/golden/README.md (synth/ table) ----------------------------------------

_BLOCKS = [3, 7, 11], [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
GOLDEN = {
    "v1-40k-f0-tiny": dict(
        rel="synth/models/v1-40k-f0-tiny.pth", version="v1", sr=40000, f0=True, speakers=3, hop=400, tensors=385,
        config=[1025, 32, 16, 24, 48, 2, 2, 3, 0, "1", *_BLOCKS, [10, 10, 2, 2], 64, [16, 16, 4, 4], 3, 20, 40000],
    ),
    "v2-48k-f0-tiny": dict(
        rel="synth/models/v2-48k-f0-tiny.pth", version="v2", sr=48000, f0=True, speakers=3, hop=480, tensors=385,
        config=[1025, 32, 16, 24, 48, 2, 2, 3, 0, "1", *_BLOCKS, [12, 10, 2, 2], 64, [24, 20, 4, 4], 3, 20, 48000],
    ),
    "v2-32k-nof0-tiny": dict(
        rel="synth/models/v2-32k-nof0-tiny.pth", version="v2", sr=32000, f0=False, speakers=3, hop=320, tensors=374,
        config=[513, 32, 16, 24, 48, 2, 2, 3, 0, "1", *_BLOCKS, [10, 8, 2, 2], 64, [20, 16, 4, 4], 3, 20, 32000],
    ),
    "v1-32k-nof0-tiny": dict(
        rel="synth/models/v1-32k-nof0-tiny.pth", version="v1", sr=32000, f0=False, speakers=3, hop=320, tensors=431,
        config=[513, 32, 16, 24, 48, 2, 2, 3, 0, "1", *_BLOCKS, [10, 4, 2, 2, 2], 64, [16, 16, 4, 4, 4], 3, 20, 32000],
    ),
    "v2-40k-f0": dict(
        rel="synth/models/v2-40k-f0.pth", version="v2", sr=40000, f0=True, speakers=109, hop=400, tensors=457,
        config=[1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", *_BLOCKS, [10, 10, 2, 2], 512, [16, 16, 4, 4], 109, 256, 40000],
    ),
}
# Companions of v2-48k-f0-tiny: same weights, other containers / spellings.
EXTRAS = {
    "G_2333333": dict(rel="synth/extra/G_2333333.pth", kind="training-checkpoint", tensors=488, enc_q=103),
    "v2-48k-f0-tiny-applio": dict(rel="synth/extra/v2-48k-f0-tiny-applio.pth", kind="applio-export", tensors=385, enc_q=0),
    "v2-48k-f0-tiny-parametrizations": dict(rel="synth/extra/v2-48k-f0-tiny-parametrizations.pth", kind="webui-export", tensors=385, enc_q=0),
}
TINY = [name for name in GOLDEN if name.endswith("-tiny")]
ALL_FILES = {name: spec["rel"] for name, spec in GOLDEN.items()} | {name: spec["rel"] for name, spec in EXTRAS.items()}
SMALL_FILES = {name: rel for name, rel in ALL_FILES.items() if name != "v2-40k-f0"}

METADATA_FIELDS = (
    "rvc_convert.version",  # converter version
    "rvc_convert.rules_sha256",  # rules hash
    "source_sha256",
    "family",
    "version",
    "sample_rate",
    "f0",
    "speakers",
    "dtype",
    "layout",
)

# --- independent expectations ----------------------------------------------------------------

WN_SPELLINGS = {
    ".weight_g": "g",
    ".weight_v": "v",
    ".parametrizations.weight.original0": "g",
    ".parametrizations.weight.original1": "v",
}
_RENAMES = [  # docs/synthesizer_format.md, "Target naming"
    (r"^dec\.ups\.(\d+)\.", lambda m: f"dec.up_{m[1]}."),
    (r"^dec\.resblocks\.(\d+)\.convs1\.(\d+)\.", lambda m: f"dec.resblock_{m[1]}.c1_{m[2]}."),
    (r"^dec\.resblocks\.(\d+)\.convs2\.(\d+)\.", lambda m: f"dec.resblock_{m[1]}.c2_{m[2]}."),
    (r"^dec\.noise_convs\.(\d+)\.", lambda m: f"dec.noise_conv_{m[1]}."),
    (r"^enc_p\.encoder\.attn_layers\.(\d+)\.", lambda m: f"enc_p.encoder.attn_{m[1]}."),
    (r"^enc_p\.encoder\.ffn_layers\.(\d+)\.", lambda m: f"enc_p.encoder.ffn_{m[1]}."),
    (r"^enc_p\.encoder\.norm_layers_1\.(\d+)\.", lambda m: f"enc_p.encoder.norm1_{m[1]}."),
    (r"^enc_p\.encoder\.norm_layers_2\.(\d+)\.", lambda m: f"enc_p.encoder.norm2_{m[1]}."),
    (r"^flow\.flows\.(\d+)\.", lambda m: f"flow.flow_{int(m[1]) // 2}."),
    (r"\.enc\.in_layers\.(\d+)\.", lambda m: f".enc.in_layer_{m[1]}."),
    (r"\.enc\.res_skip_layers\.(\d+)\.", lambda m: f".enc.res_skip_layer_{m[1]}."),
    (r"\.gamma$", lambda m: ".weight"),
    (r"\.beta$", lambda m: ".bias"),
]


def split_weight_norm(key: str) -> tuple[str, str | None]:
    """`a.b.weight_g` -> (`a.b.weight`, 'g'); other keys -> (key, None)."""
    for suffix, role in WN_SPELLINGS.items():
        if key.endswith(suffix):
            return key[: -len(suffix)] + ".weight", role
    return key, None


def expected_target_name(source_key: str) -> str | None:
    """The target name of a source key by the naming table; None for dropped (enc_q.*) tensors."""
    if source_key.startswith("enc_q."):
        return None
    key, _ = split_weight_norm(source_key)
    for pattern, repl in _RENAMES:
        key = re.sub(pattern, repl, key)
    return key


def sources_by_target(state: dict[str, torch.Tensor]) -> dict[str, str]:
    """Target name -> fused source key, by the naming table (this test's own oracle): the rename
    inverted from its forward direction, one source per target or the table is not invertible."""
    inverse: dict[str, str] = {}
    for key in state:
        target = expected_target_name(key)
        if target is None:
            continue
        fused, _ = split_weight_norm(key)
        assert inverse.setdefault(target, fused) == fused, f"{fused} and {inverse[target]} both become {target}"
    return inverse


def expected_permutation(fused_key: str, ndim: int) -> tuple[int, ...] | None:
    """Layout by layer (docs/synthesizer_format.md, "Layouts"): ConvTranspose1d (1,2,0), every other 3-D conv (0,2,1)."""
    if ndim != 3 or re.search(r"emb_rel_[kv]$", fused_key):
        return None
    return (1, 2, 0) if re.fullmatch(r"dec\.ups\.\d+\.weight", fused_key) else (0, 2, 1)


def torch_state(path: Path) -> dict[str, torch.Tensor]:
    """The generator state dict as torch itself reads it (export `weight`, or G_*.pth `model`)."""
    return dict(_torch_state_cached(str(path), Path(path).stat().st_mtime_ns))


@functools.lru_cache(maxsize=16)
def _torch_state_cached(path: str, _mtime: int) -> dict[str, torch.Tensor]:
    cpt = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(cpt, dict) and isinstance(cpt.get("weight"), dict):
        return dict(cpt["weight"])
    if isinstance(cpt, dict) and isinstance(cpt.get("model"), dict):
        return dict(cpt["model"])
    return dict(cpt)


def torch_fused(g: torch.Tensor, v: torch.Tensor) -> np.ndarray:
    """PyTorch's own weight norm in float32; dim = the one axis where g is not 1."""
    dims = [i for i, size in enumerate(g.shape) if size != 1]
    dim = dims[0] if len(dims) == 1 else 0
    with torch_single_thread():
        return torch._weight_norm(v.float(), g.float(), dim).numpy()


def reference_for(path: Path) -> dict[str, tuple[np.ndarray, bool]]:
    """reference_outputs of a file's state dict, computed once per file."""
    return _reference_cached(str(path), Path(path).stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _reference_cached(path: str, _mtime: int) -> dict[str, tuple[np.ndarray, bool]]:
    return reference_outputs(torch_state(Path(path)))


def reference_outputs(state: dict[str, torch.Tensor]) -> dict[str, tuple[np.ndarray, bool]]:
    """target name -> (expected tensor in the MLX layout, fused?). Fused tensors are float32 (unrounded)."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if expected_target_name(key) is None:
            continue
        fused_key, role = split_weight_norm(key)
        groups.setdefault(fused_key, {})[role or "w"] = value
    out = {}
    for fused_key, roles in groups.items():
        if set(roles) == {"g", "v"}:
            array, fused = torch_fused(roles["g"], roles["v"]), True
        else:
            assert set(roles) == {"w"}, f"{fused_key}: unexpected roles {set(roles)}"
            array, fused = roles["w"].numpy(), False
        perm = expected_permutation(fused_key, array.ndim)
        if perm:
            array = np.ascontiguousarray(np.transpose(array, perm))
        out[expected_target_name(fused_key)] = (array, fused)
    return out


def fp16_ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float16 units in the last place (adjacent representable values are 1 apart)."""

    def ordered(x):
        u = np.asarray(x, dtype=np.float16).view(np.uint16).astype(np.int32)
        mag = u & 0x7FFF
        return np.where(u & 0x8000, -mag, mag)

    return np.abs(ordered(a) - ordered(b))


def assert_matches_reference(outputs: dict[str, np.ndarray], reference: dict[str, tuple[np.ndarray, bool]], dtype: np.dtype) -> None:
    """Unfused tensors exactly (source value cast to the output dtype); fused ones within 1 fp16 ulp
    (fp16 output) or 1e-6 relative (fp32 output) of torch's float32 weight norm."""
    assert set(outputs) == set(reference)
    for name, (expected, fused) in reference.items():
        got = outputs[name]
        assert got.dtype == dtype, f"{name}: dtype {got.dtype}, expected {dtype}"
        assert got.shape == expected.shape, f"{name}: shape {got.shape}, expected {expected.shape}"
        if not fused:
            assert got.tobytes() == expected.astype(dtype).tobytes(), f"{name}: differs from the source tensor"
        elif dtype == np.float16:
            worst = int(fp16_ulps(got, expected.astype(np.float16)).max())
            assert worst <= 1, f"{name}: fused weight is {worst} fp16 ulps from torch._weight_norm"
        else:
            err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
            bound = 1e-6 * np.abs(expected.astype(np.float64)) + 1e-30
            assert np.all(err <= bound), f"{name}: fused weight is {float(np.max(err / bound)) * 1e-6:.3g} relative from torch._weight_norm"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mx_to_numpy(array: mx.array) -> np.ndarray:
    return np.array(array, copy=True)


# --- every golden file, both targets ----------------------------------------------------------


@pytest.mark.parametrize("target", ["ios", "mlx"])
@pytest.mark.parametrize("name", list(ALL_FILES))
def test_golden_file_converts_and_loads(name, target, tmp_path):
    """Every golden synthesizer converts to both targets; the file loads with numpy/safetensors AND
    mx.load, holds exactly the naming table's target names, the right values, an 18-field config sidecar
    and full provenance metadata (npz: the same metadata as JSON in the zip comment)."""
    source = golden_path(ALL_FILES[name])
    result = convert_model(source, target=target, out_dir=tmp_path)
    weights = result.weights_path
    assert weights == tmp_path / f"{source.stem}{'.safetensors' if target == 'ios' else '.npz'}"
    assert result.config_path == tmp_path / f"{source.stem}.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([weights.name, result.config_path.name])

    state = torch_state(source)
    expected_names = {expected_target_name(k) for k in state} - {None}
    loaded = load_output(weights)
    assert set(loaded) == expected_names

    # mx.load reads the same tensors, bit for bit
    if target == "ios":
        mx_arrays, mx_meta = mx.load(str(weights), return_metadata=True)
        assert mx_meta == output_metadata(weights)
    else:
        mx_arrays = mx.load(str(weights))
    assert set(mx_arrays) == expected_names
    for key, array in loaded.items():
        as_np = mx_to_numpy(mx_arrays[key])
        assert as_np.dtype == array.dtype and as_np.shape == array.shape and as_np.tobytes() == array.tobytes(), key

    # values: the independent reference (torch weight norm, the documented layouts)
    out_dtype = np.dtype(np.float32 if name == "G_2333333" else np.float16)
    assert_matches_reference(loaded, reference_for(source), out_dtype)

    # sidecar: the 18-field RVC config list
    golden = GOLDEN.get(name, GOLDEN["v2-48k-f0-tiny"])
    sidecar = json.loads(result.config_path.read_text())
    assert isinstance(sidecar, list) and len(sidecar) == 18
    assert sidecar == golden["config"]

    # provenance
    meta = output_metadata(weights)
    missing = [f for f in METADATA_FIELDS if f not in meta]
    assert not missing, f"metadata lacks {missing}"
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["rvc_convert.version"] == rvc_convert.__version__
    assert meta["rvc_convert.rules_sha256"] == load_rule_pack("synthesizer").sha256
    assert re.fullmatch(r"[0-9a-f]{64}", meta["rvc_convert.rules_sha256"])
    assert meta["source_sha256"] == sha256(source)
    assert meta["family"] == "synthesizer"
    assert meta["version"] == golden["version"]
    assert meta["sample_rate"] == str(golden["sr"])
    assert meta["f0"] == ("1" if golden["f0"] else "0")
    assert meta["speakers"] == str(golden["speakers"])
    assert meta["dtype"] == str(out_dtype)
    assert meta["layout"] == "mlx"


def test_both_targets_carry_the_same_metadata_and_tensors(tmp_path):
    """The .npz zip comment holds exactly the safetensors __metadata__, and both containers hold the
    same tensors: one rule set, two containers."""
    source = golden_path(GOLDEN["v2-48k-f0-tiny"]["rel"])
    ios = convert_model(source, "ios", tmp_path / "ios")
    mlx_ = convert_model(source, "mlx", tmp_path / "mlx")
    assert output_metadata(ios.weights_path) == output_metadata(mlx_.weights_path)
    a, b = load_output(ios.weights_path), load_output(mlx_.weights_path)
    assert set(a) == set(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key
    assert ios.config_path.read_bytes() == mlx_.config_path.read_bytes()


# --- training checkpoint, Applio export, parametrizations spelling ---------------------------------


def test_training_checkpoint_matches_export_and_drops_enc_q(tmp_path):
    """G_2333333.pth (fp32, with enc_q) converts to the same tensors as the export after fp16
    rounding; its 103 enc_q.* tensors are reported as dropped, nothing else is."""
    export = convert_model(golden_path(GOLDEN["v2-48k-f0-tiny"]["rel"]), "ios", tmp_path / "export")
    training = convert_model(golden_path(EXTRAS["G_2333333"]["rel"]), "ios", tmp_path / "training")
    assert training.info.kind == "training-checkpoint"
    assert training.output_dtype == "float32"
    dropped = [key for key, _rule in training.plan.dropped]
    assert len(dropped) == 103
    assert all(key.startswith("enc_q.") for key in dropped)
    state = torch_state(golden_path(EXTRAS["G_2333333"]["rel"]))
    assert sorted(dropped) == sorted(k for k in state if k.startswith("enc_q."))

    a, b = load_output(export.weights_path), load_output(training.weights_path)
    assert set(a) == set(b)
    for key in a:
        assert b[key].dtype == np.float32
        assert a[key].tobytes() == b[key].astype(np.float16).tobytes(), f"{key}: training != export after fp16 rounding"

    # and converted straight to fp16, the tensors are byte-identical to the export's
    training16 = convert_model(golden_path(EXTRAS["G_2333333"]["rel"]), "ios", tmp_path / "training16", dtype="fp16")
    c = load_output(training16.weights_path)
    assert all(a[key].tobytes() == c[key].tobytes() and c[key].dtype == np.float16 for key in a)
    # the sidecar config of a checkpoint without config list is still the export's list
    assert json.loads(training.config_path.read_text()) == GOLDEN["v2-48k-f0-tiny"]["config"]


def _safetensors_parts(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


@pytest.mark.parametrize("companion", ["v2-48k-f0-tiny-applio", "v2-48k-f0-tiny-parametrizations"])
def test_companion_exports_give_identical_weights(companion, tmp_path):
    """The Applio export and the parametrizations-spelled export hold the classic export's weights:
    byte-identical tensors (safetensors data section and npz members); the metadata differs only in
    the fields that legitimately differ (source sha256, source kind)."""
    classic_src = golden_path(GOLDEN["v2-48k-f0-tiny"]["rel"])
    other_src = golden_path(EXTRAS[companion]["rel"])
    for target in ("ios", "mlx"):
        classic = convert_model(classic_src, target, tmp_path / f"classic-{target}")
        other = convert_model(other_src, target, tmp_path / f"other-{target}")
        if target == "ios":
            head_a, data_a = _safetensors_parts(classic.weights_path)
            head_b, data_b = _safetensors_parts(other.weights_path)
            assert data_a == data_b
            meta_a, meta_b = head_a.pop("__metadata__"), head_b.pop("__metadata__")
            assert head_a == head_b  # names, dtypes, shapes, offsets
        else:
            with zipfile.ZipFile(classic.weights_path) as za, zipfile.ZipFile(other.weights_path) as zb:
                assert za.namelist() == zb.namelist()
                for member in za.namelist():
                    assert za.read(member) == zb.read(member), member
            meta_a, meta_b = output_metadata(classic.weights_path), output_metadata(other.weights_path)
        differing = {k for k in set(meta_a) | set(meta_b) if meta_a.get(k) != meta_b.get(k)}
        assert differing <= {"source_sha256", "source_kind"}, differing
        assert meta_b["source_sha256"] == sha256(other_src)
        assert classic.config_path.read_bytes() == other.config_path.read_bytes()
    if companion.endswith("parametrizations"):
        assert other.plan.weight_norm_spelling == "parametrizations"
        assert len(other.plan.aliased) == 2 * sum(1 for e in other.plan.entries if e.fuse_weight_norm)


# --- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SMALL_FILES) + ["v2-40k-f0"])
def test_detection_matches_golden_readme(name):
    """Version, sample rate, f0, speaker count, hop, config list and file kind per golden file are
    what fixtures/golden/README.md says, with no contradiction reported for these consistent files."""
    golden = GOLDEN.get(name, GOLDEN["v2-48k-f0-tiny"])
    kind = EXTRAS[name]["kind"] if name in EXTRAS else "webui-export"
    result = convert_model(golden_path(ALL_FILES[name]), dry_run=True)
    info = result.info
    assert result.weights_path is None and result.config_path is None
    assert info.family == "synthesizer"
    assert info.kind == kind
    cfg = info.config
    assert (cfg.version, cfg.sr, cfg.f0, cfg.spk_embed_dim) == (golden["version"], golden["sr"], golden["f0"], golden["speakers"])
    assert cfg.hop == golden["hop"] == math.prod(golden["config"][12])
    assert cfg.to_list() == golden["config"]
    assert info.variant == f"{golden['version']}-{golden['sr'] // 1000}k-{'f0' if golden['f0'] else 'nof0'}"
    assert info.contradictions == []
    assert info.evidence, "detection must say why"
    state = torch_state(golden_path(ALL_FILES[name]))
    n_tensors = EXTRAS[name]["tensors"] if name in EXTRAS else golden["tensors"]
    assert len(state) == n_tensors
    assert len(info.tensors) == n_tensors


def _rewrite_export(source: Path, dest: Path, **changes) -> Path:
    cpt = torch.load(source, map_location="cpu", weights_only=True)
    config = list(cpt["config"])
    for index, value in changes.pop("config", {}).items():
        config[index] = value
    cpt["config"] = config
    cpt.update(changes)
    torch.save(cpt, dest)
    return dest


CONTRADICTIONS = {
    "sample-rate-40k": (dict(config={17: 40000}, sr="40k"), "sr"),
    "whole-40k-decoder-config": (dict(config={12: [10, 10, 2, 2], 14: [16, 16, 4, 4], 17: 40000}, sr="40k"), "upsample_rates"),
    "sample-rate-int-32000": (dict(config={17: 32000}, sr=32000), "sr"),
    "version-field-v1": (dict(version="v1"), "version"),
    "f0-field-0": (dict(f0=0), "f0"),
    "hidden-channels-192": (dict(config={3: 192}), "hidden_channels"),
    "speakers-109": (dict(config={15: 109}), "spk_embed_dim"),
}


@pytest.mark.parametrize("case", list(CONTRADICTIONS))
def test_config_contradicting_weights_weights_win(case, tmp_path):
    """A config list / top-level field that contradicts the weights: conversion succeeds, the weights
    win (sidecar, metadata, tensors), and the contradiction is reported."""
    changes, word = CONTRADICTIONS[case]
    source = golden_path(GOLDEN["v2-48k-f0-tiny"]["rel"])
    lying = _rewrite_export(source, tmp_path / "lying.pth", **changes)
    truth = GOLDEN["v2-48k-f0-tiny"]
    result = convert_model(lying, "ios", tmp_path / "out")
    assert result.info.contradictions, "the contradiction must be reported"
    assert any(word in line for line in result.info.contradictions), result.info.contradictions
    assert json.loads(result.config_path.read_text()) == truth["config"]
    meta = output_metadata(result.weights_path)
    assert (meta["version"], meta["sample_rate"], meta["f0"], meta["speakers"]) == ("v2", "48000", "1", "3")
    assert meta["hop"] == "480"
    honest = convert_model(source, "ios", tmp_path / "honest")
    a, b = load_output(honest.weights_path), load_output(result.weights_path)
    assert set(a) == set(b) and all(a[k].tobytes() == b[k].tobytes() for k in a)


# --- the 12 variants ----------------------------------------------------------------------------

VARIANTS = make_variants.all_variants()


def _variant_id(variant) -> str:
    version, sr, f0 = variant
    return f"{version}-{sr}-{'f0' if f0 else 'nof0'}"


@pytest.fixture(scope="module")
def variant_files(tmp_path_factory):
    """The 12 variants in the real WebUI export layout, written by fixtures/make_variants.py."""
    folder = tmp_path_factory.mktemp("variants")
    paths = make_variants.write_variants(folder)
    return {_variant_id((v, sr, f0)): path for (v, sr, f0), path in zip(make_variants.all_variants(), paths)}


@pytest.mark.parametrize("target", ["ios", "mlx"])
@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_every_variant_converts_and_is_detected(variant, target, variant_files, tmp_path):
    """All 12 variants (v1/v2 x 32k/40k/48k x f0/nof0) convert to both targets; the detected
    variant and config are the generated ones; names and values match the independent reference."""
    version, sr, f0 = variant
    source = variant_files[_variant_id(variant)]
    result = convert_model(source, target, tmp_path)
    assert result.info.variant == make_variants.variant_name(version, sr, f0)
    assert result.info.config.to_list() == make_variants.make_config(version, sr)
    assert result.info.contradictions == []
    assert json.loads(result.config_path.read_text()) == make_variants.make_config(version, sr)
    state = torch_state(source)
    assert list(state) == list(make_variants.key_shapes(version, sr, f0))
    loaded = load_output(result.weights_path)
    assert_matches_reference(loaded, reference_outputs(state), np.dtype(np.float16))
    mx_arrays = mx.load(str(result.weights_path))
    assert set(mx_arrays) == set(loaded)
    meta = output_metadata(result.weights_path)
    rates = make_variants.UPSAMPLE[(version, sr)][0]
    assert meta["sample_rate"] == str(make_variants.SR_HZ[sr])
    assert meta["hop"] == str(math.prod(rates))
    assert meta["f0"] == ("1" if f0 else "0") and meta["version"] == version


OTHER_LAYOUTS = [("applio", "weight_norm"), ("training", "weight_norm"), ("webui", "parametrizations")]


@pytest.mark.parametrize("layout,spelling", OTHER_LAYOUTS, ids=lambda x: x)
@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_every_variant_in_other_layouts_gives_the_same_tensors(variant, layout, spelling, variant_files, tmp_path):
    """Each variant written as an Applio export, a G_*.pth training checkpoint (fp32 + enc_q, no
    config list: everything must come from the weights) or with the parametrizations spelling
    converts to the same fp16 tensors and the same config as its WebUI export."""
    version, sr, f0 = variant
    other = make_variants.write_checkpoint(tmp_path / f"{layout}-{spelling}.pth", version, sr, f0, layout=layout, spelling=spelling)
    base = convert_model(variant_files[_variant_id(variant)], "ios", tmp_path / "base")
    conv = convert_model(other, "ios", tmp_path / "other", dtype="fp16")
    assert conv.info.variant == base.info.variant
    assert conv.info.config.to_list() == make_variants.make_config(version, sr)
    if layout == "training":
        assert conv.info.kind == "training-checkpoint"
        assert conv.plan.dropped and all(k.startswith("enc_q.") for k, _ in conv.plan.dropped)
    a, b = load_output(base.weights_path), load_output(conv.weights_path)
    assert set(a) == set(b)
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


def test_already_fused_weights_are_copied_not_refused(variant_files, tmp_path):
    """An export whose weight norm was already removed (plain `<m>.weight`, docs/synthesizer_format.md, "Weight norm")
    converts: the plan reports the fused spelling and every weight is the stored one, only
    transposed (bit-exact, no second normalisation)."""
    for variant in [("v2", "48k", True), ("v1", "32k", False)]:
        version, sr, f0 = variant
        path = make_variants.write_checkpoint(tmp_path / f"{_variant_id(variant)}-fused.pth", version, sr, f0, spelling="fused")
        result = convert_model(path, "ios", tmp_path / _variant_id(variant))
        assert result.plan.weight_norm_spelling == "fused"
        assert not any(e.fuse_weight_norm for e in result.plan.entries)
        state = torch_state(path)
        assert_matches_reference(load_output(result.weights_path), reference_outputs(state), np.dtype(np.float16))
        base = load_output(convert_model(variant_files[_variant_id(variant)], "ios", tmp_path / "base").weights_path)
        fused = load_output(result.weights_path)
        assert set(base) == set(fused)
        for key in base:  # g·v/‖v‖ rounded once to fp16, whichever side fused it
            assert int(fp16_ulps(base[key], fused[key]).max()) <= 1, key


def test_non_contiguous_and_offset_source_tensors(tmp_path):
    """Source tensors stored as strided views (torch.save keeps a transposed view's strides), at an
    offset inside a larger storage, or sharing one storage, are read by their strides: the output is
    byte-identical to converting the plain export."""
    source = golden_path(GOLDEN["v2-48k-f0-tiny"]["rel"])
    cpt = torch.load(source, map_location="cpu", weights_only=True)
    weight = dict(cpt["weight"])
    # a view with non-C strides and the same values
    weight["dec.conv_post.weight"] = weight["dec.conv_post.weight"].transpose(0, 2).contiguous().transpose(0, 2)
    weight["dec.ups.1.weight_v"] = weight["dec.ups.1.weight_v"].permute(2, 0, 1).contiguous().permute(1, 2, 0)
    assert not weight["dec.conv_post.weight"].is_contiguous() and not weight["dec.ups.1.weight_v"].is_contiguous()
    # two tensors living at offsets of one shared storage
    a, b = weight["enc_p.emb_phone.weight"], weight["enc_p.proj.weight"]
    shared = torch.cat([torch.zeros(7, dtype=a.dtype), a.flatten(), b.flatten()])
    weight["enc_p.emb_phone.weight"] = shared[7 : 7 + a.numel()].view(a.shape)
    weight["enc_p.proj.weight"] = shared[7 + a.numel() :].view(b.shape)
    cpt["weight"] = weight
    strided = tmp_path / "strided.pth"
    torch.save(cpt, strided)
    for target in ("ios", "mlx"):
        plain = convert_model(source, target, tmp_path / f"plain-{target}")
        other = convert_model(strided, target, tmp_path / f"strided-{target}")
        a_out, b_out = load_output(plain.weights_path), load_output(other.weights_path)
        assert set(a_out) == set(b_out)
        for key in a_out:
            assert a_out[key].tobytes() == b_out[key].tobytes(), key


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["ios", "mlx"])
@pytest.mark.parametrize("name", ["v2-48k-f0-tiny", "G_2333333", "v2-48k-f0-tiny-parametrizations"])
def test_conversion_is_deterministic(name, target, tmp_path):
    """Same input twice (two output folders), and a copy of the input under another path and name:
    byte-identical weight files and sidecars."""
    source = golden_path(ALL_FILES[name])
    first = convert_model(source, target, tmp_path / "a")
    second = convert_model(source, target, tmp_path / "b")
    moved = tmp_path / "elsewhere" / "deeper" / "renamed_voice.pth"
    moved.parent.mkdir(parents=True)
    shutil.copyfile(source, moved)
    third = convert_model(moved, target, tmp_path / "c")
    assert third.weights_path.name.startswith("renamed_voice.")
    for other in (second, third):
        assert other.weights_path.read_bytes() == first.weights_path.read_bytes()
        assert other.config_path.read_bytes() == first.config_path.read_bytes()


# --- .npz (mlx target) -> .safetensors (ios target) --------------------------------------------


@pytest.mark.parametrize("name,dtype", [(name, None) for name in SMALL_FILES if name != "v2-48k-f0-tiny-applio"] + [("v2-48k-f0-tiny", "fp32")])
def test_npz_converts_to_ios_bit_for_bit(name, dtype, tmp_path):
    """A .npz made by --target mlx converts to --target ios, and its tensors equal a direct
    .pth -> ios conversion bit for bit; provenance still names the original .pth."""
    source = golden_path(SMALL_FILES[name])
    npz = convert_model(source, "mlx", tmp_path / "mlx", dtype=dtype)
    via_npz = convert_model(npz.weights_path, "ios", tmp_path / "via")
    direct = convert_model(source, "ios", tmp_path / "direct", dtype=dtype)
    a, b = load_output(direct.weights_path), load_output(via_npz.weights_path)
    assert set(a) == set(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), key
    meta_direct, meta_via = output_metadata(direct.weights_path), output_metadata(via_npz.weights_path)
    assert meta_via["source_sha256"] == sha256(source)
    differing = {k for k in set(meta_direct) | set(meta_via) if meta_direct.get(k) != meta_via.get(k)}
    assert differing <= {"source_kind"}, differing
    assert via_npz.config_path.read_bytes() == direct.config_path.read_bytes()


# --- round trip: invert layout and rename, compare with the source ------------------------------


def _source_roles(state: dict[str, torch.Tensor], fused_key: str) -> dict[str, torch.Tensor]:
    base = fused_key[: -len(".weight")] if fused_key.endswith(".weight") else None
    if fused_key in state:
        return {"w": state[fused_key]}
    for g_suffix, v_suffix in ((".weight_g", ".weight_v"), (".parametrizations.weight.original0", ".parametrizations.weight.original1")):
        if base is not None and base + g_suffix in state:
            return {"g": state[base + g_suffix], "v": state[base + v_suffix]}
    raise AssertionError(f"{fused_key}: no such source tensor")


@pytest.mark.parametrize(
    "name,target,dtype",
    [(name, "ios", None) for name in SMALL_FILES]
    + [(name, "ios", "fp32") for name in SMALL_FILES]
    + [("v2-48k-f0-tiny", "mlx", None), ("v1-32k-nof0-tiny", "mlx", "fp32")],
)
def test_round_trip_inverts_to_the_source(name, target, dtype, tmp_path):
    """For every plan entry: undo the layout permutation and the rename (the naming table inverted), then
    compare with the source tensor read by torch: bit-exact for plain tensors; fused weight-norm
    tensors equal torch._weight_norm(v, g, dim) in float32 within 1 fp16 ulp (fp16 output) or 1e-6
    relative (fp32 output). Every source tensor is accounted for."""
    source = golden_path(SMALL_FILES[name])
    result = convert_model(source, target, tmp_path, dtype=dtype)
    outputs = load_output(result.weights_path)
    state = torch_state(source)
    source_of = sources_by_target(state)
    assert len(outputs) == len(result.plan.entries)
    consumed: set[str] = set()
    out_dtype = np.dtype(result.output_dtype)
    for entry in result.plan.entries:
        out = outputs[entry.target]
        assert out.dtype == out_dtype
        inverse = np.transpose(out, np.argsort(entry.permute)) if entry.permute else out
        fused_key = source_of.get(entry.target)
        assert fused_key is not None, f"{entry.target}: the naming table gives no source tensor this name"
        assert expected_target_name(fused_key) == entry.target, f"{fused_key} -> {entry.target}: not the naming table's name"
        roles = _source_roles(state, fused_key)
        consumed.update(entry.sources.values())
        assert entry.fuse_weight_norm == ("g" in roles), entry.target
        assert entry.permute == expected_permutation(fused_key, inverse.ndim), f"{entry.target}: layout {entry.permute}"
        if "w" in roles:
            src = roles["w"].numpy()
            assert inverse.shape == src.shape, entry.target
            if src.dtype == out_dtype:
                assert inverse.tobytes() == np.ascontiguousarray(src).tobytes(), f"{entry.target}: not bit-exact"
            else:  # widening fp16 -> fp32 is exact too
                assert np.array_equal(inverse, src.astype(out_dtype)), entry.target
        else:
            ref = torch_fused(roles["g"], roles["v"])
            assert inverse.shape == ref.shape, entry.target
            if out_dtype == np.float16:
                assert int(fp16_ulps(inverse, ref.astype(np.float16)).max()) <= 1, entry.target
            else:
                err = np.abs(inverse.astype(np.float64) - ref.astype(np.float64))
                assert np.all(err <= 1e-6 * np.abs(ref.astype(np.float64)) + 1e-30), f"{entry.target}: rel err {float(np.max(err / (np.abs(ref) + 1e-30))):.3g}"
    dropped = {key for key, _ in result.plan.dropped}
    assert consumed | dropped == set(state), sorted(set(state) - consumed - dropped)[:5]
    assert not consumed & dropped


def test_rename_maps_each_target_to_exactly_its_source():
    """The rename is a one-to-one map: these targets come from exactly these source tensors, and a
    source spelling (dec.ups.0.weight) is never a target name."""
    result = convert_model(golden_path(SMALL_FILES["v2-48k-f0-tiny"]), "ios", dry_run=True)
    sources = {entry.target: sorted(entry.sources.values()) for entry in result.plan.entries}
    assert sources["flow.flow_3.enc.in_layer_2.weight"] == ["flow.flows.6.enc.in_layers.2.weight_g", "flow.flows.6.enc.in_layers.2.weight_v"]
    assert sources["enc_p.encoder.norm2_1.bias"] == ["enc_p.encoder.norm_layers_2.1.beta"]
    assert sources["dec.resblock_11.c2_0.weight"] == ["dec.resblocks.11.convs2.0.weight_g", "dec.resblocks.11.convs2.0.weight_v"]
    assert "dec.ups.0.weight" not in sources
    assert len(sources) == len(result.plan.entries)


# --- C-contiguity: a transposed view never reaches the writer scrambled -------------------------


def _raw_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Decode a .safetensors by hand (no safetensors library): C-order bytes under the header shape."""
    header, data = _safetensors_parts(path)
    header.pop("__metadata__", None)
    codes = {"F16": "<f2", "F32": "<f4"}
    out = {}
    for name, spec in header.items():
        start, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=codes[spec["dtype"]]).reshape(spec["shape"])
    return out


@pytest.mark.parametrize("route", ["pth->ios", "pth->mlx", "pth->mlx->ios", "pth->ios->mlx->ios"])
@pytest.mark.parametrize("dtype", [None, "fp32"])
def test_transposed_tensors_are_written_in_c_order(route, dtype, tmp_path):
    """Regression (docs/architecture.md, "Writing"): safetensors' numpy writer stores the raw buffer of a
    non-C-contiguous array under a C-order header. dec.conv_post.weight and the dec.up_N weights
    must equal an independent numpy transpose of the source, read back byte by byte."""
    source = golden_path(GOLDEN["v1-32k-nof0-tiny"]["rel"])  # 5 stages, conv_post [1, 4, 7]
    state = torch_state(source)
    steps = route.split("->")[1:]
    current, out = source, None
    for index, step in enumerate(steps):
        out = convert_model(current, step, tmp_path / f"step{index}", dtype=dtype if index == 0 else None)
        current = out.weights_path
    arrays = _raw_safetensors(current) if current.suffix == ".safetensors" else load_output(current)
    dt = np.dtype(out.output_dtype)

    post = state["dec.conv_post.weight"].numpy()
    expected_post = np.ascontiguousarray(post.transpose(0, 2, 1))
    assert arrays["dec.conv_post.weight"].shape == (1, 7, post.shape[1])
    assert arrays["dec.conv_post.weight"].tobytes() == expected_post.astype(dt).tobytes()

    for i in range(5):
        g, v = state[f"dec.ups.{i}.weight_g"], state[f"dec.ups.{i}.weight_v"]
        expected = np.ascontiguousarray(torch_fused(g, v).transpose(1, 2, 0))
        got = arrays[f"dec.up_{i}.weight"]
        assert got.shape == expected.shape
        if dt == np.float16:
            assert int(fp16_ulps(got, expected.astype(np.float16)).max()) <= 1, f"dec.up_{i}.weight scrambled"
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


def test_fortran_ordered_npz_member_is_not_scrambled(tmp_path):
    """An rvc-convert .npz whose members were re-saved Fortran-ordered (what np.save does with a
    transposed array) still converts to ios with the right C-order values."""
    source = golden_path(GOLDEN["v2-48k-f0-tiny"]["rel"])
    npz = convert_model(source, "mlx", tmp_path / "mlx").weights_path
    direct = load_output(convert_model(source, "ios", tmp_path / "direct").weights_path)
    fortran = tmp_path / "fortran" / "voice.npz"
    fortran.parent.mkdir()
    with zipfile.ZipFile(npz) as src, zipfile.ZipFile(fortran, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            name = info.filename[: -len(".npy")]
            if name in ("dec.conv_post.weight", "dec.up_0.weight", "dec.up_1.weight", "enc_p.encoder.ffn_0.conv_1.weight"):
                with src.open(info) as member:
                    array = np.lib.format.read_array(member)
                with dst.open(info.filename, "w") as member:
                    np.lib.format.write_array(member, np.asfortranarray(array))
            else:
                dst.writestr(info, src.read(info))
        dst.comment = src.comment
    with np.load(fortran) as check:
        assert check["dec.up_1.weight"].flags.f_contiguous and not check["dec.up_1.weight"].flags.c_contiguous
    rewritten = convert_model(fortran, "ios", tmp_path / "out")
    got = _raw_safetensors(rewritten.weights_path)
    assert set(got) == set(direct)
    for key in direct:
        assert got[key].tobytes() == direct[key].tobytes(), key


def test_writer_makes_non_contiguous_arrays_c_ordered(tmp_path):
    """The writers themselves: given a transposed view and a Fortran-ordered array, the bytes on
    disk are the C-order bytes (checked by hand, with safetensors.numpy and with mx.load)."""
    from rvc_convert.writer import TensorSpec, write_npz, write_safetensors

    base = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    arrays = {"t": base.transpose(1, 2, 0), "f": np.asfortranarray(base)}
    assert not arrays["t"].flags.c_contiguous and not arrays["f"].flags.c_contiguous
    specs = [TensorSpec(k, a.dtype, a.shape) for k, a in arrays.items()]
    st, nz = tmp_path / "x.safetensors", tmp_path / "x.npz"
    write_safetensors(st, specs, lambda s: arrays[s.name], {"k": "v"})
    write_npz(nz, specs, lambda s: arrays[s.name], {"k": "v"})
    by_hand = _raw_safetensors(st)
    for loaded in (by_hand, safetensors.numpy.load_file(str(st)), load_output(nz)):
        for key, array in arrays.items():
            assert np.array_equal(loaded[key], array), key
    for path in (st, nz):
        mx_arrays = mx.load(str(path))
        for key, array in arrays.items():
            assert np.array_equal(mx_to_numpy(mx_arrays[key]), array), (path.suffix, key)
