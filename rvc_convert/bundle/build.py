"""Building (or updating) a bundle: hash every source, decide reuse or a job per asset, run the jobs,
turn outcomes into manifest entries, and commit the folder atomically (transaction.py).

Every asset's source is hashed first (a folder: the hash of its `sha256  relpath` listing). An
asset is reused, not even re-read, when the previous manifest lists it under the same name and
role with the same source sha256, converter version, target and dtype flag, its rule pack still
hashes to the recorded rules hash, and its files in the folder still have their recorded sha256.
Everything else becomes a job, keyed by (source sha256, target, dtype) so a source used twice is
converted once. A failing asset is reported with its exit class and left out of the manifest; the
others still build. Files are named `<name>.<first 12 hex of their sha256>.<ext>`: a file's name
changes exactly when its bytes do, which is what makes the update atomic without symlinks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import EXIT_UNSUPPORTED, InputIOError
from ..writer import ensure_writable_dir
from .manifest import MANIFEST_NAME, build_manifest, check_manifest, manifest_file_names, previous_manifest
from .records import AssetOutcome, AssetPlan, AssetRecord, AssetSpec, BundleSpec, Failure, Job, JobOutcome, Placement
from .reuse import file_matches, reusable_entry, source_sha256
from .roles import bundle_families, listed_role, role_named, role_of_family
from .transaction import STAGING_DIR, commit_bundle, folder_lock, recover_interrupted_run
from .workers import EventSink, run_jobs

RECORDED_FILES = ("weights", "config")


def plan_asset(asset: AssetSpec, spec: BundleSpec, previous: dict[str, Any] | None, out_dir: Path, force: bool) -> AssetPlan:
    """Hash the source (and index) and decide: reuse, build, or fail now."""
    plan = AssetPlan(asset)
    if asset.unresolved:
        plan.error = Failure("io", f"{asset.label} ({asset.where}): {asset.unresolved}", InputIOError.exit_code)
        return plan
    for what, path in (("source", asset.source), ("index", asset.index)):
        if path is None:
            continue
        if not path.exists() or (what == "index" and not path.is_file()):
            label = asset.label if what == "source" else asset.index_label
            plan.error = Failure("io", f"{label} ({asset.where}): no such {'file or folder' if what == 'source' else 'file'}", InputIOError.exit_code)
            return plan
        try:
            digest = source_sha256(path)
        except OSError as exc:
            plan.error = Failure("io", f"{path} ({asset.where}): cannot read ({exc.strerror or exc})", InputIOError.exit_code)
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


def _jobs_for(plans: list[AssetPlan], spec: BundleSpec, staging: Path) -> list[Job]:
    jobs: dict[str, Job] = {}
    for plan in plans:
        if plan.job_id and plan.job_id not in jobs:
            jobs[plan.job_id] = Job(plan.job_id, str(plan.asset.source), plan.asset.label, spec.target, spec.dtype, str(staging / plan.job_id))
    return list(jobs.values())


def _content_name(asset: AssetSpec, sha256: str, suffix: str) -> str:
    return f"{asset.name}.{sha256[:12]}{suffix}"


def settle_asset(plan: AssetPlan, outcome: JobOutcome | None, out_dir: Path, placements: list[Placement]) -> AssetOutcome:
    """Turn a plan and its job's outcome into the asset's manifest entry (or its failure); queue the files to publish."""
    asset = plan.asset
    if plan.error:
        return AssetOutcome(plan, "failed", error=plan.error)
    if plan.reuse is None:
        assert outcome is not None
        settled = AssetOutcome(plan, "built", variant=outcome.variant, seconds=outcome.seconds, validation=outcome.validation)
        if not outcome.ok:
            settled.status, settled.error = "failed", outcome.error
            return settled
        record = outcome.record
        wanted = role_named(asset.role)
        if role_of_family(record.family) != wanted:
            settled.status = "failed"
            actual = role_of_family(record.family)
            listed = actual.spec_key if actual else record.family
            message = f"{asset.label} ({asset.where}) is a {record.family} model, not {wanted.noun}: list it under `{listed}`"
            settled.error = Failure("wrong_family", message, EXIT_UNSUPPORTED)
            return settled
        if asset.source.is_file() and outcome.read_sha256 != plan.digest:
            settled.status = "failed"
            settled.error = Failure("io", f"{asset.label} changed while the bundle was being built; run again", InputIOError.exit_code)
            return settled
        files = {}
        for role, staged in (("weights", outcome.weights), ("config", outcome.config)):
            files[role] = {"path": _content_name(asset, staged.sha256, staged.suffix), "sha256": staged.sha256, "size": staged.size}
            if not file_matches(out_dir / files[role]["path"], files[role]):
                placements.append(Placement(Path(staged.staged), files[role]["path"]))
    else:
        record = AssetRecord.from_manifest(plan.reuse)
        files = {role: plan.reuse["files"][role] for role in RECORDED_FILES}
        settled = AssetOutcome(plan, "reused", variant=record.variant["name"], validation=record.validation)
    if plan.index_digest:
        files["index"] = {"path": _content_name(asset, plan.index_digest, ".index"), "sha256": plan.index_digest, "size": asset.index.stat().st_size}
        if not file_matches(out_dir / files["index"]["path"], files["index"]):
            placements.append(Placement(asset.index, files["index"]["path"], ours=False))
            settled.status = "built"
    entry = {"name": asset.name, "role": asset.role, "source": {"path": asset.label, "sha256": plan.digest}, **record.to_manifest(), "files": files}
    if asset.role == listed_role().name:
        entry["display"] = {"display_name": asset.name} | asset.display
    settled.entry = entry
    return settled


def compatibility_warnings(spec: BundleSpec, entries: list[dict[str, Any]]) -> list[str]:
    """Bundle-level mismatches an app would hit at run time, as each family sees them."""
    roles = {a.role for a in spec.assets}
    warnings = []
    for family in bundle_families():
        own = [e for e in entries if e["role"] == family.bundle_role.name]
        warnings += family.bundle_warnings(own, entries, roles)
    return warnings


def _exit_code(outcomes: list[AssetOutcome]) -> int:
    failed = [o for o in outcomes if o.status == "failed"]
    return failed[0].error.exit_code if failed else 0


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
        previous = previous_manifest(out_dir, warnings)
        plans = [plan_asset(asset, spec, previous, out_dir, force) for asset in spec.assets]
        sink({"event": "planned", "assets": [{"name": p.asset.name, "role": p.asset.role, "status": "queued" if p.job_id else "checking"} for p in plans]})
        placements: list[Placement] = []
        settled: dict[int, AssetOutcome] = {}

        def settle(index: int, outcome: JobOutcome | None) -> None:
            done = settled[index] = settle_asset(plans[index], outcome, out_dir, placements)
            detail = done.error.to_dict()["message"] if done.error else f"{done.variant}, {done.seconds:.1f} s" if done.seconds is not None else ""
            sink({"event": "finished", "name": plans[index].asset.name, "status": done.status, "detail": detail})

        for index, plan in enumerate(plans):
            if not plan.job_id:
                settle(index, None)
        job_list = _jobs_for(plans, spec, out_dir / STAGING_DIR)
        names = {job.id: [p.asset.name for p in plans if p.job_id == job.id] for job in job_list}

        def on_result(job_id: str, outcome: JobOutcome) -> None:
            for index, plan in enumerate(plans):
                if plan.job_id == job_id:
                    settle(index, outcome)

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
                "error": o.error.to_dict() if o.error else None,
                "validation": o.validation,
            }
            for o in outcomes
        ],
        "manifest": {"path": str(out_dir / MANIFEST_NAME), "written": written, "assets": len(entries)},
        "removed": removed + cleaned,
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 3),
    }
