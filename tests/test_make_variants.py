"""The variant generator (fixtures/make_variants.py) writes what upstream writes.

Its key lists come from the shape rules of docs/synthesizer_format.md; these tests pin them to the golden files that
upstream's own export code wrote, so other tests can trust the 8 variants that have no golden file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import make_variants as mv
from golden import FULL_SYNTH_MODEL, find_golden, golden_path
from rvc_convert.reader import iter_tensors, read_model_file

GOLDEN_TINY = {
    "synth/models/v1-40k-f0-tiny.pth": ("v1", "40k", True),
    "synth/models/v2-48k-f0-tiny.pth": ("v2", "48k", True),
    "synth/models/v2-32k-nof0-tiny.pth": ("v2", "32k", False),
    "synth/models/v1-32k-nof0-tiny.pth": ("v1", "32k", False),
}


def _shapes(state) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in state.items()]


@pytest.mark.parametrize("relpath", sorted(GOLDEN_TINY))
def test_tiny_keys_and_shapes_equal_golden(relpath):
    """For the 4 variants with a golden tiny model, the generator's keys, shapes, key order and
    config list (same tiny dims) equal the file upstream's savee wrote, exactly."""
    version, sr, f0 = GOLDEN_TINY[relpath]
    golden = torch.load(golden_path(relpath), map_location="cpu", weights_only=True)
    assert _shapes(golden["weight"]) == list(mv.key_shapes(version, sr, f0).items())
    assert golden["config"] == mv.make_config(version, sr)
    written = mv.make_checkpoint(version, sr, f0)
    assert list(written) == list(golden)  # weight, config, info, sr, f0, version
    for field in ("config", "info", "sr", "f0", "version"):
        assert written[field] == golden[field] and type(written[field]) is type(golden[field]), field
    assert _shapes(written["weight"]) == _shapes(golden["weight"])
    assert all(t.dtype == torch.float16 for t in written["weight"].values())


def test_full_size_matches_golden_full_model():
    """With full_size=True, v2-40k-f0 has the keys, shapes, order and config of the real 55 MB export."""
    golden = read_model_file(golden_path(FULL_SYNTH_MODEL)).root
    assert [(k, t.array.shape) for k, t in golden["weight"].items()] == list(mv.key_shapes("v2", "40k", True, full_size=True).items())
    assert golden["config"] == mv.make_config("v2", "40k", full_size=True)


@pytest.mark.parametrize("version,sr,f0", mv.all_variants(), ids=lambda x: str(x))
def test_full_size_tensor_counts(version, sr, f0):
    """Full-size counts are those of docs/synthesizer_format.md, "Tensors": 457 / 446 (4 stages), 516 / 503 (5 stages);
    nono variants lack exactly the 11 (or 13) pitch tensors; v1 and v2 differ only in emb_phone."""
    five = (version, sr) in {("v1", "32k"), ("v1", "48k")}
    expected = {(False, True): 457, (False, False): 446, (True, True): 516, (True, False): 503}[(five, f0)]
    keys = mv.key_shapes(version, sr, f0, full_size=True)
    assert len(keys) == expected
    config = mv.make_config(version, sr, full_size=True)
    assert config[2:9] == [192, 192, 768, 2, 6, 3, 0] and config[13] == 512 and config[15:17] == [109, 256]
    assert int(np.prod(config[12])) * 100 == config[17]  # hop = sr / 100
    if f0:
        pitch_keys = {k for k in keys if "emb_pitch" in k or "m_source" in k or "noise_convs" in k}
        assert set(keys) - pitch_keys == set(mv.key_shapes(version, sr, False, full_size=True))
    other = "v2" if version == "v1" else "v1"
    if (other, sr) in mv.UPSAMPLE and mv.UPSAMPLE[(other, sr)] == mv.UPSAMPLE[(version, sr)]:
        diff = {k for k, s in keys.items() if mv.key_shapes(other, sr, f0, full_size=True)[k] != s}
        assert diff == {"enc_p.emb_phone.weight"}


def test_full_size_shapes_from_format_note():
    """Spot checks against docs/synthesizer_format.md, "Tensors" and "Shipped decoder configurations" (decoder shapes per sample rate)."""
    k = lambda v, sr, f0=True: mv.key_shapes(v, sr, f0, full_size=True)  # noqa: E731
    assert k("v2", "48k")["dec.ups.0.weight_v"] == (512, 256, 24)
    assert k("v2", "32k")["dec.ups.0.weight_v"] == (512, 256, 20)
    assert k("v2", "40k")["dec.ups.0.weight_v"] == (512, 256, 16)
    assert k("v2", "48k")["dec.ups.1.weight_v"] == (256, 128, 20)
    assert k("v1", "48k")["dec.ups.4.weight_v"] == (32, 16, 4) and k("v1", "48k")["dec.ups.4.bias"] == (16,)
    assert k("v1", "32k")["dec.conv_post.weight"] == (1, 16, 7) and k("v2", "32k")["dec.conv_post.weight"] == (1, 32, 7)
    noise = lambda v, sr: [k(v, sr)[f"dec.noise_convs.{n}.weight"][2] for n in range(len(mv.UPSAMPLE[(v, sr)][0]))]  # noqa: E731
    assert noise("v2", "48k") == [80, 8, 4, 1] and noise("v2", "40k") == [80, 8, 4, 1] and noise("v2", "32k") == [64, 8, 4, 1]
    assert noise("v1", "32k") == [64, 16, 8, 4, 1] and noise("v1", "48k") == [96, 16, 8, 4, 1]
    full = k("v2", "48k")
    assert full["enc_p.encoder.attn_layers.0.emb_rel_k"] == (1, 21, 96)
    assert full["flow.flows.6.enc.cond_layer.weight_v"] == (1152, 256, 1)
    assert full["flow.flows.0.enc.res_skip_layers.2.weight_v"] == (192, 192, 1)
    assert full["emb_g.weight"] == (109, 256) and full["enc_p.emb_pitch.weight"] == (256, 192)
    assert sum(int(np.prod(s)) for s in full.values()) == 28_716_994
    q = mv.key_shapes("v2", "48k", True, enc_q=True, full_size=True)
    assert len([key for key in q if key.startswith("enc_q.")]) == 103
    assert q["enc_q.enc.cond_layer.weight_v"] == (6144, 256, 1)


def test_parametrizations_spelling_equals_golden():
    """The parametrizations spelling has the keys/shapes/order of the golden parametrized export (137 modules)."""
    golden = torch.load(golden_path("synth/extra/v2-48k-f0-tiny-parametrizations.pth"), weights_only=True)
    mine = mv.key_shapes("v2", "48k", True, spelling="parametrizations")
    assert _shapes(golden["weight"]) == list(mine.items())
    assert sum(k.endswith("original0") for k in mine) == 4 + 12 * 6 + 4 * 7  # ups + resblocks + flow (no enc_q)


def test_applio_layout_equals_golden():
    """The Applio export has the golden Applio file's field names, order and types, and the same weights' keys."""
    golden = torch.load(golden_path("synth/extra/v2-48k-f0-tiny-applio.pth"), weights_only=True)
    mine = mv.make_checkpoint("v2", "48k", True, layout="applio")
    assert list(mine) == list(golden)
    assert [type(v) for v in mine.values()] == [type(v) for v in golden.values()]
    assert mine["sr"] == 48000 and mine["f0"] is True and mine["vocoder"] == "HiFi-GAN"
    assert _shapes(mine["weight"]) == _shapes(golden["weight"])


def test_training_layout_equals_golden():
    """The G_*.pth layout has the golden training checkpoint's top level, fp32 model keys (incl. 103
    enc_q tensors, same order) and AdamW state structure; its weights equal the export's."""
    golden = torch.load(golden_path("synth/extra/G_2333333.pth"), weights_only=True)
    mine = mv.make_checkpoint("v2", "48k", True, layout="training")
    assert list(mine) == list(golden)
    assert _shapes(mine["model"]) == _shapes(golden["model"])
    assert all(t.dtype == torch.float32 for t in mine["model"].values())
    assert sum(k.startswith("enc_q.") for k in mine["model"]) == 103
    opt, gopt = mine["optimizer"], golden["optimizer"]
    assert list(opt) == list(gopt) and list(opt["param_groups"][0]) == list(gopt["param_groups"][0])
    assert opt["param_groups"][0]["params"] == gopt["param_groups"][0]["params"]
    assert len(opt["state"]) == 4 and all(set(s) == {"step", "exp_avg", "exp_avg_sq"} for s in opt["state"].values())
    export = mv.make_checkpoint("v2", "48k", True)["weight"]
    for key, tensor in export.items():
        assert torch.equal(mine["model"][key].half(), tensor), key
        assert torch.equal(mine["model"][key], tensor.float()), key  # fp32 values lie on the fp16 grid


def test_spellings_hold_the_same_model():
    """weight_norm, parametrizations and fused spellings of one seed hold the same weights; fused = g*v/||v||."""
    classic = mv.state_dict_arrays("v2", "40k", True)
    param = mv.state_dict_arrays("v2", "40k", True, spelling="parametrizations")
    fused = mv.state_dict_arrays("v2", "40k", True, spelling="fused")
    renamed = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v"): v for k, v in param.items()}
    assert list(renamed) == list(classic) and all(np.array_equal(renamed[k], classic[k]) for k in classic)
    assert not any(k.endswith(("weight_g", "weight_v")) for k in fused)
    g, v = classic["dec.ups.1.weight_g"].astype(np.float32), classic["dec.ups.1.weight_v"].astype(np.float32)
    expected = g * v / np.sqrt((v * v).sum(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(fused["dec.ups.1.weight"].astype(np.float32), expected, rtol=2e-3, atol=1e-4)
    assert fused["dec.ups.1.weight"].shape == (32, 16, 16)  # ConvTranspose1d [C_in, C_out, k], v2-40k stage 1


def test_deterministic_and_seeded():
    """Same (variant, seed) gives identical values; another seed or variant gives different ones."""
    a = mv.state_dict_arrays("v1", "48k", False)
    b = mv.state_dict_arrays("v1", "48k", False)
    c = mv.state_dict_arrays("v1", "48k", False, seed=7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["emb_g.weight"], c["emb_g.weight"])
    assert all(v.dtype == np.float16 and np.isfinite(v).all() for v in a.values())


def test_cli_writes_all_twelve(tmp_path):
    """`python fixtures/make_variants.py OUTDIR` writes 12 WebUI exports that torch (weights_only) and
    our reader both load, each with the keys of its variant."""
    script = Path(mv.__file__)
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True, timeout=120)
    files = sorted(tmp_path.glob("*.pth"))
    assert len(files) == 12
    for version, sr, f0 in mv.all_variants():
        path = tmp_path / mv.file_name(version, sr, f0)
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        assert (loaded["sr"], loaded["f0"], loaded["version"]) == (sr, int(f0), version)
        ours = read_model_file(path)
        assert ours.container == "torch-zip" and ours.root["config"] == mv.make_config(version, sr)
        shapes = {k[len("weight."):]: t.array.shape for k, t in iter_tensors(ours.root) if k.startswith("weight.")}
        assert shapes == dict(mv.key_shapes(version, sr, f0))
    with __import__("zipfile").ZipFile(tmp_path / "v2-48k-f0-tiny.pth") as zf:
        assert "v2-48k-f0-tiny/data.pkl" in zf.namelist()  # prefix = file stem, as upstream


@pytest.mark.parametrize("layout", mv.LAYOUTS)
@pytest.mark.parametrize("spelling", mv.SPELLINGS)
def test_every_layout_and_spelling_loads(tmp_path, layout, spelling):
    """Every layout x spelling is a file torch.load(weights_only=True) accepts."""
    path = mv.write_checkpoint(tmp_path / mv.file_name("v1", "32k", True, layout=layout, spelling=spelling), "v1", "32k", True, layout=layout, spelling=spelling)
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    state = loaded["model"] if layout == "training" else loaded["weight"]
    assert [k for k, _ in _shapes(state) if not k.startswith("enc_q.")] == list(mv.key_shapes("v1", "32k", True, spelling=spelling))


def test_golden_lookup_helper():
    """tests/golden.py finds committed copies first and returns None for unknown files."""
    assert find_golden("no/such/file.pth") is None
    assert golden_path("synth/models/v2-48k-f0-tiny.pth").is_file()
