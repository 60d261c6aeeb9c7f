"""RVC's own decoder: NSF HiFi-GAN (pitch-guided models) and plain HiFi-GAN (models without pitch).

Upsampling transposed convs `dec.ups.i`, multi-receptive-field residual blocks `dec.resblocks.*`,
and with pitch a harmonic source (`dec.m_source`) fed in through `dec.noise_convs.i`. The sample
rate is not stored in the weights directly: the upsample kernels (and, with pitch, the noise-conv
kernels) identify one of the shipped configurations. Facts: docs/synthesizer_format.md.
"""

from __future__ import annotations

import math
from typing import Any

from ....errors import UnsupportedModelError
from ....parity import ReferenceLayout
from ....safe_pickle import TensorRef
from ...weights import indices
from ...weights import weight_shape as shape_of
from ..config import SynthesizerConfig, stored_config
from . import Decoder, DecoderReading, interleaved_rank, register_decoder

# Shipped decoders: (sample rate, upsample_rates, upsample_kernel_sizes, where upstream keeps it).
# The WebUI's 40k models (v1 and v2) share one config; Applio adds 24k.
SHIPPED_CONFIGS: list[tuple[int, tuple[int, ...], tuple[int, ...], str]] = [
    (32000, (10, 4, 2, 2, 2), (16, 16, 4, 4, 4), "v1/32k"),
    (40000, (10, 10, 2, 2), (16, 16, 4, 4), "v1/40k"),
    (48000, (10, 6, 2, 2, 2), (16, 16, 4, 4, 4), "v1/48k"),
    (32000, (10, 8, 2, 2), (20, 16, 4, 4), "v2/32k"),
    (48000, (12, 10, 2, 2), (24, 20, 4, 4), "v2/48k"),
    (24000, (10, 6, 2, 2), (20, 12, 4, 4), "applio/24k"),
]
RESBLOCKS_READ = 3  # resblock kernel sizes are read from the first stage's three blocks

CF, CF_LEADING, SAME = ReferenceLayout.CHANNELS_FIRST, ReferenceLayout.CHANNELS_FIRST_LEADING, ReferenceLayout.SAME
# Reference arrays in execution order. The per-stage ones (upsample input/output, noise conv output)
# keep only their first channels in upstream's references.
_STAGES: list[tuple[str, ReferenceLayout]] = [
    (r"dec\.in\.x", CF),
    (r"dec\.in\.f0", SAME),
    (r"dec\.m_source\.out", SAME),
    (r"dec\.conv_pre\.out", CF),
    (r"dec\.cond\.out", CF),
    (r"dec\.ups\.(\d+)\.in", CF_LEADING),
    (r"dec\.ups\.(\d+)\.out", CF_LEADING),
    (r"dec\.noise_convs\.(\d+)\.out", CF_LEADING),
    (r"dec\.conv_post\.in", CF_LEADING),
    (r"dec\.conv_post\.out", CF),
]
_PER_STAGE = {5, 6, 7}  # the rows above that repeat once per upsampling stage, interleaved


@register_decoder
class HiFiGAN(Decoder):
    name = "HiFi-GAN"
    signature = ("dec.ups.", "dec.resblocks.")

    def read(self, tensors: dict[str, TensorRef], fields: dict[str, Any], has_pitch: bool) -> DecoderReading:
        stages = indices(tensors, r"dec\.ups\.(\d+)\..*")
        kernels = tuple(shape_of(tensors, f"dec.ups.{i}.weight")[2] for i in stages) if stages else ()
        if not stages or stages != list(range(len(stages))):
            raise UnsupportedModelError(f"decoder upsample layers dec.ups.* are missing or not numbered 0..N (found {stages}): not a HiFi-GAN synthesizer")
        evidence: list[str] = []
        notes: list[str] = []
        candidates = [d for d in SHIPPED_CONFIGS if d[2] == kernels]
        if has_pitch and len(candidates) > 1:
            # Noise-conv kernels are 2 x (product of the later upsample rates): they pin the rates.
            noise = tuple(shape_of(tensors, f"dec.noise_convs.{i}.weight")[2] for i in stages if shape_of(tensors, f"dec.noise_convs.{i}.weight"))
            candidates = [d for d in candidates if noise == tuple(2 * math.prod(d[1][i + 1 :]) if i + 1 < len(d[1]) else 1 for i in range(len(d[1])))]
        enc_q = shape_of(tensors, "enc_q.pre.weight")
        if enc_q and len(candidates) > 1:
            # Training checkpoints keep the posterior encoder, whose input width is the spectrogram's:
            # 513 bins (n_fft 1024) at 32k, 1025 (n_fft 2048) at 40k/48k.
            by_spectrum = [d for d in candidates if (d[0] == 32000) == (enc_q[1] == 513)]
            if len(by_spectrum) == 1:
                evidence.append(f"enc_q.pre.weight takes {enc_q[1]} spectrogram bins -> {by_spectrum[0][0]} Hz among {[d[0] for d in candidates]}")
            candidates = by_spectrum or candidates
        stored = stored_config(fields)
        if len(candidates) == 1:
            sr, rates, _, table = candidates[0]
            evidence.append(f"decoder kernels {list(kernels)} ({len(stages)} stages) -> {sr} Hz, upsample rates {list(rates)} (configs/{table}.json)")
        elif len(candidates) > 1 and stored is not None and (stored.sr, tuple(stored.upsample_rates)) in {(d[0], d[1]) for d in candidates}:
            sr, rates = stored.sr, tuple(stored.upsample_rates)
            notes.append(f"decoder kernels {list(kernels)} fit {' and '.join(str(d[0]) for d in candidates)} Hz alike (no pitch branch to tell them apart); the config's {sr} Hz decides")
            evidence.append(f"config sr {sr} Hz (weights ambiguous between {[d[0] for d in candidates]})")
        elif stored is not None and tuple(stored.upsample_kernel_sizes) == kernels:
            sr, rates = stored.sr, tuple(stored.upsample_rates)
            notes.append(f"decoder kernels {list(kernels)} are not a shipped RVC configuration; using the config's rates {list(rates)} and {sr} Hz")
        else:
            known = f"fit {' and '.join(str(d[0]) for d in candidates)} Hz alike" if candidates else "match no known RVC configuration"
            raise UnsupportedModelError(
                f"cannot tell the sample rate: decoder kernels {list(kernels)} {known}"
                + (" and the config disagrees with all of them" if stored is not None else " and the file carries no config list")
                + "; re-export the model with its config (the WebUI's ckpt processing tab does this)"
            )
        return DecoderReading(sr, list(rates), list(kernels), stored, evidence, notes)

    def required_tensors(self) -> dict[str, str]:
        return {"dec.conv_pre": "dec.conv_pre.weight"}

    def config_fields(self, tensors: dict[str, TensorRef], base: SynthesizerConfig) -> dict[str, Any]:
        res_kernels = [shape_of(tensors, f"dec.resblocks.{j}.convs1.0.weight") for j in range(RESBLOCKS_READ)]
        return {
            "resblock_kernel_sizes": [s[2] for s in res_kernels] if all(res_kernels) else base.resblock_kernel_sizes,
            "upsample_initial_channel": shape_of(tensors, "dec.conv_pre.weight")[0],
        }

    def expected_tensors(self, cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
        t: dict[str, tuple[int, ...]] = {}
        channels, inter, gin = cfg.upsample_initial_channel, cfg.inter_channels, cfg.gin_channels
        t["dec.conv_pre.weight"] = (channels, inter, 7)
        t["dec.conv_pre.bias"] = (channels,)
        t["dec.cond.weight"] = (channels, gin, 1)
        t["dec.cond.bias"] = (channels,)
        kernels_per_stage = len(cfg.resblock_kernel_sizes)
        for i, (rate, kernel) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            c_in, c_out = channels // 2**i, channels // 2 ** (i + 1)
            t[f"dec.ups.{i}.weight"] = (c_in, c_out, kernel)
            t[f"dec.ups.{i}.bias"] = (c_out,)
            for j, res_kernel in enumerate(cfg.resblock_kernel_sizes):
                block = f"dec.resblocks.{i * kernels_per_stage + j}"
                for convs in ("convs1", "convs2"):
                    for m in range(len(cfg.resblock_dilation_sizes[j])):
                        t[f"{block}.{convs}.{m}.weight"] = (c_out, c_out, res_kernel)
                        t[f"{block}.{convs}.{m}.bias"] = (c_out,)
            if cfg.f0:
                stride_after = math.prod(cfg.upsample_rates[i + 1 :])
                noise_kernel = 2 * stride_after if i + 1 < len(cfg.upsample_rates) else 1
                t[f"dec.noise_convs.{i}.weight"] = (c_out, 1, noise_kernel)
                t[f"dec.noise_convs.{i}.bias"] = (c_out,)
        t["dec.conv_post.weight"] = (1, channels // 2 ** len(cfg.upsample_rates), 7)
        if cfg.f0:
            t["dec.m_source.l_linear.weight"] = (1, 1)
            t["dec.m_source.l_linear.bias"] = (1,)
        return t

    def reference_stages(self) -> list[tuple[str, ReferenceLayout]]:
        return _STAGES

    def stage_rank(self, name: str) -> tuple[int, ...] | None:
        # per-stage arrays interleave: ups.0.in, ups.0.out, noise_convs.0.out, ups.1.in, …
        return interleaved_rank(_STAGES, [_PER_STAGE], name)
