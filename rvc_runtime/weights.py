"""Read converted weight files and load them into MLX modules strictly.

Two containers carry the same arrays and the same string metadata:
* ``.safetensors``: metadata in the header's ``__metadata__``;
* ``.npz``: metadata as a JSON object in the zip archive comment.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten


def read_npz_metadata(path: str | Path) -> dict[str, str]:
    """The JSON object in an .npz archive comment ({} when the comment is empty)."""
    with zipfile.ZipFile(path) as archive:
        comment = archive.comment
    if not comment.strip():
        return {}
    try:
        metadata = json.loads(comment.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the zip comment is not a JSON object ({error})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: the zip comment is JSON but not an object")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def load_weights(path: str | Path) -> tuple[dict[str, mx.array], dict[str, str]]:
    """Arrays by key and the file's metadata (string pairs) from .safetensors or .npz."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        arrays, metadata = mx.load(str(path), return_metadata=True)
        return dict(arrays), dict(metadata or {})
    if suffix == ".npz":
        return dict(mx.load(str(path))), read_npz_metadata(path)
    raise ValueError(f"{path}: unsupported weight file '{suffix}'; expected .safetensors or .npz")


def _keys_summary(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def check_weights(model: nn.Module, weights: dict[str, mx.array]) -> None:
    """Raise ValueError naming every missing, unexpected or wrongly shaped tensor."""
    expected = dict(tree_flatten(model.parameters()))
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(
        f"{k}: file {tuple(weights[k].shape)}, model {tuple(expected[k].shape)}"
        for k in set(expected) & set(weights)
        if tuple(weights[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_keys_summary(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_keys_summary(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} wrongly shaped: {_keys_summary(wrong, 4)}")
    if problems:
        raise ValueError(
            f"weights do not fit {type(model).__name__} ({'; '.join(problems)}). "
            "Was the file converted for this model and configuration?"
        )


def load_into(
    model: nn.Module, weights: dict[str, mx.array], dtype: mx.Dtype | None = None
) -> nn.Module:
    """Load `weights` into `model` strictly (every key, every shape), optionally casting floats."""
    check_weights(model, weights)
    if dtype is not None:
        weights = {
            k: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v
            for k, v in weights.items()
        }
    model.load_weights(list(weights.items()), strict=True)
    mx.eval(model.parameters())
    return model


def config_from_metadata(metadata: dict[str, Any], family: str, path: str | Path) -> dict[str, Any]:
    """The `config` metadata entry (a JSON object, or its JSON text) of a converted `family` file."""
    raw = metadata.get("config")
    if raw is None:
        raise ValueError(f"{path}: no 'config' metadata; convert the source model with rvc-convert to get one")
    config = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if config.get("architecture") != family:
        raise ValueError(f"{path}: holds a '{config.get('architecture')}' model, not {family}")
    return config
