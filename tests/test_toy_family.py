"""A family is a folder: a toy family registered from tests/toy_family/ (a rule pack, a tensor list,
a detector) converts, inspects and validates through the public API and CLI, with no engine module
changing. Rule packs named by a file's metadata resolve only to registered packs, by name."""

from __future__ import annotations

import json
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch

import toy_family
from outputs import load_output, output_metadata
from rvc_convert.cli import main
from rvc_convert.convert import convert_model, describe_plan
from rvc_convert.errors import RvcConvertError, UnsupportedModelError
from rvc_convert.families import register_family, registered_families, unregister_family
from rvc_convert.validate import validate_model
from rvc_convert.writer import TensorSpec, write_safetensors

WIDTH, INPUTS, KERNEL = 6, 3, 3


@pytest.fixture
def toy_registered():
    register_family(toy_family.ToyFamily)
    yield
    unregister_family("toy")


def write_toy(path, spelling="classic"):
    """A toy checkpoint as torch saves it: weight-normed conv in either spelling, plus training state."""
    rng = np.random.default_rng(3)
    conv = {"weight_g": rng.uniform(0.5, 2, (WIDTH, 1, 1)), "weight_v": rng.standard_normal((WIDTH, WIDTH, KERNEL))}
    if spelling == "parametrizations":
        conv = {"parametrizations.weight.original0": conv["weight_g"], "parametrizations.weight.original1": conv["weight_v"]}
    state = OrderedDict()
    state["toy.proj.weight"] = rng.standard_normal((WIDTH, INPUTS))
    state["toy.proj.bias"] = rng.standard_normal(WIDTH)
    for key, value in conv.items():
        state[f"toy.conv.{key}"] = value
    state["toy.conv.bias"] = rng.standard_normal(WIDTH)
    state["toy.optimizer.step"] = np.array([7.0])
    torch.save({k: torch.tensor(v, dtype=torch.float32) for k, v in state.items()}, path)
    return state


@pytest.mark.parametrize("spelling", ["classic", "parametrizations"])
def test_a_registered_toy_family_converts(toy_registered, tmp_path, spelling):
    """The engine converts a toy file by the toy's pack and tensor list: renamed, laid out for MLX,
    weight norm fused (checked against torch), training state dropped, family in the metadata."""
    state = write_toy(tmp_path / "toy.pt", spelling)
    result = convert_model(tmp_path / "toy.pt", "ios", tmp_path / "out", dtype="fp32")
    weights = load_output(result.weights_path)
    assert sorted(weights) == ["conv.bias", "conv.weight", "proj.bias", "proj.weight"]
    g, v = (state[k] for k in sorted(state) if k.startswith("toy.conv.") and not k.endswith("bias"))
    fused = torch._weight_norm(torch.tensor(v, dtype=torch.float32), torch.tensor(g, dtype=torch.float32), 0).numpy()
    np.testing.assert_allclose(weights["conv.weight"], fused.transpose(0, 2, 1), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(weights["proj.weight"], state["toy.proj.weight"].astype(np.float32))
    meta = output_metadata(result.weights_path)
    assert meta["family"] == "toy" and meta["rvc_convert.rule_pack"] == "toy"
    assert json.loads(result.config_path.read_text()) == {"inputs": INPUTS, "kernel": KERNEL, "width": WIDTH}
    assert result.plan.dropped == [("toy.optimizer.step", "training_state")]


def test_a_family_brings_its_own_container_reader(toy_registered, tmp_path):
    """A family's ContainerReader opens a container the built-in reader does not know (as a FAISS
    index family will): the same tensors convert to the same weights as from the torch file."""
    state = write_toy(tmp_path / "toy.pt")
    toy_family.write_toy_container(tmp_path / "toy.toybin", state)
    from_torch = convert_model(tmp_path / "toy.pt", "ios", tmp_path / "a", dtype="fp32")
    from_own = convert_model(tmp_path / "toy.toybin", "ios", tmp_path / "b", dtype="fp32")
    assert from_own.loaded.container == "toy-binary"
    first, second = load_output(from_torch.weights_path), load_output(from_own.weights_path)
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    unregister_family("toy")
    with pytest.raises(RvcConvertError, match="not a model file"):  # without the family, nobody reads it
        convert_model(tmp_path / "toy.toybin", dry_run=True)


def test_a_registered_toy_family_inspects_through_the_cli(toy_registered, tmp_path, capsys):
    """`rvc-convert inspect` prints the toy's own model line and its evidence; --json carries its plan."""
    write_toy(tmp_path / "toy.pt")
    assert main(["inspect", str(tmp_path / "toy.pt")]) == 0
    text = capsys.readouterr().out
    assert re.search(rf"model\s+bare state dict · toy · {WIDTH} wide · kernel {KERNEL}\n", text)
    assert f"toy.conv.weight_v is [{WIDTH}, {WIDTH}, {KERNEL}]" in text
    plan = describe_plan(convert_model(tmp_path / "toy.pt", dry_run=True))
    assert plan["family"] == "toy" and plan["variant"] == f"toy-{WIDTH}x{KERNEL}" and plan["rule_pack"] == "toy"


def test_a_registered_toy_family_validates(toy_registered, tmp_path):
    """validate runs the engine's structure and layer-wise checks and the toy's own runtime check."""
    write_toy(tmp_path / "toy.pt")
    report = validate_model(tmp_path / "toy.pt")
    assert report.ok, report.failures()
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {"structure.coverage": "pass", "structure.finite": "pass", "layerwise": "pass", "runtime.smoke": "pass"}
    assert next(c for c in report.checks if c.name == "layerwise").metrics["layers"] == 3  # proj weight, proj bias, conv
    assert sorted(tmp_path.iterdir()) == [tmp_path / "toy.pt"]  # validation leaves nothing behind


def test_a_converted_toy_file_round_trips_and_needs_its_family(toy_registered, tmp_path):
    """An rvc-convert output of the toy family converts to the other target through the registry; once
    the family is gone, the file is refused by name instead of being misread."""
    write_toy(tmp_path / "toy.pt")
    first = convert_model(tmp_path / "toy.pt", "ios", tmp_path / "a")
    second = convert_model(first.weights_path, "mlx", tmp_path / "b")
    assert second.info.kind == "converted" and second.info.family == "toy"
    unregister_family("toy")
    with pytest.raises(UnsupportedModelError, match="no model family 'toy'"):
        convert_model(first.weights_path, "mlx", tmp_path / "c")


@pytest.mark.parametrize("named", ["/etc/passwd", "../mappings/synthesizer.yaml", "toy.yaml", "synthesizer"])
def test_a_rule_pack_named_in_metadata_resolves_only_to_the_familys_packs(toy_registered, tmp_path, named):
    """A converted file's metadata names its rule pack; only the family's registered names are
    accepted, never a path (or another family's pack)."""
    write_toy(tmp_path / "toy.pt")
    first = convert_model(tmp_path / "toy.pt", "ios", tmp_path / "a", dtype="fp32")
    weights = load_output(first.weights_path)
    meta = output_metadata(first.weights_path) | {"rvc_convert.rule_pack": named}
    forged = tmp_path / "forged.safetensors"
    specs = [TensorSpec(k, np.dtype(np.float32), tuple(v.shape)) for k, v in weights.items()]
    write_safetensors(forged, specs, lambda spec: weights[spec.name], meta)
    with pytest.raises(RvcConvertError, match="not one of the toy packs"):
        convert_model(forged, "mlx", tmp_path / "b")


def test_the_toy_family_is_registered_only_inside_its_tests():
    """Registration is explicit: the built-in registry does not know the toy family."""
    assert "toy" not in {family.name for family in registered_families()}
