"""Layer-wise proof: every conv / linear / embedding of the converted file, run on random input in
MLX, against the source weight run with PyTorch semantics in numpy float64.

Which computation a layer is comes from its rule's layer kind; the weight-norm axis comes from the
plan entry (declared in mappings/layouts.yaml), never re-derived from shapes, so an axis mistake
in the conversion shows here as an error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .families import ModelInfo
from .parity import relative_error
from .reader import StreamedArray
from .reports import LAYERWISE_MAX_RELATIVE_ERROR, Check, ValidationReport
from .rules import PlanEntry, load_layer_kinds
from .reader import release_pages
from .transform import fuse_weight_norm

CACHE_LIMIT = 64 << 20  # bytes of freed MLX buffers kept for reuse before they are handed back


def source_weight(entry: PlanEntry, tensors: dict) -> np.ndarray:
    """The source layer's effective weight in float64, PyTorch layout (weight norm fused along the
    plan entry's declared axis)."""
    if entry.fuse_weight_norm:
        return fuse_weight_norm(tensors[entry.sources["g"]].array, tensors[entry.sources["v"]].array, entry.weight_norm_axis, np.float64)
    return tensors[entry.sources["w"]].array.astype(np.float64)


def _torch_conv1d(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    """PyTorch Conv1d semantics on [T, I] input with an (O, I, K) weight, float64: the input's windows
    [T', I*K] times the flattened weight, one BLAS matmul."""
    xp = np.pad(x, ((pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2], axis=0)  # [T', I, K]
    return windows.reshape(windows.shape[0], -1) @ w.reshape(w.shape[0], -1).T


def _torch_conv_transpose1d(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """PyTorch ConvTranspose1d semantics on [T, I] input with an (I, O, K) weight, float64."""
    t, k = x.shape[0], w.shape[2]
    taps = np.ascontiguousarray(w.transpose(2, 0, 1))  # [K, I, O]: each tap a contiguous matrix for BLAS
    out = np.zeros(((t - 1) * stride + k, w.shape[1]))
    for tap in range(k):
        out[tap : tap + (t - 1) * stride + 1 : stride] += x @ taps[tap]
    return out[pad : out.shape[0] - pad]


def _torch_conv2d(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    """PyTorch Conv2d semantics on [H, W, I] input with an (O, I, KH, KW) weight, float64."""
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(0, 1))  # [H', W', I, KH, KW]
    h, wd = windows.shape[:2]
    return (windows.reshape(h * wd, -1) @ w.reshape(w.shape[0], -1).T).reshape(h, wd, w.shape[0])


def _torch_conv_transpose2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """PyTorch ConvTranspose2d (stride 1, no padding) on [H, W, I] input with an (I, O, KH, KW) weight."""
    h, wd = x.shape[:2]
    kh, kw = w.shape[2:]
    taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # [KH, KW, I, O]
    out = np.zeros((h + kh - 1, wd + kw - 1, w.shape[1]))
    for i in range(kh):
        for j in range(kw):
            out[i : i + h, j : j + wd] += x @ taps[i, j]
    return out


def table_error(source: Any, converted: Any) -> float:
    """Relative RMS error of a table copied unchanged, against its source, one row block at a time
    (a streamed source is never held whole; integer tables must match exactly to score 0)."""
    blocks = source if isinstance(source, StreamedArray) else [np.asarray(source)]
    rows = converted.shape[0] if converted.ndim else 1
    err2 = ref2 = 0.0
    row = 0
    for block in blocks:
        count = block.shape[0] if block.ndim else 1
        ours = np.array(converted[row : row + count] if converted.ndim else converted, dtype=np.float64)
        if ours.shape != block.shape:
            return math.inf
        ref = block.astype(np.float64)
        err2 += float(np.sum(np.square(ours - ref)))
        ref2 += float(np.sum(np.square(ref)))
        row += count
    if row != rows:
        return math.inf
    return math.sqrt(err2 / ref2) if ref2 > 0 else math.sqrt(err2)


def layerwise_check(
    info: ModelInfo, plan_entries: list[PlanEntry], converted_weights: dict[str, Any], report: ValidationReport, tolerance: float = LAYERWISE_MAX_RELATIVE_ERROR
) -> None:
    """Compare every checked layer; consumes `converted_weights` (mx.load of the converted file,
    lazy: each weight is read when its layer is compared and dropped after), so memory holds one
    layer at a time, not the model."""
    import mlx.core as mx

    kinds, _ = load_layer_kinds()
    rng = np.random.default_rng(0)
    worst, checked, failures = 0.0, 0, []
    for entry in plan_entries:
        check = kinds[entry.kind].check
        if check is None:
            continue
        if check == "table":
            checked += 1
            error = table_error(info.tensors[entry.sources["w"]].array, converted_weights.pop(entry.target))
            worst = max(worst, error)
            if not error <= tolerance:
                failures.append(f"{entry.target} ({entry.kind}): relative error {error:.2e}")
            continue
        source = source_weight(entry, info.tensors)
        for source_key in entry.sources.values():  # read once: let its mapped pages go
            release_pages(info.tensors[source_key].array)
        target = converted_weights.pop(entry.target).astype(mx.float32)
        if check == "conv1d":
            k = source.shape[2]
            x = rng.standard_normal((16 + k, source.shape[1]))
            expected = _torch_conv1d(x, source, k // 2)
            got = np.array(mx.conv1d(mx.array(x[None], dtype=mx.float32), target, padding=k // 2)[0])
        elif check == "conv_transpose1d":
            k = source.shape[2]
            stride = max(1, k // 2)
            pad = (k - stride) // 2
            x = rng.standard_normal((12, source.shape[0]))
            expected = _torch_conv_transpose1d(x, source, stride, pad)
            got = np.array(mx.conv_transpose1d(mx.array(x[None], dtype=mx.float32), target, stride=stride, padding=pad)[0])
        elif check == "conv2d":
            kh, kw = source.shape[2:]
            # Unpadded: every tap meets data, and a tall (512, 1) kernel costs 7 x 6 outputs, not 519 x 6.
            x = rng.standard_normal((6 + kh, 5 + kw, source.shape[1]))
            expected = _torch_conv2d(x, source, 0)
            got = np.array(mx.conv2d(mx.array(x[None], dtype=mx.float32), target)[0])
        elif check == "conv_transpose2d":
            x = rng.standard_normal((5, 4, source.shape[0]))
            expected = _torch_conv_transpose2d(x, source)
            got = np.array(mx.conv_transpose2d(mx.array(x[None], dtype=mx.float32), target)[0])
        elif check == "linear" and source.ndim == 2:
            x = rng.standard_normal((8, source.shape[1]))
            expected = x @ source.T
            got = np.array(mx.array(x, dtype=mx.float32) @ target.T)
        elif check == "embedding":
            idx = rng.integers(0, source.shape[0], size=8)
            expected = source[idx]
            got = np.array(target[mx.array(idx)])
        else:  # linear bias: a vector, compared directly
            expected, got = source, np.array(target)
        checked += 1
        del target
        if mx.get_cache_memory() > CACHE_LIMIT:  # the converted weights are visited once: keep no spares
            mx.clear_cache()
        error = relative_error(got, expected) if expected.shape == got.shape else math.inf
        worst = max(worst, error)
        if not error <= tolerance:
            failures.append(f"{entry.target} ({entry.kind}): relative error {error:.2e}")
    status = "fail" if failures else "pass"
    detail = f"{checked} layers, worst relative error {worst:.2e} (limit {tolerance:g})"
    if failures:
        detail += ": " + "; ".join(failures[:4])
    report.checks.append(Check("layerwise", status, detail, {"layers": checked, "worst_relative_error": worst}))
