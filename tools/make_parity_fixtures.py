#!/usr/bin/env python3
"""Generates Tests/Fixtures/parity.safetensors with PyTorch, once.

Each case stores its inputs, parameters, the forward output and the gradients of sum(output * grad_output)
(names: "<case>.<tensor>"). Options of each case are in the file's metadata as JSON. The Swift tests read
the committed file and never need torch. Run: python3 tools/make_parity_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F
from fixture_file import write_safetensors

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
tensors = {}
options = {}


def rand(*shape, scale=1.0):
    return (torch.randn(tuple(shape), dtype=torch.float64) * scale).float()


def case(name, fn, inputs, opts=None, grad_of=None):
    """inputs: dict name -> tensor; grad_of: names whose gradients are stored."""
    leaves = {k: v.clone().requires_grad_(k in (grad_of or inputs.keys())) for k, v in inputs.items()}
    out = fn(**leaves)
    g = rand(*out.shape)
    (out * g).sum().backward()
    for k, v in inputs.items():
        tensors[f"{name}.{k}"] = v
        if leaves[k].grad is not None:
            tensors[f"{name}.grad_{k}"] = leaves[k].grad
    tensors[f"{name}.output"] = out.detach()
    tensors[f"{name}.grad_output"] = g
    options[name] = opts or {}


# Convolutions: both lowering strategies (shifted GEMM needs stride 1 and >= 16 input channels per group).
for name, (x_shape, w_shape, o) in {
    "conv_shifted": ((2, 16, 9, 8), (8, 16, 3, 3), dict(stride=1, padding=1, dilation=1, groups=1)),
    "conv_shifted_dilated_groups": ((1, 32, 10, 9), (4, 16, 3, 3), dict(stride=1, padding=2, dilation=2, groups=2)),
    "conv_shifted_7x7": ((1, 16, 12, 11), (3, 16, 7, 7), dict(stride=1, padding=0, dilation=1, groups=1)),
    "conv_pointwise": ((2, 5, 6, 7), (4, 5, 1, 1), dict(stride=1, padding=0, dilation=1, groups=1)),
    "conv_im2col_stride2": ((2, 3, 9, 8), (5, 3, 3, 3), dict(stride=2, padding=1, dilation=1, groups=1)),
    "conv_im2col_groups_dilated": ((1, 4, 8, 8), (6, 2, 3, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
    # Forward by Winograd F(2x2,3x3) (3x3, stride 1, >= 32 channels), odd sides so edge tiles are partial.
    "conv_winograd": ((2, 40, 9, 7), (36, 40, 3, 3), dict(stride=1, padding=1, dilation=1, groups=1)),
    "conv_winograd_unpadded": ((1, 32, 8, 11), (32, 32, 3, 3), dict(stride=1, padding=0, dilation=1, groups=1)),
}.items():
    case(name, lambda x, w, b, o=o: F.conv2d(x, w, b, **o),
         {"x": rand(*x_shape), "w": rand(*w_shape, scale=0.2), "b": rand(w_shape[0])}, o)

for name, (x_shape, w_shape, o) in {
    "conv_transpose_stride2": ((2, 8, 5, 4), (8, 6, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=1, dilation=1)),
    "conv_transpose_stride1_groups": ((1, 4, 6, 5), (4, 16, 3, 3), dict(stride=1, padding=1, output_padding=0, groups=2, dilation=1)),
    "conv_transpose_stride3_dilated": ((1, 3, 4, 4), (3, 2, 3, 3), dict(stride=3, padding=2, output_padding=1, groups=1, dilation=2)),
}.items():
    case(name, lambda x, w, b, o=o: F.conv_transpose2d(x, w, b, **o),
         {"x": rand(*x_shape), "w": rand(*w_shape, scale=0.2), "b": rand(w_shape[1] * o["groups"])}, o)

# Normalisations.
case("instance_norm", lambda x: F.instance_norm(x, eps=1e-5), {"x": rand(2, 3, 5, 6, scale=3) + 1})
case("instance_norm_affine", lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-5),
     {"x": rand(2, 3, 5, 6, scale=3), "w": rand(3), "b": rand(3)})
case("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b, eps=1e-5),
     {"x": rand(2, 4, 3, 5), "w": rand(4), "b": rand(4)}, {"groups": 2})
case("layer_norm", lambda x, w, b: F.layer_norm(x, (4, 5), w, b, eps=1e-5),
     {"x": rand(3, 4, 5), "w": rand(4, 5), "b": rand(4, 5)}, {"normalized_shape": [4, 5]})
rm, rv = rand(3), rand(3).abs() + 0.5
tensors["batch_norm_train.running_mean_before"], tensors["batch_norm_train.running_var_before"] = rm.clone(), rv.clone()
rm_t, rv_t = rm.clone(), rv.clone()
case("batch_norm_train", lambda x, w, b: F.batch_norm(x, rm_t, rv_t, w, b, training=True, momentum=0.1, eps=1e-5),
     {"x": rand(4, 3, 3, 2, scale=2), "w": rand(3), "b": rand(3)})
tensors["batch_norm_train.running_mean_after"], tensors["batch_norm_train.running_var_after"] = rm_t, rv_t
tensors["batch_norm_eval.running_mean"], tensors["batch_norm_eval.running_var"] = rm.clone(), rv.clone()
case("batch_norm_eval", lambda x, w, b: F.batch_norm(x, rm.clone(), rv.clone(), w, b, training=False, eps=1e-5),
     {"x": rand(2, 3, 3, 2), "w": rand(3), "b": rand(3)})

# Resampling and padding.
case("upsample_nearest", lambda x: F.interpolate(x, size=(7, 9), mode="nearest"), {"x": rand(1, 2, 3, 4)}, {"size": [7, 9]})
case("upsample_nearest_x2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), {"x": rand(2, 2, 3, 4)}, {"size": [6, 8]})
case("upsample_bilinear", lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=False),
     {"x": rand(1, 2, 3, 4)}, {"size": [7, 9]})
case("upsample_bilinear_down", lambda x: F.interpolate(x, size=(3, 2), mode="bilinear", align_corners=False),
     {"x": rand(1, 2, 7, 5)}, {"size": [3, 2]})
case("upsample_bilinear_align", lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True),
     {"x": rand(1, 2, 3, 4)}, {"size": [7, 9]})
case("pad_reflect", lambda x: F.pad(x, (2, 1, 3, 2), mode="reflect"), {"x": rand(1, 2, 5, 4)}, {"pad": [2, 1, 3, 2]})
case("pad_replicate", lambda x: F.pad(x, (2, 1, 3, 2), mode="replicate"), {"x": rand(1, 2, 5, 4)}, {"pad": [2, 1, 3, 2]})
case("pad_zeros", lambda x: F.pad(x, (2, 1, 3, 2)), {"x": rand(1, 2, 5, 4)}, {"pad": [2, 1, 3, 2]})
case("avg_pool", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), {"x": rand(2, 2, 7, 6)},
     {"kernel": 3, "stride": 2, "padding": 1})

# Attention, softmax and losses.
case("attention", lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
     {"q": rand(2, 3, 5, 4), "k": rand(2, 3, 6, 4), "v": rand(2, 3, 6, 7)})
case("softmax", lambda x: torch.softmax(x, dim=1), {"x": rand(3, 5, 2, scale=3)}, {"axis": 1})
case("l1_loss", lambda p, t: F.l1_loss(p, t), {"p": rand(2, 3, 4), "t": rand(2, 3, 4)}, grad_of=["p"])
case("mse_loss", lambda p, t: F.mse_loss(p, t), {"p": rand(2, 3, 4), "t": rand(2, 3, 4)}, grad_of=["p"])
case("bce_with_logits", lambda p, t: F.binary_cross_entropy_with_logits(p, t),
     {"p": rand(2, 3, 4, scale=4), "t": torch.rand(2, 3, 4)}, grad_of=["p"])
case("gelu", lambda x: F.gelu(x), {"x": rand(4, 5, scale=2)})
case("silu", lambda x: F.silu(x), {"x": rand(4, 5, scale=2)})

# Adam and AdamW, step by step on fixed gradient sequences.
for name, make in {
    "adam": lambda p: torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8),
    "adam_l2": lambda p: torch.optim.Adam([p], lr=1e-2, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
}.items():
    p = rand(4, 6).requires_grad_()
    tensors[f"{name}.initial"] = p.detach().clone()
    opt = make(p)
    for step in range(6):
        grad = rand(4, 6, scale=10.0 ** (step % 3 - 1))
        tensors[f"{name}.grad_{step}"] = grad
        p.grad = grad.clone()
        opt.step()
        tensors[f"{name}.param_{step}"] = p.detach().clone()
    options[name] = {"steps": 6}

write_safetensors(os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "parity.safetensors"), tensors, {"options": json.dumps(options, sort_keys=True), "torch": torch.__version__})
