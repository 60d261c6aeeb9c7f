"""The synthesizer's configuration: RVC's 18-field config list, named, plus the facts it does not
hold (version, pitch guidance, vocoder). Facts: docs/synthesizer_format.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ...errors import UnsupportedModelError
from ..limits import MAX_CHANNELS, MAX_HOP, MAX_KERNEL, MAX_LAYERS, MAX_RATE, MAX_SPEAKERS, SAMPLE_RATES, Spec, check_config, listed, one_of, real, whole

PHONE_DIMS = {"v1": 256, "v2": 768}  # HuBERT feature width per RVC version
PITCH_BINS = 256
FLOW_LAYERS = 4
FLOW_WN_LAYERS = 3
FLOW_WN_KERNEL = 5
ATTENTION_WINDOW = 10
CONFIG_FIELDS = 18


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
    def phone_dim(self) -> int:
        return PHONE_DIMS[self.version]

    @property
    def variant(self) -> str:
        return f"{self.version}-{self.sr // 1000}k-{'f0' if self.f0 else 'nof0'}"


# What each of the 18 fields may hold: sizes and counts within the shared bounds, the sample rate
# in Hz, dilations and kernels as small positive integers.
CONFIG_SPECS: dict[str, Spec] = {
    "spec_channels": Spec(whole(1, MAX_CHANNELS)),
    "segment_size": Spec(whole(1, 1 << 20)),  # training only
    "inter_channels": Spec(whole(1, MAX_CHANNELS)),
    "hidden_channels": Spec(whole(1, MAX_CHANNELS)),
    "filter_channels": Spec(whole(1, MAX_CHANNELS)),
    "n_heads": Spec(whole(1, MAX_LAYERS)),
    "n_layers": Spec(whole(1, MAX_LAYERS)),
    "kernel_size": Spec(whole(1, MAX_KERNEL)),
    "p_dropout": Spec(real(0.0, 1.0)),
    "resblock": Spec(one_of("1", "2")),
    "resblock_kernel_sizes": Spec(listed(whole(1, MAX_KERNEL))),
    "resblock_dilation_sizes": Spec(listed(listed(whole(1, MAX_KERNEL)))),
    "upsample_rates": Spec(listed(whole(1, MAX_RATE))),
    "upsample_initial_channel": Spec(whole(1, MAX_CHANNELS)),
    "upsample_kernel_sizes": Spec(listed(whole(1, MAX_KERNEL))),
    "spk_embed_dim": Spec(whole(1, MAX_SPEAKERS)),
    "gin_channels": Spec(whole(1, MAX_CHANNELS)),
    "sr": Spec(whole(*SAMPLE_RATES)),
}


def check_config_list(values: Any, where: str, what: str = "config list") -> list:
    """Refuse a config list (from a file) whose fields a real RVC model cannot have, before anything
    is sized by it: types, bounds, and the relations the decoder needs (one kernel per upsample
    rate, each rate at most its kernel, a hop of at most MAX_HOP samples)."""
    if not isinstance(values, list) or len(values) != CONFIG_FIELDS:
        length = f"{len(values)} entries" if isinstance(values, list) else f"a {type(values).__name__}"
        raise UnsupportedModelError(f"{where}: the {what} is {length}, RVC synthesizers have 18: a damaged or foreign export")
    check_config(dict(zip(SynthesizerConfig.FIELDS, values)), CONFIG_SPECS, where, what, _relation_problem)
    return values


def _relation_problem(named: dict[str, Any]) -> str | None:
    rates, kernels = named["upsample_rates"], named["upsample_kernel_sizes"]
    if len(rates) != len(kernels):
        return f"{len(rates)} upsample_rates for {len(kernels)} upsample_kernel_sizes"
    if any(rate > kernel for rate, kernel in zip(rates, kernels)):
        return f"upsample_rates {rates} exceed their upsample_kernel_sizes {kernels}"
    if math.prod(rates) > MAX_HOP:
        return f"upsample_rates {rates} make a hop of {math.prod(rates)} samples (limit {MAX_HOP})"
    if len(named["resblock_dilation_sizes"]) != len(named["resblock_kernel_sizes"]):
        return f"{len(named['resblock_dilation_sizes'])} resblock_dilation_sizes for {len(named['resblock_kernel_sizes'])} resblock_kernel_sizes"
    if named["hidden_channels"] % named["n_heads"]:
        return f"hidden_channels {named['hidden_channels']} is not divisible by n_heads {named['n_heads']}"
    if named["upsample_initial_channel"] >> len(rates) == 0:
        return f"upsample_initial_channel {named['upsample_initial_channel']} cannot halve {len(rates)} times"
    return None


def stored_config(fields: dict[str, Any], where: str = "this synthesizer") -> SynthesizerConfig | None:
    """The config list a file carries (exports and Applio files), or None; one no real model can have is refused."""
    values = fields.get("config") if isinstance(fields.get("config"), list) else None
    if values is None:
        return None
    return SynthesizerConfig.from_list(check_config_list(list(values), where))
