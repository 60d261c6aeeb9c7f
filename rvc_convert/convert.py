"""The conversion engine: read -> detect -> plan -> transform -> write. Each step hands the next a plain value.

Family knowledge (recognising a file, its tensor list, its rule pack, its config sidecar) comes
from the registry (rvc_convert.families); nothing here names a family.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import __version__
from .detect import CONVERTED_LAYOUT, detect
from .errors import InputIOError, MappingError, UnsupportedModelError, UsageError
from .families import ModelInfo, container_readers, family_named, load_family_rule_pack
from .lifecycle import fault_point
from .publish import check_destinations, publish, staging_folder, write_failure
from .reader import BackgroundDigest, LoadedFile, StreamedArray, read_model_file, release_pages
from .rules import FLOAT_DTYPES, ConversionPlan, PlanEntry, holds_parameters, plan_conversion
from .safe_pickle import quote
from .transform import FP16_MAX, OUTPUT_DTYPES, produce_target
from .writer import TensorSpec, ensure_writable_dir, write_json, write_npz, write_safetensors

TARGETS = {"ios": ".safetensors", "mlx": ".npz"}
MAX_FILE_NAME = 255  # bytes in one file name on Linux, macOS and Windows file systems


@dataclass
class ConversionResult:
    source: Path
    target: str
    info: ModelInfo
    plan: ConversionPlan
    output_dtype: str
    metadata: dict[str, str]
    weights_path: Path | None = None
    config_path: Path | None = None
    dry_run: bool = False
    loaded: LoadedFile | None = field(default=None, repr=False)

    @property
    def output_bytes(self) -> int:
        return sum(spec.nbytes for spec in output_specs(self.plan, np.dtype(self.output_dtype)))


def read_source(source: str | Path) -> LoadedFile:
    """Read any file a registered family can convert (the families' own containers included)."""
    return read_model_file(source, container_readers())


def build_plan(info: ModelInfo) -> ConversionPlan:
    """Plan the conversion of a detected model (or, for an already converted file, check it against the plan)."""
    pack = load_family_rule_pack(info.rule_pack)
    try:
        expected = family_named(info.family).expected_tensors(info)
    except (TypeError, KeyError, ValueError, IndexError, AttributeError) as exc:
        if info.kind != "converted":
            raise
        # the config came from the file's metadata: a shape no real model has
        raise UnsupportedModelError(f"its rvc-convert metadata config does not describe a {info.family} ({type(exc).__name__}: {quote(str(exc), 80)}): a damaged or forged file") from None
    if info.kind != "converted":
        tensors = {k: (tuple(t.array.shape), t.source_dtype) for k, t in info.tensors.items()}
        return plan_conversion(pack, tensors, expected, info.variant)
    # An rvc-convert output converts to the other target unchanged: check it is exactly what the
    # forward plan of its architecture produces, then copy every tensor through.
    reference = plan_conversion(pack, {k: (shape, "float32") for k, shape in expected.items()}, expected, info.variant)
    present = {k: (tuple(t.array.shape), t.source_dtype) for k, t in info.tensors.items()}
    wanted = {e.target: e.target_shape for e in reference.entries}
    problems = [f"{k} is missing" for k in sorted(set(wanted) - set(present))]
    problems += [f"{k} is not part of {info.variant}" for k in sorted(set(present) - set(wanted))]
    problems += [f"{k} is {list(present[k][0])}, expected {list(wanted[k])}" for k in sorted(set(wanted) & set(present)) if present[k][0] != wanted[k]]
    parameters = {rule.id for rule in pack.rules if holds_parameters(pack, rule)}
    problems += [f"{e.target} is {present[e.target][1]}, where a float parameter belongs" for e in reference.entries
                 if e.target in present and e.rule_id in parameters and present[e.target][1] not in FLOAT_DTYPES]
    if problems:
        raise MappingError(f"converted file does not match {info.variant}: {'; '.join(problems[:4])}{' …' if len(problems) > 4 else ''}")
    entries = [
        PlanEntry(e.target, "passthrough", e.kind, {"w": e.target}, {"w": present[e.target][0]}, present[e.target][1], e.target_shape, None, False, e.pinned_dtype)
        for e in reference.entries
    ]
    return ConversionPlan(pack, entries, [], [], "fused")


def default_output_dtype(plan: ConversionPlan) -> np.dtype:
    """The source's own float dtype (fp16 for exports, fp32 for training checkpoints)."""
    floats = Counter(e.source_dtype for e in plan.entries if e.source_dtype in FLOAT_DTYPES and not e.pinned_dtype)
    if not floats:
        return np.dtype("float32")
    common = floats.most_common(1)[0][0]
    return np.dtype("float16") if common == "float16" else np.dtype("float32")


def output_specs(plan: ConversionPlan, output_dtype: np.dtype) -> list[TensorSpec]:
    specs = []
    for entry in plan.entries:
        is_float = entry.source_dtype in FLOAT_DTYPES
        dtype = np.dtype(entry.pinned_dtype) if entry.pinned_dtype else output_dtype if is_float else np.dtype(entry.source_dtype)
        specs.append(TensorSpec(entry.target, dtype, entry.target_shape))
    return specs


PENDING_SHA256 = "0" * 64  # stands for the source's digest while it is computed: same length


def provenance(info: ModelInfo, plan: ConversionPlan, source_sha256: str, output_dtype: np.dtype) -> dict[str, str]:
    meta = info.summary() | {
        "format": "mlx",
        "layout": CONVERTED_LAYOUT,
        "dtype": str(output_dtype),
        "rvc_convert.version": __version__,
        "rvc_convert.rule_pack": plan.pack.name,
        "rvc_convert.rules_sha256": plan.pack.sha256,
        "source_sha256": info.source_fields.get("source_sha256") if info.kind == "converted" else source_sha256,
    }
    if info.kind == "converted":
        # Re-containering (npz -> safetensors) keeps the original provenance: same bytes as a direct conversion.
        meta["source_kind"] = info.source_fields.get("source_kind") or "converted"
    return meta


def sidecar_config(info: ModelInfo) -> Any:
    """<name>.json: what the family writes beside the weights."""
    return family_named(info.family).sidecar(info.config)


def convert_model(
    source: str | Path,
    target: str = "ios",
    out_dir: str | Path | None = None,
    dtype: str | None = None,
    name: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    hash_source: bool = True,
    private_folder: bool = False,
) -> ConversionResult:
    """Convert one model file. Raises RvcConvertError subclasses only; writes nothing on failure.

    `private_folder`: `out_dir` is a staging folder of the caller's, which publishes (or discards)
    what is written there (rvc_convert.staging): the files go straight in, with no second staging
    folder and publish inside it."""
    if target not in TARGETS:
        raise UsageError(f"unknown target '{target}': use one of {', '.join(TARGETS)}")
    if dtype is not None and dtype not in OUTPUT_DTYPES:
        raise UsageError(f"unknown dtype '{dtype}': use fp16 or fp32")
    source = Path(source)
    early_digest = BackgroundDigest(source) if hash_source and not dry_run and source.is_file() else None
    loaded = read_source(source)
    if early_digest is not None:
        loaded.adopt_digest(early_digest)
    info = detect(loaded)
    plan = build_plan(info)
    output_dtype = np.dtype(OUTPUT_DTYPES[dtype]) if dtype else default_output_dtype(plan)
    if not (hash_source or dry_run):
        raise UsageError("a conversion that writes files records the source sha256: hash_source=False needs dry_run=True")
    if dry_run:
        metadata = provenance(info, plan, loaded.sha256 if hash_source else "", output_dtype)
        return ConversionResult(source, target, info, plan, str(output_dtype), metadata, dry_run=dry_run, loaded=loaded)
    # The source is still being hashed on a thread (BackgroundDigest): the tensors are converted and
    # written meanwhile, the header holding a placeholder digest of the same length until then.
    metadata = provenance(info, plan, PENDING_SHA256, output_dtype)
    result = ConversionResult(source, target, info, plan, str(output_dtype), metadata, dry_run=dry_run, loaded=loaded)

    def final_metadata() -> dict[str, str]:
        try:
            digest = loaded.sha256
        except OSError as exc:  # the source itself, not the output: not a write failure
            raise InputIOError(f"cannot read {loaded.hashed_path} to hash it ({exc.strerror or exc})") from None
        result.metadata = provenance(info, plan, digest, output_dtype)
        return result.metadata

    out_dir = Path(out_dir) if out_dir is not None else source.parent
    weights_path, config_path = output_paths(source, target, out_dir, name)
    check_destinations(source, [weights_path, config_path])
    ensure_writable_dir(out_dir)

    specs = output_specs(plan, output_dtype)
    entries = {e.target: e for e in plan.entries}
    arrays = {k: t.array for k, t in info.tensors.items()}
    overflow: list[str] = []
    done = 0

    def produce(spec: TensorSpec) -> np.ndarray | StreamedArray:
        nonlocal done
        entry = entries[spec.name]
        array, peak = produce_target(entry, arrays, spec.dtype)
        for source_key in entry.sources.values():  # each source is read once: its pages can go
            release_pages(arrays[source_key])
        if isinstance(array, StreamedArray):  # written block by block; a block beyond fp16 stops the write
            done += 1
            if progress:
                progress(done, len(specs))
            checked = array.map(lambda block: _fits_fp16(spec.name, block)) if spec.dtype == np.float16 else array
            return checked.astype(spec.dtype)
        if spec.dtype == np.float16 and peak > FP16_MAX:
            overflow.append(f"{spec.name} (max |x| {peak:.4g})")
        done += 1
        if progress:
            progress(done, len(specs))
        if done == len(specs) and overflow:
            # Raised at the last tensor so the message names every offender; the writer then discards its temp file.
            raise UnsupportedModelError(
                f"{len(overflow)} tensor(s) exceed the float16 range ±{FP16_MAX:g}: {', '.join(overflow[:4])}; convert with --dtype fp32",
                finding="fp16_overflow",
            )
        return array

    writer = write_safetensors if target == "ios" else write_npz

    def write_pair(weights: Path, config: Path) -> None:
        try:
            with np.errstate(over="ignore"):
                writer(weights, specs, produce, metadata, final_metadata)
            fault_point("write-config")
            write_json(config, sidecar_config(info))
        except OSError as exc:
            raise write_failure(out_dir, exc, f"{weights_path.name} / {config_path.name}") from None

    if private_folder:
        write_pair(weights_path, config_path)
    else:
        # Both files are written into a staging folder and published together: a failed write leaves
        # any previous pair untouched, a crash never leaves weights without their config.
        with staging_folder(out_dir) as folder:
            staged_weights, staged_config = folder / weights_path.name, folder / config_path.name
            write_pair(staged_weights, staged_config)
            publish([(staged_weights, weights_path), (staged_config, config_path)], out_dir, folder)
    result.weights_path, result.config_path = weights_path, config_path
    return result


def output_paths(source: str | Path, target: str, out_dir: Path, name: str | None) -> tuple[Path, Path]:
    """`<out_dir>/<stem>.<ext>` and `<out_dir>/<stem>.json`; the stem is `name` or the model's."""
    source = Path(source)
    stem = name or (source.name if source.is_dir() else source.stem)
    if not stem or stem.startswith(".") or any(c in stem for c in "/\\\0"):
        raise UsageError(f"output name {quote(stem, 80)} is not a plain file name: it must not contain path separators or start with '.'")
    weights = f"{stem}{TARGETS[target]}"
    if len(weights.encode("utf-8", "surrogateescape")) > MAX_FILE_NAME:
        raise UsageError(f"the output name {quote(weights, 80)} is longer than a file name may be ({MAX_FILE_NAME} bytes); pass --name with a shorter stem")
    return out_dir / weights, out_dir / f"{stem}.json"


def _fits_fp16(name: str, block: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(block))) if block.size and block.dtype.kind == "f" else 0.0
    if peak > FP16_MAX:
        raise UnsupportedModelError(f"{name} exceeds the float16 range ±{FP16_MAX:g} (max |x| {peak:.4g}); convert with --dtype fp32", finding="fp16_overflow")
    return block


def describe_plan(result: ConversionResult) -> dict[str, Any]:
    """The plan as plain data, for `inspect`, `--dry-run` and `--json`."""
    info, plan = result.info, result.plan
    return {
        "source": str(result.source),
        "container": result.loaded.container if result.loaded else None,
        "source_sha256": result.metadata.get("source_sha256") or None,
        "pickle_globals": result.loaded.globals_seen if result.loaded else [],
        "family": info.family,
        "kind": info.kind,
        "variant": info.variant,
        "facts": {k: v for k, v in info.summary().items() if k != "config"},
        "config": sidecar_config(info),
        "evidence": info.evidence,
        "contradictions": info.contradictions,
        "notes": info.notes,
        "source_fields": {k: v for k, v in info.source_fields.items()},
        "rule_pack": plan.pack.name,
        "rules_sha256": plan.pack.sha256,
        "weight_norm_spelling": plan.weight_norm_spelling,
        "output_dtype": result.output_dtype,
        "output_bytes": result.output_bytes,
        "tensors": [
            {
                "target": e.target,
                "rule": e.rule_id,
                "kind": e.kind,
                "sources": e.sources,
                "source_shapes": {role: list(shape) for role, shape in e.source_shapes.items()},
                "source_dtype": e.source_dtype,
                "target_shape": list(e.target_shape),
                "ops": e.ops,
            }
            for e in plan.entries
        ],
        "dropped": [{"source": key, "rule": rule} for key, rule in plan.dropped],
        "aliased": [{"source": a, "as": b, "rule": rule} for a, b, rule in plan.aliased],
        "rule_hits": plan.rule_hits,
    }

