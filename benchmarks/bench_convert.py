"""Conversion of the full-size v2-40k synthesizer: rvc-convert vs a plain torch + safetensors script.

Each run is a fresh interpreter, so its peak RSS (VmHWM) belongs to that tool alone; a second
child that only imports the same top-level modules gives the interpreter's own footprint, and the
difference is what the conversion itself costs in memory. Runs are interleaved (tool, baselines,
tool, ...) so that the shared machine's load hits every tool alike; one untimed warm-up round
first fills the page cache.

    python benchmarks/bench_convert.py [--repeat 5] [--model PATH]

Aim (issue): faster than the baseline; peak RSS above the interpreter within ~1.5x the model file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import fmt_mb, fmt_s, median, print_header, print_table, require_golden, run_child, work_dir  # noqa: E402

MODEL = "synth/models/v2-40k-f0.pth"

# name -> (imports, work); `src` and `dst` are argv[1], argv[2]
TOOLS = {
    "rvc-convert (convert_model)": (
        "from rvc_convert.convert import convert_model",
        "convert_model(src, 'ios', dst)",
    ),
    "baseline: torch + safetensors.torch": (
        "import numpy, torch, safetensors.torch, safetensors.numpy\nfrom baseline_convert import convert",
        "convert(src, dst + '/baseline-torch.safetensors', 'torch')",
    ),
    "baseline: torch + safetensors.numpy": (
        "import numpy, torch, safetensors.torch, safetensors.numpy\nfrom baseline_convert import convert",
        "convert(src, dst + '/baseline-numpy.safetensors', 'numpy')",
    ),
}
BASELINE = "baseline: torch + safetensors.torch"

CHILD = """
import sys, time
start = time.perf_counter()
{imports}
imported = time.perf_counter()
src, dst = sys.argv[1], sys.argv[2]
{work}
done = time.perf_counter()
report(import_s=imported - start, work_s=done - imported)
"""

# The CLI as users run it: a wrapper child runs it and reads its peak RSS from RUSAGE_CHILDREN.
CLI_CHILD = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
elapsed = time.perf_counter() - start
report(work_s=elapsed, child_peak_rss=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def measure(name: str, src: Path, dst: Path, bare: bool = False) -> dict:
    imports, work = TOOLS[name]
    return run_child(CHILD.format(imports=imports, work="pass" if bare else work), [str(src), str(dst)])


def measure_cli(argv: list[str]) -> dict:
    result = run_child(CLI_CHILD, argv)
    result["peak_rss"] = result["child_peak_rss"]
    return result


def fp16_ordinal(x: np.ndarray) -> np.ndarray:
    """fp16 values as integers in value order (sign-magnitude bits made two's-complement), so a difference counts ulps."""
    bits = x.view(np.uint16).astype(np.int32)
    return np.where(bits & 0x8000, -(bits & 0x7FFF), bits)


def compare_outputs(tool_file: Path, other_file: Path) -> str:
    """Same keys, shapes and dtypes? Largest difference (fp16 values, compared in float64)."""
    from safetensors.numpy import load_file

    a, b = load_file(tool_file), load_file(other_file)
    if set(a) != set(b):
        return f"different keys: {sorted(set(a) ^ set(b))[:4]}"
    shapes = [k for k in a if a[k].shape != b[k].shape or a[k].dtype != b[k].dtype]
    if shapes:
        return f"{len(shapes)} tensors differ in shape/dtype, e.g. {shapes[0]}"
    identical = sum(np.array_equal(a[k], b[k]) for k in a)
    worst = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)), initial=0.0)) for k in a)
    text = f"{len(a)} tensors, same names/shapes/dtypes; {identical} bit-identical, max |diff| {worst:.3g}"
    if all(v.dtype == np.float16 for v in a.values()):
        ulps = max(int(np.max(np.abs(fp16_ordinal(a[k]) - fp16_ordinal(b[k])), initial=0)) for k in a)
        text += f" (at most {ulps} fp16 ulp)"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per tool (median reported)")
    parser.add_argument("--model", type=Path, default=None, help=f"source .pth (default: golden {MODEL})")
    args = parser.parse_args()
    src = args.model or require_golden(MODEL)
    out = work_dir("convert")
    shutil.rmtree(out)
    out.mkdir(parents=True)
    file_size = src.stat().st_size
    cli_argv = [sys.executable, "-m", "rvc_convert", str(src), "-o", str(out / "cli"), "--no-validate"]
    # the CLI's interpreter: the modules `rvc-convert MODEL` imports, nothing converted
    cli_bare_argv = [sys.executable, "-c", "import rvc_convert.cli, rvc_convert.convert"]

    print_header(f"bench_convert: {src.name} ({file_size / 1e6:.1f} MB) -> .safetensors (fp16), {args.repeat} interleaved runs per tool")
    names = list(TOOLS) + ["rvc-convert CLI (--no-validate)"]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for round_index in range(args.repeat + 1):  # round 0: untimed warm-up (page cache, .pyc)
        for name in names:
            result = measure_cli(cli_argv) if name.endswith("CLI (--no-validate)") else measure(name, src, out)
            if round_index > 0:
                runs[name].append(result)
    bare = {name: [measure(name, src, out, bare=True) for _ in range(3)] for name in TOOLS}
    bare["rvc-convert CLI (--no-validate)"] = [measure_cli(cli_bare_argv) for _ in range(3)]

    base_work = median([r["work_s"] for r in runs[BASELINE]])
    base_process = median([r["process_s"] for r in runs[BASELINE]])
    outputs = {
        "rvc-convert (convert_model)": out / f"{src.stem}.safetensors",
        "baseline: torch + safetensors.torch": out / "baseline-torch.safetensors",
        "baseline: torch + safetensors.numpy": out / "baseline-numpy.safetensors",
        "rvc-convert CLI (--no-validate)": out / "cli" / f"{src.stem}.safetensors",
    }
    rows = []
    for name in names:
        work = median([r["work_s"] for r in runs[name]])
        process = median([r["process_s"] for r in runs[name]])
        peak = max(r["peak_rss"] for r in runs[name])
        interpreter = median([r["peak_rss"] for r in bare[name]])
        above = peak - interpreter
        is_cli = name.endswith("CLI (--no-validate)")
        rows.append([
            name,
            "—" if is_cli else fmt_s(work),
            fmt_s(process),
            fmt_mb(peak),
            fmt_mb(interpreter),
            fmt_mb(above),
            f"{above / file_size:.2f}x",
            "—" if is_cli else f"{work / base_work:.2f}x",
            f"{process / base_process:.2f}x",
            fmt_mb(outputs[name].stat().st_size),
        ])  # fmt: skip
    print_table(
        ["tool", "convert s", "process s", "peak RSS MB", "interpreter MB", "RSS above interp. MB", "above / file", "convert vs baseline", "process vs baseline", "output MB"],
        rows,
    )
    print(
        f"\nconvert s: median of {args.repeat}, the conversion call alone (imports excluded); process s: the whole child "
        f"(interpreter start + imports + conversion + exit). interpreter MB: a child importing the same modules and "
        f"doing nothing (for the CLI: a child importing rvc_convert.cli and rvc_convert.convert). Model file {file_size / 1e6:.1f} MB; aim: above / file <= 1.5x."
    )
    reference = outputs["rvc-convert (convert_model)"]
    for name in names[1:]:
        print(f"output of {name} vs rvc-convert: {compare_outputs(reference, outputs[name])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
