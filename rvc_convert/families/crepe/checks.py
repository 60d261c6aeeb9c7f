"""CREPE runtime checks: strict load, a smoke run on 1 s of audio (RVC's f0 method), and with a
reference (`audio`, `probabilities`, `f0` made by torchcrepe; fixtures/make_pitch_refs.py) the
network output and the f0 of RVC's method against it."""

from __future__ import annotations

from pathlib import Path

from ...parity import record_f0_parity, record_parity, required_references
from ...reports import FEATURE_PARITY_MIN_SNR_DB, ValidationReport, parity_min_snr_db
from ..pitch_common import load_and_smoke_f0

MAX_CENTS_ERROR = 1.0
REFERENCE_ARRAYS = ("audio", "probabilities", "f0")


def runtime_checks(converted: Path, dtype: str, reference: Path | None, report: ValidationReport) -> None:
    from rvc_runtime.crepe import CREPE

    model = load_and_smoke_f0(CREPE, converted, report)
    refs = required_references(reference, REFERENCE_ARRAYS, "a CREPE reference", report) if model is not None and reference is not None else None
    if refs is None:
        return
    record_parity([("probabilities", model.probabilities(refs["audio"]), refs["probabilities"])], parity_min_snr_db(dtype, FEATURE_PARITY_MIN_SNR_DB), reference, report)
    record_f0_parity(model.f0(refs["audio"]), refs["f0"], MAX_CENTS_ERROR, report)
