"""`rvc-convert validate`: the checks fail loudly on real damage, and name the stage that broke."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from golden import golden_path

from rvc_convert.convert import convert_model
from rvc_convert.reader import read_model_file
from rvc_convert.reports import check_report
from rvc_convert.validate import validate_model
from rvc_convert.writer import TensorSpec, write_safetensors

MODEL = "synth/models/v2-48k-f0-tiny.pth"
REFS = "synth/refs/v2-48k-f0-tiny.npz"


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("converted")
    return convert_model(golden_path(MODEL), "ios", out, dtype="fp32").weights_path


def rewrite(source: Path, destination: Path, change) -> Path:
    """Copy a converted file with `change(tensors)` applied, keeping its metadata (as a careless tool would)."""
    loaded = read_model_file(source)
    tensors = {k: np.array(t.array) for k, t in loaded.root.items()}
    change(tensors)
    specs = [TensorSpec(k, v.dtype, v.shape) for k, v in tensors.items()]
    write_safetensors(destination, specs, lambda spec: np.ascontiguousarray(tensors[spec.name]), loaded.metadata)
    return destination


def run_validate(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rvc_convert", "validate", str(path), *extra], capture_output=True, text=True)


def test_untouched_conversion_passes_every_check_with_reference(converted):
    """The clean fp32 conversion passes structure, runtime and parity (audio above 60 dB SNR)."""
    report = validate_model(converted, golden_path(REFS))
    assert report.ok, [c.detail for c in report.checks if c.status == "fail"]
    audio = next(r for r in report.parity if r["stage"] == "audio")
    assert audio["snr_db"] >= 60


def _transpose_one(t):
    t["enc_p.encoder.attn_0.conv_q.weight"] = np.ascontiguousarray(t["enc_p.encoder.attn_0.conv_q.weight"].transpose(2, 1, 0))


def _swap_layer_norm(t):
    t["enc_p.encoder.norm1_0.weight"], t["enc_p.encoder.norm1_0.bias"] = t["enc_p.encoder.norm1_0.bias"].copy(), t["enc_p.encoder.norm1_0.weight"].copy()


def _wrong_speaker_row(t):
    t["emb_g.weight"] = np.ascontiguousarray(t["emb_g.weight"][[1, 0, 2]])


def _weight_norm_unfused(t):
    # What a converter that ignores g does: keep v (here rebuilt from the fused weight's direction
    # with a different per-row scale, as v's rows have arbitrary norms).
    w = t["dec.resblock_0.c1_0.weight"]
    scales = np.linspace(0.2, 3.0, w.shape[0], dtype=np.float32)[:, None, None]
    t["dec.resblock_0.c1_0.weight"] = np.ascontiguousarray(w / np.linalg.norm(w, axis=(1, 2), keepdims=True) * scales)


CORRUPTIONS = {
    # corruption -> (change, the first stage that must break, stages that must still pass)
    "one_tensor_transposed": (_transpose_one, "enc_p.encoder.out", ["g", "enc_p.emb_phone.out"]),
    "layer_norm_affine_swapped": (_swap_layer_norm, "enc_p.encoder.out", ["g", "enc_p.emb_phone.out"]),
    "wrong_speaker_row": (_wrong_speaker_row, "g", ["enc_p.encoder.out", "m_p"]),
    "weight_norm_left_unfused": (_weight_norm_unfused, "dec.ups.1.in", ["z", "dec.conv_pre.out", "dec.ups.0.out"]),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corruption_fails_validation_and_names_the_stage(converted, tmp_path, corruption):
    """Each deliberate corruption keeps every name and shape (structure passes) but fails parity,
    with a non-zero exit and the first broken stage named; stages before it still pass."""
    change, first_broken, still_fine = CORRUPTIONS[corruption]
    damaged = rewrite(converted, tmp_path / "damaged.safetensors", change)
    result = run_validate(damaged, "--reference", str(golden_path(REFS)), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    check_report(report)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["structure.coverage"]["status"] == "pass"
    assert checks["parity"]["status"] == "fail"
    assert checks["parity"]["metrics"]["first_failing_stage"] == first_broken
    assert first_broken in checks["parity"]["detail"]
    rows = {r["stage"]: r for r in report["parity"]}
    for stage in still_fine:
        assert rows[stage]["status"] == "pass", stage


def test_validate_text_output_prints_stage_table_and_verdict(converted):
    """People get a per-stage table (max abs, relative RMS, SNR) and a PASS line."""
    result = run_validate(converted, "--reference", str(golden_path(REFS)))
    assert result.returncode == 0, result.stderr
    assert "SNR dB" in result.stdout and "audio" in result.stdout and "PASS" in result.stdout


@pytest.mark.parametrize(
    "content, exit_code, finding",
    [
        (b"", 5, "corrupt_file"),
        (b"<!DOCTYPE html><html>not a model</html>", 2, "unsupported"),
    ],
)
def test_unreadable_files_get_a_report_with_a_named_finding(tmp_path, content, exit_code, finding):
    """validate answers 'what is this file' even when it cannot be opened: a finding and the error's exit code."""
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    result = run_validate(path, "--json")
    assert result.returncode == exit_code
    report = json.loads(result.stdout)
    check_report(report)
    assert report["ok"] is False and report["exit_code"] == exit_code
    assert [f["id"] for f in report["findings"]] == [finding]


def test_discriminator_is_a_named_finding(tmp_path):
    """A discriminator passed as a voice is diagnosed as such (exit 2), not as an opaque mapping error."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "D_2333333.pth"
    torch.save({"model": {"discriminators.0.convs.0.weight": torch.zeros(16, 1, 15)}, "iteration": 1}, path)
    result = run_validate(path, "--json")
    assert result.returncode == 2
    assert [f["id"] for f in json.loads(result.stdout)["findings"]] == ["discriminator"]


def test_zeroed_layer_is_reported_as_a_warning(converted, tmp_path):
    """An all-zero layer (an untrained flow post-conv, a wiped tensor) is a named warning in the report."""

    def wipe(t):
        t["flow.flow_0.post.weight"] = np.zeros_like(t["flow.flow_0.post.weight"])

    damaged = rewrite(converted, tmp_path / "zeroed.safetensors", wipe)
    report = validate_model(damaged)
    assert any(f.id == "zero_layer" and "flow.flow_0.post.weight" in f.message for f in report.findings)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.0, -3.0],
        [0.0, -0.0, 0.0],  # zeros of both signs: constant
        [5.0, 5.0, 5.0],
        [1.0, np.nan, 2.0],
        [np.inf, 1.0],
        [-np.inf, -np.inf],
        [6e-8, 6e-8, 6e-8],  # float16 subnormals
        [65504.0, -65504.0],
        [7.0],
    ],
)
def test_value_facts_agree_with_plain_numpy(values, dtype):
    """structural_checks' fast float16 path (bit tests) says what numpy's float arithmetic says."""
    from rvc_convert.transform import float_facts

    array = np.array(values, dtype=dtype)
    finite, peak, same = float_facts(array, constant=True)
    assert finite == bool(np.all(np.isfinite(array)))
    if finite:
        assert same == (float(np.ptp(array.astype(np.float64))) == 0.0)
        assert peak == 0.0 if dtype == np.float16 else peak == float(np.max(np.abs(array)))  # float16: not measured, cannot overflow


@pytest.mark.parametrize(
    "model, reference, lacks",
    [
        ("rmvpe/rmvpe_small.pt", "hubert/hubert_refs.npz", "mel_padded"),
        ("hubert/hubert_tiny.pt", "rmvpe/rmvpe_refs.npz", "conv_features"),
    ],
)
def test_a_reference_of_another_model_fails_the_parity_check_without_crashing(model, reference, lacks):
    """A reference .npz made for another kind of model is a failed `parity` check naming the arrays
    it lacks (exit 1), not an internal error (a KeyError, exit 70)."""
    report = validate_model(golden_path(model), golden_path(reference), layerwise=False)
    parity = [c for c in report.checks if c.name == "parity"]
    assert [c.status for c in parity] == ["fail"] and lacks in parity[0].detail and not report.ok
