"""The one convert-then-publish path `convert` and `bundle` share: convert into a private staging
folder, validate the staged files there, and only then publish every file of the asset.

`stage` converts and validates (the bundle's workers stop here; the bundle's transaction publishes
under content-addressed names). `convert_and_publish` stages beside the destination and moves the
weights and their config into place together, or leaves the destination untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .convert import ConversionResult, convert_model
from .reports import ValidationReport
from .validate import check_conversion
from .writer import ensure_writable_dir

STAGING_PREFIX = ".rvc-convert-"


@dataclass
class StagedConversion:
    """A conversion written into a staging folder, and the report of its checks."""

    result: ConversionResult
    report: ValidationReport


def stage(
    source: str | Path,
    target: str,
    staging: str | Path,
    dtype: str | None = None,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_validating: Callable[[], None] | None = None,
) -> StagedConversion:
    """Convert `source` into `staging` and validate the files there. Raises RvcConvertError when it cannot convert."""
    result = convert_model(source, target, staging, dtype, name, progress=progress)
    if on_validating:
        on_validating()
    return StagedConversion(result, check_conversion(result))


def publish(staged: StagedConversion, final_dir: Path) -> None:
    """Move every staged file into `final_dir` (same file system: each move is an atomic rename)."""
    for attribute in ("weights_path", "config_path"):
        path = getattr(staged.result, attribute)
        final = final_dir / path.name
        os.replace(path, final)
        setattr(staged.result, attribute, final)
    staged.report.model = str(staged.result.weights_path)


def convert_and_publish(source: str | Path, target: str, out_dir: str | Path | None, dtype: str | None, name: str | None) -> StagedConversion:
    """Convert into a staging folder inside the destination, validate there, and move the files into
    `out_dir` only if every check passed: a failing or crashing validation never leaves (or
    overwrites) an output."""
    source = Path(source)
    final_dir = Path(out_dir) if out_dir is not None else source.parent
    ensure_writable_dir(final_dir)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=final_dir))
    try:
        staged = stage(source, target, staging, dtype, name)
        if staged.report.ok:
            publish(staged, final_dir)
        else:
            staged.result.weights_path = staged.result.config_path = None
        return staged
    finally:
        shutil.rmtree(staging, ignore_errors=True)
