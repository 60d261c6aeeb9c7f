"""How close two renderings of the same audio are: the figures the pipeline's parity is stated in.

* SNR (dB): 10·log10(Σ ref² / Σ (ours − ref)²), the reference's energy over the difference's.
* max |Δ|: the largest sample difference.
* correlation: Pearson correlation of the samples.
* spectrogram correlation: Pearson correlation of the two magnitude spectrograms (Hann window of
  2048 samples, hop 512, centred frames), flattened over time and frequency. It ignores phase, so
  it is the figure that says whether two outputs sound alike.
"""

from __future__ import annotations

import numpy as np

N_FFT, HOP = 2048, 512


def snr_db(ours: np.ndarray, ref: np.ndarray) -> float:
    ours, ref = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    noise = float(np.sum((ours - ref) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0:
        return float("inf")
    return 10 * np.log10(max(signal, 1e-300) / noise)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denominator) if denominator > 0 else float("nan")


def spectrogram(audio: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Magnitude STFT [frames, n_fft // 2 + 1] of reflect-centred frames, float64."""
    audio = np.asarray(audio, np.float64).ravel()
    if audio.size <= n_fft // 2:
        audio = np.pad(audio, (0, n_fft // 2 + 1 - audio.size))
    padded = np.pad(audio, n_fft // 2, mode="reflect")
    frames = 1 + (padded.size - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    index = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    return np.abs(np.fft.rfft(padded[index] * window, axis=1))


def spectrogram_correlation(ours: np.ndarray, ref: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> float:
    return correlation(spectrogram(ours, n_fft, hop), spectrogram(ref, n_fft, hop))


def compare_audio(ours: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """The figures above over the common length (and both lengths, which may differ)."""
    ours, ref = np.asarray(ours).ravel(), np.asarray(ref).ravel()
    n = min(ours.size, ref.size)
    a, b = ours[:n].astype(np.float64), ref[:n].astype(np.float64)
    return {
        "samples": n,
        "samples_ours": int(ours.size),
        "samples_reference": int(ref.size),
        "snr_db": snr_db(a, b),
        "max_abs": float(np.max(np.abs(a - b))) if n else 0.0,
        "correlation": correlation(a, b),
        "spectrogram_correlation": spectrogram_correlation(a, b),
    }


def format_correlation(value: float) -> str:
    """Enough decimals to show where a correlation near 1 stops being 9s (0.99999998, not 1.000000)."""
    if not np.isfinite(value) or value >= 1:
        return f"{value:.6f}"
    digits = int(np.clip(np.ceil(-np.log10(1 - value)) + 1, 4, 10))
    return f"{value:.{digits}f}"
