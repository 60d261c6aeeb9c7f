"""What the pitch-estimator families share: the chain slot, the runtime object `infer` runs (under
RVC's f0 method name, with RVC's post-processing), the bundle contract's timing fields, and the
runtime checks' strict load and smoke run on 1 s of audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..reports import ValidationReport
from .base import ModelInfo, frame_rate_hz
from .limits import MAX_HOP, SAMPLE_RATES, Spec, real, whole
from .json_config import JsonConfigFamily
from .smoke import load_strictly, record_smoke, smoke_runs


class PitchFamily(JsonConfigFamily):
    """A pitch estimator: its config holds `sample_rate` and `hop_length`; its runtime model has
    `f0(audio16k)` (Hz per frame, 0 = unvoiced)."""

    pipeline_slot = "pitch"

    def load_runtime(self, converted: Path) -> Any:
        """The pipeline's pitch extractor, under RVC's method name, with RVC's post-processing."""
        from rvc_runtime.pipeline import PitchMethod
        from rvc_runtime.pitch import f0_method_of, load_f0_method

        method = f0_method_of(converted)
        return PitchMethod(method, load_f0_method(method, converted))

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        timing = {"sample_rate": cfg["sample_rate"], "hop": cfg["hop_length"], "frame_rate_hz": frame_rate_hz(cfg["sample_rate"], cfg["hop_length"])}
        return timing | self.contract_fields(cfg)

    def contract_fields(self, config: dict[str, Any]) -> dict[str, Any]:
        """The contract's fields past the timing (the front end, the bins, RVC's decoding)."""
        raise NotImplementedError


# What the config fields of a log-mel front end (STFT, mel filter bank, log floor) may hold.
MEL_FRONT_END_SPECS: dict[str, Spec] = {
    "sample_rate": Spec(whole(*SAMPLE_RATES)),
    "n_mels": Spec(whole(1, 1024)),
    "n_fft": Spec(whole(16, 16384)),
    "win_length": Spec(whole(16, 16384)),
    "hop_length": Spec(whole(1, MAX_HOP)),
    "fmin": Spec(real(0.0, SAMPLE_RATES[1] / 2)),
    "fmax": Spec(real(0.0, SAMPLE_RATES[1] / 2)),
    "mel_clamp": Spec(real(1e-12, 1.0)),
}


def mel_front_end_problem(config: dict[str, Any]) -> str | None:
    """Why a (spec-checked) log-mel front end cannot work, or None."""
    if config["win_length"] > config["n_fft"] or not config["fmin"] < config["fmax"] <= config["sample_rate"] / 2:
        return f"the mel front end (n_fft {config['n_fft']}, win_length {config['win_length']}, fmin {config['fmin']}, fmax {config['fmax']}) does not fit {config['sample_rate']} Hz"
    return None


def mel_front_end(config: dict[str, Any]) -> dict[str, Any]:
    """The contract fields of a log-mel front end."""
    return {"n_fft": config["n_fft"], "mel_bins": config["n_mels"], "fmin": config["fmin"], "fmax": config["fmax"]}


def load_and_smoke_f0(model_class: Any, converted: Path, report: ValidationReport) -> Any:
    """The runtime model loaded strictly (`runtime.load`) and run twice on the smoke audio
    (`runtime.smoke`: one f0 per hop, finite, identical on rerun); None when it does not load."""
    model = load_strictly(model_class, converted, report)
    if model is None:
        return None
    audio, runs = smoke_runs(model.f0, report)
    expected = 1 + len(audio) // model.config["hop_length"]
    voiced = float(np.mean(runs[0] > 0))
    record_smoke("runtime.smoke", runs, expected, f"{expected} f0 frames from 1 s of 16 kHz audio ({voiced:.0%} voiced), finite, identical on rerun", report)
    return model
