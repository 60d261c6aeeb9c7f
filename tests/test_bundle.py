"""`rvc-convert bundle` and `rvc-convert verify`: incremental, deterministic, atomic app bundles.

The bundles are built from the tiny golden models through the real CLI (a subprocess, so exit codes,
worker processes and the crash hook are the ones users get). Built once per module and copied where
a test changes something.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

import make_aux
from golden import golden_path
from rvc_convert.bundle import BundleSpecError, check_manifest, load_spec, verify_bundle
from rvc_convert.reader import file_sha256
from rvc_convert.reports import check_report

VOICES = ("v1-40k-f0-tiny", "v2-48k-f0-tiny", "v2-32k-nof0-tiny", "v1-32k-nof0-tiny")

SPEC = """\
target: ios
hubert: hubert_wide.pt
rmvpe: {source: rmvpe_small.pt}
voices:
  - source: v2-48k-f0-tiny.pth
    name: alice
    display_name: Alice
    author: Golden Set
    license: CC0-1.0
    tags: [test, tiny]
    index: alice.index
  - v1-40k-f0-tiny.pth
  - "*-32k-nof0-tiny.pth"
  - source: broken.pth
"""


def run_cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rvc_convert", *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


def bundle_json(*args: object, env: dict[str, str] | None = None) -> tuple[int, dict]:
    proc = run_cli("bundle", *args, "--json", env=env)
    report = json.loads(proc.stdout)
    check_report(report)
    return proc.returncode, report


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """name -> (inode, mtime_ns, bytes) of every file, recursively."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def contents(folder: Path) -> dict[str, bytes]:
    return {name: data for name, (_, _, data) in snapshot(folder).items()}


def resave_with_info(path: Path, info: str) -> None:
    """Rewrite a voice with another `info` field: same weights, new bytes, new sha256."""
    torch = pytest.importorskip("torch")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["info"] = info
    torch.save(checkpoint, path)


def alice_index(d: int = 768, seed: int = 7) -> bytes:
    """A small IndexIVFFlat in faiss's own layout (fixtures/hostile_index.py writes it field by field)."""
    import hostile_index

    return hostile_index.valid_bytes(hostile_index.base_index(d=d, nlist=4, per_list=(10, 0, 12, 9), seed=seed))


def write_workspace(folder: Path, spec: str, broken: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for voice in VOICES:
        shutil.copy(golden_path(f"synth/models/{voice}.pth"), folder / f"{voice}.pth")
    shutil.copy(golden_path("hubert/hubert_tiny.pt"), folder / "hubert_tiny.pt")  # 64 wide: serves v1 voices only
    # every voice is run through its chain, so the bundle's HuBERT must serve v1 and v2 voices and alice's index be real
    make_aux.save_hubert_fairseq(folder / "hubert_wide.pt", make_aux.build_hubert(make_aux.HUBERT_SMALL_WIDE, seed=3), make_aux.HUBERT_SMALL_WIDE)
    shutil.copy(golden_path("rmvpe/rmvpe_small.pt"), folder / "rmvpe_small.pt")
    (folder / "alice.index").write_bytes(alice_index())  # a 768-d FAISS index for the v2 voice
    if broken:
        whole = (folder / "v1-40k-f0-tiny.pth").read_bytes()
        (folder / "broken.pth").write_bytes(whole[: len(whole) // 2])
    (folder / "bundle.yaml").write_text(spec)
    return folder / "bundle.yaml"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("sources"), SPEC)


@pytest.fixture(scope="module")
def first_build(workspace, tmp_path_factory) -> tuple[int, dict, Path]:
    out = tmp_path_factory.mktemp("bundle") / "Assets"
    code, report = bundle_json(workspace, "-o", out, "--jobs", "2")
    return code, report, out


@pytest.fixture
def bundle_copy(first_build, tmp_path) -> Path:
    copy = tmp_path / "Assets"
    shutil.copytree(first_build[2], copy)
    return copy


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# --- build ------------------------------------------------------------------------------------------


def test_a_broken_voice_is_reported_and_everything_else_ships(first_build):
    """The truncated voice fails with its exit class (5, corrupt file); the 4 voices, HuBERT and RMVPE are
    built, and the manifest (schema-valid) lists exactly them, each file present with its hash."""
    code, report, out = first_build
    assert code == 5 and report["exit_code"] == 5 and not report["ok"]
    assert report["counts"] == {"built": 6, "reused": 0, "failed": 1}
    (failed,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert failed["name"] == "broken" and failed["error"]["exit_code"] == 5 and failed["error"]["kind"] == "corrupt_file"
    assert "truncated" in failed["error"]["message"] and failed["files"] == []
    manifest = manifest_of(out)
    check_manifest(manifest)
    assert [v["name"] for v in manifest["voices"]] == ["alice", "v1-32k-nof0-tiny", "v1-40k-f0-tiny", "v2-32k-nof0-tiny"]
    assert manifest["hubert"]["name"] == "hubert" and manifest["rmvpe"]["name"] == "rmvpe"
    for asset in [manifest["hubert"], manifest["rmvpe"], *manifest["voices"]]:
        assert asset["validation"]["ok"] and asset["validation"]["worst_layer_error"] is not None
        for record in asset["files"].values():
            assert file_sha256(out / record["path"]) == record["sha256"] and (out / record["path"]).stat().st_size == record["size"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *(r["path"] for a in [manifest["hubert"], manifest["rmvpe"], *manifest["voices"]] for r in a["files"].values())])


def test_the_manifest_states_what_each_asset_is_and_the_contract_an_app_must_honour(first_build, workspace):
    """Variant facts, validation figures and the I/O contract: v1 wants HuBERT layer 9 + final_proj (256-d),
    v2 the last layer (768-d); HuBERT takes 16 kHz at 50 fps; RMVPE hop 160, 360 bins, threshold 0.03. Display
    metadata come through; the voice's index is converted, validated and recorded with its contract."""
    manifest = manifest_of(first_build[2])
    voices = {v["name"]: v for v in manifest["voices"]}
    assert voices["v1-40k-f0-tiny"]["contract"] == {
        "sample_rate": 40000, "hop": 400, "frame_rate_hz": 100, "phone_width": 256, "hubert_output": "layer9_final_proj", "f0": True, "speakers": 3,
    }
    assert voices["v2-32k-nof0-tiny"]["contract"]["phone_width"] == 768 and voices["v2-32k-nof0-tiny"]["contract"]["hubert_output"] == "last_layer"
    assert voices["v2-32k-nof0-tiny"]["variant"] == {"name": "v2-32k-nof0", "version": "v2", "sample_rate": 32000, "f0": False, "vocoder": "HiFi-GAN", "speakers": 3}
    assert voices["alice"]["validation"]["smoke_rms"] > 0
    hubert = manifest["hubert"]["contract"]
    assert (hubert["sample_rate"], hubert["frame_rate_hz"], hubert["hop"], hubert["outputs"]["layer9_final_proj"]) == (16000, 50, 320, 256)
    rmvpe = manifest["rmvpe"]["contract"]
    assert (rmvpe["sample_rate"], rmvpe["hop"], rmvpe["pitch_bins"], rmvpe["threshold"]) == (16000, 160, 360, 0.03)
    alice = voices["alice"]
    assert alice["display"] == {"display_name": "Alice", "author": "Golden Set", "license": "CC0-1.0", "tags": ["test", "tiny"]}
    index = first_build[2] / alice["files"]["index"]["path"]
    assert index.name.startswith("alice-index.") and index.suffix == ".safetensors"
    assert alice["files"]["index"]["sha256"] == file_sha256(index)
    assert alice["index"]["source"] == {"path": "alice.index", "sha256": file_sha256(workspace.parent / "alice.index")}
    assert alice["index"]["contract"] == {"dimension": 768, "metric": "l2", "nprobe": 1, "nlist": 4, "ntotal": 31, "neighbours": 8}
    assert (alice["index"]["family"], alice["index"]["kind"], alice["index"]["variant"]) == ("retrieval", "faiss-ivf-flat", {"name": "ivf4-768d"})
    assert alice["index"]["validation"]["ok"] and alice["index"]["validation"]["layers_checked"] == 4
    assert manifest_of(first_build[2])["rules"]["retrieval"] == alice["index"]["rules_sha256"]
    assert "index" not in voices["v1-40k-f0-tiny"] and "index" not in voices["v1-40k-f0-tiny"]["files"]
    assert alice["source"] == {"path": "v2-48k-f0-tiny.pth", "sha256": file_sha256(workspace.parent / "v2-48k-f0-tiny.pth")}


def test_a_rerun_with_nothing_changed_rebuilds_and_rewrites_nothing(workspace, bundle_copy):
    """Every good asset is reused (after its files' hashes are checked); no file is rewritten (same inode, mtime)."""
    before = snapshot(bundle_copy)
    code, report = bundle_json(workspace, "-o", bundle_copy)
    assert code == 5  # the broken voice still fails
    assert report["counts"] == {"built": 0, "reused": 6, "failed": 1}
    assert report["manifest"]["written"] is False and report["removed"] == []
    assert snapshot(bundle_copy) == before


def test_an_output_rewritten_with_its_size_and_mtime_kept_is_caught(workspace, bundle_copy, tmp_path, monkeypatch):
    """Digests are remembered by file identity (inode, size, mtime, ctime): a weights file altered in
    place with its size and mtime restored still changes its ctime, so the rerun reads it, finds
    it modified and rebuilds that asset; --paranoid re-reads everything and finds nothing else."""
    from rvc_convert import file_hashes

    monkeypatch.setenv("RVC_CONVERT_CACHE", str(tmp_path / "cache"))
    for voice in manifest_of(bundle_copy)["voices"]:  # as a build remembers what it published
        for record in voice["files"].values():
            file_hashes.remember(bundle_copy / record["path"], record["sha256"])
    voice = next(v for v in manifest_of(bundle_copy)["voices"] if v["name"] == "v1-32k-nof0-tiny")
    weights = bundle_copy / voice["files"]["weights"]["path"]
    stat = weights.stat()
    time.sleep(0.05)  # the change time ticks at least every few ms
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    code, report = bundle_json(workspace, "-o", bundle_copy, env=dict(os.environ))
    assert code == 5 and report["counts"] == {"built": 1, "reused": 5, "failed": 1}
    assert [a["name"] for a in report["assets"] if a["status"] == "built"] == ["v1-32k-nof0-tiny"]
    code, report = bundle_json(workspace, "-o", bundle_copy, "--paranoid", env=dict(os.environ))
    assert code == 5 and report["counts"] == {"built": 0, "reused": 6, "failed": 1}
    assert verify_bundle(bundle_copy)["ok"]


def test_touching_one_source_rebuilds_only_that_asset(workspace, bundle_copy, tmp_path):
    """A re-saved voice (new sha256) is converted again; the other assets' files are left alone and the
    voice's old weights file is removed once the new manifest is in place."""
    sources = tmp_path / "sources"
    shutil.copytree(workspace.parent, sources)
    resave_with_info(sources / "v1-40k-f0-tiny.pth", "retrained")
    old_manifest = manifest_of(bundle_copy)
    old_weights = next(v for v in old_manifest["voices"] if v["name"] == "v1-40k-f0-tiny")["files"]["weights"]["path"]
    before = snapshot(bundle_copy)

    code, report = bundle_json(sources / "bundle.yaml", "-o", bundle_copy)

    assert code == 5 and report["counts"] == {"built": 1, "reused": 5, "failed": 1}
    assert [a["name"] for a in report["assets"] if a["status"] == "built"] == ["v1-40k-f0-tiny"]
    assert report["removed"] == [old_weights] and not (bundle_copy / old_weights).exists()
    after = snapshot(bundle_copy)
    assert {name: after[name] for name in before if name not in (old_weights, "manifest.json")} == {
        name: state for name, state in before.items() if name not in (old_weights, "manifest.json")
    }
    voice = next(v for v in manifest_of(bundle_copy)["voices"] if v["name"] == "v1-40k-f0-tiny")
    assert voice["source"]["sha256"] == file_sha256(sources / "v1-40k-f0-tiny.pth")
    assert verify_bundle(bundle_copy)["ok"]


def test_two_builds_of_one_spec_are_byte_identical(workspace, first_build, tmp_path):
    """Same spec into another folder (one worker instead of two): the same file names and bytes, manifest included."""
    other = tmp_path / "Elsewhere"
    code, _ = bundle_json(workspace, "-o", other, "--jobs", "1")
    assert code == 5
    assert contents(other) == contents(first_build[2])


def test_the_spec_less_form_builds_voices_named_by_their_file_stems(workspace, tmp_path):
    """`bundle a.pth b.pth --hubert h.pt -o out`: voices named by stem, HuBERT shared, no RMVPE. The
    tiny HuBERT is 64 wide: the v2 voice's chain cannot run (768-d features), so it fails (exit 2,
    naming the mismatch) and ships nothing."""
    folder = workspace.parent
    code, report = bundle_json(folder / "v1-32k-nof0-tiny.pth", folder / "v2-32k-nof0-tiny.pth", "--hubert", folder / "hubert_tiny.pt", "-o", tmp_path / "out")
    assert code == 2 and report["counts"] == {"built": 2, "reused": 0, "failed": 1} and report["spec"] == "command line"
    (failed,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert failed["name"] == "v2-32k-nof0-tiny" and failed["error"]["kind"] == "chain" and "768-d features" in failed["error"]["message"]
    manifest = manifest_of(tmp_path / "out")
    check_manifest(manifest)
    assert [v["name"] for v in manifest["voices"]] == ["v1-32k-nof0-tiny"]
    assert manifest["hubert"]["source"]["sha256"] == file_sha256(folder / "hubert_tiny.pt") and manifest["rmvpe"] is None


# --- verify -------------------------------------------------------------------------------------------


def test_verify_passes_on_an_untouched_bundle_and_revalidates_every_weight_file(bundle_copy):
    """Exit 0 and a schema-valid report; --revalidate runs validation on each of the 6 weight files and the index."""
    proc = run_cli("verify", bundle_copy, "--json")
    report = json.loads(proc.stdout)
    check_report(report)
    assert proc.returncode == 0 and report["ok"] and not (report["missing"] or report["modified"] or report["extra"])
    assert len(report["files"]) == 13  # 6 weights + 6 configs + 1 converted index
    report = verify_bundle(bundle_copy, revalidate=True)
    assert len(report["revalidated"]) == 7 and all(row["ok"] for row in report["revalidated"])  # and the index
    assert any(row["path"].startswith("alice-index.") for row in report["revalidated"])
    assert sorted(row["voice"] for row in report["chains"]) == ["alice", "v1-32k-nof0-tiny", "v1-40k-f0-tiny", "v2-32k-nof0-tiny"]
    assert all(row["ok"] for row in report["chains"]) and report["ok"]
    alice = next(row for row in report["chains"] if row["voice"] == "alice")
    assert [c["name"] for c in alice["checks"]] == ["chain.models", "chain.output", "chain.f0", "chain.index"]


def _flip_a_byte(folder: Path, manifest: dict) -> tuple[str, str]:
    name = manifest["voices"][0]["files"]["weights"]["path"]
    data = bytearray((folder / name).read_bytes())
    data[-3] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    return "modified", name


def _delete_a_file(folder: Path, manifest: dict) -> tuple[str, str]:
    name = manifest["rmvpe"]["files"]["config"]["path"]
    (folder / name).unlink()
    return "missing", name


def _add_a_file(folder: Path, manifest: dict) -> tuple[str, str]:
    (folder / "voices").mkdir()
    (folder / "voices" / "stray.safetensors").write_bytes(b"not in the manifest")
    return "extra", "voices/stray.safetensors"


@pytest.mark.parametrize("damage", [_flip_a_byte, _delete_a_file, _add_a_file], ids=["flipped-byte", "deleted-file", "added-file"])
def test_verify_names_each_damaged_file_and_exits_1(bundle_copy, damage):
    """A flipped byte is `modified`, a deleted file `missing`, an unlisted file `extra`: each named, exit 1."""
    status, name = damage(bundle_copy, manifest_of(bundle_copy))
    proc = run_cli("verify", bundle_copy, "--json")
    report = json.loads(proc.stdout)
    check_report(report)
    assert proc.returncode == 1 and not report["ok"]
    assert report[status] == [name]
    assert sum(len(report[kind]) for kind in ("missing", "modified", "extra")) == 1
    assert name in run_cli("verify", bundle_copy).stdout


# --- atomicity ------------------------------------------------------------------------------------------

SMALL_SPEC = """\
voices:
  - v1-32k-nof0-tiny.pth
  - v2-32k-nof0-tiny.pth
"""


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory) -> Path:
    spec = write_workspace(tmp_path_factory.mktemp("small"), SMALL_SPEC, broken=False)
    code, _ = bundle_json(spec, "-o", spec.parent / "Assets")
    assert code == 0
    return spec.parent


@pytest.mark.parametrize("crash_point", ["1", "published", "committed"])
def test_a_build_killed_at_any_point_leaves_a_valid_bundle_and_the_next_run_completes(small_bundle, tmp_path, crash_point):
    """SIGKILL (the RVC_CONVERT_TEST_CRASH_AFTER hook) after the changed voice is staged, after its new files
    are published, or after the new manifest is committed: `verify` passes on what is left (the old bundle
    before the commit, the new one after), and the next run finishes the update with nothing left over."""
    work = tmp_path / "work"
    shutil.copytree(small_bundle, work)
    out = work / "Assets"
    old_manifest = (out / "manifest.json").read_bytes()
    resave_with_info(work / "v2-32k-nof0-tiny.pth", "retrained")

    killed = run_cli("bundle", work / "bundle.yaml", "-o", out, env=os.environ | {"RVC_CONVERT_TEST_CRASH_AFTER": crash_point})
    assert killed.returncode in (-9, 137), killed.stderr

    left = verify_bundle(out)
    assert left["ok"], left
    committed = (out / "manifest.json").read_bytes() != old_manifest
    assert committed == (crash_point == "committed")

    code, report = bundle_json(work / "bundle.yaml", "-o", out)
    assert code == 0 and report["counts"]["failed"] == 0
    assert report["counts"]["built"] == (0 if committed else 1)
    final = verify_bundle(out)
    assert final["ok"] and final["pending"] == [] and final["extra"] == []
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *(f["path"] for v in manifest_of(out)["voices"] for f in v["files"].values())])
    voice = next(v for v in manifest_of(out)["voices"] if v["name"] == "v2-32k-nof0-tiny")
    assert voice["source"]["sha256"] == file_sha256(work / "v2-32k-nof0-tiny.pth")


# --- spec errors ---------------------------------------------------------------------------------------

SPEC_ERRORS = {
    "voice-without-source": ("voices:\n  - source: a.pth\n  - name: bob\n    author: Bob\n", "bundle.yaml:3: voices[1]: missing required field 'source'"),
    "unknown-key": ("voices:\n  - source: a.pth\n    sorce: b.pth\n", "bundle.yaml:3: voices[0].sorce: unknown field"),
    "unknown-top-level-key": ("voices: [a.pth]\nhuberts: h.pt\n", "bundle.yaml:2: huberts: unknown field"),
    "duplicate-name": ("voices:\n  - source: a.pth\n    name: alice\n  - source: b.pth\n    name: Alice\n", "bundle.yaml:5: voices[1].name: the name 'Alice' is already used by voices[0].name"),
    "duplicate-stem": ("voices:\n  - a.pth\n  - sub/a.pth\n", "bundle.yaml:3: voices[1].source: the name 'a' is already used"),
    "unsafe-name": ("voices:\n  - source: a.pth\n    name: my voice\n", "bundle.yaml:3: voices[0].name: 'my voice' is not a safe file stem"),
    "duplicate-key": ("target: ios\nvoices: [a.pth]\ntarget: mlx\n", "bundle.yaml:3: target: given twice (first at line 1)"),
    "bad-target": ("target: android\nvoices: [a.pth]\n", "bundle.yaml:1: target: 'android' is not one of: ios, mlx"),
    "not-yaml": ("voices:\n  - [a.pth\n", "bundle.yaml:3: not valid YAML"),
}


@pytest.mark.parametrize("case", list(SPEC_ERRORS), ids=list(SPEC_ERRORS))
def test_spec_errors_name_the_line_and_the_field(tmp_path, case):
    """Each mistake is reported as `bundle.yaml:LINE: FIELD: what is wrong` (a usage error, exit 4)."""
    text, expected = SPEC_ERRORS[case]
    spec = tmp_path / "bundle.yaml"
    spec.write_text(text)
    with pytest.raises(BundleSpecError) as raised:
        load_spec(spec)
    assert raised.value.exit_code == 4
    assert expected in str(raised.value)


def test_the_cli_reports_spec_errors_with_exit_4_and_builds_nothing(tmp_path):
    """One line on stderr naming every problem; no output folder is created."""
    spec = tmp_path / "bundle.yaml"
    spec.write_text(SPEC_ERRORS["voice-without-source"][0])
    proc = run_cli("bundle", spec, "-o", tmp_path / "Assets")
    assert proc.returncode == 4
    assert "bundle.yaml:3: voices[1]: missing required field 'source'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "Assets").exists()


def test_the_manifest_schema_rejects_a_path_outside_the_bundle(first_build):
    """verify and the clean-up trust manifest paths only because the schema allows plain file names."""
    manifest = manifest_of(first_build[2])
    manifest["voices"][0]["files"]["weights"]["path"] = "../outside.0123456789ab.safetensors"
    with pytest.raises(jsonschema.ValidationError):
        check_manifest(manifest)
