#!/usr/bin/env python3
"""Writes an UNTRAINED ResNet generator (conv weights N(0, 0.02), zero biases; fp16) as safetensors with the
architecture in its metadata: for benchmarks of full-size models without downloading weights, e.g.
`python3 tools/make_placeholder_model.py 64 9 /tmp/r9.safetensors` (resnet_9blocks, ngf 64). Its outputs are
meaningless. With no arguments it writes a resnet_6blocks ngf 8 to /tmp/placeholder.safetensors. numpy only.
"""
import json
import os
import struct

import sys

import numpy as np

rng = np.random.default_rng(0)
# Optional: NGF BLOCKS OUTPUT, for benchmarks with a full-size untrained generator (e.g. 64 9 /tmp/r9.safetensors).
ngf, blocks = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (8, 6)
tensors = {}


def conv(key, out_c, in_c, k, bias=True):
    tensors[key + ".weight"] = rng.normal(0, 0.02, (out_c, in_c, k, k))
    if bias:
        tensors[key + ".bias"] = np.zeros(out_c)


conv("model.1", ngf, 3, 7)
conv("model.4", ngf * 2, ngf, 3)
conv("model.7", ngf * 4, ngf * 2, 3)
for b in range(blocks):
    conv(f"model.{10 + b}.conv_block.1", ngf * 4, ngf * 4, 3)
    conv(f"model.{10 + b}.conv_block.5", ngf * 4, ngf * 4, 3)
up = 10 + blocks
tensors[f"model.{up}.weight"] = rng.normal(0, 0.02, (ngf * 4, ngf * 2, 3, 3)); tensors[f"model.{up}.bias"] = np.zeros(ngf * 2)
tensors[f"model.{up + 3}.weight"] = rng.normal(0, 0.02, (ngf * 2, ngf, 3, 3)); tensors[f"model.{up + 3}.bias"] = np.zeros(ngf)
conv(f"model.{up + 7}", 3, ngf, 7)

metadata = {"architecture": f"resnet_{blocks}blocks", "ngf": str(ngf), "input_nc": "3", "output_nc": "3", "norm": "instance",
            "dropout": "false", "untrained": "true"}
header, blobs, offset = {"__metadata__": metadata}, [], 0
for key in sorted(tensors):
    blob = tensors[key].astype("<f2").tobytes()
    header[key] = {"dtype": "F16", "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
encoded = json.dumps(header, sort_keys=True).encode()
encoded += b" " * ((8 - len(encoded) % 8) % 8)
path = sys.argv[3] if len(sys.argv) > 3 else "/tmp/placeholder.safetensors"
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
print("wrote", path, offset, "bytes of weights")
