"""RMVPE runtime checks: strict load, a smoke run on 1 s of audio, parity of every stage against
upstream's reference arrays (golden `rmvpe_refs.npz` format), and the decoded f0 in cents."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...parity import record_parity, required_references
from ...reports import FEATURE_PARITY_MIN_SNR_DB, Check, ValidationReport, parity_min_snr_db
from ..pitch_common import load_and_smoke_f0

MAX_CENTS_ERROR = 1.0
# The U-Net's reference arrays are NCHW (PyTorch); the runtime's are NHWC.
NHWC_STAGES = ("unet.encoder.bn.out", "unet.encoder.out", "unet.intermediate.out", "unet.out", "cnn.out")
SAME_LAYOUT_STAGES = ("fc.0.out", "fc.1.out")
REFERENCE_ARRAYS = ("audio", "mel", "mel_padded", *NHWC_STAGES, *SAME_LAYOUT_STAGES, "hidden", "thred", "voiced", "cents")


def runtime_checks(converted: Path, dtype: str, reference: Path | None, report: ValidationReport) -> None:
    from rvc_runtime.rmvpe import RMVPE, salience_to_cents

    model = load_and_smoke_f0(RMVPE, converted, report)
    refs = required_references(reference, REFERENCE_ARRAYS, "an RMVPE reference", report) if model is not None and reference is not None else None
    if refs is None:
        return
    mel = model.mel(refs["audio"])
    trace = model.trace(refs["mel_padded"][0])
    pairs = [("mel", mel[None], refs["mel"])]
    for name in NHWC_STAGES:
        pairs.append((name, np.array(trace[name]).transpose(0, 3, 1, 2), refs[name]))  # NHWC -> NCHW
    pairs += [(name, np.array(trace[name]), refs[name]) for name in SAME_LAYOUT_STAGES]
    frames = refs["hidden"].shape[0]
    salience = np.array(trace["salience"][0, :frames])
    pairs.append(("hidden", salience, refs["hidden"]))
    record_parity(pairs, parity_min_snr_db(dtype, FEATURE_PARITY_MIN_SNR_DB), reference, report)
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
