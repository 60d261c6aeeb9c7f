"""Layer-wise proof: every converted layer computes in MLX what its source layer computes in PyTorch.

For each plan entry of kind conv1d / conv_transpose1d / linear / embedding, the PyTorch module is
built from the *source* weights (weight-normed layers get torch's own weight norm, so torch does the
fusion), the MLX op runs on the *converted* weight from the written file, both on the same random
input. Which torch module and which MLX op is used comes from the RVC architecture (docs/synthesizer_format.md, "Tensors"
and "Layouts"), not from the converter's plan, so a mislabelled layer cannot pass by being consistently
wrong on both sides. Conversion with --dtype fp32; relative error <= 1e-5.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import safetensors.numpy
import torch
from torch.nn.utils.parametrizations import weight_norm

from rvc_convert.convert import convert_model

REPO = Path(__file__).resolve().parent.parent

from golden import golden_path
from outputs import torch_single_thread


# v2-48k-f0-tiny: 4 stages, pitch branch (noise convs, m_source, emb_pitch);
# v1-32k-nof0-tiny: 5 stages (ups.4, resblocks 12..14), no pitch branch.
MODELS = {
    "v2-48k-f0-tiny": "synth/models/v2-48k-f0-tiny.pth",
    "v1-32k-nof0-tiny": "synth/models/v1-32k-nof0-tiny.pth",
}
CHECKED_KINDS = ("conv1d", "conv_transpose1d", "linear", "embedding")
REL_TOL = 1e-5
WN_SUFFIXES = {
    "g": (".weight_g", ".parametrizations.weight.original0"),
    "v": (".weight_v", ".parametrizations.weight.original1"),
}


def fused_key_of(stored_key: str) -> str:
    for suffixes in WN_SUFFIXES.values():
        for suffix in suffixes:
            if stored_key.endswith(suffix):
                return stored_key[: -len(suffix)] + ".weight"
    return stored_key


def architecture_kind(fused_key: str, ndim: int) -> str:
    """What the source layer is in RVC (docs/synthesizer_format.md, "Tensors"), independent of the rule pack."""
    if re.fullmatch(r"dec\.ups\.\d+\.(weight|bias)", fused_key):
        return "conv_transpose1d" if fused_key.endswith("weight") else "vector"
    if fused_key in ("emb_g.weight", "enc_p.emb_pitch.weight"):
        return "embedding"
    if fused_key.startswith(("enc_p.emb_phone.", "dec.m_source.l_linear.")):
        return "linear"
    if ndim == 3 and not re.search(r"emb_rel_[kv]$", fused_key):
        return "conv1d"
    return "other"


def conv_geometry(target: str, kernel: int, config) -> tuple[int, int, int]:
    """(stride, padding, dilation) of a Conv1d as the RVC classes build it."""
    rates = config.upsample_rates
    if m := re.fullmatch(r"dec\.resblock_(\d+)\.c1_(\d+)\.weight", target):
        dilation = config.resblock_dilation_sizes[int(m[1]) % len(config.resblock_kernel_sizes)][int(m[2])]
        return 1, dilation * (kernel - 1) // 2, dilation
    if m := re.fullmatch(r"dec\.noise_conv_(\d+)\.weight", target):
        stage = int(m[1])
        if stage + 1 < len(rates):
            stride = math.prod(rates[stage + 1 :])
            return stride, stride // 2, 1
        return 1, 0, 1
    return 1, kernel // 2, 1


def rel_error(got: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.max(np.abs(ref)))
    return float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) / (scale if scale > 0 else 1.0)


@pytest.fixture(scope="module", params=list(MODELS))
def converted(request, tmp_path_factory):
    source = golden_path(MODELS[request.param])
    result = convert_model(source, "ios", tmp_path_factory.mktemp(request.param), dtype="fp32")
    outputs = safetensors.numpy.load_file(str(result.weights_path))
    state = torch.load(source, map_location="cpu", weights_only=True)["weight"]
    return request.param, result, outputs, state


def _torch_weight(module: torch.nn.Module, entry, state) -> torch.nn.Module:
    """Load the source weight into `module`; weight-normed sources go through torch's weight_norm."""
    with torch.no_grad():
        if entry.fuse_weight_norm:
            module = weight_norm(module, name="weight", dim=0)
            module.parametrizations.weight.original0.copy_(state[entry.sources["g"]].float())
            module.parametrizations.weight.original1.copy_(state[entry.sources["v"]].float())
        else:
            module.weight.copy_(state[entry.sources["w"]].float())
    return module


def test_every_layer_computes_what_the_source_layer_computes(converted):
    """conv1d, conv_transpose1d, linear and embedding layers: MLX on the converted weights (and
    biases) == PyTorch on the source weights, relative error <= 1e-5, for every such plan entry."""
    name, result, outputs, state = converted
    config = result.info.config
    rng = np.random.default_rng(1234)
    entries = [e for e in result.plan.entries if e.kind in CHECKED_KINDS]
    checked: dict[str, float] = {}
    kinds_seen: dict[str, int] = {}

    for entry in entries:
        if entry.target in checked:
            continue
        some_source = entry.sources.get("w") or entry.sources["v"]
        fused_key = fused_key_of(some_source)
        ndim = state[some_source].dim()
        arch = architecture_kind(fused_key, ndim)
        assert entry.kind == arch, f"{entry.target}: planned as {entry.kind}, but {fused_key} is a {arch}"
        if arch == "linear" and not entry.target.endswith(".weight"):
            continue  # the bias of a Linear is checked with its weight
        kinds_seen[arch] = kinds_seen.get(arch, 0) + 1
        bias_key = fused_key[: -len("weight")] + "bias" if fused_key.endswith(".weight") else None
        bias_target = entry.target[: -len("weight")] + "bias" if entry.target.endswith(".weight") else None
        has_bias = bias_key in state
        with torch.no_grad(), torch_single_thread():
            if arch == "conv1d":
                out_ch, in_ch, kernel = state[entry.sources.get("w") or entry.sources["v"]].shape
                stride, padding, dilation = conv_geometry(entry.target, kernel, config)
                module = torch.nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=padding, dilation=dilation, bias=has_bias)
                module = _torch_weight(module, entry, state)
                if has_bias:
                    module.bias.copy_(state[bias_key].float())
                steps = max(40, 3 * kernel * dilation, 3 * stride)
                x = rng.standard_normal((2, in_ch, steps)).astype(np.float32)
                expected = module(torch.from_numpy(x)).numpy().transpose(0, 2, 1)
                got = mx.conv1d(mx.array(x.transpose(0, 2, 1)), mx.array(outputs[entry.target]), stride=stride, padding=padding, dilation=dilation)
                if has_bias:
                    got = got + mx.array(outputs[bias_target])
            elif arch == "conv_transpose1d":
                in_ch, out_ch, kernel = state[entry.sources["v"] if entry.fuse_weight_norm else entry.sources["w"]].shape
                stage = int(re.fullmatch(r"dec\.up_(\d+)\.weight", entry.target)[1])
                rate = config.upsample_rates[stage]
                padding = (kernel - rate) // 2
                module = torch.nn.ConvTranspose1d(in_ch, out_ch, kernel, stride=rate, padding=padding, bias=True)
                module = _torch_weight(module, entry, state)
                module.bias.copy_(state[bias_key].float())
                x = rng.standard_normal((2, in_ch, 17)).astype(np.float32)
                expected = module(torch.from_numpy(x)).numpy().transpose(0, 2, 1)
                assert expected.shape[1] == 17 * rate  # output length = T * u exactly
                got = mx.conv_transpose1d(mx.array(x.transpose(0, 2, 1)), mx.array(outputs[entry.target]), stride=rate, padding=padding)
                got = got + mx.array(outputs[bias_target])
            elif arch == "linear":
                out_f, in_f = state[entry.sources["w"]].shape
                module = torch.nn.Linear(in_f, out_f, bias=has_bias)
                module = _torch_weight(module, entry, state)
                if has_bias:
                    module.bias.copy_(state[bias_key].float())
                x = rng.standard_normal((2, 13, in_f)).astype(np.float32)
                expected = module(torch.from_numpy(x)).numpy()
                w = mx.array(outputs[entry.target])
                got = mx.array(x) @ w.T
                if has_bias:
                    got = got + mx.array(outputs[bias_target])
                    checked[bias_target] = 0.0
            elif arch == "embedding":
                table = state[entry.sources["w"]].float()
                module = torch.nn.Embedding.from_pretrained(table)
                idx = rng.integers(0, table.shape[0], size=(2, 29))
                expected = module(torch.from_numpy(idx)).numpy()
                got = mx.array(outputs[entry.target])[mx.array(idx)]
            else:  # pragma: no cover - guarded by the kind assertion above
                raise AssertionError(entry.target)
        got_np = np.array(got)
        assert got_np.shape == expected.shape, f"{entry.target}: MLX {got_np.shape} vs torch {expected.shape}"
        err = rel_error(got_np, expected)
        assert err <= REL_TOL, f"{name} {entry.target} ({arch}): relative error {err:.3g}"
        checked[entry.target] = err
        if has_bias and arch != "linear":
            checked.setdefault(bias_target, err)  # the bias (a vector entry) went through the same check

    # none skipped silently: every conv/convT/linear/embedding entry was checked
    wanted = {e.target for e in entries}
    assert wanted <= set(checked), sorted(wanted - set(checked))
    assert len(wanted & set(checked)) == len(entries)
    # and the check covered the layers the architecture has
    cfg = config
    stages = len(cfg.upsample_rates)
    assert kinds_seen["conv_transpose1d"] == stages
    n_resblock_convs = stages * len(cfg.resblock_kernel_sizes) * 2 * len(cfg.resblock_dilation_sizes[0])
    n_flow_convs = 4 * (2 + 3 + 3 + 1)  # pre, post, 3 in_layers, 3 res_skip, cond_layer per coupling layer
    n_encoder_convs = cfg.n_layers * 6 + 1  # q, k, v, o, ffn conv_1, conv_2; proj
    n_noise_convs = stages if cfg.f0 else 0
    assert kinds_seen["conv1d"] == n_resblock_convs + n_flow_convs + n_encoder_convs + n_noise_convs + 3  # conv_pre, cond, conv_post
    assert kinds_seen["embedding"] == (2 if cfg.f0 else 1)
    assert kinds_seen.get("linear", 0) == (2 if cfg.f0 else 1)
    fused = sum(1 for e in entries if e.fuse_weight_norm)
    assert fused == sum(1 for k in state if k.endswith(".weight_g"))


def test_layerwise_check_catches_a_wrong_layout(converted):
    """The check has teeth: the same comparison on a deliberately mis-laid weight (ConvTranspose
    transposed like a Conv1d, or its taps flipped) is far outside the tolerance."""
    name, result, outputs, state = converted
    rng = np.random.default_rng(7)
    entry = next(e for e in result.plan.entries if e.target == "dec.up_1.weight")
    in_ch, out_ch, kernel = state[entry.sources["v"]].shape
    rate = result.info.config.upsample_rates[1]
    padding = (kernel - rate) // 2
    with torch.no_grad(), torch_single_thread():
        module = _torch_weight(torch.nn.ConvTranspose1d(in_ch, out_ch, kernel, stride=rate, padding=padding, bias=False), entry, state)
        x = rng.standard_normal((1, in_ch, 9)).astype(np.float32)
        expected = module(torch.from_numpy(x)).numpy().transpose(0, 2, 1)
    good = outputs["dec.up_1.weight"]
    flipped = np.ascontiguousarray(good[:, ::-1, :])
    for weight, should_pass in ((good, True), (flipped, False)):
        got = np.array(mx.conv_transpose1d(mx.array(x.transpose(0, 2, 1)), mx.array(weight), stride=rate, padding=padding))
        assert (rel_error(got, expected) <= REL_TOL) == should_pass


def test_a_damaged_layer_fails_convert_and_publishes_nothing(tmp_path, monkeypatch, capsys):
    """`convert` runs layerwise_check on every default conversion: a converter bug that flips one
    transposed conv's taps (shapes and values still plausible, so only the layer-wise proof can
    see it) makes convert exit 1 naming that layer, and the previous outputs stay exactly as they
    were, with no staging folder left."""
    from rvc_convert import cli
    from rvc_convert import convert as engine

    source = golden_path(MODELS["v2-48k-f0-tiny"])
    out = tmp_path / "out"
    assert cli.main(["convert", str(source), "-o", str(out), "--name", "voice"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    real = engine.produce_target

    def damaged(entry, arrays, dtype=None):
        array, peak = real(entry, arrays, dtype)
        return (np.ascontiguousarray(array[:, ::-1, :]) if entry.target == "dec.up_1.weight" else array), peak

    monkeypatch.setattr(engine, "produce_target", damaged)
    code = cli.main(["convert", str(source), "-o", str(out), "--name", "voice", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    failed = [c for c in report["validation"]["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["layerwise"] and "dec.up_1.weight" in failed[0]["detail"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous pair, untouched; nothing staged
