"""HuBERT/ContentVec runtime checks: strict load, a smoke run on 1 s of audio, and parity of every
stage against upstream's reference arrays (golden `hubert_refs.npz` format), compared by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...parity import record_parity, required_references
from ...reports import FEATURE_PARITY_MIN_SNR_DB, ValidationReport, parity_min_snr_db
from ..smoke import load_strictly, record_smoke, smoke_runs

STAGES = ("conv_features", "proj_features", "pos_conv_out")
REFERENCE_ARRAYS = ("audio", *STAGES, "hidden_states", "v2")


def runtime_checks(converted: Path, dtype: str, reference: Path | None, report: ValidationReport) -> None:
    from rvc_runtime.hubert import HuBERT

    min_snr_db = parity_min_snr_db(dtype, FEATURE_PARITY_MIN_SNR_DB)
    model = load_strictly(HuBERT, converted, report)
    if model is None:
        return
    audio, runs = smoke_runs(lambda audio: np.array(model.extract_features(audio, "v2"))[0], report)
    frames = len(audio)
    for _channels, kernel, stride in model.config["conv_layers"]:
        frames = (frames - kernel) // stride + 1
    record_smoke("runtime.smoke", runs, frames, f"{frames} frames x {runs[0].shape[1]} features from 1 s of 16 kHz audio, finite, identical on rerun", report)
    needed = REFERENCE_ARRAYS + (("v1",) if "final_proj" in model else ())
    refs = required_references(reference, needed, "a HuBERT/ContentVec reference", report) if reference is not None else None
    if refs is None:
        return
    out = model.run(refs["audio"])
    # The runtime's arrays are [B, T, C] like the references: compared as they are. A reference
    # with fewer layers leaves the rest empty, which fails as a shape difference.
    states = refs["hidden_states"]
    pairs = [(name, np.array(getattr(out, name)), refs[name]) for name in STAGES]
    pairs += [(f"hidden_states.{i}", np.array(h[0]), states[i] if i < len(states) else np.empty(0)) for i, h in enumerate(out.hidden_states)]
    pairs.append(("v2", np.array(model.extract_features(refs["audio"], "v2")), refs["v2"]))
    if "final_proj" in model:
        pairs.append(("v1", np.array(model.extract_features(refs["audio"], "v1")), refs["v1"]))
    record_parity(pairs, min_snr_db, reference, report)
