"""Applio's MRF HiFi-GAN and RefineGAN voices through the command line: inspect, convert, validate
(layer-wise, runtime smoke, per-stage parity with -r naming the first broken stage), bundle and
verify, with the vocoder named in reports and the manifest. References: golden/vocoders/refs
(Applio's own classes). Damage comes from fixtures/make_vocoder_variants.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from golden import golden_path
from make_vocoder_variants import damage_converted, legacy_refinegan_export, with_vocoder_field

from rvc_convert.convert import convert_model
from rvc_convert.reports import check_report
from rvc_convert.validate import validate_model

MRF = "vocoders/models/v2-40k-mrf-tiny.pth"
REFINEGAN = "vocoders/models/v2-32k-refinegan-tiny.pth"
CASES = [  # (model, reference)
    ("v2-40k-mrf-tiny", "v2-40k-mrf-tiny"),
    ("v2-40k-mrf-tiny", "v2-40k-mrf-tiny.noise"),
    ("v2-48k-mrf-tiny", "v2-48k-mrf-tiny"),
    ("v2-32k-refinegan-tiny", "v2-32k-refinegan-tiny"),
]


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rvc_convert", *map(str, args)], capture_output=True, text=True, timeout=600)


def cli_json(*args: object) -> tuple[int, dict]:
    proc = cli(*args, "--json")
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("model, vocoder, pack, variant", [
    (MRF, "MRF HiFi-GAN", "synthesizer_mrf_hifigan", "v2-40k-f0-mrf"),
    (REFINEGAN, "RefineGAN", "synthesizer_refinegan", "v2-32k-f0-refinegan"),
])  # fmt: skip
def test_inspect_names_the_vocoder_its_evidence_and_rule_pack(model, vocoder, pack, variant):
    code, out = cli_json("inspect", golden_path(model))
    plan = out["plan"]
    assert code == 0
    assert plan["facts"]["vocoder"] == vocoder and plan["rule_pack"] == pack and plan["variant"] == variant
    assert any(f"-> {vocoder}" in line for line in plan["evidence"]) and plan["contradictions"] == []
    human = cli("inspect", golden_path(model)).stdout
    assert f"· {vocoder} ·" in human and f"rule pack '{pack}'" in human


def test_convert_writes_and_validates_an_mrf_voice(tmp_path):
    """`rvc-convert voice.pth` converts, then proves every layer and a runtime smoke run (exit 0)."""
    code, report = cli_json(golden_path(MRF), "--target", "ios", "-o", tmp_path)
    assert code == 0, report
    assert (tmp_path / "v2-40k-mrf-tiny.safetensors").is_file() and (tmp_path / "v2-40k-mrf-tiny.json").is_file()
    checks = {c["name"]: c["status"] for c in report["validation"]["checks"]}
    assert checks["layerwise"] == "pass" and checks["runtime.smoke"] == "pass", checks


@pytest.mark.parametrize("model, ref", CASES, ids=[c[1] for c in CASES])
def test_validate_with_applios_reference_passes_every_stage(model, ref):
    """validate -r: structure, layer-wise, smoke and parity of every stage against Applio's arrays."""
    code, report = cli_json("validate", golden_path(f"vocoders/models/{model}.pth"), "-r", golden_path(f"vocoders/refs/{ref}.npz"))
    check_report(report)
    assert code == 0, [c for c in report["checks"] if c["status"] != "pass"]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["layerwise"] == statuses["runtime.smoke"] == statuses["parity"] == "pass"
    parity = next(c for c in report["checks"] if c["name"] == "parity")
    assert parity["metrics"]["unused_reference_arrays"] == []
    audio = next(r for r in report["parity"] if r["stage"] == "audio")
    print(f"validate -r {ref}: {len(report['parity'])} stages, audio SNR {audio['snr_db']:.1f} dB")
    assert audio["snr_db"] >= 80.0
    with np.load(golden_path(f"vocoders/refs/{ref}.npz")) as arrays:
        stages = [n for n in arrays.files if n not in ("phone", "phone_lengths", "pitch", "pitchf", "sid", "meta") and not n.startswith("noise.")]
    assert sorted(r["stage"] for r in report["parity"]) == sorted(stages)  # every array Applio stored


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocoder-cli")
    cache: dict[str, Path] = {}

    def get(model: str) -> Path:
        if model not in cache:
            cache[model] = convert_model(golden_path(f"vocoders/models/{model}.pth"), "ios", folder, dtype="fp32").weights_path
        return cache[model]

    return get


@pytest.mark.parametrize(
    "model, damage, first_broken",
    [
        ("v2-40k-mrf-tiny", "unfused_weight_norm", "dec.conv_pre.out"),
        ("v2-32k-refinegan-tiny", "unfused_weight_norm", "dec.pre_conv.out"),
        ("v2-32k-refinegan-tiny", "swapped_skip_concat", "dec.upsample_conv_blocks.0.input_conv.out"),
    ],
)
def test_validate_names_the_first_broken_stage_of_a_damaged_voice(model, damage, first_broken, converted, tmp_path):
    """A converted voice with one mistake passes structure and smoke, fails parity (exit 1) from the stage that broke on."""
    source = golden_path(f"vocoders/models/{model}.pth")
    damaged = damage_converted(converted(model), tmp_path / f"{model}.safetensors", damage, source)
    code, report = cli_json("validate", damaged, "-r", golden_path(f"vocoders/refs/{model}.npz"))
    assert code == 1
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["structure.coverage"] == "pass" and statuses["runtime.smoke"] == "pass" and statuses["parity"] == "fail"
    parity = next(c for c in report["checks"] if c["name"] == "parity")
    assert parity["metrics"]["first_failing_stage"] == first_broken
    before = [r for r in report["parity"]][: [r["stage"] for r in report["parity"]].index(first_broken)]
    assert before and all(r["status"] == "pass" for r in before)  # everything upstream of it still matches


def test_validate_names_the_resampler_when_its_kernel_is_reversed(converted, monkeypatch):
    """A runtime whose sinc kernel runs reversed (taps m = -w .. w+d-1 are not centred): parity breaks at the first resample."""
    from rvc_runtime.decoders import dsp

    monkeypatch.setattr(dsp, "sinc_kernel", lambda d, taps=dsp.sinc_kernel: taps(d)[::-1].copy())
    dsp._banded_kernel.cache_clear()
    try:
        report = validate_model(converted("v2-32k-refinegan-tiny"), golden_path("vocoders/refs/v2-32k-refinegan-tiny.npz"))
    finally:
        dsp._banded_kernel.cache_clear()
    parity = next(c for c in report.checks if c.name == "parity")
    assert parity.status == "fail" and parity.metrics["first_failing_stage"] == "dec.downsample_blocks.0.in"


def test_an_old_refinegan_layout_is_reported_as_such(tmp_path):
    path = legacy_refinegan_export(golden_path(MRF).parents[2], tmp_path / "old-refinegan.pth", "3.2")
    code, report = cli_json("validate", path)
    assert code == 2
    finding = next(f for f in report["findings"] if f["severity"] == "error")
    assert finding["id"] == "legacy_refinegan"
    assert "Applio 3.2.9 to 3.2.x" in finding["message"] and "incompatible" in finding["message"]
    proc = cli(path, "-o", tmp_path / "out")
    assert proc.returncode == 2 and "Applio 3.3.0 changed RefineGAN" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_vocoder_field_contradicting_the_weights_is_reported_and_the_voice_validates(tmp_path):
    path = with_vocoder_field(golden_path(MRF), tmp_path / "says-hifigan.pth", "HiFi-GAN")
    code, report = cli_json("validate", path)
    assert code == 0 and report["variant"] == "v2-40k-f0-mrf"
    warnings = [f["message"] for f in report["findings"] if f["id"] == "config_contradiction"]
    assert warnings == ["field vocoder is 'HiFi-GAN', the weights are MRF HiFi-GAN; the weights win"]
    code, out = cli_json("inspect", path)
    assert out["plan"]["contradictions"] == warnings and out["plan"]["facts"]["vocoder"] == "MRF HiFi-GAN"


def test_bundle_ships_vocoder_voices_and_verify_rechecks_them(tmp_path):
    """Both vocoders in one bundle: the manifest names each voice's vocoder, verify --revalidate passes."""
    out = tmp_path / "bundle"
    code, report = cli_json("bundle", golden_path(MRF), golden_path(REFINEGAN), "-o", out)
    assert code == 0, report
    manifest = json.loads((out / "manifest.json").read_text())
    voices = {v["name"]: v for v in manifest["voices"]}
    assert voices["v2-40k-mrf-tiny"]["variant"] == {"name": "v2-40k-f0-mrf", "version": "v2", "sample_rate": 40000, "f0": True, "vocoder": "MRF HiFi-GAN", "speakers": 3}
    assert voices["v2-32k-refinegan-tiny"]["variant"]["vocoder"] == "RefineGAN"
    assert voices["v2-32k-refinegan-tiny"]["contract"]["hop"] == 320 and voices["v2-32k-refinegan-tiny"]["rule_pack"] == "synthesizer_refinegan"
    code, verified = cli_json("verify", out, "--revalidate")
    assert code == 0, verified
