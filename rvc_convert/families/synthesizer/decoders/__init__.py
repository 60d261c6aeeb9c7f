"""The synthesizer's decoders (vocoders): a sub-registry inside the synthesizer family.

RVC's synthesizer is a text encoder, a flow and a decoder (`dec.*`) that turns latent frames into
audio. Upstream ships one decoder (NSF HiFi-GAN, and plain HiFi-GAN for models without pitch);
Applio adds others. Each decoder is one module here, registered with `@register_decoder`: its
detection signature, how it reads the sample rate and upsampling from the weights, its `dec.*`
tensor list, the hop its audio has, and how its reference arrays are laid out and ordered for
parity. A decoder rvc-convert recognises but cannot convert registers with `supported = False`
and a `refusal`, so such files are named and refused, not misread. docs/architecture.md says how
to add one.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ....errors import UnsupportedModelError
from ....parity import ReferenceLayout
from ....safe_pickle import TensorRef
from ..config import SynthesizerConfig

DEFAULT_DECODER = "HiFi-GAN"  # what a file without a `vocoder` field and without another decoder's signature has


@dataclass
class DecoderReading:
    """What a decoder reads from the weights (and the stored config where the weights are ambiguous)."""

    sample_rate: int
    upsample_rates: list[int]
    upsample_kernel_sizes: list[int]
    stored: SynthesizerConfig | None  # the file's own config list, when it has one
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Decoder:
    """Base class of a synthesizer decoder. Subclasses set the class attributes and override the hooks."""

    name: ClassVar[str]  # the `vocoder` value Applio writes, and the converted file's `vocoder` metadata
    signature: ClassVar[tuple[str, ...]] = ()  # key prefixes only this decoder's weights have
    supported: ClassVar[bool] = True
    refusal: ClassVar[str] = ""  # supported = False: why it cannot be converted, and what to do instead

    def matches(self, tensors: dict[str, TensorRef]) -> bool:
        return bool(self.signature) and any(key.startswith(self.signature) for key in tensors)

    def read(self, tensors: dict[str, TensorRef], fields: dict[str, Any], has_pitch: bool) -> DecoderReading:
        """The sample rate and upsampling, from the weights first (see hifigan.py)."""
        raise NotImplementedError

    def required_tensors(self) -> dict[str, str]:
        """label -> key of the tensors `config_fields` reads, for the "core tensors are missing" error."""
        return {}

    def config_fields(self, tensors: dict[str, TensorRef], base: SynthesizerConfig) -> dict[str, Any]:
        """The config-list fields the decoder's weights determine (beyond `read`'s), by field name."""
        return {}

    def expected_tensors(self, cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
        """Every `dec.*` inference tensor, PyTorch layout, fused weight-norm spelling."""
        raise NotImplementedError

    def hop(self, cfg: SynthesizerConfig) -> int:
        """Audio samples per latent frame."""
        return cfg.hop

    def reference_stages(self) -> list[tuple[str, ReferenceLayout]]:
        """The decoder's reference arrays: (regex over the array name, layout), in execution order."""
        return []

    def reference_layout(self, name: str) -> ReferenceLayout | None:
        """How the runtime's array of this name maps onto the reference's, or None when not the decoder's."""
        return next((layout for pattern, layout in self.reference_stages() if re.fullmatch(pattern, name)), None)

    def stage_rank(self, name: str) -> tuple[int, ...] | None:
        """Where the reference array of this name comes in execution order, or None when not the decoder's."""
        return next(((rank,) for rank, (pattern, _) in enumerate(self.reference_stages()) if re.fullmatch(pattern, name)), None)


_DECODERS: dict[str, Decoder] = {}
_DISCOVERED = False
D = TypeVar("D", bound=type)


def register_decoder(cls: D) -> D:
    """Class decorator: register one instance of a Decoder subclass under its `name`."""
    _DECODERS[cls.name] = cls()
    return cls


def registered_decoders() -> list[Decoder]:
    """Every decoder module of this package (imported once, by module name), then any registered by trusted code."""
    global _DISCOVERED
    if not _DISCOVERED:
        _DISCOVERED = True
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            importlib.import_module(f"{__name__}.{module.name}")
    return list(_DECODERS.values())


def decoder_named(name: str) -> Decoder | None:
    return next((d for d in registered_decoders() if d.name == name), None)


def resolve_decoder(tensors: dict[str, TensorRef], fields: dict[str, Any]) -> Decoder:
    """The decoder of a synthesizer: the file's `vocoder` field (default HiFi-GAN), overridden by
    another decoder's signature in the weights. Recognised-but-unsupported decoders are refused."""
    name = fields.get("vocoder", DEFAULT_DECODER)
    for decoder in registered_decoders():
        if decoder.name != DEFAULT_DECODER and decoder.matches(tensors):
            name = decoder.name
    decoder = decoder_named(name) if isinstance(name, str) else None
    if decoder is None or not decoder.supported:
        why = decoder.refusal if decoder is not None else "decoder keys and math differ from HiFi-GAN"
        supported = " and ".join(d.name for d in registered_decoders() if d.supported)
        raise UnsupportedModelError(
            f"this synthesizer uses Applio's '{name}' vocoder ({why}); rvc-convert supports the {supported} decoder only: "
            f"retrain or export with the HiFi-GAN vocoder",
            finding="unsupported_vocoder",
        )
    return decoder

