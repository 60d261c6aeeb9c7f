"""Semantic diagnoses: `validate` names what is wrong with a model, with a severity, in its report.

Each case builds a damaged copy of a golden export (torch.save, the real layout) and checks the
named finding, its severity, the exit code, and that the JSON report matches its schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
from golden import golden_path

from rvc_convert.reports import check_report

torch = pytest.importorskip("torch")

EXPORT = "synth/models/v2-48k-f0-tiny.pth"


def damaged_export(tmp_path: Path, change, name: str = "model.pth") -> Path:
    checkpoint = torch.load(golden_path(EXPORT), map_location="cpu", weights_only=True)
    change(checkpoint)
    path = tmp_path / name
    torch.save(checkpoint, path)
    return path


def validate_json(path: Path) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "rvc_convert", "validate", str(path), "--json", "--no-runtime"], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    check_report(report)
    assert report["exit_code"] == proc.returncode
    return proc.returncode, report


def findings(report: dict) -> dict[str, dict]:
    return {f["id"]: f for f in report["findings"]}


def test_nan_weights_are_an_error_finding(tmp_path):
    """NaN in a weight: finding non_finite_weights (error), naming the tensor; exit 2."""

    def poison(cpt):
        cpt["weight"]["dec.conv_pre.weight"][0, 0, 0] = float("nan")

    code, report = validate_json(damaged_export(tmp_path, poison))
    assert code == 2 and not report["ok"]
    finding = findings(report)["non_finite_weights"]
    assert finding["severity"] == "error" and "dec.conv_pre.weight" in finding["message"]


def test_inf_weights_are_an_error_finding(tmp_path):
    """Inf behaves like NaN: a named error."""

    def poison(cpt):
        cpt["weight"]["enc_p.proj.bias"][3] = float("inf")

    code, report = validate_json(damaged_export(tmp_path, poison))
    assert code == 2 and findings(report)["non_finite_weights"]["severity"] == "error"


def test_weight_v_without_weight_g_is_named(tmp_path):
    """A weight-normed layer missing its g: finding weight_norm_incomplete naming the layer; exit 2."""

    def drop_g(cpt):
        del cpt["weight"]["dec.ups.1.weight_g"]

    code, report = validate_json(damaged_export(tmp_path, drop_g))
    assert code == 2
    finding = findings(report)["weight_norm_incomplete"]
    assert finding["severity"] == "error" and "dec.ups.1.weight_v" in finding["message"]


def test_values_beyond_fp16_are_a_warning_for_fp32_models(tmp_path):
    """An fp32 model with values beyond ±65504 validates (its own dtype is fp32) but warns fp16_overflow."""

    def widen(cpt):
        cpt["weight"] = OrderedDict((k, v.float()) for k, v in cpt["weight"].items())
        cpt["weight"]["dec.conv_pre.bias"][0] = 1e6

    code, report = validate_json(damaged_export(tmp_path, widen))
    assert code == 0 and report["ok"]
    finding = findings(report)["fp16_overflow"]
    assert finding["severity"] == "warning" and "dec.conv_pre.bias" in finding["message"]


def test_sample_rate_contradiction_is_a_warning(tmp_path):
    """Config says 40k, the decoder kernels say 48k: a config_contradiction warning; the weights win."""

    def lie(cpt):
        cpt["config"][-1] = 40000
        cpt["sr"] = "40k"

    code, report = validate_json(damaged_export(tmp_path, lie))
    assert code == 0
    messages = [f["message"] for f in report["findings"] if f["id"] == "config_contradiction"]
    assert any("sr" in m and "48000" in m for m in messages), messages
    assert all(f["severity"] == "warning" for f in report["findings"] if f["id"] == "config_contradiction")
    assert report["variant"] == "v2-48k-f0"


def test_speaker_count_contradiction_is_a_warning(tmp_path):
    """Config says 109 speakers, emb_g has 3 rows: reported, and the row count is used (as the WebUI does)."""

    def lie(cpt):
        cpt["config"][15] = 109

    code, report = validate_json(damaged_export(tmp_path, lie))
    assert code == 0
    messages = [f["message"] for f in report["findings"] if f["id"] == "config_contradiction"]
    assert any("spk_embed_dim is 109" in m and "3 rows" in m for m in messages), messages


def test_discriminator_passed_as_a_voice(tmp_path):
    """D_*.pth: finding discriminator (error), exit 2, before any conversion work."""
    path = tmp_path / "D_100.pth"
    torch.save({"model": OrderedDict({"discriminators.0.convs.0.weight": torch.zeros(16, 1, 15)}), "iteration": 100}, path)
    code, report = validate_json(path)
    assert code == 2 and findings(report)["discriminator"]["severity"] == "error"


def test_all_zero_layer_is_a_warning(tmp_path):
    """An all-zero layer in the source (an untrained flow post-conv): finding zero_layer (warning)."""

    def wipe(cpt):
        cpt["weight"]["flow.flows.0.post.weight"].zero_()

    code, report = validate_json(damaged_export(tmp_path, wipe))
    assert code == 0
    assert findings(report)["zero_layer"]["severity"] == "warning"
