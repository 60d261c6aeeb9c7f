"""What is this file? Ask every registered family; exactly one may claim it.

An rvc-convert output is recognised by its own metadata (layout `mlx`, `family`) and read back
through the family it names. Every other file is offered to each family's `recognise`; the one
that claims it reads its configuration (families/<name>/). No family is named here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import RulePackError, RvcConvertError, UnsupportedModelError
from .families import ModelInfo, family_named, registered_families
from .reader import LoadedFile, iter_tensors
from .safe_pickle import quote

CONVERTED_LAYOUT = "mlx"


def detect(loaded: LoadedFile) -> ModelInfo:
    """Identify the file. Raises UnsupportedModelError for anything we cannot convert, saying why."""
    try:
        return _detect(loaded)
    except RvcConvertError:
        raise
    except Exception as exc:  # shapes or config fields of a type no real model has
        raise UnsupportedModelError(f"{loaded.path}: malformed model ({type(exc).__name__}: {str(exc)[:120]}); it does not look like any model rvc-convert knows") from None


def _detect(loaded: LoadedFile) -> ModelInfo:
    if loaded.metadata.get("layout") == CONVERTED_LAYOUT and "family" in loaded.metadata:
        return _detect_converted(loaded)
    claims = [(family, found) for family in registered_families() if (found := family.recognise(loaded)) is not None]
    if len(claims) == 1:
        family, found = claims[0]
        return family.read(loaded, found)
    root = loaded.root
    if claims:
        names = " and ".join(family.name for family, _ in claims)
        raise UnsupportedModelError(f"{loaded.path}: its tensors look like a {names} at once (top level: {_describe(root)}): a mixed or damaged file")
    tensors = dict(iter_tensors(root)) if isinstance(root, (dict, list, tuple)) else {}
    if not tensors:
        raise UnsupportedModelError(f"{loaded.path}: holds no tensors (top level: {_describe(root)}): not a model checkpoint")
    sample = ", ".join(list(tensors)[:3])
    supported = ", ".join(family.title for family in registered_families())
    raise UnsupportedModelError(f"{loaded.path}: not a model family rvc-convert knows (top level: {_describe(root)}; tensors like {sample}); supported: {supported}")


def _describe(root: Any) -> str:
    if isinstance(root, dict):
        keys = list(root)[:6]
        return "{" + ", ".join(quote(k, 40) for k in keys) + (", …}" if len(root) > 6 else "}")
    return type(root).__name__


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _detect_converted(loaded: LoadedFile) -> ModelInfo:
    """An rvc-convert output: family, config and rule pack from its metadata, checked against the registry."""
    meta = loaded.metadata
    family = family_named(meta["family"])
    try:
        stored = json.loads(meta.get("config", "null"), parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise UnsupportedModelError(f"{loaded.path}: its rvc-convert metadata has an unreadable config") from None
    pack = meta.get("rvc_convert.rule_pack", family.name)
    if pack not in family.rule_packs:
        # A name from the file chooses among the family's registered packs only, never a path.
        raise RulePackError(
            f"{loaded.path}: its metadata names the rule pack {quote(pack, 80)}, which is not one of the {family.name} packs ({', '.join(family.rule_packs)}): "
            f"rule packs are chosen by name, never by path"
        )
    # Checked by the family (types, bounds) before anything is sized by it.
    config = family.config_from_metadata(meta, stored, loaded.path)
    source_sha256, source_kind = meta.get("source_sha256", ""), meta.get("source_kind", "")
    if not re.fullmatch(r"(?:[0-9a-f]{64})?", source_sha256) or not re.fullmatch(r"[a-z0-9-]{0,40}", source_kind):
        raise UnsupportedModelError(f"{loaded.path}: its metadata's source_sha256 {quote(source_sha256, 80)} / source_kind {quote(source_kind, 60)} are not what rvc-convert writes: a damaged or forged file")
    evidence = [f"rvc-convert metadata: family {family.name}, layout {quote(meta.get('layout'), 20)}, converter {quote(meta.get('rvc_convert.version', '?'), 40)}"]
    tensors = dict(iter_tensors(loaded.root))
    info = ModelInfo(family.name, "converted", pack, tensors, config, evidence, source_fields={"source_sha256": source_sha256, "source_kind": source_kind})
    # A family without a config check of its own must still not fail later on a forged config:
    # what reports and planning ask of it is asked here, where any failure is the file's (exit 2).
    info.summary(), info.variant
    return info
