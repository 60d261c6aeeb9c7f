"""Signal pieces of Applio's decoders: sine sources, linear interpolation, the Kaiser sinc resampler.

Channels-last ([B, T, C]) like the rest of the runtime. Facts: docs/vocoders.md.
"""

from __future__ import annotations

import math
from functools import lru_cache

import mlx.core as mx
import numpy as np

from ..synthesizer import NOISE_STD as VOICED_NOISE_STD
from ..synthesizer import SINE_AMP  # the NSF source's constants, as the classic decoder's

UNVOICED_NOISE_STD = SINE_AMP / 3

# The resampler RefineGAN calls (torchaudio's sinc interpolation with a Kaiser window, its "best"
# parameters): 64 zero crossings each side, cut-off at 0.9476 of the output Nyquist, beta 14.77.
SINC_ZERO_CROSSINGS = 64
SINC_ROLLOFF = 0.9475937167399596
SINC_KAISER_BETA = 14.769656459379492


# ---------------------------------------------------------------- sources (numpy, float64)


def sine_excitation(
    f0: np.ndarray, sample_rate: int, harmonics: int, initial_phase: np.ndarray | None, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(excitation e [B, N, H], voiced flag uv [B, N, 1]) from per-sample f0 [B, N] in Hz.

    Harmonic h (1..H) advances by frac(h f0_n / sr) per sample and starts at initial_phase[:, h-1]
    (cycles): sine = 0.1 sin(2 pi phase); e = sine uv + noise (0.003 where voiced, 0.1/3 where not).

    The increment is rounded as upstream computes it, (f0 h) / sr in float32: a frame repeats one
    increment hop times, so its rounding error adds up coherently (measured on the golden MRF
    40k: the harmonics move from 85 to 91 dB SNR against upstream). The phase then accumulates in
    float64, so long inputs do not drift.
    """
    f0 = np.asarray(f0, dtype=np.float32)
    harmonic = np.arange(1, harmonics + 1, dtype=np.float32)
    steps = np.mod((f0[..., None] * harmonic) / np.float32(sample_rate), np.float32(1.0))
    phase = np.cumsum(steps, axis=1, dtype=np.float64)
    if initial_phase is not None:
        phase += np.asarray(initial_phase, dtype=np.float64)[:, None, :]
    sine = SINE_AMP * np.sin(2 * np.pi * np.mod(phase, 1.0))
    uv = (f0 > 0)[..., None].astype(np.float64)
    amplitude = uv * VOICED_NOISE_STD + (1 - uv) * UNVOICED_NOISE_STD
    return sine * uv + amplitude * np.asarray(noise, dtype=np.float64), uv


def interpolate_linear(f0: np.ndarray, factor: int) -> np.ndarray:
    """[B, T] -> [B, T * factor] by linear interpolation at half-pixel centres (PyTorch's
    `interpolate(mode="linear", align_corners=False)`): output i reads input (i + 0.5) s - 0.5,
    clamped to [0, T - 1], s = 1 / factor.

    PyTorch holds s in float32; for a factor that is not a power of two (hop 320, 400, 480) the
    rounded s makes every read position drift by i x (its rounding error), and the sine phase
    integrates that drift. Using the same float32 s keeps the phase on upstream's (about 20 dB
    closer to upstream's audio on the golden RefineGAN); the rest is computed in float64.
    """
    f0 = np.asarray(f0, dtype=np.float64)
    frames = f0.shape[-1]
    step = float(np.float32(1.0 / factor))
    source = np.clip((np.arange(frames * factor) + 0.5) * step - 0.5, 0, frames - 1)
    left = np.floor(source).astype(np.int64)
    right = np.minimum(left + 1, frames - 1)
    weight = source - left
    return f0[..., left] * (1 - weight) + f0[..., right] * weight


# ---------------------------------------------------------------- MLX layers


def upsample_linear(x: mx.array, factor: int) -> mx.array:
    """[B, L, C] -> [B, L * factor, C], the same half-pixel linear interpolation in MLX. For an integer
    factor the weights repeat with period `factor`: output n*factor + p mixes x[n] with x[n-1]
    (p < factor/2) or x[n+1], edges clamped."""
    if factor == 1:
        return x
    prev = mx.concatenate([x[:, :1], x[:, :-1]], axis=1)
    nxt = mx.concatenate([x[:, 1:], x[:, -1:]], axis=1)
    phases = []
    for p in range(factor):
        a = (p + 0.5) / factor - 0.5
        phases.append(x * (1 - a) + nxt * a if a >= 0 else prev * (-a) + x * (1 + a))
    b, length, c = x.shape
    return mx.stack(phases, axis=2).reshape(b, length * factor, c)


@lru_cache(maxsize=None)
def sinc_kernel(factor: int) -> np.ndarray:
    """The Kaiser-windowed sinc low-pass for downsampling by an integer `factor`, as float32 taps
    h_m for m = -w .. w + factor - 1 (w = ceil(64 factor / rolloff)):
    h_m = (rolloff / factor) sinc(t) I0(beta sqrt(1 - (t/64)^2)) / I0(beta), t = clamp(rolloff m / factor, +-64)."""
    width = math.ceil(SINC_ZERO_CROSSINGS * factor / SINC_ROLLOFF)
    m = np.arange(-width, width + factor, dtype=np.float64)
    t = np.clip(SINC_ROLLOFF * m / factor, -SINC_ZERO_CROSSINGS, SINC_ZERO_CROSSINGS)
    window = np.i0(SINC_KAISER_BETA * np.sqrt(1 - (t / SINC_ZERO_CROSSINGS) ** 2)) / np.i0(SINC_KAISER_BETA)
    return (SINC_ROLLOFF / factor * np.sinc(t) * window).astype(np.float32)


@lru_cache(maxsize=None)
def _banded_kernel(factor: int) -> tuple[np.ndarray, int, int]:
    """(M [J, S], J, width): J consecutive outputs of the resampler as one matrix over an input
    segment of S = (J-1) factor + K samples, M[j, j*factor + k] = h_k; J*factor >= K, so a segment
    spans at most two blocks of J*factor input samples."""
    taps = sinc_kernel(factor)
    k = taps.size
    outputs = -(-k // factor)
    segment = (outputs - 1) * factor + k
    banded = np.zeros((outputs, segment), dtype=np.float32)
    for j in range(outputs):
        banded[j, j * factor : j * factor + k] = taps
    return banded, outputs, (k - factor) // 2


def sinc_downsample(x: mx.array, factor: int) -> mx.array:
    """[B, L, C] -> [B, ceil(L / factor), C]: y[j] = sum_m x[j*factor + m] h_m, x zero outside [0, L).

    One filter for every channel. Computed as a single matrix product: the zero-padded input is cut
    into blocks of J*factor samples, each output chunk of J samples reads its block and the start of
    the next, and the banded matrix M maps that segment to the chunk (about 2x the multiply-adds of
    a direct convolution, in one BLAS call instead of thousands of tiny ones).
    """
    if factor == 1:
        return x
    banded, outputs, width = _banded_kernel(factor)
    b, length, c = x.shape
    n_out = -(-length // factor)
    chunks = -(-n_out // outputs)
    block = outputs * factor
    segment = banded.shape[1]
    padded = mx.pad(x, [(0, 0), (width, (chunks + 1) * block - length - width), (0, 0)])
    blocks = padded.reshape(b, chunks + 1, block, c)
    frames = mx.concatenate([blocks[:, :-1], blocks[:, 1:, : segment - block]], axis=2)  # [B, chunks, S, C]
    columns = frames.transpose(2, 0, 1, 3).reshape(segment, b * chunks * c)
    y = mx.array(banded).astype(x.dtype) @ columns  # [J, B * chunks * C]
    y = y.reshape(outputs, b, chunks, c).transpose(1, 2, 0, 3).reshape(b, chunks * outputs, c)
    return y[:, :n_out]
