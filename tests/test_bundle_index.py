"""A voice's `index:` in a bundle: converted and validated like the voice, matched to it, reused
while unchanged, covered by verify; a manifest of the previous format is replaced cleanly.

Built through the real CLI (a subprocess) from the tiny golden voices, like tests/test_bundle.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from golden import golden_path
from test_bundle import alice_index, bundle_json, manifest_of, snapshot

from rvc_convert.bundle import check_manifest, verify_bundle
from rvc_convert.reader import file_sha256

SPEC = """\
target: {target}
voices:
  - source: v2-48k-f0-tiny.pth
    name: alice
    index: alice.index
  - source: v1-40k-f0-tiny.pth
    name: bob
    index: {bob_index}
"""


def _workspace(folder: Path, bob_index: str = "bob.index", target: str = "ios") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(golden_path("synth/models/v2-48k-f0-tiny.pth"), folder)
    shutil.copy(golden_path("synth/models/v1-40k-f0-tiny.pth"), folder)
    (folder / "alice.index").write_bytes(alice_index(768))
    # bob is the golden v1 voice: its own index, trained by upstream on its training run (256-d)
    shutil.copy(golden_path("pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index"), folder / "bob.index")
    (folder / "bundle.yaml").write_text(SPEC.format(target=target, bob_index=bob_index))
    return folder / "bundle.yaml"


def test_each_voice_ships_its_converted_index_with_its_contract(tmp_path):
    """Both voices build (exit 0); each index is converted (the runtime loads it and finds faiss's
    own vectors), listed with its source hash, validation and contract, and verify covers it."""
    spec = _workspace(tmp_path / "src", target="mlx")
    out = tmp_path / "Assets"
    code, report = bundle_json(spec, "-o", out)
    assert code == 0 and report["counts"] == {"built": 2, "reused": 0, "failed": 0}
    manifest = manifest_of(out)
    check_manifest(manifest)
    assert manifest["format_version"] == 2
    bob = next(v for v in manifest["voices"] if v["name"] == "bob")
    assert bob["index"]["contract"] == {"dimension": 256, "metric": "l2", "nprobe": 1, "nlist": 19, "ntotal": 757, "neighbours": 8}
    assert bob["index"]["source"]["sha256"] == file_sha256(tmp_path / "src" / "bob.index")
    assert bob["files"]["index"]["path"].endswith(".npz")

    import rvc_runtime  # noqa: F401
    from rvc_convert.families.retrieval.faiss_format import read_faiss_index
    from rvc_runtime.index import RetrievalIndex

    converted = RetrievalIndex.from_file(out / bob["files"]["index"]["path"])
    assert np.array_equal(np.asarray(converted.vectors), read_faiss_index(tmp_path / "src" / "bob.index").vectors)
    verified = verify_bundle(out, revalidate=True)
    assert verified["ok"] and {row["path"] for row in verified["revalidated"]} >= {bob["files"]["index"]["path"]}
    (out / bob["files"]["index"]["path"]).write_bytes(b"tampered")
    assert verify_bundle(out)["modified"] == [bob["files"]["index"]["path"]]


def test_an_index_of_the_wrong_width_fails_its_voice_naming_both(tmp_path):
    """bob (a v1 voice, 256-d phones) given alice's 768-d index: bob fails with exit 2, the message
    names both widths; alice still ships."""
    spec = _workspace(tmp_path / "src", bob_index="alice.index")
    code, report = bundle_json(spec, "-o", tmp_path / "Assets")
    assert code == 2 and report["counts"] == {"built": 1, "reused": 0, "failed": 1}
    (bob,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert bob["name"] == "bob" and bob["error"]["kind"] == "index_mismatch" and bob["error"]["exit_code"] == 2
    message = bob["error"]["message"]
    assert "768-dimensional features (RVC v2)" in message and "256-dimensional phone features (RVC v1)" in message and "v1-40k-f0" in message
    assert [v["name"] for v in manifest_of(tmp_path / "Assets")["voices"]] == ["alice"]


def test_a_broken_index_fails_its_voice_with_the_index_error(tmp_path):
    """A truncated index: its voice fails with the reader's exit class (5) and says it was the index."""
    spec = _workspace(tmp_path / "src")
    data = (tmp_path / "src" / "bob.index").read_bytes()
    (tmp_path / "src" / "bob.index").write_bytes(data[: len(data) // 2])
    code, report = bundle_json(spec, "-o", tmp_path / "Assets")
    (bob,) = [a for a in report["assets"] if a["status"] == "failed"]
    assert code == 5 and bob["error"]["exit_code"] == 5
    assert bob["error"]["message"].startswith("index of bob:") and "truncated" in bob["error"]["message"]


def test_an_unchanged_index_is_reused_and_a_changed_one_rebuilds_its_voice(tmp_path):
    """Rerun: nothing rewritten. A new alice.index: alice is rebuilt, bob reused, the old index file removed."""
    spec = _workspace(tmp_path / "src")
    out = tmp_path / "Assets"
    assert bundle_json(spec, "-o", out)[0] == 0
    before = snapshot(out)
    code, report = bundle_json(spec, "-o", out)
    assert code == 0 and report["counts"] == {"built": 0, "reused": 2, "failed": 0} and snapshot(out) == before
    old_index = next(v for v in manifest_of(out)["voices"] if v["name"] == "alice")["files"]["index"]["path"]
    (tmp_path / "src" / "alice.index").write_bytes(alice_index(768, seed=8))  # retrained: other vectors
    code, report = bundle_json(spec, "-o", out)
    assert code == 0 and {a["name"]: a["status"] for a in report["assets"]} == {"alice": "built", "bob": "reused"}
    assert old_index in report["removed"] and not (out / old_index).exists()
    alice = next(v for v in manifest_of(out)["voices"] if v["name"] == "alice")
    assert alice["index"]["source"]["sha256"] == file_sha256(tmp_path / "src" / "alice.index")


def test_a_format_1_manifest_is_replaced_and_its_files_collected(tmp_path):
    """A folder holding a format-1 bundle (its voice's index copied as `.index`): the rebuild warns,
    converts everything, and deletes the files the old manifest listed; nothing else is touched."""
    spec = _workspace(tmp_path / "src")
    out = tmp_path / "Assets"
    out.mkdir()
    old_files = {"alice.0123456789ab.safetensors": b"old weights", "alice.0123456789ab.index": b"old index"}
    for name, data in old_files.items():
        (out / name).write_bytes(data)
    (out / "notes.txt").write_text("the user's")
    old_manifest = {"format": "rvc-convert/bundle-manifest", "format_version": 1, "voices": [
        {"name": "alice", "files": {"weights": {"path": "alice.0123456789ab.safetensors"}, "index": {"path": "alice.0123456789ab.index"}}}]}
    (out / "manifest.json").write_text(json.dumps(old_manifest))
    code, report = bundle_json(spec, "-o", out)
    assert code == 0 and any("ignored" in w for w in report["warnings"])
    assert not any((out / name).exists() for name in old_files) and (out / "notes.txt").exists()
    assert sorted(report["removed"]) == sorted(old_files)
