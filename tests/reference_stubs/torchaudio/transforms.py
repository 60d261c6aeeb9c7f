"""`torchaudio.transforms.Resample` stand-in: importable, never usable (see __init__.py)."""

from __future__ import annotations


class Resample:
    def __init__(self, *_args, **_kwargs):
        raise RuntimeError(
            "torchaudio.transforms.Resample called: the test stand-in cannot resample; "
            "feed the reference 16 kHz audio (its model rate) so it never needs to"
        )
