#!/usr/bin/env python3
"""Writes PyTorch checkpoint fixtures to Tests/Fixtures/checkpoints/ with torch, once.

Small-ngf versions of the reference generators (junyanz/pytorch-CycleGAN-and-pix2pix layer order and
state_dict keys, written out here), saved in both torch.save formats, with an input and the eval-mode
output for parity tests. Also: a legacy file carrying InstanceNorm running statistics and a `module.`
prefix (as the official CycleGAN downloads do), and a pickle that would run a shell command (it must be
refused, never executed). Run: python3 tools/make_checkpoint_fixtures.py
"""
import json
import os
import pickle
import struct

import torch
import torch.nn as nn

from reference_networks import resnet, stylize_output, unet

here = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "checkpoints")
torch.manual_seed(0)


def initialise(net):
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0, 0.02 if m.weight.shape[1] > 4 else 0.2)
            if m.bias is not None:
                nn.init.normal_(m.bias, 0, 0.05)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1, 0.2)
            nn.init.normal_(m.bias, 0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(7)


def ramp(c, h, w):
    y = torch.arange(h, dtype=torch.float64)[:, None]
    x = torch.arange(w, dtype=torch.float64)[None, :]
    planes = [torch.sin(0.11 * y + 0.07 * x + 1.3 * k) * 0.9 for k in range(c)]
    return torch.stack(planes)[None].float()


expected = {}
cases = {
    "resnet9_ngf4": (resnet(4, 9), (3, 32, 40)),
    "resnet6_ngf2_dropout": (resnet(2, 6, dropout=True), (3, 24, 28)),
    "unet256_ngf2": (unet(2, 8), (3, 256, 256)),
}
for name, (net, shape) in cases.items():
    initialise(net)
    net.eval()
    x = ramp(*shape)
    with torch.no_grad():
        y = net.forward(x)
    expected[f"{name}.input"] = x
    expected[f"{name}.output"] = y
    state = net.state_dict()
    torch.save(state, os.path.join(here, f"{name}.zip.pth"))
    torch.save(state, os.path.join(here, f"{name}.legacy.pth"), _use_new_zipfile_serialization=False)

# What `stylize` writes for a real image: reflect-pad to the side multiple (replicate where the pad is not
# smaller than the side), forward, crop back, round (x + 1) / 2 * 255 to 8 bits.
import numpy as np
from PIL import Image

photo = np.array(Image.open(os.path.join(here, "..", "images", "rgb8.png")).convert("RGB"), dtype=np.float64)
x = torch.from_numpy(photo / 255.0 * 2 - 1).permute(2, 0, 1)[None].float()
for name, multiple in (("resnet9_ngf4", 4), ("unet256_ngf2", 256)):
    Image.fromarray(stylize_output(cases[name][0], x, multiple)).save(os.path.join(here, f"{name}.rgb8.expected.png"))

# As the official CycleGAN files: legacy format, InstanceNorm running stats, DataParallel prefix.
net = cases["resnet9_ngf4"][0]
official = {}
for key, value in net.state_dict().items():
    official["module." + key] = value
    if key.endswith("model.1.bias") or key.endswith("conv_block.5.bias"):
        stem = key.rsplit(".", 2)[0] + "." + str(int(key.rsplit(".", 2)[1]) + 1)
        official["module." + stem + ".running_mean"] = torch.zeros(value.shape[0])
        official["module." + stem + ".running_var"] = torch.ones(value.shape[0])
torch.save(official, os.path.join(here, "resnet9_ngf4.official-style.pth"), _use_new_zipfile_serialization=False)


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo this checkpoint ran a shell command",))


with open(os.path.join(here, "malicious.pth"), "wb") as f:
    pickle.dump({"model.1.weight": Exploit()}, f, protocol=2)

header, blobs, offset = {"__metadata__": {"torch": torch.__version__}}, [], 0
for key in sorted(expected):
    blob = expected[key].contiguous().numpy().astype("<f4").tobytes()
    header[key] = {"dtype": "F32", "shape": list(expected[key].shape), "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
encoded = json.dumps(header, sort_keys=True).encode()
encoded += b" " * ((8 - len(encoded) % 8) % 8)
with open(os.path.join(here, "expected.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
print("written", sorted(os.listdir(here)))
