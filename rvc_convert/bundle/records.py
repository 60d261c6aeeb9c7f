"""The typed records a bundle run passes between its steps: what the spec asks for, the conversion
jobs sent to workers and their outcomes, and each asset's plan and result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EXIT_CODES, RvcConvertError


@dataclass(frozen=True)
class AssetSpec:
    """One asset to ship: a voice or a shared model, as the spec describes it."""

    name: str
    role: str  # a bundle role (families' BundleRole.name): "voice" or a shared role
    source: Path  # where to read it
    label: str  # the source as written (spec-relative), for the manifest and messages
    where: str  # "bundle.yaml:12" or "argument models/a.pth", for messages
    pointer: str = ""  # "voices[2].name": what a spec problem about this asset points at
    line: int | None = None
    index: Path | None = None
    index_label: str | None = None
    display: dict[str, Any] = field(default_factory=dict)
    unresolved: str | None = None  # why there is nothing to read (a glob that matches no file)


@dataclass(frozen=True)
class BundleSpec:
    target: str
    dtype: str | None
    assets: tuple[AssetSpec, ...]  # shared roles, then the listed assets in spec order
    origin: str  # the spec file, or "command line"


@dataclass(frozen=True)
class Failure:
    """Why an asset failed: its error kind, a one-line message and the exit class."""

    kind: str
    message: str
    exit_code: int

    @classmethod
    def of(cls, exc: RvcConvertError) -> "Failure":
        return cls(exc.kind, str(exc), exc.exit_code)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": " ".join(self.message.split()), "exit_code": self.exit_code, "meaning": EXIT_CODES.get(self.exit_code, "")}


@dataclass(frozen=True)
class Job:
    """One conversion, run in a worker process: convert `source` into `staging`, validate, hash."""

    id: str  # sha256 of (source sha256, target, dtype), 16 hex: a source used twice is converted once
    source: str
    label: str
    target: str
    dtype: str | None
    staging: str


@dataclass(frozen=True)
class StagedFile:
    """A file a job wrote into staging, hashed."""

    staged: str
    sha256: str
    size: int
    suffix: str


@dataclass(frozen=True)
class AssetRecord:
    """What the manifest records about a converted asset beyond its name, role, source and files."""

    family: str
    kind: str
    variant: dict[str, Any]
    dtype: str
    rule_pack: str
    rules_sha256: str
    validation: dict[str, Any]
    contract: dict[str, Any]

    @classmethod
    def from_manifest(cls, entry: dict[str, Any]) -> "AssetRecord":
        return cls(**{name: entry[name] for name in cls.__dataclass_fields__})

    def to_manifest(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobOutcome:
    """A job's result, sent back from the worker: staged files and their record, or the failure."""

    id: str
    ok: bool = False
    variant: str | None = None
    validation: dict[str, Any] | None = None
    seconds: float | None = None
    error: Failure | None = None
    read_sha256: str | None = None  # what the reader hashed, to catch a file changing mid-build
    weights: StagedFile | None = None
    config: StagedFile | None = None
    record: AssetRecord | None = None


@dataclass
class AssetPlan:
    """An asset after hashing its source: reuse the previous entry, run a job, or fail now."""

    asset: AssetSpec
    digest: str | None = None
    index_digest: str | None = None
    reuse: dict[str, Any] | None = None  # the previous manifest's entry
    job_id: str | None = None
    index_job_id: str | None = None  # the conversion of the asset's `index:` file, when it has one
    error: Failure | None = None

    @property
    def job_ids(self) -> list[str]:
        return [j for j in (self.job_id, self.index_job_id) if j]


@dataclass
class AssetOutcome:
    plan: AssetPlan
    status: str  # built | reused | failed
    entry: dict[str, Any] | None = None  # the manifest entry
    variant: str | None = None
    seconds: float | None = None
    error: Failure | None = None
    validation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Placement:
    """A file to put into the bundle folder under its content-addressed name."""

    source: Path
    name: str
    ours: bool = True  # a staged file we wrote (hard-linked into place); else a user's file (copied: never share its inode)
