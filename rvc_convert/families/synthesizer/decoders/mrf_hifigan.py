"""Applio's "MRF HiFi-GAN" decoder: HiFi-GAN stages whose multi-receptive-field blocks are the
classic residual blocks under other names, weight-normed conv_pre/conv_post (the latter with a
bias) and a 9-harmonic source. Rule pack: mappings/synthesizer_mrf_hifigan.yaml. Facts:
docs/vocoders.md.
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
from .hifigan import SHIPPED_CONFIGS

HARMONICS = 9  # the fundamental and 8 overtones (Applio hard-codes harmonic_num = 8)
CONV_KERNEL = 7  # conv_pre and conv_post

CF, CF_LEADING, SAME = ReferenceLayout.CHANNELS_FIRST, ReferenceLayout.CHANNELS_FIRST_LEADING, ReferenceLayout.SAME
# Applio's reference arrays in execution order; per-stage ones keep only their first channel, the
# harmonic excitation keeps harmonics 1, 2 and 9.
_STAGES: list[tuple[str, ReferenceLayout]] = [
    (r"dec\.in\.x", CF),
    (r"dec\.in\.f0", SAME),
    (r"dec\.f0_upsample\.out", CF),
    (r"dec\.m_source\.l_sin_gen\.out\.sine", ReferenceLayout.SAME_FIRST_TWO_AND_LAST),
    (r"dec\.m_source\.l_sin_gen\.out\.uv", SAME),
    (r"dec\.m_source\.out", SAME),
    (r"dec\.conv_pre\.out", CF),
    (r"dec\.cond\.out", CF),
    (r"dec\.upsamples\.(\d+)\.out", CF_LEADING),
    (r"dec\.noise_convs\.(\d+)\.out", CF_LEADING),
    (r"dec\.mrfs\.(\d+)\.mean", CF_LEADING),
    (r"dec\.conv_post\.out", CF),
]
_PER_STAGE = [{8, 9, 10}]


def noise_kernels(rates) -> tuple[int, ...]:
    """The source conv kernel per stage: 1 at the output rate, else 2s - (s mod 2), s = product of the later rates."""
    out = []
    for i in range(len(rates)):
        s = math.prod(rates[i + 1 :])
        out.append(1 if s == 1 else 2 * s - s % 2)
    return tuple(out)


@register_decoder
class MRFHiFiGAN(Decoder):
    name = "MRF HiFi-GAN"
    signature = ("dec.mrfs.", "dec.upsamples.")
    field_spellings = ("MRF-HiFi-GAN",)  # a fork's spelling
    rule_pack = "synthesizer_mrf_hifigan"
    variant_suffix = "-mrf"

    def read(self, tensors: dict[str, TensorRef], fields: dict[str, Any], has_pitch: bool) -> DecoderReading:
        self.require_signature(tensors)
        linear = weight_shape(tensors, "dec.m_source.l_linear.weight")
        if not has_pitch or linear != (1, HARMONICS):
            raise UnsupportedModelError(
                f"dec.upsamples.* + dec.mrfs.* are MRF HiFi-GAN keys, but dec.m_source.l_linear.weight is {list(linear) if linear else 'missing'} "
                f"instead of [1, {HARMONICS}] (the fundamental and 8 overtones): not an Applio MRF HiFi-GAN voice (a pitch-free or damaged one)",
                finding="unknown_decoder",
            )
        stages = indices(tensors, r"dec\.upsamples\.(\d+)\..*")
        if not stages or stages != list(range(len(stages))):
            raise UnsupportedModelError(f"MRF upsampling layers dec.upsamples.* are missing or not numbered 0..N (found {stages}): the checkpoint is incomplete")
        kernels = tuple((weight_shape(tensors, f"dec.upsamples.{i}.weight") or (0, 0, 0))[2] for i in stages)
        noise = tuple((weight_shape(tensors, f"dec.noise_convs.{i}.weight") or (0, 0, 0))[2] for i in stages)
        evidence = [f"dec.upsamples.* + dec.mrfs.* with dec.m_source.l_linear.weight {list(linear)} (9-harmonic source) -> MRF HiFi-GAN"]
        notes = []
        stored = stored_config(fields)
        # The upsampling kernels identify the shipped configuration, as for HiFi-GAN; the noise-conv kernels confirm the rates.
        candidates = [c for c in SHIPPED_CONFIGS if c[2] == kernels and noise_kernels(c[1]) == noise]
        if len(candidates) == 1:
            sr, rates, _, table = candidates[0]
            evidence.append(f"upsampling kernels {list(kernels)} and noise-conv kernels {list(noise)} -> {sr} Hz, upsample rates {list(rates)} ({table} table)")
        elif stored is not None and tuple(stored.upsample_kernel_sizes) == kernels and noise_kernels(stored.upsample_rates) == noise:
            sr, rates = int(stored.sr), tuple(stored.upsample_rates)
            notes.append(f"upsampling kernels {list(kernels)} are not a shipped configuration; the config's rates {list(rates)} fit the noise convs; {sr} Hz from the config")
        else:
            raise UnsupportedModelError(
                f"cannot tell the sample rate: MRF upsampling kernels {list(kernels)} and noise-conv kernels {list(noise)} match no known configuration"
                + (" and the config disagrees" if stored is not None else " and the file carries no config list")
            )
        phone = weight_shape(tensors, "enc_p.emb_phone.weight")
        if phone is not None and phone[-1] != 768:
            notes.append(f"Applio trains MRF HiFi-GAN voices only with v2 (768-d) features; this one's encoder takes {phone[-1]}-d features")
        return DecoderReading(sr, list(rates), list(kernels), stored, evidence, notes)

    def required_tensors(self) -> dict[str, str]:
        return {"dec.conv_pre": "dec.conv_pre.weight", "dec.mrfs.0.0": "dec.mrfs.0.0.layers.0.conv1.weight"}

    def config_fields(self, tensors: dict[str, TensorRef], base: SynthesizerConfig) -> dict[str, Any]:
        blocks = [weight_shape(tensors, f"dec.mrfs.0.{j}.layers.0.conv1.weight") for j in indices(tensors, r"dec\.mrfs\.0\.(\d+)\..*")]
        return {
            "resblock_kernel_sizes": [s[2] for s in blocks] if blocks and all(blocks) else base.resblock_kernel_sizes,
            "upsample_initial_channel": weight_shape(tensors, "dec.conv_pre.weight")[0],
        }

    def expected_tensors(self, cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
        t: dict[str, tuple[int, ...]] = {}
        channels = cfg.upsample_initial_channel
        t["dec.m_source.l_linear.weight"] = (1, HARMONICS)
        t["dec.m_source.l_linear.bias"] = (1,)
        t["dec.conv_pre.weight"] = (channels, cfg.inter_channels, CONV_KERNEL)
        t["dec.conv_pre.bias"] = (channels,)
        t["dec.cond.weight"] = (channels, cfg.gin_channels, 1)
        t["dec.cond.bias"] = (channels,)
        for i, (kernel, noise_kernel) in enumerate(zip(cfg.upsample_kernel_sizes, noise_kernels(cfg.upsample_rates))):
            c_in, c_out = channels // 2**i, channels // 2 ** (i + 1)
            t[f"dec.upsamples.{i}.weight"] = (c_in, c_out, kernel)
            t[f"dec.upsamples.{i}.bias"] = (c_out,)
            t[f"dec.noise_convs.{i}.weight"] = (c_out, 1, noise_kernel)
            t[f"dec.noise_convs.{i}.bias"] = (c_out,)
            for j, block_kernel in enumerate(cfg.resblock_kernel_sizes):
                for layer in range(len(cfg.resblock_dilation_sizes[j])):
                    for conv in ("conv1", "conv2"):
                        t[f"dec.mrfs.{i}.{j}.layers.{layer}.{conv}.weight"] = (c_out, c_out, block_kernel)
                        t[f"dec.mrfs.{i}.{j}.layers.{layer}.{conv}.bias"] = (c_out,)
        t["dec.conv_post.weight"] = (1, channels // 2 ** len(cfg.upsample_rates), CONV_KERNEL)
        t["dec.conv_post.bias"] = (1,)
        return t

    def reference_stages(self) -> list[tuple[str, ReferenceLayout]]:
        return _STAGES

    def stage_rank(self, name: str) -> tuple[int, ...] | None:
        return interleaved_rank(_STAGES, _PER_STAGE, name)
