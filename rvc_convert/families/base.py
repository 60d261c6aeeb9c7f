"""The family interface and its registry.

A family is everything rvc-convert knows about one kind of model file: how to recognise it and
read its configuration from the weights, the tensors it must hold, its rule pack(s), what
`inspect` says about it, its runtime smoke test and parity checks, and its contract in a bundle.
The engine (read, detect, plan, transform, write), validation, bundles and the CLI ask the
registry and name no family. docs/architecture.md, "How to add a family", is the guide.

Built-in families are the sub-packages of `rvc_convert.families`; each registers itself with
`@register_family` when imported, and `registered_families()` imports them all on first use.
Trusted code (a plug-in, a test) may register more with `register_family`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import RulePackError, UnsupportedModelError
from ..reports import json_safe
from ..reader import ContainerReader, LoadedFile
from ..resources import MAPPINGS_DIR
from ..rules import RulePack, load_rule_pack
from ..safe_pickle import TensorRef, quote

if TYPE_CHECKING:  # annotations only: validation types are not needed to detect or convert
    from ..reports import ValidationReport


@dataclass
class ModelInfo:
    """The detection result that planning and writing consume."""

    family: str  # a registered family's name
    kind: str  # webui-export | applio-export | training-checkpoint | state-dict | converted | ...
    rule_pack: str  # the name of one of the family's rule packs
    tensors: dict[str, TensorRef]  # source tensors by key, as stored
    config: Any  # the family's configuration type (Family.variant/facts/sidecar read it)
    evidence: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source_fields: dict[str, Any] = field(default_factory=dict)  # non-tensor top-level fields worth reporting

    def __post_init__(self) -> None:
        # Fields come from the file (a model's `info`, `epoch`): bytes, NaN, a 5,000-digit int, a
        # 5 MB string. Reports print them, so they are made standard, bounded JSON data once, here.
        self.source_fields = json_safe(self.source_fields)

    @property
    def variant(self) -> str:
        return family_named(self.family).variant(self.config)

    def summary(self) -> dict[str, str]:
        """Flat string facts for file metadata and reports."""
        return {"family": self.family, "source_kind": self.kind} | family_named(self.family).facts(self.config)


@dataclass(frozen=True)
class Recognised:
    """A family's claim on a loaded file: what kind of file it is and where its tensors are."""

    kind: str
    tensors: dict[str, TensorRef]
    fields: dict[str, Any] = field(default_factory=dict)  # non-tensor top-level fields (config lists, names)


@dataclass(frozen=True)
class BundleRole:
    """Where a family's files go in a bundle spec and manifest (keys fixed by schemas/bundle*.json)."""

    name: str  # the asset role: manifest entries' `role`
    spec_key: str  # the bundle.yaml key (and manifest key) that lists such assets
    shared: bool  # one per bundle (`hubert: …`) rather than a list (`voices: […]`)
    noun: str  # "an RMVPE model", "an RVC voice": for "X is not <noun>" messages
    title: str = ""  # shared roles: what the asset is, for `bundle --help` ("HuBERT/ContentVec")
    example: str = ""  # shared roles: a typical file name, for `bundle --help` ("hubert_base.pt")
    help: str = ""  # shared roles: the spec-less command-line flag's help


def frame_rate_hz(sample_rate: int, hop: int) -> int | float:
    """Frames per second for a bundle contract: an int when exact, else 6 decimals."""
    rate = sample_rate / hop
    return int(rate) if rate == int(rate) else round(rate, 6)


# Labels of the kinds every family may report; a family adds its own in `kind_labels`.
COMMON_KIND_LABELS = {"state-dict": "bare state dict", "converted": "rvc-convert output"}


class Family:
    """Base class of a model family. Subclasses set the class attributes and override the hooks."""

    name: ClassVar[str]  # "synthesizer": ModelInfo.family, metadata `family`, manifest `family`
    title: ClassVar[str]  # what it converts, for the "supported: …" list of an unknown file's error
    rule_packs: ClassVar[dict[str, Path | None]]  # pack name -> its YAML; None: the shipped mappings/<name>.yaml
    readers: ClassVar[tuple[ContainerReader, ...]] = ()  # containers only this family uses (e.g. FAISS .index)
    kind_labels: ClassVar[dict[str, str]] = {}  # kind -> how `inspect` names it
    bundle_role: ClassVar[BundleRole | None] = None
    # The part of the voice-conversion chain (rvc_runtime.pipeline.Pipeline) this family's models
    # fill: the keyword they are passed under ("pitch" for pitch estimators); None: not in the chain.
    pipeline_slot: ClassVar[str | None] = None
    # Pitch estimators: RVC's f0 method names (`infer --f0-method`) its models serve, and its rank
    # when several pitch models are at hand and none is named (lowest first: upstream's default).
    f0_methods: ClassVar[tuple[str, ...]] = ()
    f0_preference: ClassVar[int] = 0

    # --- detect ---------------------------------------------------------------------------------

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        """Is this file one of ours? Cheap, never raises for a foreign file; None when it is not."""
        raise NotImplementedError

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        """Read the configuration from the weights (metadata second), with evidence, contradictions and notes.
        Raises UnsupportedModelError (with a finding) for a file of this family that cannot be converted."""
        raise NotImplementedError

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> Any:
        """The configuration of an rvc-convert output, from its metadata (`stored` is its parsed `config`)."""
        return stored

    # --- plan -----------------------------------------------------------------------------------

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        """Every tensor a file of this variant must hold: PyTorch layout and shape, fused weight-norm spelling."""
        raise NotImplementedError

    # --- describe -------------------------------------------------------------------------------

    def variant(self, config: Any) -> str:
        return self.name

    def facts(self, config: Any) -> dict[str, str]:
        """Flat string facts written into the converted file's metadata (`config` among them)."""
        raise NotImplementedError

    def sidecar(self, config: Any) -> Any:
        """The JSON written beside the weights (<name>.json)."""
        return config

    def model_line(self, facts: dict[str, str], kind: str) -> list[str]:
        """The parts of inspect's `model` line: what kind of file, which family, and its key facts."""
        return [self.kind_labels.get(kind) or COMMON_KIND_LABELS.get(kind, kind), self.name]

    # --- validate -------------------------------------------------------------------------------

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: ValidationReport) -> None:
        """Load `converted` strictly with the family's runtime module, run its smoke test and, with a
        reference (upstream's outputs for fixed inputs), its parity checks; add checks to `report`."""
        raise NotImplementedError

    # --- run ------------------------------------------------------------------------------------

    def load_runtime(self, converted: Path) -> Any:
        """The runtime object a converted file of this family gives the voice-conversion chain, loaded
        strictly (pitch estimators: an object with the pipeline's pitch-extractor protocol).
        Families with a `pipeline_slot` override it; ValueError when the file does not load."""
        raise NotImplementedError(f"the {self.name} family has no part in the voice-conversion chain")

    # --- bundle ---------------------------------------------------------------------------------

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        """The manifest's `variant` object."""
        return {"name": info.variant}

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        """The input/output contract an app must honour to run this model (the manifest's `contract`)."""
        raise NotImplementedError

    def companion_problem(self, key: str, own: dict[str, Any], companion: dict[str, Any]) -> str | None:
        """Why a file listed beside an asset of this family under `key` (a voice's `index:`), once
        converted, cannot serve it: one line naming both, or None when it can. `own` and
        `companion` are their manifest records (family, variant, contract)."""
        return f"{self.name} assets take no {key!r} file"

    def bundle_warnings(self, own: list[dict[str, Any]], entries: list[dict[str, Any]], roles: set[str]) -> list[str]:
        """Mismatches an app would hit at run time between this family's manifest entries (`own`) and
        the rest of the bundle (`entries`: every entry; `roles`: every role the spec lists)."""
        return []


_FAMILIES: dict[str, Family] = {}
_DISCOVERED = False
F = TypeVar("F", bound=type)


def register_family(cls: F) -> F:
    """Class decorator: register one instance of a Family subclass under its `name`."""
    family = cls()
    if family.name in _FAMILIES and type(_FAMILIES[family.name]) is not cls:
        raise ValueError(f"two families are named {family.name!r}: {type(_FAMILIES[family.name]).__name__} and {cls.__name__}")
    _FAMILIES[family.name] = family
    return cls


def unregister_family(name: str) -> None:
    """Remove a family registered by trusted code (a test's toy family)."""
    _FAMILIES.pop(name, None)


def _discover() -> None:
    """Import every built-in family sub-package once; each registers itself."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    package = importlib.import_module(__package__)
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.ispkg:
            importlib.import_module(f"{__package__}.{module.name}")


def registered_families() -> list[Family]:
    """Every registered family, built-in ones first (by name), then those trusted code added."""
    _discover()
    return list(_FAMILIES.values())


def family_named(name: str) -> Family:
    _discover()
    if name not in _FAMILIES:
        raise UnsupportedModelError(f"no model family {quote(name, 60)} (known: {', '.join(sorted(_FAMILIES))})")
    return _FAMILIES[name]


def pitch_families() -> list[Family]:
    """The families that serve RVC's f0 methods, in upstream's order of preference."""
    return sorted((f for f in registered_families() if f.f0_methods), key=lambda f: f.f0_preference)


def f0_method_names() -> list[str]:
    """RVC's f0 method names the registered pitch families serve, the preferred first."""
    return [method for family in pitch_families() for method in family.f0_methods]


def container_readers() -> tuple[ContainerReader, ...]:
    """The container readers families contribute, for read_model_file."""
    return tuple(reader for family in registered_families() for reader in family.readers)


def rule_pack_family(pack_name: str) -> Family | None:
    """The family that converts with the pack of this name, or None."""
    return next((f for f in registered_families() if pack_name in f.rule_packs), None)


def load_family_rule_pack(pack_name: str) -> RulePack:
    """A registered family's rule pack, by name only: a name from a file's metadata never becomes a path."""
    family = rule_pack_family(pack_name) if isinstance(pack_name, str) else None
    if family is None:
        known = sorted(name for f in registered_families() for name in f.rule_packs)
        raise RulePackError(f"no rule pack named {quote(pack_name, 80)}: rule packs are chosen by name from the registered set ({', '.join(known)})")
    path = family.rule_packs[pack_name] or MAPPINGS_DIR / f"{pack_name}.yaml"
    pack = load_rule_pack(path)
    if pack.family != family.name or pack.name != pack_name:
        raise RulePackError(f"{path}: declares pack '{pack.name}' of family '{pack.family}', registered as '{pack_name}' of '{family.name}'")
    return pack

