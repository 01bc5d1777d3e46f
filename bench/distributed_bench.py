#!/usr/bin/python3
"""Data-parallel training on one machine, measured through the real `skipzoo train` (loader,
augmentation, checkpoints): 2 ranks x 1 thread (`--nproc 2`) against 1 process x 2 threads at the
same global batch, for ResNet-18, ResNet-50 and the U-Net; plus the same two ranks without any
communication (two independent 1-thread processes with half the batch each, run at once), and
Gloo's allreduce bandwidth (torch.distributed, the same c10d engine) for the gradients' bytes.

  /usr/bin/python3 bench/distributed_bench.py [--cli build/apps/skipzoo] [--iters 24] [--work DIR]
        [--results-json OUT] [--no-doc] [--from-json OUT]

From these it reports images/s, the allreduce time per step, the share of it hidden behind
backward (1 - (DDP step - independent step) / allreduce time), and, on paper, the scaling to 8 and
64 nodes on 10 and 100 Gbit/s links (ring allreduce: 2 (N-1)/N x gradient bytes per node; the
node's compute from the 2-thread step). Rewrites the generated block of docs/distributed.md.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_report  # noqa: E402

ARGS = None

# name, task, model flags, global batch, data set
WORKLOADS = [
    ("ResNet-18", "cls", ["--model", "resnet18", "--patch", "128"], 16, "images"),
    ("ResNet-50", "cls", ["--model", "resnet50", "--patch", "128"], 8, "images"),
    ("U-Net (depth 4, width 32)", "seg", ["--model", "unet", "--options", '{"depth": 4, "base_width": 32}',
                                          "--patch", "128"], 8, "shapes"),
]
COMMON = ["--layout", "contiguous", "--workers", "1", "--val-every", "100000", "--no-export", "--seed", "0",
          "--checkpoint-every", "100000"]


def sh(cmd, **kw):
    print("+ " + shlex.join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def datasets(cli, work):
    import cv2
    shapes = os.path.join(work, "shapes")
    if not os.path.exists(shapes):
        sh([cli, "data", "make-shapes", "--out", shapes, "--count", "16", "--min-size", "128", "--max-size", "256",
            "--val-fraction", "0.05"])
    images = os.path.join(work, "images")
    if not os.path.exists(images):
        rng = np.random.default_rng(0)
        for c in range(4):
            os.makedirs(os.path.join(images, f"class{c}"))
            for i in range(6):
                img = rng.integers(0, 255, size=(160, 160, 3), dtype=np.uint8)
                cv2.imwrite(os.path.join(images, f"class{c}", f"{i}.png"), img)
    return {"shapes": shapes, "images": images}


def steady_images_per_s(run_dir):
    """Images/s of the training steps, epochs after the first (warm-up) only."""
    rows = json.load(open(os.path.join(run_dir, "metrics.json")))[1:]
    images = sum(r["images_per_s"] * r["seconds"] for r in rows)
    return images / sum(r["seconds"] for r in rows)


def train(a, task, flags, batch, data, out, threads, extra=()):
    subprocess.run(["rm", "-rf", out], check=True)
    return [a.cli, "--threads", str(threads), "train", task, "--data", data, "--out", out, *flags, *COMMON,
            "--batch", str(batch), "--iters", str(a.iters), *extra]


def gradient_bytes(run_dir):
    """Bytes of the trained model's parameters (float32): one gradient of each per step."""
    import torch
    model = os.path.join(run_dir, "probe.ts")
    sh([ARGS.cli, "export", "--checkpoint", os.path.join(run_dir, "last.ckpt"), "--out", model])
    return sum(p.numel() * 4 for p in torch.jit.load(model).parameters())


ALLREDUCE = r"""
import os, sys, time, torch, torch.distributed as dist
rank, size, nbytes, port = int(sys.argv[1]), 2, int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
bucket = 25 << 20  # DDP's bucket cap
tensors = [torch.ones(min(bucket, nbytes - o) // 4) for o in range(0, nbytes, bucket)]
for t in tensors: dist.all_reduce(t)
times = []
for _ in range(5):
    dist.barrier(); t0 = time.perf_counter()
    works = [dist.all_reduce(t, async_op=True) for t in tensors]
    for w in works: w.wait()
    times.append(time.perf_counter() - t0)
if rank == 0: print(sorted(times)[len(times) // 2])
"""


def allreduce_seconds(nbytes):
    """Median time of one step's gradient allreduce (25 MiB buckets) between 2 processes on loopback."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    procs = [subprocess.Popen([sys.executable, "-c", ALLREDUCE, str(r), str(nbytes), port], stdout=subprocess.PIPE,
                              text=True) for r in range(2)]
    outs = [p.communicate()[0] for p in procs]
    return float(outs[0].strip())


def measure(a, name, task, flags, batch, data):
    w = os.path.join(a.work, name.split()[0].lower())
    single = os.path.join(w, "single")
    sh(train(a, task, flags, batch, data, single, 2))
    ddp = os.path.join(w, "ddp")
    sh(train(a, task, flags, batch, data, ddp, 1, ["--nproc", "2"]))
    halves = [os.path.join(w, f"alone{r}") for r in range(2)]
    cmds = [train(a, task, flags, batch // 2, data, out, 1) for out in halves]
    print("+ (at once) " + " & ".join(shlex.join(map(str, c)) for c in cmds), flush=True)
    procs = [subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL) for cmd in cmds]
    assert all(p.wait() == 0 for p in procs)
    grad = gradient_bytes(ddp)
    r = {"name": name, "batch": batch, "gradient_bytes": grad,
         "single_ips": steady_images_per_s(single), "ddp_ips": steady_images_per_s(ddp),
         "alone_ips": sum(steady_images_per_s(h) for h in halves), "allreduce_s": allreduce_seconds(grad)}
    r["single_step"] = batch / r["single_ips"]
    r["ddp_step"] = batch / r["ddp_ips"]
    r["alone_step"] = batch / r["alone_ips"]
    exposed = max(0.0, r["ddp_step"] - r["alone_step"])
    r["exposed_s"] = exposed
    r["hidden_share"] = min(1.0, max(0.0, 1 - exposed / r["allreduce_s"])) if r["allreduce_s"] > 0 else 1.0
    print(json.dumps(r), flush=True)
    return r


def projection(r, nodes, gbit):
    """Weak scaling: each node (this 2-core machine) keeps the global batch above per node; ring
    allreduce moves 2 (N-1)/N gradient bytes per node at the link's rate. Returns the allreduce
    time and three efficiencies (compute / step): overlapped (allreduce hides behind backward,
    taken as 2/3 of the compute: its FLOPs are twice the forward's), not overlapped, and as
    measured here, where no core is spare: the exposed cost measured at 2 ranks, scaled by the ring's
    bytes per node, plus the transfer, nothing hidden."""
    ring = 2 * (nodes - 1) / nodes
    comm = ring * r["gradient_bytes"] / (gbit * 1e9 / 8)
    step = r["single_step"]
    overlapped = step + max(0.0, comm - step * 2 / 3)
    busy = step + r["exposed_s"] * ring + comm
    return comm, step / overlapped, step / (step + comm), step / busy


def doc_block(m, results):
    lines = [bench_report.machine_block(m), "",
             "| model | global batch | 1 process x 2 threads | 2 ranks x 1 thread | 2 independent processes (no allreduce) "
             "| ranks / process | gradient | allreduce per step (loopback) | exposed per step | allreduce hidden |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['batch']} | {r['single_ips']:.1f} img/s | {r['ddp_ips']:.1f} img/s | "
                     f"{r['alone_ips']:.1f} img/s | {r['ddp_ips'] / r['single_ips']:.2f}x | "
                     f"{r['gradient_bytes'] / 2**20:.1f} MiB | {1000 * r['allreduce_s']:.0f} ms | "
                     f"{1000 * r['exposed_s']:.0f} ms | {100 * r['hidden_share']:.0f}% |")
    lines += ["", "On paper, from these figures: each node is this 2-core machine training its batch in "
              "the 2-thread step time above; a ring allreduce sends 2 (N-1)/N x the gradient bytes per node per "
              "step; allreduce can hide behind backward (taken as 2/3 of the step) when a core or the NIC is "
              "free for it; the last column keeps this machine's measured cost of communicating with no spare "
              "core (the exposed time above, scaled by the ring's bytes). Efficiency = compute / step.",
              "", "| model | nodes | link | allreduce per step | overlapped | not overlapped | no spare core, as here |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for nodes in (8, 64):
            for gbit in (10, 100):
                comm, eff, eff_plain, eff_busy = projection(r, nodes, gbit)
                lines.append(f"| {r['name']} | {nodes} | {gbit} Gbit/s | {1000 * comm:.0f} ms | {100 * eff:.0f}% | "
                             f"{100 * eff_plain:.0f}% | {100 * eff_busy:.0f}% |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", default="build/apps/skipzoo")
    p.add_argument("--iters", type=int, default=24, help="training steps per run (default: 24)")
    p.add_argument("--work", default="/tmp/skipzoo_dist_bench")
    p.add_argument("--results-json")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--from-json", help="write the doc block from a saved --results-json instead of measuring")
    a = p.parse_args()
    global ARGS
    ARGS = a
    a.threads, a.device = 2, "cpu"
    if a.from_json:
        saved = json.load(open(a.from_json))
        m, results = saved["machine"], saved["results"]
    else:
        os.makedirs(a.work, exist_ok=True)
        m = bench_report.machine(a, "/usr/bin/python3 " + shlex.join(sys.argv))
        data = datasets(a.cli, a.work)
        results = [measure(a, name, task, flags, batch, data[d]) for name, task, flags, batch, d in WORKLOADS]
        m["load_end"] = os.getloadavg()
        m["minutes"] = (time.time() - m["started"]) / 60
    block = doc_block(m, results)
    print(block)
    if a.results_json and not a.from_json:
        json.dump({"machine": m, "results": results}, open(a.results_json, "w"), indent=1)
    if not a.no_doc:
        path = os.path.join(HERE, "..", "docs", "distributed.md")
        text = open(path).read()
        open(path, "w").write(bench_report.replace_block(text, "distributed", block, "bench/distributed_bench.py"))


if __name__ == "__main__":
    main()
