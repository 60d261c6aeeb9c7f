"""Spectral front-end pieces shared by the pitch models (numpy, float64 unless stated).

RMVPE uses mel filters on the HTK mel scale, FCPE on the Slaney scale; both normalise each
triangle to unit area (librosa's `norm="slaney"`). Facts: docs/pitch_models.md.
"""

from __future__ import annotations

import numpy as np

# Slaney's mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL  # 15
_SLANEY_LOG_STEP = np.log(6.4) / 27.0  # log-spacing above the break


def hann_window(length: int) -> np.ndarray:
    """Periodic Hann window (torch.hann_window's default)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def hz_to_mel_htk(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz_htk(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def hz_to_mel_slaney(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _SLANEY_HZ_PER_MEL
    with np.errstate(divide="ignore"):
        logarithmic = _SLANEY_BREAK_MEL + np.log(np.maximum(hz, 1e-300) / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return np.where(hz >= _SLANEY_BREAK_HZ, logarithmic, linear)


def mel_to_hz_slaney(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = _SLANEY_HZ_PER_MEL * mel
    logarithmic = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (mel - _SLANEY_BREAK_MEL))
    return np.where(mel >= _SLANEY_BREAK_MEL, logarithmic, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool = True) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, evenly spaced on the HTK (`htk=True`) or Slaney
    mel scale, each scaled by 2 / its bandwidth in Hz (unit area), as librosa.filters.mel."""
    to_mel, to_hz = (hz_to_mel_htk, mel_to_hz_htk) if htk else (hz_to_mel_slaney, mel_to_hz_slaney)
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = to_hz(np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - fft_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def frame_signal(signal: np.ndarray, frame_length: int, hop: int, frames: int) -> np.ndarray:
    """(frames, frame_length) read-only view: frame i is signal[i·hop : i·hop + frame_length]."""
    if frames <= 0 or (frames - 1) * hop + frame_length > signal.shape[-1]:
        raise ValueError(f"{frames} frames of {frame_length} at hop {hop} do not fit {signal.shape[-1]} samples")
    step = signal.strides[-1]
    return np.lib.stride_tricks.as_strided(signal, shape=(frames, frame_length), strides=(hop * step, step), writeable=False)
