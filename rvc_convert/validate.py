"""Prove a converted model computes what its source computed.

Four levels, each a named check with pass / fail / skip and its figures:
  structure  the file holds exactly the tensors and shapes its architecture needs, all finite;
  layerwise  every conv / linear / embedding, run on random input, gives the same output from the
             converted weight (MLX) as from the source weight (numpy float64, PyTorch semantics);
  runtime    the MLX runtime loads the file strictly and turns a short deterministic input into
             finite, non-silent audio of the right length, identically twice;
  parity     with --reference, every stage of the runtime against upstream's stored outputs.
A failed check fails the validation; a skipped one says why.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .convert import build_plan, convert_model
from .detect import ModelInfo, detect
from .errors import InputIOError, RvcConvertError
from .reader import read_model_file
from .rules import PlanEntry
from .transform import FP16_MAX

# Thresholds, grounded in the golden README's float32 floor (synthesizer audio ~1e-5 relative,
# HuBERT ~6e-6, RMVPE ~1e-6): a correct float32 port sits 100x inside them, a real mistake
# (swapped LayerNorm 0.41, wrong speaker 0.26, flipped taps 0.96 relative RMS) far outside.
LAYERWISE_MAX_RELATIVE_ERROR = 1e-5
PARITY_MIN_SNR_DB = 60.0  # relative RMS error <= 1e-3
# fp16 files: weight-norm fusion output is rounded to fp16 (2^-11 relative per weight), which alone
# costs ~60 dB on the golden models; 40 dB (1 % RMS) still sits 20 dB above the smallest real bug.
PARITY_MIN_SNR_DB_FP16 = 40.0
SMOKE_FRAMES = 48
SILENCE_RMS = 1e-5
NOISE_ARRAYS = ("noise.0", "noise.1")


@dataclass
class Check:
    name: str
    status: str  # pass | fail | skip
    detail: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finding:
    id: str
    severity: str  # error | warning | info
    message: str


@dataclass
class ValidationReport:
    model: str
    family: str
    variant: str
    kind: str
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    parity: list[dict[str, Any]] = field(default_factory=list)
    runtime: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    exit_code: int = 0  # set when the file could not be opened or converted at all

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks) and all(f.severity != "error" for f in self.findings)

    def failures(self) -> list[str]:
        """Every failed check and error finding, as `name: detail`."""
        failed = [f"{c.name}: {c.detail}" for c in self.checks if c.status == "fail"]
        return failed + [f"{f.id}: {f.message}" for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data |= {"schema": "rvc-convert/validate/1", "ok": self.ok, "converter_version": __version__}
        data["exit_code"] = self.exit_code or (0 if self.ok else 1)
        for row in data["parity"]:  # JSON has no infinity: an exact match reports SNR "inf"
            if isinstance(row.get("snr_db"), float) and math.isinf(row["snr_db"]):
                row["snr_db"] = "inf" if row["snr_db"] > 0 else "-inf"
        return data


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
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
        "rel_rms": _relative_error(ours64, ref64),
        "snr_db": snr,
        "shape": list(reference.shape),
    }


# --- structure ----------------------------------------------------------------------------------


def structural_checks(converted: Path, report: ValidationReport) -> ModelInfo:
    loaded = read_model_file(converted)
    info = detect(loaded)
    try:
        plan = build_plan(info)
        report.checks.append(Check("structure.coverage", "pass", f"{len(plan.entries)} tensors, names and shapes exactly as {info.variant} needs"))
    except RvcConvertError as exc:
        report.checks.append(Check("structure.coverage", "fail", str(exc)))
        return info
    bad, constant, beyond_fp16 = [], [], []
    for key, tensor in info.tensors.items():
        array = tensor.array
        if array.dtype.kind != "f":
            continue
        if not np.all(np.isfinite(array)):
            bad.append(key)
            continue
        if array.size and float(np.max(np.abs(array))) > FP16_MAX:
            beyond_fp16.append(key)
        if array.size > 1 and not key.endswith(".bias") and float(np.ptp(array)) == 0.0:
            constant.append(key)
    report.checks.append(
        Check("structure.finite", "fail" if bad else "pass", f"non-finite values in {', '.join(bad[:4])}" if bad else "every value is finite")
    )
    if bad:
        report.findings.append(Finding("non_finite_weights", "error", f"NaN/Inf in {len(bad)} tensor(s): {', '.join(bad[:4])}"))
    if beyond_fp16:
        report.findings.append(Finding("fp16_overflow", "warning", f"{len(beyond_fp16)} tensor(s) exceed the float16 range and cannot be stored as fp16: {', '.join(beyond_fp16[:4])}; keep --dtype fp32"))
    for key in constant:
        value = float(info.tensors[key].array.flat[0])
        finding = "zero_layer" if value == 0.0 else "constant_layer"
        report.findings.append(Finding(finding, "warning", f"{key} holds {value:g} everywhere: an untrained, zeroed or damaged layer"))
    return info


# --- layer-wise -----------------------------------------------------------------------------------


def _source_weight(entry: PlanEntry, tensors: dict) -> np.ndarray:
    if entry.fuse_weight_norm:
        g = tensors[entry.sources["g"]].array.astype(np.float64)
        v = tensors[entry.sources["v"]].array.astype(np.float64)
        axes = tuple(a for a in range(v.ndim) if g.shape[a] == 1 and v.shape[a] != 1)
        return g * v / np.sqrt(np.sum(v * v, axis=axes, keepdims=True))
    return tensors[entry.sources["w"]].array.astype(np.float64)


def _torch_conv1d(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    """PyTorch Conv1d semantics on [T, I] input with an (O, I, K) weight, float64."""
    xp = np.pad(x, ((pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2], axis=0)  # [T', I, K]
    return np.einsum("tik,oik->to", windows, w)


def _torch_conv_transpose1d(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """PyTorch ConvTranspose1d semantics on [T, I] input with an (I, O, K) weight, float64."""
    t, k = x.shape[0], w.shape[2]
    out = np.zeros(((t - 1) * stride + k, w.shape[1]))
    for tap in range(k):
        out[tap : tap + (t - 1) * stride + 1 : stride] += x @ w[:, :, tap]
    return out[pad : out.shape[0] - pad]


def _torch_conv2d(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    """PyTorch Conv2d semantics on [H, W, I] input with an (O, I, KH, KW) weight, float64."""
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(0, 1))  # [H', W', I, KH, KW]
    return np.einsum("hwikl,oikl->hwo", windows, w)


def _torch_conv_transpose2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """PyTorch ConvTranspose2d (stride 1, no padding) on [H, W, I] input with an (I, O, KH, KW) weight."""
    h, wd = x.shape[:2]
    kh, kw = w.shape[2:]
    out = np.zeros((h + kh - 1, wd + kw - 1, w.shape[1]))
    for i in range(kh):
        for j in range(kw):
            out[i : i + h, j : j + wd] += x @ w[:, :, i, j]
    return out


def layerwise_check(
    info: ModelInfo, plan_entries: list[PlanEntry], converted_weights: dict[str, Any], report: ValidationReport, tolerance: float = LAYERWISE_MAX_RELATIVE_ERROR
) -> None:
    import mlx.core as mx

    rng = np.random.default_rng(0)
    worst, checked, failures = 0.0, 0, []
    for entry in plan_entries:
        if entry.kind not in ("conv1d", "conv_transpose1d", "conv2d", "conv_transpose2d", "linear", "embedding"):
            continue
        source = _source_weight(entry, info.tensors)
        target = converted_weights[entry.target].astype(mx.float32)
        if entry.kind == "conv1d":
            k = source.shape[2]
            x = rng.standard_normal((16 + k, source.shape[1]))
            expected = _torch_conv1d(x, source, k // 2)
            got = np.array(mx.conv1d(mx.array(x[None], dtype=mx.float32), target, padding=k // 2)[0])
        elif entry.kind == "conv_transpose1d":
            k = source.shape[2]
            stride = max(1, k // 2)
            pad = (k - stride) // 2
            x = rng.standard_normal((12, source.shape[0]))
            expected = _torch_conv_transpose1d(x, source, stride, pad)
            got = np.array(mx.conv_transpose1d(mx.array(x[None], dtype=mx.float32), target, stride=stride, padding=pad)[0])
        elif entry.kind == "conv2d":
            k = source.shape[2]
            x = rng.standard_normal((6 + k, 5 + k, source.shape[1]))
            expected = _torch_conv2d(x, source, k // 2)
            got = np.array(mx.conv2d(mx.array(x[None], dtype=mx.float32), target, padding=k // 2)[0])
        elif entry.kind == "conv_transpose2d":
            x = rng.standard_normal((5, 4, source.shape[0]))
            expected = _torch_conv_transpose2d(x, source)
            got = np.array(mx.conv_transpose2d(mx.array(x[None], dtype=mx.float32), target)[0])
        elif entry.kind == "linear" and source.ndim == 2:
            x = rng.standard_normal((8, source.shape[1]))
            expected = x @ source.T
            got = np.array(mx.array(x, dtype=mx.float32) @ target.T)
        elif entry.kind == "embedding":
            idx = rng.integers(0, source.shape[0], size=8)
            expected = source[idx]
            got = np.array(target[mx.array(idx)])
        else:  # linear bias: a vector, compared directly
            expected, got = source, np.array(target)
        checked += 1
        error = _relative_error(got, expected) if expected.shape == got.shape else math.inf
        worst = max(worst, error)
        if not error <= tolerance:
            failures.append(f"{entry.target} ({entry.kind}): relative error {error:.2e}")
    status = "fail" if failures else "pass"
    detail = f"{checked} layers, worst relative error {worst:.2e} (limit {tolerance:g})"
    if failures:
        detail += ": " + "; ".join(failures[:4])
    report.checks.append(Check("layerwise", status, detail, {"layers": checked, "worst_relative_error": worst}))


# --- runtime --------------------------------------------------------------------------------------


def _coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC's mel-scale coarse pitch bins 1..255 (synthesizer_format.md §10)."""
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
        "pitch": _coarse_pitch(f0),
        "pitchf": f0,
    }


def runtime_checks(converted: Path, info: ModelInfo, reference: Path | None, report: ValidationReport) -> None:
    import rvc_runtime  # noqa: F401  (selects the fast BLAS before mlx is used)
    from rvc_runtime.blas import blas_status
    from rvc_runtime.synthesizer import Synthesizer

    report.runtime["blas"] = blas_status()
    try:
        model = Synthesizer.from_file(converted)
    except ValueError as exc:
        report.checks.append(Check("runtime.load", "fail", str(exc)))
        return
    report.checks.append(Check("runtime.load", "pass", "strict load: every tensor consumed, none missing"))
    cfg = info.config
    inputs = smoke_inputs(768 if cfg.version == "v2" else 256)
    started = time.perf_counter()
    first = np.array(model.infer(**inputs, noise="zero"))
    report.runtime["smoke_seconds"] = round(time.perf_counter() - started, 3)
    second = np.array(model.infer(**inputs, noise="zero"))
    expected_len = SMOKE_FRAMES * cfg.hop
    rms = float(np.sqrt(np.mean(first.astype(np.float64) ** 2)))
    problems = []
    if first.shape[-1] != expected_len:
        problems.append(f"length {first.shape[-1]} samples, expected {SMOKE_FRAMES} frames x hop {cfg.hop} = {expected_len}")
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
        stored = read_model_file(converted).metadata.get("dtype", "float32")
        parity_check(model, reference, report, PARITY_MIN_SNR_DB_FP16 if stored == "float16" else PARITY_MIN_SNR_DB)


def _to_torch_layout(name: str, ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Runtime arrays are channels-last [B, T, C]; references are PyTorch [B, C, T], some with only 2 channels kept."""
    if ours.shape == ref.shape and not (ours.ndim == 3 and ref.shape[1] != ref.shape[2] and name not in ("dec.m_source.out",)):
        return ours
    if ours.ndim == 3 and ref.ndim == 3:
        moved = np.swapaxes(ours, 1, 2)
        if moved.shape[2] == ref.shape[2] and moved.shape[1] >= ref.shape[1]:
            return moved[:, : ref.shape[1], :]
    if ours.ndim == 2 and ref.ndim == 3 and ref.shape[1] == 1:
        return ours[:, None, :]
    return ours


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


_FIXED_STAGES = ["x_mask", "g", "enc_p.emb_phone.out", "enc_p.emb_pitch.out", "enc_p.encoder.out", "m_p", "logs_p", "z_p"]
_LATE_STAGES = ["z", "dec.in.x", "dec.in.f0", "dec.m_source.out", "dec.conv_pre.out", "dec.cond.out"]


def synth_stage_rank(name: str) -> tuple[int, int]:
    """Execution order of the synthesizer's reference arrays, so the first failing stage is where it broke."""
    if name in _FIXED_STAGES:
        return (0, _FIXED_STAGES.index(name))
    if match := re.fullmatch(r"flow\.flows\.(\d+)\.(enc|post)\.out", name):
        return (1, -2 * int(match.group(1)) + (match.group(2) == "post"))  # reverse pass: 6, 4, 2, 0
    if name in _LATE_STAGES:
        return (2, _LATE_STAGES.index(name))
    if match := re.fullmatch(r"dec\.(ups|noise_convs)\.(\d+)\.(in|out)", name):
        step = {"ups.in": 0, "ups.out": 1, "noise_convs.out": 2}[f"{match.group(1)}.{match.group(3)}"]
        return (3, 3 * int(match.group(2)) + step)
    return (4, ["dec.conv_post.in", "dec.conv_post.out", "audio"].index(name) if name in ("dec.conv_post.in", "dec.conv_post.out", "audio") else 99)


def parity_check(model: Any, reference: Path, report: ValidationReport, min_snr_db: float = PARITY_MIN_SNR_DB) -> None:
    try:
        refs = np.load(reference, allow_pickle=False)
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
    if "noise.0" in refs.files:
        # Supplied draws (PyTorch layout): noise.0 is the prior [B, C, T], noise.1 the NSF source [B, T*hop, 1].
        noise = {"prior": np.swapaxes(refs["noise.0"], 1, 2)}
        if "noise.1" in refs.files:
            noise["source"] = refs["noise.1"]
    _, trace = model.infer(**inputs, noise=noise, return_intermediates=True)
    stages = [n for n in sorted(refs.files, key=synth_stage_rank) if n in trace and n not in inputs and n not in NOISE_ARRAYS]
    rows, failures = parity_rows([(n, _to_torch_layout(n, np.array(trace[n]), refs[n]), refs[n]) for n in stages], min_snr_db)
    report.parity = rows
    unused = [n for n in refs.files if n not in inputs and n not in ("meta", *NOISE_ARRAYS) and n not in trace]
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


# --- entry point --------------------------------------------------------------------------------


def _mlx_available() -> bool:
    try:
        import rvc_runtime  # noqa: F401  (first: it gives MLX a fast BLAS before mlx.core loads)
        import mlx.core  # noqa: F401
    except ImportError:
        return False
    return True


def layerwise_tolerance(dtype: str) -> float:
    # float16 storage rounds each weight by up to 2^-11 relative, so outputs move by ~5e-4 RMS.
    return 1e-3 if dtype == "float16" else LAYERWISE_MAX_RELATIVE_ERROR


def validate_model(path: str | Path, reference: str | Path | None = None, layerwise: bool = True, runtime: bool = True) -> ValidationReport:
    """Validate a source model (converted here, in a temp folder) or an rvc-convert output."""
    started = time.perf_counter()
    path = Path(path)
    try:
        info = detect(read_model_file(path))
    except RvcConvertError as exc:
        # The answer to "is it safe / what is it" is itself the report: a named finding and its exit code.
        report = ValidationReport(str(path), "unknown", "unknown", "unreadable" if exc.exit_code in (3, 5) else "unsupported")
        report.findings.append(Finding(exc.finding, "error", str(exc)))
        report.exit_code = exc.exit_code
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    report = ValidationReport(str(path), info.family, info.variant, info.kind)
    for line in info.contradictions:
        report.findings.append(Finding("config_contradiction", "warning", line))
    with tempfile.TemporaryDirectory(prefix="rvc-validate-") as scratch:
        if info.kind == "converted":
            validate_files(path, None, None, report, reference, layerwise, runtime)
        else:
            try:
                # fp32, so layer-wise and parity measure the mapping, not fp16 rounding.
                result = convert_model(path, "ios", scratch, dtype="fp32")
            except RvcConvertError as exc:
                report.findings.append(Finding(exc.finding, "error", str(exc)))
                report.exit_code = exc.exit_code
            else:
                validate_files(result.weights_path, info, result.plan.entries, report, reference, layerwise, runtime)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def validate_files(
    converted: Path,
    source: ModelInfo | None,
    entries: list[PlanEntry] | None,
    report: ValidationReport,
    reference: str | Path | None = None,
    layerwise: bool = True,
    runtime: bool = True,
) -> None:
    """Structure, layer-wise (when the source is at hand), runtime smoke and parity of one converted file."""
    mlx = _mlx_available()
    converted_info = structural_checks(converted, report)
    if source is None or entries is None:
        report.checks.append(Check("layerwise", "skip", "no source weights to compare with (an rvc-convert output)"))
    elif not layerwise:
        report.checks.append(Check("layerwise", "skip", "turned off (--no-layerwise)"))
    elif not mlx:
        report.checks.append(Check("layerwise", "skip", "mlx is not installed (pip install 'rvc-convert[runtime]')"))
    else:
        import mlx.core as mx

        dtype = read_model_file(converted).metadata.get("dtype", "float32")
        layerwise_check(source, entries, mx.load(str(converted)), report, layerwise_tolerance(dtype))
    if not runtime:
        report.checks.append(Check("runtime.smoke", "skip", "turned off (--no-runtime)"))
    elif not mlx:
        report.checks.append(Check("runtime.smoke", "skip", "mlx is not installed (pip install 'rvc-convert[runtime]')"))
    elif all(c.status != "fail" for c in report.checks if c.name.startswith("structure")):
        reference = Path(reference) if reference else None
        if converted_info.family == "synthesizer":
            runtime_checks(converted, converted_info, reference, report)
        else:
            from .validate_aux import aux_runtime_checks  # HuBERT / RMVPE

            aux_runtime_checks(converted, converted_info.family, reference, report)


def validate_conversion(result: Any, runtime: bool = True) -> ValidationReport:
    """The checks `convert` runs on the file it just wrote (no reference outputs)."""
    started = time.perf_counter()
    info = result.info
    report = ValidationReport(str(result.weights_path), info.family, info.variant, info.kind)
    for line in info.contradictions:
        report.findings.append(Finding("config_contradiction", "warning", line))
    entries = None if info.kind == "converted" else result.plan.entries
    validate_files(result.weights_path, info, entries, report, None, True, runtime)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def convert_validated(source: str | Path, target: str, out_dir: str | Path | None, dtype: str | None, name: str | None) -> tuple[Any, ValidationReport]:
    """Convert into a private staging folder, validate there, and move the files into `out_dir` only if
    every check passed: a failing or crashing validation never leaves (or overwrites) an output."""
    import os
    import shutil

    from .writer import ensure_writable_dir

    source = Path(source)
    final_dir = Path(out_dir) if out_dir is not None else source.parent
    ensure_writable_dir(final_dir)
    staging = Path(tempfile.mkdtemp(prefix=".rvc-convert-", dir=final_dir))
    try:
        result = convert_model(source, target, staging, dtype, name)
        report = validate_conversion(result)
        if report.ok:
            for attribute in ("weights_path", "config_path"):
                staged = getattr(result, attribute)
                final = final_dir / staged.name
                os.replace(staged, final)
                setattr(result, attribute, final)
            report.model = str(result.weights_path)
        else:
            result.weights_path = result.config_path = None
        return result, report
    finally:
        shutil.rmtree(staging, ignore_errors=True)
