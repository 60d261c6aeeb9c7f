"""The synthesizer's configuration: RVC's 18-field config list, named, plus the facts it does not
hold (version, pitch guidance, vocoder). Facts: docs/synthesizer_format.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ...errors import UnsupportedModelError

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


def stored_config(fields: dict[str, Any]) -> SynthesizerConfig | None:
    """The config list a file carries (exports and Applio files), or None; a list of the wrong length is refused."""
    values = fields.get("config") if isinstance(fields.get("config"), list) else None
    if values is None:
        return None
    if len(values) != CONFIG_FIELDS:
        raise UnsupportedModelError(f"the config list has {len(values)} entries, RVC synthesizers have 18: a damaged or foreign export")
    return SynthesizerConfig.from_list(list(values))
