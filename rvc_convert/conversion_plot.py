"""One picture of a conversion (`rvc-convert infer --plot`): input and output waveforms and
spectrograms, the f0 contour before and after the key shift, and with upstream's output for the
same input its spectrogram and the difference, titled with SNR and spectrogram correlation.
matplotlib (Agg) draws it; it is imported only when a plot is asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rvc_runtime.figures import compare_audio, format_correlation, spectrogram

FRAME_SECONDS = 0.01


def _db(magnitude: np.ndarray, floor_db: float = -80.0) -> np.ndarray:
    peak = max(float(magnitude.max()), 1e-12)
    return np.maximum(20 * np.log10(np.maximum(magnitude, 1e-12) / peak), floor_db)


def _waveform(ax, audio, rate, title, color):
    """Min/max envelope per column of pixels (every sample of minutes of audio is slow to draw and
    no clearer; plain decimation would alias)."""
    audio = np.asarray(audio, np.float64)
    columns = 4000
    if len(audio) > 2 * columns:
        bucket = len(audio) // columns
        usable = audio[: bucket * columns].reshape(columns, bucket)
        t = (np.arange(columns) + 0.5) * bucket / rate
        ax.fill_between(t, usable.min(axis=1), usable.max(axis=1), color=color, linewidth=0)
    else:
        ax.plot(np.arange(len(audio)) / rate, audio, color=color, linewidth=0.6)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel("amplitude")
    peak = max(float(np.max(np.abs(audio))) if len(audio) else 0.0, 1e-3)
    ax.set_ylim(-1.05 * peak, 1.05 * peak)
    ax.grid(alpha=0.3)


def _spectrogram(ax, audio, rate, title):
    n_fft = 1024 if rate <= 16000 else 2048
    hop = n_fft // 4
    magnitude = spectrogram(audio, n_fft, hop)
    extent = (0, len(audio) / rate, 0, rate / 2000)
    image = ax.imshow(_db(magnitude).T, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-80, vmax=0, interpolation="nearest")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel("kHz")
    return image


def plot_conversion(
    path: Path,
    *,
    input_audio: np.ndarray,
    output_audio: np.ndarray,
    output_rate: int,
    f0_before: np.ndarray | None = None,
    f0_after: np.ndarray | None = None,
    key: float = 0.0,
    reference: np.ndarray | None = None,
    splits_s: list[float] = (),
    title: str = "",
) -> None:
    """Write a PNG to `path`: input (16 kHz) and output waveforms and spectrograms, the f0 contour
    (10 ms frames on the input's timeline; 0 = unvoiced) before and after the key shift, and with
    `reference` (upstream's output at output_rate) its spectrogram and the difference. `splits_s`:
    where a long input was cut into chunks (seconds), drawn as dashed lines on the output panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 5 + (2 if reference is not None else 0) - (1 if f0_before is None else 0)
    fig, axes = plt.subplots(rows, 1, figsize=(13, 2.3 * rows + 0.6), sharex=True, constrained_layout=True)
    axes = list(axes)
    _waveform(axes.pop(0), input_audio, 16000, f"input: {len(input_audio) / 16000:.2f} s at 16 kHz", "#1f77b4")
    image = _spectrogram(axes.pop(0), input_audio, 16000, "input spectrogram (dB re peak)")
    if f0_before is not None:
        ax = axes.pop(0)
        t = np.arange(len(f0_before)) * FRAME_SECONDS + FRAME_SECONDS / 2
        before = np.where(f0_before > 0, f0_before, np.nan)
        after = np.where(f0_after > 0, f0_after, np.nan)
        ax.plot(t, after, color="#d62728", linewidth=2.2, alpha=0.6, label=f"f0 given to the voice (key {key:+g})")
        ax.plot(t, before, color="#1f77b4", linewidth=0.9, label="f0 of the input")
        voiced = np.concatenate([before[np.isfinite(before)], after[np.isfinite(after)]])
        if voiced.size:
            ax.set_yscale("log")
            low, high = float(voiced.min()), float(voiced.max())
            ax.set_ylim(low / 1.25, high * 1.25)
            ticks = [f for f in (50, 70, 100, 150, 200, 300, 400, 600, 800, 1000, 1500) if low / 1.25 <= f <= high * 1.25]
            ax.set_yticks(ticks)
            ax.set_yticklabels([str(f) for f in ticks])
            ax.minorticks_off()
        ax.set_ylabel("Hz")
        ax.set_title("pitch (unvoiced frames left blank)", fontsize=10, loc="left")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    chunks = f", {len(splits_s) + 1} chunks (dashed: where they meet)" if len(splits_s) else ""
    output_axes = [axes[0]]
    _waveform(axes.pop(0), output_audio, output_rate, f"output: {len(output_audio) / output_rate:.2f} s at {output_rate / 1000:g} kHz{chunks}", "#2ca02c")
    _spectrogram(axes.pop(0), output_audio, output_rate, "output spectrogram")
    if reference is not None:
        figures = compare_audio(output_audio, reference)
        _spectrogram(axes.pop(0), reference, output_rate, "upstream's output (reference) spectrogram")
        n = figures["samples"]
        diff = output_audio[:n].astype(np.float64) - reference[:n].astype(np.float64)
        output_axes.append(axes[0])
        _waveform(
            axes.pop(0), diff, output_rate,
            f"difference (ours − upstream): SNR {figures['snr_db']:.1f} dB, spectrogram correlation {format_correlation(figures['spectrogram_correlation'])}, max |Δ| {figures['max_abs']:.2g}",
            "#9467bd",
        )  # fmt: skip
    for ax in output_axes:
        for split in splits_s:
            ax.axvline(split, color="0.35", linestyle="--", linewidth=0.8)
    fig.axes[-1].set_xlabel("time (s)")
    fig.colorbar(image, ax=fig.axes, shrink=0.3, location="right", label="dB")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
