"""Bundles are proven as a chain: `bundle` and `verify --revalidate` run every voice through a short
deterministic chain (a 1 s test vowel) with the bundle's own HuBERT, pitch model and the voice's
index. Models that do not fit together fail, naming the mismatch; a bundle whose models fit passes,
with the chain's figures in the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from golden import golden_path
from pipeline_helpers import HUBERT, INDEX_FILE, RMVPE, VOICE, hubert_folder_without_final_proj

import make_aux
from rvc_convert.bundle import build_bundle, load_spec, verify_bundle
from rvc_convert.cli import main
from rvc_convert.reader import file_sha256
from rvc_convert.reports import check_report


def build(folder: Path, spec: str) -> tuple[dict, Path]:
    (folder / "bundle.yaml").write_text(spec)
    out = folder / "Assets"
    report = build_bundle(load_spec(folder / "bundle.yaml"), out, jobs=1)
    check_report(report)
    return report, out


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory) -> Path:
    """The golden voice with its own index, the tiny ContentVec and the small RMVPE: they fit."""
    folder = tmp_path_factory.mktemp("good")
    report, out = build(folder, f"hubert: {golden_path(HUBERT)}\nrmvpe: {golden_path(RMVPE)}\nvoices:\n  - source: {golden_path(VOICE)}\n    name: alice\n    index: {golden_path(INDEX_FILE)}\n")
    assert report["ok"] and report["counts"]["failed"] == 0, report
    return out


def test_a_fitting_bundle_passes_its_chains(good_bundle):
    report = verify_bundle(good_bundle, revalidate=True)
    check_report(report)
    assert report["ok"]
    (chain,) = report["chains"]
    assert chain["voice"] == "alice" and chain["ok"] and chain["exit_code"] == 0
    assert {c["name"]: c["status"] for c in chain["checks"]} == {"chain.models": "pass", "chain.output": "pass", "chain.f0": "pass", "chain.index": "pass"}
    assert chain["figures"]["samples"] == 39200 and chain["figures"]["rms"] > 1e-3 and chain["figures"]["voiced_fraction"] >= 0.5


def test_a_v1_voice_with_a_hubert_lacking_final_proj_fails_the_bundle(tmp_path):
    no_proj = hubert_folder_without_final_proj(tmp_path / "contentvec")
    report, out = build(tmp_path, f"hubert: {no_proj}\nrmvpe: {golden_path(RMVPE)}\nvoices:\n  - {golden_path(VOICE)}\n")
    assert report["exit_code"] == 2 and report["counts"] == {"built": 2, "reused": 0, "failed": 1}
    (failed,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert failed["role"] == "voice" and failed["error"]["kind"] == "chain" and failed["files"] == []
    assert "v1" in failed["error"]["message"] and "no final_proj" in failed["error"]["message"]
    assert ".rvc-staging" not in failed["error"]["message"]  # the voice is named by its source, not by a staging file
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["voices"] == [] and manifest["hubert"] is not None
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *(f["path"] for a in (manifest["hubert"], manifest["rmvpe"]) for f in a["files"].values())])


def test_a_256_d_index_with_a_v2_voice_fails_the_bundle(tmp_path):
    """A v2 voice (768-d features, served by a HuBERT 768 wide) given the golden v1 voice's index:
    the voice fails, naming both widths."""
    hubert = make_aux.save_hubert_fairseq(tmp_path / "hubert_wide.pt", make_aux.build_hubert(make_aux.HUBERT_SMALL_WIDE, seed=3), make_aux.HUBERT_SMALL_WIDE)
    voice = golden_path("synth/models/v2-48k-f0-tiny.pth")
    report, _ = build(tmp_path, f"hubert: {hubert}\nrmvpe: {golden_path(RMVPE)}\nvoices:\n  - source: {voice}\n    name: bob\n    index: {golden_path(INDEX_FILE)}\n")
    (failed,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert report["exit_code"] == 2 and failed["name"] == "bob" and failed["files"] == []
    message = failed["error"]["message"]  # the index family's pairing check catches it before the chain runs
    assert "256" in message and "768" in message and "v2" in message


def test_verify_names_a_mismatch_in_a_hand_edited_manifest(good_bundle, tmp_path, capsys):
    """Swap the bundle's HuBERT for one without final_proj (file and manifest entry consistent, so
    every hash matches): only the chain can tell, and verify --revalidate fails, naming it."""
    from rvc_convert.convert import convert_model

    bundle = tmp_path / "Assets"
    shutil.copytree(good_bundle, bundle)
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    converted = convert_model(hubert_folder_without_final_proj(tmp_path / "contentvec"), "ios", tmp_path / "converted").weights_path
    record = manifest["hubert"]["files"]["weights"]
    (bundle / record["path"]).unlink()
    record.update(path=f"hubert.{file_sha256(converted)[:12]}.safetensors", sha256=file_sha256(converted), size=converted.stat().st_size)
    shutil.copy(converted, bundle / record["path"])
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    assert verify_bundle(bundle)["ok"]  # every file matches its (edited) manifest entry
    report = verify_bundle(bundle, revalidate=True)
    (chain,) = report["chains"]
    assert not report["ok"] and report["exit_code"] == 1 and chain["exit_code"] == 2
    assert chain["checks"][0]["status"] == "fail" and "no final_proj" in chain["checks"][0]["detail"]
    assert main(["verify", str(bundle), "--revalidate"]) == 1
    assert "CHAIN    alice: chain.models:" in capsys.readouterr().out
