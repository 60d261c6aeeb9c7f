"""Minimal MLX runtime for converted RVC models; needs only mlx and numpy (never rvc_convert).

Importing this package first gives MLX an optimized BLAS on Linux (``blas.py``; see what is active
with ``rvc_runtime.blas.status()`` or ``python -m rvc_runtime``), so import ``rvc_runtime`` before
``mlx.core``. Which formulation the hot layers use (MLX's stock ops or the Linux CPU kernels) is
chosen in one place, ``kernels.py``.
"""

from . import blas

blas.enable()  # must run before anything below imports mlx.core

from . import kernels  # noqa: E402
from .blas import blas_status  # noqa: E402
from .synthesizer import Synthesizer, SynthesizerConfig  # noqa: E402
from . import decoders  # noqa: E402,F401  (registers Applio's MRF HiFi-GAN and RefineGAN decoders)
from .weights import load_into, load_weights  # noqa: E402

__all__ = ["Synthesizer", "SynthesizerConfig", "blas", "blas_status", "kernels", "load_into", "load_weights"]
