"""Bounds on every count, size and setting a file states, checked before anything is sized by it.

A config list, a fairseq `cfg`, a Hugging Face config.json or a converted file's metadata can say
anything: `n_layers` 1e8 would size a tensor table of gigabytes, a 200,000-digit dilation would
stall the runtime, a string where a count belongs would crash deep inside. Each family declares
what its config may hold (a `Spec` per field) and checks a config from a file against it, with
one-line errors that name the field and the value (quoted, bounded). Real models sit far inside
every bound; the bounds are listed in SECURITY.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import UnsupportedModelError
from ..safe_pickle import quote

# Shared bounds (a real RVC, HuBERT or RMVPE sits far inside each).
MAX_LAYERS = 64  # transformer / flow / U-Net levels and blocks (HuBERT large: 24)
MAX_CHANNELS = 16384  # any width (HuBERT large ffn: 4096)
MAX_KERNEL = 1024  # conv kernels (HuBERT's positional conv: 128)
MAX_STAGES = 16  # entries of a per-stage list (upsample stages, conv feature layers, resblocks)
MAX_RATE = 64  # one upsample rate or conv stride (RVC: 12 at most)
MAX_HOP = 4096  # samples per output frame (RVC: 480 at most)
MAX_SPEAKERS = 1 << 16
SAMPLE_RATES = (8000, 192000)


@dataclass(frozen=True)
class Spec:
    """What one config field may hold."""

    check: Callable[[Any, str], Any]  # (value, field name) -> value, or raises ValueError(reason)
    required: bool = True


def whole(low: int, high: int) -> Callable[[Any, str], int]:
    def check(value: Any, name: str) -> int:
        if type(value) is not int:
            raise ValueError(f"a {type(value).__name__}, where a whole number belongs")
        if not low <= value <= high:
            raise ValueError(f"outside {low}..{high}")
        return value

    return check


def real(low: float, high: float) -> Callable[[Any, str], float]:
    def check(value: Any, name: str) -> float:
        if type(value) not in (int, float):
            raise ValueError(f"a {type(value).__name__}, where a number belongs")
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"outside {low:g}..{high:g}")
        return value

    return check


def one_of(*choices: Any) -> Callable[[Any, str], Any]:
    def check(value: Any, name: str) -> Any:
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise ValueError(f"not one of {', '.join(map(repr, choices))}")
        return value

    return check


def flag(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise ValueError(f"a {type(value).__name__}, where true or false belongs")
    return value


def text(max_length: int = 200) -> Callable[[Any, str], str]:
    def check(value: Any, name: str) -> str:
        if type(value) is not str or len(value) > max_length:
            raise ValueError(f"not a text of at most {max_length} characters")
        return value

    return check


def optional(inner: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    return lambda value, name: None if value is None else inner(value, name)


def listed(item: Callable[[Any, str], Any], low: int = 1, high: int = MAX_STAGES) -> Callable[[Any, str], list]:
    def check(value: Any, name: str) -> list:
        if type(value) not in (list, tuple):
            raise ValueError(f"a {type(value).__name__}, where a list belongs")
        if not low <= len(value) <= high:
            raise ValueError(f"a list of {len(value)} entries (expected {low}..{high})")
        return [item(v, name) for v in value]

    return check


def check_config(
    config: Any, specs: Mapping[str, Spec], where: str, what: str = "config", relations: Callable[[dict[str, Any]], str | None] | None = None
) -> None:
    """Refuse (UnsupportedModelError, exit 2) a config that is not a dict of fields within their
    specs, or (once every field passed) whose fields break a relation between them: `relations`
    says which, or None. Fields the specs do not name are left alone (they size nothing)."""
    if not isinstance(config, dict):
        raise UnsupportedModelError(f"{where}: its {what} is {quote(config, 80)}, not a set of named fields: a damaged or forged file")
    for name, spec in specs.items():
        if name not in config:
            if spec.required:
                raise UnsupportedModelError(f"{where}: its {what} has no {name}: a damaged or forged file")
            continue
        check_field(config[name], name, spec.check, where, what)
    problem = relations(config) if relations is not None else None
    if problem:
        raise UnsupportedModelError(f"{where}: {what}: {problem}; no real model has that (a damaged or forged file)")


def check_field(value: Any, name: str, check: Callable[[Any, str], Any], where: str, what: str = "config") -> Any:
    try:
        return check(value, name)
    except ValueError as exc:
        raise UnsupportedModelError(f"{where}: {what} {name} is {quote(value, 80)}: {exc}; no real model has that (a damaged or forged file)") from None
