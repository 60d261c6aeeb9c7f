"""Tensor transforms a plan entry asks for: weight-norm fusion, layout permutation, dtype cast."""

from __future__ import annotations

import numpy as np

from .errors import MappingError
from .rules import PlanEntry

FP16_MAX = 65504.0
OUTPUT_DTYPES = {"fp16": np.float16, "fp32": np.float32, "float16": np.float16, "float32": np.float32}


def fuse_weight_norm(g: np.ndarray, v: np.ndarray) -> np.ndarray:
    """w = g * v / ||v||, in float32, in the PyTorch layout; no epsilon (as torch computes it).

    The norm runs over every axis where g has size 1: all but the output channels of a conv (g is
    [O,1,1], or [I,1,1] for ConvTranspose), all but the kernel taps of a positional conv ([1,1,K]).
    """
    g32 = np.asarray(g, dtype=np.float32)
    w = np.array(v, dtype=np.float32)  # a fresh copy: computed on in place below
    axes = tuple(axis for axis in range(w.ndim) if g32.shape[axis] == 1 and w.shape[axis] != 1)
    norm = np.sqrt(np.sum(np.square(w, dtype=np.float32), axis=axes, keepdims=True, dtype=np.float32))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(w, norm, out=w)  # same order as g * (v / norm): identical bits, two fewer temporaries
        np.multiply(g32, w, out=w)
    return w


def materialise(entry: PlanEntry, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Produce the target tensor for one plan entry in the target layout, C-contiguous.

    Fused weights come back as float32; everything else keeps its source dtype. The caller casts.
    """
    if entry.fuse_weight_norm:
        weight = fuse_weight_norm(arrays[entry.sources["g"]], arrays[entry.sources["v"]])
        source_name = entry.sources["v"]
    else:
        weight = np.asarray(arrays[entry.sources["w"]])
        source_name = entry.sources["w"]
    if weight.dtype.kind == "f" and not np.all(np.isfinite(weight)):
        bad = int(np.size(weight) - np.count_nonzero(np.isfinite(weight)))
        sources_finite = all(np.all(np.isfinite(np.asarray(arrays[key], dtype=np.float32))) for key in entry.sources.values())
        cause = "an all-zero weight_v row makes weight-norm fusion divide by zero" if sources_finite else "the source tensor holds NaN/Inf"
        raise MappingError(
            f"{source_name}: {bad} non-finite value(s) after conversion ({cause}); the checkpoint is damaged (retrain or re-export it)",
            finding="non_finite_weights",
        )
    if entry.permute:
        weight = np.transpose(weight, entry.permute)
    # Always a fresh C-contiguous array: a transposed view saved as raw bytes would be scrambled.
    return np.ascontiguousarray(weight)
