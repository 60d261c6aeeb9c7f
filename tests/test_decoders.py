"""The synthesizer's decoder sub-registry: HiFi-GAN, and Applio's MRF HiFi-GAN and RefineGAN, each
recognised by its weights first (the `vocoder` field is only compared); a file mixing two decoders'
keys is refused. Parity compares reference arrays in each stage's declared layout, whatever the shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import make_variants
from rvc_convert.convert import convert_model
from rvc_convert.errors import UnsupportedModelError
from rvc_convert.families.synthesizer.checks import reference_layout, stage_rank
from rvc_convert.families.synthesizer.config import SynthesizerConfig
from rvc_convert.families.synthesizer.decoders import registered_decoders
from rvc_convert.parity import ReferenceLayout, to_reference_layout


def test_the_decoder_registry_holds_hifigan_and_applios_two_others():
    """Three supported decoders, each with its weight signature and its rule pack."""
    decoders = {d.name: d for d in registered_decoders()}
    assert {name: d.supported for name, d in decoders.items()} == {"HiFi-GAN": True, "MRF HiFi-GAN": True, "RefineGAN": True}
    assert all(d.signature for d in decoders.values())
    assert {name: d.rule_pack for name, d in decoders.items()} == {"HiFi-GAN": "synthesizer", "MRF HiFi-GAN": "synthesizer_mrf_hifigan", "RefineGAN": "synthesizer_refinegan"}


def _export(tmp_path, **fields):
    checkpoint = make_variants.make_checkpoint("v2", "40k", True, seed=1)
    checkpoint.update(fields)
    return checkpoint


@pytest.mark.parametrize(
    "extra_key, name",
    [("dec.mrfs.0.0.layers.0.conv1.weight_v", "MRF HiFi-GAN"), ("dec.upsamples.0.weight_v", "MRF HiFi-GAN"), ("dec.downsample_blocks.0.weight_v", "RefineGAN")],
)
def test_a_decoder_mixing_two_layouts_is_refused(tmp_path, extra_key, name):
    """Another decoder's key among HiFi-GAN's: refused as a mixed decoder naming both (exit 2)."""
    checkpoint = _export(tmp_path)
    checkpoint["weight"][extra_key] = torch.zeros(4, 4, 3, dtype=torch.float16)
    torch.save(checkpoint, tmp_path / "voice.pth")
    with pytest.raises(UnsupportedModelError, match=f"mixes the tensor layouts of HiFi-GAN and {name}") as caught:
        convert_model(tmp_path / "voice.pth", dry_run=True)
    assert caught.value.finding == "mixed_decoder" and caught.value.exit_code == 2


@pytest.mark.parametrize("vocoder", ["MRF HiFi-GAN", "RefineGAN", "BigVGAN"])
def test_a_vocoder_field_contradicting_the_weights_is_reported_and_the_weights_win(tmp_path, vocoder):
    """A HiFi-GAN voice whose `vocoder` field names another (or an unknown) decoder converts as HiFi-GAN; the field is reported."""
    torch.save(_export(tmp_path, vocoder=vocoder), tmp_path / "voice.pth")
    result = convert_model(tmp_path / "voice.pth", dry_run=True)
    assert result.info.config.vocoder == "HiFi-GAN" and result.info.rule_pack == "synthesizer"
    assert any(line.startswith(f"field vocoder is '{vocoder}'") and line.endswith("the weights win") for line in result.info.contradictions)


def test_an_unknown_vocoder_without_decoder_weights_is_refused(tmp_path):
    """No decoder signature in the weights and a field naming no known decoder: refused by name."""
    checkpoint = _export(tmp_path, vocoder="BigVGAN")
    checkpoint["weight"] = {k: v for k, v in checkpoint["weight"].items() if not k.startswith("dec.")}
    torch.save(checkpoint, tmp_path / "voice.pth")
    with pytest.raises(UnsupportedModelError, match="'BigVGAN'") as caught:
        convert_model(tmp_path / "voice.pth", dry_run=True)
    assert caught.value.finding == "unsupported_vocoder"


def test_hifigan_in_the_vocoder_field_converts(tmp_path):
    """`vocoder: HiFi-GAN` (what Applio writes for RVC's own decoder) is the supported decoder."""
    torch.save(_export(tmp_path, vocoder="HiFi-GAN"), tmp_path / "voice.pth")
    assert convert_model(tmp_path / "voice.pth", dry_run=True).info.config.vocoder == "HiFi-GAN"


CONFIG = SynthesizerConfig.from_list(make_variants.make_config("v2", "48k"), version="v2", f0=True)


@pytest.mark.parametrize(
    "name, layout",
    [
        ("g", ReferenceLayout.SAME),
        ("enc_p.emb_phone.out", ReferenceLayout.SAME),
        ("m_p", ReferenceLayout.CHANNELS_FIRST),
        ("flow.flows.4.post.out", ReferenceLayout.CHANNELS_FIRST),
        ("dec.m_source.out", ReferenceLayout.SAME),
        ("dec.ups.2.out", ReferenceLayout.CHANNELS_FIRST_LEADING),
        ("audio", ReferenceLayout.CHANNELS_FIRST),
        ("not.a.stage", None),
    ],
)
def test_reference_layouts_are_declared_by_name(name, layout):
    """Each reference array's layout comes from the family's table, not from its shape."""
    assert reference_layout(name, CONFIG) == layout


def test_a_square_reference_is_still_transposed():
    """A reference whose frame count equals its channel count ([1, 16, 16]) is moved to channels-first
    like any other: a shape guess would leave it channels-last and compare the transpose."""
    ours = np.arange(256, dtype=np.float32).reshape(1, 16, 16)  # runtime [B, T, C]
    reference = np.swapaxes(ours, 1, 2).copy()  # PyTorch [B, C, T]
    assert np.array_equal(to_reference_layout(ours, reference_layout("m_p", CONFIG), reference), reference)


def test_reference_stages_are_ranked_in_execution_order():
    """Encoder, flow in reverse, then the decoder stage by stage, audio last."""
    names = ["audio", "dec.ups.1.in", "dec.noise_convs.0.out", "dec.ups.0.out", "dec.ups.0.in", "flow.flows.0.enc.out", "flow.flows.6.post.out", "flow.flows.6.enc.out", "z", "m_p", "x_mask", "dec.conv_post.out", "dec.cond.out"]
    assert sorted(names, key=lambda n: stage_rank(n, CONFIG)) == [
        "x_mask", "m_p", "flow.flows.6.enc.out", "flow.flows.6.post.out", "flow.flows.0.enc.out", "z", "dec.cond.out",
        "dec.ups.0.in", "dec.ups.0.out", "dec.noise_convs.0.out", "dec.ups.1.in", "dec.conv_post.out", "audio",
    ]
