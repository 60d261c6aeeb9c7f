"""Regression B19 (an earlier iOS converter's index reader and blend): the checks catch it.

That converter read each inverted list's ids before its vectors (faiss writes vectors first, so
every vector came out shifted), weighted neighbours by 1/(|v|^2 - 2 q.v) instead of upstream's
(1/D)^2 and searched all vectors by brute force instead of the probed list. Each mutation is
rebuilt here and fed to the very checks the parity tests use; each must fail them, while the
project's reader, search and blend pass the same checks.
"""

from __future__ import annotations

import numpy as np

from golden import golden_path
from index_cases import BLEND_RTOL, GOLDEN_INDEX, GOLDEN_REF, faiss, golden_blend_error, golden_converted, reader_mismatches  # noqa: F401

from rvc_convert.families.retrieval.faiss_format import read_faiss_index, read_index_layout
from rvc_runtime.index import RetrievalIndex, blend_neighbours


def _ids_first_reader(path):
    """B19's list order: size ids (int64) then size vectors, from where faiss put the vectors."""
    layout = read_index_layout(path)
    data = path.read_bytes()
    d = layout.d
    vectors = np.zeros((layout.ntotal, d), np.float32)
    ids = np.zeros(layout.ntotal, np.int64)
    offsets = layout.list_offsets
    for j in np.flatnonzero(layout.list_sizes):
        lo, hi, at = int(offsets[j]), int(offsets[j + 1]), int(layout.list_starts[j])
        n = hi - lo
        ids[lo:hi] = np.frombuffer(data, "<i8", n, at)
        vectors[lo:hi] = np.frombuffer(data, "<f4", n * d, at + 8 * n).reshape(n, d)
    return vectors, ids, offsets


def test_ids_before_vectors_fails_the_reader_check():
    """On the golden RVC index, a reader with B19's order disagrees with faiss (the parity check
    reports it); the project's reader agrees exactly."""
    path = golden_path(GOLDEN_INDEX)
    reference = faiss.read_index(str(path))
    ours = read_faiss_index(path)
    assert reader_mismatches(ours.centroids, ours.vectors, ours.list_offsets, ours.ids, reference) == []
    vectors, ids, offsets = _ids_first_reader(path)
    problems = reader_mismatches(ours.centroids, vectors, offsets, ids, reference)
    assert any("reconstruct_n" in p for p in problems) and any("ids or vectors differ" in p for p in problems)


def _search_and_mix(index, feats, weights_for):
    D, I = index.search(feats, k=8)
    rows = np.argsort(index.ids)[I]
    vectors = np.asarray(index.vectors, np.float32)
    w = weights_for(D, feats, vectors[rows])
    w = w / w.sum(axis=1, keepdims=True)
    retrieved = np.sum(vectors[rows] * w[:, :, None], axis=1)
    return np.float32(0.75) * retrieved + np.float32(0.25) * feats


def test_wrong_blend_weights_fail_the_golden_blend_check(golden_converted):
    """Weights 1/D, and B19's 1/(|v|^2 - 2 q.v), miss upstream's blended features by far more than
    the golden tolerance; upstream's (1/D)^2 through the same code lands within it."""
    index = RetrievalIndex.from_file(golden_converted)
    ref = np.load(golden_path(GOLDEN_REF))
    feats, expected = ref["chunk0.hubert"][0], ref["chunk0.feats_index"][0]
    upstream = _search_and_mix(index, feats, lambda D, q, v: np.square(1 / D))
    assert golden_blend_error(upstream, expected) <= BLEND_RTOL
    assert golden_blend_error(index.blend(feats, 0.75), expected) <= BLEND_RTOL
    inverse = _search_and_mix(index, feats, lambda D, q, v: 1 / D)
    b19 = _search_and_mix(index, feats, lambda D, q, v: 1 / ((v.astype(np.float64) ** 2).sum(-1) - 2 * np.einsum("nkd,nd->nk", v, q)))
    for wrong in (inverse, b19):
        err = golden_blend_error(wrong, expected)
        assert err > 100 * BLEND_RTOL, err


def test_brute_force_fails_the_golden_search_check(golden_converted):
    """Searching every vector (what the earlier converter shipped) does not reproduce upstream's
    nprobe=1 results on the golden features; the IVF search does, id for id."""
    index = RetrievalIndex.from_file(golden_converted)
    ref = np.load(golden_path(GOLDEN_REF))
    feats = ref["chunk0.hubert"][0]
    assert np.array_equal(index.search(feats, 8)[1], ref["chunk0.index_I"])
    _, brute = index.search(feats, 8, brute_force=True)
    assert not np.array_equal(brute, ref["chunk0.index_I"])
    blended_brute = _search_brute_blend(index, feats)
    assert golden_blend_error(blended_brute, ref["chunk0.feats_index"][0]) > 100 * BLEND_RTOL


def _search_brute_blend(index, feats):
    D, I = index.search(feats, 8, brute_force=True)
    retrieved, _ = blend_neighbours(D, np.argsort(index.ids)[I], index.vectors)
    return np.float32(0.75) * retrieved + np.float32(0.25) * feats
