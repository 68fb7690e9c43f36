#!/usr/bin/env python3
"""Generates Tests/Fixtures/gan.safetensors with PyTorch, once: reference numbers for CUT and the gradient penalties.

- cut.*: the anti-aliased ResNet generator of taesung/contrastive-unpaired-translation (ngf 4, 2 blocks, instance
  norm; written here from its definition: blur-pool Downsample, replicate-padded transposed-blur Upsample) with its
  state dict under the reference's keys (model.N..., model.N.filt), an input, the output and the features at layers
  0, 4, 8, 12 (what PatchNCE reads).
- nce.*: PatchNCE (negatives from the same image, diagonal −10, τ 0.07) of random unit queries and keys for 2 images
  × 5 patches: the loss and the queries' gradient.
- gp.*: WGAN-GP's penalty (λ 10, fixed α) and R1 (γ 2) of a small critic (conv 4×4 s2 p1, leaky 0.2, conv 4×4 s1 p1,
  instance norm, leaky, conv 3×3) on fixed real and fake images: the penalties and their gradients in every critic
  weight (second order, create_graph=True).
Run: python3 tools/make_gan_fixtures.py  (needs torch; the Swift tests read the committed file and never need it)
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from fixture_file import write_safetensors

torch.manual_seed(0)
tensors = {}


def binomial(size, channels, scale):
    row = torch.tensor([1.0, 2.0, 1.0] if size == 3 else [1.0, 3.0, 3.0, 1.0])
    plane = row[:, None] * row[None, :]
    plane = plane / plane.sum() * scale
    return plane[None, None].repeat(channels, 1, 1, 1)


class Down(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.register_buffer("filt", binomial(3, channels, 1.0))

    def forward(self, x):
        return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class Up(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.register_buffer("filt", binomial(4, channels, 4.0))

    def forward(self, x):
        y = F.conv_transpose2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), self.filt, stride=2, padding=2, groups=x.shape[1])
        return y[:, :, 1:, 1:][:, :, :-1, :-1]


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
                                        nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


def generator(ngf=4, blocks=2):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(2):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, 2 * c, 3, 1, 1), nn.InstanceNorm2d(2 * c), nn.ReLU(True), Down(2 * c)]
    layers += [Block(4 * ngf) for _ in range(blocks)]
    for i in range(2):
        c = ngf * 2 ** (2 - i)
        layers += [Up(c), nn.Conv2d(c, c // 2, 3, 1, 1), nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


# CUT generator.
g = generator()
model = nn.Module()
model.model = g
for key, value in model.state_dict().items():
    tensors[f"cut.state.{key}"] = value
x = torch.randn(1, 3, 16, 16)
tensors["cut.input"] = x
with torch.no_grad():
    tensors["cut.output"] = g(x)
    feat = x
    for index, layer in enumerate(g):
        feat = layer(feat)
        if index in (0, 4, 8, 12):
            tensors[f"cut.feature{index}"] = feat

# PatchNCE.
def patch_nce(q, k, batch, tau):
    k = k.detach()
    n, dim = q.shape
    l_pos = (q * k).sum(1, keepdim=True)
    qb, kb = q.view(batch, -1, dim), k.view(batch, -1, dim)
    p = qb.shape[1]
    l_neg = torch.bmm(qb, kb.transpose(2, 1))
    l_neg.masked_fill_(torch.eye(p, dtype=torch.bool)[None], -10.0)
    out = torch.cat((l_pos, l_neg.view(-1, p)), dim=1) / tau
    return F.cross_entropy(out, torch.zeros(n, dtype=torch.long), reduction="none").mean()


q = F.normalize(torch.randn(10, 6), dim=1)
k = F.normalize(torch.randn(10, 6), dim=1)
tensors["nce.queries"], tensors["nce.keys"] = q.clone(), k.clone()
q.requires_grad_(True)
loss = patch_nce(q, k, 2, 0.07)
loss.backward()
tensors["nce.loss"] = loss.detach().reshape(1)
tensors["nce.grad_queries"] = q.grad

# Gradient penalties of a small critic.
critic = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 8, 4, 1, 1), nn.InstanceNorm2d(8), nn.LeakyReLU(0.2),
                       nn.Conv2d(8, 1, 3))
for key, value in critic.state_dict().items():
    tensors[f"gp.state.{key}"] = value
real, fake = torch.randn(2, 3, 12, 12), torch.randn(2, 3, 12, 12)
alpha = torch.rand(2, 1, 1, 1)
tensors["gp.real"], tensors["gp.fake"], tensors["gp.alpha"] = real, fake, alpha.reshape(2)
mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
gradient = torch.autograd.grad(critic(mixed), mixed, grad_outputs=torch.ones_like(critic(mixed)), create_graph=True)[0]
penalty = (((gradient.view(2, -1) + 1e-16).norm(2, dim=1) - 1) ** 2).mean() * 10
critic.zero_grad()
penalty.backward()
tensors["gp.penalty"] = penalty.detach().reshape(1)
for key, value in critic.named_parameters():
    tensors[f"gp.grad.{key}"] = value.grad.clone() if value.grad is not None else torch.zeros_like(value)
real_input = real.clone().requires_grad_(True)
gradient = torch.autograd.grad(critic(real_input).sum(), real_input, create_graph=True)[0]
r1 = gradient.pow(2).view(2, -1).sum(1).mean() * (2.0 / 2)
critic.zero_grad()
r1.backward()
tensors["r1.penalty"] = r1.detach().reshape(1)
for key, value in critic.named_parameters():
    tensors[f"r1.grad.{key}"] = value.grad.clone() if value.grad is not None else torch.zeros_like(value)

write_safetensors(os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "gan.safetensors"), tensors,
                  {"generator": "tools/make_gan_fixtures.py", "torch": torch.__version__})
