"""Reading a bundle spec (`bundle.yaml`, schema schemas/bundle.schema.json; paths relative to the
spec file), or the spec-less command line, into a BundleSpec.

Spec errors name the line and field (the YAML node tree keeps each value's line). Names are safe
file stems, unique ignoring case (APFS ignores case).
"""

from __future__ import annotations

import glob as globbing
import os
import re
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputIOError, UsageError
from ..families import BundleRole
from ..reader import read_text_file
from ..resources import schema_validator
from .records import AssetSpec, BundleSpec
from .roles import listed_role, shared_roles

SPEC_SCHEMA = "bundle.schema.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DISPLAY_FIELDS = ("display_name", "author", "license", "description", "language", "url", "tags", "extra")


class BundleSpecError(UsageError):
    """The spec (or the command line's model list) is wrong; every problem names its line and field."""

    kind = "bundle_spec"


# --- spec ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecProblem:
    line: int | None
    field: str
    message: str


def _raise_problems(origin: str, problems: list[SpecProblem]) -> None:
    if not problems:
        return
    ordered = sorted(problems, key=lambda p: (p.line or 0, p.field))
    shown = [f"{origin}:{p.line}: {p.field}: {p.message}" if p.line else f"{origin}: {p.field}: {p.message}" for p in ordered]
    raise BundleSpecError(f"{len(shown)} problem(s) in the bundle spec: " + "; ".join(shown))


def _field_name(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _node_at(root: yaml.Node, path: list[Any]) -> yaml.Node:
    """The deepest node of the composed YAML tree along a jsonschema error path."""
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
    return node


def _key_node(mapping: yaml.Node, key: str) -> yaml.Node:
    if isinstance(mapping, yaml.MappingNode):
        return next((k for k, _ in mapping.value if k.value == key), mapping)
    return mapping


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _duplicate_keys(node: yaml.Node, path: list[Any]) -> list[SpecProblem]:
    """PyYAML keeps the last of two equal keys silently; a spec with both is a mistake."""
    problems = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if key.value in seen:
                problems.append(SpecProblem(_line(key), _field_name(path + [key.value]), f"given twice (first at line {seen[key.value]})"))
            seen.setdefault(key.value, _line(key))
            problems += _duplicate_keys(value, path + [key.value])
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, path + [index])
    return problems


def _schema_problems(data: Any, root: yaml.Node, validator: Any) -> list[SpecProblem]:
    problems = []
    for error in validator.iter_errors(data):
        path = list(error.absolute_path)
        node = _node_at(root, path)
        where = _field_name(path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            for key in (k for k in error.instance if k not in allowed):
                hint = get_close_matches(str(key), allowed, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                problems.append(SpecProblem(_line(_key_node(node, key)), _field_name(path + [key]), f"unknown field (allowed: {', '.join(allowed)}){suggestion}"))
        elif error.validator == "required" and isinstance(error.instance, dict):
            for key in (k for k in error.validator_value if k not in error.instance):
                problems.append(SpecProblem(_line(node), where, f"missing required field '{key}'"))
        elif error.validator == "pattern" and path and path[-1] == "name":
            problems.append(SpecProblem(_line(node), where, f"{error.instance!r} is not a safe file stem: use letters, digits, '-' and '_' (at most 64, starting with a letter or digit)"))
        elif error.validator == "enum":
            choices = ", ".join("null" if c is None else str(c) for c in error.validator_value)
            problems.append(SpecProblem(_line(node), where, f"{error.instance!r} is not one of: {choices}"))
        else:
            problems.append(SpecProblem(_line(node), where, error.message))
    return problems


def _compose_spec(text: str, origin: str) -> tuple[Any, yaml.Node]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise BundleSpecError(f"{origin}{line}: not valid YAML ({exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise BundleSpecError(f"{origin}: not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    if node is None:
        raise BundleSpecError(f"{origin}: the bundle spec is empty; it needs at least `voices:` (see rvc-convert bundle --help)")
    return data, node


MAX_SPEC_BYTES = 1 << 20  # a bundle spec is a few KB


def load_spec(path: str | Path) -> BundleSpec:
    """Read and check bundle.yaml. Raises BundleSpecError listing every problem with its line and field."""
    path = Path(path)
    origin = str(path)
    if not path.exists():
        raise InputIOError(f"{path}: no such bundle spec")
    text = read_text_file(path, MAX_SPEC_BYTES, "bundle spec")
    data, root = _compose_spec(text, origin)
    problems = _duplicate_keys(root, []) + _schema_problems(data, root, schema_validator(SPEC_SCHEMA))
    _raise_problems(origin, problems)

    base = path.parent
    assets: list[AssetSpec] = []
    for role in shared_roles():
        if data.get(role.spec_key) is None:
            continue
        entry = data[role.spec_key] if isinstance(data[role.spec_key], dict) else {"source": data[role.spec_key]}
        node = _node_at(root, [role.spec_key])
        line = _line(_node_at(node, ["name"] if "name" in entry else []))
        assets.append(AssetSpec(entry.get("name", role.name), role.name, base / entry["source"], entry["source"], f"{origin}:{line}", role.spec_key, line))
    listed = listed_role()
    for index, entry in enumerate(data[listed.spec_key]):
        node = _node_at(root, [listed.spec_key, index])
        assets += _expand_listed(entry if isinstance(entry, dict) else {"source": entry}, base, origin, node, index, listed, problems)
    problems += _name_problems(assets)
    _raise_problems(origin, problems)
    return BundleSpec(data.get("target", "ios"), data.get("dtype"), tuple(assets), origin)


def _expand_listed(entry: dict[str, Any], base: Path, origin: str, node: yaml.Node, index: int, role: BundleRole, problems: list[SpecProblem]) -> list[AssetSpec]:
    """One listed entry: a file, or a glob that becomes one asset per matching file, named by its stem."""
    label = entry["source"]
    display = {k: entry[k] for k in DISPLAY_FIELDS if k in entry}
    index_path = base / entry["index"] if "index" in entry else None
    source_line = _line(_node_at(node, ["source"]))
    if not globbing.has_magic(label):
        matches = [(base / label, label)]
    else:
        found = sorted(globbing.glob(str(base / label), recursive=True))
        matches = [(Path(m), Path(os.path.relpath(m, base)).as_posix()) for m in found]
        if not matches:
            return [AssetSpec(label, role.name, base / label, label, f"{origin}:{source_line}", unresolved=f"the glob {label!r} matches no file")]
        clashing = [key for key in ("name", "index") if key in entry and len(matches) > 1]
        for key in clashing:
            problems.append(
                SpecProblem(_line(_key_node(node, key)), f"{role.spec_key}[{index}].{key}", f"given for the glob {label!r}, which matches {len(matches)} files: one {key} cannot serve them all")
            )
        if clashing:
            return []
    assets = []
    field_name = f"{role.spec_key}[{index}].{'name' if 'name' in entry else 'source'}"
    line = _line(_node_at(node, ["name"])) if "name" in entry else source_line
    for source, source_label in matches:
        name = entry.get("name") or source.stem
        if "name" not in entry and not NAME_PATTERN.match(name):
            problems.append(SpecProblem(source_line, field_name, f"the file stem {name!r} of {source_label} is not a safe name: give the voice a `name:` (letters, digits, '-', '_')"))
        assets.append(AssetSpec(name, role.name, source, source_label, f"{origin}:{line}", field_name, line, index_path, entry.get("index"), display))
    return assets


def _name_problems(assets: list[AssetSpec]) -> list[SpecProblem]:
    """Names become file stems on case-insensitive file systems: unique ignoring case."""
    problems, seen = [], {}
    for asset in assets:
        if asset.unresolved:
            continue
        key = asset.name.lower()
        if key in seen:
            first = seen[key]
            problems.append(SpecProblem(asset.line, asset.pointer, f"the name {asset.name!r} is already used by {first.pointer} ({first.where}); names must be unique, ignoring case"))
        else:
            seen[key] = asset
    return problems


def spec_from_paths(models: list[str | Path], shared: dict[str, str | Path | None], target: str = "ios", dtype: str | None = None) -> BundleSpec:
    """The spec-less form: `rvc-convert bundle models/*.pth --<shared role> PATH …`; voices named by
    file stem. `shared` maps shared role names to their source (None: not given)."""
    origin = "command line"
    assets: list[AssetSpec] = []
    problems: list[SpecProblem] = []
    listed = listed_role()
    for role in shared_roles():
        given = shared.get(role.name)
        if given is not None:
            assets.append(AssetSpec(role.name, role.name, Path(given), Path(given).as_posix(), f"--{role.name}", f"--{role.name}"))
    seen_paths: set[Path] = set()
    for given in models:
        label = Path(given).as_posix()
        expanded = sorted(globbing.glob(label, recursive=True)) if globbing.has_magic(label) and not Path(given).exists() else [label]
        if not expanded:
            assets.append(AssetSpec(label, listed.name, Path(label), label, origin, unresolved=f"the glob {label!r} matches no file"))
        for item in expanded:
            source = Path(item)
            if source.resolve() in seen_paths:
                continue  # the same file named twice (a glob and its match): one voice
            seen_paths.add(source.resolve())
            if not NAME_PATTERN.match(source.stem):
                problems.append(SpecProblem(None, f"model {item}", f"the file stem {source.stem!r} is not a safe name (letters, digits, '-', '_'): rename the file or use a bundle.yaml with `name:`"))
            assets.append(AssetSpec(source.stem, listed.name, source, source.as_posix(), f"argument {item}", f"model {item}"))
    if not any(a.role == listed.name for a in assets):
        problems.append(SpecProblem(None, "models", "no voice given: pass voice files (or a bundle.yaml)"))
    problems += _name_problems(assets)
    _raise_problems(origin, problems)
    return BundleSpec(target, dtype, tuple(assets), origin)
