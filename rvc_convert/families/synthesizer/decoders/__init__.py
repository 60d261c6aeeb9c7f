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
    field_spellings: ClassVar[tuple[str, ...]] = ()  # other ways exports spell `name` in their `vocoder` field
    rule_pack: ClassVar[str] = "synthesizer"  # the family's rule pack for voices with this decoder
    variant_suffix: ClassVar[str] = ""  # appended to the variant name: v2-40k-f0-mrf
    supported: ClassVar[bool] = True
    refusal: ClassVar[str] = ""  # supported = False: why it cannot be converted, and what to do instead

    def matches(self, tensors: dict[str, TensorRef]) -> bool:
        return bool(self.signature) and any(key.startswith(self.signature) for key in tensors)

    def require_signature(self, tensors: dict[str, TensorRef]) -> None:
        """Refuse a file read as this decoder (its vocoder field says so) that holds none of its tensors."""
        if not self.matches(tensors):
            raise UnsupportedModelError(
                f"the vocoder field says {self.name}, but the file holds none of its decoder tensors ({', '.join(p + '*' for p in self.signature)}): not a complete voice",
                finding="unknown_decoder",
            )

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


def interleaved_rank(stages: list[tuple[str, ReferenceLayout]], per_stage: list[set[int]], name: str) -> tuple[int, ...] | None:
    """Execution order of a reference array when some rows of `stages` repeat once per upsampling
    stage: the rows of one block (a set of row numbers) interleave stage by stage (up.0, noise.0,
    up.1, noise.1, ...); the stage number is the pattern's first group."""
    for rank, (pattern, _layout) in enumerate(stages):
        if match := re.fullmatch(pattern, name):
            block = next((b for b in per_stage if rank in b), None)
            return (min(block), int(match.group(1)), rank) if block else (rank,)
    return None


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


def decoder_for_field(value: Any) -> Decoder | None:
    """The decoder an export's `vocoder` field names (its name or another spelling of it), or None."""
    return next((d for d in registered_decoders() if isinstance(value, str) and value in (d.name, *d.field_spellings)), None)


def resolve_decoder(tensors: dict[str, TensorRef], fields: dict[str, Any]) -> Decoder:
    """The decoder of a synthesizer, from the weights first: the one decoder whose signature the
    weights hold; without any, the file's `vocoder` field (default HiFi-GAN). Weights holding two
    decoders' keys, and recognised-but-unsupported decoders, are refused."""
    found = [d for d in registered_decoders() if d.matches(tensors)]
    if len(found) > 1:
        keys = "; ".join(f"{d.name}: {next(k for k in tensors if k.startswith(d.signature))}" for d in found)
        raise UnsupportedModelError(
            f"the decoder mixes the tensor layouts of {' and '.join(d.name for d in found)} ({keys}): a damaged or "
            f"hand-merged file; re-export the voice from its trainer",
            finding="mixed_decoder",
        )
    name = found[0].name if found else fields.get("vocoder", DEFAULT_DECODER)
    decoder = found[0] if found else decoder_for_field(name)
    if decoder is None or not decoder.supported:
        why = decoder.refusal if decoder is not None else "no decoder of that name is known and the weights hold no known decoder's keys"
        supported = ", ".join(d.name for d in registered_decoders() if d.supported)
        raise UnsupportedModelError(
            f"this synthesizer uses the vocoder {str(name)[:40]!r} ({why}); rvc-convert converts the {supported} decoders: "
            f"retrain or export with one of them",
            finding="unsupported_vocoder",
        )
    return decoder


def vocoder_field_contradictions(decoder: Decoder, fields: dict[str, Any]) -> list[str]:
    """Where the export's `vocoder` field disagrees with the decoder its weights hold (weights win)."""
    if "vocoder" not in fields:
        if decoder.name == DEFAULT_DECODER or "weight" not in fields:
            return []  # only exports carry the field (WebUI exports never do); checkpoints and state dicts don't
        return [f"the file has no vocoder field (Applio's loader then builds a {DEFAULT_DECODER} decoder), but the weights are {decoder.name}; the weights win"]
    value = fields["vocoder"]
    stated = decoder_for_field(value)
    if stated is None:
        known = ", ".join(d.name for d in registered_decoders())
        return [f"field vocoder is {str(value)[:40]!r}, not a vocoder rvc-convert knows ({known}); the weights are {decoder.name}, the weights win"]
    if stated is not decoder:
        return [f"field vocoder is {value!r}, the weights are {decoder.name}; the weights win"]
    return []

