#!/usr/bin/env python3
"""Builds datasets/photos/train: real colour photos for the latent-diffusion models (VAE, SR x4, colorization).

Run: python3 datasets/prepare_photos.py [--shared ../shared/data] [--output datasets/photos]
Sources: the colour JPEG photos (at least 256 px on each side) of Debian's opencv-doc and python3-skimage packages
(`apt-get download` + `dpkg -x`, no root needed), the 26 photographs among the wallpapers of Debian's mate-backgrounds
and lomiri-wallpapers-16.04/20.04 (picked by hand from a contact sheet: WALLPAPER_PHOTOS below; the artwork, renders
and gradients are left out), each saved at three scales (short side 384, 640 and 1024 px) so that crops see their
textures at several sizes, plus the training photos of ../shared/data/monet2photo-mini/trainA and
horse2zebra-mini/trainA and trainB. monet2photo-mini/testA is never copied: it is the held-out evaluation set.
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


# The photographs among the wallpapers (file names under usr/share/backgrounds); everything else there is artwork.
WALLPAPER_PHOTOS = [
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Kleiber_by_Lukas_Baubkus.jpg", "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg", "free_by_Peter_Nerlich.jpg",
    "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg", "life_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg",
    "mate/nature/Aqua.jpg", "mate/nature/Blinds.jpg", "mate/nature/Dune.jpg", "mate/nature/FreshFlower.jpg",
    "mate/nature/Garden.jpg", "mate/nature/GreenMeadow.jpg", "mate/nature/LadyBird.jpg", "mate/nature/RainDrops.jpg",
    "mate/nature/Storm.jpg", "mate/nature/TwoWings.jpg", "mate/nature/Wood.jpg", "mate/nature/YellowFlower.jpg",
]

parser = argparse.ArgumentParser()
parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "photos"))
parser.add_argument("--all", action="store_true", help="keep documentation figures and diagrams too")
parser.add_argument("--short-side", type=int, help="also write OUTPUT-SIDE/train: every photo scaled so its short side is this (Lanczos), "
                    "for recipes that crop whole scenes (colorization) without resizing each sample again")
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
with tempfile.TemporaryDirectory() as work:
    subprocess.run(["apt-get", "download", "mate-backgrounds", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"],
                   cwd=work, check=True, capture_output=True)
    for deb in sorted(f for f in os.listdir(work) if f.endswith(".deb")):
        subprocess.run(["dpkg", "-x", deb, "x"], cwd=work, check=True)
    backgrounds = os.path.join(work, "x", "usr", "share", "backgrounds")
    for name in WALLPAPER_PHOTOS:
        with Image.open(os.path.join(backgrounds, name)) as image:
            image = image.convert("RGB")
            stem = "wallpaper_" + os.path.splitext(name.replace("/", "_"))[0]
            for side in (384, 640, 1024):
                scale = side / min(image.size)
                resized = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)), Image.LANCZOS)
                resized.save(os.path.join(train, f"{stem}_{side}.jpg"), quality=95)
                count += 1
for folder in ["monet2photo-mini/trainA", "horse2zebra-mini/trainA", "horse2zebra-mini/trainB"]:
    source = os.path.join(args.shared, folder)
    for name in sorted(os.listdir(source)):
        shutil.copy(os.path.join(source, name), os.path.join(train, folder.replace("/", "_").replace("-mini", "") + "_" + name))
        count += 1
print(f"{train}: {count} photos")
if args.short_side:
    scaled = os.path.join(args.output.rstrip("/") + f"-{args.short_side}", "train")
    os.makedirs(scaled, exist_ok=True)
    for name in sorted(os.listdir(train)):
        with Image.open(os.path.join(train, name)) as image:
            image = image.convert("RGB")
            scale = args.short_side / min(image.size)
            image.resize((max(args.short_side, round(image.size[0] * scale)), max(args.short_side, round(image.size[1] * scale))),
                         Image.LANCZOS).save(os.path.join(scaled, os.path.splitext(name)[0] + ".png"))
    print(f"{scaled}: {len(os.listdir(scaled))} photos, short side {args.short_side}")
