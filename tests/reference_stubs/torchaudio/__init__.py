"""Test-only stand-in for torchaudio, put on sys.path by tests/pitch_reference.py only when the real
package is not installed.

torchcrepe and torchfcpe import torchaudio when they are imported, but neither uses it on the paths the
parity tests run: torchcrepe only loads audio files with it, torchfcpe only resamples with it when the
input rate differs from its model's 16 kHz. The real torchaudio wheel pins another torch build, so the
tests do without it. Anything that would actually call torchaudio raises, so a test can never pass
through this stand-in by accident.
"""

from __future__ import annotations

from . import transforms

__version__ = "0+rvc-convert-test-stand-in"
STAND_IN = True


def load(*_args, **_kwargs):
    raise RuntimeError("torchaudio.load called: the test stand-in cannot load audio (pass arrays, not files)")


__all__ = ["load", "transforms"]
