#!/usr/bin/env python3
"""Inference reference numbers from onnxruntime (PyPI), beside `stylize bench`, on the same graphs.

Not used by the product or the tests. Run: python3 tools/bench_onnxruntime.py [--threads N] [--repeats N] [--json]
Exports the reference networks of tools/reference_networks.py with torch.onnx (random weights: the time does not
depend on them) — CycleGAN's resnet_9blocks (ngf 64, instance norm) and pix2pix's unet_256 (ngf 64, batch norm in
evaluation mode, no dropout) — and times onnxruntime's CPU session at 256×256, batch 1 (median after a warm-up run),
each network exported by one child process and timed in another that never imports torch, so its peak resident
memory (ru_maxrss) is onnxruntime's own. `stylize bench --suites
engine` prints the same two cases (`resnet_9blocks_forward` at 256, `unet_256_forward`).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

from bench_pytorch import median_seconds


def export(name, path):
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from reference_networks import resnet, unet
    torch.manual_seed(0)
    if name == "resnet_9blocks":
        net = resnet(64, 9)
    else:
        net = unet(64, 8, dropout=False)
        net.forward = net.model.forward
    net.eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)


def child(name, path, repeats, threads):
    """Times the exported graph at `path` in a process that never imported torch (its memory is onnxruntime's)."""
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32) * 2 - 1)
    seconds = median_seconds(lambda: session.run(None, {"x": x}), repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "onnxruntime": ort.__version__}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--export", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        export(*args.export)
        return
    if args.child:
        child(args.child[0], args.child[1], args.repeats, args.threads)
        return
    report = {"threads": args.threads}
    folder = tempfile.mkdtemp()
    for name in ["resnet_9blocks", "unet_256"]:
        path = os.path.join(folder, name + ".onnx")
        subprocess.run([sys.executable, __file__, "--export", name, path], check=True, capture_output=True, text=True)
        out = subprocess.run([sys.executable, __file__, "--child", name, path, "--repeats", str(args.repeats),
                              "--threads", str(args.threads)], check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        report["onnxruntime"] = result.pop("onnxruntime")
        report[name + "_forward_256"] = result
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"onnxruntime {report['onnxruntime']}, {args.threads} threads, median of {args.repeats} after a warm-up")
    for name in ["resnet_9blocks", "unet_256"]:
        r = report[name + "_forward_256"]
        print(f"{name} forward 256x256   {r['seconds']:.3f} s   peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
