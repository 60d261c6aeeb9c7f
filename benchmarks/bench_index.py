"""Retrieval index: rvc-convert's reader / converter / runtime search vs faiss, same run.

The index is realistic and as large as RVC builds one unreduced: 200 000 x 768 speech-like
features (fixtures/make_index.py), trained the way RVC's train-index step trains it
(IVF5128,Flat, nprobe 1), written by faiss. It is built once and cached under
$TMPDIR/rvc-convert-bench/index/ (a few minutes of faiss k-means).

Every measurement runs in a fresh child process (its own peak RSS), all pinned to the same
number of threads (default 1). Rows are interleaved over repeats; times are medians of the
work inside the child (imports excluded), "RSS growth" is peak RSS minus RSS after the imports.

* conversion: faiss.read_index + reconstruct_n(0, ntotal) (what RVC does at load) vs
  rvc-convert's read_faiss_index, convert_model to .safetensors / .npz (fp32 and fp16) and the
  CLI (`rvc-convert x.index`: convert, then validate), next to two floors any converter pays:
  hashing the file (its sha256 goes into the metadata) and copying it (reading and writing as
  many bytes);
* search: 1500 query frames (30 s of features at 50 frames/s), k = 8: faiss's IVF search vs
  RetrievalIndex.search and .blend on the converted file; brute force both ways;
* the coarse-step matrix product in numpy vs MLX (which one the runtime should use);
* what fp16 vectors do to retrieval, on this index and on the golden RVC index.

    python benchmarks/bench_index.py [--repeat 3] [--threads 1] [--n 200000] [--sections convert,search,...]

Aim (issue): conversion no slower than faiss's read; search within 2x faiss.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO, fmt_mb, fmt_s, golden_file, median, print_header, print_table, run_child, work_dir  # noqa: E402

sys.path.insert(0, str(REPO / "fixtures"))
QUERY_FRAMES = 1500
GOLDEN_INDEX = "pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index"
GOLDEN_REF = "pipeline/refs/tiny-a-webui-v1-40k-f0-tiny-index.npz"

CHILD = """
import sys, time
src, out, queries, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
start = time.perf_counter()
{imports}
import numpy as np
q = np.load(queries)
imported = time.perf_counter()
rss0 = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:"))
{work}
done = time.perf_counter()
report(work_s=done - imported - locals().get("setup_s", 0.0), rss_start=rss0, **locals().get("extra", {{}}))
"""

FAISS_IMPORT = "import faiss\nfaiss.omp_set_num_threads(threads)"
RUNTIME_IMPORT = "import rvc_runtime\nfrom rvc_runtime.index import RetrievalIndex"
CONVERT_IMPORT = "from rvc_convert.families.retrieval.faiss_format import read_faiss_index\nfrom rvc_convert.convert import convert_model"
CLI_IMPORT = "from rvc_convert.cli import main"

CONVERSION = {
    "faiss: read_index + reconstruct_n": (FAISS_IMPORT, "index = faiss.read_index(src)\nvectors = index.reconstruct_n(0, index.ntotal)"),
    "faiss: read_index": (FAISS_IMPORT, "index = faiss.read_index(src)"),
    "floor: sha256 of the file": ("import hashlib", "digest = hashlib.sha256()\nwith open(src, 'rb') as f:\n    for block in iter(lambda: f.read(1 << 22), b''):\n        digest.update(block)"),
    "floor: copy the file (shutil.copyfile)": ("import shutil", "shutil.copyfile(src, out + '/copy.index')"),
    "rvc-convert: read_faiss_index": (CONVERT_IMPORT, "index = read_faiss_index(src)"),
    "rvc-convert: convert_model → .safetensors": (CONVERT_IMPORT, "convert_model(src, 'ios', out, name='bench-fp32')"),
    "rvc-convert: convert_model → .npz": (CONVERT_IMPORT, "convert_model(src, 'mlx', out, name='bench-fp32')"),
    "rvc-convert: convert_model → .safetensors fp16": (CONVERT_IMPORT, "convert_model(src, 'ios', out, 'fp16', name='bench-fp16')"),
    "rvc-convert CLI: convert + validate": (CLI_IMPORT, "assert main([src, '-o', out, '--name', 'bench-cli']) == 0"),
}
CONVERSION_BASELINE = "faiss: read_index + reconstruct_n"

# `setup_s` is subtracted: loading is timed separately (conversion table / load row)
_SEARCH_TIMED = """
setup_start = time.perf_counter()
{setup}
setup_s = time.perf_counter() - setup_start
{call}
extra = {{"setup_s": setup_s}}
"""
SEARCH = {
    "faiss: IVF search (nprobe 1)": (FAISS_IMPORT, "index = faiss.read_index(src)", "D, I = index.search(q, 8)"),
    "rvc_runtime: search": (RUNTIME_IMPORT, "index = RetrievalIndex.from_file(out + '/bench-fp32.safetensors')", "D, I = index.search(q, 8)"),
    "rvc_runtime: blend (search + mix)": (RUNTIME_IMPORT, "index = RetrievalIndex.from_file(out + '/bench-fp32.safetensors')", "f = index.blend(q, 0.75)"),
    "rvc_runtime: search, fp16 vectors": (RUNTIME_IMPORT, "index = RetrievalIndex.from_file(out + '/bench-fp16.safetensors')", "D, I = index.search(q, 8)"),
}
BRUTE = {
    "faiss: IndexFlatL2 search": (FAISS_IMPORT, "flat = faiss.IndexFlatL2(768)\nivf = faiss.read_index(src)\nflat.add(ivf.reconstruct_n(0, ivf.ntotal))\ndel ivf", "D, I = flat.search(q, 8)"),
    "rvc_runtime: search(brute_force=True)": (RUNTIME_IMPORT, "index = RetrievalIndex.from_file(out + '/bench-fp32.safetensors')\nindex.search(q[:1], 8, brute_force=True)", "D, I = index.search(q, 8, brute_force=True)"),
}
SEARCH_BASELINE = "faiss: IVF search (nprobe 1)"
BRUTE_BASELINE = "faiss: IndexFlatL2 search"

MATMUL = """
import sys, time
threads = int(sys.argv[1])
import rvc_runtime
import mlx.core as mx
import numpy as np
rng = np.random.default_rng(0)
q = rng.standard_normal((1500, 768)).astype(np.float32)
c = rng.standard_normal((5128, 768)).astype(np.float32)
def best(f, n=5):
    f(); times = []
    for _ in range(n):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times)
def with_mlx():
    return np.array(mx.matmul(mx.array(q), mx.array(c).T))
assert np.allclose(with_mlx(), q @ c.T, rtol=1e-4, atol=1e-3)
report(numpy_s=best(lambda: q @ c.T), mlx_s=best(with_mlx))
"""


def thread_env(threads: int) -> dict[str, str]:
    value = str(threads)
    return {"OMP_NUM_THREADS": value, "OPENBLAS_NUM_THREADS": value, "MKL_NUM_THREADS": value, "MLX_NUM_THREADS": value}


def ensure_index(n: int, d: int) -> Path:
    path = work_dir("index") / f"rvc-{n}x{d}.index"
    if not path.exists():
        import make_index

        started = time.perf_counter()
        print(f"building {path.name} (faiss k-means, IVF{make_index.rvc_nlist(n)},Flat) ...", flush=True)
        partial = path.with_suffix(".partial")
        make_index.train_rvc_index(make_index.speech_like_features(n, d), partial)
        partial.rename(path)
        print(f"built in {time.perf_counter() - started:.0f} s")
    return path


def measure(rows: dict, repeat: int, args: list[str], env: dict[str, str], search: bool = False) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in rows}
    for _ in range(repeat):
        for name, spec in rows.items():
            if search:
                imports, setup, call = spec
                work = _SEARCH_TIMED.format(setup=setup, call=call)
            else:
                imports, work = spec
            results[name].append(run_child(CHILD.format(imports=imports, work=work), args, env=env))
    return results


def table(results: dict[str, list[dict]], baseline: str, title: str, extra_header: str | None = None) -> None:
    base = median([r["work_s"] for r in results[baseline]])
    rows = []
    for name, runs in results.items():
        work = median([r["work_s"] for r in runs])
        peak = max(r["peak_rss"] for r in runs)
        growth = max(r["peak_rss"] - r["rss_start"] for r in runs)
        row = [name, fmt_s(work), f"{work / base:.2f}", fmt_mb(peak), fmt_mb(growth)]
        if extra_header:
            row.append(fmt_s(median([r["setup_s"] for r in runs])))
        rows.append(row)
    headers = ["tool", "time (s)", "× baseline", "peak RSS (MB)", "RSS growth (MB)"] + ([extra_header] if extra_header else [])
    print_table(headers, rows, title)


# --- fp16 effect -------------------------------------------------------------------------------


def fp16_effect(index_path: Path, queries: np.ndarray, out: Path, label: str) -> list[str]:
    """Neighbour agreement and blended-feature error of fp16 vectors against fp32, and of fp16
    centroids (not what rvc-convert writes) for comparison; rate 0.75 as RVC's default."""
    import rvc_runtime  # noqa: F401
    from rvc_convert.convert import convert_model
    from rvc_runtime.index import RetrievalIndex

    stem = label.replace(" ", "-").replace("(", "").replace(")", "")
    fp32 = RetrievalIndex.from_file(convert_model(index_path, "ios", out, name=f"{stem}-fp32").weights_path)
    fp16 = RetrievalIndex.from_file(convert_model(index_path, "ios", out, "fp16", name=f"{stem}-fp16").weights_path)
    half_centroids = RetrievalIndex(fp16.centroids.astype(np.float16).astype(np.float32), fp16.vectors, fp16.list_offsets, fp16.ids, fp16.metric, fp16.nprobe)
    _, I32 = fp32.search(queries, 8)
    b32 = fp32.blend(queries, 0.75)
    index_effect = np.sqrt(np.mean((b32 - queries) ** 2)) / np.sqrt(np.mean(queries**2))
    rows = []
    for name, other in (("fp16 vectors (what --dtype fp16 writes)", fp16), ("fp16 vectors and centroids", half_centroids)):
        _, I = other.search(queries, 8)
        b = other.blend(queries, 0.75)
        same_list_rank = np.mean(I == I32)
        same_set = np.mean([set(a) == set(c) for a, c in zip(I, I32)])
        nearest = np.mean(I[:, 0] == I32[:, 0])
        rel = np.sqrt(np.mean((b - b32) ** 2)) / np.sqrt(np.mean(b32**2))
        worst = np.max(np.linalg.norm(b - b32, axis=1) / np.linalg.norm(b32, axis=1))
        rows.append([label, name, f"{nearest:.4f}", f"{same_list_rank:.4f}", f"{same_set:.4f}", f"{rel:.2e}", f"{worst:.2e}", f"{index_effect:.3f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--sections", default="convert,search,brute,matmul,fp16", help="comma-separated subset of convert,search,brute,matmul,fp16")
    options = parser.parse_args()

    import faiss
    import make_index

    print_header("bench_index: retrieval index, rvc-convert vs faiss")
    source = ensure_index(options.n, 768)
    scratch = work_dir("index") / "out"
    scratch.mkdir(exist_ok=True)
    queries = make_index.speech_like_features(QUERY_FRAMES, 768, seed=99)
    query_file = work_dir("index") / "queries.npy"
    np.save(query_file, queries)
    source.read_bytes()  # warm the page cache for every reader alike
    print(f"index: {source.name}, {source.stat().st_size / 1e6:.0f} MB, faiss {faiss.__version__}, {options.threads} thread(s), queries: {QUERY_FRAMES} x 768")

    env = thread_env(options.threads)
    args = [str(source), str(scratch), str(query_file), str(options.threads)]
    sections = set(options.sections.split(","))
    if "convert" in sections or not (scratch / "bench-fp32.safetensors").exists():
        conversion = measure(CONVERSION, options.repeat, args, env)
        table(conversion, CONVERSION_BASELINE, "Conversion (read + write; faiss: read + reconstruct_n)")
    if "search" in sections:
        search = measure(SEARCH, options.repeat, args, env, search=True)
        table(search, SEARCH_BASELINE, f"Search: {QUERY_FRAMES} frames, k = 8 (load time separate)", "load (s)")
    if "brute" in sections:
        brute = measure(BRUTE, 1, args, env, search=True)
        table(brute, BRUTE_BASELINE, f"Brute force over all {options.n} vectors: {QUERY_FRAMES} frames, k = 8", "load (s)")
    if "matmul" in sections:
        matmul = run_child(MATMUL, [str(options.threads)], env=env)
        print_table(["coarse step [1500 x 768] x [768 x 5128]", "numpy (s)", "MLX (s)"],
                    [["float32 matrix product", fmt_s(matmul["numpy_s"]), fmt_s(matmul["mlx_s"])]], "Coarse-step matrix product")
    if "fp16" not in sections:
        return
    rows = fp16_effect(source, queries, scratch, f"synthetic {options.n // 1000}k")
    golden, ref = golden_file(GOLDEN_INDEX), golden_file(GOLDEN_REF)
    if golden and ref:
        rows += fp16_effect(golden, np.load(ref)["chunk0.hubert"][0], scratch, "golden v1 (757)")
    print_table(["index", "stored as", "nearest same", "id agreement (rank)", "8-NN set same", "blend rel RMS diff", "blend worst frame", "index effect (rel RMS)"],
                rows, "fp16 vs fp32 vectors (rate 0.75; index effect = how much the fp32 blend changes the features)")


if __name__ == "__main__":
    main()
