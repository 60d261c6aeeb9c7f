"""FCPE runtime checks: strict load, a smoke run on 1 s of audio (RVC's f0 method), and with a
reference (`audio`, `mel`, `latent`, `f0` made by torchfcpe; fixtures/make_pitch_refs.py) the
log-mel, the network output and the f0 of RVC's method against it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ...parity import record_f0_parity, record_parity
from ...reports import FEATURE_PARITY_MIN_SNR_DB, Check, ValidationReport, parity_min_snr_db
from ..smoke import load_strictly, record_smoke, smoke_audio

MAX_CENTS_ERROR = 1.0
REFERENCE_ARRAYS = ("audio", "mel", "latent", "f0")


def runtime_checks(converted: Path, dtype: str, reference: Path | None, report: ValidationReport) -> None:
    from rvc_runtime.fcpe import FCPE

    model = load_strictly(FCPE, converted, report)
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
    refs = np.load(reference, allow_pickle=False)
    missing = [name for name in REFERENCE_ARRAYS if name not in refs.files]
    if missing:
        report.checks.append(Check("parity", "fail", f"{reference.name} lacks {', '.join(missing)}: an FCPE reference holds {', '.join(REFERENCE_ARRAYS)}"))
        return
    mel = model.mel(refs["audio"])
    pairs = [("mel", mel, refs["mel"]), ("latent", model.latent_from_mel(mel), refs["latent"])]
    record_parity(pairs, parity_min_snr_db(dtype, FEATURE_PARITY_MIN_SNR_DB), reference, report)
    record_f0_parity(model.f0(refs["audio"]), refs["f0"], MAX_CENTS_ERROR, report)
