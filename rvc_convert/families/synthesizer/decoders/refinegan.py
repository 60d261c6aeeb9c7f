"""Applio's "RefineGAN" decoder: recognised by its weights (`dec.downsample_blocks.*`) or the file's
`vocoder` field, and refused until a module here converts it (docs/synthesizer_format.md)."""

from __future__ import annotations

from . import Decoder, register_decoder


@register_decoder
class RefineGAN(Decoder):
    name = "RefineGAN"
    signature = ("dec.downsample_blocks.",)
    supported = False
    refusal = "decoder keys and math differ from HiFi-GAN"
