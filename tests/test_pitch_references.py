"""The reference packages, installed without torchaudio (tests/requirements-reference*.txt), still
compute what they should: a harmonic tone of known frequency comes back at that frequency.

This also shows how the tests stand without torchaudio: its stand-in is importable but raises on any
use, so no reference result can come from it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from outputs import torch_single_thread
from pitch_reference import crepe_predict, fcpe_model, fcpe_rvc_f0, torchcrepe_module, torchfcpe_module
from pitch_signals import stepped_tone

TONE_HZ = 220.0
TONE_CENTS = 15.0  # CREPE returns bin centres 20 cents apart (+ torchcrepe's ±20-cent dither); FCPE interpolates


def median_cents(f0: np.ndarray) -> float:
    voiced = f0[10:-10][f0[10:-10] > 0]
    assert voiced.size > 0.9 * (f0.size - 20), "the steady tone should be voiced throughout"
    return float(1200 * np.log2(np.median(voiced) / TONE_HZ))


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_torchcrepe_finds_a_known_tone(capacity):
    audio = stepped_tone((TONE_HZ,), seconds_each=0.5 if capacity == "tiny" else 0.3)
    with torch_single_thread():
        f0, periodicity = crepe_predict(audio, capacity, "viterbi")
    error = median_cents(f0)
    print(f"\ntorchcrepe {capacity}: {TONE_HZ:g} Hz tone -> median {np.median(f0[10:-10]):.2f} Hz ({error:+.1f} cents), periodicity {np.median(periodicity):.2f}")
    assert abs(error) <= TONE_CENTS and np.median(periodicity) > 0.5


def test_torchfcpe_finds_a_known_tone():
    audio = stepped_tone((TONE_HZ,), seconds_each=0.5)
    with torch_single_thread():
        f0 = fcpe_rvc_f0(fcpe_model(), audio)
    error = median_cents(f0)
    print(f"\ntorchfcpe: {TONE_HZ:g} Hz tone -> median {np.median(f0[10:-10]):.2f} Hz ({error:+.1f} cents)")
    assert abs(error) <= TONE_CENTS


def test_torchaudio_is_never_used():
    """Whatever provides torchaudio here, the references' 16 kHz paths do not touch it; the
    stand-in (when it is the one imported) refuses to resample or load."""
    torchcrepe_module()
    torchfcpe_module()
    import torchaudio

    if getattr(torchaudio, "STAND_IN", False):
        with pytest.raises(RuntimeError, match="stand-in cannot resample"):
            fcpe_model().infer(torch.zeros(1, 4410), sr=44100)
        with pytest.raises(RuntimeError, match="stand-in cannot load audio"):
            torchcrepe_module().load.audio("speech.wav")
    else:
        pytest.skip("the real torchaudio is installed: its use cannot be told apart from here")
