"""The one convert-then-publish path `convert` and `bundle` share: convert into a private staging
folder, validate the staged files there, and only then publish every file of the asset.

`stage` converts and validates (the bundle's workers stop here; the bundle's transaction publishes
under content-addressed names). `convert_and_publish` stages beside the destination and publishes
the weights and their config together (rvc_convert/publish.py), or leaves the destination untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .convert import ConversionResult, convert_model, output_paths
from .lifecycle import fault_point
from .publish import check_destinations, publish, staging_folder
from .reports import ValidationReport
from .validate import check_conversion
from .writer import ensure_writable_dir


@dataclass
class StagedConversion:
    """A conversion written into a staging folder, and the report of its checks (None: not checked)."""

    result: ConversionResult
    report: ValidationReport | None


def stage(
    source: str | Path,
    target: str,
    staging: str | Path,
    dtype: str | None = None,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_validating: Callable[[], None] | None = None,
    check: bool = True,
) -> StagedConversion:
    """Convert `source` into `staging` (a private folder the caller publishes from or discards) and
    validate the files there. Raises RvcConvertError when it cannot convert."""
    result = convert_model(source, target, staging, dtype, name, progress=progress, private_folder=True)
    if not check:
        return StagedConversion(result, None)
    if on_validating:
        on_validating()
    return StagedConversion(result, check_conversion(result))


def convert_and_publish(
    source: str | Path, target: str, out_dir: str | Path | None, dtype: str | None, name: str | None, check: bool = True
) -> StagedConversion:
    """Convert into a staging folder inside the destination, validate there (unless `check` is off),
    and publish the weights and config into `out_dir` together only if every check passed: a failing
    or crashing validation, a failed write or a signal never leaves (or overwrites) an output."""
    source = Path(source)
    final_dir = Path(out_dir) if out_dir is not None else source.parent
    finals = output_paths(source, target, final_dir, name)
    check_destinations(source, list(finals))
    ensure_writable_dir(final_dir)
    with staging_folder(final_dir) as folder:
        staged = stage(source, target, folder, dtype, name, check=check)
        fault_point("staged")
        result = staged.result
        if staged.report is None or staged.report.ok:
            publish([(result.weights_path, finals[0]), (result.config_path, finals[1])], final_dir, folder)
            result.weights_path, result.config_path = finals
            if staged.report is not None:
                staged.report.model = str(result.weights_path)
        else:
            result.weights_path = result.config_path = None
        return staged
