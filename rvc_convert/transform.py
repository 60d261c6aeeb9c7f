"""Tensor transforms a plan entry asks for: weight-norm fusion, layout permutation, dtype cast."""

from __future__ import annotations

import numpy as np

from .errors import MappingError
from .reader import StreamedArray
from .rules import PlanEntry

FP16_MAX = 65504.0
OUTPUT_DTYPES = {"fp16": np.float16, "fp32": np.float32, "float16": np.float16, "float32": np.float32}


def fuse_weight_norm(g: np.ndarray, v: np.ndarray, axis: int, dtype: type = np.float32) -> np.ndarray:
    """w = g * v / ||v||, in the PyTorch layout; no epsilon (as torch computes it). The one fusion:
    the converter runs it in float32, the layer-wise proof in float64.

    `axis` is the one weight norm keeps (torch's `dim`, declared by the layer kind in
    mappings/layouts.yaml): 0 for a conv's output channels (g [O,1,1]; [I,1,1] for ConvTranspose),
    2 for a positional conv's kernel taps (g [1,1,K]). The norm runs over every other axis.
    """
    g_cast = np.asarray(g, dtype=dtype)
    w = np.array(v, dtype=dtype)  # a fresh copy: computed on in place below
    axes = tuple(a for a in range(w.ndim) if a != axis and w.shape[a] != 1)  # size-1 axes add nothing to a sum
    norm = np.sqrt(np.sum(np.square(w, dtype=dtype), axis=axes, keepdims=True, dtype=dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(w, norm, out=w)  # same order as g * (v / norm): identical bits, two fewer temporaries
        np.multiply(g_cast, w, out=w)
    return w


def float_facts(array: np.ndarray, constant: bool = False) -> tuple[bool, float, bool]:
    """(every value finite, largest |value|, every value equal) of a float array, without
    temporaries of its size: min and max (NaN and ±inf show in them); float16 by its bits (numpy's
    float16 arithmetic is emulated, ~10x slower than integer ops): finite when no exponent is all
    ones, its peak not measured (0.0: nothing to overflow into), equal when all bits are equal or
    all values are zeros of either sign. "Every value equal" is only worked out when `constant`
    (False otherwise)."""
    if array.size == 0:
        return True, 0.0, True
    if array.dtype == np.float16:
        bits = np.ascontiguousarray(array).view(np.uint16).reshape(-1)
        finite = not bool(np.any(np.bitwise_and(bits, 0x7C00) == 0x7C00))
        same = constant and (bool(np.all(bits == bits[0])) or not bool(np.any(np.bitwise_and(bits, 0x7FFF))))
        return finite, 0.0, same
    lo, hi = float(np.min(array)), float(np.max(array))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return False, float("inf"), False
    return True, max(-lo, hi), constant and lo == hi


def produce_target(entry: PlanEntry, arrays: dict[str, np.ndarray | StreamedArray], dtype: np.dtype | None = None) -> tuple[np.ndarray | StreamedArray, float]:
    """The target tensor of one plan entry, in the target layout, C-contiguous, cast to `dtype`
    (None: fused weights float32, everything else its source dtype); and the largest |value| before
    the cast (for the float16 range check; 0 when not measured).

    The cast comes before the transpose: it is elementwise, so the values are the same, and the
    transposing copy then moves float16 instead of float32. A streamed source that is copied
    unchanged stays streamed and uncast (its reader checks every block; the writer casts them).
    """
    if not entry.fuse_weight_norm and not entry.permute and isinstance(arrays[entry.sources["w"]], StreamedArray):
        return arrays[entry.sources["w"]], 0.0
    if entry.fuse_weight_norm:
        weight = fuse_weight_norm(arrays[entry.sources["g"]], arrays[entry.sources["v"]], entry.weight_norm_axis)
        source_name = entry.sources["v"]
    else:
        weight = np.asarray(arrays[entry.sources["w"]])
        source_name = entry.sources["w"]
    peak = 0.0
    if weight.dtype.kind == "f":
        finite, peak, _ = float_facts(weight)
        if not finite:
            bad = int(np.size(weight) - np.count_nonzero(np.isfinite(weight)))
            sources_finite = all(np.all(np.isfinite(np.asarray(arrays[key], dtype=np.float32))) for key in entry.sources.values())
            cause = "an all-zero weight_v row makes weight-norm fusion divide by zero" if sources_finite else "the source tensor holds NaN/Inf"
            raise MappingError(
                f"{source_name}: {bad} non-finite value(s) after conversion ({cause}); the checkpoint is damaged (retrain or re-export it)",
                finding="non_finite_weights",
            )
    if dtype is not None:
        weight = weight.astype(dtype, copy=False)
    if entry.permute:
        weight = np.transpose(weight, entry.permute)
    # Always a fresh C-contiguous array: a transposed view saved as raw bytes would be scrambled.
    return np.ascontiguousarray(weight), peak


def materialise(entry: PlanEntry, arrays: dict[str, np.ndarray | StreamedArray]) -> np.ndarray | StreamedArray:
    """Produce the target tensor for one plan entry in the target layout, C-contiguous.

    Fused weights come back as float32; everything else keeps its source dtype. The caller casts.
    """
    return produce_target(entry, arrays)[0]
