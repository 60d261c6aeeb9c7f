"""Building (or updating) a bundle: hash every source, decide reuse or a job per asset, run the jobs,
turn outcomes into manifest entries, and commit the folder atomically (transaction.py).

Every asset's source is hashed first (a folder: of the `sha256  name` listing of the files read from it). An
asset is reused, not even re-read, when the previous manifest lists it under the same name and
role with the same source sha256, output-format revision (rvc_convert.OUTPUT_FORMAT_REVISION, not
the version string), target and dtype flag, its rule pack (with the layout table) still hashes to
the recorded rules hash, and its files in the folder still have their recorded sha256.
Everything else becomes a job, keyed by (source sha256, target, dtype) so a source used twice is
converted once. A failing asset is reported with its exit class and left out of the manifest; the
others still build. Files are named `<name>.<first 12 hex of their sha256>.<ext>`: a file's name
changes exactly when its bytes do, which is what makes the update atomic without symlinks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..errors import EXIT_UNSUPPORTED, InputIOError, RvcConvertError
from ..families import family_named
from ..file_hashes import rehash_all, remember
from ..writer import ensure_writable_dir
from .manifest import MANIFEST_NAME, build_manifest, check_manifest, manifest_file_names, previous_manifest
from .records import AssetOutcome, AssetPlan, AssetRecord, AssetSpec, BundleSpec, Failure, Job, JobOutcome, Placement
from .reuse import file_matches, reusable_entry, source_sha256
from .roles import bundle_families, listed_role, role_named, role_of_family
from .transaction import STAGING_DIR, commit_bundle, folder_lock, older_format_file_names, recover_interrupted_run
from .workers import EventSink, run_jobs

RECORDED_FILES = ("weights", "config")
INDEX_SUFFIX = "-index"  # an asset's converted `index:` file: <name>-index.<sha256[:12]>.<ext>


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
        except RvcConvertError as exc:  # not a regular file, a link out of a model folder
            plan.error = Failure.of(exc)
            return plan
        if what == "source":
            plan.digest = digest
        else:
            plan.index_digest = digest
    if not force:
        plan.reuse = reusable_entry(asset, plan.digest, plan.index_digest, previous, spec.target, spec.dtype, out_dir)
    if plan.reuse is None:
        plan.job_id = _job_id(plan.digest, spec)
        plan.index_job_id = _job_id(plan.index_digest, spec) if plan.index_digest else None
    return plan


def _job_id(digest: str, spec: BundleSpec) -> str:
    return hashlib.sha256(f"{digest}|{spec.target}|{spec.dtype}".encode()).hexdigest()[:16]


def _jobs_for(plans: list[AssetPlan], spec: BundleSpec, staging: Path) -> list[Job]:
    """One job per distinct (source, target, dtype): an asset's source, and its `index:` file."""
    jobs: dict[str, Job] = {}
    for plan in plans:
        asset = plan.asset
        for job_id, source, label in ((plan.job_id, asset.source, asset.label), (plan.index_job_id, asset.index, asset.index_label)):
            if job_id and job_id not in jobs:
                jobs[job_id] = Job(job_id, str(source), label, spec.target, spec.dtype, str(staging / job_id))
    return list(jobs.values())


def settle_asset(plan: AssetPlan, outcome: JobOutcome | None, out_dir: Path, placements: list[Placement], index_outcome: JobOutcome | None = None) -> AssetOutcome:
    """Turn a plan and its jobs' outcomes into the asset's manifest entry (or its failure); queue the files to publish."""
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
        companion = _companion(plan, record, index_outcome, settled) if plan.index_job_id else None
        if settled.status == "failed":
            return settled
        files = {}
        staged_files = [("weights", outcome.weights, asset.name), ("config", outcome.config, asset.name)]
        if companion is not None:
            staged_files.append(("index", index_outcome.weights, f"{asset.name}{INDEX_SUFFIX}"))
        for role, staged, stem in staged_files:
            files[role] = {"path": f"{stem}.{staged.sha256[:12]}{staged.suffix}", "sha256": staged.sha256, "size": staged.size}
            if not file_matches(out_dir / files[role]["path"], files[role]):
                placements.append(Placement(Path(staged.staged), files[role]["path"]))
    else:
        record = AssetRecord.from_manifest(plan.reuse)
        companion = plan.reuse.get("index")
        files = {role: plan.reuse["files"][role] for role in (*RECORDED_FILES, "index") if role in plan.reuse["files"]}
        settled = AssetOutcome(plan, "reused", variant=record.variant["name"], validation=record.validation)
    entry = {"name": asset.name, "role": asset.role, "source": {"path": asset.label, "sha256": plan.digest}, **record.to_manifest(), "files": files}
    if companion is not None:
        entry["index"] = companion
    if asset.role == listed_role().name:
        entry["display"] = {"display_name": asset.name} | asset.display
    settled.entry = entry
    return settled


def check_chains(outcomes: list[AssetOutcome], out_dir: Path, placements: list[Placement], sink: EventSink) -> None:
    """Run every voice that is new, or whose shared models are, through a short chain with the
    bundle's own shared models and its index (rvc_convert.chain.check_voices); a voice whose chain
    fails (models that do not fit together, silent or non-finite output, untracked f0) fails, and
    its files are not published. Unchanged voices with unchanged shared models passed before."""
    from ..chain import check_voices

    pending = {placement.name: placement.source for placement in placements}

    def location(record: dict[str, Any]) -> Path:
        return Path(pending.get(record["path"], out_dir / record["path"]))

    listed = listed_role().name
    shared = [o for o in outcomes if o.entry is not None and o.plan.asset.role != listed]
    voices = [o for o in outcomes if o.entry is not None and o.plan.asset.role == listed]
    shared_changed = any(o.status == "built" for o in shared)
    to_check = [o for o in voices if o.status == "built" or shared_changed]
    if not to_check:
        return
    shared_files = {o.plan.asset.role: location(o.entry["files"]["weights"]) for o in shared}
    runs = [(o.plan.asset.name, location(o.entry["files"]["weights"]), location(o.entry["files"]["index"]) if "index" in o.entry["files"] else None) for o in to_check]
    results = check_voices(runs, shared_files)
    for outcome in to_check:
        result = results[outcome.plan.asset.name]
        if result["ok"]:
            continue
        message = "; ".join(f"{c['name']}: {c['detail']}" for c in result["checks"] if c["status"] == "fail")
        names = {record["path"] for record in outcome.entry["files"].values()}
        placements[:] = [p for p in placements if p.name not in names]
        outcome.status, outcome.entry = "failed", None
        outcome.error = Failure("chain", f"{outcome.plan.asset.label} ({outcome.plan.asset.where}): {message}", result["exit_code"])
        sink({"event": "finished", "name": outcome.plan.asset.name, "status": "failed", "detail": outcome.error.message})


def _companion(plan: AssetPlan, record: AssetRecord, index_outcome: JobOutcome | None, settled: AssetOutcome) -> dict[str, Any] | None:
    """The manifest record of the asset's converted `index:` file, after its family accepted it;
    on failure `settled` is marked failed with the reason (the index's own error, or the mismatch)."""
    asset = plan.asset
    assert index_outcome is not None
    if not index_outcome.ok:
        error = index_outcome.error
        settled.status, settled.error = "failed", Failure(error.kind, f"index of {asset.name}: {error.message}", error.exit_code)
        return None
    if asset.index.is_file() and index_outcome.read_sha256 != plan.index_digest:
        settled.status, settled.error = "failed", Failure("io", f"{asset.index_label} changed while the bundle was being built; run again", InputIOError.exit_code)
        return None
    companion = {"source": {"path": asset.index_label, "sha256": plan.index_digest}, **index_outcome.record.to_manifest()}
    problem = family_named(record.family).companion_problem("index", record.to_manifest(), companion)
    if problem:
        message = f"{asset.label} ({asset.where}) and its index {asset.index_label}: {problem}"
        settled.status, settled.error = "failed", Failure("index_mismatch", message, EXIT_UNSUPPORTED)
        return None
    return companion


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


@contextlib.contextmanager
def _staging_removed(staging: Path) -> Iterator[None]:
    """The job staging folder goes however the run ends (SIGTERM and Ctrl-C included); what a
    killed run leaves, the next run's recovery removes."""
    try:
        yield
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_bundle(
    spec: BundleSpec, out_dir: str | Path, jobs: int | None = None, force: bool = False, on_event: EventSink | None = None, paranoid: bool = False
) -> dict[str, Any]:
    """Build (or update) the bundle in out_dir; returns the run report (schemas/bundle_report.schema.json).

    `paranoid` re-reads every source and output file instead of trusting remembered digests of
    files whose identity is unchanged (file_hashes.py). Raises only for what stops the whole run
    (an unwritable folder, another run holding the lock)."""
    with rehash_all(paranoid):
        return _build_bundle(spec, out_dir, jobs, force, on_event)


def _build_bundle(spec: BundleSpec, out_dir: str | Path, jobs: int | None, force: bool, on_event: EventSink | None) -> dict[str, Any]:
    started = time.perf_counter()
    out_dir = Path(out_dir)
    sink: EventSink = on_event or (lambda event: None)
    ensure_writable_dir(out_dir)
    warnings: list[str] = []
    with folder_lock(out_dir), _staging_removed(out_dir / STAGING_DIR):
        removed = recover_interrupted_run(out_dir, warnings)
        previous = previous_manifest(out_dir, warnings)
        plans = [plan_asset(asset, spec, previous, out_dir, force) for asset in spec.assets]
        sink({"event": "planned", "assets": [{"name": p.asset.name, "role": p.asset.role, "status": "queued" if p.job_id else "checking"} for p in plans]})
        placements: list[Placement] = []
        settled: dict[int, AssetOutcome] = {}
        results: dict[str, JobOutcome] = {}

        def settle(index: int) -> None:
            plan = plans[index]
            outcome, index_outcome = results.get(plan.job_id or ""), results.get(plan.index_job_id or "")
            done = settled[index] = settle_asset(plan, outcome, out_dir, placements, index_outcome)
            detail = done.error.to_dict()["message"] if done.error else f"{done.variant}, {done.seconds:.1f} s" if done.seconds is not None else ""
            sink({"event": "finished", "name": plan.asset.name, "status": done.status, "detail": detail})

        for index, plan in enumerate(plans):
            if not plan.job_id:
                settle(index)
        job_list = _jobs_for(plans, spec, out_dir / STAGING_DIR)
        names = {job.id: [p.asset.name for p in plans if job.id in p.job_ids] for job in job_list}

        def on_result(job_id: str, outcome: JobOutcome) -> None:
            results[job_id] = outcome
            for index, plan in enumerate(plans):  # an asset settles once all of its jobs are back
                if index not in settled and job_id in plan.job_ids and all(j in results for j in plan.job_ids):
                    settle(index)

        run_jobs(job_list, jobs or os.cpu_count() or 1, sink, names, on_result)
        outcomes = [settled[index] for index in range(len(plans))]
        check_chains(outcomes, out_dir, placements, sink)
        entries = [o.entry for o in outcomes if o.entry is not None]
        warnings += compatibility_warnings(spec, entries)
        manifest = build_manifest(spec.target, spec.dtype, entries)
        check_manifest(manifest)  # a manifest that fails its own schema is a bug: never write it
        previous_names = manifest_file_names(previous) if previous else older_format_file_names(out_dir)
        written, cleaned = commit_bundle(out_dir, manifest, placements, previous_names)
        placed = {p.name for p in placements}
        for entry in entries:  # the workers hashed these bytes; the next run need not read them back
            for record in entry["files"].values():
                if record["path"] in placed:
                    remember(out_dir / record["path"], record["sha256"])
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
