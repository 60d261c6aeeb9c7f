"""RVC's f0 methods by name: `load_f0_method("crepe-tiny", path)` gives an object whose
`f0(audio16k)` returns Hz per 10 ms frame (1 + len // 160 frames, 0 = unvoiced) with the method's
own post-processing inside, as RVC WebUI and Applio run it:

    rmvpe       RMVPE, voicing threshold 0.03 (the file's config)
    crepe       CREPE full: Viterbi 50-1100 Hz in chunks of 512, median-3 / mean-3, periodicity < 0.1 -> 0
    crepe-tiny  the same with CREPE tiny
    fcpe        FCPE: local argmax, threshold 0.006

The file must hold the model the name asks for (a crepe-tiny file is not "crepe").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .crepe import CREPE
from .fcpe import FCPE
from .rmvpe import RMVPE
from .weights import load_weights, parse_config

F0_METHODS = ("rmvpe", "crepe", "crepe-tiny", "fcpe")
_CREPE_CAPACITY = {"crepe": "full", "crepe-tiny": "tiny"}


def load_f0_method(method: str, path: str | Path) -> Any:
    """The converted model at `path` as the named f0 method (RMVPE, CREPE or FCPE; each has `f0(audio16k)`)."""
    if method not in F0_METHODS:
        raise ValueError(f"unknown f0 method {method!r}; expected one of {', '.join(F0_METHODS)}")
    if method == "rmvpe":
        return RMVPE.from_file(path)
    if method == "fcpe":
        return FCPE.from_file(path)
    model = CREPE.from_file(path)
    capacity = model.config.get("capacity")
    if capacity != _CREPE_CAPACITY[method]:
        raise ValueError(f"{path}: holds CREPE '{capacity}', but the f0 method {method!r} is CREPE '{_CREPE_CAPACITY[method]}'")
    return model


def f0_method_of(path: str | Path) -> str:
    """Which f0 method a converted pitch-model file serves ('rmvpe', 'crepe', 'crepe-tiny', 'fcpe')."""
    _, metadata = load_weights(path)
    config = parse_config(metadata, path)
    family = str(config.get("architecture"))[:40]
    if family == "crepe":
        capacity = str(config.get("capacity"))[:40]
        return next((method for method, held in _CREPE_CAPACITY.items() if held == capacity), f"crepe-{capacity}")
    if family in ("rmvpe", "fcpe"):
        return family
    raise ValueError(f"{path}: holds a '{family}' model, not a pitch model ({', '.join(F0_METHODS)})")
