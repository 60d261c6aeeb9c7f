"""Install what the test suite needs, and no CUDA: PyTorch's CPU-only build, the [test] extra, the
reference packages' dependencies (tests/requirements-reference.txt) and the reference packages
themselves without theirs (tests/requirements-reference-nodeps.txt). The README's test command:

    python3 tests/install_deps.py && python3 -m pytest -q

torch is only the tests' reference; rvc-convert never needs it to read, convert or run a model.
PyPI's Linux torch wheels depend on ~3 GB of NVIDIA CUDA packages, so on Linux torch comes from
PyTorch's CPU-only index (RVC_TORCH_INDEX overrides it, e.g. for a mirror). A torch that is
already importable is kept as it is. Exit status: 0 installed, 1 a step failed (one line says which
and what to do).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TORCH_VERSION = "2.13.0"  # the version the suite is checked with
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
REFERENCE = REPO / "tests" / "requirements-reference.txt"
REFERENCE_NO_DEPS = REPO / "tests" / "requirements-reference-nodeps.txt"


def pip_install(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, check=True)


def install_torch() -> None:
    if importlib.util.find_spec("torch") is not None:
        print("torch is already installed; keeping it", flush=True)
        return
    if sys.platform.startswith("linux"):
        index = os.environ.get("RVC_TORCH_INDEX", CPU_INDEX)
        # --retries/--timeout: an unreachable index fails in seconds instead of minutes
        pip_install("--index-url", index, "--retries", "1", "--timeout", "30", f"torch=={TORCH_VERSION}")
    # elsewhere (macOS, Windows) PyPI's torch has no CUDA packages; the [test] extra names it


def requirement_lines(path: Path) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def main() -> int:
    steps = [
        ("PyTorch's CPU-only build", install_torch, f"install it yourself: pip install torch=={TORCH_VERSION} --index-url {CPU_INDEX}"),
        ("the [test] extra", lambda: pip_install("-e", f"{REPO}[test]"), 'run: python3 -m pip install -e ".[test]"'),
    ]
    if requirement_lines(REFERENCE):
        steps.append((REFERENCE.name, lambda: pip_install("-r", str(REFERENCE)), f"run: python3 -m pip install -r {REFERENCE}"))
    if requirement_lines(REFERENCE_NO_DEPS):
        # they declare torchaudio, whose wheels pin another torch build (and CUDA): no dependencies
        steps.append((REFERENCE_NO_DEPS.name, lambda: pip_install("--no-deps", "-r", str(REFERENCE_NO_DEPS)), f"run: python3 -m pip install --no-deps -r {REFERENCE_NO_DEPS}"))
    for what, step, fix in steps:
        try:
            step()
        except subprocess.CalledProcessError as error:
            print(f"install_deps: installing {what} failed (pip exit {error.returncode}); {fix}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
