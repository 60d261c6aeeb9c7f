"""Linux CPU formulations shared by several models (docs/runtime_kernels.md): element-wise work that
MLX's Linux CPU backend does with scalar transcendental functions, done by numpy's vectorised ones.
Each takes and returns mx.array; callers choose them through kernels.cpu_kernels()."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .kernels import cpu_kernels


def softmax_numpy(x: mx.array, axis: int = -1) -> mx.array:
    """Softmax of a float32 array in numpy: max-shifted exp and a sum, in place (MLX's CPU exp is
    ~4x slower; the result is closer to the float64 softmax, 2e-8 vs 6.5e-8 max abs)."""
    values = np.array(x, dtype=np.float32)  # a private copy, computed on in place
    values -= values.max(axis=axis, keepdims=True)
    np.exp(values, out=values)
    values /= values.sum(axis=axis, keepdims=True)
    return mx.array(values)


def softmax(x: mx.array, axis: int = -1) -> mx.array:
    """mx.softmax, or softmax_numpy on the Linux CPU path (float32 only)."""
    if x.dtype == mx.float32 and cpu_kernels():
        return softmax_numpy(x, axis)
    return mx.softmax(x, axis=axis)
