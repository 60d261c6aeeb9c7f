"""Where the shipped data lives (mappings/, schemas/) and one cached JSON-schema validator per schema."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource


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
def _registry() -> Registry:
    """Every schema by file name and by $id, so one schema can $ref another."""
    found = []
    for path in sorted(SCHEMAS_DIR.glob("*.schema.json")):
        resource = Resource.from_contents(load_schema(path.name))
        found += [(path.name, resource), (resource.id(), resource)]
    return Registry().with_resources(found)


@lru_cache(maxsize=None)
def schema_validator(name: str) -> jsonschema.Draft202012Validator:
    """The one validator of schemas/<name>, built once per process."""
    return jsonschema.Draft202012Validator(load_schema(name), registry=_registry())
