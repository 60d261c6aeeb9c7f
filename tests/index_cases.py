"""FAISS index files written by faiss itself for the index tests, and the checks against faiss.

    from index_cases import CASES, build_case, reader_mismatches, assert_same_neighbours

Every case is a small index built with faiss (seeded data, faiss's own k-means) and written with
faiss.write_index; together they cover both list-size encodings ('full' when more than half the
lists hold vectors, 'sprs' otherwise), empty lists, lists shorter than k, a trained-but-empty
index, nprobe > 1 and > nlist, the inner-product metric, both direct-map kinds and IndexFlat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class IndexCase:
    name: str
    d: int
    kind: str  # ivf | flat
    nlist: int = 0
    n_train: int = 0
    n_add: int = 0
    add_from_clusters: int | None = None  # add only vectors of this many of the data's clusters
    nprobe: int = 1
    metric: str = "l2"
    direct_map: str = "none"  # none | array | hashtable
    encoding: str | None = None  # what the case must produce ('full' / 'sprs'), checked by the tests


CASES = [
    IndexCase("ivf1", 24, "ivf", nlist=1, n_train=200, n_add=60, encoding="full"),
    IndexCase("ivf19-rvc-like", 256, "ivf", nlist=19, n_train=757, n_add=757, encoding="full"),
    IndexCase("ivf16-full-with-empty", 32, "ivf", nlist=16, n_train=1600, n_add=300, add_from_clusters=12, encoding="full"),
    IndexCase("ivf64-sprs", 32, "ivf", nlist=64, n_train=4000, n_add=400, add_from_clusters=6, encoding="sprs"),
    IndexCase("ivf16-short-lists", 48, "ivf", nlist=16, n_train=1000, n_add=40, encoding="full"),
    IndexCase("ivf8-nprobe3", 40, "ivf", nlist=8, n_train=800, n_add=500, nprobe=3, encoding="full"),
    IndexCase("ivf8-nprobe-over-nlist", 40, "ivf", nlist=8, n_train=800, n_add=200, nprobe=20, encoding="full"),
    IndexCase("ivf12-ip", 32, "ivf", nlist=12, n_train=1200, n_add=600, metric="inner_product", nprobe=2, encoding="full"),
    IndexCase("ivf10-trained-empty", 64, "ivf", nlist=10, n_train=1000, n_add=0, encoding="sprs"),
    IndexCase("ivf8-direct-map-array", 16, "ivf", nlist=8, n_train=800, n_add=300, direct_map="array", encoding="full"),
    IndexCase("ivf8-direct-map-hashtable", 16, "ivf", nlist=8, n_train=800, n_add=300, direct_map="hashtable", encoding="full"),
    IndexCase("flat-l2", 64, "flat", n_add=300),
    IndexCase("flat-ip", 64, "flat", n_add=300, metric="inner_product"),
    IndexCase("flat-empty", 32, "flat", n_add=0),
]
BY_NAME = {c.name: c for c in CASES}


def clustered(n: int, d: int, clusters: int = 40, seed: int = 0, only: int | None = None) -> np.ndarray:
    """Gaussian clusters (spread 3, noise 1): neighbours are well defined, as in speech features."""
    centres = np.random.default_rng(1000 + d).standard_normal((clusters, d)).astype(np.float32) * 3  # same for every seed
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters if only is None else only, n)
    return (centres[labels] + rng.standard_normal((n, d)).astype(np.float32)).astype(np.float32)


def faiss_metric(name: str) -> int:
    return faiss.METRIC_L2 if name == "l2" else faiss.METRIC_INNER_PRODUCT


def build_case(case: IndexCase, folder: Path):
    """Build the case with faiss, write it with faiss.write_index; return (path, the faiss index)."""
    metric = faiss_metric(case.metric)
    if case.kind == "flat":
        index = faiss.IndexFlat(case.d, metric)
    else:
        index = faiss.index_factory(case.d, f"IVF{case.nlist},Flat", metric)
        index.train(clustered(case.n_train, case.d, seed=1))
        index.nprobe = case.nprobe
    if case.n_add:
        index.add(clustered(case.n_add, case.d, seed=2, only=case.add_from_clusters))
    if case.direct_map == "array":
        index.make_direct_map()
    elif case.direct_map == "hashtable":
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
    path = Path(folder) / f"{case.name}.index"
    faiss.write_index(index, str(path))
    return path, index


def faiss_lists(index) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each inverted list's (vectors, ids) as faiss holds them, in stored order."""
    ivf = faiss.extract_index_ivf(index)
    out = []
    for j in range(ivf.nlist):
        n = ivf.invlists.list_size(j)
        if n == 0:
            out.append((np.zeros((0, index.d), np.float32), np.zeros(0, np.int64)))
            continue
        codes = faiss.rev_swig_ptr(ivf.invlists.get_codes(j), n * ivf.code_size)
        ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(j), n)
        out.append((np.frombuffer(bytes(codes), np.float32).reshape(n, index.d).copy(), np.array(ids, np.int64)))
    return out


def reader_mismatches(centroids: np.ndarray, vectors: np.ndarray, list_offsets: np.ndarray, ids: np.ndarray, index) -> list[str]:
    """Everything in which a reader's arrays differ from faiss's own view of the same file
    (empty when they agree exactly): reconstruct_n, and for IVF every list's size, ids and
    vectors and the coarse centroids."""
    problems = []
    ntotal = index.ntotal
    if vectors.shape != (ntotal, index.d) or ids.shape != (ntotal,):
        return [f"shapes {vectors.shape}/{ids.shape}, faiss ({ntotal}, {index.d})"]
    by_id = np.full_like(vectors, np.nan)
    valid = (ids >= 0) & (ids < ntotal)
    by_id[ids[valid]] = vectors[valid]
    if ntotal and not np.array_equal(by_id, index.reconstruct_n(0, ntotal)):
        problems.append("vectors in id order differ from reconstruct_n(0, ntotal)")
    if isinstance(index, faiss.IndexFlat):
        return problems
    ivf = faiss.extract_index_ivf(index)
    if not np.array_equal(centroids, ivf.quantizer.reconstruct_n(0, ivf.nlist)):
        problems.append("centroids differ from the quantizer's")
    if list_offsets.shape != (ivf.nlist + 1,):
        return problems + [f"{list_offsets.shape[0] - 1} lists, faiss {ivf.nlist}"]
    for j, (list_vectors, list_ids) in enumerate(faiss_lists(index)):
        lo, hi = list_offsets[j], list_offsets[j + 1]
        if hi - lo != len(list_ids):
            problems.append(f"list {j}: {hi - lo} vectors, faiss {len(list_ids)}")
        elif not (np.array_equal(ids[lo:hi], list_ids) and np.array_equal(vectors[lo:hi], list_vectors)):
            problems.append(f"list {j}: ids or vectors differ")
    return problems


def exact_distances(queries: np.ndarray, vectors_by_id: np.ndarray, ids: np.ndarray, metric: str) -> np.ndarray:
    """float64 distance of each query to the vectors with the given ids (nan where id is -1)."""
    q = queries.astype(np.float64)[:, None, :]
    v = vectors_by_id.astype(np.float64)[np.maximum(ids, 0)]
    out = ((v - q) ** 2).sum(-1) if metric == "l2" else (v * q).sum(-1)
    return np.where(ids >= 0, out, np.nan)


def assert_same_neighbours(D, I, D_ref, I_ref, queries, vectors_by_id, metric, rtol=2e-6, what="search", max_tie_rows=0.01):
    """Our (D, I) equal faiss's (D_ref, I_ref): the same ids, distances within float32 rounding
    (`rtol` of the scale: |D| for L2, |q||v| for IP), missing results identical. Where an id
    differs, faiss's pick must be exactly as near as ours within that rounding (a near-tie
    that faiss's float32 arithmetic ordered the other way); such rows must stay rare."""
    assert D.dtype == np.float32 and I.dtype == np.int64 and D.shape == D_ref.shape == I.shape
    missing = I_ref < 0
    assert np.array_equal(I < 0, missing), f"{what}: missing results differ"
    assert np.array_equal(D[missing], D_ref[missing]), f"{what}: missing results carry other distances"
    qnorm = np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
    vmax = float(np.linalg.norm(vectors_by_id.astype(np.float64), axis=1).max()) if len(vectors_by_id) else 0.0
    scale = np.abs(D_ref.astype(np.float64)) if metric == "l2" else np.broadcast_to(qnorm * vmax, D_ref.shape)
    tol = rtol * scale + 1e-30
    present = ~missing
    gap = np.abs(D.astype(np.float64) - D_ref)[present]
    assert (gap <= tol[present]).all(), f"{what}: distances differ by up to {gap.max():.3g} (allowed {rtol:g} of scale)"
    differ = (I != I_ref) & present
    if differ.any():
        ours = exact_distances(queries, vectors_by_id, I, metric)
        theirs = exact_distances(queries, vectors_by_id, I_ref, metric)
        tie = np.abs(ours - theirs) <= 2 * tol
        assert tie[differ].all(), f"{what}: {int(differ.sum())} ids differ and are not near-ties (first row {int(np.argwhere(differ)[0][0])})"
        rows = int(differ.any(axis=1).sum())
        assert rows <= max(1, max_tie_rows * len(I)), f"{what}: near-ties reordered in {rows} of {len(I)} rows"


# --- the golden RVC index and pipeline run ----------------------------------------------------------

GOLDEN_INDEX = "pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index"
GOLDEN_REF = "pipeline/refs/tiny-a-webui-v1-40k-f0-tiny-index.npz"
# The golden blend is compared at the float32 floor: our distances differ from faiss's by a few
# ulp (exact float64 sums vs faiss's float32 SIMD sums), which moves the (1/D)^2 weights by about
# twice that; 1e-6 of the features' peak is ~8 ulp of it.
BLEND_RTOL = 1e-6


def golden_blend_error(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected| relative to the expected features' peak."""
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.fixture(scope="session")
def golden_converted(tmp_path_factory) -> str:
    """The golden index converted once per session (.safetensors); skips when the golden set is absent."""
    from golden import golden_path
    from rvc_convert.convert import convert_model

    source = golden_path(GOLDEN_INDEX)
    return str(convert_model(source, "ios", tmp_path_factory.mktemp("golden-index")).weights_path)
