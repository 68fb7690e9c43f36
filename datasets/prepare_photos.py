#!/usr/bin/env python3
"""Builds datasets/photos/train: real colour photos for the latent-diffusion models (VAE, SR x4, colorization).

Run: python3 datasets/prepare_photos.py [--shared ../shared/data] [--output datasets/photos]
Sources: the colour JPEG photos (at least 256 px on each side) of Debian's opencv-doc and python3-skimage packages
(`apt-get download` + `dpkg -x`, no root needed), plus the training photos of ../shared/data/monet2photo-mini/trainA
and horse2zebra-mini/trainA and trainB. monet2photo-mini/testA is never copied: it is the held-out evaluation set.
Needs pillow (only to tell colour from gray JPEGs); not used by the product or the tests.
"""
import argparse
import os
import shutil
import subprocess
import tempfile

from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "photos"))
args = parser.parse_args()
train = os.path.join(args.output, "train")
os.makedirs(train, exist_ok=True)
count = 0
with tempfile.TemporaryDirectory() as work:
    subprocess.run(["apt-get", "download", "python3-skimage", "opencv-doc"], cwd=work, check=True, capture_output=True)
    for deb in sorted(f for f in os.listdir(work) if f.endswith(".deb")):
        subprocess.run(["dpkg", "-x", deb, "x"], cwd=work, check=True)
    for root, _, files in sorted(os.walk(os.path.join(work, "x"))):
        for name in sorted(files):
            if not name.lower().endswith((".jpg", ".jpeg")):
                continue
            path = os.path.join(root, name)
            try:
                with Image.open(path) as image:
                    if image.mode != "RGB" or min(image.size) < 256:
                        continue
            except OSError:
                continue
            package = "skimage" if "skimage" in root else "opencv"
            shutil.copy(path, os.path.join(train, f"{package}_{name}"))
            count += 1
for folder in ["monet2photo-mini/trainA", "horse2zebra-mini/trainA", "horse2zebra-mini/trainB"]:
    source = os.path.join(args.shared, folder)
    for name in sorted(os.listdir(source)):
        shutil.copy(os.path.join(source, name), os.path.join(train, folder.replace("/", "_").replace("-mini", "") + "_" + name))
        count += 1
print(f"{train}: {count} photos")
