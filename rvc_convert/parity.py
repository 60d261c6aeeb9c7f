"""Comparing the runtime's arrays with upstream's reference outputs: error figures, one row per stage.

References are compared by name. Each family declares, per reference array, how the runtime's
array maps onto the reference's layout (`ReferenceLayout`); nothing here guesses a layout from shapes.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import InputIOError
from .reader import read_model_file
from .reports import Check, ValidationReport


class References(dict):
    """Reference arrays by name (a dict with numpy's NpzFile `.files`)."""

    @property
    def files(self) -> list[str]:
        return list(self)


def load_references(path: Path) -> References:
    """A reference .npz read like any input: through the safe reader (never blocking on a FIFO,
    zip members inflated only to their declared size, no pickled objects), arrays by name."""
    loaded = read_model_file(path)
    if loaded.container != "npz":
        raise InputIOError(f"{path}: not a reference .npz (a {loaded.container} file)")
    return References((name, np.asarray(tensor.array)) for name, tensor in loaded.root.items())


def required_references(reference: Path, names: Sequence[str], what: str, report: ValidationReport) -> References | None:
    """The reference .npz's arrays, or None after a failed `parity` check naming the arrays it
    lacks (`what`: whose reference it must be): a reference of another model is a failed
    check, not a crash."""
    refs = load_references(reference)
    missing = [name for name in names if name not in refs]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        report.checks.append(Check("parity", "fail", f"{reference.name} lacks {', '.join(missing[:4])}{more}: not {what} (pass the reference made for this model)"))
        return None
    return refs


class ReferenceLayout(str, Enum):
    """How a runtime array (MLX, channels-last) relates to its PyTorch reference array."""

    SAME = "same"  # identical layout
    CHANNELS_FIRST = "channels_first"  # runtime [B, T, C] -> reference [B, C, T]
    CHANNELS_FIRST_LEADING = "channels_first_leading"  # as above; the reference keeps only its first channels
    SAME_FIRST_TWO_AND_LAST = "same_first_two_and_last"  # identical layout; the reference keeps channels 0, 1 and the last


def to_reference_layout(ours: np.ndarray, layout: ReferenceLayout, reference: np.ndarray) -> np.ndarray:
    """The runtime array in the reference's declared layout (a mismatch then shows as a shape failure)."""
    if layout is ReferenceLayout.SAME_FIRST_TWO_AND_LAST:
        return ours[..., [0, 1, ours.shape[-1] - 1]]
    if layout is ReferenceLayout.SAME or ours.ndim != 3:
        return ours
    moved = np.swapaxes(ours, 1, 2)
    if layout is ReferenceLayout.CHANNELS_FIRST_LEADING and reference.ndim == 3:
        return moved[:, : reference.shape[1], :]
    return moved


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """RMS of the difference over RMS of the reference (the absolute RMS when the reference is zero)."""
    scale = float(np.sqrt(np.mean(np.square(reference, dtype=np.float64))))
    err = float(np.sqrt(np.mean(np.square(ours.astype(np.float64) - reference.astype(np.float64)))))
    return err / scale if scale > 0 else err


def compare_arrays(name: str, ours: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """max abs error, relative RMS error and SNR (dB) of `ours` against `reference`."""
    ours64, ref64 = ours.astype(np.float64), reference.astype(np.float64)
    diff = ours64 - ref64
    signal = float(np.sum(ref64**2))
    noise = float(np.sum(diff**2))
    snr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    return {
        "stage": name,
        "max_abs": float(np.max(np.abs(diff))) if diff.size else 0.0,
        "rel_rms": relative_error(ours64, ref64),
        "snr_db": snr,
        "shape": list(reference.shape),
    }


def parity_rows(pairs: list[tuple[str, np.ndarray, np.ndarray]], min_snr_db: float) -> tuple[list[dict[str, Any]], list[str]]:
    """One comparison row per (stage, ours, reference), in the given order, and the failing stages."""
    rows, failures = [], []
    for name, ours, ref in pairs:
        if ours.shape != ref.shape:
            rows.append({"stage": name, "status": "fail", "detail": f"shape {list(ours.shape)} vs reference {list(ref.shape)}"})
            failures.append(name)
            continue
        row = compare_arrays(name, ours, ref)
        row["status"] = "pass" if row["snr_db"] >= min_snr_db else "fail"
        if row["status"] == "fail":
            failures.append(f"{name} ({row['snr_db']:.1f} dB)")
        rows.append(row)
    return rows, failures


def record_parity(pairs: list[tuple[str, np.ndarray, np.ndarray]], min_snr_db: float, reference: Path, report: ValidationReport) -> None:
    """Compare every stage, add the rows to the report and one `parity` check naming the worst stage."""
    rows, failures = parity_rows(pairs, min_snr_db)
    report.parity.extend(rows)
    worst = min((r for r in rows if "snr_db" in r), key=lambda r: r["snr_db"], default=None)
    detail = f"{len(rows)} stages vs {reference.name} (pass at >= {min_snr_db:g} dB SNR)"
    if worst:
        detail += f"; worst {worst['stage']} {worst['snr_db']:.1f} dB"
    if failures:
        detail += "; failing: " + ", ".join(failures[:6])
    report.checks.append(Check("parity", "fail" if failures else "pass", detail))


def record_f0_parity(ours: np.ndarray, reference: np.ndarray, max_cents: float, report: ValidationReport) -> None:
    """f0 in Hz (0 = unvoiced) against a reference's: voicing must be identical and voiced frames
    within `max_cents`; one `f0.cents` parity row and one `parity.f0` check."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    if ours.shape != reference.shape:
        report.parity.append({"stage": "f0.cents", "status": "fail", "detail": f"shape {list(ours.shape)} vs reference {list(reference.shape)}"})
        report.checks.append(Check("parity.f0", "fail", f"{ours.shape[0]} f0 frames, the reference has {reference.shape[0]}"))
        return
    both = (ours > 0) & (reference > 0)
    worst = float(np.max(np.abs(1200.0 * np.log2(ours[both] / reference[both])))) if both.any() else 0.0
    agree = bool(np.array_equal(ours > 0, reference > 0))
    status = "pass" if agree and worst <= max_cents else "fail"
    voicing = "identical" if agree else f"differs on {int(np.sum((ours > 0) != (reference > 0)))} frames"
    report.parity.append({"stage": "f0.cents", "max_abs": worst, "voicing_agrees": agree, "status": status, "detail": f"voiced f0 within {worst:.3g} cents, voicing {voicing}"})
    report.checks.append(Check("parity.f0", status, f"voicing {voicing} on {ours.size} frames; voiced f0 within {worst:.3g} cents (limit {max_cents:g})"))
