#!/usr/bin/env python3
"""Manual check: full-size generators written by PyTorch give the same images through `stylize`.

Builds resnet_9blocks (ngf 64, instance norm) and unet_256 (ngf 64, batch norm, eval) with the reference
layout (tools/reference_networks.py) and a seeded N(0, 0.02) initialisation, saves each in both torch.save
formats, runs the built `stylize` binary on a real photo, and compares with PyTorch's output for the same
padding and rounding. Needs torch and pillow; not part of the test suite.
Run: python3 tools/check_full_size_parity.py [PHOTO]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_networks import resnet, stylize_output, unet  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
photo_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "datasets", "samples", sorted(os.listdir(os.path.join(root, "datasets", "samples")))[0])
binary = os.path.join(root, ".build", "release", "stylize")
torch.manual_seed(0)
photo = np.array(Image.open(photo_path).convert("RGB"), dtype=np.float64)
x = torch.from_numpy(photo / 255.0 * 2 - 1).permute(2, 0, 1)[None].float()
worst_overall = 0
for name, net, multiple in (("resnet_9blocks", resnet(64, 9), 4), ("unet_256", unet(64, 8, dropout=True), 256)):
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(m.weight, 0, 0.02)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(m.weight, 1, 0.02)
            m.running_mean.normal_(0, 0.05)
            m.running_var.uniform_(0.5, 1.5)
    net.eval()
    expected = stylize_output(net, x, multiple).astype(int)
    with tempfile.TemporaryDirectory() as folder:
        for fmt, zipped in (("zip", True), ("legacy", False)):
            checkpoint = os.path.join(folder, f"{name}.{fmt}.pth")
            torch.save(net.state_dict(), checkpoint, _use_new_zipfile_serialization=zipped)
            out = os.path.join(folder, f"out-{fmt}")
            subprocess.run([binary, "--model", checkpoint, photo_path, out, "--quiet", "--format", "png"], check=True,
                           stdout=subprocess.DEVNULL)
            produced = np.array(Image.open(os.path.join(out, os.path.splitext(os.path.basename(photo_path))[0] + ".png"))).astype(int)
            worst = int(np.abs(produced - expected).max())
            worst_overall = max(worst_overall, worst)
            print(f"{name} ({fmt} .pth, {sum(p.numel() for p in net.parameters())} parameters): max difference "
                  f"{worst} levels, {(produced != expected).mean() * 100:.3f}% of samples differ")
print("PASS" if worst_overall <= 1 else "FAIL", "(tolerance ±1 level)")
