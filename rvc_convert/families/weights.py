"""Small helpers families use to read configurations off tensor shapes."""

from __future__ import annotations

import re
from typing import Any, Iterable

from ..errors import UnsupportedModelError


def shape(value: Any) -> tuple[int, ...]:
    """The shape of a TensorRef, an array, or a shape."""
    array = getattr(value, "array", value)
    return tuple(int(d) for d in (array.shape if hasattr(array, "shape") else array))


def weight_shape(tensors: dict[str, Any], key: str) -> tuple[int, ...] | None:
    """The PyTorch shape of the weight `key` in any weight-norm spelling (`weight`, `weight_v`,
    parametrizations `original1`), or None when the file has none."""
    for spelling in (key, f"{key}_v", key.replace(".weight", ".parametrizations.weight.original1")):
        if spelling in tensors:
            return shape(tensors[spelling])
    return None


def batch_norm(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    """A BatchNorm's tensors and shapes (num_batches_tracked excluded: rule packs drop it)."""
    return {f"{prefix}.{p}": (channels,) for p in ("weight", "bias", "running_mean", "running_var")}


def indices(names: Iterable[str], pattern: str) -> list[int]:
    """The distinct integers group 1 of `pattern` captures over the names it fully matches, sorted."""
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for n in names if (m := regex.fullmatch(n))})


def require(condition: bool, message: str) -> None:
    """UnsupportedModelError(message) unless `condition`."""
    if not condition:
        raise UnsupportedModelError(message)
