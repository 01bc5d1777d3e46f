#!/usr/bin/python3
"""Python-eager inference latency for the export benchmark, and a same-session comparison
with skipzoo's C++ eager module and its exports (`skipzoo bench infer`).

  /usr/bin/python3 bench/infer_python.py --model resnet50 --input 3,224,224 [--batch 1] [--threads 2] [--json]
  /usr/bin/python3 bench/infer_python.py --compare --cli build/apps/skipzoo [--threads 2] [--iters 20]

`--model unet` is a Python U-Net built like skipzoo's default `unet` (depth 4, base width 32,
bilinear upsampling, BatchNorm); --compare first checks that it gives the skipzoo export's
outputs with the export's weights, so both sides time the same network.
Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14) on a quiet machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
import torchvision
from torch import nn


class ConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class UpBlock(nn.Module):
    def __init__(self, cin, skip, cout):
        super().__init__()
        self.conv = ConvBlock(cin + skip, cout)

    def forward(self, x, skip):
        x = F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], 1))


class UNet(nn.Module):
    """skipzoo's `unet` in Python, with the same state_dict keys."""

    def __init__(self, in_channels=3, classes=2, depth=4, base_width=32):
        super().__init__()
        self.multiple = 2 ** depth
        width = base_width
        self.down = nn.ModuleList([ConvBlock(in_channels, width)])
        for _ in range(depth):
            self.down.append(ConvBlock(width, width * 2))
            width *= 2
        self.up = nn.ModuleList()
        for _ in range(depth):
            self.up.append(UpBlock(width, width // 2, width // 2))
            width //= 2
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        m = self.multiple
        x = F.pad(x, [0, (m - w % m) % m, 0, (m - h % m) % m])
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2, 2)
            x = block(x)
            skips.append(x)
        for i, block in enumerate(self.up):
            x = block(x, skips[-2 - i])
        return self.head(x)[:, :, :h, :w]


def build(name):
    return UNet() if name == "unet" else getattr(torchvision.models, name)()


def measure(model, shape, warmup, iters):
    x = torch.randn(shape)
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(iters):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"ms_median": statistics.median(times), "ms_mean": statistics.fmean(times), "ms_min": times[0],
            "images_per_s": 1000 * shape[0] / statistics.median(times)}


def check_same_network(cli, name, threads):
    """The skipzoo export's weights in the Python model give the export's outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.ts")
        subprocess.run([cli, "--threads", str(threads), "export", "--model", name, "--out", path],
                       check=True, capture_output=True)
        script = torch.jit.load(path)
    model = build(name).eval()
    model.load_state_dict(script.state_dict(), strict=True)
    x = torch.randn(1, 3, 67, 45)
    with torch.no_grad():
        diff = (model(x) - script(x)).abs().max().item()
    if diff > 1e-4:
        sys.exit(f"{name}: the Python model differs from skipzoo's export by {diff}")


def cpp(cli, threads, name, shape, mode, warmup, iters):
    out = subprocess.run([cli, "--threads", str(threads), "bench", "infer", "--model", name, "--batch", str(shape[0]),
                          "--input", ",".join(map(str, shape[1:])), "--mode", mode, "--warmup", str(warmup),
                          "--iters", str(iters), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def compare(args):
    rows = []
    for name, shape in [("resnet50", (1, 3, 224, 224)), ("unet", (1, 3, 512, 512))]:
        check_same_network(args.cli, name, args.threads)
        python = measure(build(name).eval(), shape, args.warmup, args.iters)
        rows.append((name, "Python eager (torch.inference_mode)", python["ms_median"], 1.0))
        for mode, label in [("eager", "skipzoo C++ eager (InferenceMode)"), ("script", "skipzoo export"),
                            ("optimized", "skipzoo --optimize export")]:
            r = cpp(args.cli, args.threads, name, shape, mode, args.warmup, args.iters)
            rows.append((name, label, r["ms_median"], python["ms_median"] / r["ms_median"]))
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.iters} after {args.warmup} warm-up, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print("| workload | implementation | median ms | speed-up vs Python eager |")
    print("|---|---|---:|---:|")
    for name, label, ms, ratio in rows:
        workload = "resnet50 bs1 3x224x224" if name == "resnet50" else "unet bs1 3x512x512"
        print(f"| {workload} | {label} | {ms:.1f} | {ratio:.2f}x |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet50", help="a torchvision ResNet builder or unet (default: resnet50)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    p.add_argument("--input", default="3,224,224", help="C,H,W (default: 3,224,224)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: all cores)")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations (default: 5)")
    p.add_argument("--iters", type=int, default=20, help="timed iterations (default: 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--compare", action="store_true", help="resnet50 224² and unet 512², Python vs skipzoo")
    p.add_argument("--cli", default="build/apps/skipzoo", help="the skipzoo binary for --compare")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.compare:
        return compare(args)
    shape = (args.batch, *map(int, args.input.split(",")))
    result = measure(build(args.model).eval(), shape, args.warmup, args.iters)
    result.update(model=args.model, mode="python-eager", input=list(shape), threads=torch.get_num_threads(),
                  torch_version=torch.__version__)
    print(json.dumps(result) if args.json else
          f"{args.model} python-eager batch {args.batch}: median {result['ms_median']:.2f} ms")


if __name__ == "__main__":
    main()
