"""Bundles: many voices plus one shared HuBERT/ContentVec and RMVPE, converted, validated, hashed and
listed in `manifest.json`, rebuilt incrementally and updated atomically; and `verify` of a bundle.

Spec (`bundle.yaml`, schema `schemas/bundle.schema.json`; paths relative to the spec file)::

    target: ios                      # ios: .safetensors (default) | mlx: .npz
    dtype: fp16                      # optional; default: each source's own
    hubert: models/hubert_base.pt    # or {source: …, name: …}; default name "hubert"
    rmvpe: models/rmvpe.pt           # default name "rmvpe"
    voices:
      - source: models/alice.pth
        name: alice                  # default: the file stem
        display_name: Alice
        author: …                    # also license, description, language, url, tags, extra
        index: models/alice.index    # optional FAISS index, copied through unchanged
      - models/choir/*.pth           # a glob: one voice per file, named by its stem

Spec errors name the line and field (the YAML node tree keeps each value's line). Names are safe
file stems, unique ignoring case (APFS ignores case).

Build. Every asset's source is hashed first (a folder: the hash of its `sha256  relpath` listing).
An asset is *reused*, not even re-read, when the previous manifest lists it under the same name
and role with the same source sha256, converter version, target and dtype flag, its rule pack
still hashes to the recorded rules hash, and its files in the folder still have their recorded
sha256. Everything else becomes a job: convert into the staging folder, validate, hash. Jobs are
keyed by (source sha256, target, dtype), so a source used twice is converted once. Jobs run in
`jobs` spawned worker processes with one BLAS thread each (spawn: safe on macOS and beside the
progress thread). A failing asset is reported with its exit class and left out of the manifest;
the others still build.

Files are named `<name>.<first 12 hex of their sha256>.<ext>` (`alice.3f2a1b9c0d4e.safetensors`):
the app finds them through `manifest.json`, whose name never changes, and a file's name changes
exactly when its bytes do. This is what makes the update atomic without symlinks or generation
folders (which Xcode folder references, zip tools and Windows handle badly) and keeps every path
flat and simple.

Atomic update, in this order, under an exclusive flock on the output folder:
  1. recover: finish what an interrupted run left (step 6 using the journal and whichever manifest
     is current), delete `.rvc-staging/` and stray temp files;
  2. stage: every job writes only inside `.rvc-staging/`;
  3. journal: `.rvc-bundle.journal.json` (atomic) lists every file the old manifest names and
     every file about to be placed;
  4. publish: new files are renamed into the folder (same file system, so `rename` is atomic)
     under names the old manifest cannot reference (content-addressed: a different name, or the
     same name only for the same bytes);
  5. commit: `manifest.json` is replaced atomically (temp + fsync + rename + directory fsync): the
     single point where the bundle switches from old to new;
  6. collect: journal files the current manifest does not name are deleted, then the journal.
Killed before 5, the folder holds the old manifest and all its files (plus unreferenced new files
that `verify` reports as pending and the next run deletes); killed after 5, the new bundle is
complete. A rerun with nothing changed writes nothing: the manifest is rewritten only when its
bytes change, and staging is created only when there is a job.

The manifest is deterministic (no timestamps, sorted keys, voices sorted by name, source paths as
written, validation figures rounded to 4 significant digits), so two builds of one spec give
byte-identical folders.

Test hook: RVC_CONVERT_TEST_CRASH_AFTER=N kills the build (SIGKILL, worker processes first) once
N jobs are committed to staging; `published` kills it after step 4, `committed` after step 5.
"""

from __future__ import annotations

import contextlib
import functools
import glob as globbing
import hashlib
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema
import yaml

from . import __version__
from .convert import TARGETS, convert_model
from .errors import EXIT_CODES, EXIT_INTERNAL, EXIT_UNSUPPORTED, EXIT_VALIDATION_FAILED, CorruptFileError, InputIOError, RvcConvertError, UsageError
from .reader import file_sha256
from .rules import SCHEMAS_DIR, load_rule_pack
from .writer import atomic_output, ensure_writable_dir

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "rvc-convert/bundle-manifest"
MANIFEST_FORMAT_VERSION = 1
STAGING_DIR = ".rvc-staging"
JOURNAL_NAME = ".rvc-bundle.journal.json"
CRASH_HOOK_ENV = "RVC_CONVERT_TEST_CRASH_AFTER"
SHARED_ROLES = ("hubert", "rmvpe")
ROLE_FAMILY = {"hubert": "hubert", "rmvpe": "rmvpe", "voice": "synthesizer"}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.[0-9a-f]{12}\.(safetensors|npz|json|index)$")
DISPLAY_FIELDS = ("display_name", "author", "license", "description", "language", "url", "tags", "extra")
RMVPE_CENTS_PER_BIN = 20  # RVC's cents mapping: 20 * bin + 1997.38 (hubert_rmvpe_format.md §9.5)
FIGURE_DIGITS = 4  # validation figures in the manifest: stable across machines, still informative
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")

Event = dict[str, Any]
EventSink = Callable[[Event], None]


class BundleSpecError(UsageError):
    """The spec (or the command line's model list) is wrong; every problem names its line and field."""

    kind = "bundle_spec"


# --- spec ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetSpec:
    """One asset to ship: a voice or a shared model, as the spec describes it."""

    name: str
    role: str  # voice | hubert | rmvpe
    source: Path  # where to read it
    label: str  # the source as written (spec-relative), for the manifest and messages
    where: str  # "bundle.yaml:12" or "argument models/a.pth", for messages
    pointer: str = ""  # "voices[2].name": what a spec problem about this asset points at
    line: int | None = None
    index: Path | None = None
    index_label: str | None = None
    display: dict[str, Any] = field(default_factory=dict)
    unresolved: str | None = None  # why there is nothing to read (a glob that matches no file)


@dataclass(frozen=True)
class BundleSpec:
    target: str
    dtype: str | None
    assets: tuple[AssetSpec, ...]  # hubert, rmvpe, then voices in spec order
    origin: str  # the spec file, or "command line"


@dataclass(frozen=True)
class SpecProblem:
    line: int | None
    field: str
    message: str


def _raise_problems(origin: str, problems: list[SpecProblem]) -> None:
    if not problems:
        return
    ordered = sorted(problems, key=lambda p: (p.line or 0, p.field))
    shown = [f"{origin}:{p.line}: {p.field}: {p.message}" if p.line else f"{origin}: {p.field}: {p.message}" for p in ordered]
    raise BundleSpecError(f"{len(shown)} problem(s) in the bundle spec: " + "; ".join(shown))


def _field_name(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _node_at(root: yaml.Node, path: list[Any]) -> yaml.Node:
    """The deepest node of the composed YAML tree along a jsonschema error path."""
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
    return node


def _key_node(mapping: yaml.Node, key: str) -> yaml.Node:
    if isinstance(mapping, yaml.MappingNode):
        return next((k for k, _ in mapping.value if k.value == key), mapping)
    return mapping


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _duplicate_keys(node: yaml.Node, path: list[Any]) -> list[SpecProblem]:
    """PyYAML keeps the last of two equal keys silently; a spec with both is a mistake."""
    problems = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if key.value in seen:
                problems.append(SpecProblem(_line(key), _field_name(path + [key.value]), f"given twice (first at line {seen[key.value]})"))
            seen.setdefault(key.value, _line(key))
            problems += _duplicate_keys(value, path + [key.value])
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, path + [index])
    return problems


def _schema_problems(data: Any, root: yaml.Node, schema: dict[str, Any]) -> list[SpecProblem]:
    problems = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(data):
        path = list(error.absolute_path)
        node = _node_at(root, path)
        where = _field_name(path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            for key in (k for k in error.instance if k not in allowed):
                hint = get_close_matches(str(key), allowed, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                problems.append(SpecProblem(_line(_key_node(node, key)), _field_name(path + [key]), f"unknown field (allowed: {', '.join(allowed)}){suggestion}"))
        elif error.validator == "required" and isinstance(error.instance, dict):
            for key in (k for k in error.validator_value if k not in error.instance):
                problems.append(SpecProblem(_line(node), where, f"missing required field '{key}'"))
        elif error.validator == "pattern" and path and path[-1] == "name":
            problems.append(SpecProblem(_line(node), where, f"{error.instance!r} is not a safe file stem: use letters, digits, '-' and '_' (at most 64, starting with a letter or digit)"))
        elif error.validator == "enum":
            choices = ", ".join("null" if c is None else str(c) for c in error.validator_value)
            problems.append(SpecProblem(_line(node), where, f"{error.instance!r} is not one of: {choices}"))
        else:
            problems.append(SpecProblem(_line(node), where, error.message))
    return problems


def _compose_spec(text: str, origin: str) -> tuple[Any, yaml.Node]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise BundleSpecError(f"{origin}{line}: not valid YAML ({exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise BundleSpecError(f"{origin}: not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    if node is None:
        raise BundleSpecError(f"{origin}: the bundle spec is empty; it needs at least `voices:` (see rvc-convert bundle --help)")
    return data, node


def load_spec(path: str | Path) -> BundleSpec:
    """Read and check bundle.yaml. Raises BundleSpecError listing every problem with its line and field."""
    path = Path(path)
    origin = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputIOError(f"{path}: no such bundle spec") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputIOError(f"{path}: cannot read the bundle spec ({getattr(exc, 'strerror', None) or exc})") from None
    data, root = _compose_spec(text, origin)
    schema = json.loads((SCHEMAS_DIR / "bundle.schema.json").read_text())
    problems = _duplicate_keys(root, []) + _schema_problems(data, root, schema)
    _raise_problems(origin, problems)

    base = path.parent
    assets: list[AssetSpec] = []
    for role in SHARED_ROLES:
        if data.get(role) is None:
            continue
        entry = data[role] if isinstance(data[role], dict) else {"source": data[role]}
        node = _node_at(root, [role])
        line = _line(_node_at(node, ["name"] if "name" in entry else []))
        assets.append(AssetSpec(entry.get("name", role), role, base / entry["source"], entry["source"], f"{origin}:{line}", role, line))
    for index, entry in enumerate(data["voices"]):
        assets += _expand_voice(entry if isinstance(entry, dict) else {"source": entry}, base, origin, _node_at(root, ["voices", index]), index, problems)
    problems += _name_problems(assets)
    _raise_problems(origin, problems)
    return BundleSpec(data.get("target", "ios"), data.get("dtype"), tuple(assets), origin)


def _expand_voice(entry: dict[str, Any], base: Path, origin: str, node: yaml.Node, index: int, problems: list[SpecProblem]) -> list[AssetSpec]:
    label = entry["source"]
    display = {k: entry[k] for k in DISPLAY_FIELDS if k in entry}
    index_path = base / entry["index"] if "index" in entry else None
    source_line = _line(_node_at(node, ["source"]))
    if not globbing.has_magic(label):
        matches = [(base / label, label)]
    else:
        found = sorted(globbing.glob(str(base / label), recursive=True))
        matches = [(Path(m), Path(os.path.relpath(m, base)).as_posix()) for m in found]
        if not matches:
            return [AssetSpec(label, "voice", base / label, label, f"{origin}:{source_line}", unresolved=f"the glob {label!r} matches no file")]
        clashing = [key for key in ("name", "index") if key in entry and len(matches) > 1]
        for key in clashing:
            problems.append(
                SpecProblem(_line(_key_node(node, key)), f"voices[{index}].{key}", f"given for the glob {label!r}, which matches {len(matches)} files: one {key} cannot serve them all")
            )
        if clashing:
            return []
    voices = []
    field_name = f"voices[{index}].{'name' if 'name' in entry else 'source'}"
    line = _line(_node_at(node, ["name"])) if "name" in entry else source_line
    for source, source_label in matches:
        name = entry.get("name") or source.stem
        if "name" not in entry and not NAME_PATTERN.match(name):
            problems.append(SpecProblem(source_line, field_name, f"the file stem {name!r} of {source_label} is not a safe name: give the voice a `name:` (letters, digits, '-', '_')"))
        voices.append(AssetSpec(name, "voice", source, source_label, f"{origin}:{line}", field_name, line, index_path, entry.get("index"), display))
    return voices


def _name_problems(assets: list[AssetSpec]) -> list[SpecProblem]:
    """Names become file stems on case-insensitive file systems: unique ignoring case."""
    problems, seen = [], {}
    for asset in assets:
        if asset.unresolved:
            continue
        key = asset.name.lower()
        if key in seen:
            first = seen[key]
            problems.append(SpecProblem(asset.line, asset.pointer, f"the name {asset.name!r} is already used by {first.pointer} ({first.where}); names must be unique, ignoring case"))
        else:
            seen[key] = asset
    return problems


def spec_from_paths(models: list[str | Path], hubert: str | Path | None, rmvpe: str | Path | None, target: str = "ios", dtype: str | None = None) -> BundleSpec:
    """The spec-less form: `rvc-convert bundle models/*.pth --hubert … --rmvpe …`; voices named by file stem."""
    origin = "command line"
    assets: list[AssetSpec] = []
    problems: list[SpecProblem] = []
    for role, given in (("hubert", hubert), ("rmvpe", rmvpe)):
        if given is not None:
            assets.append(AssetSpec(role, role, Path(given), Path(given).as_posix(), f"--{role}", f"--{role}"))
    seen_paths: set[Path] = set()
    for given in models:
        label = Path(given).as_posix()
        expanded = sorted(globbing.glob(label, recursive=True)) if globbing.has_magic(label) and not Path(given).exists() else [label]
        if not expanded:
            assets.append(AssetSpec(label, "voice", Path(label), label, origin, unresolved=f"the glob {label!r} matches no file"))
        for item in expanded:
            source = Path(item)
            if source.resolve() in seen_paths:
                continue  # the same file named twice (a glob and its match): one voice
            seen_paths.add(source.resolve())
            if not NAME_PATTERN.match(source.stem):
                problems.append(SpecProblem(None, f"model {item}", f"the file stem {source.stem!r} is not a safe name (letters, digits, '-', '_'): rename the file or use a bundle.yaml with `name:`"))
            assets.append(AssetSpec(source.stem, "voice", source, source.as_posix(), f"argument {item}", f"model {item}"))
    if not any(a.role == "voice" for a in assets):
        problems.append(SpecProblem(None, "models", "no voice given: pass voice files (or a bundle.yaml)"))
    problems += _name_problems(assets)
    _raise_problems(origin, problems)
    return BundleSpec(target, dtype, tuple(assets), origin)


# --- sources and reuse ---------------------------------------------------------------------------------


def source_sha256(path: Path) -> str:
    """sha256 of a file; of a folder (a Hugging Face model), of its `sha256  relpath` listing, so any file changing counts."""
    if path.is_dir():
        files = sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())
        listing = "".join(f"{file_sha256(p)}  {p.relative_to(path).as_posix()}\n" for p in files)
        return hashlib.sha256(listing.encode("utf-8")).hexdigest()
    return file_sha256(path)


def file_matches(path: Path, record: dict[str, Any]) -> bool:
    """Does the file exist with the recorded size and sha256?"""
    try:
        return path.is_file() and path.stat().st_size == record["size"] and file_sha256(path) == record["sha256"]
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def _rules_sha256(rule_pack: str) -> str:
    return load_rule_pack(rule_pack).sha256


def reusable_entry(asset: AssetSpec, digest: str, previous: dict[str, Any] | None, target: str, dtype: str | None, out_dir: Path) -> dict[str, Any] | None:
    """The previous manifest's entry for this asset when nothing that shapes its files changed and they are intact."""
    if previous is None or previous["converter"]["version"] != __version__ or previous["target"] != target or previous["dtype"] != dtype:
        return None
    entry = next((e for e in manifest_assets(previous) if e["role"] == asset.role and e["name"] == asset.name), None)
    if entry is None or entry["source"]["sha256"] != digest:
        return None
    try:
        if _rules_sha256(entry["rule_pack"]) != entry["rules_sha256"]:
            return None
    except RvcConvertError:
        return None
    if not all(file_matches(out_dir / entry["files"][key]["path"], entry["files"][key]) for key in ("weights", "config")):
        return None
    return entry


# --- one conversion job (runs in a worker process) ---------------------------------------------------------------

_worker_events: Any = None  # the event queue in a worker process


def _init_worker(events: Any) -> None:
    global _worker_events
    _worker_events = events
    events.put(("worker", os.getpid()))  # so the parent can stop exactly its own workers


def _run_job_in_worker(job: dict[str, Any]) -> dict[str, Any]:
    def emit(phase: str, fraction: float | None) -> None:
        _worker_events.put(("phase", job["id"], phase, fraction))

    return run_job(job, emit)


def _significant(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{FIGURE_DIGITS}g}")


def validation_figures(report: Any) -> dict[str, Any]:
    """What the manifest keeps of a validation report: each check's status, the worst layer error, the smoke RMS."""
    worst = [c.metrics["worst_relative_error"] for c in report.checks if "worst_relative_error" in c.metrics]
    layers = [c.metrics["layers"] for c in report.checks if "layers" in c.metrics]
    rms = [c.metrics["rms"] for c in report.checks if c.name.startswith("runtime.smoke") and "rms" in c.metrics]
    return {
        "ok": report.ok,
        "checks": [{"name": c.name, "status": c.status} for c in report.checks],
        "layers_checked": sum(layers) if layers else None,
        "worst_layer_error": _significant(max(worst)) if worst else None,
        "smoke_rms": _significant(rms[0]) if rms else None,
    }


def _rate(numerator: int, denominator: int) -> int | float:
    rate = numerator / denominator
    return int(rate) if rate == int(rate) else round(rate, 6)


def describe_variant(info: Any) -> dict[str, Any]:
    if info.family == "synthesizer":
        cfg = info.config
        return {"name": cfg.variant, "version": cfg.version, "sample_rate": cfg.sr, "f0": bool(cfg.f0), "vocoder": cfg.vocoder, "speakers": cfg.spk_embed_dim}
    if info.family == "hubert":
        cfg = info.config
        return {
            "name": info.variant,
            "layers": cfg["num_layers"],
            "hidden_size": cfg["hidden_size"],
            "final_proj_dim": cfg.get("final_proj_dim"),
            "layout": cfg.get("source_layout"),
        }
    return {"name": info.variant}


def asset_contract(info: Any) -> dict[str, Any]:
    """The input/output contract an app must honour to run this model (reference/*_format.md)."""
    cfg = info.config
    if info.family == "synthesizer":
        return {
            "sample_rate": cfg.sr,
            "hop": cfg.hop,
            "frame_rate_hz": _rate(cfg.sr, cfg.hop),
            "phone_width": 256 if cfg.version == "v1" else 768,
            "hubert_output": "layer9_final_proj" if cfg.version == "v1" else "last_layer",
            "f0": bool(cfg.f0),
            "speakers": cfg.spk_embed_dim,
        }
    if info.family == "hubert":
        hop, receptive_field = 1, 1
        for _channels, kernel, stride in cfg["conv_layers"]:
            receptive_field += (kernel - 1) * hop
            hop *= stride
        outputs = {"last_layer": cfg["hidden_size"]}
        if cfg.get("final_proj_dim"):
            outputs["layer9_final_proj"] = cfg["final_proj_dim"]
        return {
            "sample_rate": cfg["sample_rate"],
            "hop": hop,
            "frame_rate_hz": _rate(cfg["sample_rate"], hop),
            "receptive_field": receptive_field,
            "normalize_waveform": bool(cfg.get("normalize_waveform", False)),
            "outputs": outputs,
            "v1_output_layer": cfg["v1_output_layer"],
        }
    return {
        "sample_rate": cfg["sample_rate"],
        "hop": cfg["hop_length"],
        "frame_rate_hz": _rate(cfg["sample_rate"], cfg["hop_length"]),
        "n_fft": cfg["n_fft"],
        "mel_bins": cfg["n_mels"],
        "fmin": cfg["fmin"],
        "fmax": cfg["fmax"],
        "pitch_bins": cfg["n_classes"],
        "cents_per_bin": RMVPE_CENTS_PER_BIN,
        "threshold": cfg["threshold"],
    }


def _failure(kind: str, message: str, exit_code: int) -> dict[str, Any]:
    return {"kind": kind, "message": " ".join(message.split()), "exit_code": exit_code, "meaning": EXIT_CODES.get(exit_code, "")}


def _error_of(exc: RvcConvertError) -> dict[str, Any]:
    return _failure(exc.kind, str(exc), exc.exit_code)


def _staged_file(path: Path) -> dict[str, Any]:
    return {"staged": str(path), "sha256": file_sha256(path), "size": path.stat().st_size, "suffix": path.suffix}


def run_job(job: dict[str, Any], emit: Callable[[str, float | None], None]) -> dict[str, Any]:
    """Convert one source into the job's staging folder and validate it. Plain data back, never an exception."""
    from .validate import validate_conversion

    started = time.perf_counter()
    outcome: dict[str, Any] = {"id": job["id"], "ok": False, "variant": None, "validation": None}
    last_step = -1

    def tensor_progress(done: int, total: int) -> None:
        nonlocal last_step
        step = 20 * done // max(total, 1)
        if step != last_step:
            last_step = step
            emit("converting", done / max(total, 1))

    try:
        emit("reading", None)
        result = convert_model(job["source"], job["target"], job["staging"], job["dtype"], name="asset", progress=tensor_progress)
        outcome["variant"] = result.info.variant
        emit("validating", None)
        try:
            report = validate_conversion(result)
        except ImportError as exc:
            # Not shipping what could not be checked.
            outcome["error"] = _failure("validation_unavailable", f"{job['label']}: cannot validate a {result.info.family} ({exc})", EXIT_VALIDATION_FAILED)
            return outcome
        outcome["validation"] = validation_figures(report)
        if not report.ok:
            outcome["error"] = _failure("validation", f"{job['label']}: the converted file failed validation ({(report.failures() or ['unknown'])[0]})", EXIT_VALIDATION_FAILED)
            return outcome
        outcome |= {
            "ok": True,
            "read_sha256": result.loaded.sha256 if result.loaded else None,  # what the reader hashed, to catch a file changing mid-build
            "weights": _staged_file(result.weights_path),
            "config": _staged_file(result.config_path),
            "record": {
                "family": result.info.family,
                "kind": result.info.kind,
                "variant": describe_variant(result.info),
                "dtype": result.output_dtype,
                "rule_pack": result.plan.pack.name,
                "rules_sha256": result.plan.pack.sha256,
                "validation": outcome["validation"],
                "contract": asset_contract(result.info),
            },
        }
        emit("staged", None)
    except RvcConvertError as exc:
        outcome["error"] = _error_of(exc)
    except Exception as exc:  # a bug: report it against this asset and keep building the others
        where = traceback.extract_tb(exc.__traceback__)[-1]
        outcome["error"] = _failure(
            "internal", f"{job['label']}: internal error {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno}; please report it)", EXIT_INTERNAL
        )
    finally:
        outcome["seconds"] = round(time.perf_counter() - started, 3)
    return outcome


# --- manifest --------------------------------------------------------------------------------------------------------


def manifest_assets(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """hubert, rmvpe (when present), then the voices."""
    return [manifest[role] for role in SHARED_ROLES if manifest.get(role)] + list(manifest.get("voices", []))


def manifest_files(manifest: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(asset name, file role, {path, sha256, size}) for every file the manifest lists."""
    for asset in manifest_assets(manifest):
        for role in sorted(asset["files"]):
            yield asset["name"], role, asset["files"][role]


def manifest_file_names(manifest: dict[str, Any]) -> set[str]:
    return {record["path"] for _, _, record in manifest_files(manifest)}


def check_manifest(manifest: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the manifest does not match schemas/manifest.schema.json."""
    schema = json.loads((SCHEMAS_DIR / "manifest.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(manifest)


def build_manifest(target: str, dtype: str | None, entries: list[dict[str, Any]]) -> dict[str, Any]:
    by_role = {role: next((e for e in entries if e["role"] == role), None) for role in SHARED_ROLES}
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "converter": {"name": "rvc-convert", "version": __version__},
        "target": target,
        "container": TARGETS[target].lstrip("."),
        "dtype": dtype,
        "rules": dict(sorted({e["rule_pack"]: e["rules_sha256"] for e in entries}.items())),
        "hubert": by_role["hubert"],
        "rmvpe": by_role["rmvpe"],
        "voices": sorted((e for e in entries if e["role"] == "voice"), key=lambda e: e["name"]),
    }


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The folder's manifest, schema-checked. InputIOError when there is none, CorruptFileError when it is not one."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputIOError(f"{path}: no such file: {out_dir} is not a bundle (build one with `rvc-convert bundle`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path}: not readable JSON ({exc})") from None
    try:
        check_manifest(manifest)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise CorruptFileError(f"{path}: not a valid bundle manifest at {where}: {exc.message}") from None
    return manifest


def _previous_manifest(out_dir: Path, warnings: list[str]) -> dict[str, Any] | None:
    if not (out_dir / MANIFEST_NAME).exists():
        return None
    try:
        return read_manifest(out_dir)
    except RvcConvertError as exc:
        warnings.append(f"the existing manifest is ignored and every asset rebuilt: {exc}")
        return None


# --- atomic update: lock, journal, publish, commit, collect -----------------------------------------------


@contextlib.contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """An exclusive flock on the folder itself (no lock file to ship): one bundle run per folder at a time."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent runs are the user's to avoid
        yield
        return
    handle = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputIOError(f"{out_dir}: another rvc-convert bundle run is updating this folder; wait for it to finish") from None
        yield
    finally:
        os.close(handle)


def _fsync_dir(directory: Path) -> None:
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # not every file system syncs directories; rename is still atomic
    finally:
        os.close(handle)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_durably(path: Path, text: str) -> None:
    with atomic_output(path) as temp:
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    _fsync_dir(path.parent)


def _stop_processes(pids: set[int], how: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, how)


def _crash_point(point: str, staged: int = 0, worker_pids: set[int] = frozenset()) -> None:
    """The test hook (module docstring): die like `kill -9` at a named point of the update, workers first."""
    wanted = os.environ.get(CRASH_HOOK_ENV, "")
    if not wanted or not (wanted == point or (point == "staged" and wanted.isdigit() and staged == int(wanted))):
        return
    kill = getattr(signal, "SIGKILL", signal.SIGTERM)
    _stop_processes(worker_pids, kill)
    os.kill(os.getpid(), kill)
    os._exit(137)


def _safe_names(names: Any) -> set[str]:
    """Journal entries are deleted later: only plain bundle file names, never a path."""
    return {n for n in names if isinstance(n, str) and FILE_NAME_PATTERN.match(n)} if isinstance(names, list) else set()


def _remove_unreferenced(out_dir: Path, candidates: set[str], referenced: set[str]) -> list[str]:
    removed = []
    for name in sorted(candidates - referenced):
        path = out_dir / name
        if path.exists():
            path.unlink()
            removed.append(name)
    return removed


def recover_interrupted_run(out_dir: Path, warnings: list[str]) -> list[str]:
    """Finish step 6 of a run that was killed, against whichever manifest is current; drop its staging and temp files."""
    removed: list[str] = []
    journal = out_dir / JOURNAL_NAME
    if journal.exists():
        try:
            candidates = _safe_names(json.loads(journal.read_text(encoding="utf-8")).get("files"))
            current = manifest_file_names(read_manifest(out_dir)) if (out_dir / MANIFEST_NAME).exists() else set()
            removed = _remove_unreferenced(out_dir, candidates, current)
        except (RvcConvertError, ValueError, AttributeError, OSError) as exc:
            warnings.append(f"could not finish the interrupted run's clean-up ({exc}); `rvc-convert verify` lists what it left")
        journal.unlink(missing_ok=True)
    shutil.rmtree(out_dir / STAGING_DIR, ignore_errors=True)
    for stray in (p for p in out_dir.iterdir() if _is_temp_file(p.name)):
        stray.unlink(missing_ok=True)
    if removed or journal.exists():
        _fsync_dir(out_dir)
    return removed


def _is_temp_file(name: str) -> bool:
    """writer.atomic_output's temp files for the manifest and the journal (`.<name>.<random>.partial`)."""
    return name.endswith(".partial") and any(name.startswith(f".{own}.") for own in (MANIFEST_NAME, JOURNAL_NAME))


@dataclass(frozen=True)
class Placement:
    """A file to put into the bundle folder under its content-addressed name."""

    source: Path
    name: str
    ours: bool = True  # a staged file we wrote (hard-linked into place); else a user's file (copied: never share its inode)


def _hard_link(source: Path, link: Path) -> bool:
    try:
        os.link(source, link)
        return True
    except OSError:  # a file system without hard links
        return False


def _publish(out_dir: Path, placements: list[Placement]) -> None:
    """Step 4: rename each new file into the folder; a hard link from staging where possible, else a copy."""
    scratch = out_dir / STAGING_DIR / "publish"
    scratch.mkdir(parents=True, exist_ok=True)
    for placement in placements:
        temp = scratch / placement.name
        temp.unlink(missing_ok=True)
        if not (placement.ours and _hard_link(placement.source, temp)):
            shutil.copyfile(placement.source, temp)
        _fsync_file(temp)
        os.replace(temp, out_dir / placement.name)
    _fsync_dir(out_dir)


def commit_bundle(out_dir: Path, manifest: dict[str, Any], placements: list[Placement], previous_names: set[str]) -> tuple[bool, list[str]]:
    """Steps 3-6 of the update. Returns (manifest written, files removed). Writes nothing when nothing changed."""
    text = manifest_text(manifest)
    manifest_path = out_dir / MANIFEST_NAME
    old_text = manifest_path.read_text(encoding="utf-8") if manifest_path.exists() else None
    if text == old_text and not placements:
        return False, []
    journal = out_dir / JOURNAL_NAME
    candidates = previous_names | {p.name for p in placements}
    _write_durably(journal, json.dumps({"files": sorted(candidates)}, indent=2) + "\n")
    _publish(out_dir, placements)
    _crash_point("published")
    written = text != old_text
    if written:
        _write_durably(manifest_path, text)
    _crash_point("committed")
    removed = _remove_unreferenced(out_dir, candidates, manifest_file_names(manifest))
    journal.unlink()
    _fsync_dir(out_dir)
    return written, removed


# --- build --------------------------------------------------------------------------------------------------------


@dataclass
class AssetPlan:
    asset: AssetSpec
    digest: str | None = None
    index_digest: str | None = None
    reuse: dict[str, Any] | None = None
    job_id: str | None = None
    error: dict[str, Any] | None = None


def plan_asset(asset: AssetSpec, spec: BundleSpec, previous: dict[str, Any] | None, out_dir: Path, force: bool) -> AssetPlan:
    """Hash the source (and index) and decide: reuse, build, or fail now."""
    plan = AssetPlan(asset)
    if asset.unresolved:
        plan.error = _failure("io", f"{asset.label} ({asset.where}): {asset.unresolved}", InputIOError.exit_code)
        return plan
    for what, path in (("source", asset.source), ("index", asset.index)):
        if path is None:
            continue
        if not path.exists() or (what == "index" and not path.is_file()):
            label = asset.label if what == "source" else asset.index_label
            plan.error = _failure("io", f"{label} ({asset.where}): no such {'file or folder' if what == 'source' else 'file'}", InputIOError.exit_code)
            return plan
        try:
            digest = source_sha256(path)
        except OSError as exc:
            plan.error = _failure("io", f"{path} ({asset.where}): cannot read ({exc.strerror or exc})", InputIOError.exit_code)
            return plan
        if what == "source":
            plan.digest = digest
        else:
            plan.index_digest = digest
    if not force:
        plan.reuse = reusable_entry(asset, plan.digest, previous, spec.target, spec.dtype, out_dir)
    if plan.reuse is None:
        plan.job_id = hashlib.sha256(f"{plan.digest}|{spec.target}|{spec.dtype}".encode()).hexdigest()[:16]
    return plan


def _jobs_for(plans: list[AssetPlan], spec: BundleSpec, staging: Path) -> list[dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    for plan in plans:
        if plan.job_id and plan.job_id not in jobs:
            jobs[plan.job_id] = {
                "id": plan.job_id,
                "source": str(plan.asset.source),
                "label": plan.asset.label,
                "target": spec.target,
                "dtype": spec.dtype,
                "staging": str(staging / plan.job_id),
            }
    return list(jobs.values())


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Spawned workers inherit the environment: one BLAS thread each, since the processes already fill
    the cores (on a 2-core Linux box OpenBLAS's own threads made the MLX smoke test ~9x slower)."""
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_jobs(
    jobs: list[dict[str, Any]], workers: int, on_event: EventSink, names: dict[str, list[str]], on_result: Callable[[str, dict[str, Any]], None]
) -> None:
    """Run every job in up to `workers` spawned processes, handing each result to on_result as it
    arrives (then the test hook may fire). A worker that dies fails its own job only."""
    if not jobs:
        return
    context = multiprocessing.get_context("spawn")  # fork is unsafe beside the progress thread, and on macOS
    events = context.Queue()
    worker_pids: set[int] = set()

    def drain() -> None:
        while True:
            try:
                kind, *payload = events.get_nowait()
            except Exception:  # queue.Empty, or a queue torn down by a dead worker
                return
            if kind == "worker":
                worker_pids.add(payload[0])
            else:
                job_id, phase, fraction = payload
                on_event({"event": "phase", "names": names[job_id], "phase": phase, "fraction": fraction})

    with _worker_environment(), ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context, initializer=_init_worker, initargs=(events,)) as pool:
        futures = {pool.submit(_run_job_in_worker, job): job for job in jobs}  # workers are spawned here
        pending, finished = set(futures), 0
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                drain()
                for future in done:
                    job = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # the worker died (a crash in native code, out of memory)
                        message = f"{job['label']}: the worker process died ({type(exc).__name__}: {exc})"
                        result = {"id": job["id"], "ok": False, "variant": None, "validation": None, "seconds": None, "error": _failure("internal", message, EXIT_INTERNAL)}
                    on_result(job["id"], result)
                    finished += 1
                    _crash_point("staged", finished, worker_pids)
        except BaseException:  # Ctrl-C: stop the workers and the queued jobs now; the next run clears staging
            drain()
            _stop_processes(worker_pids, signal.SIGTERM)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        drain()
    events.close()


def _display(asset: AssetSpec) -> dict[str, Any]:
    return {"display_name": asset.name} | asset.display


def _content_name(asset: AssetSpec, sha256: str, suffix: str) -> str:
    return f"{asset.name}.{sha256[:12]}{suffix}"


@dataclass
class AssetOutcome:
    plan: AssetPlan
    status: str  # built | reused | failed
    entry: dict[str, Any] | None = None
    variant: str | None = None
    seconds: float | None = None
    error: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None


def settle_asset(plan: AssetPlan, result: dict[str, Any] | None, out_dir: Path, placements: list[Placement]) -> AssetOutcome:
    """Turn a plan and its job's result into the asset's manifest entry (or its failure); queue the files to publish."""
    asset = plan.asset
    if plan.error:
        return AssetOutcome(plan, "failed", error=plan.error)
    if plan.reuse is None:
        assert result is not None
        outcome = AssetOutcome(plan, "built", variant=result.get("variant"), seconds=result.get("seconds"), validation=result.get("validation"))
        if not result["ok"]:
            outcome.status, outcome.error = "failed", result["error"]
            return outcome
        record = result["record"]
        if record["family"] != ROLE_FAMILY[asset.role]:
            outcome.status = "failed"
            wanted = "an RVC voice" if asset.role == "voice" else f"a {asset.role}"
            listed = "voices" if record["family"] == "synthesizer" else record["family"]
            outcome.error = _failure("wrong_family", f"{asset.label} ({asset.where}) is a {record['family']} model, not {wanted}: list it under `{listed}`", EXIT_UNSUPPORTED)
            return outcome
        if asset.source.is_file() and result.get("read_sha256") != plan.digest:
            outcome.status = "failed"
            outcome.error = _failure("io", f"{asset.label} changed while the bundle was being built; run again", InputIOError.exit_code)
            return outcome
        files = {}
        for role in ("weights", "config"):
            staged = result[role]
            files[role] = {"path": _content_name(asset, staged["sha256"], staged["suffix"]), "sha256": staged["sha256"], "size": staged["size"]}
            if not file_matches(out_dir / files[role]["path"], files[role]):
                placements.append(Placement(Path(staged["staged"]), files[role]["path"]))
    else:
        record = {k: plan.reuse[k] for k in ("family", "kind", "variant", "dtype", "rule_pack", "rules_sha256", "validation", "contract")}
        files = {role: plan.reuse["files"][role] for role in ("weights", "config")}
        outcome = AssetOutcome(plan, "reused", variant=record["variant"]["name"], validation=record["validation"])
    if plan.index_digest:
        files["index"] = {"path": _content_name(asset, plan.index_digest, ".index"), "sha256": plan.index_digest, "size": asset.index.stat().st_size}
        if not file_matches(out_dir / files["index"]["path"], files["index"]):
            placements.append(Placement(asset.index, files["index"]["path"], ours=False))
            outcome.status = "built"
    entry = {"name": asset.name, "role": asset.role, "source": {"path": asset.label, "sha256": plan.digest}, **record, "files": files}
    if asset.role == "voice":
        entry["display"] = _display(asset)
    outcome.entry = entry
    return outcome


def compatibility_warnings(spec: BundleSpec, entries: list[dict[str, Any]]) -> list[str]:
    """Bundle-level mismatches an app would hit at run time: a voice's phone features vs the bundled HuBERT."""
    warnings = []
    hubert = next((e for e in entries if e["role"] == "hubert"), None)
    voices = [e for e in entries if e["role"] == "voice"]
    roles = {a.role for a in spec.assets}
    if voices and "hubert" not in roles:
        warnings.append("the bundle has no hubert: every voice needs HuBERT/ContentVec features")
    if any(v["contract"]["f0"] for v in voices) and "rmvpe" not in roles:
        warnings.append("pitch-guided (f0) voices and no rmvpe in the bundle: the app needs another pitch estimator")
    if hubert:
        outputs = hubert["contract"]["outputs"]
        for voice in voices:
            wanted, width = voice["contract"]["hubert_output"], voice["contract"]["phone_width"]
            if outputs.get(wanted) != width:
                have = f"{outputs[wanted]}-d" if wanted in outputs else "nothing"
                warnings.append(f"voice {voice['name']} ({voice['variant']['version']}) needs {width}-d {wanted} features; hubert {hubert['name']} gives {have}")
    return warnings


def _exit_code(outcomes: list[AssetOutcome]) -> int:
    failed = [o for o in outcomes if o.status == "failed"]
    return failed[0].error["exit_code"] if failed else 0


def build_bundle(spec: BundleSpec, out_dir: str | Path, jobs: int | None = None, force: bool = False, on_event: EventSink | None = None) -> dict[str, Any]:
    """Build (or update) the bundle in out_dir; returns the run report (schemas/bundle_report.schema.json).

    Raises only for what stops the whole run (an unwritable folder, another run holding the lock)."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    sink: EventSink = on_event or (lambda event: None)
    ensure_writable_dir(out_dir)
    warnings: list[str] = []
    with folder_lock(out_dir):
        removed = recover_interrupted_run(out_dir, warnings)
        previous = _previous_manifest(out_dir, warnings)
        plans = [plan_asset(asset, spec, previous, out_dir, force) for asset in spec.assets]
        sink({"event": "planned", "assets": [{"name": p.asset.name, "role": p.asset.role, "status": "queued" if p.job_id else "checking"} for p in plans]})
        placements: list[Placement] = []
        settled: dict[int, AssetOutcome] = {}

        def settle(index: int, result: dict[str, Any] | None) -> None:
            outcome = settled[index] = settle_asset(plans[index], result, out_dir, placements)
            detail = outcome.error["message"] if outcome.error else f"{outcome.variant}, {outcome.seconds:.1f} s" if outcome.seconds is not None else ""
            sink({"event": "finished", "name": plans[index].asset.name, "status": outcome.status, "detail": detail})

        for index, plan in enumerate(plans):
            if not plan.job_id:
                settle(index, None)
        job_list = _jobs_for(plans, spec, out_dir / STAGING_DIR)
        names = {job["id"]: [p.asset.name for p in plans if p.job_id == job["id"]] for job in job_list}

        def on_result(job_id: str, result: dict[str, Any]) -> None:
            for index, plan in enumerate(plans):
                if plan.job_id == job_id:
                    settle(index, result)

        run_jobs(job_list, jobs or os.cpu_count() or 1, sink, names, on_result)
        outcomes = [settled[index] for index in range(len(plans))]
        entries = [o.entry for o in outcomes if o.entry is not None]
        warnings += compatibility_warnings(spec, entries)
        manifest = build_manifest(spec.target, spec.dtype, entries)
        check_manifest(manifest)  # a manifest that fails its own schema is a bug: never write it
        previous_names = manifest_file_names(previous) if previous else set()
        written, cleaned = commit_bundle(out_dir, manifest, placements, previous_names)
        shutil.rmtree(out_dir / STAGING_DIR, ignore_errors=True)
    code = _exit_code(outcomes)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("built", "reused", "failed")}
    return {
        "schema": "rvc-convert/bundle/1",
        "ok": code == 0,
        "exit_code": code,
        "converter_version": __version__,
        "spec": spec.origin,
        "output": str(out_dir),
        "target": spec.target,
        "dtype": spec.dtype,
        "counts": counts,
        "assets": [
            {
                "name": o.plan.asset.name,
                "role": o.plan.asset.role,
                "status": o.status,
                "source": o.plan.asset.label,
                "variant": o.variant,
                "files": sorted(f["path"] for f in o.entry["files"].values()) if o.entry else [],
                "seconds": o.seconds,
                "error": o.error,
                "validation": o.validation,
            }
            for o in outcomes
        ],
        "manifest": {"path": str(out_dir / MANIFEST_NAME), "written": written, "assets": len(entries)},
        "removed": removed + cleaned,
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 3),
    }


# --- verify ---------------------------------------------------------------------------------------------------------


def _own_file(relative: str) -> bool:
    """rvc-convert's own bookkeeping files, and Finder's, which verify does not count as extra."""
    return (
        relative in (MANIFEST_NAME, JOURNAL_NAME)
        or relative.split("/", 1)[0] == STAGING_DIR
        or _is_temp_file(relative)
        or relative.rsplit("/", 1)[-1] == ".DS_Store"
    )


def _files_on_disk(out_dir: Path) -> set[str]:
    found = set()
    for root, _dirs, files in os.walk(out_dir):
        for name in files:
            found.add((Path(root) / name).relative_to(out_dir).as_posix())
    return {f for f in found if not _own_file(f)}


def _pending_files(out_dir: Path, referenced: set[str]) -> set[str]:
    journal = out_dir / JOURNAL_NAME
    if not journal.exists():
        return set()
    try:
        names = _safe_names(json.loads(journal.read_text(encoding="utf-8")).get("files"))
    except (ValueError, AttributeError, OSError):
        return set()
    return {n for n in names - referenced if (out_dir / n).exists()}


def _revalidate(out_dir: Path, manifest: dict[str, Any], intact: set[str]) -> list[dict[str, Any]]:
    from .validate import validate_model

    rows = []
    for asset in manifest_assets(manifest):
        path = asset["files"]["weights"]["path"]
        if path not in intact:
            continue  # already reported as missing or modified
        row: dict[str, Any] = {"asset": asset["name"], "path": path, "ok": False, "failed": [], "error": None}
        try:
            report = validate_model(out_dir / path)
            row["ok"] = report.ok
            row["failed"] = report.failures() if not report.ok else []
        except RvcConvertError as exc:
            row["error"] = {"kind": exc.kind, "message": str(exc), "exit_code": exc.exit_code}
        rows.append(row)
    return rows


def verify_bundle(out_dir: str | Path, revalidate: bool = False) -> dict[str, Any]:
    """Re-hash every file the manifest lists; report missing, modified and extra files (and, with revalidate,
    validate every weight file again). Returns the report (schemas/verify_report.schema.json)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputIOError(f"{out_dir}: no such folder")
    manifest = read_manifest(out_dir)
    rows = []
    for asset_name, role, record in manifest_files(manifest):
        path = out_dir / record["path"]
        row = {"path": record["path"], "asset": asset_name, "role": role, "status": "missing", "expected_sha256": record["sha256"],
               "actual_sha256": None, "expected_size": record["size"], "actual_size": None}
        if path.is_file():
            row["actual_sha256"], row["actual_size"] = file_sha256(path), path.stat().st_size
            row["status"] = "ok" if (row["actual_sha256"], row["actual_size"]) == (record["sha256"], record["size"]) else "modified"
        rows.append(row)
    referenced = {r["path"] for r in rows}
    pending = _pending_files(out_dir, referenced)
    extra = sorted(_files_on_disk(out_dir) - referenced - pending)
    revalidated = _revalidate(out_dir, manifest, {r["path"] for r in rows if r["status"] == "ok"}) if revalidate else None
    missing = [r["path"] for r in rows if r["status"] == "missing"]
    modified = [r["path"] for r in rows if r["status"] == "modified"]
    ok = not (missing or modified or extra) and all(r["ok"] for r in revalidated or [])
    return {
        "schema": "rvc-convert/verify/1",
        "ok": ok,
        "exit_code": 0 if ok else EXIT_VALIDATION_FAILED,
        "bundle": str(out_dir),
        "manifest": {
            "format_version": manifest["format_version"],
            "converter_version": manifest["converter"]["version"],
            "target": manifest["target"],
            "assets": len(manifest_assets(manifest)),
        },
        "files": rows,
        "missing": missing,
        "modified": modified,
        "extra": extra,
        "pending": sorted(pending),
        "revalidated": revalidated,
    }
