"""Prove a converted model computes what its source computed. Checks only: nothing here writes a file.

Four levels, each a named check with pass / fail / skip and its figures:
  structure  the file holds exactly the tensors and shapes its architecture needs, all finite;
  layerwise  every conv / linear / embedding, run on random input, gives the same output from the
             converted weight (MLX) as from the source weight (numpy float64, PyTorch semantics);
  runtime    the family's MLX runtime loads the file strictly and turns a short deterministic input
             into finite output of the right length, identically twice;
  parity     with a reference, every stage of the runtime against upstream's stored outputs.
The runtime and parity checks are the family's (families/<name>/checks.py). A failed check fails
the validation; a skipped one says why.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path


from .convert import ConversionResult, build_plan, convert_model, read_source
from .detect import detect
from .reader import release_pages
from .errors import RvcConvertError
from .families import ModelInfo, family_named
from .reports import Check, Finding, ValidationReport, layerwise_tolerance
from .rules import PlanEntry
from .transform import FP16_MAX, float_facts

UNREADABLE_EXIT_CODES = (3, 5)  # unsafe or unreadable: the report's kind says "unreadable"


def _mlx_available() -> bool:
    try:
        import rvc_runtime  # noqa: F401  (first: it gives MLX a fast BLAS before mlx.core loads)
        import mlx.core  # noqa: F401
    except ImportError:
        return False
    return True


def structural_checks(converted: Path, report: ValidationReport) -> tuple[ModelInfo, str]:
    """Coverage and values of a converted file; returns what it is and its stored dtype."""
    loaded = read_source(converted)
    info = detect(loaded)
    dtype = loaded.metadata.get("dtype", "float32")
    try:
        plan = build_plan(info)
        report.checks.append(Check("structure.coverage", "pass", f"{len(plan.entries)} tensors, names and shapes exactly as {info.variant} needs"))
    except RvcConvertError as exc:
        report.checks.append(Check("structure.coverage", "fail", str(exc)))
        return info, dtype
    bad, constant, beyond_fp16 = [], [], []
    kept_float32 = {e.target for e in plan.entries if e.pinned_dtype == "float32"}  # their rule keeps them float32 at any --dtype
    for key, tensor in info.tensors.items():
        array = tensor.array
        if array.dtype.kind != "f":
            continue
        finite, peak, same = float_facts(array, constant=True)
        release_pages(array)
        if not finite:
            bad.append(key)
            continue
        if key not in kept_float32 and peak > FP16_MAX:
            beyond_fp16.append(key)
        if array.size > 1 and not key.endswith(".bias") and same:
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
    # What the later checks need is what the file is, not its values: letting go of the tensors
    # unmaps the file (its pages otherwise stay in this process's RSS through the runtime check).
    return replace(info, tensors={}), dtype


def check_files(
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
    converted_info, dtype = structural_checks(converted, report)
    if source is None or entries is None:
        report.checks.append(Check("layerwise", "skip", "no source weights to compare with (an rvc-convert output)"))
    elif not layerwise:
        report.checks.append(Check("layerwise", "skip", "turned off (--no-layerwise)"))
    elif not mlx:
        report.checks.append(Check("layerwise", "skip", "mlx is not installed (pip install 'rvc-convert[runtime]')"))
    else:
        import mlx.core as mx

        from .layerwise import layerwise_check

        layerwise_check(source, entries, mx.load(str(converted)), report, layerwise_tolerance(dtype))
        mx.clear_cache()  # MLX keeps freed buffers for reuse; hand them back before the runtime loads the model
    if not runtime:
        report.checks.append(Check("runtime.smoke", "skip", "turned off (--no-runtime)"))
    elif not mlx:
        report.checks.append(Check("runtime.smoke", "skip", "mlx is not installed (pip install 'rvc-convert[runtime]')"))
    elif all(c.status != "fail" for c in report.checks if c.name.startswith("structure")):
        from rvc_runtime.blas import blas_status

        report.runtime["blas"] = blas_status()
        family_named(converted_info.family).runtime_checks(converted, converted_info, dtype, Path(reference) if reference else None, report)


def check_conversion(result: ConversionResult, runtime: bool = True) -> ValidationReport:
    """The checks `convert` and `bundle` run on the file a conversion just wrote (no reference outputs)."""
    started = time.perf_counter()
    info = result.info
    report = ValidationReport(str(result.weights_path), info.family, info.variant, info.kind)
    for line in info.contradictions:
        report.findings.append(Finding("config_contradiction", "warning", line))
    entries = None if info.kind == "converted" else result.plan.entries
    check_files(result.weights_path, info, entries, report, None, True, runtime)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def validate_model(path: str | Path, reference: str | Path | None = None, layerwise: bool = True, runtime: bool = True) -> ValidationReport:
    """Validate a source model or an rvc-convert output. A source is converted (fp32, so layer-wise
    and parity measure the mapping, not fp16 rounding) into a private temporary folder that is
    removed afterwards: nothing is left behind or published."""
    started = time.perf_counter()
    path = Path(path)
    try:
        info = detect(read_source(path))
    except RvcConvertError as exc:
        # The answer to "is it safe / what is it" is itself the report: a named finding and its exit code.
        report = ValidationReport(str(path), "unknown", "unknown", "unreadable" if exc.exit_code in UNREADABLE_EXIT_CODES else "unsupported")
        report.findings.append(Finding(exc.finding, "error", str(exc)))
        report.exit_code = exc.exit_code
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    report = ValidationReport(str(path), info.family, info.variant, info.kind)
    for line in info.contradictions:
        report.findings.append(Finding("config_contradiction", "warning", line))
    if info.kind == "converted":
        check_files(path, None, None, report, reference, layerwise, runtime)
    else:
        with tempfile.TemporaryDirectory(prefix="rvc-validate-") as scratch:
            try:
                result = convert_model(path, "ios", scratch, dtype="fp32")
            except RvcConvertError as exc:
                report.findings.append(Finding(exc.finding, "error", str(exc)))
                report.exit_code = exc.exit_code
            else:
                check_files(result.weights_path, info, result.plan.entries, report, reference, layerwise, runtime)
    report.seconds = round(time.perf_counter() - started, 3)
    return report
