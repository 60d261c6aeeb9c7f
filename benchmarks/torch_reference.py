"""Independent PyTorch forwards of the three RVC networks, loading the *source* checkpoints.

These are the baselines the benchmarks time the MLX runtime against, and they are proven to
compute what upstream computes (tests/test_torch_reference.py checks them against the golden
references). They are written from docs/synthesizer_format.md ("Inference") and
docs/hubert_rmvpe_format.md ("HuBERT forward", "RMVPE forward") only, in plain functional torch (F.conv1d, ...),
on the source key names, so they share nothing with the converter or the MLX runtime:

* TorchSynthesizer: RVC net_g inference (text encoder with windowed relative attention,
  reverse coupling flow, NSF-HiFi-GAN / HiFi-GAN generator), v1/v2, f0/nono, 4- or 5-stage,
  classic or parametrizations weight-norm spelling; deterministic zero-noise mode (or supplied
  noise).
* TorchHubert: fairseq HuBERT base / ContentVec (fairseq `.pt` or Hugging Face folder/.bin),
  eval mode; RVC v1 / v2 features.
* TorchRMVPE: RVC's RMVPE (E2E U-Net + BiGRU) from a bare state dict, log-mel front end in
  torch, RVC's zero padding of the mel, f0 decode.

    from torch_reference import TorchSynthesizer
    audio = TorchSynthesizer("model.pth").infer(phone, phone_lengths, pitch, pitchf, sid)
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# ------------------------------------------------------------------------ shared helpers


def weight_norm_fused(state: dict[str, torch.Tensor], dim: int = 0) -> dict[str, torch.Tensor]:
    """Replace every (g, v) pair, in either spelling, by the fused float32 `<module>.weight`."""
    fused: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = re.fullmatch(r"(.*)\.(?:weight_([gv])|parametrizations\.weight\.original([01]))", key)
        if match is None:
            fused[key] = value.float() if value.is_floating_point() else value
            continue
        role = match.group(2) or {"0": "g", "1": "v"}[match.group(3)]
        pairs.setdefault(match.group(1), {})[role] = value.float()
    for module, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            raise ValueError(f"{module}: weight norm needs both g and v, found only {sorted(pair)}")
        fused[f"{module}.weight"] = torch._weight_norm(pair["v"], pair["g"], dim)
    return fused


# ------------------------------------------------------------------------ synthesizer

WINDOW = 10  # relative-attention window (heads share one table)
SINE_AMP, NOISE_STD, PRIOR_SCALE = 0.1, 0.003, 0.66666
FLOW_COUPLINGS, WN_LAYERS, WN_KERNEL = 4, 3, 5


class TorchSynthesizer:
    """RVC SynthesizerTrnMs{256,768}NSFsid[_nono].infer on a WebUI/Applio export `.pth`."""

    def __init__(self, path: str | Path):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if "weight" not in checkpoint or "config" not in checkpoint:
            raise ValueError(f"{path}: not an RVC inference export (needs 'weight' and 'config')")
        self.w = weight_norm_fused(checkpoint["weight"])
        cfg = list(checkpoint["config"])
        self.inter, self.hidden, self.filter = cfg[2], cfg[3], cfg[4]
        self.n_heads, self.n_layers, self.ffn_kernel = cfg[5], cfg[6], cfg[7]
        self.rb_kernels, self.rb_dilations = list(cfg[10]), [list(d) for d in cfg[11]]
        self.rates, self.up_kernels = list(cfg[12]), list(cfg[14])
        self.sample_rate = int(cfg[17])
        self.hop = math.prod(self.rates)
        f0 = checkpoint.get("f0", 1)
        self.f0 = str(f0).lower() in ("1", "true")
        if self.f0 != ("enc_p.emb_pitch.weight" in self.w):
            raise ValueError(f"{path}: f0 flag {f0!r} disagrees with the weights")

    # -- building blocks, [B, C, T] layout as upstream

    def conv(self, name: str, x: torch.Tensor, **kw) -> torch.Tensor:
        return F.conv1d(x, self.w[f"{name}.weight"], self.w.get(f"{name}.bias"), **kw)

    def layer_norm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """LayerNorm over the channel axis of [B, C, T] (gamma/beta names)."""
        y = F.layer_norm(x.transpose(1, 2), (x.shape[1],), self.w[f"{name}.gamma"], self.w[f"{name}.beta"], 1e-5)
        return y.transpose(1, 2)

    def attention(self, prefix: str, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        d = c // self.n_heads

        def heads(y: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, H, T, D]
            return y.view(b, self.n_heads, d, t).transpose(2, 3)

        q = heads(self.conv(f"{prefix}.conv_q", x)) / math.sqrt(d)
        k, v = heads(self.conv(f"{prefix}.conv_k", x)), heads(self.conv(f"{prefix}.conv_v", x))
        rel_k, rel_v = self.w[f"{prefix}.emb_rel_k"][0], self.w[f"{prefix}.emb_rel_v"][0]  # [2W+1, D]
        rel_logits = q @ rel_k.T  # [B, H, T, 2W+1]: q_i . rel_k[r], meant for key j = i + r - W
        scores = q @ k.transpose(2, 3)
        # relative slot r lies on the diagonal j - i = r - W of the [T, T] scores (none outside the window)
        for r in range(2 * WINDOW + 1):
            offset = r - WINDOW
            if abs(offset) >= t:
                continue
            rows = slice(0, t - offset) if offset >= 0 else slice(-offset, t)
            torch.diagonal(scores, offset, -2, -1).add_(rel_logits[:, :, rows, r])
        pair = mask[:, :, :, None] * mask[:, :, None, :]  # [B, 1, T, T]
        p = torch.softmax(scores.masked_fill(pair == 0, -1e4), dim=-1)
        # p_rel[i, r] = p[i, i + r - W] (0 where that key is outside [0, T)): read back off the diagonals
        p_rel = p.new_zeros(b, self.n_heads, t, 2 * WINDOW + 1)
        for r in range(2 * WINDOW + 1):
            offset = r - WINDOW
            if abs(offset) >= t:
                continue
            rows = slice(0, t - offset) if offset >= 0 else slice(-offset, t)
            p_rel[:, :, rows, r] = torch.diagonal(p, offset, -2, -1)
        out = p @ v + p_rel @ rel_v  # [B, H, T, D]
        return self.conv(f"{prefix}.conv_o", out.transpose(2, 3).reshape(b, c, t))

    def ffn(self, prefix: str, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        k = self.ffn_kernel
        pad = ((k - 1) // 2, k // 2)
        x = torch.relu(self.conv(f"{prefix}.conv_1", F.pad(x * mask, pad)))
        return self.conv(f"{prefix}.conv_2", F.pad(x * mask, pad)) * mask

    def text_encoder(self, phone, pitch, mask):
        x = F.linear(phone, self.w["enc_p.emb_phone.weight"], self.w["enc_p.emb_phone.bias"])
        if self.f0:
            x = x + F.embedding(pitch, self.w["enc_p.emb_pitch.weight"])
        x = F.leaky_relu(x * math.sqrt(self.hidden), 0.1).transpose(1, 2) * mask
        for i in range(self.n_layers):
            enc = "enc_p.encoder"
            x = self.layer_norm(f"{enc}.norm_layers_1.{i}", x + self.attention(f"{enc}.attn_layers.{i}", x, mask))
            x = self.layer_norm(f"{enc}.norm_layers_2.{i}", x + self.ffn(f"{enc}.ffn_layers.{i}", x, mask))
        stats = self.conv("enc_p.proj", x * mask) * mask
        return stats[:, : self.inter], stats[:, self.inter :]

    def wavenet(self, prefix: str, x, mask, g):
        h = self.hidden
        cond = self.conv(f"{prefix}.cond_layer", g)
        out = torch.zeros_like(x)
        for i in range(WN_LAYERS):
            a = self.conv(f"{prefix}.in_layers.{i}", x, padding=(WN_KERNEL - 1) // 2) + cond[:, 2 * h * i : 2 * h * (i + 1)]
            acts = torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:])
            r = self.conv(f"{prefix}.res_skip_layers.{i}", acts)
            if i < WN_LAYERS - 1:
                x = (x + r[:, :h]) * mask
                out = out + r[:, h:]
            else:
                out = out + r
        return out * mask

    def flow_reverse(self, x, mask, g):
        half = self.inter // 2
        for i in reversed(range(FLOW_COUPLINGS)):
            x = torch.flip(x, [1])  # the Flip module that follows coupling i in forward order
            name = f"flow.flows.{2 * i}"
            x0, x1 = x[:, :half], x[:, half:]
            h = self.wavenet(f"{name}.enc", self.conv(f"{name}.pre", x0) * mask, mask, g)
            m = self.conv(f"{name}.post", h) * mask
            x = torch.cat([x0, (x1 - m) * mask], dim=1)
        return x

    def harmonic_source(self, pitchf: torch.Tensor, source_noise: torch.Tensor | None) -> torch.Tensor:
        """tanh(l_linear(sine·uv + noise)) as [B, 1, T·hop]; the phase accumulates in float64."""
        f0 = pitchf.double()
        step = torch.repeat_interleave(torch.remainder(f0 / self.sample_rate, 1.0), self.hop, dim=1)
        phase = torch.remainder(torch.cumsum(step, dim=1), 1.0)
        uv = torch.repeat_interleave((f0 > 0).double(), self.hop, dim=1)
        e = SINE_AMP * torch.sin(2 * math.pi * phase) * uv
        if source_noise is not None:
            e = e + (NOISE_STD * uv + SINE_AMP / 3 * (1 - uv)) * source_noise.reshape(e.shape).double()
        e = e.float()[..., None]  # [B, N, 1]
        har = torch.tanh(F.linear(e, self.w["dec.m_source.l_linear.weight"], self.w["dec.m_source.l_linear.bias"]))
        return har.transpose(1, 2)

    def resblock(self, n: int, x, kernel: int, dilations: list[int]):
        for j, d in enumerate(dilations):
            t = self.conv(f"dec.resblocks.{n}.convs1.{j}", F.leaky_relu(x, 0.1), dilation=d, padding=d * (kernel - 1) // 2)
            t = self.conv(f"dec.resblocks.{n}.convs2.{j}", F.leaky_relu(t, 0.1), padding=(kernel - 1) // 2)
            x = x + t
        return x

    def generator(self, x, g, har):
        x = self.conv("dec.conv_pre", x, padding=3) + self.conv("dec.cond", g)
        n_kernels = len(self.rb_kernels)
        for i, (u, k) in enumerate(zip(self.rates, self.up_kernels)):
            x = F.leaky_relu(x, 0.1)
            x = F.conv_transpose1d(x, self.w[f"dec.ups.{i}.weight"], self.w[f"dec.ups.{i}.bias"], stride=u, padding=(k - u) // 2)
            if har is not None:
                s = math.prod(self.rates[i + 1 :])
                kw = {"stride": s, "padding": s // 2} if s > 1 else {}
                x = x + self.conv(f"dec.noise_convs.{i}", har, **kw)
            total = 0
            for j, (kernel, dilations) in enumerate(zip(self.rb_kernels, self.rb_dilations)):
                total = total + self.resblock(i * n_kernels + j, x, kernel, dilations)
            x = total / n_kernels
        x = self.conv("dec.conv_post", F.leaky_relu(x, 0.01), padding=3)  # default slope here
        return torch.tanh(x)

    @torch.inference_mode()
    def infer(self, phone, phone_lengths, pitch=None, pitchf=None, sid=0, noise: dict | None = None) -> torch.Tensor:
        """Audio [B, 1, T·hop]. Inputs as upstream (numpy or torch): phone [B, T, 256|768],
        phone_lengths [B], pitch [B, T] bins, pitchf [B, T] Hz, sid [B]. noise None = the
        deterministic mode (every draw 0); or {"prior": [B, inter, T], "source": [B, T·hop, 1]}."""
        phone = torch.as_tensor(np.asarray(phone), dtype=torch.float32)
        b, t, _ = phone.shape
        lengths = torch.as_tensor(np.asarray(phone_lengths)).reshape(-1)
        mask = (torch.arange(t)[None, :] < lengths[:, None]).float()[:, None, :]  # [B, 1, T]
        sid = torch.as_tensor(np.asarray(sid), dtype=torch.long).reshape(-1)
        g = F.embedding(sid, self.w["emb_g.weight"])[:, :, None]  # [B, gin, 1]
        pitch_t = torch.as_tensor(np.asarray(pitch), dtype=torch.long) if self.f0 else None
        m_p, logs_p = self.text_encoder(phone, pitch_t, mask)
        z_p = m_p * mask
        if noise is not None and "prior" in noise:
            z_p = (m_p + torch.exp(logs_p) * torch.as_tensor(np.asarray(noise["prior"])) * PRIOR_SCALE) * mask
        z = self.flow_reverse(z_p, mask, g)
        har = None
        if self.f0:
            source_noise = None if noise is None or "source" not in noise else torch.as_tensor(np.asarray(noise["source"]))
            har = self.harmonic_source(torch.as_tensor(np.asarray(pitchf), dtype=torch.float32), source_noise)
        return self.generator(z * mask, g, har)


# ------------------------------------------------------------------------ HuBERT / ContentVec

# Hugging Face ContentVec names -> fairseq names (docs/hubert_rmvpe_format.md, "Naming"); values unchanged.
HF_TO_FAIRSEQ = (
    (r"masked_spec_embed", "mask_emb"),
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"feature_extractor\.conv_layers\.0\.layer_norm\.", "feature_extractor.conv_layers.0.2."),
    (r"feature_projection\.layer_norm\.", "layer_norm."),
    (r"feature_projection\.projection\.", "post_extract_proj."),
    (r"encoder\.pos_conv_embed\.conv\.", "encoder.pos_conv.0."),
    (r"encoder\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"encoder\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"encoder\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
)


class _FairseqDictionary:
    """Inert stand-in for the one non-tensor global in hubert_base.pt's task_state."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {})


def _load_hubert_state(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(fairseq-named float32 state, model cfg) from a fairseq .pt, an HF .bin/.safetensors or folder."""
    if path.is_dir() or path.suffix in (".bin", ".safetensors"):
        folder = path if path.is_dir() else path.parent
        file = path if not path.is_dir() else next(p for p in (folder / "pytorch_model.bin", folder / "model.safetensors") if p.exists())
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(file)
        else:
            raw = torch.load(file, map_location="cpu", weights_only=True)
        hf = json.loads((folder / "config.json").read_text())
        state = {}
        for key, value in raw.items():
            for pattern, replacement in HF_TO_FAIRSEQ:
                key = re.sub(f"^{pattern}", replacement, key)
            state[key] = value
        cfg = {
            "conv_layers": list(zip(hf["conv_dim"], hf["conv_kernel"], hf["conv_stride"])),
            "heads": hf["num_attention_heads"],
            "pos_groups": hf["num_conv_pos_embedding_groups"],
            "eps": hf.get("layer_norm_eps", 1e-5),
        }
        return state, cfg
    with torch.serialization.safe_globals([(_FairseqDictionary, "fairseq.data.dictionary.Dictionary")]):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = checkpoint["cfg"]["model"]
    layers = []
    for term in model["conv_feature_layers"].split("+"):  # "[(512,10,5)] + [(512,3,2)] * 4 + ..."
        body, _, times = term.partition("*")
        layers += [tuple(int(v) for v in body.strip().strip("[]()").split(","))] * int(times or 1)
    cfg = {"conv_layers": layers, "heads": model["encoder_attention_heads"], "pos_groups": model["conv_pos_groups"], "eps": 1e-5}
    return dict(checkpoint["model"]), cfg


class TorchHubert:
    """fairseq HubertModel (post-LN base, eval) on fairseq or HF ContentVec weights."""

    def __init__(self, path: str | Path):
        state, self.cfg = _load_hubert_state(Path(path))
        self.w = {k: v.float() for k, v in state.items() if not re.search(r"pos_conv\.0\.(weight_[gv]|parametrizations)", k)}
        pos = {k: v for k, v in state.items() if k.startswith("encoder.pos_conv.0.")}
        # the positional conv's weight norm runs per kernel tap (dim 2), unlike the synthesizer's
        self.w.update(weight_norm_fused(pos, dim=2))
        self.n_layers = 1 + max(int(m.group(1)) for k in self.w if (m := re.match(r"encoder\.layers\.(\d+)\.", k)))

    def linear(self, name: str, x):
        return F.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def layer_norm(self, name: str, x):
        return F.layer_norm(x, (x.shape[-1],), self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.cfg["eps"])

    @torch.inference_mode()
    def run(self, audio, output_layer: int | None = None) -> dict[str, torch.Tensor]:
        """conv_features, proj_features, pos_conv_out, hidden_states (list, [0] = after the encoder LN)."""
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32)).reshape(1, 1, -1)
        for i, (c, _, s) in enumerate(self.cfg["conv_layers"]):
            x = F.conv1d(x, self.w[f"feature_extractor.conv_layers.{i}.0.weight"], stride=s)
            if i == 0:  # GroupNorm(C, C): each channel over time
                x = F.group_norm(x, c, self.w["feature_extractor.conv_layers.0.2.weight"], self.w["feature_extractor.conv_layers.0.2.bias"], 1e-5)
            x = F.gelu(x)
        conv_features = x.transpose(1, 2)
        proj = self.linear("post_extract_proj", self.layer_norm("layer_norm", conv_features))
        weight = self.w["encoder.pos_conv.0.weight"]
        kernel = weight.shape[-1]
        pos = F.conv1d(proj.transpose(1, 2), weight, self.w["encoder.pos_conv.0.bias"], padding=kernel // 2, groups=self.cfg["pos_groups"])
        if kernel % 2 == 0:
            pos = pos[:, :, :-1]
        pos = F.gelu(pos).transpose(1, 2)
        x = self.layer_norm("encoder.layer_norm", proj + pos)
        hidden = [x]
        heads = self.cfg["heads"]
        for n in range(self.n_layers if output_layer is None else output_layer):
            p = f"encoder.layers.{n}"
            b, t, d = x.shape
            q = (self.linear(f"{p}.self_attn.q_proj", x) * (d // heads) ** -0.5).view(b, t, heads, -1).transpose(1, 2)
            k = self.linear(f"{p}.self_attn.k_proj", x).view(b, t, heads, -1).transpose(1, 2)
            v = self.linear(f"{p}.self_attn.v_proj", x).view(b, t, heads, -1).transpose(1, 2)
            a = (torch.softmax(q @ k.transpose(2, 3), dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
            x = self.layer_norm(f"{p}.self_attn_layer_norm", x + self.linear(f"{p}.self_attn.out_proj", a))
            h = self.linear(f"{p}.fc2", F.gelu(self.linear(f"{p}.fc1", x)))
            x = self.layer_norm(f"{p}.final_layer_norm", x + h)
            hidden.append(x)
        return {"conv_features": conv_features, "proj_features": proj, "pos_conv_out": pos, "hidden_states": hidden}

    def extract_features(self, audio, version: str = "v2") -> torch.Tensor:
        """RVC's features at 50 fps: v2 = output of the last layer; v1 = final_proj(layer 9)."""
        if version == "v2":
            return self.run(audio)["hidden_states"][-1]
        with torch.inference_mode():
            return self.linear("final_proj", self.run(audio, output_layer=9)["hidden_states"][9])


# ------------------------------------------------------------------------ RMVPE

MEL = {"sample_rate": 16000, "n_fft": 1024, "hop": 160, "n_mels": 128, "fmin": 30.0, "fmax": 8000.0, "clamp": 1e-5}
CENTS_BIN0, CENTS_STEP, THRESHOLD = 1997.3794084376191, 20.0, 0.03


def htk_slaney_mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """(n_mels, n_fft//2+1) triangles on the HTK mel scale, each scaled to unit area (2/width in Hz)."""
    to_mel = lambda hz: 2595.0 * torch.log10(1.0 + hz / 700.0)  # noqa: E731
    edges_hz = 700.0 * (10.0 ** (torch.linspace(to_mel(torch.tensor(fmin, dtype=torch.float64)), to_mel(torch.tensor(fmax, dtype=torch.float64)), n_mels + 2, dtype=torch.float64) / 2595.0) - 1.0)
    bins_hz = torch.linspace(0, sr / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None] - lower) / (centre - lower)
    falling = (upper - bins_hz[None]) / (upper - centre)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return (triangles * (2.0 / (upper - lower))).float()


class TorchRMVPE:
    """RVC's RMVPE: E2E(n_blocks, n_gru, (2, 2)) state dict; sizes are read from the tensors."""

    def __init__(self, path: str | Path):
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.w = {k: v.float() for k, v in state.items() if not k.endswith("num_batches_tracked")}
        self.levels = {
            part: 1 + max(int(m.group(1)) for k in self.w if (m := re.match(rf"unet\.{part}\.layers\.(\d+)\.", k)))
            for part in ("encoder", "intermediate", "decoder")
        }
        self.blocks = 1 + max(int(m.group(1)) for k in self.w if (m := re.match(r"unet\.encoder\.layers\.0\.conv\.(\d+)\.", k)))
        hidden = self.w["fc.0.gru.weight_hh_l0"].shape[1]
        self.gru = torch.nn.GRU(self.w["fc.0.gru.weight_ih_l0"].shape[1], hidden, batch_first=True, bidirectional=True)
        self.gru.load_state_dict({k[len("fc.0.gru.") :]: v for k, v in self.w.items() if k.startswith("fc.0.gru.")})
        self.gru.eval()
        self.mel_basis = htk_slaney_mel_basis(MEL["sample_rate"], MEL["n_fft"], MEL["n_mels"], MEL["fmin"], MEL["fmax"])
        self.window = torch.hann_window(MEL["n_fft"])  # periodic

    def mel(self, audio) -> torch.Tensor:
        """(1, 128, 1 + L//160) natural-log mel of |STFT| (reflect-centred), clamped at 1e-5."""
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32)).reshape(1, -1)
        spec = torch.stft(x, MEL["n_fft"], MEL["hop"], MEL["n_fft"], self.window, center=True, pad_mode="reflect", return_complex=True)
        return torch.log(torch.clamp(self.mel_basis @ spec.abs(), min=MEL["clamp"]))

    def bn(self, name: str, x):
        w = self.w
        return F.batch_norm(x, w[f"{name}.running_mean"], w[f"{name}.running_var"], w[f"{name}.weight"], w[f"{name}.bias"], False, 0.0, 1e-5)

    def conv_block_res(self, name: str, x):
        h = torch.relu(self.bn(f"{name}.conv.1", F.conv2d(x, self.w[f"{name}.conv.0.weight"], padding=1)))
        h = torch.relu(self.bn(f"{name}.conv.4", F.conv2d(h, self.w[f"{name}.conv.3.weight"], padding=1)))
        shortcut = f"{name}.shortcut.weight"
        return h + (F.conv2d(x, self.w[shortcut], self.w[f"{name}.shortcut.bias"]) if shortcut in self.w else x)

    @torch.inference_mode()
    def salience_from_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """(frames, 360) salience for a (1, 128, frames) log-mel; the mel is zero-padded to a multiple of 32 (RVC)."""
        frames = mel.shape[-1]
        mel = F.pad(mel, (0, -frames % 32))
        x = self.bn("unet.encoder.bn", mel.transpose(1, 2)[:, None])  # (1, 1, T, 128)
        skips = []
        for i in range(self.levels["encoder"]):
            for j in range(self.blocks):
                x = self.conv_block_res(f"unet.encoder.layers.{i}.conv.{j}", x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        for i in range(self.levels["intermediate"]):
            for j in range(self.blocks):
                x = self.conv_block_res(f"unet.intermediate.layers.{i}.conv.{j}", x)
        for i in range(self.levels["decoder"]):
            p = f"unet.decoder.layers.{i}"
            x = F.conv_transpose2d(x, self.w[f"{p}.conv1.0.weight"], stride=2, padding=1, output_padding=1)
            x = torch.cat([torch.relu(self.bn(f"{p}.conv1.1", x)), skips[-1 - i]], dim=1)
            for j in range(self.blocks):
                x = self.conv_block_res(f"{p}.conv2.{j}", x)
        x = F.conv2d(x, self.w["cnn.weight"], self.w["cnn.bias"], padding=1)  # (1, 3, T, 128)
        x = x.transpose(1, 2).flatten(2)  # (1, T, 3·128), channel-major
        x = F.linear(self.gru(x)[0], self.w["fc.1.weight"], self.w["fc.1.bias"])
        return torch.sigmoid(x)[0, :frames]

    def f0(self, audio, threshold: float = THRESHOLD) -> np.ndarray:
        """Hz per 10 ms frame, 0 = unvoiced (RVC's decode: 9-bin weighted cents around the argmax)."""
        salience = self.salience_from_mel(self.mel(audio)).double().numpy()
        frames, bins = salience.shape
        cents = np.pad(CENTS_STEP * np.arange(bins) + CENTS_BIN0, 4)
        padded = np.pad(salience, ((0, 0), (4, 4)))
        window = salience.argmax(axis=1)[:, None] + np.arange(9)[None]
        weights = np.take_along_axis(padded, window, axis=1)
        local = (weights * cents[window]).sum(1) / weights.sum(1)
        local[salience.max(axis=1) <= threshold] = 0.0
        hz = 10.0 * 2.0 ** (local / 1200.0)
        hz[hz == 10.0] = 0.0
        return hz
