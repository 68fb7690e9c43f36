#!/usr/bin/env python3
"""Generates the image-codec fixtures in Tests/Fixtures/images/ with pillow, once.

Every variant is derived from a crop of a real photo (Tests/Fixtures/images/photo*.png, copied from the
monet2photo data). For each decodable variant, the pixels pillow decodes are stored in
expected.safetensors (U8, or F32 for 16-bit samples; shape [H, W, C]) under the file's name; the Swift tests compare
their decoder against them: exactly for PNG, within a stated tolerance for JPEG (different libjpeg
builds may round the IDCT differently). Bad inputs are written too. Run: python3 tools/make_image_fixtures.py
"""
import glob
import io
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image

here = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "images")
photo = Image.open(glob.glob(os.path.join(here, "photo*.png"))[0]).convert("RGB")
base = photo.crop((40, 60, 40 + 37, 60 + 23))            # 37x23: odd sizes catch stride bugs
expected = {}


def save(name, image, **options):
    image.save(os.path.join(here, name), **options)


def record(name):
    with Image.open(os.path.join(here, name)) as image:
        image = image.copy() if image.format != "JPEG" else Image.open(os.path.join(here, name))
        if image.mode == "CMYK":
            image = image.convert("RGB")
        array = np.array(image)
        if array.ndim == 2:
            array = array[:, :, None]
        expected[name] = array.astype(np.float32)


rgb = base
gray = base.convert("L")
alpha = Image.linear_gradient("L").resize(base.size)

# PNG: every colour type and depth libpng can hand us.
save("rgb8.png", rgb); record("rgb8.png")
save("rgba8.png", Image.merge("RGBA", (*rgb.split(), alpha))); record("rgba8.png")
save("gray8.png", gray); record("gray8.png")
save("gray_alpha8.png", Image.merge("LA", (gray, alpha))); record("gray_alpha8.png")
save("interlaced.png", rgb); 
# pillow cannot write Adam7; write it with the raw chunk writer below instead.
for bits in (1, 2, 4):
    levels = (1 << bits) - 1
    quantized = np.round(np.array(gray, dtype=np.float64) / 255 * levels).astype(np.uint8)
    name = f"gray{bits}.png"
    # Encode the low-depth PNG by hand (pillow writes 1-bit only from mode "1").
    rows = []
    h, w = quantized.shape
    for row in quantized:
        bitsrow = 0
        packed = bytearray()
        acc, count = 0, 0
        for value in row:
            acc = (acc << bits) | int(value)
            count += bits
            if count == 8:
                packed.append(acc); acc, count = 0, 0
        if count:
            packed.append(acc << (8 - count))
        rows.append(b"\x00" + bytes(packed))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
    open(os.path.join(here, name), "wb").write(png)
    record(name)   # pillow scales 1-bit to 0/255 but keeps 2/4-bit as raw levels; the test rescales from the file
    expected[name] = quantized[:, :, None].astype(np.float32)

# 16-bit.
gray16 = (np.array(gray, dtype=np.uint32) * 257 + np.arange(gray.size[0])[None, :]).astype(np.uint16)
Image.fromarray(gray16).save(os.path.join(here, "gray16.png"))
expected["gray16.png"] = gray16[:, :, None].astype(np.float32)
rgb16 = (np.array(rgb, dtype=np.uint32) * 257 + 3).astype(np.uint16)
def raw_png(name, array, color_type, bit_depth, interlace=0, extra=b""):
    h, w = array.shape[:2]
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    big = array.astype(">u2").tobytes() if bit_depth == 16 else array.astype(np.uint8).tobytes()
    stride = len(big) // h
    def scan(rows_bytes):
        return b"".join(b"\x00" + r for r in rows_bytes)
    if interlace == 0:
        data = scan([big[y * stride:(y + 1) * stride] for y in range(h)])
    else:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        data = b""
        for x0, y0, dx, dy in passes:
            sub = array[y0::dy, x0::dx]
            if sub.size == 0:
                continue
            sb = sub.astype(">u2").tobytes() if bit_depth == 16 else sub.astype(np.uint8).tobytes()
            s = len(sb) // sub.shape[0]
            data += scan([sb[y * s:(y + 1) * s] for y in range(sub.shape[0])])
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, interlace)) \
        + extra + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")
    open(os.path.join(here, name), "wb").write(png)
raw_png("rgb16.png", rgb16, 2, 16)
expected["rgb16.png"] = rgb16.astype(np.float32)
raw_png("interlaced.png", np.array(rgb), 2, 8, interlace=1)
record("interlaced.png")

# Palette with transparency (tRNS): expands to RGBA.
palette = rgb.quantize(colors=16)
transparency = bytes([0, 128] + [255] * 14)
palette.save(os.path.join(here, "palette_trns.png"), transparency=transparency)
with Image.open(os.path.join(here, "palette_trns.png")) as image:
    expected["palette_trns.png"] = np.array(image.convert("RGBA")).astype(np.float32)

# JPEG variants.
save("baseline444.jpg", rgb, quality=92, subsampling=0); record("baseline444.jpg")
save("baseline420.jpg", rgb, quality=85, subsampling=2); record("baseline420.jpg")
save("progressive.jpg", rgb, quality=90, progressive=True); record("progressive.jpg")
save("gray.jpg", gray, quality=90); record("gray.jpg")
save("cmyk.jpg", rgb.convert("CMYK"), quality=95); record("cmyk.jpg")
# EXIF orientations: the stored pixels are the same; a reader must apply the rotation.
for orientation in range(1, 9):
    exif = Image.Exif()
    exif[0x0112] = orientation
    name = f"orientation{orientation}.jpg"
    save(name, rgb, quality=95, subsampling=0, exif=exif.tobytes())
    from PIL import ImageOps
    with Image.open(os.path.join(here, name)) as image:
        expected[name] = np.array(ImageOps.exif_transpose(image)).astype(np.float32)

# Resizing: every filter, up and down, RGB and L, against pillow's own results.
filters = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
           "hamming": Image.Resampling.HAMMING, "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
for filter_name, method in filters.items():
    for (w, h) in ((50, 31), (17, 11), (37, 9), (64, 23)):
        for mode, image in (("rgb", rgb), ("gray", gray)):
            array = np.array(image.resize((w, h), method))
            if array.ndim == 2:
                array = array[:, :, None]
            expected[f"resize/{mode}/{filter_name}/{w}x{h}"] = array.astype(np.float32)
# The reference pipeline's load step: the whole 256x256 photo to 286x286, bicubic.
expected["resize/photo/bicubic/286x286"] = np.array(photo.resize((286, 286), Image.Resampling.BICUBIC)).astype(np.float32)

# Bad inputs.
open(os.path.join(here, "bad_empty.png"), "wb").close()
open(os.path.join(here, "bad_text.jpg"), "w").write("this is not a picture\n")
data = open(os.path.join(here, "rgb8.png"), "rb").read()
open(os.path.join(here, "bad_truncated.png"), "wb").write(data[: len(data) * 2 // 3])
data = open(os.path.join(here, "baseline444.jpg"), "rb").read()
open(os.path.join(here, "bad_truncated.jpg"), "wb").write(data[: len(data) * 2 // 3])
data = bytearray(open(os.path.join(here, "rgb8.png"), "rb").read())
data[40] ^= 0xFF                                   # inside IDAT: the CRC no longer matches
open(os.path.join(here, "bad_crc.png"), "wb").write(bytes(data))
def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 200000, 200000, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
open(os.path.join(here, "bad_bomb.png"), "wb").write(bomb)

# expected.safetensors
header, blobs, offset = {"__metadata__": {"pillow": Image.__version__ if hasattr(Image, "__version__") else "pillow"}}, [], 0
import PIL
header["__metadata__"]["pillow"] = PIL.__version__
for key in sorted(expected):
    eight_bit = expected[key].max() <= 255
    blob = np.ascontiguousarray(expected[key], dtype=np.uint8 if eight_bit else "<f4").tobytes()
    header[key] = {"dtype": "U8" if eight_bit else "F32", "shape": list(expected[key].shape),
                   "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
encoded = json.dumps(header, sort_keys=True).encode()
encoded += b" " * ((8 - len(encoded) % 8) % 8)
open(os.path.join(here, "expected.safetensors"), "wb").write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
print(f"wrote {len(expected)} expected images")
