"""What each architecture contains: the full tensor list, in PyTorch layout and fused spelling, derived
from the model's configuration. The planner checks a checkpoint against it in both directions.
Facts: reference/synthesizer_format.md §4-§5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Known decoders: (sample rate, upsample_rates, upsample_kernel_sizes). The WebUI's 40k models
# (v1 and v2) share one config; Applio adds 24k. Used to read the sample rate from the weights.
SHIPPED_DECODERS: list[tuple[int, tuple[int, ...], tuple[int, ...], str]] = [
    (32000, (10, 4, 2, 2, 2), (16, 16, 4, 4, 4), "v1/32k"),
    (40000, (10, 10, 2, 2), (16, 16, 4, 4), "v1/40k"),
    (48000, (10, 6, 2, 2, 2), (16, 16, 4, 4, 4), "v1/48k"),
    (32000, (10, 8, 2, 2), (20, 16, 4, 4), "v2/32k"),
    (48000, (12, 10, 2, 2), (24, 20, 4, 4), "v2/48k"),
    (24000, (10, 6, 2, 2), (20, 12, 4, 4), "applio/24k"),
]

PHONE_DIMS = {"v1": 256, "v2": 768}
PITCH_BINS = 256
FLOW_LAYERS = 4
FLOW_WN_LAYERS = 3
FLOW_WN_KERNEL = 5
ATTENTION_WINDOW = 10


@dataclass
class SynthesizerConfig:
    """The 18-field RVC config list, named, plus the facts not in it (version, f0, vocoder)."""

    spec_channels: int
    segment_size: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: list[int]
    resblock_dilation_sizes: list[list[int]]
    upsample_rates: list[int]
    upsample_initial_channel: int
    upsample_kernel_sizes: list[int]
    spk_embed_dim: int
    gin_channels: int
    sr: int
    version: str = "v2"
    f0: bool = True
    vocoder: str = "HiFi-GAN"
    extra: dict = field(default_factory=dict)

    FIELDS = (
        "spec_channels segment_size inter_channels hidden_channels filter_channels n_heads n_layers kernel_size "
        "p_dropout resblock resblock_kernel_sizes resblock_dilation_sizes upsample_rates upsample_initial_channel "
        "upsample_kernel_sizes spk_embed_dim gin_channels sr"
    ).split()

    @classmethod
    def from_list(cls, values: list, **facts) -> "SynthesizerConfig":
        return cls(**dict(zip(cls.FIELDS, values)), **facts)

    def to_list(self) -> list:
        return [getattr(self, name) for name in self.FIELDS]

    @property
    def hop(self) -> int:
        return math.prod(self.upsample_rates)

    @property
    def variant(self) -> str:
        return f"{self.version}-{self.sr // 1000}k-{'f0' if self.f0 else 'nof0'}"


def synthesizer_expected_tensors(cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
    """Every inference tensor of net_g (no enc_q), PyTorch layout, weight norm fused to `.weight`."""
    t: dict[str, tuple[int, ...]] = {}
    hidden, inter, filt, gin = cfg.hidden_channels, cfg.inter_channels, cfg.filter_channels, cfg.gin_channels
    t["emb_g.weight"] = (cfg.spk_embed_dim, gin)
    t["enc_p.emb_phone.weight"] = (hidden, PHONE_DIMS[cfg.version])
    t["enc_p.emb_phone.bias"] = (hidden,)
    if cfg.f0:
        t["enc_p.emb_pitch.weight"] = (PITCH_BINS, hidden)
    head = hidden // cfg.n_heads
    for i in range(cfg.n_layers):
        prefix = f"enc_p.encoder.attn_layers.{i}"
        for conv in ("conv_q", "conv_k", "conv_v", "conv_o"):
            t[f"{prefix}.{conv}.weight"] = (hidden, hidden, 1)
            t[f"{prefix}.{conv}.bias"] = (hidden,)
        t[f"{prefix}.emb_rel_k"] = (1, 2 * ATTENTION_WINDOW + 1, head)
        t[f"{prefix}.emb_rel_v"] = (1, 2 * ATTENTION_WINDOW + 1, head)
        for norm in ("norm_layers_1", "norm_layers_2"):
            t[f"enc_p.encoder.{norm}.{i}.gamma"] = (hidden,)
            t[f"enc_p.encoder.{norm}.{i}.beta"] = (hidden,)
        ffn = f"enc_p.encoder.ffn_layers.{i}"
        t[f"{ffn}.conv_1.weight"] = (filt, hidden, cfg.kernel_size)
        t[f"{ffn}.conv_1.bias"] = (filt,)
        t[f"{ffn}.conv_2.weight"] = (hidden, filt, cfg.kernel_size)
        t[f"{ffn}.conv_2.bias"] = (hidden,)
    t["enc_p.proj.weight"] = (2 * inter, hidden, 1)
    t["enc_p.proj.bias"] = (2 * inter,)

    half = inter // 2
    for k in range(0, 2 * FLOW_LAYERS, 2):
        flow = f"flow.flows.{k}"
        t[f"{flow}.pre.weight"] = (hidden, half, 1)
        t[f"{flow}.pre.bias"] = (hidden,)
        for j in range(FLOW_WN_LAYERS):
            t[f"{flow}.enc.in_layers.{j}.weight"] = (2 * hidden, hidden, FLOW_WN_KERNEL)
            t[f"{flow}.enc.in_layers.{j}.bias"] = (2 * hidden,)
            width = hidden if j == FLOW_WN_LAYERS - 1 else 2 * hidden
            t[f"{flow}.enc.res_skip_layers.{j}.weight"] = (width, hidden, 1)
            t[f"{flow}.enc.res_skip_layers.{j}.bias"] = (width,)
        t[f"{flow}.enc.cond_layer.weight"] = (2 * hidden * FLOW_WN_LAYERS, gin, 1)
        t[f"{flow}.enc.cond_layer.bias"] = (2 * hidden * FLOW_WN_LAYERS,)
        t[f"{flow}.post.weight"] = (half, hidden, 1)
        t[f"{flow}.post.bias"] = (half,)

    channels = cfg.upsample_initial_channel
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
