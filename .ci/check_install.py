"""CI check of what the README's set-up commands installed in a fresh virtual environment.

    python .ci/check_install.py main   after the first command: no torch, no CUDA package, fast BLAS
    python .ci/check_install.py test   after the second: torch is a CPU-only build, no CUDA package, fast BLAS

Prints the installed package set, its size on disk and the BLAS status; exits 1 with one line per
broken promise.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

# distributions that only a GPU build brings
CUDA = re.compile(r"^(nvidia-.*|cuda-.*|.*-cu\d+|triton|pytorch-triton.*|cupy.*)$", re.IGNORECASE)


def installed() -> dict[str, str]:
    return {dist.metadata["Name"].lower(): dist.version for dist in importlib.metadata.distributions()}


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def main() -> int:
    stage = sys.argv[1] if len(sys.argv) > 1 else ""
    if stage not in ("main", "test"):
        print("usage: python .ci/check_install.py main|test", file=sys.stderr)
        return 2
    packages = installed()
    site = Path(sysconfig.get_paths()["purelib"])
    print(f"check_install ({stage}): {len(packages)} distributions, {size_mb(site):.0f} MB in {site}")
    print("  " + ", ".join(f"{name} {version}" for name, version in sorted(packages.items())))
    problems = [f"CUDA package installed: {name} {version}" for name, version in packages.items() if CUDA.match(name)]

    torch = packages.get("torch")
    if stage == "main" and torch is not None:
        problems.append(f"the first command installed torch {torch}; converting must not need it")
    if stage == "test":
        if torch is None:
            problems.append("torch is missing after the test set-up")
        else:
            probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.version.cuda)"], capture_output=True, text=True)
            if probe.returncode != 0 or probe.stdout.strip() != "None":
                problems.append(f"torch {torch} is not a CPU-only build (torch.version.cuda: {probe.stdout.strip() or probe.stderr[-200:]})")

    try:
        ctypes.CDLL("libgfortran.so.5")
        gfortran = "visible"
    except OSError:
        gfortran = "not loadable (as on a machine without libgfortran5)"
    probe = subprocess.run([sys.executable, "-m", "rvc_runtime", "--json"], capture_output=True, text=True)
    if probe.returncode != 0 or not probe.stdout.strip():
        problems.append(f"python -m rvc_runtime failed: {probe.stderr.strip()[-300:]}")
    else:
        status = json.loads(probe.stdout)
        print(f"  BLAS: {status['source']}, {status['threads']} thread(s), bound {status['bound']}; system libgfortran: {gfortran}")
        if sys.platform.startswith("linux") and not (status["fast"] and status["bound"] and status["source"] == "scipy-openblas32"):
            problems.append(f"the fast BLAS is not active: {status['reason']}")
        if probe.stderr:
            problems.append(f"importing rvc_runtime printed: {probe.stderr.strip()[-300:]}")
    for problem in problems:
        print(f"check_install: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
