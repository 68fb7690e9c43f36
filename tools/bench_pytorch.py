#!/usr/bin/env python3
"""Reference numbers for `stylize bench`, measured with PyTorch on the same machine.

Not used by the product or the tests. Run: python3 tools/bench_pytorch.py [--threads N] [--json]
Prints the same measurements as `stylize bench`: sgemm on M=4096 N=256 K=2304, the 3x3 256->256 conv
on 64x64 forward/backward, and the CycleGAN resnet_9blocks generator forward at 256 and 512 with the
peak resident memory (ru_maxrss of a fresh child process per size, so sizes do not mask each other).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def median_seconds(body, repeats):
    body()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def resnet_9blocks(torch):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from reference_networks import resnet
    return resnet(64, 9).eval()


def generator_child(size, repeats, threads):
    import torch
    torch.set_num_threads(threads)
    model = resnet_9blocks(torch)
    x = torch.rand(1, 3, size, size) * 2 - 1
    with torch.inference_mode():
        seconds = median_seconds(lambda: model(x), repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        generator_child(args.child, args.repeats, args.threads)
        return

    import torch
    torch.set_num_threads(args.threads)
    report = {"torch": torch.__version__, "threads": args.threads}
    a, b = torch.randn(4096, 2304), torch.randn(2304, 256)
    gemm_flops = 2.0 * 4096 * 256 * 2304
    s = median_seconds(lambda: torch.mm(a, b), args.repeats)
    report["sgemm_gflops"] = gemm_flops / s / 1e9
    x = torch.randn(1, 256, 64, 64, requires_grad=True)
    w = (torch.randn(256, 256, 3, 3) * 0.02).requires_grad_()
    with torch.inference_mode():
        s = median_seconds(lambda: torch.nn.functional.conv2d(x, w, padding=1), args.repeats)
    report["conv2d_forward_gflops"] = gemm_flops / s / 1e9
    y = torch.nn.functional.conv2d(x, w, padding=1)
    g = torch.randn_like(y)
    s = median_seconds(lambda: torch.autograd.grad(y, [x, w], g, retain_graph=True), args.repeats)
    report["conv2d_backward_gflops"] = 2 * gemm_flops / s / 1e9
    results = {}
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(size), "--repeats", str(args.repeats),
                              "--threads", str(args.threads)], check=True, capture_output=True, text=True)
        results[str(size)] = json.loads(out.stdout.strip().splitlines()[-1])
    report["resnet_9blocks_forward"] = results
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from reference_networks import unet
    net = unet(64, 8).eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.inference_mode():
        report["unet_256_forward"] = {"seconds": median_seconds(lambda: net.forward(x), args.repeats)}
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return
    print(f"PyTorch {torch.__version__}, {args.threads} threads, median of {args.repeats} runs after warm-up")
    print(f"sgemm M=4096 N=256 K=2304            {report['sgemm_gflops']:7.1f} GFLOP/s")
    print(f"conv2d 3x3 256->256 64x64 forward   {report['conv2d_forward_gflops']:7.1f} GFLOP/s")
    print(f"conv2d 3x3 256->256 64x64 backward  {report['conv2d_backward_gflops']:7.1f} GFLOP/s")
    for size, entry in results.items():
        print(f"resnet_9blocks forward {size}x{size}  {entry['seconds']:7.3f} s   peak RSS {entry['peak_rss_mb']:6.0f} MB")
    print(f"unet_256 forward 256x256          {report['unet_256_forward']['seconds']:7.3f} s")


if __name__ == "__main__":
    main()
