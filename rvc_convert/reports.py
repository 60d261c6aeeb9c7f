"""Report types every step shares (checks, findings, the validation report), the thresholds they are
judged by, and the check of a JSON report against its versioned schema in schemas/.

A leaf: it imports nothing from the engine, the families or the CLI, so all of them can import it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from . import __version__
from .resources import schema_validator

# Thresholds, grounded in the float32 floor of upstream's own outputs (docs/testing.md: voice audio
# ~1e-5 relative, content features ~6e-6, pitch salience ~1e-6): a correct float32 port sits 100x inside them, a
# real mistake (swapped LayerNorm 0.41, wrong speaker 0.26, flipped taps 0.96 relative RMS) far outside.
LAYERWISE_MAX_RELATIVE_ERROR = 1e-5
# float16 storage rounds each weight by up to 2^-11 relative, so layer outputs move by ~5e-4 RMS.
LAYERWISE_MAX_RELATIVE_ERROR_FP16 = 1e-3
PARITY_MIN_SNR_DB = 60.0  # relative RMS error <= 1e-3
# fp16 files: weight-norm fusion output is rounded to fp16 (2^-11 relative per weight), which alone
# costs ~60 dB on the golden models; 40 dB (1 % RMS) still sits 20 dB above the smallest real bug.
PARITY_MIN_SNR_DB_FP16 = 40.0
# Models that take audio in (content features, pitch): their float32 floor is <= 1e-5 relative;
# 80 dB = 1e-4 relative RMS.
FEATURE_PARITY_MIN_SNR_DB = 80.0

# The `schema` field of each report -> its schema file.
REPORT_SCHEMAS = {
    "rvc-convert/convert/1": "convert_report.schema.json",
    "rvc-convert/inspect/1": "inspect_report.schema.json",
    "rvc-convert/validate/1": "validate_report.schema.json",
    "rvc-convert/error/1": "error_report.schema.json",
    "rvc-convert/bundle/1": "bundle_report.schema.json",
    "rvc-convert/verify/1": "verify_report.schema.json",
    "rvc-convert/infer/1": "infer_report.schema.json",
}


MAX_REPORTED_TEXT = 1000  # a field from a file is shown at most this long in a report


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` as standard JSON data a report can always print: non-finite floats become the
    strings "NaN", "Infinity", "-Infinity"; ints JSON readers cannot hold (beyond 64 bits) and
    bytes become a description; text is cut to MAX_REPORTED_TEXT; tuples and sets become lists;
    anything else its type name. Values from files (a model's `info`, `epoch`) pass through here."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else ("NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return value if len(value) <= MAX_REPORTED_TEXT else value[:MAX_REPORTED_TEXT] + f"…[{len(value) - MAX_REPORTED_TEXT} more characters]"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if depth >= 32:
        return f"<a {type(value).__name__} nested too deep>"
    if isinstance(value, dict):
        return {str(json_safe(k, depth + 1)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v, depth + 1) for v in value), key=repr)
    return f"<{type(value).__name__}>"


def json_text(document: Any, **options: Any) -> str:
    """The one way reports become JSON: always standard JSON (no bare NaN/Infinity)."""
    return json.dumps(json_safe(document), allow_nan=False, **options)


def layerwise_tolerance(dtype: str) -> float:
    return LAYERWISE_MAX_RELATIVE_ERROR_FP16 if dtype == "float16" else LAYERWISE_MAX_RELATIVE_ERROR


def parity_min_snr_db(dtype: str, float32_floor_db: float = PARITY_MIN_SNR_DB) -> float:
    """The SNR a parity stage must reach: the family's float32 figure, or the fp16 one for fp16 files."""
    return PARITY_MIN_SNR_DB_FP16 if dtype == "float16" else float32_floor_db


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


def check_report(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `document` does not match the schema its `schema` field names."""
    schema_validator(REPORT_SCHEMAS[document["schema"]]).validate(document)
