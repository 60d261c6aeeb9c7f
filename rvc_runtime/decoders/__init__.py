"""Applio's other synthesizer decoders, selected by a converted file's `vocoder` metadata.

Importing this package registers them with `rvc_runtime.synthesizer.DECODERS` (the package's
__init__ does), so `Synthesizer.from_file` builds whichever decoder the file names.
"""

from ..synthesizer import register_decoder
from .mrf_hifigan import MRFGenerator
from .refinegan import RefineGANGenerator

register_decoder("MRF HiFi-GAN", MRFGenerator)
register_decoder("RefineGAN", RefineGANGenerator)

__all__ = ["MRFGenerator", "RefineGANGenerator"]
