"""RVC's retrieval index at run time: load a converted index, search it as faiss does, blend.

    from rvc_runtime.index import RetrievalIndex
    index = RetrievalIndex.from_file("voice.safetensors")        # or .npz
    D, I = index.search(queries, k=8)                            # faiss IndexIVFFlat semantics
    feats = index.blend(features, index_rate=0.75)               # RVC's index blend

The converted file (written by `rvc-convert`; layout and maths in docs/retrieval_index.md) holds
`centroids` [nlist, d], `vectors` [ntotal, d] grouped by inverted list, `list_offsets` [nlist+1]
and `ids` [ntotal] (the original faiss id of each row).

Search is exact where faiss rounds. The coarse step (and brute force) ranks rows by float32
matrix products and keeps that ranking only where the float32 error bound proves it; otherwise
it re-ranks a short list by exact float64 distances. Distances to the vectors of the probed lists
come from one float64 product per list (|q|^2 + |v|^2 - 2 q.v, recomputed from the differences
where cancellation could reach float32 precision) and are rounded once to float32. A query equal
to a stored vector therefore finds it at distance exactly 0, as faiss does.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
import zipfile
from pathlib import Path

import mlx.core as mx
import numpy as np

FAMILY = "retrieval"  # metadata "family" of a converted index
INDEX_FORMAT = "1"  # the converted layout revision this runtime reads (metadata "index_format")
ARRAY_NAMES = ("centroids", "ids", "list_offsets", "vectors")
METRICS = ("l2", "inner_product")
FLT_MAX = float(np.finfo(np.float32).max)
SAFETENSORS_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I64": np.dtype("<i8")}
MAX_HEADER_BYTES = 100 << 20
SHORTLIST_EXTRA = 16  # rows kept beyond the ones asked for when the float32 ranking is re-checked
CHUNK_ELEMENTS = 1 << 22  # bounds every temporary of the search (float64: 32 MiB)
QUERY_BLOCK = 1024  # queries per float32 product
TABLE_BLOCK = 8192  # table rows per float32 product (brute force)
# Below this fraction of |q|^2 + |v|^2 the float64 expansion may lose float32 precision: such
# distances (near-duplicates, exact matches) are recomputed from the differences.
CANCELLATION_GUARD = 1e-4


class IndexFileError(ValueError):
    """A converted index file that is missing, malformed or inconsistent (one-line message)."""


class _Table:
    """Rows to rank (the centroids, or all vectors for brute force) and what ranking them needs.

    Rows are ranked by their float32 "goodness" g = q.t - |t|^2/2 for L2 (larger is nearer:
    |q - t|^2 = |q|^2 - 2g) or g = q.t for inner product, one matrix product per block of rows:
    [q, 1] . [t, -|t|^2/2]."""

    def __init__(self, rows: np.ndarray, metric: str, cache: bool):
        self.rows, self.metric = rows, metric
        sq = np.empty(rows.shape[0], np.float64)
        for start in range(0, rows.shape[0], TABLE_BLOCK):
            sq[start : start + TABLE_BLOCK] = _sqnorms(rows[start : start + TABLE_BLOCK])
        self.sqnorms = sq
        self.max_norm = math.sqrt(float(sq.max())) if sq.size else 0.0
        self._cached = self._augmented(0, rows.shape[0]) if cache else None

    def _augmented(self, start: int, stop: int) -> mx.array:
        last = -0.5 * self.sqnorms[start:stop] if self.metric == "l2" else np.zeros(stop - start)
        return mx.array(np.concatenate([self.rows[start:stop].astype(np.float32), last[:, None].astype(np.float32)], axis=1))

    def blocks(self):
        """(first row, augmented block) pairs covering the table."""
        if self._cached is not None:
            yield 0, self._cached
            return
        for start in range(0, self.rows.shape[0], TABLE_BLOCK):
            yield start, self._augmented(start, min(start + TABLE_BLOCK, self.rows.shape[0]))

    def bound(self, q: np.ndarray) -> np.ndarray:
        """Per query, b >= |float32 g - exact g| for every row: gamma (|q||t| + |t|^2/2) for L2,
        gamma |q||t| for inner product, gamma = (d + 4) 2^-23 (twice the textbook bound of a
        length-(d+1) dot product in float32, which also covers the rounding of |t|^2/2)."""
        gamma = (q.shape[1] + 4) * 2.0**-23
        t = self.max_norm
        qt = np.sqrt(_sqnorms(q)) * t
        return gamma * (qt + t * t / 2) if self.metric == "l2" else gamma * qt


def _sqnorms(rows: np.ndarray) -> np.ndarray:
    """float64 |row|^2 (squares of float32 values are exact in float64)."""
    wide = rows.astype(np.float64)
    return np.einsum("nd,nd->n", wide, wide)


def _goodness(q_aug: mx.array, block: mx.array) -> np.ndarray:
    """float32 [queries, rows] goodness through MLX (faster than numpy's BLAS on these shapes:
    benchmarks/bench_index.py measures both). Any summation order meets `_Table.bound`."""
    return np.array(mx.matmul(q_aug, block.T), dtype=np.float32, copy=True)


class RetrievalIndex:
    """A converted RVC retrieval index, searched like faiss's IndexIVFFlat with the file's nprobe."""

    def __init__(self, centroids: np.ndarray, vectors: np.ndarray, list_offsets: np.ndarray, ids: np.ndarray, metric: str, nprobe: int, metadata: dict[str, str] | None = None, source: str = "<arrays>"):
        _check_arrays(centroids, vectors, list_offsets, ids, metric, nprobe, source)
        self.centroids, self.vectors, self.list_offsets, self.ids = centroids, vectors, list_offsets, ids
        self.metric, self.nprobe_file = metric, int(nprobe)
        self.metadata = dict(metadata or {})
        self.source = source
        self._list_sizes = np.diff(list_offsets)
        self._centroid_table = _Table(centroids, metric, cache=True)
        self._vector_table: _Table | None = None  # built on the first brute-force search

    # --- what the pipeline reads -----------------------------------------------------------------

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def ntotal(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def nlist(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def nprobe(self) -> int:
        """Lists searched per query: the file's nprobe, at most nlist (as faiss clamps it)."""
        return min(self.nprobe_file, self.nlist)

    @classmethod
    def from_file(cls, path: str | Path) -> "RetrievalIndex":
        """Load a converted index (.safetensors or .npz) strictly: exactly the four arrays, the
        shapes and dtypes the metadata promises, offsets that tile the vectors, ids 0..ntotal-1."""
        path = Path(path)
        if not path.is_file():
            raise IndexFileError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix == ".safetensors":
            arrays, metadata = _read_safetensors(path)
        elif suffix == ".npz":
            arrays, metadata = _read_npz(path)
        else:
            raise IndexFileError(f"{path}: unsupported file type '{suffix}'; expected a converted index (.safetensors or .npz)")
        family = metadata.get("family")
        if family != FAMILY:
            raise IndexFileError(f"{path}: holds family '{family}', not a retrieval index; convert the voice's .index file with rvc-convert")
        if metadata.get("index_format") != INDEX_FORMAT:
            raise IndexFileError(f"{path}: converted index layout revision {metadata.get('index_format')!r}; this runtime reads revision {INDEX_FORMAT}")
        names = sorted(arrays)
        if names != sorted(ARRAY_NAMES):
            raise IndexFileError(f"{path}: holds arrays {names}; a converted index holds exactly {list(ARRAY_NAMES)}")
        try:
            promised = {key: int(metadata[key]) for key in ("d", "ntotal", "nlist", "nprobe")}
        except (KeyError, ValueError) as error:
            raise IndexFileError(f"{path}: metadata lacks an integer {error}; re-convert the index") from None
        metric = metadata.get("metric", "")
        vectors = arrays["vectors"]
        actual = {"d": vectors.shape[1] if vectors.ndim == 2 else -1, "ntotal": vectors.shape[0], "nlist": arrays["centroids"].shape[0], "nprobe": promised["nprobe"]}
        if promised != actual:
            raise IndexFileError(f"{path}: metadata says {promised} but the arrays hold {actual}")
        index = cls(arrays["centroids"], vectors, arrays["list_offsets"], arrays["ids"], metric, promised["nprobe"], metadata, str(path))
        _check_finite(index.vectors, f"{path}: vectors")
        return index

    # --- search ----------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int = 8, brute_force: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """faiss's search: D float32 [n, k] (squared L2 ascending, or inner product descending)
        and I int64 [n, k] (original ids); missing results are (FLT_MAX or -FLT_MAX, -1).
        `brute_force=True` searches every vector instead of the nprobe nearest lists."""
        q = self._queries(queries)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        D, rows = self._search_rows(q, int(k), brute_force)
        ids = np.full(rows.shape, -1, np.int64)
        found = rows >= 0
        ids[found] = self.ids[rows[found]]
        return D, ids

    def blend(self, features: np.ndarray, index_rate: float, k: int = 8) -> np.ndarray:
        """RVC's index blend: feats = rate * sum_k w_k v_k + (1 - rate) * feats, with
        w_k = (1/D_k)^2 normalised over the k neighbours (D = squared L2 distance).

        Where upstream would produce NaN, this does not (docs/retrieval_index.md):
        * a neighbour at distance exactly 0 (or so close that (1/D)^2 overflows float32): the
          weights are computed as (D_min/D_k)^2, their exact limit, so exact matches share all
          the weight;
        * no neighbour at all (the probed lists are empty): the frame keeps its own features.
        """
        if self.metric != "l2":
            raise ValueError(f"{self.source}: RVC's blend weights squared L2 distances; this index uses {self.metric}")
        feats = self._queries(features)
        rate = float(index_rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"index_rate must be within [0, 1], got {index_rate!r}")
        if rate == 0.0:  # upstream skips the index entirely
            return feats.copy()
        D, rows = self._search_rows(feats, int(k), brute_force=False)
        retrieved, found = blend_neighbours(D, rows, self.vectors)
        out = np.float32(rate) * retrieved + np.float32(1.0 - rate) * feats
        out[~found] = feats[~found]
        return out

    def probed_lists(self, queries: np.ndarray) -> np.ndarray:
        """int64 [n, nprobe]: the lists the search probes for each query, nearest first."""
        q = self._queries(queries)
        return _nearest(q, self._centroid_table, self.nprobe) if q.shape[0] else np.zeros((0, self.nprobe), np.int64)

    # --- internals -------------------------------------------------------------------------------

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        q = np.asarray(queries)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries must be [n, {self.dim}], got shape {list(q.shape)}")
        if not np.issubdtype(q.dtype, np.floating):
            raise ValueError(f"queries must be floating point, got {q.dtype}")
        q = np.ascontiguousarray(q, dtype=np.float32)
        if not np.isfinite(q).all():
            raise ValueError("queries contain NaN or infinity")
        return q

    def _missing(self) -> float:
        return FLT_MAX if self.metric == "l2" else -FLT_MAX

    def _search_rows(self, q: np.ndarray, k: int, brute_force: bool) -> tuple[np.ndarray, np.ndarray]:
        """(D, row positions in the grouped vector table, -1 where missing)."""
        n = q.shape[0]
        D = np.full((n, k), self._missing(), np.float32)
        rows = np.full((n, k), -1, np.int64)
        if self.ntotal == 0 or n == 0:  # a trained-but-empty index finds nothing
            return D, rows
        if brute_force:
            if self._vector_table is None:
                self._vector_table = _Table(self.vectors, self.metric, cache=False)
            found = _nearest(q, self._vector_table, min(k, self.ntotal))
            take = found.shape[1]
            D[:, :take], rows[:, :take] = _exact(q, self.vectors, found, self.metric), found
            return D, rows
        lists = _nearest(q, self._centroid_table, self.nprobe)
        self._scan_lists(q, lists, D, rows)
        return D, rows

    def _scan_lists(self, q: np.ndarray, lists: np.ndarray, out_D: np.ndarray, out_rows: np.ndarray) -> None:
        """Distances to every vector of each query's probed lists; keep the k best, ranked as faiss
        ranks them (by float32 distance; ties in scan order: nearest list first, stored order)."""
        n, k = out_D.shape
        sizes = self._list_sizes[lists]  # [n, nprobe]
        segment = np.cumsum(sizes, axis=1) - sizes  # where each probed list starts in a query's candidate row
        totals = sizes.sum(axis=1)
        qsq = _sqnorms(q)
        for chunk in _chunks_by_width(totals, CHUNK_ELEMENTS // 2):
            width = int(totals[chunk].max())
            if width == 0:
                continue
            dist = np.full((chunk.size, width), np.inf)
            rows = np.full((chunk.size, width), -1, np.int64)
            local, probe = np.nonzero(sizes[chunk])
            list_no = lists[chunk][local, probe]
            order = np.argsort(list_no, kind="stable")
            local, probe, list_no = local[order], probe[order], list_no[order]
            bounds = np.flatnonzero(np.diff(list_no)) + 1
            for part in np.split(np.arange(list_no.size), bounds):
                j = int(list_no[part[0]])
                lo, hi = int(self.list_offsets[j]), int(self.list_offsets[j + 1])
                who = chunk[local[part]]
                block = _list_distances(q[who], qsq[who], self.vectors[lo:hi], self.metric)
                columns = segment[who, probe[part]][:, None] + np.arange(hi - lo)
                dist[local[part, None], columns] = block
                rows[local[part, None], columns] = np.arange(lo, hi)
            rounded = dist.astype(np.float32)
            key = rounded if self.metric == "l2" else np.where(rows >= 0, -rounded, np.inf)
            take = min(k, width)
            best = np.argsort(key, axis=1, kind="stable")[:, :take]
            picked = np.take_along_axis(rows, best, axis=1)
            out_rows[chunk, :take] = picked
            out_D[chunk, :take] = np.where(picked >= 0, np.take_along_axis(rounded, best, axis=1), self._missing())


def _chunks_by_width(widths: np.ndarray, budget: int):
    """Consecutive groups of query indices whose padded candidate rows fit in `budget` entries."""
    order = np.argsort(widths, kind="stable")  # similar widths share a chunk: little padding
    start = 0
    while start < order.size:
        stop = start + 1
        while stop < order.size and (stop + 1 - start) * max(int(widths[order[stop]]), 1) <= budget:
            stop += 1
        yield np.sort(order[start:stop])
        start = stop


def _list_distances(q: np.ndarray, qsq: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """float64 [m, s]: squared L2 (|q|^2 + |v|^2 - 2 q.v, exact products and float64 sums) or inner
    product of each query with each vector of one list."""
    wide = vectors.astype(np.float64)
    dots = q.astype(np.float64) @ wide.T
    if metric != "l2":
        return dots
    vsq = np.einsum("sd,sd->s", wide, wide)
    dist = qsq[:, None] + vsq[None, :] - 2 * dots
    close = dist < CANCELLATION_GUARD * (qsq[:, None] + vsq[None, :])
    if close.any():  # near-duplicates: the differences give the distance without cancellation
        qi, vi = np.nonzero(close)
        diff = wide[vi] - q[qi].astype(np.float64)
        dist[qi, vi] = np.einsum("nd,nd->n", diff, diff)
    return dist


def blend_neighbours(D: np.ndarray, rows: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean of each query's neighbours, and whether it had any.

    Regular frames use upstream's float32 arithmetic exactly: w = square(1 / D), w /= w.sum(),
    sum(vectors[rows] * w). Frames where that would be NaN (a distance of 0, or (1/D)^2
    overflowing) use w = (D_min / D)^2, the same weights without the overflow; frames with no
    neighbour (rows all -1) get zeros and found=False."""
    present = (rows >= 0) & np.isfinite(D) & (D < FLT_MAX)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        weight = np.square(np.float32(1.0) / D)
        weight = np.where(present, weight, np.float32(0.0)).astype(np.float32)
        total = weight.sum(axis=1, keepdims=True)
        weight = weight / total
    found = present.any(axis=1)
    irregular = found & ~np.isfinite(weight).all(axis=1)
    if irregular.any():
        d = np.where(present[irregular], D[irregular].astype(np.float64), np.inf)
        nearest = d.min(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            limit = np.where(nearest == 0, (d == 0).astype(np.float64), np.square(nearest / d))
        weight[irregular] = (limit / limit.sum(axis=1, keepdims=True)).astype(np.float32)
    weight[~found] = 0
    if vectors.shape[0] == 0:  # nothing to retrieve: every frame keeps its features
        return np.zeros((rows.shape[0], vectors.shape[1]), np.float32), found
    gathered = vectors[np.maximum(rows, 0)].astype(np.float32, copy=False)
    retrieved = np.sum(gathered * np.expand_dims(weight, axis=2), axis=1)
    return retrieved.astype(np.float32, copy=False), found


# --- nearest rows of a table: float32 products, proven or re-ranked exactly ----------------------


def _nearest(q: np.ndarray, table: _Table, keep: int) -> np.ndarray:
    """Row numbers [n, keep] of the `keep` best rows of `table` per query, best first, by exact
    distance (ties: the lower row first).

    Each float32 goodness is within b of its exact value (`_Table.bound`). Where the best keep + 1
    of a query are more than 2b apart from each other, their float32 order is the exact order and
    is used as is (one matrix product and a few argmax passes). Other queries re-rank a short
    list of keep + SHORTLIST_EXTRA rows exactly, or the whole table when even that short list is
    not provably enough."""
    total = table.rows.shape[0]
    keep = min(keep, total)
    good, rows = _top(q, table, min(keep + 1, total))
    bound = 2 * table.bound(q)
    decided = (-np.diff(good.astype(np.float64), axis=1) > bound[:, None]).all(axis=1)
    redo = np.flatnonzero(~decided)
    if redo.size:
        width = min(total, keep + SHORTLIST_EXTRA)
        good_r, rows_r = _top(q[redo], table, width)
        enough = np.full(redo.size, width == total) | (good_r[:, keep - 1].astype(np.float64) - good_r[:, -1] > bound[redo])
        exact = _exact(q[redo], table.rows, rows_r, table.metric).astype(np.float64)
        key = exact if table.metric == "l2" else -exact
        rows_r = np.take_along_axis(rows_r, np.lexsort((rows_r, key), axis=1), axis=1)
        for i in np.flatnonzero(~enough):  # rare: too many rows within rounding of the keep-th
            rows_r[i] = _exact_best(q[redo[i]], table.rows, width, table.metric)
        rows[redo, :keep] = rows_r[:, :keep]
    return rows[:, :keep]


def _top(q: np.ndarray, table: _Table, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The m rows of largest float32 goodness per query, sorted by (goodness desc, row)."""
    n = q.shape[0]
    out_good = np.empty((n, m), np.float32)
    out_rows = np.empty((n, m), np.int64)
    for qs in range(0, n, QUERY_BLOCK):
        block_q = q[qs : qs + QUERY_BLOCK]
        q_aug = mx.array(np.concatenate([block_q, np.ones((block_q.shape[0], 1), np.float32)], axis=1))
        good = np.empty((block_q.shape[0], 0), np.float32)
        rows = np.empty((block_q.shape[0], 0), np.int64)
        for start, block in table.blocks():
            g = _goodness(q_aug, block)
            pick = _largest(g, m)
            good = np.concatenate([good, np.take_along_axis(g, pick, axis=1)], axis=1)
            rows = np.concatenate([rows, pick + start], axis=1)
            if good.shape[1] > m:
                pick = _largest(good, m)
                good, rows = np.take_along_axis(good, pick, axis=1), np.take_along_axis(rows, pick, axis=1)
        order = np.lexsort((rows, -good), axis=1)
        out_good[qs : qs + QUERY_BLOCK] = np.take_along_axis(good, order, axis=1)
        out_rows[qs : qs + QUERY_BLOCK] = np.take_along_axis(rows, order, axis=1)
    return out_good, out_rows


def _largest(values: np.ndarray, m: int) -> np.ndarray:
    """Column indices of the m largest entries per row (unordered)."""
    m = min(m, values.shape[1])
    if m > 4:
        return np.argpartition(values, values.shape[1] - m, axis=1)[:, -m:]
    picks = np.empty((values.shape[0], m), np.int64)
    kept = np.empty((values.shape[0], m), values.dtype)
    rows = np.arange(values.shape[0])
    for i in range(m):  # a few argmax passes beat partitioning every row
        picks[:, i] = np.argmax(values, axis=1)
        kept[:, i] = values[rows, picks[:, i]]
        values[rows, picks[:, i]] = -np.inf
    for i in range(m):
        values[rows, picks[:, i]] = kept[:, i]
    return picks


def _exact(q: np.ndarray, table: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    """float32 [n, m]: squared L2 (or inner product) of q[i] and table[rows[i, j]], computed in
    float64 from the differences and rounded once."""
    n, m = rows.shape
    out = np.empty((n, m), np.float32)
    step = max(1, CHUNK_ELEMENTS // max(m * q.shape[1], 1))
    for start in range(0, n, step):
        block = table[rows[start : start + step]].astype(np.float64)
        query = q[start : start + step, None, :].astype(np.float64)
        if metric == "l2":
            block -= query
            out[start : start + step] = np.einsum("nmd,nmd->nm", block, block)
        else:
            out[start : start + step] = np.einsum("nmd,nmd->nm", block, np.broadcast_to(query, block.shape))
    return out


def _exact_best(query: np.ndarray, table: np.ndarray, width: int, metric: str) -> np.ndarray:
    """The `width` best rows of the whole table for one query, by exact distance (bounded memory)."""
    step = max(1, CHUNK_ELEMENTS // table.shape[1])
    best_dist, best_rows = np.empty(0, np.float64), np.empty(0, np.int64)
    for start in range(0, table.shape[0], step):
        rows = np.arange(start, min(start + step, table.shape[0]))
        dist = _exact(query[None, :], table, rows[None, :], metric)[0].astype(np.float64)
        dist = np.concatenate([best_dist, dist if metric == "l2" else -dist])
        rows = np.concatenate([best_rows, rows])
        pick = np.lexsort((rows, dist))[:width]
        best_dist, best_rows = dist[pick], rows[pick]
    return best_rows


# --- strict loading --------------------------------------------------------------------------------


def _check_arrays(centroids, vectors, list_offsets, ids, metric, nprobe, source: str) -> None:
    def fail(message: str) -> IndexFileError:
        return IndexFileError(f"{source}: {message}")

    if metric not in METRICS:
        raise fail(f"metric {metric!r} is not one of {list(METRICS)}")
    if centroids.dtype != np.float32 or centroids.ndim != 2 or centroids.shape[0] < 1:
        raise fail(f"centroids must be float32 [nlist >= 1, d], got {centroids.dtype}{list(centroids.shape)}")
    if vectors.dtype not in (np.float32, np.float16) or vectors.ndim != 2 or vectors.shape[1] != centroids.shape[1]:
        raise fail(f"vectors must be float32 or float16 [ntotal, {centroids.shape[1]}], got {vectors.dtype}{list(vectors.shape)}")
    nlist, ntotal = centroids.shape[0], vectors.shape[0]
    if list_offsets.dtype != np.int64 or list_offsets.shape != (nlist + 1,):
        raise fail(f"list_offsets must be int64 [{nlist + 1}], got {list_offsets.dtype}{list(list_offsets.shape)}")
    if list_offsets[0] != 0 or list_offsets[-1] != ntotal or np.any(np.diff(list_offsets) < 0):
        raise fail(f"list_offsets must rise from 0 to ntotal={ntotal}")
    if ids.dtype != np.int64 or ids.shape != (ntotal,):
        raise fail(f"ids must be int64 [{ntotal}], got {ids.dtype}{list(ids.shape)}")
    if ntotal:
        seen = np.zeros(ntotal, bool)
        if ids.min() < 0 or ids.max() >= ntotal:
            raise fail(f"ids must lie in 0..{ntotal - 1}")
        seen[ids] = True
        if not seen.all():
            raise fail("ids repeat: each of 0..ntotal-1 must appear once")
    if int(nprobe) < 1:
        raise fail(f"nprobe must be at least 1, got {nprobe}")
    _check_finite(centroids, f"{source}: centroids")


def _check_finite(array: np.ndarray, what: str) -> None:
    for start in range(0, array.shape[0], TABLE_BLOCK):
        if not np.isfinite(array[start : start + TABLE_BLOCK]).all():
            raise IndexFileError(f"{what} hold NaN or infinity; re-convert the index")


def _read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Arrays as read-only memory maps of the file, and the header's __metadata__."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise IndexFileError(f"{path}: too short for a .safetensors file ({size} bytes)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(MAX_HEADER_BYTES, size - 8):
            raise IndexFileError(f"{path}: header length {header_len} does not fit the {size}-byte file")
        try:
            header = json.loads(handle.read(header_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise IndexFileError(f"{path}: the header is not JSON ({error})") from None
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if not isinstance(header, dict):
        raise IndexFileError(f"{path}: the header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    data_start, data_len = 8 + header_len, size - 8 - header_len
    arrays = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or entry.get("dtype") not in SAFETENSORS_DTYPES:
            kind = entry.get("dtype") if isinstance(entry, dict) else type(entry).__name__
            raise IndexFileError(f"{path}: tensor {name!r} has dtype {kind}; a converted index holds float32 or float16 vectors and {sorted(SAFETENSORS_DTYPES)} only")
        try:
            dtype = SAFETENSORS_DTYPES[entry["dtype"]]
            shape = tuple(int(s) for s in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise IndexFileError(f"{path}: tensor {name!r} has a malformed entry {str(entry)[:120]}") from None
        count = math.prod(shape)
        if any(s < 0 for s in shape) or not 0 <= begin <= end <= data_len or end - begin != count * dtype.itemsize:
            raise IndexFileError(f"{path}: tensor {name!r} ({entry['dtype']}{list(shape)}) does not fit bytes {begin}..{end} of {data_len}")
        arrays[name] = np.frombuffer(mapped, dtype, count, data_start + begin).reshape(shape) if count else np.zeros(shape, dtype)
    return arrays, {str(k): str(v) for k, v in metadata.items()}


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment
            names = archive.namelist()
        if any(not n.endswith(".npy") for n in names):
            raise IndexFileError(f"{path}: holds non-array members {[n for n in names if not n.endswith('.npy')]}")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        metadata = json.loads(comment.decode("utf-8")) if comment.strip() else {}
    except IndexFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError) as error:
        raise IndexFileError(f"{path}: not a readable .npz ({type(error).__name__}: {str(error)[:120]})") from None
    if not isinstance(metadata, dict):
        raise IndexFileError(f"{path}: the zip comment is not a JSON object")
    return arrays, {str(k): str(v) for k, v in metadata.items()}
