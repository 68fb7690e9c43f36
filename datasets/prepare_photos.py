#!/usr/bin/env python3
"""Builds datasets/photos/train: real colour photos for the latent-diffusion models (VAE, SR x4, colorization).

Run: python3 datasets/prepare_photos.py [--shared ../shared/data] [--output datasets/photos]
Sources: the colour JPEG photos (at least 256 px on each side) of Debian's opencv-doc and python3-skimage packages
(`apt-get download` + `dpkg -x`, no root needed), plus the training photos of ../shared/data/monet2photo-mini/trainA
and horse2zebra-mini/trainA and trainB. monet2photo-mini/testA is never copied: it is the held-out evaluation set.
Documentation figures, screenshots and diagrams among the Debian JPEGs are skipped (more than 20% near-white pixels,
more than 30% of horizontally flat pixels, or few distinct colours in a 128-px thumbnail) unless --all is given:
the bundled VAE was trained with --all (350 images), the SR and colorization UNets on the default set.
Needs pillow and numpy (only here); not used by the product or the tests.
"""
import argparse
import os
import shutil
import subprocess
import tempfile

import numpy
from PIL import Image


def looks_like_a_photo(image):
    """False for documents, screenshots and diagrams: large white areas, flat runs, few distinct colours."""
    thumbnail = image.convert("RGB")
    thumbnail.thumbnail((128, 128))
    pixels = numpy.asarray(thumbnail).astype(int)
    white = (pixels >= 240).all(axis=2).mean()
    flat = (numpy.abs(numpy.diff(pixels, axis=1)).sum(axis=2) == 0).mean()
    distinct = len(numpy.unique(pixels.reshape(-1, 3), axis=0)) / (pixels.shape[0] * pixels.shape[1])
    return white < 0.2 and flat < 0.3 and distinct > 0.25


parser = argparse.ArgumentParser()
parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "photos"))
parser.add_argument("--all", action="store_true", help="keep documentation figures and diagrams too")
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
                    if not args.all and not looks_like_a_photo(image):
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
