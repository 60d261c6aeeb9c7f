"""Validation of the helper models: HuBERT/ContentVec and RMVPE (the synthesizer lives in validate.py).

Same levels as for voices: structure, layer-wise, runtime smoke, and parity against reference
outputs in the golden refs format (hubert_refs.npz / rmvpe_refs.npz).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .reader import read_model_file
from .validate import PARITY_MIN_SNR_DB_FP16, Check, ValidationReport, parity_rows

# Golden floor for both families is <= 1e-5 relative (golden README); 80 dB = 1e-4 relative RMS.
AUX_PARITY_MIN_SNR_DB = 80.0
MAX_CENTS_ERROR = 1.0
SMOKE_SECONDS = 1.0


def smoke_audio(sample_rate: int = 16000, seconds: float = SMOKE_SECONDS) -> np.ndarray:
    """A deterministic voiced-like test signal: a 220 Hz tone with harmonics plus a little noise."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    rng = np.random.default_rng(7)
    tone = sum(0.3 / h * np.sin(2 * np.pi * 220 * h * t) for h in range(1, 5))
    return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _smoke(name: str, outputs: list[np.ndarray], expected_frames: int, detail: str, report: ValidationReport) -> None:
    first, second = outputs
    problems = []
    if first.shape[0] != expected_frames:
        problems.append(f"{first.shape[0]} frames, expected {expected_frames}")
    if not np.all(np.isfinite(first)):
        problems.append("non-finite output")
    if not np.array_equal(first, second):
        problems.append("two runs differ")
    report.checks.append(Check(name, "fail" if problems else "pass", "; ".join(problems) or detail, {"frames": int(first.shape[0])}))


def _load_strictly(model_class: Any, converted: Path, report: ValidationReport) -> Any:
    try:
        model = model_class.from_file(converted)
    except ValueError as exc:
        report.checks.append(Check("runtime.load", "fail", str(exc)))
        return None
    report.checks.append(Check("runtime.load", "pass", "strict load: every tensor consumed, none missing"))
    return model


def _hubert_runtime(converted: Path, reference: Path | None, min_snr_db: float, report: ValidationReport) -> None:
    from rvc_runtime.hubert import HuBERT

    model = _load_strictly(HuBERT, converted, report)
    if model is None:
        return
    audio = smoke_audio()
    started = time.perf_counter()
    runs = [np.array(model.extract_features(audio, "v2"))[0] for _ in range(2)]
    report.runtime["smoke_seconds"] = round(time.perf_counter() - started, 3)
    frames = len(audio)
    for _channels, kernel, stride in model.config["conv_layers"]:
        frames = (frames - kernel) // stride + 1
    _smoke("runtime.smoke", runs, frames, f"{frames} frames x {runs[0].shape[1]} features from 1 s of 16 kHz audio, finite, identical on rerun", report)
    if reference is None:
        return
    refs = np.load(reference, allow_pickle=False)
    out = model.run(refs["audio"])
    pairs = [(name, np.array(getattr(out, name)), refs[name]) for name in ("conv_features", "proj_features", "pos_conv_out")]
    pairs += [(f"hidden_states.{i}", np.array(h[0]), refs["hidden_states"][i]) for i, h in enumerate(out.hidden_states)]
    pairs.append(("v2", np.array(model.extract_features(refs["audio"], "v2")), refs["v2"]))
    if "final_proj" in model:
        pairs.append(("v1", np.array(model.extract_features(refs["audio"], "v1")), refs["v1"]))
    _finish_parity(pairs, min_snr_db, reference, report)


def _rmvpe_runtime(converted: Path, reference: Path | None, min_snr_db: float, report: ValidationReport) -> None:
    from rvc_runtime.rmvpe import RMVPE, salience_to_cents

    model = _load_strictly(RMVPE, converted, report)
    if model is None:
        return
    audio = smoke_audio()
    started = time.perf_counter()
    runs = [model.f0(audio) for _ in range(2)]
    report.runtime["smoke_seconds"] = round(time.perf_counter() - started, 3)
    expected = 1 + len(audio) // model.config["hop_length"]
    voiced = float(np.mean(runs[0] > 0))
    _smoke("runtime.smoke", runs, expected, f"{expected} f0 frames from 1 s of 16 kHz audio ({voiced:.0%} voiced), finite, identical on rerun", report)
    if reference is None:
        return
    refs = np.load(reference, allow_pickle=False)
    mel = model.mel(refs["audio"])
    trace = model.trace(refs["mel_padded"][0])
    pairs = [("mel", mel[None], refs["mel"])]
    for name in ("unet.encoder.bn.out", "unet.encoder.out", "unet.intermediate.out", "unet.out", "cnn.out"):
        pairs.append((name, np.array(trace[name]).transpose(0, 3, 1, 2), refs[name]))  # NHWC -> NCHW
    pairs += [(name, np.array(trace[name]), refs[name]) for name in ("fc.0.out", "fc.1.out")]
    frames = refs["hidden"].shape[0]
    salience = np.array(trace["salience"][0, :frames])
    pairs.append(("hidden", salience, refs["hidden"]))
    _finish_parity(pairs, min_snr_db, reference, report)
    threshold = float(refs["thred"])
    cents = salience_to_cents(salience, threshold)
    ref_voiced = refs["voiced"].astype(bool)
    ours_voiced = cents > 0
    both = ref_voiced & ours_voiced
    worst = float(np.max(np.abs(cents[both] - refs["cents"][both]))) if both.any() else 0.0
    agree = bool(np.array_equal(ref_voiced, ours_voiced))
    ok = agree and worst <= MAX_CENTS_ERROR
    report.parity.append(
        {
            "stage": "f0.cents",
            "max_abs": worst,
            "voicing_agrees": agree,
            "status": "pass" if ok else "fail",
            "detail": f"voiced f0 within {worst:.3g} cents, voicing {'identical' if agree else 'differs'}",
        }
    )
    report.checks.append(
        Check(
            "parity.f0",
            "pass" if ok else "fail",
            f"voicing {'identical' if agree else 'differs'} on {frames} frames; voiced f0 within {worst:.3g} cents (limit {MAX_CENTS_ERROR:g})",
        )
    )


def _finish_parity(pairs: list[tuple[str, np.ndarray, np.ndarray]], min_snr_db: float, reference: Path, report: ValidationReport) -> None:
    rows, failures = parity_rows(pairs, min_snr_db)
    report.parity.extend(rows)
    worst = min((r for r in rows if "snr_db" in r), key=lambda r: r["snr_db"], default=None)
    detail = f"{len(rows)} stages vs {reference.name} (pass at >= {min_snr_db:g} dB SNR)"
    if worst:
        detail += f"; worst {worst['stage']} {worst['snr_db']:.1f} dB"
    if failures:
        detail += "; failing: " + ", ".join(failures[:6])
    report.checks.append(Check("parity", "fail" if failures else "pass", detail))


def aux_runtime_checks(converted: Path, family: str, reference: Path | None, report: ValidationReport) -> None:
    """Runtime smoke test and (with a reference) parity of a converted HuBERT/ContentVec or RMVPE file."""
    from rvc_runtime.blas import blas_status

    report.runtime["blas"] = blas_status()
    stored = read_model_file(converted).metadata.get("dtype", "float32")
    min_snr = PARITY_MIN_SNR_DB_FP16 if stored == "float16" else AUX_PARITY_MIN_SNR_DB
    if family == "hubert":
        _hubert_runtime(converted, reference, min_snr, report)
    else:
        _rmvpe_runtime(converted, reference, min_snr, report)
