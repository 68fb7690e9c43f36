"""Writes the safetensors fixture files of the make_*_fixtures.py scripts (F32, keys sorted, header padded to 8)."""
import json
import struct


def write_safetensors(path, tensors, metadata):
    """Writes `tensors` (name → torch tensor, stored as float32) and string `metadata` to `path`; prints a summary."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for key in sorted(tensors):
        data = tensors[key].detach().contiguous().float().numpy().tobytes()
        header[key] = {"dtype": "F32", "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, sort_keys=True).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
    print(f"wrote {path}: {len(tensors)} tensors, {offset} bytes")
