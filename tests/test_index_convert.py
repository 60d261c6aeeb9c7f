"""A FAISS index converts through the family registry like any model: `rvc-convert voice.index`.

The converted file holds the reader's arrays exactly (centroids, vectors grouped by list, list
offsets, ids) and the metadata rvc_runtime.index needs; conversion is deterministic, streams the
vectors (bounded memory), refuses fp16 overflow, and `inspect` reads no vector.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from outputs import subprocess_env
from safetensors import safe_open
from safetensors.numpy import load_file

from golden import golden_path
from index_cases import BY_NAME, GOLDEN_INDEX, GOLDEN_REF, build_case

import hostile_index
from rvc_convert import __version__
from rvc_convert.cli import main
from rvc_convert.convert import convert_model, describe_plan
from rvc_convert.errors import CorruptFileError, UnsupportedModelError, UsageError
from rvc_convert.families.retrieval.faiss_format import read_faiss_index, read_index_layout
from rvc_convert.reports import check_report


def _arrays(path: Path):
    if path.suffix == ".safetensors":
        with safe_open(str(path), "np") as handle:
            meta = handle.metadata()
        return load_file(str(path)), meta
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return arrays, json.loads(zipfile.ZipFile(path).comment)


@pytest.mark.parametrize("target, suffix", [("ios", ".safetensors"), ("mlx", ".npz")])
def test_golden_index_converts(target, suffix, tmp_path):
    """The golden RVC index converts to the four arrays (the reader's, exactly), its config sidecar,
    and metadata naming the family, layout revision, metric, nprobe, sizes, source sha256 and version."""
    source = golden_path(GOLDEN_INDEX)
    result = convert_model(source, target, tmp_path)
    assert result.weights_path == tmp_path / (source.stem + suffix)
    arrays, meta = _arrays(result.weights_path)
    index = read_faiss_index(source)
    assert sorted(arrays) == ["centroids", "ids", "list_offsets", "vectors"]
    for name in arrays:
        expected = getattr(index, name)
        assert arrays[name].dtype == expected.dtype and np.array_equal(arrays[name], expected), name
    config = {"index_type": "IndexIVFFlat", "metric": "l2", "d": 256, "nlist": 19, "ntotal": 757, "nprobe": 1, "source_nprobe": 1, "list_encoding": "full"}
    assert json.loads(result.config_path.read_text()) == config
    facts = {"family": "retrieval", "index_format": "1", "source_index_type": "IndexIVFFlat", "source_list_encoding": "full", "metric": "l2",
             "nprobe": "1", "source_nprobe": "1", "d": "256", "nlist": "19", "ntotal": "757", "dtype": "float32", "source_kind": "faiss-ivf-flat",
             "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(), "rvc_convert.version": __version__, "rvc_convert.rule_pack": "retrieval"}
    assert {k: meta[k] for k in facts} == facts
    assert json.loads(meta["config"]) == config


@pytest.mark.parametrize("target", ["ios", "mlx"])
@pytest.mark.parametrize("dtype", [None, "fp16"])
def test_conversion_is_deterministic(target, dtype, tmp_path):
    """Two conversions of the same file (different folders) give identical bytes."""
    source = golden_path(GOLDEN_INDEX)
    first = convert_model(source, target, tmp_path / "a", dtype).weights_path.read_bytes()
    second = convert_model(source, target, tmp_path / "b", dtype).weights_path.read_bytes()
    assert first == second


def test_fp16_rounds_only_the_vectors(tmp_path):
    """--dtype fp16 stores the vectors as float16 (the float32 values rounded once); centroids stay
    float32 (the rule pack pins them: they decide which list is searched), offsets and ids int64."""
    source = golden_path(GOLDEN_INDEX)
    arrays, meta = _arrays(convert_model(source, "ios", tmp_path, "fp16").weights_path)
    index = read_faiss_index(source)
    assert arrays["vectors"].dtype == np.float16 and np.array_equal(arrays["vectors"], index.vectors.astype(np.float16))
    assert arrays["centroids"].dtype == np.float32 and np.array_equal(arrays["centroids"], index.centroids)
    assert arrays["ids"].dtype == arrays["list_offsets"].dtype == np.int64
    assert meta["dtype"] == "float16"


def _write_index(path: Path, scale_list: int | None = None, nan_list: int | None = None) -> Path:
    base = hostile_index.base_index()
    lists = [(v * (1e5 if j == scale_list else 1), i) for j, (v, i) in enumerate(base.lists)]
    if nan_list is not None:
        lists[nan_list][0][1, 2] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(hostile_index.ivf_flat_file(base.centroids, lists))
    return path


def test_fp16_overflow_refused_and_nothing_written(tmp_path):
    """A vector component beyond float16's range is refused under --dtype fp16 (exit 2), no file
    (not even a temporary) is left behind; fp32 converts the same file."""
    source = _write_index(tmp_path / "src" / "loud.index", scale_list=2)
    out = tmp_path / "out"
    with pytest.raises(UnsupportedModelError, match="exceeds the float16 range") as info:
        convert_model(source, "ios", out, "fp16")
    assert info.value.exit_code == 2 and info.value.finding == "fp16_overflow"
    assert [p for p in out.rglob("*") if p.is_file()] == []
    assert convert_model(source, "ios", out, "fp32").weights_path.exists()


def test_inspect_reads_no_vectors(tmp_path):
    """inspect (a dry run) parses the structure only: a NaN planted in the vectors goes unnoticed,
    while the conversion of the same file is refused (exit 5) and leaves no file."""
    source = _write_index(tmp_path / "nan.index", nan_list=2)
    plan = describe_plan(convert_model(source, dry_run=True))
    assert (plan["family"], plan["container"], plan["kind"], plan["variant"]) == ("retrieval", "faiss-index", "faiss-ivf-flat", "ivf4-16d")
    assert plan["source_fields"]["faiss"]["lists"]["empty"] == 1
    with pytest.raises(CorruptFileError, match="list 2 vector row"):
        convert_model(source, "ios", tmp_path / "out")
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_flat_and_empty_indexes_convert(tmp_path):
    """An IndexFlat converts as one list whose centroid is the mean of its vectors; a
    trained-but-empty IVF index as empty arrays."""
    path, _ = build_case(BY_NAME["flat-ip"], tmp_path)
    result = convert_model(path, "ios", tmp_path / "out")
    arrays, meta = _arrays(result.weights_path)
    assert (meta["source_index_type"], meta["metric"], meta["nlist"], result.info.variant) == ("IndexFlat", "inner_product", "1", "flat-64d")
    assert np.array_equal(arrays["list_offsets"], [0, 300])
    assert np.allclose(arrays["centroids"][0], arrays["vectors"].astype(np.float64).mean(axis=0), atol=1e-6)
    path, _ = build_case(BY_NAME["ivf10-trained-empty"], tmp_path)
    result = convert_model(path, "mlx", tmp_path / "out")
    arrays, meta = _arrays(result.weights_path)
    assert arrays["vectors"].shape == (0, 64) and meta["ntotal"] == "0" and not arrays["list_offsets"].any()
    assert any("added_*.index" in note for note in result.info.notes)  # inspect tells which index a voice needs


def test_usage_errors(tmp_path):
    """Unknown target or dtype, a path as output name: UsageError (exit 4), nothing written."""
    source = golden_path(GOLDEN_INDEX)
    for kwargs, message in (({"target": "android"}, "unknown target"), ({"dtype": "bf16"}, "unknown dtype"), ({"name": "../x"}, "plain file name")):
        with pytest.raises(UsageError, match=message) as info:
            convert_model(source, out_dir=tmp_path, **kwargs)
        assert info.value.exit_code == 4
    assert list(tmp_path.iterdir()) == []


_MEASURE = r"""
import resource, sys
from rvc_convert.convert import convert_model
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
convert_model(sys.argv[3], "ios", sys.argv[2], name="warmup")  # imports and first-use costs
before = hwm()
convert_model(sys.argv[1], "ios", sys.argv[2])
print(hwm() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_conversion_streams_the_vectors(tmp_path):
    """Converting an index with 64 MB of vectors raises the process's peak memory by far less than
    the vectors (they stream block by block from the source to the output)."""
    rng = np.random.default_rng(0)
    d, nlist, per_list = 256, 64, 1000
    centroids = rng.standard_normal((nlist, d)).astype(np.float32)
    ids = rng.permutation(nlist * per_list)
    lists = [(rng.standard_normal((per_list, d)).astype(np.float32), ids[j * per_list : (j + 1) * per_list]) for j in range(nlist)]
    big = tmp_path / "big.index"
    big.write_bytes(hostile_index.ivf_flat_file(centroids, lists))
    env = subprocess_env()
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(big), str(tmp_path / "out"), str(golden_path(GOLDEN_INDEX))],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    growth_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
    vectors_mb = nlist * per_list * d * 4 / 2**20
    print(f"peak RSS growth {growth_mb:.1f} MiB converting {vectors_mb:.0f} MiB of vectors")
    assert growth_mb < vectors_mb / 4


# --- the command line -------------------------------------------------------------------------------


def test_cli_converts_validates_and_reports(tmp_path, capsys):
    """`rvc-convert voice.index --target mlx --json`: exit 0, the .npz and its .json written, a
    schema-valid report whose validation passed (layer-wise tables, strict load, smoke search)."""
    source = golden_path(GOLDEN_INDEX)
    code = main([str(source), "--target", "mlx", "-o", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    check_report(report)
    assert code == 0 and report["ok"]
    assert sorted(Path(p).name for p in report["outputs"]) == [source.stem + ".json", source.stem + ".npz"]
    checks = {c["name"]: c["status"] for c in report["validation"]["checks"]}
    assert checks == {"structure.coverage": "pass", "structure.finite": "pass", "layerwise": "pass", "runtime.load": "pass", "runtime.smoke": "pass"}
    layerwise = next(c for c in report["validation"]["checks"] if c["name"] == "layerwise")
    assert layerwise["metrics"]["layers"] == 4 and layerwise["metrics"]["worst_relative_error"] == 0.0


def test_cli_inspect_describes_the_index(capsys):
    """`inspect --json`: family retrieval, the faiss container, list-size histogram and empty lists,
    without a source hash (nothing beyond the structure is read)."""
    code = main(["inspect", str(golden_path(GOLDEN_INDEX)), "--json"])
    report = json.loads(capsys.readouterr().out)
    check_report(report)
    plan = report["plan"]
    assert code == 0 and plan["source_sha256"] is None
    assert (plan["family"], plan["facts"]["d"], plan["facts"]["nlist"], plan["facts"]["ntotal"]) == ("retrieval", "256", "19", "757")
    faiss_facts = plan["source_fields"]["faiss"]
    assert faiss_facts["lists"]["empty"] == 0 and sum(b["lists"] for b in faiss_facts["lists"]["histogram"]) == 19


def test_cli_validate_with_upstream_reference(tmp_path, capsys):
    """`validate voice.index -r <upstream pipeline run>`: faiss's ids for the run's HuBERT features,
    its distances and blended features at >= 80 dB; a reference without those arrays fails (exit 1)."""
    source, reference = golden_path(GOLDEN_INDEX), golden_path(GOLDEN_REF)
    assert main(["validate", str(source), "-r", str(reference), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["parity.ids"] == "pass" and checks["parity"] == "pass"
    assert {row["stage"] for row in report["parity"]} == {"chunk0.index_D", "chunk0.feats_index"}
    assert all(row["snr_db"] == "inf" or row["snr_db"] > 120 for row in report["parity"])
    other = tmp_path / "other.npz"
    np.savez(other, audio=np.zeros(3))
    assert main(["validate", str(source), "-r", str(other)]) == 1


def test_cli_refuses_hostile_indexes_with_their_exit_codes(tmp_path, capsys):
    """A truncated index exits 5, a forged count 3, an IVF-PQ index 2; each with one line on stderr."""
    good = hostile_index.valid_bytes()
    cases = {"cut.index": (good[:200], 5), "forged.index": (hostile_index.valid_bytes(ntotal=1 << 62), 3), "pq.index": (b"IwPQ" + good[4:], 2)}
    for name, (data, code) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert main([str(tmp_path / name), "-o", str(tmp_path / "out")]) == code, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists() or [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_a_changed_source_is_refused(tmp_path):
    """The arrays are read when the conversion writes them: an index rewritten with another
    structure between reading and writing is refused, not half-converted."""
    from rvc_convert.convert import read_source

    source = _write_index(tmp_path / "a.index")
    loaded = read_source(source)
    source.write_bytes(hostile_index.valid_bytes(hostile_index.base_index(per_list=(1, 2, 3, 4))))
    with pytest.raises(CorruptFileError, match="changed since it was read"):
        np.asarray(loaded.root["invlists.vectors"].array)
    assert read_index_layout(source).ntotal == 10


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_writer_streamed_blocks_write_the_same_bytes(suffix, tmp_path):
    """A tensor produced as row blocks (how the vectors stream) gives byte for byte the file the
    whole array gives, empty tensors included; a block of the wrong dtype or row count is refused
    and leaves no file."""
    from rvc_convert.errors import RvcConvertError
    from rvc_convert.writer import TensorSpec, write_npz, write_safetensors

    writer = write_safetensors if suffix == ".safetensors" else write_npz
    rng = np.random.default_rng(0)
    arrays = {"a": rng.standard_normal((1000, 7)).astype(np.float32), "b": np.arange(5, dtype=np.int64), "z": np.zeros((0, 3), np.float16)}
    specs = [TensorSpec(k, v.dtype, v.shape) for k, v in arrays.items()]
    writer(tmp_path / f"whole{suffix}", specs, lambda s: arrays[s.name], {"k": "v"})
    writer(tmp_path / f"blocks{suffix}", specs, lambda s: (arrays[s.name][i : i + 300] for i in range(0, len(arrays[s.name]), 300)), {"k": "v"})
    assert (tmp_path / f"whole{suffix}").read_bytes() == (tmp_path / f"blocks{suffix}").read_bytes()
    for bad in (lambda s: iter([arrays[s.name][:10]]), lambda s: iter([arrays[s.name].astype(np.float64)])):
        with pytest.raises(RvcConvertError, match="internal"):
            writer(tmp_path / f"bad{suffix}", specs[:1], bad, {})
        assert not (tmp_path / f"bad{suffix}").exists()
