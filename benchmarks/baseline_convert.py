"""The plain converter bench_convert.py measures rvc-convert against.

What a short hand-written script does: torch.load(weights_only=True), fuse weight norm in torch,
rename to the MLX Swift names (docs/synthesizer_format.md, "Target naming"), transpose by name, cast to fp16, save with
safetensors. No detection, no plan, no checks, no atomic write. Its output holds the same tensors
as `rvc-convert MODEL --target ios` (bench_convert.py compares them).

    python benchmarks/baseline_convert.py MODEL.pth OUT.safetensors [--writer torch|numpy]
"""

from __future__ import annotations

import argparse
import json
import re

import torch

RENAMES = (
    (r"^dec\.ups\.(\d+)\.", r"dec.up_\1."),
    (r"^dec\.resblocks\.(\d+)\.convs1\.(\d+)\.", r"dec.resblock_\1.c1_\2."),
    (r"^dec\.resblocks\.(\d+)\.convs2\.(\d+)\.", r"dec.resblock_\1.c2_\2."),
    (r"^dec\.noise_convs\.(\d+)\.", r"dec.noise_conv_\1."),
    (r"^enc_p\.encoder\.attn_layers\.(\d+)\.", r"enc_p.encoder.attn_\1."),
    (r"^enc_p\.encoder\.ffn_layers\.(\d+)\.", r"enc_p.encoder.ffn_\1."),
    (r"^enc_p\.encoder\.norm_layers_([12])\.(\d+)\.gamma$", r"enc_p.encoder.norm\1_\2.weight"),
    (r"^enc_p\.encoder\.norm_layers_([12])\.(\d+)\.beta$", r"enc_p.encoder.norm\1_\2.bias"),
    (r"^flow\.flows\.(\d+)\.", lambda m: f"flow.flow_{int(m.group(1)) // 2}."),
    (r"\.in_layers\.(\d+)\.", r".in_layer_\1."),
    (r"\.res_skip_layers\.(\d+)\.", r".res_skip_layer_\1."),
)


def target_name(key: str) -> str:
    for pattern, replacement in RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def mlx_layout(key: str, tensor: torch.Tensor) -> torch.Tensor:
    """Conv1d (O, I, K) -> (O, K, I); ConvTranspose1d (I, O, K) -> (O, K, I); the rest unchanged."""
    if tensor.ndim != 3 or ".emb_rel_" in key:
        return tensor
    if key.startswith("dec.ups."):
        return tensor.permute(1, 2, 0)
    return tensor.permute(0, 2, 1)


def convert(source: str, destination: str, writer: str = "torch") -> int:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    weights = checkpoint["weight"]
    out: dict[str, torch.Tensor] = {}
    for key, tensor in weights.items():
        if key.endswith(".weight_v"):
            continue
        if key.endswith(".weight_g"):
            module = key[: -len(".weight_g")]
            tensor = torch._weight_norm(weights[f"{module}.weight_v"].float(), tensor.float(), 0)
            key = f"{module}.weight"
        out[target_name(key)] = mlx_layout(key, tensor).to(torch.float16).contiguous()
    metadata = {"config": json.dumps(checkpoint["config"]), "f0": str(checkpoint.get("f0", 1)), "version": checkpoint.get("version", "v1")}
    if writer == "torch":
        from safetensors.torch import save_file

        save_file(out, destination, metadata=metadata)
    else:
        from safetensors.numpy import save_file

        save_file({k: v.numpy() for k, v in out.items()}, destination, metadata=metadata)
    return len(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("destination")
    parser.add_argument("--writer", choices=("torch", "numpy"), default="torch")
    args = parser.parse_args()
    print(convert(args.source, args.destination, args.writer), "tensors")
