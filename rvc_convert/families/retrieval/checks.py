"""Runtime checks of a converted retrieval index: strict load, stored vectors finding themselves,
and parity with faiss's own search results (upstream's pipeline run). That every array equals the
source file's is the layer-wise check (layer kind `table`, compared block by block)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...parity import record_parity
from ...reports import FEATURE_PARITY_MIN_SNR_DB, Check, ValidationReport, parity_min_snr_db

SMOKE_ROWS = 32  # stored vectors searched by the smoke check, spread over the table
# fp16 vectors move near-tied neighbours (docs/retrieval_index.md: 99.3 % of ids equal on the
# golden index); float32 files must give faiss's ids exactly.
MIN_ID_AGREEMENT = {"float32": 1.0, "float16": 0.98}


def runtime_checks(converted: Path, info: Any, dtype: str, reference: Path | None, report: ValidationReport) -> None:
    from rvc_runtime.index import RetrievalIndex

    try:
        index = RetrievalIndex.from_file(converted)
    except ValueError as exc:
        report.checks.append(Check("runtime.load", "fail", str(exc)))
        return
    report.checks.append(Check("runtime.load", "pass", f"strict load: 4 arrays, offsets tile {index.ntotal} vectors over {index.nlist} lists, ids 0..ntotal-1 once each"))
    started = time.perf_counter()
    _smoke(index, report)
    report.runtime["smoke_seconds"] = round(time.perf_counter() - started, 3)
    if reference is not None:
        _parity(index, dtype, reference, report)


def _smoke(index: Any, report: ValidationReport) -> None:
    """Stored vectors, searched, find an exact copy of themselves: first, at distance 0, by brute
    force always and by the IVF search whenever the coarse step probes the list they are stored
    in (faiss may have filed a vector under a near-tied centroid). Twice, identically."""
    if index.ntotal == 0:
        q = np.ones((2, index.dim), np.float32)
        D, I = index.search(q, 8)
        ok = (I == -1).all() and (index.metric != "l2" or np.array_equal(index.blend(q, 0.75), q))
        report.checks.append(Check("runtime.smoke", "pass" if ok else "fail", "an empty index finds nothing and leaves features unchanged" if ok else "an empty index returned neighbours"))
        return
    rows = np.unique(np.linspace(0, index.ntotal - 1, min(SMOKE_ROWS, index.ntotal)).astype(np.int64))
    queries = np.asarray(index.vectors[rows], dtype=np.float32)
    k = min(8, index.ntotal)
    runs = [index.search(queries, k) for _ in range(2)]
    D, I = runs[0]
    Db, Ib = index.search(queries, 1, brute_force=True)
    by_id = np.argsort(index.ids)
    problems = []
    if not (np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])):
        problems.append("two searches differ")
    if not np.isfinite(D[I >= 0]).all():
        problems.append("non-finite distances")
    list_of_row = np.searchsorted(index.list_offsets, rows, side="right") - 1
    probed_own = 0
    if index.metric == "l2":
        if not (Db[:, 0] == 0).all() or not np.array_equal(np.asarray(index.vectors[by_id[Ib[:, 0]]]), np.asarray(index.vectors[rows])):
            problems.append("brute force does not find stored vectors at distance 0")
        probed = index.probed_lists(queries)
        own = (probed == list_of_row[:, None]).any(axis=1)
        probed_own = int(own.sum())
        found = (D[:, 0] == 0) & (I[:, 0] >= 0)
        same = np.array([found[i] and np.array_equal(np.asarray(index.vectors[by_id[I[i, 0]]]), np.asarray(index.vectors[rows[i]])) for i in range(rows.size)])
        if not same[own].all():
            problems.append(f"{int((~same[own]).sum())} stored vectors not found at distance 0 in their own probed list")
    elif not (Db[:, 0] >= np.einsum("nd,nd->n", queries.astype(np.float64), queries.astype(np.float64)).astype(np.float32) * (1 - 1e-5)).all():
        problems.append("brute force finds a smaller inner product than a vector's own")
    detail = f"{rows.size} stored vectors searched (k = {k}) twice, identically"
    if index.metric == "l2":
        detail += f": each found at distance 0 by brute force, and by the IVF search in the {probed_own} whose own list was probed"
    report.checks.append(Check("runtime.smoke", "fail" if problems else "pass", "; ".join(problems) or detail, {"rows": int(rows.size)}))


def _parity(index: Any, dtype: str, reference: Path, report: ValidationReport) -> None:
    """Against upstream's pipeline run: per chunk, faiss's ids and distances for the chunk's HuBERT
    features (`chunkN.hubert`, `.index_I`, `.index_D`) and the blended features (`.feats_index`,
    at the run's index rate)."""
    refs = np.load(reference, allow_pickle=False)
    chunks = sorted({name.split(".")[0] for name in refs.files if name.endswith(".index_I") and f"{name.split('.')[0]}.hubert" in refs.files})
    if not chunks:
        report.checks.append(Check("parity", "fail", f"{reference.name} holds no chunk<N>.hubert with chunk<N>.index_I: not a pipeline reference from upstream's run"))
        return
    rate = _index_rate(refs)
    pairs, equal, total = [], 0, 0
    for chunk in chunks:
        feats = refs[f"{chunk}.hubert"].reshape(-1, index.dim)
        D, I = index.search(feats, refs[f"{chunk}.index_I"].shape[1])
        equal += int((I == refs[f"{chunk}.index_I"]).sum())
        total += I.size
        pairs.append((f"{chunk}.index_D", D, refs[f"{chunk}.index_D"]))
        if rate is not None and f"{chunk}.feats_index" in refs.files and index.metric == "l2":
            expected = refs[f"{chunk}.feats_index"]
            pairs.append((f"{chunk}.feats_index", index.blend(feats, rate).reshape(expected.shape), expected))
    agreement = equal / max(total, 1)
    needed = MIN_ID_AGREEMENT.get(dtype, 1.0)
    status = "pass" if agreement >= needed else "fail"
    report.checks.append(Check("parity.ids", status, f"{equal} of {total} neighbour ids equal faiss's ({agreement:.2%}; needed {needed:.0%})", {"agreement": agreement}))
    record_parity(pairs, parity_min_snr_db(dtype, FEATURE_PARITY_MIN_SNR_DB), reference, report)


def _index_rate(refs: Any) -> float | None:
    """The index rate the reference run used (its `meta.parameters.index_rate`), when recorded."""
    if "meta" not in refs.files:
        return None
    try:
        rate = json.loads(str(refs["meta"]))["parameters"]["index_rate"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(rate) if isinstance(rate, (int, float)) and 0 <= rate <= 1 else None
