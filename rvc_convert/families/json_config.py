"""The base of the families whose configuration is a plain JSON-able dict (read from the weights,
checked against a `Spec` table, stored verbatim as the converted file's `config` metadata entry and
read back from there by the runtime): the content model and the pitch estimators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..reader import LoadedFile, iter_tensors
from ..safe_pickle import TensorRef
from .base import Family


def config_json(config: Any) -> str:
    """The `config` metadata entry: compact, keys sorted (the same config gives the same bytes)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def bare_state_dict(loaded: LoadedFile) -> dict[str, TensorRef] | None:
    """The file's tensors by key when it is nothing but a flat dict of tensors, else None."""
    root = loaded.root
    if isinstance(root, dict) and root and all(isinstance(v, TensorRef) for v in root.values()):
        return dict(iter_tensors(root))
    return None


class JsonConfigFamily(Family):
    """A family whose config is a JSON-able dict checked by `check_config`."""

    def check_config(self, config: Any, where: str, what: str) -> None:
        """Refuse a config no real model has (families/limits.py), before it sizes anything."""
        raise NotImplementedError

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> dict[str, Any]:
        self.check_config(stored, str(path), "metadata config")
        return stored

    def facts(self, config: Any) -> dict[str, str]:
        return {"config": config_json(config)} if isinstance(config, dict) else {}
