"""Minimal MLX runtime for converted RVC models; needs only mlx and numpy (never rvc_convert).

Importing this package first gives MLX an optimized BLAS on Linux (see ``blas.py``), so import
``rvc_runtime`` before ``mlx.core``.
"""

from . import blas

blas.enable()  # must run before anything below imports mlx.core

from .blas import blas_status  # noqa: E402
from .synthesizer import Synthesizer, SynthesizerConfig  # noqa: E402
from . import decoders  # noqa: E402,F401  (registers Applio's MRF HiFi-GAN and RefineGAN decoders)
from .weights import load_into, load_weights  # noqa: E402

__all__ = ["Synthesizer", "SynthesizerConfig", "blas_status", "load_into", "load_weights"]
