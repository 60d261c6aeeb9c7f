"""RMVPE runtime checks: strict load, a smoke run on 1 s of audio, parity of every stage against
upstream's reference arrays (golden `rmvpe_refs.npz` format), and the decoded f0 in cents."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ...parity import load_references, record_parity
from ...reports import FEATURE_PARITY_MIN_SNR_DB, Check, ValidationReport, parity_min_snr_db
from ..smoke import load_strictly, record_smoke, smoke_audio

MAX_CENTS_ERROR = 1.0
# The U-Net's reference arrays are NCHW (PyTorch); the runtime's are NHWC.
NHWC_STAGES = ("unet.encoder.bn.out", "unet.encoder.out", "unet.intermediate.out", "unet.out", "cnn.out")
SAME_LAYOUT_STAGES = ("fc.0.out", "fc.1.out")


def runtime_checks(converted: Path, dtype: str, reference: Path | None, report: ValidationReport) -> None:
    from rvc_runtime.rmvpe import RMVPE, salience_to_cents

    min_snr_db = parity_min_snr_db(dtype, FEATURE_PARITY_MIN_SNR_DB)
    model = load_strictly(RMVPE, converted, report)
    if model is None:
        return
    audio = smoke_audio()
    started = time.perf_counter()
    runs = [model.f0(audio) for _ in range(2)]
    report.runtime["smoke_seconds"] = round(time.perf_counter() - started, 3)
    expected = 1 + len(audio) // model.config["hop_length"]
    voiced = float(np.mean(runs[0] > 0))
    record_smoke("runtime.smoke", runs, expected, f"{expected} f0 frames from 1 s of 16 kHz audio ({voiced:.0%} voiced), finite, identical on rerun", report)
    if reference is None:
        return
    refs = load_references(reference)
    mel = model.mel(refs["audio"])
    trace = model.trace(refs["mel_padded"][0])
    pairs = [("mel", mel[None], refs["mel"])]
    for name in NHWC_STAGES:
        pairs.append((name, np.array(trace[name]).transpose(0, 3, 1, 2), refs[name]))  # NHWC -> NCHW
    pairs += [(name, np.array(trace[name]), refs[name]) for name in SAME_LAYOUT_STAGES]
    frames = refs["hidden"].shape[0]
    salience = np.array(trace["salience"][0, :frames])
    pairs.append(("hidden", salience, refs["hidden"]))
    record_parity(pairs, min_snr_db, reference, report)
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
