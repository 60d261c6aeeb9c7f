"""Applio's two other synthesizer decoders: "MRF HiFi-GAN" and "RefineGAN" (docs/vocoders.md).

Everything outside `dec.*` is the classic v2 pitch-guided synthesizer; this module knows only the
decoders: which one a file holds (from the weights; the export's `vocoder` field is a hint that
can be wrong), the configuration the weights imply, and the full tensor list the planner checks
a file against. The rule packs are mappings/synthesizer_mrf_hifigan.yaml and
mappings/synthesizer_refinegan.yaml, each extending `synthesizer` and replacing its `dec.*` rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .architectures import PHONE_DIMS, SHIPPED_DECODERS, SynthesizerConfig, synthesizer_expected_tensors
from .errors import UnsupportedModelError

HIFIGAN, MRF, REFINEGAN = "HiFi-GAN", "MRF HiFi-GAN", "RefineGAN"
VOCODERS = (HIFIGAN, MRF, REFINEGAN)
RULE_PACKS = {HIFIGAN: "synthesizer", MRF: "synthesizer_mrf_hifigan", REFINEGAN: "synthesizer_refinegan"}
VARIANT_SUFFIX = {HIFIGAN: "", MRF: "-mrf", REFINEGAN: "-refinegan"}
# How exports spell the field: Applio writes the three names above; a missing field means HiFi-GAN
# to Applio's loader; a fork (Vietnamese-RVC) also writes "MRF-HiFi-GAN" and "Default".
FIELD_SPELLINGS = {HIFIGAN: HIFIGAN, MRF: MRF, REFINEGAN: REFINEGAN, "MRF-HiFi-GAN": MRF, "Default": HIFIGAN}

MRF_HARMONICS = 9  # the fundamental and 8 overtones (Applio hard-codes harmonic_num = 8)
DECODER_CONV_KERNEL = 7  # conv_pre / conv_post / pre_conv / mel_conv / input_conv / downsample kernels

# RefineGAN's sizes are constructor defaults Applio never overrides: no shape depends on the config.
REFINEGAN_START_CHANNELS = 16
REFINEGAN_UPSAMPLE_CHANNELS = 512
REFINEGAN_COND_CHANNELS = 256  # the speaker-conditioning input width is literally 256
REFINEGAN_STAGES = 4
REFINEGAN_KERNELS = (3, 7, 11)
REFINEGAN_DILATIONS = (1, 3, 5)
FRAME_RATE_HZ = 100  # RVC decodes 100 frames per second at every sample rate


@dataclass
class DecoderFinding:
    """Which decoder a synthesizer's weights hold, why, and where the `vocoder` field disagrees."""

    vocoder: str
    evidence: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)


def weight_shape(shapes: Mapping[str, tuple[int, ...]], module: str) -> tuple[int, ...] | None:
    """Shape of `<module>.weight` in any spelling: fused, weight_v, or parametrizations original1."""
    for key in (f"{module}.weight", f"{module}.weight_v", f"{module}.parametrizations.weight.original1"):
        if key in shapes:
            return tuple(shapes[key])
    return None


def _has(shapes: Mapping[str, Any], prefix: str) -> bool:
    return any(key.startswith(prefix) for key in shapes)


def _indices(shapes: Mapping[str, Any], prefix: str) -> list[int]:
    """Sorted integers N of keys `<prefix>N.…`."""
    found = set()
    for key in shapes:
        if key.startswith(prefix):
            head = key[len(prefix) :].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


# --- detection ----------------------------------------------------------------------------------


def identify_decoder(shapes: Mapping[str, tuple[int, ...]], vocoder_field: Any = None) -> DecoderFinding:
    """The decoder of a synthesizer from its `dec.*` keys and shapes; `vocoder_field` is the export's
    `vocoder` value (None when absent) and is only compared, never trusted. Refuses old RefineGAN
    layouts and decoders that mix two layouts."""
    classic = _has(shapes, "dec.ups.") or _has(shapes, "dec.resblocks.")
    mrf = _has(shapes, "dec.upsamples.") or _has(shapes, "dec.mrfs.")
    refine = any(_has(shapes, p) for p in ("dec.upsample_conv_blocks.", "dec.downsample_blocks.", "dec.m_source.merge.", "dec.pre_conv.", "dec.filters."))
    kinds = [name for name, present in ((HIFIGAN, classic), (MRF, mrf), (REFINEGAN, refine)) if present]
    if len(kinds) > 1:
        raise UnsupportedModelError(
            f"the decoder mixes the tensor layouts of {' and '.join(kinds)} (dec.ups/resblocks, dec.upsamples/mrfs, "
            f"dec.upsample_conv_blocks/downsample_blocks): a damaged or hand-merged file; re-export the voice from its trainer",
            finding="mixed_decoder",
        )
    if not kinds:
        raise UnsupportedModelError(
            "no decoder tensors of a known layout (dec.ups.* for HiFi-GAN, dec.upsamples.* + dec.mrfs.* for MRF HiFi-GAN, "
            "dec.upsample_conv_blocks.* for RefineGAN): not a complete RVC synthesizer",
            finding="unknown_decoder",
        )
    vocoder = kinds[0]
    if vocoder == REFINEGAN:
        evidence = _refinegan_evidence(shapes)
    elif vocoder == MRF:
        evidence = _mrf_evidence(shapes)
    else:
        evidence = ["dec.ups.* + dec.resblocks.* -> the classic HiFi-GAN decoder"]
    return DecoderFinding(vocoder, evidence, _field_contradictions(vocoder_field, vocoder))


def _mrf_evidence(shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    linear = weight_shape(shapes, "dec.m_source.l_linear")
    if linear != (1, MRF_HARMONICS):
        raise UnsupportedModelError(
            f"dec.upsamples.* + dec.mrfs.* are MRF HiFi-GAN keys, but dec.m_source.l_linear.weight is {list(linear) if linear else 'missing'} "
            f"instead of [1, {MRF_HARMONICS}] (the fundamental and 8 overtones): not an Applio MRF HiFi-GAN voice (a pitch-free or damaged one)",
            finding="unknown_decoder",
        )
    return [f"dec.upsamples.* + dec.mrfs.* with dec.m_source.l_linear.weight {list(linear)} (9-harmonic source) -> MRF HiFi-GAN"]


def _refinegan_evidence(shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    pre = weight_shape(shapes, "dec.pre_conv")
    down0 = weight_shape(shapes, "dec.downsample_blocks.0")
    current = (REFINEGAN_START_CHANNELS, 1, DECODER_CONV_KERNEL), (2 * REFINEGAN_START_CHANNELS, REFINEGAN_START_CHANNELS, DECODER_CONV_KERNEL)
    if _has(shapes, "dec.filters."):
        seen = f"dec.filters.* tensors (e.g. {next(k for k in shapes if k.startswith('dec.filters.'))})"
        era = "a pre-release Applio RefineGAN (built from its main branch, December 2024 to March 2025)"
    elif pre is not None and pre[0] != REFINEGAN_START_CHANNELS or down0 is not None and len(down0) == 3 and down0[1] == 1:
        seen = f"dec.pre_conv.weight {list(pre) if pre else 'missing'}, dec.downsample_blocks.0.weight {list(down0) if down0 else 'missing'}"
        era = "the RefineGAN layout of Applio 3.2.9 to 3.2.x (April to August 2025), whose downsampling convs are strided and run on the source signal"
    elif (pre, down0) != current:
        raise UnsupportedModelError(
            f"RefineGAN keys, but dec.pre_conv.weight is {list(pre) if pre else 'missing'} and dec.downsample_blocks.0.weight "
            f"{list(down0) if down0 else 'missing'} (Applio 3.3.0 and later: {list(current[0])} and {list(current[1])}): "
            f"a RefineGAN layout rvc-convert does not know; convert a voice trained with Applio 3.3.0 or later",
            finding="unknown_decoder",
        )
    else:
        return [
            f"dec.upsample_conv_blocks.* + dec.m_source.merge.0 with dec.pre_conv.weight {list(pre)} and "
            f"dec.downsample_blocks.0.weight {list(down0)} -> RefineGAN (Applio 3.3.0 and later layout)"
        ]
    raise UnsupportedModelError(
        f"this voice uses {era} ({seen}; Applio 3.3.0 and later: dec.pre_conv.weight {list(current[0])}). "
        f"Applio 3.3.0 changed RefineGAN's layers and forward pass and declared older RefineGAN models incompatible: "
        f"no current Applio runs it and rvc-convert cannot reproduce what it computed. Retrain the voice with Applio 3.3.0 or "
        f"later (RefineGAN or HiFi-GAN)",
        finding="legacy_refinegan",
    )


def _field_contradictions(vocoder_field: Any, detected: str) -> list[str]:
    if vocoder_field is None:
        if detected == HIFIGAN:
            return []
        return [f"the file has no vocoder field (Applio's loader then builds a HiFi-GAN decoder), but the weights are {detected}; the weights win"]
    stated = FIELD_SPELLINGS.get(str(vocoder_field))
    if stated is None:
        return [f"field vocoder is {str(vocoder_field)[:40]!r}, not a vocoder name rvc-convert knows ({', '.join(VOCODERS)}); the weights say {detected}, the weights win"]
    if stated != detected:
        return [f"field vocoder is {vocoder_field!r}, the weights are {detected}; the weights win"]
    return []


# --- configuration ----------------------------------------------------------------------------------


def applio_config(shapes: Mapping[str, tuple[int, ...]], fields: Mapping[str, Any], vocoder: str) -> tuple[SynthesizerConfig, list[str], list[str]]:
    """(config, evidence, contradictions) for an MRF HiFi-GAN or RefineGAN synthesizer: every value
    the weights determine comes from the weights, the rest from the stored config list."""
    if vocoder not in (MRF, REFINEGAN):
        raise ValueError(f"applio_config handles {MRF} and {REFINEGAN}, not {vocoder!r}")
    stored = _stored_config(fields)
    common, evidence = _common_from_weights(shapes)
    if vocoder == MRF:
        decoder, decoder_evidence = _mrf_decoder_config(shapes, stored)
    else:
        decoder, decoder_evidence = _refinegan_decoder_config(shapes, stored)
    evidence += decoder_evidence
    # Fields no inference tensor shows (segment size, dropout, dilations, ...) come from the stored
    # list, else from RVC's defaults; the spectrogram width follows the rate (n_fft 1024 below 40k).
    defaults = [0, 32, 0, 0, 0, 0, 0, 0, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [], 0, [], 0, 0, 0]
    base = stored or SynthesizerConfig.from_list(defaults)
    values = {name: getattr(base, name) for name in SynthesizerConfig.FIELDS} | common | decoder
    if stored is None:
        values["spec_channels"] = 513 if values["sr"] < 40000 else 1025
    cfg = SynthesizerConfig(**values, version=_version(shapes), f0=True, vocoder=vocoder)
    return cfg, evidence, _compare(stored, cfg, fields)


def _stored_config(fields: Mapping[str, Any]) -> SynthesizerConfig | None:
    stored = fields.get("config")
    if not isinstance(stored, (list, tuple)):
        return None
    if len(stored) != len(SynthesizerConfig.FIELDS):
        raise UnsupportedModelError(f"the config list has {len(stored)} entries, RVC synthesizers have 18: a damaged or foreign export")
    return SynthesizerConfig.from_list(list(stored))


def _version(shapes: Mapping[str, tuple[int, ...]]) -> str:
    phone = shapes.get("enc_p.emb_phone.weight")
    version = next((v for v, dim in PHONE_DIMS.items() if phone is not None and len(phone) == 2 and phone[1] == dim), None)
    if version is None:
        raise UnsupportedModelError(f"enc_p.emb_phone.weight is {list(phone) if phone else 'missing'}: phone features match neither v1 (256) nor v2 (768)")
    return version


def _common_from_weights(shapes: Mapping[str, tuple[int, ...]]) -> tuple[dict[str, Any], list[str]]:
    """Text encoder, flow and speaker sizes: the same tensors as every RVC synthesizer."""
    needed = {
        "enc_p.proj": weight_shape(shapes, "enc_p.proj"),
        "enc_p.encoder.ffn_layers.0.conv_1": weight_shape(shapes, "enc_p.encoder.ffn_layers.0.conv_1"),
        "enc_p.encoder.attn_layers.0.emb_rel_k": shapes.get("enc_p.encoder.attn_layers.0.emb_rel_k"),
        "emb_g": weight_shape(shapes, "emb_g"),
    }
    missing = [name for name, shape in needed.items() if shape is None]
    if missing:
        raise UnsupportedModelError(f"core synthesizer tensors are missing ({', '.join(missing)}): the checkpoint is incomplete")
    proj, ffn, rel, emb_g = needed.values()
    if "enc_p.emb_pitch.weight" not in shapes:
        raise UnsupportedModelError(
            "no enc_p.emb_pitch.weight: Applio's MRF HiFi-GAN and RefineGAN decoders exist only for pitch-guided voices; the file is damaged"
        )
    version = _version(shapes)
    values = {
        "inter_channels": proj[0] // 2,
        "hidden_channels": proj[1],
        "filter_channels": ffn[0],
        "n_heads": proj[1] // rel[2],
        "n_layers": len(_indices(shapes, "enc_p.encoder.attn_layers.")),
        "kernel_size": ffn[2],
        "spk_embed_dim": emb_g[0],
        "gin_channels": emb_g[1],
    }
    evidence = [
        f"enc_p.emb_phone.weight is {list(shapes['enc_p.emb_phone.weight'])} -> {version}",
        "enc_p.emb_pitch present -> pitch-guided (f0)",
        f"emb_g.weight has {emb_g[0]} rows -> {emb_g[0]} speaker(s)",
    ]
    if version != "v2":
        evidence.append(f"note: Applio trains these decoders only with v2 (768-d) features; this file's encoder is {version}")
    return values, evidence


def _mrf_decoder_config(shapes: Mapping[str, tuple[int, ...]], stored: SynthesizerConfig | None) -> tuple[dict[str, Any], list[str]]:
    """Rates and the sample rate from the upsampling kernels (as for the classic decoder), pinned by
    the noise-conv kernels; channel counts from conv_pre; block kernels from the first stage."""
    stages = _indices(shapes, "dec.upsamples.")
    if not stages or stages != list(range(len(stages))):
        raise UnsupportedModelError(f"MRF decoder upsampling layers dec.upsamples.* are missing or not numbered 0..N (found {stages})")
    kernels = tuple(weight_shape(shapes, f"dec.upsamples.{i}")[2] for i in stages)
    noise = tuple((weight_shape(shapes, f"dec.noise_convs.{i}") or (0, 0, 0))[2] for i in stages)
    candidates = [d for d in SHIPPED_DECODERS if d[2] == kernels and mrf_noise_kernels(d[1]) == noise]
    if len(candidates) == 1:
        sr, rates, _, table = candidates[0]
        evidence = [f"upsampling kernels {list(kernels)} and noise-conv kernels {list(noise)} -> {sr} Hz, upsample rates {list(rates)} ({table} table)"]
    elif stored is not None and tuple(stored.upsample_kernel_sizes) == kernels and mrf_noise_kernels(stored.upsample_rates) == noise:
        sr, rates = int(stored.sr), tuple(stored.upsample_rates)
        evidence = [f"upsampling kernels {list(kernels)} are not a shipped configuration; the config's rates {list(rates)} fit the noise convs; {sr} Hz from the config"]
    else:
        raise UnsupportedModelError(
            f"cannot tell the sample rate: MRF upsampling kernels {list(kernels)} and noise-conv kernels {list(noise)} match no known configuration"
            + (" and the config disagrees" if stored is not None else " and the file carries no config list")
        )
    pre = weight_shape(shapes, "dec.conv_pre")
    block_kernels = [weight_shape(shapes, f"dec.mrfs.0.{j}.layers.0.conv1") for j in _indices(shapes, "dec.mrfs.0.")]
    if pre is None or not block_kernels or None in block_kernels:
        raise UnsupportedModelError("MRF decoder tensors dec.conv_pre / dec.mrfs.0.* are missing: the checkpoint is incomplete")
    values = {
        "upsample_rates": list(rates),
        "upsample_kernel_sizes": list(kernels),
        "upsample_initial_channel": pre[0],
        "resblock_kernel_sizes": [k[2] for k in block_kernels],
        "sr": sr,
    }
    return values, evidence


def mrf_noise_kernels(rates) -> tuple[int, ...]:
    """MRF noise-conv kernel per stage: 1 for the last, else 2s - (s mod 2), s = product of the later rates."""
    out = []
    for i in range(len(rates)):
        s = math.prod(rates[i + 1 :])
        out.append(1 if s == 1 else 2 * s - s % 2)
    return tuple(out)


def _refinegan_decoder_config(shapes: Mapping[str, tuple[int, ...]], stored: SynthesizerConfig | None) -> tuple[dict[str, Any], list[str]]:
    """No RefineGAN tensor depends on the sample rate, so the rates and rate come from the config list."""
    if stored is None:
        raise UnsupportedModelError(
            "cannot tell the sample rate of a RefineGAN voice: none of its tensor shapes depends on it and the file carries no config list; "
            "convert the exported voice (.pth from Applio's export), not a bare state dict"
        )
    rates = [int(u) for u in stored.upsample_rates]
    sr = int(stored.sr)
    if len(rates) != REFINEGAN_STAGES or math.prod(rates) * FRAME_RATE_HZ != sr:
        raise UnsupportedModelError(
            f"the config's upsample rates {rates} and sample rate {sr} Hz do not fit RefineGAN: it needs 4 stages whose product is "
            f"sample rate / 100 (e.g. [10, 8, 2, 2] at 32000 Hz); a damaged config list"
        )
    first = weight_shape(shapes, "dec.upsample_conv_blocks.0.input_conv")
    branch_kernels = [weight_shape(shapes, f"dec.upsample_conv_blocks.0.blocks.{j}.1.convs1.0") for j in _indices(shapes, "dec.upsample_conv_blocks.0.blocks.")]
    if first is None or not branch_kernels or None in branch_kernels:
        raise UnsupportedModelError("RefineGAN tensors dec.upsample_conv_blocks.0.* are missing: the checkpoint is incomplete")
    values = {
        "upsample_rates": rates,
        "upsample_initial_channel": 2 * first[0],
        "resblock_kernel_sizes": [k[2] for k in branch_kernels],
        "resblock_dilation_sizes": [list(REFINEGAN_DILATIONS)] * len(branch_kernels),
        "sr": sr,
    }
    evidence = [f"config upsample rates {rates} (product {math.prod(rates)} = {sr} Hz / 100) -> {sr} Hz; RefineGAN's tensor shapes do not depend on the rate"]
    return values, evidence


def _compare(stored: SynthesizerConfig | None, cfg: SynthesizerConfig, fields: Mapping[str, Any]) -> list[str]:
    out = []
    if stored is not None:
        ignored = {"spk_embed_dim"} | ({"upsample_kernel_sizes", "resblock_dilation_sizes"} if cfg.vocoder == REFINEGAN else set())
        for name in SynthesizerConfig.FIELDS:
            a, b = getattr(stored, name), getattr(cfg, name)
            if name not in ignored and not _same(a, b):
                out.append(f"config {name} is {a}, the weights say {b}; the weights win")
        if stored.spk_embed_dim != cfg.spk_embed_dim:
            out.append(f"config spk_embed_dim is {stored.spk_embed_dim}, emb_g has {cfg.spk_embed_dim} rows; using {cfg.spk_embed_dim} as Applio does")
    sr_field = fields.get("sr")
    if sr_field is not None:
        as_hz = {"24k": 24000, "32k": 32000, "40k": 40000, "48k": 48000}.get(str(sr_field))
        if as_hz is None:
            try:
                as_hz = int(sr_field)
            except (TypeError, ValueError):
                as_hz = None
        if as_hz != cfg.sr:
            out.append(f"field sr is {sr_field!r}, the decoder says {cfg.sr} Hz; the weights win")
    if "f0" in fields and not bool(fields["f0"]):
        out.append(f"field f0 is {fields['f0']!r}, but this decoder exists only for pitch-guided voices; the weights win")
    if "version" in fields and fields["version"] != cfg.version:
        out.append(f"field version is {fields['version']!r}, enc_p.emb_phone says {cfg.version}; the weights win")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return a == b or float(a) == float(b)
    except (TypeError, ValueError):
        return False


def variant_name(cfg: SynthesizerConfig) -> str:
    """`v2-40k-f0-mrf`, `v2-32k-f0-refinegan` (the classic name for HiFi-GAN)."""
    return cfg.variant + VARIANT_SUFFIX.get(cfg.vocoder, "")


# --- tensor lists -------------------------------------------------------------------------------------


def mrf_decoder_tensors(cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
    """Every `dec.*` tensor of HiFiGANMRFGenerator, PyTorch layout, weight norm fused to `.weight`."""
    t: dict[str, tuple[int, ...]] = {}
    channels, inter, k7 = cfg.upsample_initial_channel, cfg.inter_channels, DECODER_CONV_KERNEL
    t["dec.m_source.l_linear.weight"] = (1, MRF_HARMONICS)
    t["dec.m_source.l_linear.bias"] = (1,)
    t["dec.conv_pre.weight"] = (channels, inter, k7)
    t["dec.conv_pre.bias"] = (channels,)
    t["dec.cond.weight"] = (channels, cfg.gin_channels, 1)
    t["dec.cond.bias"] = (channels,)
    noise_kernels = mrf_noise_kernels(cfg.upsample_rates)
    for i, kernel in enumerate(cfg.upsample_kernel_sizes):
        c_in, c_out = channels // 2**i, channels // 2 ** (i + 1)
        t[f"dec.upsamples.{i}.weight"] = (c_in, c_out, kernel)
        t[f"dec.upsamples.{i}.bias"] = (c_out,)
        t[f"dec.noise_convs.{i}.weight"] = (c_out, 1, noise_kernels[i])
        t[f"dec.noise_convs.{i}.bias"] = (c_out,)
        for j, block_kernel in enumerate(cfg.resblock_kernel_sizes):
            for layer in range(len(cfg.resblock_dilation_sizes[j])):
                for conv in ("conv1", "conv2"):
                    t[f"dec.mrfs.{i}.{j}.layers.{layer}.{conv}.weight"] = (c_out, c_out, block_kernel)
                    t[f"dec.mrfs.{i}.{j}.layers.{layer}.{conv}.bias"] = (c_out,)
    last = channels // 2 ** len(cfg.upsample_rates)
    t["dec.conv_post.weight"] = (1, last, k7)
    t["dec.conv_post.bias"] = (1,)
    return t


def refinegan_decoder_tensors(cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
    """Every `dec.*` tensor of RefineGANGenerator (Applio 3.3.0+), PyTorch layout, weight norm fused."""
    t: dict[str, tuple[int, ...]] = {}
    k7, start = DECODER_CONV_KERNEL, REFINEGAN_START_CHANNELS
    t["dec.m_source.merge.0.weight"] = (1, 1)
    t["dec.pre_conv.weight"] = (start, 1, k7)
    t["dec.pre_conv.bias"] = (start,)
    for i in range(REFINEGAN_STAGES):
        c = start * 2**i
        t[f"dec.downsample_blocks.{i}.weight"] = (2 * c, c, k7)
        t[f"dec.downsample_blocks.{i}.bias"] = (2 * c,)
    mel = REFINEGAN_UPSAMPLE_CHANNELS // 2
    t["dec.mel_conv.weight"] = (mel, cfg.inter_channels, k7)
    t["dec.mel_conv.bias"] = (mel,)
    t["dec.cond.weight"] = (mel, REFINEGAN_COND_CHANNELS, 1)
    t["dec.cond.bias"] = (mel,)
    for i in range(REFINEGAN_STAGES):
        ch = REFINEGAN_UPSAMPLE_CHANNELS // 2**i
        c_out, c_in = ch // 2, ch + start * 2 ** (REFINEGAN_STAGES - 1 - i)  # upsampled + skip from the down path
        block = f"dec.upsample_conv_blocks.{i}"
        t[f"{block}.input_conv.weight"] = (c_out, c_in, k7)
        t[f"{block}.input_conv.bias"] = (c_out,)
        for j, kernel in enumerate(REFINEGAN_KERNELS):
            t[f"{block}.blocks.{j}.0.weight"] = (c_out,)
            for layer in range(len(REFINEGAN_DILATIONS)):
                for convs in ("convs1", "convs2"):
                    t[f"{block}.blocks.{j}.1.{convs}.{layer}.weight"] = (c_out, c_out, kernel)
                    t[f"{block}.blocks.{j}.1.{convs}.{layer}.bias"] = (c_out,)
            t[f"{block}.blocks.{j}.2.weight"] = (c_out,)
    t["dec.conv_post.weight"] = (1, REFINEGAN_UPSAMPLE_CHANNELS // 2**REFINEGAN_STAGES, k7)  # the last stage's output
    return t


DECODER_TENSORS = {MRF: mrf_decoder_tensors, REFINEGAN: refinegan_decoder_tensors}


def applio_synthesizer_tensors(cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
    """The whole synthesizer: the classic text encoder, flow and speaker embedding, and this decoder."""
    if cfg.vocoder not in DECODER_TENSORS:
        raise ValueError(f"no Applio decoder tensor list for vocoder {cfg.vocoder!r}")
    outside = {k: v for k, v in synthesizer_expected_tensors(cfg).items() if not k.startswith("dec.")}
    return outside | DECODER_TENSORS[cfg.vocoder](cfg)
