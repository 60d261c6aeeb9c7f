"""Applio's "MRF HiFi-GAN" decoder: recognised by its weights (`dec.mrfs.*`, `dec.upsamples.*`) or
the file's `vocoder` field, and refused until a module here converts it (docs/synthesizer_format.md)."""

from __future__ import annotations

from . import Decoder, register_decoder


@register_decoder
class MRFHiFiGAN(Decoder):
    name = "MRF HiFi-GAN"
    signature = ("dec.mrfs.", "dec.upsamples.")
    supported = False
    refusal = "decoder keys and math differ from HiFi-GAN"
