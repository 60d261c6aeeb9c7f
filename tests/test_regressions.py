"""Bugs of the earlier MLX/iOS converters (docs/regressions.md), one regression test each.

Every docstring names the bug it guards against. Expectations come from torch (`torch.load`,
`torch._weight_norm`) and docs/synthesizer_format.md, not from rvc_convert's own plan.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
import torch

from rvc_convert.convert import convert_model
from rvc_convert.errors import MappingError
from rvc_convert.transform import fuse_weight_norm

REPO = Path(__file__).resolve().parent.parent

from golden import golden_path
from outputs import load_output, torch_single_thread
from outputs import output_metadata as metadata


V2_48K = "synth/models/v2-48k-f0-tiny.pth"
V2_32K = "synth/models/v2-32k-nof0-tiny.pth"
V1_32K = "synth/models/v1-32k-nof0-tiny.pth"
V1_40K = "synth/models/v1-40k-f0-tiny.pth"
TARGETS = ("ios", "mlx")


def torch_weight_norm(g, v, dim: int = 0) -> np.ndarray:
    with torch_single_thread():
        return torch._weight_norm(torch.as_tensor(v).float(), torch.as_tensor(g).float(), dim).numpy()


def export(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def state_of(path: Path) -> dict[str, torch.Tensor]:
    return dict(export(path)["weight"])


def rewrite(source: Path, dest: Path, edit) -> Path:
    """torch.save a golden export after `edit(checkpoint)` changed it."""
    cpt = export(source)
    cpt["weight"] = dict(cpt["weight"])
    edit(cpt)
    torch.save(cpt, dest)
    return dest


def rel_close(got: np.ndarray, ref: np.ndarray, rtol: float = 1e-6) -> bool:
    return bool(np.all(np.abs(got.astype(np.float64) - ref.astype(np.float64)) <= rtol * np.abs(ref.astype(np.float64)) + 1e-30))


# --- B1: weight-norm norm per output slice --------------------------------------------------------


def test_b1_weight_norm_is_per_output_slice_not_global():
    """B1: the norm of g·v/‖v‖ was taken over the whole tensor ("global"), making resblock weights
    ~2x too large. With rows of wildly different scales, only the per-slice norm matches torch."""
    rng = np.random.default_rng(1)
    scales = np.array([1e-3, 1.0, 1e3, 7.5, 0.02, 250.0], dtype=np.float32).reshape(6, 1, 1)
    v = (rng.standard_normal((6, 5, 3)) * scales).astype(np.float32)
    g = rng.uniform(0.3, 1.2, size=(6, 1, 1)).astype(np.float32)
    ours = fuse_weight_norm(g, v, axis=0)
    ref = torch_weight_norm(g, v, 0)
    assert ours.dtype == np.float32 and ours.shape == v.shape
    assert rel_close(ours, ref)
    # every output slice has norm g (which a global norm cannot give with these scales)
    np.testing.assert_allclose(np.sqrt((ours.astype(np.float64) ** 2).sum(axis=(1, 2))), g.ravel(), rtol=1e-6)
    global_norm = g * v / np.sqrt((v.astype(np.float64) ** 2).sum())
    assert not np.allclose(global_norm, ref, rtol=1e-2)


def test_b1_weight_norm_other_axis_and_fp16_inputs():
    """B1 (axis): the norm runs over every axis but the declared one — dim 2 for HuBERT's
    pos_conv-like g [1,1,K] — and fp16 g/v are fused in float32, like torch on upcast values."""
    rng = np.random.default_rng(2)
    v = (rng.standard_normal((8, 4, 6)) * rng.uniform(0.01, 100, size=(1, 1, 6))).astype(np.float16)
    g = rng.uniform(0.3, 1.2, size=(1, 1, 6)).astype(np.float16)
    assert rel_close(fuse_weight_norm(g, v, axis=2), torch_weight_norm(g, v, 2))
    g0 = rng.uniform(0.3, 1.2, size=(8, 1, 1)).astype(np.float16)
    assert rel_close(fuse_weight_norm(g0, v, axis=0), torch_weight_norm(g0, v, 0))


@pytest.mark.parametrize("module", ["dec.resblocks.1.convs1.2", "dec.ups.0", "flow.flows.2.enc.cond_layer"])
def test_b1_pipeline_fuses_badly_scaled_rows_like_torch(module, tmp_path):
    """B1 through the whole pipeline: a checkpoint whose weight_v rows span six orders of magnitude
    (Conv1d, ConvTranspose1d with g per input channel, WaveNet cond layer) converts (--dtype fp32)
    to torch._weight_norm(v, g, 0), and (fp16) to within 1 fp16 ulp of it."""
    source = golden_path(V2_48K)

    def edit(cpt):
        v = cpt["weight"][f"{module}.weight_v"].float()
        rows = torch.logspace(-3, 3, v.shape[0]).reshape(-1, *([1] * (v.dim() - 1)))
        cpt["weight"][f"{module}.weight_v"] = (v * rows).half()

    bad = rewrite(source, tmp_path / "scaled.pth", edit)
    state = state_of(bad)
    ref = torch_weight_norm(state[f"{module}.weight_g"], state[f"{module}.weight_v"], 0)
    perm = (1, 2, 0) if module.startswith("dec.ups.") else (0, 2, 1)
    target = {
        "dec.resblocks.1.convs1.2": "dec.resblock_1.c1_2.weight",
        "dec.ups.0": "dec.up_0.weight",
        "flow.flows.2.enc.cond_layer": "flow.flow_1.enc.cond_layer.weight",
    }[module]
    out32 = load_output(convert_model(bad, "ios", tmp_path / "fp32", dtype="fp32").weights_path)[target]
    assert rel_close(np.transpose(out32, np.argsort(perm)), ref)
    out16 = load_output(convert_model(bad, "ios", tmp_path / "fp16").weights_path)[target]
    diff = np.abs(np.transpose(out16, np.argsort(perm)).astype(np.float32) - ref.astype(np.float16).astype(np.float32))
    spacing = np.spacing(np.abs(ref.astype(np.float16))).astype(np.float32)
    assert np.all(diff <= spacing), "more than 1 fp16 ulp from torch's weight norm"


# --- B2: flow index compaction -------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_b2_flow_indices_are_compacted(target, tmp_path):
    """B2: flows.{0,2,4,6} must become flow_{0,1,2,3} (odd slots are weightless Flips); mapping
    flows.i -> flow_i left half the coupling layers random. Each flow_k holds flows.(2k)'s tensors."""
    source = golden_path(V2_48K)
    out = load_output(convert_model(source, target, tmp_path).weights_path)
    state = state_of(source)
    flow_ids = {int(m[1]) for k in out if (m := re.match(r"flow\.flow_(\d+)\.", k))}
    assert flow_ids == {0, 1, 2, 3}
    assert not any(k.startswith("flow.flows.") for k in out)
    for k in range(4):
        src = state[f"flow.flows.{2 * k}.pre.weight"].numpy()
        assert out[f"flow.flow_{k}.pre.weight"].tobytes() == np.ascontiguousarray(src.transpose(0, 2, 1)).tobytes()
        post = state[f"flow.flows.{2 * k}.post.bias"].numpy()
        assert out[f"flow.flow_{k}.post.bias"].tobytes() == post.tobytes()
        assert f"flow.flow_{k}.enc.in_layer_2.weight" in out and f"flow.flow_{k}.enc.res_skip_layer_2.bias" in out


@pytest.mark.parametrize("extra", ["flow.flows.1.pre.weight", "flow.flows.3.enc.in_layers.0.weight_v"])
def test_b2_tensor_in_an_odd_flow_slot_is_refused(extra, tmp_path):
    """B2: a checkpoint with a tensor in an odd flow slot (a Flip has no weights) cannot be mapped
    by index compaction: MappingError, nothing written."""
    source = golden_path(V2_48K)

    def edit(cpt):
        donor = extra.replace(".1.", ".0.").replace(".3.", ".2.")
        cpt["weight"][extra] = cpt["weight"][donor].clone()

    bad = rewrite(source, tmp_path / "odd_flow.pth", edit)
    out_dir = tmp_path / "out"
    with pytest.raises(MappingError) as err:
        convert_model(bad, "ios", out_dir)
    assert "flow.flows." in str(err.value)
    assert not out_dir.exists() or not any(out_dir.iterdir())


# --- B3: no double transposition -----------------------------------------------------------------


@pytest.mark.parametrize("first,second", [("ios", "ios"), ("ios", "mlx"), ("mlx", "ios"), ("mlx", "mlx")])
@pytest.mark.parametrize("dtype", [None, "fp32"])
def test_b3_converting_a_converted_file_changes_no_tensor(first, second, dtype, tmp_path):
    """B3: the converter and the Swift loader both transposed, flipping flow/ups/cond/noise_convs/proj
    twice. Converting an rvc-convert output again is a pass-through: every tensor (name, dtype,
    shape, bytes) is unchanged, nothing is transposed or re-fused."""
    source = golden_path(V1_40K)
    once = convert_model(source, first, tmp_path / "once", dtype=dtype)
    twice = convert_model(once.weights_path, second, tmp_path / "twice")
    assert twice.info.kind == "converted"
    assert all(e.permute is None and not e.fuse_weight_norm for e in twice.plan.entries)
    a, b = load_output(once.weights_path), load_output(twice.weights_path)
    assert set(a) == set(b)
    for key in a:
        assert (a[key].dtype, a[key].shape) == (b[key].dtype, b[key].shape), key
        assert a[key].tobytes() == b[key].tobytes(), key
    assert json.loads(twice.config_path.read_text()) == json.loads(once.config_path.read_text())
    assert metadata(twice.weights_path)["source_sha256"] == metadata(once.weights_path)["source_sha256"]


def test_b3_converting_a_converted_file_onto_itself_is_refused(tmp_path):
    """B3 (pass-through): re-converting an .safetensors to ios in its own folder would overwrite the
    input: refused as a usage error (exit 4); the file is unchanged."""
    from rvc_convert.errors import UsageError

    once = convert_model(golden_path(V2_48K), "ios", tmp_path)
    before = once.weights_path.read_bytes()
    with pytest.raises(UsageError):
        convert_model(once.weights_path, "ios")
    assert once.weights_path.read_bytes() == before


# --- B4: every 3-D conv weight is transposed ---------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_b4_every_3d_conv_weight_is_transposed(target, tmp_path):
    """B4: only keys containing "conv" were transposed, leaving enc_p.proj, flow pre/post and
    dec.cond in (O,I,K). Every 3-D conv weight (all but emb_rel_k/v) must be (O,K,I) = source
    transposed (0,2,1) — ConvTranspose1d (1,2,0) — including the named ones."""
    source = golden_path(V2_48K)
    result = convert_model(source, target, tmp_path, dtype="fp32")
    out = load_output(result.weights_path)
    state = state_of(source)
    by_source = {}
    for entry in result.plan.entries:
        for key in entry.sources.values():
            by_source[key] = entry.target
    checked = 0
    for key, tensor in state.items():
        if tensor.dim() != 3 or key.endswith(("emb_rel_k", "emb_rel_v", "weight_g")):
            continue
        target_key = by_source[key]
        got = out[target_key]
        if key.endswith("weight_v"):
            src = torch_weight_norm(state[key[:-1] + "g"], tensor, 0)
        else:
            src = tensor.float().numpy()
        perm = (1, 2, 0) if key.startswith("dec.ups.") else (0, 2, 1)
        expected = np.ascontiguousarray(src.transpose(perm))
        assert got.shape == expected.shape, f"{key} -> {target_key}: {got.shape}, expected {expected.shape}"
        assert rel_close(got, expected), f"{key} -> {target_key}: not the transposed source"
        checked += 1
    assert checked == sum(1 for k, t in state.items() if t.dim() == 3 and not k.endswith(("emb_rel_k", "emb_rel_v", "weight_g")))
    hidden, inter, gin, c0 = 24, 16, 20, 64
    named = {
        "enc_p.proj.weight": (2 * inter, 1, hidden),
        "flow.flow_0.pre.weight": (hidden, 1, inter // 2),
        "flow.flow_3.post.weight": (inter // 2, 1, hidden),
        "dec.cond.weight": (c0, 1, gin),
        "dec.conv_pre.weight": (c0, 7, inter),
        "dec.noise_conv_0.weight": (c0 // 2, 80, 1),
        "enc_p.encoder.attn_0.conv_q.weight": (hidden, 1, hidden),
    }
    for key, shape in named.items():
        assert out[key].shape == shape, f"{key}: {out[key].shape}, expected {shape}"


# --- B9: ConvTranspose1d layout ------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_b9_conv_transpose_layout_is_120_without_tap_flip(target, tmp_path):
    """B9: ConvTranspose1d (I,O,K) must become (O,K,I) by transpose (1,2,0) — not (0,2,1) — with
    the taps in their original order; and MLX's conv_transpose1d on it equals torch's."""
    source = golden_path(V2_48K)
    result = convert_model(source, target, tmp_path, dtype="fp32")
    out = load_output(result.weights_path)
    state = state_of(source)
    rates = result.info.config.upsample_rates
    for i, rate in enumerate(rates):
        g, v = state[f"dec.ups.{i}.weight_g"], state[f"dec.ups.{i}.weight_v"]
        fused = torch_weight_norm(g, v, 0)  # g is per *input* channel: dim 0 of (I,O,K)
        c_in, c_out, kernel = fused.shape
        got = out[f"dec.up_{i}.weight"]
        assert got.shape == (c_out, kernel, c_in)
        assert rel_close(got, fused.transpose(1, 2, 0))
        assert not np.allclose(got, fused.transpose(1, 2, 0)[:, ::-1, :]), "taps are flipped"
        # functional check against torch
        x = np.random.default_rng(i).standard_normal((1, c_in, 11)).astype(np.float32)
        pad = (kernel - rate) // 2
        with torch_single_thread():
            ref = torch.nn.functional.conv_transpose1d(torch.from_numpy(x), torch.from_numpy(fused), stride=rate, padding=pad).numpy()
        mine = np.array(mx.conv_transpose1d(mx.array(x.transpose(0, 2, 1)), mx.array(got), stride=rate, padding=pad))
        assert mine.shape == (1, 11 * rate, c_out)
        np.testing.assert_allclose(mine.transpose(0, 2, 1), ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    kinds = {e.target: (e.kind, e.permute) for e in result.plan.entries}
    for i in range(len(rates)):
        assert kinds[f"dec.up_{i}.weight"] == ("conv_transpose1d", (1, 2, 0))


# --- B10: relative-position tables ----------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_b10_emb_rel_tables_keep_shape_and_name(target, tmp_path):
    """B10: emb_rel_k/v were transposed like conv weights ((1,21,96)->(1,96,21)) and saved with
    '.weight' appended. They must keep shape (1,21,head_dim), their bytes, and their bare name."""
    source = golden_path(V2_48K)
    out = load_output(convert_model(source, target, tmp_path).weights_path)
    state = state_of(source)
    tables = [k for k in out if "emb_rel" in k]
    assert len(tables) == 2 * 2  # 2 layers x (k, v)
    for layer in range(2):
        for which in ("emb_rel_k", "emb_rel_v"):
            key = f"enc_p.encoder.attn_{layer}.{which}"
            src = state[f"enc_p.encoder.attn_layers.{layer}.{which}"].numpy()
            assert out[key].shape == (1, 21, 12) == src.shape
            assert out[key].tobytes() == src.tobytes()
    assert not any(k.endswith(("emb_rel_k.weight", "emb_rel_v.weight")) for k in out)
    k0, v0 = out["enc_p.encoder.attn_0.emb_rel_k"], out["enc_p.encoder.attn_0.emb_rel_v"]
    assert not np.array_equal(k0, v0)  # not swapped into one another (values differ in the source)


# --- B11 / B14: LayerNorm gamma/beta -------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("model", [V2_48K, V1_32K])
def test_b11_b14_layer_norm_gamma_beta_become_weight_bias(model, target, tmp_path):
    """B11 (gamma/beta not mapped) and B14 (the iOS converter never renamed them, so the 12 text-
    encoder LayerNorms loaded nothing): for both targets, norm{1,2}_N.weight = gamma and .bias =
    beta of norm_layers_{1,2}.N, and no gamma/beta key remains."""
    source = golden_path(model)
    out = load_output(convert_model(source, target, tmp_path).weights_path)
    state = state_of(source)
    assert not any(k.endswith((".gamma", ".beta")) or "gamma" in k or "beta" in k for k in out)
    n_layers = 2
    for which in (1, 2):
        for i in range(n_layers):
            gamma = state[f"enc_p.encoder.norm_layers_{which}.{i}.gamma"].numpy()
            beta = state[f"enc_p.encoder.norm_layers_{which}.{i}.beta"].numpy()
            assert out[f"enc_p.encoder.norm{which}_{i}.weight"].tobytes() == gamma.tobytes()
            assert out[f"enc_p.encoder.norm{which}_{i}.bias"].tobytes() == beta.tobytes()
            assert not np.array_equal(gamma, beta)
    assert sum(1 for k in out if re.fullmatch(r"enc_p\.encoder\.norm[12]_\d+\.(weight|bias)", k)) == 2 * 2 * n_layers


# --- B15: dec.cond -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_b15_generator_speaker_cond_is_converted(target, tmp_path):
    """B15: dec.cond.* was not remapped, so the generator's speaker-conditioning conv stayed random
    on every Swift path. It must be present as dec.cond.weight (O,K,I) = source (0,2,1) and
    dec.cond.bias, under exactly these names."""
    source = golden_path(V2_48K)
    out = load_output(convert_model(source, target, tmp_path).weights_path)
    state = state_of(source)
    assert sorted(k for k in out if k.startswith("dec.cond")) == ["dec.cond.bias", "dec.cond.weight"]
    w = state["dec.cond.weight"].numpy()  # (64, 20, 1)
    assert out["dec.cond.weight"].shape == (64, 1, 20)
    assert out["dec.cond.weight"].tobytes() == np.ascontiguousarray(w.transpose(0, 2, 1)).tobytes()
    assert out["dec.cond.bias"].tobytes() == state["dec.cond.bias"].numpy().tobytes()


# --- B18: sample rate and hop come from the file -----------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    "model,sr,hop",
    [(V2_48K, 48000, 480), (V2_32K, 32000, 320), (V1_32K, 32000, 320), (V1_40K, 40000, 400), ("synth/extra/G_2333333.pth", 48000, 480)],
)
def test_b18_sample_rate_and_hop_come_from_the_file(model, sr, hop, target, tmp_path):
    """B18: on-device imports got no config, so sr defaulted to 40000 (48k models played at the
    wrong rate). The sidecar JSON and the metadata carry the model's own sample rate and hop (also
    for a G_*.pth, which has no config list: from the weights)."""
    result = convert_model(golden_path(model), target, tmp_path)
    config = json.loads(result.config_path.read_text())
    assert config[17] == sr
    assert math.prod(config[12]) == hop
    meta = metadata(result.weights_path)
    assert meta["sample_rate"] == str(sr)
    assert meta["hop"] == str(hop)
    assert json.loads(meta["config"]) == config
