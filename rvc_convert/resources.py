"""Where the shipped data lives (mappings/, schemas/), one cached JSON-schema validator per schema,
and a record of documents already found valid, so that a process converting with a known rule
pack need not import jsonschema (~30 ms) at all.

The record is a folder of empty files named by sha256(schema bytes, document bytes) under
``$RVC_CONVERT_CACHE`` (default ``$XDG_CACHE_HOME/rvc-convert`` or ``~/.cache/rvc-convert``;
``RVC_CONVERT_CACHE=off`` turns it off). A document is recorded only after it passed its schema;
when the folder cannot be written, every process validates as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

CACHE_ENV = "RVC_CONVERT_CACHE"


def _package_dir(name: str) -> Path:
    """mappings/ and schemas/ ship inside the wheel as rvc_convert.mappings / rvc_convert.schemas."""
    try:
        return Path(str(resources.files(f"rvc_convert.{name}")))
    except ModuleNotFoundError:  # running from a source tree that is not installed
        return Path(__file__).resolve().parent.parent / name


MAPPINGS_DIR = _package_dir("mappings")
SCHEMAS_DIR = _package_dir("schemas")


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """A schema from schemas/ by file name. Cached: treat the result as read-only."""
    return json.loads((SCHEMAS_DIR / name).read_text())


@lru_cache(maxsize=1)
def _registry():
    """Every schema by file name and by $id, so one schema can $ref another."""
    from referencing import Registry, Resource

    found = []
    for path in sorted(SCHEMAS_DIR.glob("*.schema.json")):
        resource = Resource.from_contents(load_schema(path.name))
        found += [(path.name, resource), (resource.id(), resource)]
    return Registry().with_resources(found)


@lru_cache(maxsize=None)
def schema_validator(name: str) -> jsonschema.Draft202012Validator:
    """The one validator of schemas/<name>, built once per process."""
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema(name), registry=_registry())


def cache_dir() -> Path | None:
    """rvc-convert's cache folder, or None when RVC_CONVERT_CACHE=off."""
    setting = os.environ.get(CACHE_ENV, "").strip()
    if setting.lower() in ("off", "0", "no", "none"):
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rvc-convert"


def _validity_marker(schema_name: str, document: bytes) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256((SCHEMAS_DIR / schema_name).read_bytes() + b"\0" + document).hexdigest()
    return folder / "schema-valid" / digest


def known_valid(schema_name: str, document: bytes) -> bool:
    """Whether these exact document bytes passed this exact schema before (in any process)."""
    marker = _validity_marker(schema_name, document)
    return marker is not None and marker.is_file()


def remember_valid(schema_name: str, document: bytes) -> None:
    """Record that these document bytes passed this schema (best effort: an unwritable cache is skipped)."""
    marker = _validity_marker(schema_name, document)
    if marker is None:
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
