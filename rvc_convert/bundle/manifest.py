"""manifest.json: what a bundle holds, built deterministically (no timestamps, sorted keys, listed
assets sorted by name, validation figures rounded to 4 significant digits), schema-checked
(schemas/manifest.schema.json) whenever it is written or read."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import jsonschema

from .. import OUTPUT_FORMAT_REVISION, __version__
from ..convert import TARGETS
from ..errors import CorruptFileError, InputIOError, RvcConvertError
from ..reader import read_text_file
from ..reports import ValidationReport
from ..resources import schema_validator
from .roles import listed_role, shared_roles

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "manifest.schema.json"
MANIFEST_FORMAT = "rvc-convert/bundle-manifest"
MANIFEST_FORMAT_VERSION = 2  # 2: a voice's index is converted and recorded with its contract
FIGURE_DIGITS = 4  # validation figures in the manifest: stable across machines, still informative


def _significant(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{FIGURE_DIGITS}g}")


def validation_figures(report: ValidationReport) -> dict[str, Any]:
    """What the manifest keeps of a validation report: each check's status, the worst layer error, the smoke RMS."""
    worst = [c.metrics["worst_relative_error"] for c in report.checks if "worst_relative_error" in c.metrics]
    layers = [c.metrics["layers"] for c in report.checks if "layers" in c.metrics]
    rms = [c.metrics["rms"] for c in report.checks if c.name.startswith("runtime.smoke") and "rms" in c.metrics]
    return {
        "ok": report.ok,
        "checks": [{"name": c.name, "status": c.status} for c in report.checks],
        "layers_checked": sum(layers) if layers else None,
        "worst_layer_error": _significant(max(worst)) if worst else None,
        "smoke_rms": _significant(rms[0]) if rms else None,
    }


def manifest_assets(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The shared assets (when present), then the listed ones."""
    return [manifest[role.spec_key] for role in shared_roles() if manifest.get(role.spec_key)] + list(manifest.get(listed_role().spec_key, []))


def manifest_files(manifest: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(asset name, file role, {path, sha256, size}) for every file the manifest lists."""
    for asset in manifest_assets(manifest):
        for role in sorted(asset["files"]):
            yield asset["name"], role, asset["files"][role]


def manifest_file_names(manifest: dict[str, Any]) -> set[str]:
    return {record["path"] for _, _, record in manifest_files(manifest)}


def check_manifest(manifest: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the manifest does not match schemas/manifest.schema.json."""
    schema_validator(MANIFEST_SCHEMA).validate(manifest)


def build_manifest(target: str, dtype: str | None, entries: list[dict[str, Any]]) -> dict[str, Any]:
    listed = listed_role()
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "converter": {"name": "rvc-convert", "version": __version__, "output_format_revision": OUTPUT_FORMAT_REVISION},
        "target": target,
        "container": TARGETS[target].lstrip("."),
        "dtype": dtype,
        "rules": dict(sorted({r["rule_pack"]: r["rules_sha256"] for e in entries for r in (e, e.get("index")) if r}.items())),
    }
    for role in shared_roles():
        manifest[role.spec_key] = next((e for e in entries if e["role"] == role.name), None)
    manifest[listed.spec_key] = sorted((e for e in entries if e["role"] == listed.name), key=lambda e: e["name"])
    return manifest


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


MAX_MANIFEST_BYTES = 64 << 20  # thousands of voices fit in a few MB


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The folder's manifest, schema-checked. InputIOError when there is none, CorruptFileError when it is not one."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        raise InputIOError(f"{path}: no such file: {out_dir} is not a bundle (build one with `rvc-convert bundle`)")
    try:
        manifest = json.loads(read_text_file(path, MAX_MANIFEST_BYTES, "bundle manifest"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CorruptFileError(f"{path}: not readable JSON ({exc})") from None
    try:
        check_manifest(manifest)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise CorruptFileError(f"{path}: not a valid bundle manifest at {where}: {exc.message}") from None
    return manifest


def previous_manifest(out_dir: Path, warnings: list[str]) -> dict[str, Any] | None:
    """The manifest a rebuild starts from; an unreadable one is ignored (with a warning) and everything rebuilt."""
    if not (out_dir / MANIFEST_NAME).exists():
        return None
    try:
        return read_manifest(out_dir)
    except RvcConvertError as exc:
        warnings.append(f"the existing manifest is ignored and every asset rebuilt: {exc}")
        return None

