"""Test signals for the pitch models: the golden speech and synthetic tones of known frequency.

Tones are harmonic (partials decaying by 0.7 each, none above 7 kHz) rather than pure sines: the
published CREPE and FCPE weights were trained on voice and instruments and track harmonic tones
within a few cents, while on pure sines both are off by up to ~20 cents at some frequencies
(measured; the references are off the same way).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from golden import golden_path

SAMPLE_RATE = 16000
HOP = 160


def speech() -> np.ndarray:
    """The golden 16 kHz float32 speech file (2.52 s, a male voice around 100-120 Hz)."""
    from scipy.io import wavfile

    rate, samples = wavfile.read(golden_path("audio/speech_16k.wav"))
    assert rate == SAMPLE_RATE and samples.dtype == np.float32 and samples.ndim == 1
    return samples


def _harmonics(phase: np.ndarray, fundamental: np.ndarray, amplitude: float) -> np.ndarray:
    signal = np.zeros_like(phase)
    for k in range(1, 80):
        signal += np.where(k * fundamental < 7000.0, np.sin(k * phase) * 0.7 ** (k - 1), 0.0)
    return (amplitude * signal / np.max(np.abs(signal))).astype(np.float32)


def stepped_tone(frequencies: tuple[float, ...] = (110.0, 220.0, 330.0, 440.0), seconds_each: float = 0.2, amplitude: float = 0.5) -> np.ndarray:
    """Harmonic tones of the given frequencies one after the other (phase-continuous)."""
    n = int(seconds_each * SAMPLE_RATE)
    fundamental = np.repeat(np.asarray(frequencies, dtype=np.float64), n)
    phase = 2 * np.pi * np.cumsum(fundamental) / SAMPLE_RATE
    return _harmonics(phase, fundamental, amplitude)


def sweep(f_start: float, f_end: float, seconds: float, amplitude: float = 0.5) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """A harmonic exponential sweep and its fundamental in Hz as a function of time in seconds."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rate = np.log(f_end / f_start) / seconds

    def fundamental(time: np.ndarray) -> np.ndarray:
        return f_start * np.exp(rate * np.asarray(time, dtype=np.float64))

    phase = 2 * np.pi * f_start * np.expm1(rate * t) / rate
    return _harmonics(phase, fundamental(t), amplitude), fundamental


def frame_times(frames: int) -> np.ndarray:
    """The time of each f0 frame: frame i belongs to i · 10 ms (RMVPE's and RVC's convention)."""
    return np.arange(frames) * HOP / SAMPLE_RATE


def cents(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1200 · log2(estimate / truth); NaN where the estimate is unvoiced (0)."""
    estimate = np.asarray(estimate, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(estimate > 0, 1200.0 * np.log2(estimate / np.asarray(truth, dtype=np.float64)), np.nan)


def compare_f0(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Voicing agreement and the largest f0 difference in cents over frames both call voiced."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    both = (ours > 0) & (reference > 0)
    difference = np.abs(cents(ours[both], reference[both])) if both.any() else np.zeros(1)
    return {
        "frames": int(ours.size),
        "voiced_ours": int((ours > 0).sum()),
        "voiced_reference": int((reference > 0).sum()),
        "voicing_mismatches": int(np.sum((ours > 0) != (reference > 0))),
        "max_cents": float(difference.max()),
    }


def tracking_errors(f0: np.ndarray, fundamental: Callable[[np.ndarray], np.ndarray], seconds: float, margin: float = 0.1) -> np.ndarray:
    """Cents of error per frame against the true fundamental, frames within `margin` s of either end left out."""
    times = frame_times(len(f0))
    inner = (times >= margin) & (times <= seconds - margin)
    return cents(f0[inner], fundamental(times[inner]))
