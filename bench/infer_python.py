#!/usr/bin/python3
"""Python-eager inference latency for the export benchmark, and a same-session comparison
with skipzoo's C++ eager module and its exports (`skipzoo bench infer`).

  /usr/bin/python3 bench/infer_python.py --model resnet50 --input 3,224,224 [--batch 1] [--threads 2] [--json]
  /usr/bin/python3 bench/infer_python.py --compare --cli build/apps/skipzoo [--threads 2] [--iters 20]

`--model unet` is a Python U-Net built like skipzoo's default `unet` (bench/py_zoo.py: depth 4,
base width 32, bilinear upsampling, BatchNorm); --compare first checks that it gives the skipzoo export's
outputs with the export's weights, so both sides time the same network.
Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14) on a quiet machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_zoo  # noqa: E402  (the U-Net built like skipzoo's, torchvision's ResNets)


def build(name):
    return py_zoo.build_model(name)[0]


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
    diff = py_zoo.same_network(cli, name, build(name), threads)
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
