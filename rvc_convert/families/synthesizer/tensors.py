"""The synthesizer's tensor list: every inference tensor of net_g (no enc_q), PyTorch layout,
weight norm fused to `.weight`; the decoder adds its `dec.*` part. Facts: docs/synthesizer_format.md."""

from __future__ import annotations

from .config import ATTENTION_WINDOW, FLOW_LAYERS, FLOW_WN_KERNEL, FLOW_WN_LAYERS, PHONE_DIMS, PITCH_BINS, SynthesizerConfig
from .decoders import decoder_named


def expected_tensors(cfg: SynthesizerConfig) -> dict[str, tuple[int, ...]]:
    t: dict[str, tuple[int, ...]] = {}
    hidden, inter, filt, gin = cfg.hidden_channels, cfg.inter_channels, cfg.filter_channels, cfg.gin_channels
    t["emb_g.weight"] = (cfg.spk_embed_dim, gin)
    t["enc_p.emb_phone.weight"] = (hidden, PHONE_DIMS[cfg.version])
    t["enc_p.emb_phone.bias"] = (hidden,)
    if cfg.f0:
        t["enc_p.emb_pitch.weight"] = (PITCH_BINS, hidden)
    head = hidden // cfg.n_heads
    for i in range(cfg.n_layers):
        prefix = f"enc_p.encoder.attn_layers.{i}"
        for conv in ("conv_q", "conv_k", "conv_v", "conv_o"):
            t[f"{prefix}.{conv}.weight"] = (hidden, hidden, 1)
            t[f"{prefix}.{conv}.bias"] = (hidden,)
        t[f"{prefix}.emb_rel_k"] = (1, 2 * ATTENTION_WINDOW + 1, head)
        t[f"{prefix}.emb_rel_v"] = (1, 2 * ATTENTION_WINDOW + 1, head)
        for norm in ("norm_layers_1", "norm_layers_2"):
            t[f"enc_p.encoder.{norm}.{i}.gamma"] = (hidden,)
            t[f"enc_p.encoder.{norm}.{i}.beta"] = (hidden,)
        ffn = f"enc_p.encoder.ffn_layers.{i}"
        t[f"{ffn}.conv_1.weight"] = (filt, hidden, cfg.kernel_size)
        t[f"{ffn}.conv_1.bias"] = (filt,)
        t[f"{ffn}.conv_2.weight"] = (hidden, filt, cfg.kernel_size)
        t[f"{ffn}.conv_2.bias"] = (hidden,)
    t["enc_p.proj.weight"] = (2 * inter, hidden, 1)
    t["enc_p.proj.bias"] = (2 * inter,)

    half = inter // 2
    for k in range(0, 2 * FLOW_LAYERS, 2):
        flow = f"flow.flows.{k}"
        t[f"{flow}.pre.weight"] = (hidden, half, 1)
        t[f"{flow}.pre.bias"] = (hidden,)
        for j in range(FLOW_WN_LAYERS):
            t[f"{flow}.enc.in_layers.{j}.weight"] = (2 * hidden, hidden, FLOW_WN_KERNEL)
            t[f"{flow}.enc.in_layers.{j}.bias"] = (2 * hidden,)
            width = hidden if j == FLOW_WN_LAYERS - 1 else 2 * hidden
            t[f"{flow}.enc.res_skip_layers.{j}.weight"] = (width, hidden, 1)
            t[f"{flow}.enc.res_skip_layers.{j}.bias"] = (width,)
        t[f"{flow}.enc.cond_layer.weight"] = (2 * hidden * FLOW_WN_LAYERS, gin, 1)
        t[f"{flow}.enc.cond_layer.bias"] = (2 * hidden * FLOW_WN_LAYERS,)
        t[f"{flow}.post.weight"] = (half, hidden, 1)
        t[f"{flow}.post.bias"] = (half,)
    decoder = decoder_named(cfg.vocoder)
    if decoder is None or not decoder.supported:
        raise ValueError(f"no supported decoder {cfg.vocoder!r}")  # detection refuses such files first
    return t | decoder.expected_tensors(cfg)
