#!/usr/bin/env python3
"""Reference numbers for `stylize bench --suites training`, measured with PyTorch on the same machine.

Not used by the product or the tests. Run: python3 tools/bench_pytorch_training.py [--threads N] [--repeats N] [--json]
One training iteration, batch 1, as junyanz/pytorch-CycleGAN-and-pix2pix's optimize_parameters:
  cyclegan_resnet_6blocks_128   G_A, G_B (resnet_6blocks) and D_A, D_B (basic PatchGAN, instance norm) at 128x128
  pix2pix_unet_256_256          G (unet_256, batch norm, dropout) and D (basic PatchGAN on A+B) at 256x256
  cyclegan_resnet_9blocks_256   as the first at 256x256 with resnet_9blocks
CycleGAN: identity + LSGAN + cycle losses for the generators (D frozen), one Adam step; then each D on the real image
and a pooled fake (pool of 50), x0.5, one Adam step. pix2pix: D on (A, fake B) and (A, B) with BCE-with-logits, then
G with GAN + 100 x L1. Each case runs in a fresh child process; its peak memory is that child's ru_maxrss.
"""
import argparse
import itertools
import json
import os
import random
import resource
import subprocess
import sys

from bench_pytorch import median_seconds


def patch_discriminator(torch, input_nc, norm):
    nn = torch.nn
    use_bias = norm is nn.InstanceNorm2d
    layers = [nn.Conv2d(input_nc, 64, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    multiple = 1
    for n in range(1, 3):
        previous, multiple = multiple, min(2 ** n, 8)
        layers += [nn.Conv2d(64 * previous, 64 * multiple, 4, 2, 1, bias=use_bias), norm(64 * multiple), nn.LeakyReLU(0.2, True)]
    previous, multiple = multiple, 8
    layers += [nn.Conv2d(64 * previous, 64 * multiple, 4, 1, 1, bias=use_bias), norm(64 * multiple), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(64 * multiple, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


def init_normal(torch, net):
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(module.weight, 1.0, 0.02)
            torch.nn.init.zeros_(module.bias)


class Pool:
    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, image):
        if len(self.images) < self.size:
            self.images.append(image)
            return image
        if random.uniform(0, 1) > 0.5:
            index = random.randint(0, self.size - 1)
            stored, self.images[index] = self.images[index].clone(), image
            return stored
        return image


def cyclegan_step(torch, blocks, side):
    from reference_networks import resnet
    nn = torch.nn
    g_a, g_b = resnet(64, blocks), resnet(64, blocks)
    d_a, d_b = patch_discriminator(torch, 3, nn.InstanceNorm2d), patch_discriminator(torch, 3, nn.InstanceNorm2d)
    for net in (g_a, g_b, d_a, d_b):
        init_normal(torch, net)
    optimizer_g = torch.optim.Adam(itertools.chain(g_a.parameters(), g_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = Pool(50), Pool(50)
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    real_a, real_b = torch.rand(1, 3, side, side) * 2 - 1, torch.rand(1, 3, side, side) * 2 - 1

    def gan(prediction, target):
        return mse(prediction, torch.full_like(prediction, 1.0 if target else 0.0))

    def step():
        fake_b, fake_a = g_a.forward(real_a), g_b.forward(real_b)
        rec_a, rec_b = g_b.forward(fake_b), g_a.forward(fake_a)
        for p in itertools.chain(d_a.parameters(), d_b.parameters()):
            p.requires_grad_(False)
        optimizer_g.zero_grad()
        idt_a, idt_b = g_a.forward(real_b), g_b.forward(real_a)
        loss = (l1(idt_a, real_b) * 5 + l1(idt_b, real_a) * 5 + gan(d_a(fake_b), True) + gan(d_b(fake_a), True)
                + l1(rec_a, real_a) * 10 + l1(rec_b, real_b) * 10)
        loss.backward()
        optimizer_g.step()
        for p in itertools.chain(d_a.parameters(), d_b.parameters()):
            p.requires_grad_(True)
        optimizer_d.zero_grad()
        for d, real, fake in ((d_a, real_b, pool_b.query(fake_b.detach())), (d_b, real_a, pool_a.query(fake_a.detach()))):
            ((gan(d(real), True) + gan(d(fake), False)) * 0.5).backward()
        optimizer_d.step()
    return step


def pix2pix_step(torch):
    from reference_networks import unet
    nn = torch.nn
    g = unet(64, 8, dropout=True)
    d = patch_discriminator(torch, 6, nn.BatchNorm2d)
    for net in (g, d):
        init_normal(torch, net)
    g.model.train()
    d.train()
    optimizer_g = torch.optim.Adam(g.model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
    real_a, real_b = torch.rand(1, 3, 256, 256) * 2 - 1, torch.rand(1, 3, 256, 256) * 2 - 1

    def gan(prediction, target):
        return bce(prediction, torch.full_like(prediction, 1.0 if target else 0.0))

    def step():
        fake_b = g.forward(real_a)
        for p in d.parameters():
            p.requires_grad_(True)
        optimizer_d.zero_grad()
        loss_d = (gan(d(torch.cat((real_a, fake_b.detach()), 1)), False) + gan(d(torch.cat((real_a, real_b), 1)), True)) * 0.5
        loss_d.backward()
        optimizer_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        optimizer_g.zero_grad()
        loss_g = gan(d(torch.cat((real_a, fake_b), 1)), True) + l1(fake_b, real_b) * 100
        loss_g.backward()
        optimizer_g.step()
    return step


CASES = {
    "cyclegan_resnet_6blocks_128": lambda torch: cyclegan_step(torch, 6, 128),
    "pix2pix_unet_256_256": pix2pix_step,
    "cyclegan_resnet_9blocks_256": lambda torch: cyclegan_step(torch, 9, 256),
}


def child(name, repeats, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    random.seed(0)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    step = CASES[name](torch)
    seconds = median_seconds(step, repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeats, args.threads)
        return
    results = {}
    for name in CASES:
        output = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, "--repeats", str(args.repeats),
                                 "--threads", str(args.threads)], check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(output.strip().splitlines()[-1])
        if not args.json:
            print(f"{name:32s} {results[name]['seconds']:7.3f} s   peak RSS {results[name]['peak_rss_mb']:6.0f} MB", flush=True)
    if args.json:
        print(json.dumps({"training_iteration": results}, sort_keys=True))


if __name__ == "__main__":
    main()
