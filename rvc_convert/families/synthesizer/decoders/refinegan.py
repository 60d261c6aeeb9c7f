"""Applio's "RefineGAN" decoder (the layout of Applio 3.3.0 and later): a sine source down a path of
sinc resamplers and convs, linear upsampling back with skip connections and noise-injecting
residual branches. Its sizes are Applio's constructor defaults, so no tensor shape depends on the
sample rate: the rate comes from the export's config list. Older RefineGAN layouts are recognised
and refused by name. Rule pack: mappings/synthesizer_refinegan.yaml. Facts: docs/vocoders.md.
"""

from __future__ import annotations

import math
from typing import Any

from ....errors import UnsupportedModelError
from ....parity import ReferenceLayout
from ....safe_pickle import TensorRef
from ...weights import indices, weight_shape
from ..config import SynthesizerConfig, stored_config
from . import Decoder, DecoderReading, interleaved_rank, register_decoder

START_CHANNELS = 16
UPSAMPLE_CHANNELS = 512
COND_CHANNELS = 256  # the speaker-conditioning input width is literally 256
STAGES = 4
KERNELS = (3, 7, 11)
DILATIONS = (1, 3, 5)
CONV_KERNEL = 7
FRAME_RATE_HZ = 100  # RVC decodes 100 frames per second at every sample rate
CURRENT_LAYOUT = {
    "dec.pre_conv.weight": (START_CHANNELS, 1, CONV_KERNEL),
    "dec.downsample_blocks.0.weight": (2 * START_CHANNELS, START_CHANNELS, CONV_KERNEL),
}

CF, CF_LEADING, SAME = ReferenceLayout.CHANNELS_FIRST, ReferenceLayout.CHANNELS_FIRST_LEADING, ReferenceLayout.SAME
# Applio's reference arrays in execution order (big ones keep their first channel).
_STAGES: list[tuple[str, ReferenceLayout]] = [
    (r"dec\.in\.x", CF),
    (r"dec\.in\.f0", SAME),
    (r"dec\.m_source\.in", SAME),
    (r"dec\.m_source\.merge\.in", SAME),
    (r"dec\.m_source\.out", SAME),
    (r"dec\.pre_conv\.out", CF_LEADING),
    (r"dec\.downsample_blocks\.(\d+)\.in", CF_LEADING),
    (r"dec\.downsample_blocks\.(\d+)\.out", CF_LEADING),
    (r"dec\.mel_conv\.out", CF),
    (r"dec\.cond\.out", CF),
    (r"dec\.upsample_blocks\.(\d+)\.out", CF_LEADING),
    (r"dec\.upsample_conv_blocks\.(\d+)\.input_conv\.out", CF_LEADING),
    (r"dec\.upsample_conv_blocks\.(\d+)\.out", CF_LEADING),
    (r"dec\.conv_post\.out", CF),
]
_PER_STAGE = [{6, 7}, {10, 11, 12}]


def stage_channels(i: int) -> tuple[int, int]:
    """(input, output) channels of up-stage i: the upsampled signal plus the down path's skip, to half."""
    ch = UPSAMPLE_CHANNELS // 2**i
    return ch + START_CHANNELS * 2 ** (STAGES - 1 - i), ch // 2


@register_decoder
class RefineGAN(Decoder):
    name = "RefineGAN"
    # dec.filters.*: a pre-release layout, recognised here to be refused by name
    signature = ("dec.upsample_conv_blocks.", "dec.downsample_blocks.", "dec.m_source.merge.", "dec.pre_conv.", "dec.filters.")
    rule_pack = "synthesizer_refinegan"
    variant_suffix = "-refinegan"

    def read(self, tensors: dict[str, TensorRef], fields: dict[str, Any], has_pitch: bool) -> DecoderReading:
        self.require_signature(tensors)
        shapes = {key: weight_shape(tensors, key) for key in CURRENT_LAYOUT}
        _refuse_other_layouts(tensors, shapes)
        if not has_pitch:
            raise UnsupportedModelError("a RefineGAN decoder without enc_p.emb_pitch: Applio builds RefineGAN only for pitch-guided voices; the file is damaged")
        stored = stored_config(fields)
        if stored is None:
            raise UnsupportedModelError(
                "cannot tell the sample rate of a RefineGAN voice: none of its tensor shapes depends on it and the file carries no config list; "
                "convert the voice Applio exported (it records its config), not a bare state dict or training checkpoint"
            )
        rates, sr = [int(u) for u in stored.upsample_rates], int(stored.sr)
        if len(rates) != STAGES or math.prod(rates) * FRAME_RATE_HZ != sr:
            raise UnsupportedModelError(
                f"the config's upsample rates {rates} and sample rate {sr} Hz do not fit RefineGAN: it needs {STAGES} stages whose product is "
                f"the sample rate / {FRAME_RATE_HZ} (e.g. [10, 8, 2, 2] at 32000 Hz); a damaged config list"
            )
        evidence = [
            "dec.upsample_conv_blocks.* + dec.m_source.merge.0 with "
            + ", ".join(f"{k} {list(v)}" for k, v in shapes.items())
            + " -> RefineGAN (Applio 3.3.0 and later layout)",
            f"config upsample rates {rates} (product {math.prod(rates)} = {sr} Hz / {FRAME_RATE_HZ}) -> {sr} Hz; RefineGAN's tensor shapes do not depend on the rate",
        ]
        notes = []
        phone = weight_shape(tensors, "enc_p.emb_phone.weight")
        if phone is not None and phone[-1] != 768:
            notes.append(f"Applio trains RefineGAN voices only with v2 (768-d) features; this one's encoder takes {phone[-1]}-d features")
        # RefineGAN ignores the config's upsample kernel sizes; they are kept as stored.
        return DecoderReading(sr, rates, list(stored.upsample_kernel_sizes), stored, evidence, notes)

    def required_tensors(self) -> dict[str, str]:
        return {"dec.upsample_conv_blocks.0.input_conv": "dec.upsample_conv_blocks.0.input_conv.weight"}

    def config_fields(self, tensors: dict[str, TensorRef], base: SynthesizerConfig) -> dict[str, Any]:
        first = weight_shape(tensors, "dec.upsample_conv_blocks.0.input_conv.weight")
        branches = [weight_shape(tensors, f"dec.upsample_conv_blocks.0.blocks.{j}.1.convs1.0.weight") for j in indices(tensors, r"dec\.upsample_conv_blocks\.0\.blocks\.(\d+)\..*")]
        return {
            "upsample_initial_channel": 2 * first[0],
            "resblock_kernel_sizes": [s[2] for s in branches] if branches and all(branches) else list(KERNELS),
            "resblock_dilation_sizes": [list(DILATIONS)] * max(len(branches), 1),
        }

    def expected_tensors(self, cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
        t: dict[str, tuple[int, ...]] = {}
        t["dec.m_source.merge.0.weight"] = (1, 1)
        t["dec.pre_conv.weight"] = (START_CHANNELS, 1, CONV_KERNEL)
        t["dec.pre_conv.bias"] = (START_CHANNELS,)
        for i in range(STAGES):
            c = START_CHANNELS * 2**i
            t[f"dec.downsample_blocks.{i}.weight"] = (2 * c, c, CONV_KERNEL)
            t[f"dec.downsample_blocks.{i}.bias"] = (2 * c,)
        latent = UPSAMPLE_CHANNELS // 2
        t["dec.mel_conv.weight"] = (latent, cfg.inter_channels, CONV_KERNEL)
        t["dec.mel_conv.bias"] = (latent,)
        t["dec.cond.weight"] = (latent, COND_CHANNELS, 1)
        t["dec.cond.bias"] = (latent,)
        for i in range(STAGES):
            c_in, c_out = stage_channels(i)
            block = f"dec.upsample_conv_blocks.{i}"
            t[f"{block}.input_conv.weight"] = (c_out, c_in, CONV_KERNEL)
            t[f"{block}.input_conv.bias"] = (c_out,)
            for j, kernel in enumerate(KERNELS):
                t[f"{block}.blocks.{j}.0.weight"] = (c_out,)
                for layer in range(len(DILATIONS)):
                    for convs in ("convs1", "convs2"):
                        t[f"{block}.blocks.{j}.1.{convs}.{layer}.weight"] = (c_out, c_out, kernel)
                        t[f"{block}.blocks.{j}.1.{convs}.{layer}.bias"] = (c_out,)
                t[f"{block}.blocks.{j}.2.weight"] = (c_out,)
        t["dec.conv_post.weight"] = (1, stage_channels(STAGES - 1)[1], CONV_KERNEL)
        return t

    def reference_stages(self) -> list[tuple[str, ReferenceLayout]]:
        return _STAGES

    def stage_rank(self, name: str) -> tuple[int, ...] | None:
        return interleaved_rank(_STAGES, _PER_STAGE, name)


def _refuse_other_layouts(tensors: dict[str, TensorRef], shapes: dict[str, tuple[int, ...] | None]) -> None:
    """Applio 3.3.0 rebuilt RefineGAN; older layouts are refused by name, unknown ones as unknown."""
    pre, down = shapes["dec.pre_conv.weight"], shapes["dec.downsample_blocks.0.weight"]
    current = f"Applio 3.3.0 and later: dec.pre_conv.weight {list(CURRENT_LAYOUT['dec.pre_conv.weight'])}"
    if any(key.startswith("dec.filters.") for key in tensors):
        seen = f"dec.filters.* tensors (e.g. {next(k for k in tensors if k.startswith('dec.filters.'))})"
        era = "a pre-release Applio RefineGAN (built from its main branch, December 2024 to March 2025)"
    elif (pre is not None and pre[0] != START_CHANNELS) or (down is not None and len(down) == 3 and down[1] == 1):
        seen = f"dec.pre_conv.weight {list(pre) if pre else 'missing'}, dec.downsample_blocks.0.weight {list(down) if down else 'missing'}"
        era = "the RefineGAN layout of Applio 3.2.9 to 3.2.x (April to August 2025), whose downsampling convs are strided and run on the source signal"
    elif (pre, down) != tuple(CURRENT_LAYOUT.values()):
        raise UnsupportedModelError(
            f"RefineGAN keys, but dec.pre_conv.weight is {list(pre) if pre else 'missing'} and dec.downsample_blocks.0.weight "
            f"{list(down) if down else 'missing'} ({current} and {list(CURRENT_LAYOUT['dec.downsample_blocks.0.weight'])}): "
            f"a RefineGAN layout rvc-convert does not know; convert a voice trained with Applio 3.3.0 or later",
            finding="unknown_decoder",
        )
    else:
        return
    raise UnsupportedModelError(
        f"this voice uses {era} ({seen}; {current}). Applio 3.3.0 changed RefineGAN's layers and forward pass and declared older "
        f"RefineGAN models incompatible: no current Applio runs it and rvc-convert cannot reproduce what it computed. Retrain the "
        f"voice with Applio 3.3.0 or later (RefineGAN or HiFi-GAN)",
        finding="legacy_refinegan",
    )
