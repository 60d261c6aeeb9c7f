"""Runtime smoke-test helpers the audio-in families share (the content model and the pitch estimators)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..reports import Check, ValidationReport

SMOKE_SECONDS = 1.0


def smoke_audio(sample_rate: int = 16000, seconds: float = SMOKE_SECONDS) -> np.ndarray:
    """A deterministic voiced-like test signal: a 220 Hz tone with harmonics plus a little noise."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    rng = np.random.default_rng(7)
    tone = sum(0.3 / h * np.sin(2 * np.pi * 220 * h * t) for h in range(1, 5))
    return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def smoke_runs(run: Callable[[np.ndarray], Any], report: ValidationReport) -> tuple[np.ndarray, list[Any]]:
    """(the smoke audio, `run` on it twice); the time both took goes into report.runtime["smoke_seconds"]."""
    audio = smoke_audio()
    started = time.perf_counter()
    runs = [run(audio) for _ in range(2)]
    report.runtime["smoke_seconds"] = round(time.perf_counter() - started, 3)
    return audio, runs


def record_smoke(name: str, outputs: list[np.ndarray], expected_frames: int, detail: str, report: ValidationReport) -> None:
    """Two runs on the same input: the right frame count, finite, identical."""
    first, second = outputs
    problems = []
    if first.shape[0] != expected_frames:
        problems.append(f"{first.shape[0]} frames, expected {expected_frames}")
    if not np.all(np.isfinite(first)):
        problems.append("non-finite output")
    if not np.array_equal(first, second):
        problems.append("two runs differ")
    report.checks.append(Check(name, "fail" if problems else "pass", "; ".join(problems) or detail, {"frames": int(first.shape[0])}))


def load_strictly(model_class: Any, converted: Path, report: ValidationReport) -> Any:
    """The runtime model, or None after a failed `runtime.load` check."""
    try:
        model = model_class.from_file(converted)
    except ValueError as exc:
        report.checks.append(Check("runtime.load", "fail", str(exc)))
        return None
    report.checks.append(Check("runtime.load", "pass", "strict load: every tensor consumed, none missing"))
    return model
