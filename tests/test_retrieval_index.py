"""rvc_runtime.index searches a converted index as faiss searches the original, and blends as RVC does.

References: faiss itself on the files it wrote (random queries) and the golden RVC pipeline run
(upstream's own faiss search results and blend output for the golden voice's HuBERT features).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from golden import golden_path
from index_cases import GOLDEN_REF, golden_converted  # noqa: F401 (a fixture)
from index_cases import BLEND_RTOL, BY_NAME, CASES, assert_same_neighbours, build_case, clustered, faiss, golden_blend_error

from rvc_convert.convert import convert_model
from rvc_runtime.index import FLT_MAX, IndexFileError, RetrievalIndex, blend_neighbours



@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Every faiss-written case, converted (.safetensors; every third one as .npz) and loaded."""
    folder = tmp_path_factory.mktemp("converted")
    out = {}
    for i, case in enumerate(CASES):
        path, index = build_case(case, folder)
        result = convert_model(path, "mlx" if i % 3 == 2 else "ios", folder / "out")
        out[case.name] = (RetrievalIndex.from_file(result.weights_path), index)
    return out


def _queries(case, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (clustered(n, case.d, seed=seed) + 0.3 * rng.standard_normal((n, case.d))).astype(np.float32)


@pytest.mark.parametrize("k", [1, 8, 20])
@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_search_equals_faiss(name, k, converted):
    """Random queries (few, and 1500 = 30 s of frames, where faiss switches its coarse step to a
    float32 matrix product): faiss's ids, distances within float32 rounding, faiss's missing
    results (FLT_MAX or -FLT_MAX, -1) where the probed lists hold fewer than k vectors."""
    index, reference = converted[name]
    case = BY_NAME[name]
    by_id = reference.reconstruct_n(0, reference.ntotal) if reference.ntotal else np.zeros((0, case.d), np.float32)
    assert (index.dim, index.metric, index.ntotal) == (case.d, case.metric, reference.ntotal)
    for n in (7, 1500):
        q = _queries(case, n, seed=n + k)
        D, I = index.search(q, k=k)
        D_ref, I_ref = reference.search(q, k)
        assert_same_neighbours(D, I, D_ref, I_ref, q, by_id, case.metric, what=f"{name} n={n} k={k}")


@pytest.mark.parametrize("name", ["ivf19-rvc-like", "ivf64-sprs", "ivf12-ip", "flat-l2", "flat-empty", "ivf10-trained-empty"])
def test_brute_force_equals_faiss_flat(name, converted):
    """brute_force=True returns what faiss's IndexFlat over all vectors returns. faiss computes
    these distances as |q|^2+|v|^2-2q.v in float32, so they are compared at that rounding."""
    index, reference = converted[name]
    case = BY_NAME[name]
    by_id = reference.reconstruct_n(0, reference.ntotal) if reference.ntotal else np.zeros((0, case.d), np.float32)
    flat = faiss.IndexFlat(case.d, faiss.METRIC_L2 if case.metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    flat.add(by_id)
    q = _queries(case, 300, seed=3)
    D, I = index.search(q, k=8, brute_force=True)
    D_ref, I_ref = flat.search(q, 8)
    scale_rtol = 2e-6 * (1 + np.square(np.linalg.norm(by_id, axis=1)).max() / max(float(np.abs(D_ref[I_ref >= 0]).min(initial=1.0)), 1e-3)) if len(by_id) else 2e-6
    assert_same_neighbours(D, I, D_ref, I_ref, q, by_id, case.metric, rtol=scale_rtol, what=f"{name} brute force")


def test_stored_vectors_find_themselves_at_zero(converted):
    """A query equal to a stored vector finds it first at distance exactly 0 (as faiss's direct
    float32 sums do); faiss agrees."""
    index, reference = converted["ivf19-rvc-like"]
    rows = np.arange(0, index.ntotal, 37)
    q = reference.reconstruct_n(0, reference.ntotal)[rows]
    D, I = index.search(q, k=4)
    assert np.array_equal(I[:, 0], rows) and not D[:, 0].any()
    D_ref, I_ref = reference.search(q, 4)
    assert np.array_equal(I_ref[:, 0], rows) and not D_ref[:, 0].any()


def test_golden_search_equals_upstream(golden_converted):
    """The golden voice's HuBERT features (chunk0.hubert of upstream's pipeline run) searched in the
    converted golden index give upstream's faiss ids exactly and its distances within float32 rounding."""
    index = RetrievalIndex.from_file(golden_converted)
    ref = np.load(golden_path(GOLDEN_REF))
    feats = ref["chunk0.hubert"][0]
    D, I = index.search(feats, k=8)
    assert np.array_equal(I, ref["chunk0.index_I"])
    rel = np.abs(D / ref["chunk0.index_D"] - 1).max()
    print(f"golden search: ids equal; distances max relative difference {rel:.2e}")
    assert rel <= 2e-6


def test_golden_blend_equals_upstream(golden_converted):
    """index.blend(chunk0.hubert, 0.75) equals upstream's chunk0.feats_index at the float32 floor."""
    index = RetrievalIndex.from_file(golden_converted)
    ref = np.load(golden_path(GOLDEN_REF))
    feats, expected = ref["chunk0.hubert"][0], ref["chunk0.feats_index"][0]
    rate = json.loads(str(ref["meta"]))["parameters"]["index_rate"]
    got = index.blend(feats, rate)
    err = golden_blend_error(got, expected)
    print(f"golden blend (index_rate {rate}): max |diff| {np.abs(got - expected).max():.3g} = {err:.2e} of the features' peak")
    assert got.dtype == np.float32 and err <= BLEND_RTOL


def test_blend_formula_is_upstreams_bit_for_bit(golden_converted):
    """Fed upstream's own search results (D, I of the golden run), the blend arithmetic reproduces
    upstream's blended features bit for bit: same float32 operations in the same order."""
    path = golden_converted
    index = RetrievalIndex.from_file(path)
    ref = np.load(golden_path(GOLDEN_REF))
    row_of_id = np.argsort(index.ids)
    retrieved, found = blend_neighbours(ref["chunk0.index_D"], row_of_id[ref["chunk0.index_I"]], index.vectors)
    feats = ref["chunk0.hubert"][0]
    blended = np.float32(0.75) * retrieved + np.float32(0.25) * feats
    assert found.all() and np.array_equal(blended, ref["chunk0.feats_index"][0])


# --- where upstream produces NaN ---------------------------------------------------------------


def _upstream_weights(D: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = np.square(1 / D)
        return w / w.sum(axis=1, keepdims=True)


def test_exact_match_takes_all_the_weight(converted):
    """A frame equal to a stored vector (D = 0, upstream: 1/0 -> NaN for the whole chunk) blends to
    that vector; two stored duplicates at distance 0 share the weight equally."""
    index, reference = converted["ivf19-rvc-like"]
    stored = reference.reconstruct_n(0, reference.ntotal)
    q = stored[[5, 100, 640]]
    D, _ = index.search(q, 8)
    assert np.isnan(_upstream_weights(D)).any(axis=1).all()  # upstream: a NaN weight, so a NaN frame
    out = index.blend(q, 0.75)
    assert np.isfinite(out).all() and np.array_equal(out, np.float32(0.75) * q + np.float32(0.25) * q)
    vectors = np.stack([np.ones(4, np.float32), np.full(4, 3, np.float32), np.full(4, 9, np.float32)])
    retrieved, found = blend_neighbours(np.array([[0, 0, 5]], np.float32), np.array([[0, 1, 2]]), vectors)
    assert found.all() and np.array_equal(retrieved[0], np.full(4, 2, np.float32))


def test_overflowing_weights_use_their_limit():
    """Distances so small that (1/D)^2 overflows float32 (upstream: inf/inf = NaN) get the exact
    weights (D_min/D)^2 normalised: 1e-25 and 2e-25 weigh 4:1."""
    vectors = np.stack([np.zeros(3, np.float32), np.full(3, 5, np.float32), np.full(3, 100, np.float32)])
    D = np.array([[1e-25, 2e-25, 50.0]], np.float32)
    assert np.isnan(_upstream_weights(D)).any()
    retrieved, found = blend_neighbours(D, np.array([[0, 1, 2]]), vectors)
    assert found.all() and np.allclose(retrieved[0], 0.2 * 5, rtol=1e-6)


def test_empty_probed_list_keeps_the_frame(tmp_path):
    """A frame whose probed list is empty (upstream: all weights 0/0 -> NaN) keeps its features
    bit for bit; frames of the same call that find neighbours blend normally."""
    d = 16
    train = clustered(800, d, seed=1)
    index = faiss.index_factory(d, "IVF8,Flat")
    index.train(train)
    centroids = faiss.extract_index_ivf(index).quantizer.reconstruct_n(0, 8)
    _, assigned = faiss.extract_index_ivf(index).quantizer.search(train, 1)
    index.add(train[assigned[:, 0] != 3])  # list 3 stays empty
    path = tmp_path / "hole.index"
    faiss.write_index(index, str(path))
    runtime = RetrievalIndex.from_file(convert_model(path, "ios", tmp_path).weights_path)
    q = np.stack([centroids[3], train[assigned[:, 0] == 0][0] + 0.01]).astype(np.float32)
    D, I = runtime.search(q, 8)
    assert (I[0] == -1).all() and (D[0] == FLT_MAX).all()
    assert np.isnan(_upstream_weights(D)[0]).all()
    out = runtime.blend(q, 0.75)
    assert np.array_equal(out[0], q[0])
    assert not np.array_equal(out[1], q[1]) and np.isfinite(out).all()


def test_lists_shorter_than_k_weigh_only_real_neighbours(converted):
    """Missing results (FLT_MAX, -1) get weight exactly 0, as in upstream (1/FLT_MAX squared
    underflows to 0): the blend equals a blend over the real neighbours alone."""
    index, reference = converted["ivf16-short-lists"]
    q = _queries(BY_NAME["ivf16-short-lists"], 200, seed=9)
    D, I = index.search(q, 8)
    partial = (I == -1).any(axis=1) & (I >= 0).any(axis=1)
    assert partial.sum() >= 20
    by_id = reference.reconstruct_n(0, reference.ntotal)
    out = index.blend(q, 1.0)
    for row in np.flatnonzero(partial)[:20]:
        real = I[row] >= 0
        w = np.square(1 / D[row, real].astype(np.float64))
        expected = (w[:, None] * by_id[I[row, real]]).sum(0) / w.sum()
        assert np.allclose(out[row], expected, rtol=1e-5, atol=1e-5)


def test_blend_rate_edges_and_metric(converted):
    """index_rate 0 returns the features unchanged (upstream skips the index); 1 returns the
    retrieved mix alone; outside [0, 1] is refused; an inner-product index refuses to blend."""
    index, _ = converted["ivf19-rvc-like"]
    q = _queries(BY_NAME["ivf19-rvc-like"], 10, seed=4)
    assert np.array_equal(index.blend(q, 0.0), q)
    D, I = index.search(q, 8)
    retrieved, _ = blend_neighbours(D, np.argsort(index.ids)[I], index.vectors)
    assert np.array_equal(index.blend(q, 1.0), retrieved)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="index_rate"):
            index.blend(q, bad)
    ip_index, _ = converted["ivf12-ip"]
    with pytest.raises(ValueError, match="squared L2"):
        ip_index.blend(_queries(BY_NAME["ivf12-ip"], 3, seed=1), 0.5)


def test_trained_but_empty_index_finds_nothing(converted):
    """ntotal = 0: every result missing, every frame keeps its features."""
    index, _ = converted["ivf10-trained-empty"]
    q = _queries(BY_NAME["ivf10-trained-empty"], 5, seed=2)
    D, I = index.search(q, 8)
    assert (I == -1).all() and (D == FLT_MAX).all()
    assert np.array_equal(index.blend(q, 0.75), q)


def test_queries_are_checked(converted):
    """Wrong width, non-float and non-finite queries are refused with a clear ValueError."""
    index, _ = converted["ivf19-rvc-like"]
    with pytest.raises(ValueError, match=r"\[n, 256\]"):
        index.search(np.zeros((3, 255), np.float32))
    with pytest.raises(ValueError, match="floating point"):
        index.search(np.zeros((3, 256), np.int32))
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((3, 256), np.nan, np.float32))
    with pytest.raises(ValueError, match="positive integer"):
        index.search(np.zeros((3, 256), np.float32), k=0)


# --- strict loading -------------------------------------------------------------------------------


def _rewrite(path, tmp_path, change_arrays=None, change_meta=None, suffix=".safetensors"):
    """A copy of a converted index with arrays / metadata changed, written with safetensors / numpy."""
    from safetensors.numpy import save_file

    index = RetrievalIndex.from_file(path)
    arrays = {"centroids": np.array(index.centroids), "vectors": np.array(index.vectors), "list_offsets": np.array(index.list_offsets), "ids": np.array(index.ids)}
    meta = dict(index.metadata)
    if change_arrays:
        change_arrays(arrays)
    if change_meta:
        change_meta(meta)
    out = tmp_path / f"changed{suffix}"
    if suffix == ".safetensors":
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(out), metadata=meta)
    else:
        import zipfile

        np.savez(out, **arrays)
        with zipfile.ZipFile(out, "a") as archive:
            archive.comment = json.dumps(meta).encode()
    return out


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


def _vectors_nan(arrays):
    arrays["vectors"][3, 2] = np.nan


@pytest.mark.parametrize(
    "arrays, meta, message",
    [
        (lambda a: a.pop("ids"), None, "exactly"),
        (_set("extra", np.zeros(3, np.float32)), None, "exactly"),
        (lambda a: a.__setitem__("vectors", a["vectors"].astype(np.float64)), None, "float32 or float16"),
        (lambda a: a.__setitem__("ids", a["ids"].astype(np.int32)), None, "int64|I32"),
        (lambda a: a.__setitem__("list_offsets", a["list_offsets"][::-1].copy()), None, "rise from 0"),
        (lambda a: a["ids"].__setitem__(0, a["ids"][1]), None, "repeat"),
        (lambda a: a["ids"].__setitem__(0, 10**6), None, "must lie in"),
        (lambda a: a.__setitem__("centroids", a["centroids"][:5].copy()), None, "metadata says"),
        (_vectors_nan, None, "NaN"),
        (None, _set("family", "synthesizer"), "not a retrieval index"),
        (None, _set("index_format", "9"), "layout revision"),
        (None, _set("metric", "cosine"), "metric"),
        (None, _set("d", "128"), "metadata says"),
        (None, lambda m: m.pop("nprobe"), "lacks an integer"),
    ],
)
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_load_is_strict(arrays, meta, message, suffix, tmp_path, golden_converted):
    """A converted file with a missing / extra / mistyped / inconsistent array or metadata entry
    is refused with a one-line IndexFileError naming the problem."""
    changed = _rewrite(golden_converted, tmp_path, arrays, meta, suffix)
    with pytest.raises(IndexFileError, match=message) as info:
        RetrievalIndex.from_file(changed)
    assert "\n" not in str(info.value)


def test_load_refuses_broken_containers(tmp_path, golden_converted):
    """Truncated / garbage containers and other suffixes end in IndexFileError, not a crash."""
    data = open(golden_converted, "rb").read()
    for name, blob in (("cut.safetensors", data[:5000]), ("short.safetensors", data[:6]), ("junk.npz", b"PK\x03\x04junk"), ("x.index", data)):
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(IndexFileError):
            RetrievalIndex.from_file(tmp_path / name)


def test_runtime_does_not_import_rvc_convert(golden_converted):
    """rvc_runtime.index stands alone: importing and using it loads no rvc_convert module."""
    code = (
        "import sys, numpy as np\n"
        "from rvc_runtime.index import RetrievalIndex\n"
        f"index = RetrievalIndex.from_file({golden_converted!r})\n"
        "index.blend(np.zeros((2, index.dim), np.float32), 0.5)\n"
        "print(sorted(m for m in sys.modules if m.startswith('rvc_convert')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
