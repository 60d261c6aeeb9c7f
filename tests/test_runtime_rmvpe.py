"""RMVPE: rule pack, expected tensors, and the MLX runtime against upstream.

Parity: the golden small-width model against RVC's own `RMVPE` class (rmvpe_refs.npz: mel, every
U-Net stage, BiGRU, salience, f0), and the full-size E2E(4, 1, (2, 2)) layout (fixtures/make_aux.py,
random weights) against the PyTorch forward of benchmarks/torch_reference.py, itself proven against
the golden salience and f0. Weights reach the runtime through the engine's planner with our rule
pack (in memory), and end to end through `convert_model`.
"""

from __future__ import annotations

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from mlx.utils import tree_flatten

import make_aux
from golden import golden_path
from torch_reference import TorchRMVPE
from rvc_convert.families.rmvpe.config import rmvpe_config_from_tensors, rmvpe_expected_tensors
from rvc_convert.errors import MappingError
from rvc_convert.reader import iter_tensors, read_model_file
from rvc_convert.rules import load_rule_pack, plan_conversion
from rvc_convert.transform import materialise
from rvc_runtime.rmvpe import (
    RMVPE,
    BatchNorm,
    BiGRU,
    ConvBlockRes,
    DecoderLevel,
    cents_to_f0,
    hann_window,
    log_mel_spectrogram,
    mel_filterbank,
    salience_to_cents,
)
from rvc_runtime.weights import load_into

SMALL = "rmvpe/rmvpe_small.pt"
REFS = "rmvpe/rmvpe_refs.npz"
PARITY = 1e-4  # max |Δ| / RMS per stage; a correct float32 port lands near 1e-6
STAGES = ["unet.encoder.bn.out", "unet.encoder.out", "unet.intermediate.out", "unet.out", "cnn.out"]


def rel_error(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.max(np.abs(actual - expected)) / np.sqrt(np.mean(expected**2)))


def cents(f0: np.ndarray) -> np.ndarray:
    return 1200 * np.log2(f0 / 10)


def plan_state(state: dict[str, np.ndarray]):
    """(config, plan) of an RMVPE state dict (key -> array) through mappings/rmvpe.yaml."""
    config = rmvpe_config_from_tensors(state)
    shapes = {k: (tuple(a.shape), str(a.dtype)) for k, a in state.items()}
    return config, plan_conversion(load_rule_pack("rmvpe"), shapes, rmvpe_expected_tensors(config))


def runtime_model(state: dict[str, np.ndarray]) -> RMVPE:
    config, plan = plan_state(state)
    weights = {e.target: mx.array(np.asarray(materialise(e, state), np.float32)) for e in plan.entries}
    return load_into(RMVPE(config), weights, mx.float32)


def file_state(path) -> dict[str, np.ndarray]:
    return {k: t.array for k, t in iter_tensors(read_model_file(path).root)}


def torch_state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def nchw(x: mx.array) -> np.ndarray:
    return np.array(x).transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def refs():
    return np.load(golden_path(REFS))


@pytest.fixture(scope="module")
def small_model():
    return runtime_model(file_state(golden_path(SMALL)))


# --- rule pack and expected tensors -----------------------------------------------------------


def test_golden_file_maps_completely():
    state = file_state(golden_path(SMALL))
    config, plan = plan_state(state)
    assert len(state) == 741 and len(plan.entries) == 623 and len(plan.dropped) == 118
    assert all(key.endswith(".num_batches_tracked") for key, _ in plan.dropped)
    assert config["en_out_channels"] == 2 and config["n_blocks"] == 4 and config["en_de_layers"] == 5 and config["inter_layers"] == 4
    params = dict(tree_flatten(RMVPE(config).parameters()))
    assert {e.target: tuple(e.target_shape) for e in plan.entries} == {k: tuple(v.shape) for k, v in params.items()}


def test_batch_norm_tensors_stay_float32():
    _, plan = plan_state(file_state(golden_path(SMALL)))
    norms = [e for e in plan.entries if e.target.rsplit(".", 1)[-1] in ("running_mean", "running_var")]
    assert len(norms) == 2 * 118 and all(e.pinned_dtype == "float32" for e in norms)


def test_missing_tensors_are_named():
    state = file_state(golden_path(SMALL))
    config = rmvpe_config_from_tensors(state)
    partial = {k: (a.shape, str(a.dtype)) for k, a in state.items() if k != "unet.decoder.layers.2.conv2.0.shortcut.bias"}
    with pytest.raises(MappingError, match="unet.decoder.layers.2.conv2.0.shortcut.bias"):
        plan_conversion(load_rule_pack("rmvpe"), partial, rmvpe_expected_tensors(config))


# --- front end and decoding -------------------------------------------------------------------


def test_mel_filterbank_and_window_equal_upstream(refs):
    """librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=30, fmax=8000, htk=True), Slaney norm."""
    np.testing.assert_allclose(mel_filterbank(16000, 1024, 128, 30.0, 8000.0), refs["mel_basis"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(hann_window(1024), refs["hann_window"], atol=1e-6)


def test_log_mel_equals_upstream(small_model, refs):
    mel = log_mel_spectrogram(refs["audio"], small_model.config)
    assert mel.shape == (128, 1 + len(refs["audio"]) // 160) == refs["mel"].shape[1:]
    assert np.max(np.abs(mel - refs["mel"][0])) < 5e-4  # float32 STFT noise upstream: 1.6e-4


def test_mel_is_zero_padded_to_a_multiple_of_32(small_model, refs):
    np.testing.assert_array_equal(small_model.pad_mel(refs["mel"][0]), refs["mel_padded"][0])


def test_decode_reproduces_upstream_cents_and_f0(refs):
    cents_out = salience_to_cents(refs["hidden"], float(refs["thred"]))
    np.testing.assert_allclose(cents_out, refs["cents"], atol=0.01)  # upstream sums the 9 weights in float32
    f0 = cents_to_f0(cents_out)
    assert np.array_equal(f0 > 0, refs["voiced"])
    np.testing.assert_allclose(f0, refs["f0"], atol=0.01)


def test_decode_threshold_is_inclusive():
    salience = np.zeros((2, 360), np.float32)
    salience[0, 100] = 0.03
    salience[1, 100] = 0.0301
    f0 = cents_to_f0(salience_to_cents(salience, 0.03))
    assert f0[0] == 0 and f0[1] == pytest.approx(10 * 2 ** ((20 * 100 + 1997.3794084376191) / 1200))


# --- runtime parity with RVC's RMVPE ----------------------------------------------------------


def test_parity_every_stage_with_upstream(small_model, refs, kernel_path):
    trace = small_model.trace(refs["mel_padded"][0])
    for stage in STAGES:
        assert rel_error(nchw(trace[stage]), refs[stage]) < PARITY, stage
    assert rel_error(trace["fc.0.out"], refs["fc.0.out"]) < PARITY
    assert rel_error(trace["fc.1.out"], refs["fc.1.out"]) < PARITY


def test_parity_salience_and_f0_from_audio(small_model, refs, kernel_path):
    salience = small_model.salience(refs["audio"])
    assert np.max(np.abs(salience - refs["hidden"])) < 1e-5
    f0 = small_model.f0(refs["audio"])
    voiced = refs["voiced"]
    assert np.array_equal(f0 > 0, voiced)
    assert voiced.sum() == 159
    assert np.max(np.abs(cents(f0[voiced]) - cents(refs["f0"][voiced]))) < 1.0  # measured ≈ 1e-3 cents


def test_applio_reflect_padding_matches_applio(small_model, refs, kernel_path):
    salience = small_model.salience(refs["audio"], pad_mode="reflect")
    assert np.max(np.abs(salience - refs["hidden_applio"])) < 1e-5
    f0 = cents_to_f0(salience_to_cents(salience, float(refs["thred"])))
    assert np.array_equal(f0 > 0, refs["f0_applio"] > 0)


# --- regression tests from the earlier ports ---------------------------------------------------


def test_b5_batch_norm_uses_running_stats_and_eps_1e5(small_model):
    """B5: eval BatchNorm = (x − running_mean) / sqrt(running_var + 1e-5) · weight + bias, every BN."""
    bns = [m for _, m in small_model.named_modules() if isinstance(m, BatchNorm)]
    assert len(bns) == 118 and all(m.eps == 1e-5 for m in bns)
    torch_bn = torch.nn.BatchNorm2d(8).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in (torch_bn.weight, torch_bn.bias, torch_bn.running_mean):
            tensor.copy_(torch.randn(8, generator=generator))
        torch_bn.running_var.copy_(torch.rand(8, generator=generator) * 1e-4)  # small var: eps matters
    ours = BatchNorm(8, eps=1e-5)
    ours.load_weights([(k, mx.array(v)) for k, v in torch_state(torch_bn).items() if k != "num_batches_tracked"])
    x = torch.randn(2, 8, 5, 7, generator=generator)
    with torch.no_grad():
        expected = torch_bn(x).numpy()
    assert rel_error(nchw(ours(mx.array(x.permute(0, 2, 3, 1).numpy()))), expected) < 1e-6


def test_b6_bigru_has_pytorch_gate_semantics():
    """B6: MLX's nn.GRU adds the hidden bias outside the reset product; PyTorch keeps b_hn inside
    r ⊙ (W_hn h + b_hn). Ours matches torch.nn.GRU (2 layers, bidirectional) on random weights."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(12, 8, num_layers=2, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name, tensor in gru.named_parameters():
            if name.startswith("bias"):
                tensor.normal_(0.0, 1.0)  # large biases make the b_hn placement visible
    ours = BiGRU(12, 8, 2)
    weights = []
    for name, tensor in gru.state_dict().items():
        base, _, layer_part = name.partition("_l")
        layer, reverse = layer_part.split("_")[0], layer_part.endswith("_reverse")
        weights.append((f"{'backward' if reverse else 'forward'}.{layer}.{base}", mx.array(tensor.numpy())))
    ours.load_weights(weights)
    x = torch.randn(2, 17, 12)
    with torch.no_grad():
        expected = gru(x)[0].numpy()
    assert rel_error(ours(mx.array(x.numpy())), expected) < 1e-5

    # MLX's own GRU with the bias folded the obvious way (b = b_ih + b_hh, no bhn) is the B6 bug.
    single = torch.nn.GRU(12, 8, batch_first=True)
    with torch.no_grad():
        single.bias_hh_l0.normal_(0.0, 1.0)
        expected_single = single(x)[0].numpy()
    mlx_gru = nn.GRU(12, 8, bias=True)
    mlx_gru.load_weights([
        ("Wx", mx.array(single.weight_ih_l0.detach().numpy())),
        ("Wh", mx.array(single.weight_hh_l0.detach().numpy())),
        ("b", mx.array((single.bias_ih_l0 + single.bias_hh_l0).detach().numpy())),
        ("bhn", mx.zeros((8,))),
    ])
    assert rel_error(mlx_gru(mx.array(x.numpy())), expected_single) > 1e-2


def test_b8_shortcut_is_a_plain_conv_with_bias():
    """B8: the 1x1 shortcut (channels change) is Conv2d with bias and nothing else (no BatchNorm)."""
    block = ConvBlockRes(4, 8, eps=1e-5)
    assert sorted(k for k, _ in tree_flatten(block.shortcut.parameters())) == ["bias", "weight"]
    assert "shortcut" not in ConvBlockRes(8, 8, eps=1e-5)
    torch_block = make_aux.ConvBlockRes(4, 8).eval()
    make_aux.randomise_norms(torch_block, torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch_block.shortcut.bias.normal_(0.0, 1.0)
    state = torch_state(torch_block)
    names = {"conv.0": "conv1", "conv.1": "bn1", "conv.3": "conv2", "conv.4": "bn2", "shortcut": "shortcut"}
    weights = []
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            continue
        value = value.transpose(0, 2, 3, 1) if value.ndim == 4 else value
        weights.append((f"{names[module]}.{param}", mx.array(value)))
    block.load_weights(weights)
    x = torch.randn(1, 4, 6, 10)
    with torch.no_grad():
        expected = torch_block(x).numpy()
    assert rel_error(nchw(block(mx.array(x.permute(0, 2, 3, 1).numpy()))), expected) < 1e-5


def test_b9_b17_decoder_conv_transpose_layout(kernel_path):
    """B9/B17: ConvTranspose2d (I, O, kH, kW) -> MLX (O, kH, kW, I) via (1, 2, 3, 0), no tap flip,
    output_padding 1: the decoder doubles time and mel exactly and matches torch."""
    _, plan = plan_state(file_state(golden_path(SMALL)))
    transposes = [e for e in plan.entries if e.kind == "conv_transpose2d"]
    assert [e.target for e in transposes] == [f"unet.decoder.layers.{i}.conv_transpose.weight" for i in range(5)]
    assert all(tuple(e.permute) == (1, 2, 3, 0) for e in transposes)

    cfg = dict(make_aux.RMVPE_FULL)
    torch_level = make_aux.DecoderLevel(8, 4, cfg).eval()
    make_aux.randomise_norms(torch_level, torch.Generator().manual_seed(2))
    level = DecoderLevel(8, 4, 4, (2, 2), eps=1e-5)
    weights = [("conv_transpose.weight", mx.array(torch_level.conv1[0].weight.detach().numpy().transpose(1, 2, 3, 0)))]
    weights += [(f"bn.{k}", mx.array(v)) for k, v in torch_state(torch_level.conv1[1]).items() if k != "num_batches_tracked"]
    names = {"conv.0": "conv1", "conv.1": "bn1", "conv.3": "conv2", "conv.4": "bn2", "shortcut": "shortcut"}
    for key, value in torch_state(torch_level.conv2).items():
        block, _, rest = key.partition(".")
        module, _, param = rest.rpartition(".")
        if param != "num_batches_tracked":
            weights.append((f"blocks.{block}.{names[module]}.{param}", mx.array(value.transpose(0, 2, 3, 1) if value.ndim == 4 else value)))
    level.load_weights(weights)
    x, skip = torch.randn(1, 8, 3, 4), torch.randn(1, 4, 6, 8)
    with torch.no_grad():
        h = torch.cat((torch_level.conv1(x), skip), dim=1)
        for block in torch_level.conv2:
            h = block(h)
    out = level(mx.array(x.permute(0, 2, 3, 1).numpy()), mx.array(skip.permute(0, 2, 3, 1).numpy()))
    assert out.shape == (1, 6, 8, 4)
    assert rel_error(nchw(out), h.numpy()) < 1e-5


def test_runtime_loading_is_strict():
    state = file_state(golden_path(SMALL))
    config, plan = plan_state(state)
    weights = {e.target: mx.array(np.asarray(materialise(e, state), np.float32)) for e in plan.entries}
    weights["fc.bigru.forward.0.bhn"] = mx.zeros((256,))
    with pytest.raises(ValueError, match="fc.bigru.forward.0.bhn"):
        load_into(RMVPE(config), weights)


# --- end to end through the converter ---------------------------------------------------------


@pytest.mark.parametrize("target", ["ios", "mlx"])
def test_converted_file_loads_and_matches_upstream(target, tmp_path, refs):
    from rvc_convert.convert import convert_model

    result = convert_model(golden_path(SMALL), target=target, out_dir=tmp_path)
    model = RMVPE.from_file(result.weights_path)
    assert model.config["architecture"] == "rmvpe"
    assert np.max(np.abs(model.salience(refs["audio"]) - refs["hidden"])) < 1e-5
    assert np.array_equal(model.f0(refs["audio"]) > 0, refs["voiced"])


# --- the real architecture: full-size E2E(4, 1, (2, 2)) ---------------------------------------


@pytest.fixture(scope="module")
def rmvpe_full(tmp_path_factory):
    """A full-size rmvpe.pt (random weights) and the torch reference read from the same file:
    benchmarks/torch_reference.py's TorchRMVPE, which tests/test_torch_reference.py proves against
    upstream's golden salience and f0 (never make_aux's own model, written beside it)."""
    model = make_aux.build_rmvpe(seed=0)
    path = make_aux.save_rmvpe(tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt", model)
    del model
    return path, TorchRMVPE(path)


def test_real_rmvpe_satisfies_expected_tensors(rmvpe_full):
    path, _ = rmvpe_full
    state = file_state(path)
    config, plan = plan_state(state)
    for key, value in {"n_blocks": 4, "n_gru": 1, "en_de_layers": 5, "inter_layers": 4, "in_channels": 1, "en_out_channels": 16, "gru_hidden": 256, "n_mels": 128, "n_classes": 360}.items():
        assert config[key] == value, key
    expected = rmvpe_expected_tensors(config)
    assert len(state) == 741 and len(expected) == 623 == len(plan.entries)
    assert {k: tuple(a.shape) for k, a in state.items() if not k.endswith("num_batches_tracked")} == expected
    assert sum(int(np.prod(s)) for s in expected.values()) == 90_472_799  # the note's float values
    assert expected["unet.decoder.layers.0.conv1.0.weight"] == (512, 256, 3, 3)


def test_real_rmvpe_runs_in_the_runtime(rmvpe_full, kernel_path):
    path, torch_model = rmvpe_full
    model = runtime_model(file_state(path))
    audio = np.random.default_rng(1).standard_normal(16000 * 30 // 100).astype(np.float32) * 0.1
    mel = model.mel(audio)
    assert model.pad_mel(mel).shape == (128, 32)
    reference_mel = torch_model.mel(audio)[0].numpy()
    assert rel_error(mel, reference_mel) < PARITY
    # the same mel into both networks: the comparison is of the networks, not of two STFTs
    salience = model.salience_from_mel(mel)
    reference = torch_model.salience_from_mel(torch.from_numpy(mel)[None]).numpy()
    assert salience.shape == reference.shape == (31, 360)
    assert np.max(np.abs(salience - reference)) < 1e-5
