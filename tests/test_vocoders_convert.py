"""Applio's MRF HiFi-GAN and RefineGAN voices convert: rule packs, tensor lists, detection, refusals.

Expectations come from outside the code under test: the key lists, shapes, configs and detected
vocoders in the golden manifests (written by Applio's own export code), the source tensors read by
torch, weight norm from `torch._weight_norm`, the target names from an independent table (the
names docs/vocoders.md documents). Conversion runs the converter's own path (`convert_model`,
the family registry choosing the decoder).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from golden import golden_path
from make_vocoder_variants import REFINEGAN_32K_CONFIG, legacy_refinegan_export, with_vocoder_field
from outputs import load_output, output_metadata

from rvc_convert.convert import convert_model
from rvc_convert.errors import RulePackError, UnsupportedModelError
from rvc_convert.families.base import Recognised, load_family_rule_pack
from rvc_convert.families.synthesizer import detect as synthesizer_detect
from rvc_convert.families.synthesizer.decoders import resolve_decoder, vocoder_field_contradictions
from rvc_convert.rules import load_rule_pack
from rvc_convert.resources import MAPPINGS_DIR

MODELS = {
    "v2-40k-mrf-tiny": ("vocoders/models/v2-40k-mrf-tiny.pth", "vocoders/manifest-mrf.json"),
    "v2-48k-mrf-tiny": ("vocoders/models/v2-48k-mrf-tiny.pth", "vocoders/manifest-mrf.json"),
    "v2-32k-refinegan-tiny": ("vocoders/models/v2-32k-refinegan-tiny.pth", "vocoders/manifest-refinegan.json"),
}
PACKS = {"MRF HiFi-GAN": "synthesizer_mrf_hifigan", "RefineGAN": "synthesizer_refinegan"}
WN = re.compile(r"\.(weight_g|weight_v)$")


def manifest(name: str) -> dict:
    return json.loads(golden_path(MODELS[name][1]).read_text())["variants"][name]


def manifest_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Applio's exported key list: [name, shape, dtype] rows."""
    return {key: tuple(shape) for key, shape, _dtype in manifest(name)["keys"]}


def fused_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Source key list with each weight_g/weight_v pair spelled as one `.weight` (v's shape)."""
    return {WN.sub(".weight", k): s for k, s in shapes.items() if not k.endswith(".weight_g")}


def identify(shapes: dict[str, tuple[int, ...]], field: str | None = None, **fields):
    """(decoder, contradictions) for an export with this key list and `vocoder` field (None: absent)."""
    fields = {"weight": {}, **fields} | ({} if field is None else {"vocoder": field})
    decoder = resolve_decoder(shapes, fields)
    return decoder, vocoder_field_contradictions(decoder, fields)


def read_shapes(shapes: dict[str, tuple[int, ...]], fields: dict):
    """The synthesizer family's reading of an export with these shapes and top-level fields."""
    return synthesizer_detect.read(SimpleNamespace(path=Path("voice.pth")), Recognised("applio-export", shapes, {"weight": {}, **fields}))


def plan(path: Path):
    """convert_model's detection and plan, nothing written."""
    return convert_model(path, dry_run=True)


# --- rule packs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("pack_name", sorted(PACKS.values()))
def test_decoder_pack_is_the_synthesizer_pack_with_its_own_decoder_rules(pack_name):
    """The decoder pack inherits every non-`dec.*` rule, alias and drop of `synthesizer` unchanged and
    replaces all of its `dec.*` rules; its hash covers both files."""
    base, pack = load_family_rule_pack("synthesizer"), load_family_rule_pack(pack_name)
    assert pack.base == "synthesizer" and pack.family == "synthesizer"
    inherited = [r for r in base.rules if not r.source.text.startswith("dec.")]
    assert pack.rules[: len(inherited)] == inherited
    own = pack.rules[len(inherited) :]
    assert own and all(r.source.text.startswith("dec.") for r in own)
    assert not {r.id for r in base.rules if r.source.text.startswith("dec.")} & {r.id for r in pack.rules}
    assert pack.aliases == base.aliases and pack.drops == base.drops
    assert pack.sha256 != base.sha256


def _pack_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, folder)
    return folder


def test_pack_hash_changes_when_the_base_pack_changes(tmp_path):
    folder = _pack_dir(tmp_path)
    before = load_rule_pack("synthesizer_mrf_hifigan", folder).sha256
    base = folder / "synthesizer.yaml"
    base.write_text(base.read_text().replace("training-only posterior encoder", "training-only posterior encoder (edited)"))
    assert load_rule_pack("synthesizer_mrf_hifigan", folder).sha256 != before


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('replaces: "dec."', 'replaces: "dec.m_source."'), "outside the prefix"),
        (lambda t: t.replace("extends: synthesizer", "extends: synthesizer_refinegan"), "only one level"),
        (lambda t: t.replace('replaces: "dec."\n', ""), "invalid rule pack"),
        (lambda t: t.replace("id: mrf_source_linear", "id: speaker_embedding"), "repeat ids"),
        (lambda t: t.replace("family: synthesizer", "family: hubert"), "differs from its base"),
    ],
    ids=["rule-outside-prefix", "chain", "extends-without-replaces", "duplicate-id", "other-family"],
)
def test_bad_extension_is_a_rule_pack_error(edit, message, tmp_path):
    folder = _pack_dir(tmp_path)
    path = folder / "synthesizer_mrf_hifigan.yaml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(RulePackError, match=message):
        load_rule_pack("synthesizer_mrf_hifigan", folder)


# --- detection and tensor lists ---------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_decoder_detected_from_the_weights(name):
    """Applio's own key list (manifest) identifies the decoder the generator recorded, with no contradiction."""
    decoder, contradictions = identify(manifest_shapes(name), manifest(name)["vocoder"])
    assert decoder.name == manifest(name)["detected_vocoder"] and decoder.supported
    assert contradictions == []


@pytest.mark.parametrize("name", MODELS)
def test_config_and_tensor_list_match_applio_export(name):
    """The config derived from the weights equals the export's config list, and the tensor list from
    the config formulas equals Applio's key list and shapes exactly (weight norm fused)."""
    from rvc_convert.families.synthesizer.tensors import expected_tensors

    conversion = plan(golden_path(MODELS[name][0]))
    cfg = conversion.info.config
    assert cfg.to_list() == manifest(name)["config"]
    assert cfg.vocoder == manifest(name)["vocoder"] and cfg.f0 and cfg.version == "v2"
    variants = {"v2-40k-mrf-tiny": "v2-40k-f0-mrf", "v2-48k-mrf-tiny": "v2-48k-f0-mrf", "v2-32k-refinegan-tiny": "v2-32k-f0-refinegan"}
    assert conversion.info.variant == variants[name]
    assert conversion.info.contradictions == [] and conversion.info.notes == []
    assert conversion.plan.pack.name == PACKS[cfg.vocoder] and conversion.plan.weight_norm_spelling == "classic"
    assert len(conversion.plan.entries) == len(fused_shapes(manifest_shapes(name)))
    assert expected_tensors(cfg) == fused_shapes(manifest_shapes(name))  # Applio's key list, from the config formulas


# --- conversion -------------------------------------------------------------------------------------

# docs/vocoders.md "Target names", written out independently of the rule packs
_DECODER_NAMES = [
    (r"^dec\.upsamples\.(\d+)\.", r"dec.up_\1."),
    (r"^dec\.noise_convs\.(\d+)\.", r"dec.noise_conv_\1."),
    (r"^dec\.mrfs\.(\d+)\.(\d+)\.layers\.(\d+)\.conv1\.", r"dec.mrf_\1_\2.c1_\3."),
    (r"^dec\.mrfs\.(\d+)\.(\d+)\.layers\.(\d+)\.conv2\.", r"dec.mrf_\1_\2.c2_\3."),
    (r"^dec\.m_source\.merge\.0\.", "dec.m_source.merge."),
    (r"^dec\.downsample_blocks\.(\d+)\.", r"dec.down_\1."),
    (r"^dec\.upsample_conv_blocks\.(\d+)\.input_conv\.", r"dec.up_block_\1.input_conv."),
    (r"^dec\.upsample_conv_blocks\.(\d+)\.blocks\.(\d+)\.0\.", r"dec.up_block_\1.branch_\2.adain_in."),
    (r"^dec\.upsample_conv_blocks\.(\d+)\.blocks\.(\d+)\.2\.", r"dec.up_block_\1.branch_\2.adain_out."),
    (r"^dec\.upsample_conv_blocks\.(\d+)\.blocks\.(\d+)\.1\.convs1\.(\d+)\.", r"dec.up_block_\1.branch_\2.c1_\3."),
    (r"^dec\.upsample_conv_blocks\.(\d+)\.blocks\.(\d+)\.1\.convs2\.(\d+)\.", r"dec.up_block_\1.branch_\2.c2_\3."),
]


def decoder_target_name(key: str) -> str:
    for pattern, replacement in _DECODER_NAMES:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return key  # conv_pre, cond, conv_post, pre_conv, mel_conv, m_source.l_linear keep their names


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    cache: dict[tuple[str, str], Path] = {}
    folder = tmp_path_factory.mktemp("vocoders")

    def get(name: str, target: str) -> Path:
        if (name, target) not in cache:
            cache[name, target] = convert_model(golden_path(MODELS[name][0]), target, folder / target, dtype="fp32").weights_path
        return cache[name, target]

    return get


@pytest.mark.parametrize("target", ["ios", "mlx"])
@pytest.mark.parametrize("name", MODELS)
def test_decoder_tensors_are_fused_renamed_and_laid_out_for_mlx(name, target, converted):
    """Every source dec.* tensor appears once under its documented name: weight norm fused in float32
    (torch._weight_norm), Conv1d (O,I,K)->(O,K,I), ConvTranspose1d (I,O,K)->(O,K,I), vectors and
    Linear unchanged. The metadata names the vocoder and the decoder's rule pack."""
    path = converted(name, target)
    out = load_output(path)
    source = torch.load(golden_path(MODELS[name][0]), map_location="cpu", weights_only=True)["weight"]
    decoder = {k: v for k, v in source.items() if k.startswith("dec.")}
    seen = set()
    for key in fused_shapes({k: tuple(v.shape) for k, v in decoder.items()}):
        base = key[: -len(".weight")]
        if f"{base}.weight_g" in decoder:
            expected = torch._weight_norm(decoder[f"{base}.weight_v"].float(), decoder[f"{base}.weight_g"].float(), 0).numpy()
        else:
            expected = decoder[key].float().numpy()
        if expected.ndim == 3:
            transposed = ".upsamples." in key  # ConvTranspose1d
            expected = expected.transpose(1, 2, 0) if transposed else expected.transpose(0, 2, 1)
        target_key = decoder_target_name(key)
        assert target_key in out, f"{key}: expected target {target_key}"
        np.testing.assert_allclose(out[target_key], expected, rtol=1e-6, atol=1e-7, err_msg=target_key)
        seen.add(target_key)
    assert {k for k in out if k.startswith("dec.")} == seen
    meta = output_metadata(path)
    vocoder = manifest(name)["vocoder"]
    assert meta["vocoder"] == vocoder and meta["family"] == "synthesizer" and meta["f0"] == "1"
    assert meta["rvc_convert.rule_pack"] == PACKS[vocoder]
    assert meta["rvc_convert.rules_sha256"] == load_family_rule_pack(PACKS[vocoder]).sha256
    assert json.loads(meta["config"]) == manifest(name)["config"]


def test_both_targets_hold_identical_tensors(converted):
    ios, mlx = load_output(converted("v2-40k-mrf-tiny", "ios")), load_output(converted("v2-40k-mrf-tiny", "mlx"))
    assert ios.keys() == mlx.keys() and all(np.array_equal(ios[k], mlx[k]) for k in ios)


def test_conversion_is_deterministic(tmp_path):
    source = golden_path(MODELS["v2-48k-mrf-tiny"][0])
    first = convert_model(source, "ios", tmp_path / "a").weights_path
    second = convert_model(source, "ios", tmp_path / "b").weights_path
    assert first.read_bytes() == second.read_bytes()


# --- contradictions and refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, expected",
    [
        ("HiFi-GAN", "field vocoder is 'HiFi-GAN', the weights are MRF HiFi-GAN; the weights win"),
        ("RefineGAN", "field vocoder is 'RefineGAN', the weights are MRF HiFi-GAN; the weights win"),
        (None, "no vocoder field (Applio's loader then builds a HiFi-GAN decoder), but the weights are MRF HiFi-GAN"),
        ("BigVGAN", "field vocoder is 'BigVGAN', not a vocoder rvc-convert knows"),
        ("MRF-HiFi-GAN", None),  # a fork's spelling of the same vocoder
    ],
    ids=["says-hifigan", "says-refinegan", "no-field", "unknown-name", "fork-spelling"],
)
def test_vocoder_field_contradicting_the_weights_is_reported_and_the_weights_win(field, expected, tmp_path):
    path = with_vocoder_field(golden_path(MODELS["v2-40k-mrf-tiny"][0]), tmp_path / "voice.pth", field)
    conversion = plan(path)
    assert conversion.info.config.vocoder == "MRF HiFi-GAN"
    if expected is None:
        assert conversion.info.contradictions == []
    else:
        assert any(expected in line for line in conversion.info.contradictions), conversion.info.contradictions
    assert len(conversion.plan.entries) == 282  # converted as what the weights are


def test_refinegan_weights_under_an_mrf_label_are_reported():
    """The 26.5 MB RefineGAN export's key list (manifest) with a wrong field: detection by shapes only."""
    decoder, contradictions = identify(manifest_shapes("v2-32k-refinegan-tiny"), "MRF HiFi-GAN")
    assert decoder.name == "RefineGAN"
    assert contradictions == ["field vocoder is 'MRF HiFi-GAN', the weights are RefineGAN; the weights win"]


def test_classic_voice_is_still_hifigan():
    weights = torch.load(golden_path("synth/models/v2-48k-f0-tiny.pth"), map_location="cpu", weights_only=True)["weight"]
    shapes = {k: tuple(v.shape) for k, v in weights.items()}
    decoder, contradictions = identify(shapes)
    assert decoder.name == "HiFi-GAN" and contradictions == []
    assert identify(shapes, "RefineGAN")[1] == ["field vocoder is 'RefineGAN', the weights are HiFi-GAN; the weights win"]


@pytest.mark.parametrize("era, evidence", [("3.2", "dec.pre_conv.weight [256, 1, 7]"), ("prerelease", "dec.filters.*")])
def test_old_refinegan_layouts_are_refused_saying_why(era, evidence, golden_root, tmp_path):
    path = legacy_refinegan_export(golden_root, tmp_path / f"legacy-{era}.pth", era)
    with pytest.raises(UnsupportedModelError) as error:
        plan(path)
    message = str(error.value)
    assert error.value.finding == "legacy_refinegan" and error.value.exit_code == 2
    assert evidence in message
    assert "Applio 3.3.0 changed RefineGAN's layers and forward pass" in message and "incompatible" in message
    assert "Retrain the voice with Applio 3.3.0 or later" in message
    assert "\n" not in message


@pytest.fixture
def golden_root() -> Path:
    """The golden folder holding the MRF voice the legacy files borrow their encoder from."""
    return golden_path(MODELS["v2-40k-mrf-tiny"][0]).parent.parent.parent


REFINEGAN_CONFIG = REFINEGAN_32K_CONFIG  # the golden RefineGAN voice's config list


def _refinegan_shapes() -> dict[str, tuple[int, ...]]:
    return manifest_shapes("v2-32k-refinegan-tiny")


@pytest.mark.parametrize(
    "change, finding, message",
    [
        (lambda s: s.update({"dec.ups.0.weight_v": (64, 32, 16)}), "mixed_decoder", "mixes the tensor layouts of HiFi-GAN and RefineGAN"),
        (lambda s: s.update({"dec.pre_conv.weight_v": (16, 1, 5)}), "unknown_decoder", "a RefineGAN layout rvc-convert does not know"),
        (lambda s: [s.pop(k) for k in list(s) if k.startswith("dec.")], "unknown_decoder", "holds none of its decoder tensors"),
    ],
    ids=["mixed", "unknown-refinegan-shape", "no-decoder"],
)
def test_unknown_decoders_are_refused(change, finding, message):
    shapes = _refinegan_shapes()
    change(shapes)
    with pytest.raises(UnsupportedModelError, match=message) as error:
        read_shapes(shapes, {"vocoder": "RefineGAN", "config": REFINEGAN_CONFIG})
    assert error.value.finding == finding


def test_mrf_source_must_have_nine_harmonics():
    shapes = manifest_shapes("v2-40k-mrf-tiny")
    shapes["dec.m_source.l_linear.weight"] = (1, 1)
    with pytest.raises(UnsupportedModelError, match=r"instead of \[1, 9\]"):
        read_shapes(shapes, {"vocoder": "MRF HiFi-GAN", "config": manifest("v2-40k-mrf-tiny")["config"]})


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "cannot tell the sample rate of a RefineGAN voice"),
        ({"config": REFINEGAN_CONFIG[:17] + [40000]}, "do not fit RefineGAN"),
        ({"config": REFINEGAN_CONFIG[:12] + [[10, 4, 2, 2, 2], 512, [20, 16, 4, 4, 4], 3, 256, 32000]}, "needs 4 stages"),
    ],
    ids=["no-config", "rates-vs-rate", "five-stages"],
)
def test_refinegan_sample_rate_comes_from_a_consistent_config(fields, message):
    with pytest.raises(UnsupportedModelError, match=message):
        read_shapes(_refinegan_shapes(), {"vocoder": "RefineGAN", **fields})


def test_refinegan_rate_comes_from_the_config_not_the_shapes():
    """The same RefineGAN weights are a 24 kHz voice under Applio's 24k config (no shape depends on the rate)."""
    from rvc_convert.families.synthesizer.tensors import expected_tensors

    config = REFINEGAN_CONFIG[:12] + [[10, 6, 2, 2], 512, [20, 12, 4, 4], 3, 256, 24000]
    info = read_shapes(_refinegan_shapes(), {"config": config, "sr": 24000, "vocoder": "RefineGAN"})
    assert info.config.sr == 24000 and info.config.hop == 240 and info.contradictions == []
    assert info.variant == "v2-24k-f0-refinegan" and info.rule_pack == "synthesizer_refinegan"
    assert expected_tensors(info.config) == fused_shapes(_refinegan_shapes())
