#!/usr/bin/env python3
"""Generates Tests/Fixtures/diffusion.safetensors with PyTorch, once.

Not used by the product or the tests at run time. Run: python3 tools/make_diffusion_fixtures.py
A tiny KL autoencoder written here after CompVis/latent-diffusion's semantics (GroupNorm(32, eps 1e-6), swish, ResNet
blocks with a 1x1 shortcut, single-head attention, pad-(0,1,0,1) stride-2 downsampling, nearest+conv upsampling,
quant_conv / post_quant_conv, the clamped diagonal Gaussian), with its state_dict keys, random weights, an input,
the encoder moments, the reconstruction through the posterior mean, the KL, and the input gradient of an L1 loss.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from fixture_file import write_safetensors

torch.manual_seed(0)


def norm(channels):
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.dropout, self.conv2 = norm(cout), nn.Dropout(0.0), nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)
        self.changes = cin != cout

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.nin_shortcut(x) if self.changes else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).permute(0, 2, 1)
        k = self.k(n).reshape(b, c, h * w)
        weights = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)
        v = self.v(n).reshape(b, c, h * w)
        out = torch.bmm(v, weights.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = ResnetBlock(c, c), AttnBlock(c), ResnetBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, ch, mult, blocks, attn_res, res, cin, z):
        super().__init__()
        self.conv_in = nn.Conv2d(cin, ch, 3, 1, 1)
        self.down = nn.ModuleList()
        c, side = ch, res
        for level, m in enumerate(mult):
            d = nn.Module()
            d.block, d.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(blocks):
                d.block.append(ResnetBlock(c, ch * m))
                c = ch * m
                if side in attn_res:
                    d.attn.append(AttnBlock(c))
            if level != len(mult) - 1:
                d.downsample = Down(c)
                side //= 2
            self.down.append(d)
        self.mid, self.norm_out, self.conv_out = Mid(c), norm(c), nn.Conv2d(c, 2 * z, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for d in self.down:
            for i, block in enumerate(d.block):
                h = block(h)
                if len(d.attn) > 0:
                    h = d.attn[i](h)
            if hasattr(d, "downsample"):
                h = d.downsample(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, ch, mult, blocks, attn_res, res, cout, z):
        super().__init__()
        c, side = ch * mult[-1], res // 2 ** (len(mult) - 1)
        self.conv_in = nn.Conv2d(z, c, 3, 1, 1)
        self.mid = Mid(c)
        self.up = nn.ModuleList()
        for level in reversed(range(len(mult))):
            u = nn.Module()
            u.block, u.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(blocks + 1):
                u.block.append(ResnetBlock(c, ch * mult[level]))
                c = ch * mult[level]
                if side in attn_res:
                    u.attn.append(AttnBlock(c))
            if level != 0:
                u.upsample = Up(c)
                side *= 2
            self.up.insert(0, u)
        self.norm_out, self.conv_out = norm(c), nn.Conv2d(c, cout, 3, 1, 1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(range(len(self.up))):
            u = self.up[level]
            for i, block in enumerate(u.block):
                h = block(h)
                if len(u.attn) > 0:
                    h = u.attn[i](h)
            if hasattr(u, "upsample"):
                h = u.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, config):
        super().__init__()
        args = (config["channels"], config["multipliers"], config["blocks_per_level"], config["attention_resolutions"],
                config["resolution"])
        z = config["latent_channels"]
        self.encoder = Encoder(*args, config["image_channels"], z)
        self.decoder = Decoder(*args, config["image_channels"], z)
        self.quant_conv, self.post_quant_conv = nn.Conv2d(2 * z, 2 * z, 1), nn.Conv2d(z, z, 1)


config = {"channels": 32, "multipliers": [1, 2], "blocks_per_level": 1, "attention_resolutions": [8], "resolution": 16,
          "image_channels": 3, "latent_channels": 4}
model = AutoencoderKL(config)
with torch.no_grad():
    for name, p in model.named_parameters():
        if "norm" in name:  # not the identity, so a wrong norm shows
            p.add_(torch.randn_like(p) * 0.1)
tensors = {f"vae.{k}": v for k, v in model.state_dict().items()}
x = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_()
moments = model.quant_conv(model.encoder(x))
mean, logvar = torch.chunk(moments, 2, dim=1)
logvar = torch.clamp(logvar, -30.0, 20.0)
kl = 0.5 * torch.sum(mean ** 2 + torch.exp(logvar) - 1.0 - logvar, dim=[1, 2, 3])
reconstruction = model.decoder(model.post_quant_conv(mean))
(reconstruction - x).abs().mean().backward()
tensors.update({"input": x.detach(), "moments": moments.detach(), "kl": kl.detach(), "reconstruction": reconstruction.detach(),
                "input_gradient": x.grad})

write_safetensors(os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "diffusion.safetensors"), tensors, {"config": json.dumps(config, sort_keys=True), "torch": torch.__version__})
