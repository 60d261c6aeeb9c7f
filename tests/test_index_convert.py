"""convert_index writes the converted index layout: the reader's arrays, deterministic, atomic."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
from safetensors.numpy import load_file
from safetensors import safe_open

from golden import golden_path
from index_cases import BY_NAME, build_case

import hostile_index
from rvc_convert import __version__
from rvc_convert.errors import UnsupportedModelError, UsageError
from rvc_convert.faiss_index import read_faiss_index
from rvc_convert.index_convert import convert_index

GOLDEN_INDEX = "pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index"


def _arrays(path):
    if path.suffix == ".safetensors":
        with safe_open(str(path), "np") as handle:
            meta = handle.metadata()
        return load_file(str(path)), meta
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return arrays, json.loads(zipfile.ZipFile(path).comment)


@pytest.mark.parametrize("target, suffix", [("ios", ".safetensors"), ("mlx", ".npz")])
def test_golden_index_converts(target, suffix, tmp_path):
    """The golden RVC index converts to the four arrays (the reader's, exactly) and the metadata
    an app needs: family, layout revision, metric, nprobe, d, nlist, ntotal, dtype, source sha256,
    converter version."""
    source = golden_path(GOLDEN_INDEX)
    result = convert_index(source, target, tmp_path)
    assert result.output == tmp_path / (source.stem + suffix)
    arrays, meta = _arrays(result.output)
    index = read_faiss_index(source)
    assert sorted(arrays) == ["centroids", "ids", "list_offsets", "vectors"]
    for name in arrays:
        expected = getattr(index, name)
        assert arrays[name].dtype == expected.dtype and np.array_equal(arrays[name], expected), name
    assert meta == {
        "family": "index", "index_format": "1", "source_index_type": "IndexIVFFlat", "source_list_encoding": "full",
        "metric": "l2", "nprobe": "1", "source_nprobe": "1", "d": "256", "nlist": "19", "ntotal": "757", "dtype": "float32",
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(), "rvc_convert.version": __version__,
    }


@pytest.mark.parametrize("target", ["ios", "mlx"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_conversion_is_deterministic(target, dtype, tmp_path):
    """Two conversions of the same file (different folders) give identical bytes."""
    source = golden_path(GOLDEN_INDEX)
    first = convert_index(source, target, tmp_path / "a", dtype).output.read_bytes()
    second = convert_index(source, target, tmp_path / "b", dtype).output.read_bytes()
    assert first == second


def test_fp16_rounds_only_the_vectors(tmp_path):
    """--dtype fp16 stores the vectors as float16 (the float32 values rounded once); centroids,
    offsets and ids stay exact, so the coarse step is unchanged."""
    source = golden_path(GOLDEN_INDEX)
    arrays, meta = _arrays(convert_index(source, "ios", tmp_path, "fp16").output)
    index = read_faiss_index(source)
    assert arrays["vectors"].dtype == np.float16 and np.array_equal(arrays["vectors"], index.vectors.astype(np.float16))
    assert arrays["centroids"].dtype == np.float32 and np.array_equal(arrays["centroids"], index.centroids)
    assert meta["dtype"] == "float16"


def test_fp16_overflow_refused_and_nothing_written(tmp_path):
    """A vector component beyond float16's range is refused under --dtype fp16 (exit 2), and no
    file (not even a temporary) is left behind; fp32 converts the same file."""
    base = hostile_index.base_index()
    lists = [(v * (1e5 if j == 2 else 1), i) for j, (v, i) in enumerate(base.lists)]
    source = tmp_path / "src" / "loud.index"
    source.parent.mkdir()
    source.write_bytes(hostile_index.ivf_flat_file(base.centroids, lists))
    out = tmp_path / "out"
    with pytest.raises(UnsupportedModelError, match="beyond float16"):
        convert_index(source, "ios", out, "fp16")
    assert not out.exists() or list(out.iterdir()) == []
    assert convert_index(source, "ios", out, "fp32").output.exists()


def test_flat_and_empty_indexes_convert(tmp_path):
    """An IndexFlat converts as one list with a zero centroid; a trained-but-empty IVF as empty arrays."""
    path, _ = build_case(BY_NAME["flat-ip"], tmp_path)
    arrays, meta = _arrays(convert_index(path, "ios", tmp_path / "out").output)
    assert (meta["source_index_type"], meta["metric"], meta["nlist"]) == ("IndexFlat", "inner_product", "1")
    assert np.array_equal(arrays["list_offsets"], [0, 300]) and not arrays["centroids"].any()
    path, _ = build_case(BY_NAME["ivf10-trained-empty"], tmp_path)
    arrays, meta = _arrays(convert_index(path, "mlx", tmp_path / "out").output)
    assert arrays["vectors"].shape == (0, 64) and meta["ntotal"] == "0" and not arrays["list_offsets"].any()


def test_usage_errors(tmp_path):
    """Unknown target or dtype, a path as output name: UsageError (exit 4) before anything is read."""
    source = golden_path(GOLDEN_INDEX)
    for kwargs, message in (({"target": "android"}, "unknown target"), ({"dtype": "bf16"}, "unknown dtype"), ({"name": "../x"}, "plain file name")):
        with pytest.raises(UsageError, match=message) as info:
            convert_index(source, out_dir=tmp_path, **kwargs)
        assert info.value.exit_code == 4
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_writer_streamed_blocks_write_the_same_bytes(suffix, tmp_path):
    """A tensor produced as row blocks (how the vectors stream) gives byte for byte the file the
    whole array gives, empty tensors included; a block of the wrong dtype or row count is refused."""
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


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_late_metadata_writes_the_same_bytes(suffix, tmp_path):
    """Metadata completed after the data (the source hash, computed while the vectors stream)
    gives the same file as the final metadata given up front; a late value whose length differs
    from its placeholder is refused and leaves no file."""
    from rvc_convert.errors import RvcConvertError
    from rvc_convert.writer import LateMetadata, TensorSpec, write_npz, write_safetensors

    writer = write_safetensors if suffix == ".safetensors" else write_npz
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    specs = [TensorSpec("a", array.dtype, array.shape)]
    writer(tmp_path / f"direct{suffix}", specs, lambda s: array, {"k": "v", "hash": "f" * 64})
    writer(tmp_path / f"late{suffix}", specs, lambda s: array, LateMetadata({"k": "v", "hash": "0" * 64}, lambda: {"hash": "f" * 64}))
    assert (tmp_path / f"direct{suffix}").read_bytes() == (tmp_path / f"late{suffix}").read_bytes()
    with pytest.raises(RvcConvertError, match="placeholder"):
        writer(tmp_path / f"bad{suffix}", specs, lambda s: array, LateMetadata({"hash": "0" * 64}, lambda: {"hash": "f" * 63}))
    assert not (tmp_path / f"bad{suffix}").exists()
