"""JSON reports are described by versioned schemas in schemas/; this checks a document against its own."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema
from referencing import Registry, Resource

from .rules import SCHEMAS_DIR

# The `schema` field of each report -> its schema file.
REPORT_SCHEMAS = {
    "rvc-convert/convert/1": "convert_report.schema.json",
    "rvc-convert/inspect/1": "inspect_report.schema.json",
    "rvc-convert/validate/1": "validate_report.schema.json",
    "rvc-convert/error/1": "error_report.schema.json",
    "rvc-convert/bundle/1": "bundle_report.schema.json",
    "rvc-convert/verify/1": "verify_report.schema.json",
}


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS_DIR.glob("*.schema.json")):
        resource = Resource.from_contents(json.loads(path.read_text()))
        resources += [(path.name, resource), (resource.id(), resource)]
    return Registry().with_resources(resources)


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS_DIR / name).read_text())


def check_report(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `document` does not match the schema its `schema` field names."""
    name = REPORT_SCHEMAS[document["schema"]]
    schema = load_schema(name)
    jsonschema.Draft202012Validator(schema, registry=_registry()).validate(document)
