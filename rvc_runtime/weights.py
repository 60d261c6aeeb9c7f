"""Read converted weight files and load them into MLX modules strictly.

Two containers carry the same arrays and the same string metadata:
* ``.safetensors``: metadata in the header's ``__metadata__``;
* ``.npz``: metadata as a JSON object in the zip archive comment.

A file is hostile until proven otherwise: its `config` metadata is checked against the model's
rules (types and bounds: `whole`, `real`, `listed`, `entries`, `choice`, `optional`) before it sizes a layer
or a buffer, then every tensor's name and shape against the model it built (`load_model`).
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, Callable

import mlx.core as mx
import mlx.nn as nn
import numpy as np
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
    """Arrays by key and the file's metadata (string pairs) from .safetensors or .npz. The arrays are
    read lazily (when evaluated); a damaged file is a ValueError naming it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".safetensors", ".npz"):
        raise ValueError(f"{path}: unsupported weight file '{suffix}'; expected .safetensors or .npz")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if suffix == ".safetensors":
            arrays, metadata = mx.load(str(path), return_metadata=True)
            return dict(arrays), {str(k): str(v) for k, v in (metadata or {}).items()}
        return dict(mx.load(str(path))), read_npz_metadata(path)
    except (RuntimeError, ValueError, IndexError, zipfile.BadZipFile) as error:  # what MLX's loaders raise for damaged files
        raise ValueError(f"{path}: not a readable weight file ({str(error).splitlines()[0][:200]})") from None


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
    try:
        mx.eval(model.parameters())  # reads the file's tensors: a cut-short one fails here
    except RuntimeError as error:
        raise ValueError(f"the tensor data cannot be read ({str(error).splitlines()[0][:200]}); the file is damaged") from None
    return model


def config_from_metadata(metadata: dict[str, Any], family: str, path: str | Path) -> dict[str, Any]:
    """The `config` metadata entry (a JSON object, or its JSON text) of a converted `family` file."""
    config = parse_config(metadata, path)
    if config.get("architecture") != family:
        architecture = str(config.get("architecture"))[:40]
        raise ValueError(f"{path}: holds a '{architecture}' model, not {family}")
    return config


def parse_config(metadata: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The `config` metadata entry (a JSON object, or its JSON text) of a converted file, any family."""
    raw = metadata.get("config")
    if raw is None:
        raise ValueError(f"{path}: no 'config' metadata; convert the source model with rvc-convert to get one")
    try:
        config = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: the 'config' metadata is not JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the 'config' metadata is not a JSON object")
    return dict(config)


def load_model(cls: Callable[[dict[str, Any]], nn.Module], path: str | Path, family: str, rules: dict[str, Rule], dtype: mx.Dtype | None) -> Any:
    """The converted `family` file at `path` as `cls(config)` with its weights loaded strictly: the
    `config` metadata checked against `rules` first, so no count or size from the file builds
    anything before it is known to be sane; every error a ValueError naming the file."""
    weights, metadata = load_weights(path)
    config = config_from_metadata(metadata, family, path)
    check_config(config, rules, f"{path}: config")
    try:
        return load_into(cls(config), weights, dtype)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


# --- what a converted file's config may say -------------------------------------------------------
# A real RVC, HuBERT, RMVPE, CREPE or FCPE sits far inside every bound (the converter holds the
# files it writes to the same ones).

MAX_LAYERS = 64  # transformer / flow / U-Net levels and blocks
MAX_CHANNELS = 16384  # any width
MAX_KERNEL = 1024  # conv kernels
MAX_ITEMS = 16  # entries of a per-stage list
MAX_RATE = 64  # one upsample rate or stride
MAX_FFT = 16384  # STFT sizes
MAX_HOP = 4096  # samples per frame
SAMPLE_RATES = (8000, 192000)

Rule = Callable[[Any], None]  # raises ValueError(reason) for a value the field may not hold
_ABSENT = object()


def whole(low: int, high: int) -> Rule:
    def rule(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")

    return rule


def real(low: float, high: float) -> Rule:
    def rule(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"must be a number from {low:g} to {high:g}")

    return rule


def listed(item: Rule, fewest: int = 1, most: int = MAX_ITEMS) -> Rule:
    def rule(value: Any) -> None:
        if not isinstance(value, (list, tuple)) or not fewest <= len(value) <= most:
            raise ValueError(f"must be a list of {fewest} to {most} entries")
        for entry in value:
            item(entry)

    return rule


def entries(*items: Rule) -> Rule:
    """A list of exactly len(items) entries, entry i held to items[i] ([channels, kernel, stride])."""

    def rule(value: Any) -> None:
        if not isinstance(value, (list, tuple)) or len(value) != len(items):
            raise ValueError(f"must be a list of {len(items)} entries")
        for entry, item in zip(value, items):
            item(entry)

    return rule


def choice(*allowed: Any) -> Rule:
    def rule(value: Any) -> None:
        if not any(type(value) is type(a) and value == a for a in allowed):
            raise ValueError(f"must be one of {', '.join(map(repr, allowed))}")

    return rule


def optional(inner: Rule) -> Rule:
    """The field may be absent or null; otherwise `inner` holds."""

    def rule(value: Any) -> None:
        if value is not _ABSENT and value is not None:
            inner(value)

    rule.optional = True  # type: ignore[attr-defined]
    return rule


# A log-mel front end's fields (RMVPE, FCPE): STFT sizes, mel filter bank, log floor.
MEL_FRONT_END_RULES: dict[str, Rule] = {
    "sample_rate": whole(*SAMPLE_RATES),
    "n_mels": whole(1, 1024),
    "n_fft": whole(16, MAX_FFT),
    "win_length": whole(16, MAX_FFT),
    "hop_length": whole(1, MAX_HOP),
    "fmin": real(0.0, SAMPLE_RATES[1] / 2),
    "fmax": real(0.0, SAMPLE_RATES[1] / 2),
    "mel_clamp": real(1e-12, 1.0),
}


def check_mel_front_end(config: dict[str, Any]) -> None:
    """ValueError unless the (rule-checked) STFT sizes fit together: window and hop within n_fft."""
    if config["win_length"] > config["n_fft"] or config["hop_length"] > config["n_fft"]:
        raise ValueError(f"win_length {config['win_length']} and hop_length {config['hop_length']} must not exceed n_fft {config['n_fft']}")

def check_config(config: dict[str, Any], rules: dict[str, Rule], where: str) -> None:
    """Raise ValueError naming the first field of `config` that breaks its rule (or is missing)."""
    for name, rule in rules.items():
        value = config.get(name, _ABSENT)
        if value is _ABSENT and not getattr(rule, "optional", False):
            raise ValueError(f"{where} lacks '{name}'; re-convert the model with rvc-convert")
        try:
            rule(value)
        except ValueError as reason:
            raise ValueError(f"{where} '{name}' = {json.dumps(value, default=str)[:60]} {reason}; the file is damaged or forged") from None
