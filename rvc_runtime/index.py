"""RVC's retrieval index at run time: load a converted index, search it as faiss does, blend.

    from rvc_runtime.index import RetrievalIndex
    index = RetrievalIndex.from_file("voice.safetensors")        # or .npz
    D, I = index.search(queries, k=8)                            # faiss IndexIVFFlat semantics
    feats = index.blend(features, index_rate=0.75)               # RVC's index blend

The converted file (written by `rvc-convert`; layout and maths in docs/retrieval_index.md) holds
`centroids` [nlist, d], `vectors` [ntotal, d] grouped by inverted list, `list_offsets` [nlist+1]
and `ids` [ntotal] (the original faiss id of each row).

Search is exact where faiss rounds: candidates are short-listed with float32 matrix products,
and the short list is proven (by the float32 error bound of those products) to contain the true
nearest lists / vectors, whose distances are then computed in float64 from the differences and
rounded once to float32. A query equal to a stored vector therefore finds it at distance exactly
0, as faiss does.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INDEX_FORMAT = "1"  # the converted layout revision this runtime reads (metadata "index_format")
ARRAY_NAMES = ("centroids", "ids", "list_offsets", "vectors")
METRICS = ("l2", "inner_product")
FLT_MAX = float(np.finfo(np.float32).max)
SAFETENSORS_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I64": np.dtype("<i8")}
MAX_HEADER_BYTES = 100 << 20
SHORTLIST_EXTRA = 16  # candidates kept beyond the ones asked for, before the exact re-ranking
CHUNK_ELEMENTS = 1 << 22  # bounds the float64 temporaries of the exact distances (32 MiB)
MATMUL_CHUNK = 1 << 16  # table rows per float32 product in brute-force search


class IndexFileError(ValueError):
    """A converted index file that is missing, malformed or inconsistent (one-line message)."""


@dataclass(frozen=True)
class _Table:
    """Rows to search (centroids or vectors) with what the short list's error bound needs."""

    rows: np.ndarray  # float32 or float16 [n, d]
    sqnorms: np.ndarray  # float32 [n]: |row|^2
    max_norm: float  # max |row|


def _table(rows: np.ndarray) -> _Table:
    sq = np.empty(rows.shape[0], np.float32)
    for start in range(0, rows.shape[0], MATMUL_CHUNK):
        part = rows[start : start + MATMUL_CHUNK].astype(np.float64)
        sq[start : start + MATMUL_CHUNK] = np.einsum("nd,nd->n", part, part)
    return _Table(rows, sq, math.sqrt(float(sq.max())) if sq.size else 0.0)


class RetrievalIndex:
    """A converted RVC retrieval index, searched like faiss's IndexIVFFlat with the file's nprobe."""

    def __init__(self, centroids: np.ndarray, vectors: np.ndarray, list_offsets: np.ndarray, ids: np.ndarray, metric: str, nprobe: int, metadata: dict[str, str] | None = None, source: str = "<arrays>"):
        _check_arrays(centroids, vectors, list_offsets, ids, metric, nprobe, source)
        self.centroids, self.vectors, self.list_offsets, self.ids = centroids, vectors, list_offsets, ids
        self.metric, self.nprobe_file = metric, int(nprobe)
        self.metadata = dict(metadata or {})
        self.source = source
        self._list_sizes = np.diff(list_offsets)
        self._centroid_table = _table(centroids)
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
        if family != "index":
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
        if self.ntotal == 0:  # a trained-but-empty index finds nothing
            return self._pad(np.zeros((q.shape[0], 0), np.float32), np.zeros((q.shape[0], 0), np.int64), k)
        if brute_force:
            if self._vector_table is None:
                self._vector_table = _table(self.vectors)
            return self._pad(*_nearest(q, self._vector_table, min(k, self.ntotal), self.metric), k)
        _, lists = _nearest(q, self._centroid_table, self.nprobe, self.metric)
        return self._scan_lists(q, lists, k)

    def _pad(self, D: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n, have = rows.shape
        out_D = np.full((n, k), self._missing(), np.float32)
        out_rows = np.full((n, k), -1, np.int64)
        out_D[:, :have], out_rows[:, :have] = D[:, :k], rows[:, :k]
        return out_D, out_rows

    def _scan_lists(self, q: np.ndarray, lists: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact distances to every vector of each query's probed lists, in faiss's scan order
        (nearest list first, stored order within a list); keep the k best."""
        n = q.shape[0]
        sizes = self._list_sizes[lists]  # [n, nprobe]
        ends = np.cumsum(sizes, axis=1)
        totals = ends[:, -1] if n else np.zeros(0, np.int64)
        out_D = np.full((n, k), self._missing(), np.float32)
        out_rows = np.full((n, k), -1, np.int64)
        order = np.argsort(totals, kind="stable")  # similar candidate counts share a chunk (less padding)
        start = 0
        while start < n:
            stop = start + 1
            # grow the chunk while the padded float64 block stays under CHUNK_ELEMENTS
            while stop < n and (stop + 1 - start) * max(int(totals[order[stop]]), 1) * self.dim <= CHUNK_ELEMENTS:
                stop += 1
            chosen = order[start:stop]
            width = max(int(totals[chosen].max()), 1)
            position = np.arange(width)
            probe = (position[None, :, None] >= ends[chosen][:, None, :]).sum(axis=2)  # which probed list
            valid = position[None, :] < totals[chosen][:, None]
            probe = np.minimum(probe, lists.shape[1] - 1)
            list_no = np.take_along_axis(lists[chosen], probe, axis=1)
            before = np.take_along_axis(ends[chosen] - sizes[chosen], probe, axis=1)
            rows = np.where(valid, self.list_offsets[list_no] + position[None, :] - before, 0)
            dist = _exact(q[chosen], self.vectors, rows, self.metric)
            take = min(k, width)
            best = _rank(dist, valid, take, self.metric)
            got_valid = np.take_along_axis(valid, best, axis=1)
            out_D[chosen, :take] = np.where(got_valid, np.take_along_axis(dist, best, axis=1), self._missing())
            out_rows[chosen, :take] = np.where(got_valid, np.take_along_axis(rows, best, axis=1), -1)
            start = stop
        return out_D, out_rows


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


# --- nearest rows of a table: float32 short list, exact float64 ranking ------------------------------


def _nearest(q: np.ndarray, table: _Table, keep: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The `keep` best rows of `table` for each query (exact ranking; ties: lower row first)."""
    n, total = q.shape[0], table.rows.shape[0]
    keep = min(keep, total)
    if keep == 0 or n == 0:
        return np.zeros((n, keep), np.float32), np.zeros((n, keep), np.int64)
    width = min(total, keep + SHORTLIST_EXTRA)
    scores, rows = _shortlist(q, table, width, metric)
    certain = _proven(q, table, scores, keep, metric) if width < total else np.ones(n, bool)
    for i in np.flatnonzero(~certain):  # rare: rows within rounding distance of the keep-th; rank all
        rows[i] = _exact_best(q[i], table.rows, width, metric)
    dist = _exact(q, table.rows, rows, metric)
    best = _rank(dist, np.ones_like(dist, bool), keep, metric, tiebreak=rows)
    return np.take_along_axis(dist, best, axis=1), np.take_along_axis(rows, best, axis=1)


def _shortlist(q: np.ndarray, table: _Table, width: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The `width` best rows by float32 scores (smaller is better): |t|^2 - 2 q.t for L2, -q.t for IP."""
    n = q.shape[0]
    best_scores = np.empty((n, 0), np.float32)
    best_rows = np.empty((n, 0), np.int64)
    for start in range(0, table.rows.shape[0], MATMUL_CHUNK):
        part = table.rows[start : start + MATMUL_CHUNK].astype(np.float32, copy=False)
        dots = q @ part.T
        scores = table.sqnorms[start : start + part.shape[0]] - 2 * dots if metric == "l2" else -dots
        scores = np.concatenate([best_scores, scores], axis=1)
        rows = np.concatenate([best_rows, np.broadcast_to(np.arange(start, start + part.shape[0]), (n, part.shape[0]))], axis=1)
        if scores.shape[1] > width:
            pick = np.argpartition(scores, width - 1, axis=1)[:, :width]
            scores, rows = np.take_along_axis(scores, pick, axis=1), np.take_along_axis(rows, pick, axis=1)
        best_scores, best_rows = scores, rows
    return best_scores, best_rows


def _proven(q: np.ndarray, table: _Table, scores: np.ndarray, keep: int, metric: str) -> np.ndarray:
    """Per query: does the short list provably hold the exact `keep` best rows?

    Each float32 score is within b of its exact value, b = gamma (|t|^2 + 2|q||t|) for L2 and
    gamma |q||t| for IP, gamma = (d + 4) 2^-23 (twice the textbook bound of a length-d dot
    product). A row left out scored at least the short list's worst, so it is provably worse than
    the keep-th best when worst - keep-th > 2b."""
    d = q.shape[1]
    gamma = (d + 4) * 2.0**-23
    qnorm = np.sqrt(np.einsum("nd,nd->n", q.astype(np.float64), q.astype(np.float64)))
    t = table.max_norm
    bound = gamma * (t * t + 2 * qnorm * t) if metric == "l2" else gamma * qnorm * t
    ordered = np.sort(scores, axis=1)
    return ordered[:, -1].astype(np.float64) - ordered[:, keep - 1] > 2 * bound


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
    best_dist, best_rows = np.empty(0, np.float32), np.empty(0, np.int64)
    for start in range(0, table.shape[0], step):
        rows = np.arange(start, min(start + step, table.shape[0]))
        dist = np.concatenate([best_dist, _exact(query[None, :], table, rows[None, :], metric)[0]])
        rows = np.concatenate([best_rows, rows])
        pick = _rank(dist[None, :], np.ones((1, dist.size), bool), width, metric, tiebreak=rows[None, :])[0]
        best_dist, best_rows = dist[pick], rows[pick]
    return best_rows


def _rank(dist: np.ndarray, valid: np.ndarray, take: int, metric: str, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Column indices of the `take` best valid entries per row, best first; ties keep column
    order (faiss's scan order), or the smaller `tiebreak` value when given."""
    key = np.where(valid, dist.astype(np.float64) if metric == "l2" else -dist.astype(np.float64), np.inf)
    if tiebreak is None:
        order = np.argsort(key, axis=1, kind="stable")
    else:
        order = np.lexsort((tiebreak, key), axis=1)
    return order[:, :take]


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
    for start in range(0, array.shape[0], MATMUL_CHUNK):
        if not np.isfinite(array[start : start + MATMUL_CHUNK]).all():
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
