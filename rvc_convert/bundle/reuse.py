"""Source hashes and the reuse decision: an asset whose source, rules and output settings are
unchanged, and whose files are intact, is taken from the previous manifest without being read.
Digests come from file_hashes.sha256_of: remembered while a file's identity (inode, size, times) is
unchanged, so a no-change rerun reads no file; `bundle --paranoid` re-reads every one."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from .. import OUTPUT_FORMAT_REVISION
from ..errors import RvcConvertError
from ..families import load_family_rule_pack
from ..file_hashes import sha256_of
from ..reader import hf_folder_members
from .manifest import manifest_assets
from .records import AssetSpec


def source_sha256(path: Path) -> str:
    """sha256 of a file; of a folder (a Hugging Face model), of the `sha256  name` listing of the
    files the reader takes from it (weights and configs, checked as the reader checks them: no
    link out of the folder, no FIFO), so any of them changing counts and nothing else is read."""
    if path.is_dir():
        members = sorted((name, member) for name, member in hf_folder_members(path).items() if member is not None)
        listing = "".join(f"{sha256_of(member)}  {name}\n" for name, member in members)
        return hashlib.sha256(listing.encode("utf-8")).hexdigest()
    return sha256_of(path)


def file_matches(path: Path, record: dict[str, Any]) -> bool:
    """Does the file exist with the recorded size and sha256?"""
    try:
        return path.is_file() and path.stat().st_size == record["size"] and sha256_of(path) == record["sha256"]
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def rules_sha256(rule_pack: str) -> str:
    """The current hash of a registered rule pack (by name: a manifest never names a path)."""
    return load_family_rule_pack(rule_pack).sha256


def reusable_entry(
    asset: AssetSpec, digest: str, index_digest: str | None, previous: dict[str, Any] | None, target: str, dtype: str | None, out_dir: Path
) -> dict[str, Any] | None:
    """The previous manifest's entry for this asset when nothing that shapes its files changed and they
    are intact: the source, the `index:` file (present in both, the same sha256, or absent in both)
    and the rule packs both were converted with."""
    # Keyed on what shapes the bytes, not the version string: the output-format revision (bumped by
    # tests/test_output_hashes.py whenever a conversion's bytes change) and, below, the rule packs'
    # hashes (of each pack and the layout table together).
    if previous is None or previous["converter"].get("output_format_revision") != OUTPUT_FORMAT_REVISION or previous["target"] != target or previous["dtype"] != dtype:
        return None
    entry = next((e for e in manifest_assets(previous) if e["role"] == asset.role and e["name"] == asset.name), None)
    if entry is None or entry["source"]["sha256"] != digest:
        return None
    companion = entry.get("index")
    if (companion is None) != (index_digest is None) or (companion and companion["source"]["sha256"] != index_digest):
        return None
    try:
        if any(rules_sha256(record["rule_pack"]) != record["rules_sha256"] for record in (entry, companion) if record):
            return None
    except RvcConvertError:
        return None
    keys = ("weights", "config", "index") if companion else ("weights", "config")
    if not all(file_matches(out_dir / entry["files"][key]["path"], entry["files"][key]) for key in keys):
        return None
    return entry
