"""rvc_convert.families.retrieval.faiss_format reads FAISS index files exactly as faiss does, without faiss.

Reference: faiss itself (test-only dependency). Each file here is written by faiss.write_index;
the reader's arrays must equal faiss's reconstruct_n, its quantizer's centroids and every inverted
list's size, ids and vectors bit for bit.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from golden import golden_path
from index_cases import BY_NAME, CASES, build_case, faiss, faiss_lists, reader_mismatches

import hostile_index
from rvc_convert.errors import CorruptFileError, UnsupportedModelError
from rvc_convert.families.retrieval.faiss_format import describe_index, read_faiss_index, read_index_layout

GOLDEN_ADDED = "pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index"
GOLDEN_TRAINED = "pipeline/index/v1-40k-f0-tiny/trained_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faiss-written")
    return {case.name: build_case(case, folder) for case in CASES}


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_reader_equals_faiss(name, built):
    """Vectors (in id order = reconstruct_n), centroids, list sizes, list ids and list vectors
    equal faiss's exactly; d, ntotal, nlist, metric and the effective nprobe match; sha256 is the file's."""
    path, index = built[name]
    case = BY_NAME[name]
    got = read_faiss_index(path)
    assert reader_mismatches(got.centroids, got.vectors, got.list_offsets, got.ids, index) == []
    assert (got.d, got.ntotal, got.metric) == (index.d, index.ntotal, case.metric)
    assert got.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert got.vectors.dtype == got.centroids.dtype == np.float32 and got.ids.dtype == got.list_offsets.dtype == np.int64
    if case.kind == "ivf":
        assert (got.index_type, got.nlist, got.nprobe) == ("IndexIVFFlat", index.nlist, min(index.nprobe, index.nlist))
        assert got.layout.nprobe_file == index.nprobe
        assert got.encoding == case.encoding
    else:
        assert (got.index_type, got.nlist, got.encoding) == ("IndexFlat", 1, None)
        assert np.array_equal(got.list_offsets, [0, index.ntotal])
        mean = got.vectors.astype(np.float64).mean(axis=0) if index.ntotal else np.zeros(index.d)
        assert np.allclose(got.centroids, mean[None, :], rtol=1e-6, atol=1e-6)  # one list: its centroid is the mean


def test_cases_cover_both_encodings_empty_and_short_lists(built):
    """The faiss-written set really holds what the reader must handle: 'full' and 'sprs' files,
    empty lists inside a 'full' file, lists shorter than k=8, a trained-but-empty index."""
    encodings, empty_in_full, short = set(), False, False
    for name, (path, index) in built.items():
        if BY_NAME[name].kind != "ivf":
            continue
        sizes = np.array([len(ids) for _, ids in faiss_lists(index)])
        # faiss's own rule, read from the bytes faiss wrote: the encoding follows the list table header
        layout = read_index_layout(path)
        encodings.add(layout.encoding)
        assert layout.encoding == ("full" if (sizes > 0).sum() > len(sizes) / 2 else "sprs"), name
        empty_in_full |= layout.encoding == "full" and (sizes == 0).any()
        short |= ((sizes > 0) & (sizes < 8)).any()
    assert encodings == {"full", "sprs"} and empty_in_full and short
    assert built["ivf10-trained-empty"][1].ntotal == 0


@pytest.mark.parametrize("name", ["ivf19-rvc-like", "ivf64-sprs", "ivf10-trained-empty", "ivf12-ip", "ivf8-nprobe3", "flat-l2", "flat-ip", "flat-empty"])
def test_fixture_writer_is_byte_identical_to_faiss(name, built):
    """fixtures/hostile_index.py writes what faiss writes: re-writing the read arrays by hand gives
    faiss's bytes (so the hostile corpus forges real files, one field at a time)."""
    path, index = built[name]
    got = read_faiss_index(path)
    metric = 1 if got.metric == "l2" else 0
    if got.index_type == "IndexFlat":
        data = hostile_index.flat_file(got.vectors, metric)
    else:
        lists = [(got.vectors[lo:hi], got.ids[lo:hi]) for lo, hi in zip(got.list_offsets[:-1], got.list_offsets[1:])]
        data = hostile_index.ivf_flat_file(got.centroids, lists, nprobe=got.layout.nprobe_file, metric=metric)
    assert data == path.read_bytes()


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_describe_matches_faiss(name, built):
    """describe_index reports faiss's type, d, ntotal, nlist, metric and list sizes."""
    path, index = built[name]
    info = describe_index(path)
    assert (info["d"], info["ntotal"], info["metric"]) == (index.d, index.ntotal, BY_NAME[name].metric)
    if BY_NAME[name].kind == "ivf":
        sizes = np.array([len(ids) for _, ids in faiss_lists(index)])
        assert (info["index_type"], info["nlist"]) == ("IndexIVFFlat", index.nlist)
        assert info["lists"]["empty"] == int((sizes == 0).sum())
        assert info["lists"]["shorter_than_8"] == int(((sizes > 0) & (sizes < 8)).sum())
        assert (info["lists"]["min"], info["lists"]["max"]) == (sizes.min(), sizes.max())
        assert sum(row["lists"] for row in info["lists"]["histogram"]) == index.nlist
        for row in info["lists"]["histogram"]:
            assert row["lists"] == int(((sizes >= row["from"]) & (sizes <= row["to"])).sum())
    else:
        assert info["index_type"] == "IndexFlat"


def test_describe_reads_no_vectors(built, tmp_path):
    """describe_index never touches the vectors: a NaN planted in the payload goes unnoticed by
    describe while read_faiss_index refuses the same file."""
    path, _ = built["ivf19-rvc-like"]
    layout = read_index_layout(path)
    data = bytearray(path.read_bytes())
    at = int(layout.list_starts[3]) + 4 * 5  # a component of list 3's first vector
    data[at : at + 4] = struct.pack("<f", float("nan"))
    planted = tmp_path / "planted.index"
    planted.write_bytes(bytes(data))
    assert describe_index(planted)["ntotal"] == describe_index(path)["ntotal"]
    with pytest.raises(CorruptFileError, match="holds nan"):
        read_faiss_index(planted)


def test_golden_index_equals_training_features():
    """The golden RVC index (written by faiss for upstream's own training run) reads back as
    faiss reads it, and its vectors in id order are the training features upstream added."""
    path = golden_path(GOLDEN_ADDED)
    got = read_faiss_index(path)
    index = faiss.read_index(str(path))
    assert reader_mismatches(got.centroids, got.vectors, got.list_offsets, got.ids, index) == []
    assert np.array_equal(got.in_id_order(), np.load(golden_path("pipeline/index/v1-40k-f0-tiny/total_fea.npy")))
    assert (got.d, got.nlist, got.ntotal, got.nprobe, got.encoding) == (256, 19, 757, 1, "full")


def test_golden_trained_index_is_empty_sprs():
    """upstream's trained_ file: trained centroids, no vectors, 'sprs' with no pairs."""
    got = read_faiss_index(golden_path(GOLDEN_TRAINED))
    index = faiss.read_index(str(golden_path(GOLDEN_TRAINED)))
    assert (got.ntotal, got.encoding, got.vectors.shape) == (0, "sprs", (0, 256))
    assert np.array_equal(got.centroids, faiss.extract_index_ivf(index).quantizer.reconstruct_n(0, 19))
    assert np.array_equal(got.centroids, read_faiss_index(golden_path(GOLDEN_ADDED)).centroids)


@pytest.mark.parametrize(
    "factory, named",
    [("IVF4,PQ4", "IndexIVFPQ"), ("HNSW8", "IndexHNSWFlat"), ("PQ4", "IndexPQ"), ("IVF4,SQ8", "IndexIVFScalarQuantizer"),
     ("PCA8,IVF4,Flat", "IndexPreTransform"), ("IVF4,Flat,Refine(Flat)", "IndexRefineFlat"), ("IVF4_HNSW8,Flat", "coarse quantizer is a FAISS IndexHNSWFlat")],
)
def test_other_faiss_types_refused_by_name(factory, named, tmp_path):
    """Index types rvc-convert does not convert, written by faiss, are refused (exit 2) naming the type."""
    index = faiss.index_factory(16, factory)
    data = np.random.default_rng(0).standard_normal((2000, 16)).astype(np.float32)
    index.train(data)
    index.add(data[:100])
    path = tmp_path / "other.index"
    faiss.write_index(index, str(path))
    with pytest.raises(UnsupportedModelError, match=named) as info:
        read_faiss_index(path)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    with pytest.raises(UnsupportedModelError, match=named):
        describe_index(path)


def test_custom_ids_and_l1_metric_refused(tmp_path):
    """faiss-written files this reader must refuse: ids from add_with_ids (RVC looks vectors up
    by 0..ntotal-1) and the L1 metric."""
    data = np.random.default_rng(0).standard_normal((400, 16)).astype(np.float32)
    index = faiss.index_factory(16, "IVF4,Flat")
    index.train(data)
    index.add_with_ids(data[:50], np.arange(1000, 1050))
    faiss.write_index(index, str(tmp_path / "ids.index"))
    with pytest.raises(UnsupportedModelError, match="custom ids"):
        read_faiss_index(tmp_path / "ids.index")
    index = faiss.index_factory(16, "IVF4,Flat", faiss.METRIC_L1)
    index.train(data)
    faiss.write_index(index, str(tmp_path / "l1.index"))
    with pytest.raises(UnsupportedModelError, match="L1 metric"):
        read_faiss_index(tmp_path / "l1.index")
