"""HuBERT / ContentVec: rule packs, expected tensors, and the MLX runtime against upstream.

Parity: the golden tiny model (fairseq `.pt` and HF folder) against transformers' outputs in
hubert_refs.npz; the full-size base layout (fixtures/make_aux.py, random weights) against the
PyTorch forward of benchmarks/torch_reference.py, itself proven against the golden features.
Weights reach the runtime through the engine's planner with our rule packs (in memory), and end to
end through `convert_model`.
"""

from __future__ import annotations

import dataclasses

import json
import warnings

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import mlx.core as mx
import numpy as np
import pytest
import torch

import make_aux
from golden import golden_path
from torch_reference import TorchHubert
from mlx.utils import tree_flatten
from rvc_convert.families.hubert.config import (
    HUBERT_RULE_PACKS,
    hubert_config_from_file,
    hubert_expected_tensors,
    hubert_source_tensors,
    parse_conv_feature_layers,
)
from rvc_convert.errors import MappingError, RvcConvertError
from rvc_convert.reader import read_model_file
from rvc_convert.rules import load_rule_pack, plan_conversion
from rvc_convert.transform import materialise
from rvc_runtime.hubert import FeedForward, HuBERT
from rvc_runtime.weights import load_into

FAIRSEQ = "hubert/hubert_tiny.pt"
HF = "hubert/contentvec_tiny_hf"
REFS = "hubert/hubert_refs.npz"
PARITY = 1e-4  # max |Δ| / RMS; a correct float32 port lands near 1e-5 (numeric floor 6e-6)


def rel_error(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.max(np.abs(actual - expected)) / np.sqrt(np.mean(expected**2)))


def plan_file(path):
    """(config, plan, source arrays) of a HuBERT file through the layout's rule pack."""
    loaded = read_model_file(path)
    config = hubert_config_from_file(loaded)
    tensors = hubert_source_tensors(loaded)
    pack = load_rule_pack(HUBERT_RULE_PACKS[config["source_layout"]])
    shapes = {k: (tuple(t.array.shape), str(t.array.dtype)) for k, t in tensors.items()}
    plan = plan_conversion(pack, shapes, hubert_expected_tensors(config))
    return config, plan, {k: t.array for k, t in tensors.items()}


def converted_arrays(plan, arrays) -> dict[str, np.ndarray]:
    return {e.target: materialise(e, arrays) for e in plan.entries}


def runtime_model(config, weights: dict[str, np.ndarray]) -> HuBERT:
    model = HuBERT(config)
    return load_into(model, {k: mx.array(np.asarray(v, np.float32)) for k, v in weights.items()}, mx.float32)


@pytest.fixture(scope="module")
def refs():
    return np.load(golden_path(REFS))


@pytest.fixture(scope="module", params=["fairseq", "hf"])
def golden_model(request):
    config, plan, arrays = plan_file(golden_path(FAIRSEQ if request.param == "fairseq" else HF))
    return runtime_model(config, converted_arrays(plan, arrays))


# --- rule packs and expected tensors ----------------------------------------------------------


def test_both_source_layouts_give_the_same_target_tensors():
    """fairseq `hubert_base.pt` and the HF ContentVec folder hold the same weights: the packs must
    produce the same 211 target keys, shapes and values (the fp16 values are exact in fp32)."""
    _, fairseq_plan, fairseq_arrays = plan_file(golden_path(FAIRSEQ))
    _, hf_plan, hf_arrays = plan_file(golden_path(HF))
    fairseq_out = converted_arrays(fairseq_plan, fairseq_arrays)
    hf_out = converted_arrays(hf_plan, hf_arrays)
    assert len(fairseq_out) == 211
    assert sorted(fairseq_out) == sorted(hf_out)
    for key in fairseq_out:
        np.testing.assert_array_equal(np.asarray(fairseq_out[key], np.float32), np.asarray(hf_out[key], np.float32), err_msg=key)


def test_target_keys_are_the_runtime_parameter_paths():
    config, plan, _ = plan_file(golden_path(FAIRSEQ))
    params = dict(tree_flatten(HuBERT(config).parameters()))
    assert {e.target: tuple(e.target_shape) for e in plan.entries} == {k: tuple(v.shape) for k, v in params.items()}


@pytest.mark.parametrize("relpath,dropped", [(FAIRSEQ, ["label_embs_concat", "mask_emb"]), (HF, ["masked_spec_embed"])])
def test_training_only_tensors_are_dropped_explicitly(relpath, dropped):
    _, plan, _ = plan_file(golden_path(relpath))
    assert sorted(key for key, _ in plan.dropped) == dropped


@pytest.mark.parametrize("relpath", [FAIRSEQ, HF])
def test_config_comes_from_the_file(relpath):
    config, _, _ = plan_file(golden_path(relpath))
    assert config["conv_layers"] == [[32, 10, 5]] + [[32, 3, 2]] * 4 + [[32, 2, 2]] * 2
    assert (config["hidden_size"], config["num_layers"], config["num_heads"], config["ffn_dim"]) == (64, 12, 4, 128)
    assert (config["pos_conv_kernel"], config["pos_conv_groups"], config["final_proj_dim"]) == (128, 16, 256)
    assert config["normalize_waveform"] is False  # fairseq task.normalize / preprocessor do_normalize
    assert config["config_source"] == ("cfg" if relpath == FAIRSEQ else "config.json")
    json.dumps(config)  # it travels as file metadata


def test_conv_feature_layers_are_parsed_without_eval():
    assert parse_conv_feature_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2") == [[512, 10, 5]] + [[512, 3, 2]] * 4 + [[512, 2, 2]] * 2
    with pytest.raises(RvcConvertError):
        parse_conv_feature_layers("__import__('os').system('true')")


def test_b23_fairseq_file_covers_every_expected_tensor():
    """B23: the earlier iOS converter read a fairseq checkpoint's top level, found no tensors and
    wrote an empty file. Here the fairseq pack consumes every tensor under `model` and produces
    every expected one."""
    config, plan, arrays = plan_file(golden_path(FAIRSEQ))
    expected = hubert_expected_tensors(config, "fairseq")
    assert len(plan.entries) == len(expected) == 211
    assert len(arrays) == len(plan.entries) + 1 + len(plan.dropped)  # weight_g + weight_v fuse into one


def test_b23_zero_or_partial_coverage_is_an_error():
    config, _, arrays = plan_file(golden_path(FAIRSEQ))
    pack = load_rule_pack("hubert_fairseq")
    expected = hubert_expected_tensors(config, "fairseq")
    with pytest.raises(MappingError, match="missing"):
        plan_conversion(pack, {}, expected)
    partial = {k: (a.shape, str(a.dtype)) for k, a in arrays.items() if not k.startswith("encoder.layers.11.")}
    with pytest.raises(MappingError, match="encoder.layers.11"):
        plan_conversion(pack, partial, expected)
    with pytest.raises(MappingError, match="match no rule"):
        plan_conversion(pack, {**{k: (a.shape, str(a.dtype)) for k, a in arrays.items()}, "encoder.extra.weight": ((3,), "float16")}, expected)


def test_b21_positional_conv_is_fused_once_per_tap_in_conv1d_layout():
    """B21: g (1, 1, K) scales each kernel tap; the norm runs over (out, in/groups). The fused weight
    equals torch's weight_norm(dim=2), transposed once to MLX (O, K, I/groups)."""
    _, plan, arrays = plan_file(golden_path(FAIRSEQ))
    (entry,) = [e for e in plan.entries if e.target == "encoder.pos_conv_embed.conv.weight"]
    assert entry.fuse_weight_norm and entry.kind == "positional_conv1d" and tuple(entry.target_shape) == (64, 128, 4)
    assert entry.permute == (0, 2, 1) and entry.weight_norm_axis == 2  # conv1d layout; the axis is declared
    g = torch.from_numpy(arrays["encoder.pos_conv.0.weight_g"].astype(np.float32))
    v = torch.from_numpy(arrays["encoder.pos_conv.0.weight_v"].astype(np.float32))
    torch_weight = torch._weight_norm(v, g, 2).numpy()
    fused = materialise(entry, arrays)
    np.testing.assert_allclose(fused, torch_weight.transpose(0, 2, 1), rtol=1e-6, atol=1e-7)
    per_output = (g.numpy() * v.numpy() / np.linalg.norm(v.numpy(), axis=(1, 2), keepdims=True)).transpose(0, 2, 1)
    assert np.max(np.abs(fused - per_output)) > 1e-2  # the wrong axis would be visible


def test_a_wrong_weight_norm_axis_is_a_plan_error():
    """The axis is declared by the layer kind, so a rule that calls the positional conv a plain conv1d
    (axis 0) cannot fuse its g (1, 1, K): planning names the tensor instead of fusing the wrong way."""
    loaded = read_model_file(golden_path(FAIRSEQ))
    config = hubert_config_from_file(loaded)
    pack = load_rule_pack(HUBERT_RULE_PACKS[config["source_layout"]])
    pack.rules = [dataclasses.replace(r, kind="conv1d") if r.id == "positional_conv_weight" else r for r in pack.rules]
    tensors = {k: (tuple(t.array.shape), t.source_dtype) for k, t in hubert_source_tensors(loaded).items()}
    with pytest.raises(MappingError, match=r"encoder\.pos_conv\.0\.weight_g has shape \[1, 1, 128\].*along axis 0"):
        plan_conversion(pack, tensors, hubert_expected_tensors(config))


@pytest.mark.parametrize("spelling", ["parametrizations", "fused"])
def test_hf_weight_norm_spellings_give_the_same_positional_conv(spelling):
    """HF files spell the positional conv as weight_g/weight_v, as parametrizations original0/1, or
    already fused; each becomes the same weight, and a fused one is not fused again."""
    loaded = read_model_file(golden_path(HF))
    config = hubert_config_from_file(loaded)
    arrays = {k: t.array for k, t in hubert_source_tensors(loaded).items()}
    base = "encoder.pos_conv_embed.conv"
    g, v = arrays.pop(f"{base}.weight_g"), arrays.pop(f"{base}.weight_v")
    if spelling == "parametrizations":
        arrays[f"{base}.parametrizations.weight.original0"], arrays[f"{base}.parametrizations.weight.original1"] = g, v
    else:
        arrays[f"{base}.weight"] = torch._weight_norm(torch.tensor(v), torch.tensor(g), 2).numpy()
    plan = plan_conversion(load_rule_pack("hubert_hf"), {k: (a.shape, str(a.dtype)) for k, a in arrays.items()}, hubert_expected_tensors(config))
    (entry,) = [e for e in plan.entries if e.target == f"{base}.weight"]
    assert entry.fuse_weight_norm == (spelling == "parametrizations")
    _, reference_plan, reference_arrays = plan_file(golden_path(HF))
    (reference,) = [e for e in reference_plan.entries if e.target == f"{base}.weight"]
    np.testing.assert_allclose(materialise(entry, arrays), materialise(reference, reference_arrays), rtol=1e-6, atol=1e-7)


# --- runtime parity ---------------------------------------------------------------------------


def test_parity_every_stage_with_upstream(golden_model, refs, kernel_path):
    out = golden_model.run(refs["audio"])
    assert rel_error(out.conv_features, refs["conv_features"]) < PARITY
    assert rel_error(out.proj_features, refs["proj_features"]) < PARITY
    assert rel_error(out.pos_conv_out, refs["pos_conv_out"]) < PARITY
    assert len(out.hidden_states) == 13
    for i, hidden in enumerate(out.hidden_states):
        assert rel_error(hidden[0], refs["hidden_states"][i]) < PARITY, f"hidden_states[{i}]"


def test_parity_rvc_features(golden_model, refs, kernel_path):
    """v2 = last layer (no final LayerNorm); v1 = final_proj(layer 9); Applio's v1 uses layer 12."""
    audio = refs["audio"]
    assert rel_error(golden_model.extract_features(audio, "v2"), refs["v2"]) < PARITY
    assert rel_error(golden_model.extract_features(audio, "v1"), refs["v1"]) < PARITY
    assert rel_error(golden_model.extract_features(audio, "v1", v1_layer=12), refs["v1_applio"]) < PARITY
    assert rel_error(golden_model.extract_features(audio, "v1", v1_layer=8), refs["v1"]) > 0.1


def test_b13_norm_eps_are_1e5():
    """B13: every LayerNorm and the conv-0 GroupNorm use eps 1e-5 (an earlier port used 1e-12)."""
    config, _, _ = plan_file(golden_path(FAIRSEQ))
    norms = [m for _, m in HuBERT(config).named_modules() if type(m).__name__ in ("LayerNorm", "ChannelTimeNorm")]
    assert len(norms) == 1 + 1 + 1 + 2 * 12  # group norm, feature LN, encoder LN, two per layer
    assert all(m.eps == 1e-5 for m in norms)


def test_b13_positional_conv_is_grouped_samepad_then_exact_gelu():
    """B13: GELU (erf form) follows the trimmed positional conv; checked against torch's modules."""
    config, plan, arrays = plan_file(golden_path(FAIRSEQ))
    model = runtime_model(config, converted_arrays(plan, arrays))
    conv = torch.nn.Conv1d(64, 64, 128, padding=64, groups=16)
    with torch.no_grad():
        g = torch.from_numpy(arrays["encoder.pos_conv.0.weight_g"].astype(np.float32))
        v = torch.from_numpy(arrays["encoder.pos_conv.0.weight_v"].astype(np.float32))
        conv.weight.copy_(torch._weight_norm(v, g, 2))
        conv.bias.copy_(torch.from_numpy(arrays["encoder.pos_conv.0.bias"].astype(np.float32)))
    x = np.random.default_rng(0).standard_normal((1, 50, 64)).astype(np.float32)
    with torch.no_grad():
        trimmed = conv(torch.from_numpy(x).transpose(1, 2))[:, :, :-1]
        exact = torch.nn.functional.gelu(trimmed).transpose(1, 2).numpy()
        tanh = torch.nn.functional.gelu(trimmed, approximate="tanh").transpose(1, 2).numpy()
    actual = np.array(model.encoder.pos_conv_embed(mx.array(x)))
    assert rel_error(actual, exact) < 1e-5
    assert rel_error(tanh, exact) > 1e-4  # the approximation would be caught


def test_b13_feed_forward_gelu_is_the_erf_form():
    """With identity projections the feed-forward block is GELU itself: it must be the erf form
    (the tanh approximation is off by up to ~5e-4 here)."""
    block = FeedForward(8, 8)
    block.load_weights([("intermediate_dense.weight", mx.eye(8)), ("intermediate_dense.bias", mx.zeros((8,))),
                        ("output_dense.weight", mx.eye(8)), ("output_dense.bias", mx.zeros((8,)))])
    x = np.linspace(-5, 5, 800, dtype=np.float32).reshape(100, 8)
    exact = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(np.array(block(mx.array(x))) - exact)) < 1e-6


def test_waveform_is_layer_normalised_only_when_the_model_says_so(refs):
    config, plan, arrays = plan_file(golden_path(FAIRSEQ))
    weights = converted_arrays(plan, arrays)
    plain = runtime_model(config, weights)
    normalising = runtime_model(config | {"normalize_waveform": True}, weights)
    audio = refs["audio"].astype(np.float64) + 0.05  # a DC offset: GroupNorm hides pure scaling
    manual = ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-5)).astype(np.float32)
    assert rel_error(normalising.extract_features(audio.astype(np.float32)), plain.extract_features(manual)) < 1e-5
    assert rel_error(plain.extract_features(audio.astype(np.float32)), plain.extract_features(manual)) > 1e-4


def test_file_without_final_proj_serves_v2_only(refs):
    config, plan, arrays = plan_file(golden_path(FAIRSEQ))
    weights = {k: v for k, v in converted_arrays(plan, arrays).items() if not k.startswith("final_proj.")}
    model = runtime_model(config | {"final_proj_dim": None}, weights)
    assert "final_proj.weight" not in hubert_expected_tensors(config | {"final_proj_dim": None})
    assert rel_error(model.extract_features(refs["audio"], "v2"), refs["v2"]) < PARITY
    with pytest.raises(ValueError, match="final_proj"):
        model.extract_features(refs["audio"], "v1")


def test_runtime_loading_is_strict(refs):
    config, plan, arrays = plan_file(golden_path(FAIRSEQ))
    weights = converted_arrays(plan, arrays)
    del weights["encoder.layers.3.final_layer_norm.bias"]
    with pytest.raises(ValueError, match="encoder.layers.3.final_layer_norm.bias"):
        runtime_model(config, weights)


# --- end to end through the converter ---------------------------------------------------------


@pytest.mark.parametrize("target", ["ios", "mlx"])
@pytest.mark.parametrize("relpath", [FAIRSEQ, HF])
def test_converted_file_loads_and_matches_upstream(relpath, target, tmp_path, refs):
    from rvc_convert.convert import convert_model

    result = convert_model(golden_path(relpath), target=target, out_dir=tmp_path)
    assert result.weights_path.suffix == (".safetensors" if target == "ios" else ".npz")
    model = HuBERT.from_file(result.weights_path)
    assert model.config["architecture"] == "hubert"
    assert rel_error(model.extract_features(refs["audio"], "v2"), refs["v2"]) < PARITY
    assert rel_error(model.extract_features(refs["audio"], "v1"), refs["v1"]) < PARITY


# --- the real architecture: full-size HuBERT base ---------------------------------------------


@pytest.fixture(scope="module")
def hubert_base(tmp_path_factory):
    """A full-size fairseq hubert_base.pt (random weights) and the torch reference read from the
    same file: benchmarks/torch_reference.py's TorchHubert, which tests/test_torch_reference.py
    proves against upstream's golden features (never make_aux's own model, written beside it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm: the fairseq spelling
        model = make_aux.build_hubert(seed=0)
        path = make_aux.save_hubert_fairseq(tmp_path_factory.mktemp("hubert_base") / "hubert_base.pt", model)
    del model
    return path, TorchHubert(path)


def test_real_hubert_base_satisfies_expected_tensors(hubert_base):
    path, _ = hubert_base
    config, plan, arrays = plan_file(path)
    assert config["conv_layers"] == [[512, 10, 5]] + [[512, 3, 2]] * 4 + [[512, 2, 2]] * 2
    assert (config["hidden_size"], config["num_layers"], config["num_heads"], config["ffn_dim"]) == (768, 12, 12, 3072)
    assert (config["pos_conv_kernel"], config["pos_conv_groups"], config["final_proj_dim"]) == (128, 16, 256)
    expected = hubert_expected_tensors(config, "fairseq")
    assert len(arrays) == 214 and len(expected) == 211 == len(plan.entries)
    # the note's 94,697,600 values minus label_embs_concat, mask_emb and weight_g (fused away)
    assert sum(int(np.prod(s)) for s in expected.values()) == 94_697_600 - 129_024 - 768 - 128
    assert expected["encoder.pos_conv.0.weight"] == (768, 48, 128)


def test_real_hubert_base_runs_in_the_runtime(hubert_base, kernel_path):
    path, torch_model = hubert_base
    config, plan, arrays = plan_file(path)
    model = runtime_model(config, converted_arrays(plan, arrays))
    audio = np.random.default_rng(0).standard_normal(3200).astype(np.float32) * 0.1  # 0.2 s: 9 frames
    out = model.run(audio)
    reference = torch_model.run(audio)
    v1 = torch_model.extract_features(audio, "v1")
    assert out.hidden_states[-1].shape == (1, 9, 768)
    assert rel_error(out.conv_features, reference["conv_features"].numpy()) < PARITY
    assert rel_error(out.hidden_states[-1], reference["hidden_states"][-1].numpy()) < PARITY
    assert rel_error(model.final_proj(out.hidden_states[9]), v1.numpy()) < PARITY
