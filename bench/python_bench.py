#!/usr/bin/python3
"""The PyTorch side of `skipzoo bench train` and `skipzoo bench infer`: the same workloads, timed
the same way, printing the same JSON keys. bench/compare_pytorch.py runs both sides.

  python_bench.py train --model resnet18 --batch 16 --input 3,224,224 [--steps 10] [--warmup 3]
                        [--threads T] [--channels-last] [--zero-grad none|zeros] [--device cuda --amp] [--json]
  python_bench.py infer --model unet --input 3,512,512 [--mode eager|optimized] [--iters 20] [--json]

Train step, as skipzoo's: zero_grad, forward (under bf16 autocast with --amp), cross-entropy (per
pixel for the U-Net), backward, SGD step (Nesterov momentum 0.9, lr 0.01, weight decay 1e-4 on
weights with more than one dimension), loss.item(). One random batch is made before timing.
Runs with Debian's torch 1.13 (/usr/bin/python3) and with torch 2.x.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_zoo  # noqa: E402
from infer_python import measure  # noqa: E402


def stats(seconds):
    return {"median": statistics.median(seconds), "mean": statistics.fmean(seconds), "min": min(seconds),
            "max": max(seconds)}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_optimizer(model, lr):
    decay = [p for p in model.parameters() if p.dim() > 1]
    rest = [p for p in model.parameters() if p.dim() <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0.0}],
                           lr=lr, momentum=0.9, nesterov=True)


def train(args):
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes, as skipzoo's bench on CUDA
    model, source = py_zoo.build_model(args.model)
    params = py_zoo.count_parameters(model)
    torch.manual_seed(args.seed)
    shape = (args.batch, *args.input)
    x = torch.randn(shape)
    classes = model.fc.out_features if hasattr(model, "fc") else model.head.out_channels
    segmentation = py_zoo.task_of(args.model) == "segmentation"
    y = torch.randint(classes, (shape[0], shape[2], shape[3]) if segmentation else (shape[0],))
    model.train().to(device)
    x, y = x.to(device), y.to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, 0.01)
    seconds, losses = [], []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=args.zero_grad == "none")
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.amp):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if i >= args.warmup:
            seconds.append(time.perf_counter() - start)
    step = stats(seconds)
    return {"bench": "train", "implementation": "pytorch", "model": args.model, "model_source": source,
            "params": params, "batch": args.batch, "input": args.input, "steps": args.steps, "warmup": args.warmup,
            "channels_last": args.channels_last, "grad_to_none": args.zero_grad == "none", "device": args.device,
            "amp": args.amp, "threads": torch.get_num_threads(), "step_s": step, "s_per_step": step["median"],
            "images_per_s": args.batch / step["median"], "peak_rss_mib": peak_rss_mib(),
            "first_loss": losses[0], "last_loss": losses[-1], "torch_version": torch.__version__}


def infer(args):
    model, source = py_zoo.build_model(args.model)
    model.eval()
    if args.mode == "optimized":  # what a Python user deploys: script, freeze, optimize for inference
        model = torch.jit.optimize_for_inference(torch.jit.script(model))
    shape = (args.batch, *args.input)
    result = {"bench": "infer", "implementation": "pytorch", "model": args.model, "model_source": source,
              "mode": args.mode, "batch": args.batch, "input": list(shape), "threads": torch.get_num_threads(),
              "warmup": args.warmup, "iters": args.iters}
    result.update(measure(model, shape, args.warmup, args.iters))  # under torch.inference_mode()
    result.update(peak_rss_mib=peak_rss_mib(), torch_version=torch.__version__)
    return result


def dims(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': expected positive integers C,H,W")
    return values


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="training-step throughput")
    i = sub.add_parser("infer", help="inference latency")
    for q, batch, input_, steps, warmup in [(t, 16, "3,224,224", "steps", 3), (i, 1, "3,224,224", "iters", 5)]:
        q.add_argument("--model", required=True, help="a skipzoo model name with a Python counterpart (py_zoo.py)")
        q.add_argument("--batch", type=int, default=batch, help=f"batch size (default: {batch})")
        q.add_argument("--input", type=dims, default=dims(input_), help=f"C,H,W (default: {input_})")
        q.add_argument(f"--{steps}", type=int, default=10 if steps == "steps" else 20,
                       help="timed iterations (default: %(default)s)")
        q.add_argument("--warmup", type=int, default=warmup, help="untimed iterations first (default: %(default)s)")
        q.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: all cores)")
        q.add_argument("--json", action="store_true", help="print one JSON object")
    t.add_argument("--channels-last", action="store_true", help="model and input in channels_last")
    t.add_argument("--zero-grad", choices=["none", "zeros"], default="none", help="set_to_none or not (default: none)")
    t.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    t.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    t.add_argument("--seed", type=int, default=0, help="seed for the batch (default: 0)")
    i.add_argument("--mode", choices=["eager", "optimized"], default="eager",
                   help="eager module, or torch.jit.optimize_for_inference(torch.jit.script(m)) (default: eager)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = train(args) if args.command == "train" else infer(args)
    if args.json:
        print(json.dumps(result))
    elif args.command == "train":
        print(f"{args.model} train (PyTorch {torch.__version__}), batch {args.batch}, {result['threads']} threads: "
              f"{result['s_per_step']:.4f} s/step, {result['images_per_s']:.1f} images/s, "
              f"peak RSS {result['peak_rss_mib']:.0f} MiB")
    else:
        print(f"{args.model} {args.mode} (PyTorch {torch.__version__}), batch {args.batch}: "
              f"median {result['ms_median']:.2f} ms")


if __name__ == "__main__":
    main()
