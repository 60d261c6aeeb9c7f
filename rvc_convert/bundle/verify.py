"""`verify`: re-hash every file a bundle's manifest lists and report missing, modified, extra and
pending files; with revalidate, validate every weight file again and run every voice through a
short chain with the bundle's own shared models and its index."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import EXIT_VALIDATION_FAILED, InputIOError, RvcConvertError
from ..reader import file_sha256, read_text_file
from .manifest import MANIFEST_NAME, manifest_assets, manifest_files, read_manifest
from .roles import listed_role, shared_roles
from .transaction import JOURNAL_NAME, STAGING_DIR, is_temp_file, safe_names


CONVERTED_FILES = ("weights", "index")  # the files --revalidate validates again (configs are JSON)


def _own_file(relative: str) -> bool:
    """rvc-convert's own bookkeeping files, and Finder's, which verify does not count as extra."""
    return (
        relative in (MANIFEST_NAME, JOURNAL_NAME)
        or relative.split("/", 1)[0] == STAGING_DIR
        or is_temp_file(relative)
        or relative.rsplit("/", 1)[-1] == ".DS_Store"
    )


def _files_on_disk(out_dir: Path) -> set[str]:
    found = set()
    for root, _dirs, files in os.walk(out_dir):
        for name in files:
            found.add((Path(root) / name).relative_to(out_dir).as_posix())
    return {f for f in found if not _own_file(f)}


def _pending_files(out_dir: Path, referenced: set[str]) -> set[str]:
    journal = out_dir / JOURNAL_NAME
    if not journal.exists():
        return set()
    try:
        names = safe_names(json.loads(read_text_file(journal, 1 << 20, "bundle journal")).get("files"))
    except (ValueError, AttributeError, OSError):
        return set()
    return {n for n in names - referenced if (out_dir / n).exists()}


def _revalidate(out_dir: Path, manifest: dict[str, Any], intact: set[str]) -> list[dict[str, Any]]:
    from ..validate import validate_model

    rows = []
    for asset in manifest_assets(manifest):
        for role in CONVERTED_FILES:
            if role not in asset["files"]:
                continue
            path = asset["files"][role]["path"]
            if path not in intact:
                continue  # already reported as missing or modified
            row: dict[str, Any] = {"asset": asset["name"], "path": path, "ok": False, "failed": [], "error": None}
            try:
                report = validate_model(out_dir / path)
                row["ok"] = report.ok
                row["failed"] = report.failures() if not report.ok else []
            except RvcConvertError as exc:
                row["error"] = {"kind": exc.kind, "message": str(exc), "exit_code": exc.exit_code}
            rows.append(row)
    return rows


def _chains(out_dir: Path, manifest: dict[str, Any], intact: set[str]) -> list[dict[str, Any]]:
    """Every voice whose files are intact through a short chain with the bundle's own shared models
    and its index (rvc_convert.chain.check_voices)."""
    from ..chain import check_voices

    shared = {}
    for role in shared_roles():
        asset = manifest.get(role.spec_key)
        if asset and asset["files"]["weights"]["path"] in intact:
            shared[role.name] = out_dir / asset["files"]["weights"]["path"]
    voices = []
    for voice in manifest.get(listed_role().spec_key, []):
        weights, index = voice["files"]["weights"]["path"], voice["files"].get("index", {}).get("path")
        if weights in intact and (index is None or index in intact):
            voices.append((voice["name"], out_dir / weights, out_dir / index if index else None))
    return [{"voice": name} | result for name, result in check_voices(voices, shared).items()]


def verify_bundle(out_dir: str | Path, revalidate: bool = False) -> dict[str, Any]:
    """Re-hash every file the manifest lists; report missing, modified and extra files (and, with revalidate,
    validate every weight file again). Returns the report (schemas/verify_report.schema.json)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputIOError(f"{out_dir}: no such folder")
    manifest = read_manifest(out_dir)
    rows = []
    for asset_name, role, record in manifest_files(manifest):
        path = out_dir / record["path"]
        row = {"path": record["path"], "asset": asset_name, "role": role, "status": "missing", "expected_sha256": record["sha256"],
               "actual_sha256": None, "expected_size": record["size"], "actual_size": None}
        if path.is_file():
            row["actual_sha256"], row["actual_size"] = file_sha256(path), path.stat().st_size
            row["status"] = "ok" if (row["actual_sha256"], row["actual_size"]) == (record["sha256"], record["size"]) else "modified"
        rows.append(row)
    referenced = {r["path"] for r in rows}
    pending = _pending_files(out_dir, referenced)
    extra = sorted(_files_on_disk(out_dir) - referenced - pending)
    intact = {r["path"] for r in rows if r["status"] == "ok"}
    revalidated = _revalidate(out_dir, manifest, intact) if revalidate else None
    chains = _chains(out_dir, manifest, intact) if revalidate else None
    missing = [r["path"] for r in rows if r["status"] == "missing"]
    modified = [r["path"] for r in rows if r["status"] == "modified"]
    ok = not (missing or modified or extra) and all(r["ok"] for r in revalidated or []) and all(c["ok"] for c in chains or [])
    return {
        "schema": "rvc-convert/verify/1",
        "ok": ok,
        "exit_code": 0 if ok else EXIT_VALIDATION_FAILED,
        "bundle": str(out_dir),
        "manifest": {
            "format_version": manifest["format_version"],
            "converter_version": manifest["converter"]["version"],
            "target": manifest["target"],
            "assets": len(manifest_assets(manifest)),
        },
        "files": rows,
        "missing": missing,
        "modified": modified,
        "extra": extra,
        "pending": sorted(pending),
        "revalidated": revalidated,
        "chains": chains,
    }
