"""The synthesizer's runtime checks: a strict load by rvc_runtime, a deterministic smoke run, and
parity of every stage against upstream's reference arrays, each compared by name in its declared
layout. rvc_runtime (and so mlx) is imported only when these run."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputIOError
from ...parity import ReferenceLayout, load_references, parity_rows, to_reference_layout
from ...reports import Check, ValidationReport, parity_min_snr_db
from ..base import ModelInfo
from ..smoke import load_strictly
from .config import SynthesizerConfig
from .decoders import decoder_named

SMOKE_FRAMES = 16  # 0.16 s of audio: enough to load, run every stage and compare two runs; the generator costs ~0.1 TFLOP per second of audio
SILENCE_RMS = 1e-5
NOISE_PREFIX = "noise."  # supplied random draws noise.0, noise.1, ... (upstream's call order): inputs, not stages

CF, SAME = ReferenceLayout.CHANNELS_FIRST, ReferenceLayout.SAME
# The text encoder's and flow's reference arrays in execution order (the flow runs in reverse: 6, 4, 2, 0).
_BEFORE_FLOW: list[tuple[str, ReferenceLayout]] = [
    ("x_mask", CF),
    ("g", SAME),
    ("enc_p.emb_phone.out", SAME),
    ("enc_p.emb_pitch.out", SAME),
    ("enc_p.encoder.out", CF),
    ("m_p", CF),
    ("logs_p", CF),
    ("z_p", CF),
]
_FLOW = re.compile(r"flow\.flows\.(\d+)\.(enc|post)\.out")
_AFTER_FLOW = "z"
_AUDIO = "audio"


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC's mel-scale coarse pitch bins 1..255 (docs/synthesizer_format.md, "Inference")."""
    mel = 1127 * np.log1p(f0 / 700)
    lo, hi = 1127 * np.log1p(50 / 700), 1127 * np.log1p(1100 / 700)
    scaled = np.where(mel > 0, (mel - lo) * 254 / (hi - lo) + 1, mel)
    return np.rint(np.clip(scaled, 1, 255)).astype(np.int64)


def smoke_inputs(phone_dim: int, frames: int = SMOKE_FRAMES) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    f0 = np.full((1, frames), 220.0, dtype=np.float32)
    f0[:, frames // 2 : frames // 2 + 4] = 0.0  # a few unvoiced frames
    return {
        "phone": rng.standard_normal((1, frames, phone_dim)).astype(np.float32),
        "phone_lengths": np.array([frames]),
        "pitch": coarse_pitch(f0),
        "pitchf": f0,
    }


def reference_layout(name: str, cfg: SynthesizerConfig) -> ReferenceLayout | None:
    """The declared layout of a reference array, or None when no stage of this model has that name."""
    found = dict(_BEFORE_FLOW).get(name)
    if found is None and (_FLOW.fullmatch(name) or name in (_AFTER_FLOW, _AUDIO)):
        found = CF
    return found or decoder_named(cfg.vocoder).reference_layout(name)


def stage_rank(name: str, cfg: SynthesizerConfig) -> tuple[int, ...]:
    """Execution order of the reference arrays, so the first failing stage is where it broke."""
    names = [n for n, _ in _BEFORE_FLOW]
    if name in names:
        return (0, names.index(name))
    if match := _FLOW.fullmatch(name):
        return (1, -2 * int(match.group(1)) + (match.group(2) == "post"))  # reverse pass: 6, 4, 2, 0
    if name == _AFTER_FLOW:
        return (2,)
    decoder_rank = decoder_named(cfg.vocoder).stage_rank(name)
    if decoder_rank is not None:
        return (3, *decoder_rank)
    return (4,) if name == _AUDIO else (5,)


def runtime_checks(converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: ValidationReport) -> None:
    from rvc_runtime.synthesizer import Synthesizer

    model = load_strictly(Synthesizer, converted, report)
    if model is None:
        return
    cfg: SynthesizerConfig = info.config
    inputs = smoke_inputs(cfg.phone_dim)
    started = time.perf_counter()
    first = np.array(model.infer(**inputs, noise="zero"))
    report.runtime["smoke_seconds"] = round(time.perf_counter() - started, 3)
    second = np.array(model.infer(**inputs, noise="zero"))
    hop = decoder_named(cfg.vocoder).hop(cfg)
    expected_len = SMOKE_FRAMES * hop
    rms = float(np.sqrt(np.mean(first.astype(np.float64) ** 2)))
    problems = []
    if first.shape[-1] != expected_len:
        problems.append(f"length {first.shape[-1]} samples, expected {SMOKE_FRAMES} frames x hop {hop} = {expected_len}")
    if not np.all(np.isfinite(first)):
        problems.append("non-finite samples")
    elif rms < SILENCE_RMS:
        problems.append(f"silent output (RMS {rms:.2e})")
    if not np.array_equal(first, second):
        problems.append("two runs of the deterministic mode differ")
    report.checks.append(
        Check(
            "runtime.smoke",
            "fail" if problems else "pass",
            "; ".join(problems) or f"{expected_len} samples at {cfg.sr} Hz, RMS {rms:.3g}, finite, identical on rerun",
            {"samples": int(first.shape[-1]), "rms": rms, "sample_rate": cfg.sr},
        )
    )
    if reference is not None:
        parity_check(model, cfg, reference, report, parity_min_snr_db(dtype))


def parity_check(model: Any, cfg: SynthesizerConfig, reference: Path, report: ValidationReport, min_snr_db: float) -> None:
    try:
        refs = load_references(reference)
        names = set(refs.files)
    except (OSError, ValueError, EOFError) as exc:
        raise InputIOError(f"{reference}: not a readable reference .npz ({exc})") from None
    needed = ["phone", "phone_lengths", "sid"] + (["pitch", "pitchf"] if model.config.f0 else [])
    missing = [n for n in needed if n not in names]
    if missing:
        report.checks.append(Check("parity", "fail", f"{reference.name} lacks the input arrays {', '.join(missing)}: not a reference for this {'pitch-guided' if model.config.f0 else 'no-pitch'} model"))
        return
    inputs = {n: refs[n] for n in needed}
    noise: Any = "zero"
    supplied = [refs[f"{NOISE_PREFIX}{i}"] for i in range(len(names)) if f"{NOISE_PREFIX}{i}" in names]
    if supplied:
        # Supplied draws in upstream's call order and layout: the prior [B, C, T], then the decoder's.
        try:
            noise = model.noise_from_upstream(supplied)
        except ValueError as exc:
            report.checks.append(Check("parity", "fail", f"{reference.name}: its supplied draws do not fit this model ({exc})"))
            return
    _, trace = model.infer(**inputs, noise=noise, return_intermediates=True)
    stages = [n for n in sorted(refs.files, key=lambda n: stage_rank(n, cfg)) if n in trace and n not in inputs and not n.startswith(NOISE_PREFIX)]
    pairs, undeclared = [], []
    for name in stages:
        layout = reference_layout(name, cfg)
        if layout is None:
            undeclared.append(name)
            continue
        pairs.append((name, to_reference_layout(np.array(trace[name]), layout, refs[name]), refs[name]))
    rows, failures = parity_rows(pairs, min_snr_db)
    for name in undeclared:  # a stage without a declared layout is a gap in the family, never guessed
        rows.append({"stage": name, "status": "fail", "detail": "no declared reference layout for this stage"})
        failures.append(name)
    report.parity = rows
    unused = [n for n in refs.files if n not in inputs and n != "meta" and not n.startswith(NOISE_PREFIX) and n not in trace]
    if not any(r["stage"] == "audio" for r in rows):
        # A reference that matched nothing (renamed arrays, another model's refs) must not pass.
        failures.append("audio (not in the reference)")
    audio = next((r for r in rows if r["stage"] == "audio"), None)
    detail = f"{len(rows)} stages vs {reference.name} (pass at >= {min_snr_db:g} dB SNR)"
    if audio and "snr_db" in audio:
        detail += f"; audio SNR {audio['snr_db']:.1f} dB, max abs {audio['max_abs']:.2e}"
    metrics: dict[str, Any] = {"unused_reference_arrays": unused}
    if unused:
        detail += f"; reference arrays the runtime does not produce: {', '.join(unused[:6])}"
    if failures:
        # References are stored in execution order: the first failing stage is where it broke.
        metrics["first_failing_stage"] = failures[0].split(" ")[0]
        detail += f"; broken from {failures[0]} on: " + ", ".join(failures[:6])
    report.checks.append(Check("parity", "fail" if failures else "pass", detail, metrics))
