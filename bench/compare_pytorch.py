#!/usr/bin/python3
"""skipzoo against PyTorch, measured in one run on one machine: the issue-8 workloads (training
steps, inference, data loading) with the same thread count, shapes, optimizer and networks,
C++ and Python runs alternating so that machine noise hits both sides alike; medians of repeats.

  /usr/bin/python3 bench/compare_pytorch.py [--quick] [--cli build/apps/skipzoo] [--threads N]
        [--gpu-results gpu.json] [--no-doc]
  /usr/bin/python3 bench/compare_pytorch.py --ablations [--quick]
  /usr/bin/python3 bench/compare_pytorch.py --time-to-quality [--time 600] [--datasets cells,mosaic]
  python3 bench/compare_pytorch.py --device cuda --cli BUILD/skipzoo_gpu_bench --results-json OUT.json

Prints the ratio table (skipzoo / PyTorch) and, on the CPU, rewrites the generated parts of
docs/benchmarks.md (between its markers) and docs/benchmarks.png (drawn by `skipzoo bench chart`).
--ablations measures the candidate speed-ups one by one instead (docs/benchmarks.md, "Wins");
--time-to-quality trains a real model on each side for the same wall time (bench/time_to_quality.py)
and writes its table and docs/time_to_quality.png.
--device cuda runs the training workloads with bf16 autocast and channels-last on both sides
(bench/gpu/run_gpu_bench.sh); --gpu-results adds such a run's results to the CPU report.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_report  # noqa: E402

PY = [sys.executable, os.path.join(HERE, "python_bench.py")]
TRAIN = [("resnet18", 16, "3,224,224"), ("resnet50", 8, "3,224,224"), ("unet", 4, "3,256,256"),
         ("resnet20", 128, "3,32,32"), ("unet", 8, "3,128,128")]
INFER = [("resnet50", "3,224,224"), ("unet", "3,512,512")]
TARGETS = {"resnet18": 1.10, "resnet50": 1.10, "unet": 1.10, "resnet20": 1.10}
INFER_TARGETS = {"resnet50": 1.6, "unet": 1.4}


def run_json(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout)


class Runner:
    def __init__(self, args):
        self.args = args
        self.cpp = [args.cli, "--threads", str(args.threads), "bench"]
        self.log = []

    def run(self, side, cmd, env=None):
        started = time.time()
        result = run_json(cmd, env)
        self.log.append({"side": side, "command": shlex.join(cmd), "seconds": time.time() - started})
        return result

    def alternate(self, rep, pairs):
        """Runs each (label, cmd) of `pairs` once, rotating who goes first every repeat."""
        k = rep % len(pairs)
        return dict((label, self.run(label, cmd)) for label, cmd in pairs[k:] + pairs[:k])

    def train_cmds(self, model, batch, shape, extra=()):
        """skipzoo in its default layout (auto: measured, cached per CPU) against PyTorch in each
        layout: the comparison takes PyTorch's faster one. On CUDA both sides run channels-last."""
        a = self.args
        common = ["--model", model, "--batch", str(batch), "--input", shape, "--steps", str(a.steps),
                  "--warmup", str(a.warmup), "--json", *extra]
        py = PY + ["train", "--threads", str(a.threads)] + common
        if a.device != "cpu":
            gpu = ["--device", a.device, "--amp"]
            return [("skipzoo", self.cpp + ["train"] + common + gpu + ["--layout", "channels-last"]),
                    ("pytorch", py + gpu + ["--channels-last"])]
        return [("skipzoo", self.cpp + ["train"] + common), ("pytorch", py),
                ("pytorch channels-last", py + ["--channels-last"])]

    def infer_cmds(self, model, shape):
        a = self.args
        common = ["--model", model, "--input", shape, "--iters", str(a.iters), "--warmup", str(a.infer_warmup),
                  "--json"]
        return [(f"skipzoo {m}", self.cpp + ["infer", "--mode", m] + common) for m in ("eager", "optimized")] + \
               [(f"pytorch {m}", PY + ["infer", "--threads", str(a.threads), "--mode", m] + common)
                for m in ("eager", "optimized")]

    def loader_cmds(self, workers):
        a = self.args
        if not os.path.isdir(a.data):  # the loader's data set, made once
            subprocess.run([a.cli, "data", "make-shapes", "--out", a.data, "--count", "64", "--min-size", "256",
                            "--max-size", "640", "--seed", "0"], check=True, capture_output=True)
        common = ["--data", a.data, "--workers", str(workers), "--patch", "256", "--batch", "8", "--batches",
                  str(a.loader_batches), "--warmup", "3", "--augment", "full", "--json"]
        return [("skipzoo", self.cpp + ["loader"] + common),
                ("pytorch", [sys.executable, os.path.join(HERE, "loader_bench.py")] + common)]


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def check_networks(args):
    """Each Python network is skipzoo's: same parameter count, skipzoo's weights load strictly and
    give skipzoo's outputs. Without it the comparison would time two different things."""
    import py_zoo
    for name in sorted({w[0] for w in TRAIN} | {w[0] for w in INFER}):
        model, source = py_zoo.build_model(name)
        params = run_json([args.cli, "info", name, "--json"])["totals"]["params"]
        assert py_zoo.count_parameters(model) == params, (name, py_zoo.count_parameters(model), params)
        diff = py_zoo.same_network(args.cli, name, model)
        assert diff <= 1e-4, f"{name}: Python model differs from skipzoo's export by {diff}"
        print(f"  {name}: {params:,} parameters on both sides ({source}); outputs agree to {diff:.1e}")


def train_rows(runner, repeats):
    rows = []
    for model, batch, shape in TRAIN:
        runs = [runner.alternate(rep, runner.train_cmds(model, batch, shape)) for rep in range(repeats)]
        cpp = [r["skipzoo"] for r in runs]
        # PyTorch in its faster layout on this machine (by median images/s).
        py_layouts = {k: [r[k] for r in runs] for k in runs[0] if k.startswith("pytorch")}
        py_label = max(py_layouts, key=lambda k: median_of(py_layouts[k], "images_per_s"))
        py = py_layouts[py_label]
        assert cpp[0]["params"] == py[0]["params"], (model, cpp[0]["params"], py[0]["params"])
        c, p = median_of(cpp, "images_per_s"), median_of(py, "images_per_s")
        rows.append({"kind": "train", "model": model, "batch": batch, "input": shape, "unit": "images/s",
                     "skipzoo": c, "pytorch": p, "ratio": c / p,
                     "ratios": [a["images_per_s"] / b["images_per_s"] for a, b in zip(cpp, py)],
                     "target": TARGETS[model], "gflops": median_of(cpp, "gflops"),
                     "s_per_step": median_of(cpp, "s_per_step"), "py_s_per_step": median_of(py, "s_per_step"),
                     "rss": median_of(cpp, "peak_rss_mib"), "py_rss": median_of(py, "peak_rss_mib"),
                     "source": py[0].get("model_source", ""),
                     "layout": "channels-last" if cpp[0]["channels_last"] else "contiguous",
                     "py_layout": "channels-last" if py[0]["channels_last"] else "contiguous",
                     "py_layouts": {k: median_of(v, "images_per_s") for k, v in py_layouts.items()}})
        print(bench_report.row_line(rows[-1]), flush=True)
    return rows


def infer_rows(runner, repeats):
    rows = []
    for model, shape in INFER:
        runs = [runner.alternate(rep, runner.infer_cmds(model, shape)) for rep in range(repeats)]
        ms = {label: median_of([r[label] for r in runs], "ms_median") for label in runs[0]}
        for mode, against in [("eager", "pytorch eager"), ("optimized", "pytorch eager"),
                              ("optimized", "pytorch optimized")]:
            c, p = ms[f"skipzoo {mode}"], ms[against]
            rows.append({"kind": "infer", "model": model, "batch": 1, "input": shape, "unit": "ms",
                         "mode": mode, "against": against, "skipzoo": c, "pytorch": p, "ratio": p / c,
                         "ratios": [r[against]["ms_median"] / r[f"skipzoo {mode}"]["ms_median"] for r in runs],
                         "target": INFER_TARGETS[model] if (mode, against) == ("optimized", "pytorch eager") else None})
            print(bench_report.row_line(rows[-1]), flush=True)
    return rows


def loader_rows(runner, repeats, args):
    rows = []
    for workers in (1, 2):
        runs = [runner.alternate(rep, runner.loader_cmds(workers)) for rep in range(repeats)]
        c = median_of([r["skipzoo"] for r in runs], "patches_per_s")
        p = median_of([r["pytorch"] for r in runs], "patches_per_s")
        rows.append({"kind": "loader", "model": f"{workers} worker{'s' if workers > 1 else ''}", "unit": "patches/s",
                     "skipzoo": c, "pytorch": p, "ratio": c / p, "target": 2.0,
                     "ratios": [r["skipzoo"]["patches_per_s"] / r["pytorch"]["patches_per_s"] for r in runs]})
        print(bench_report.row_line(rows[-1]), flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", default="build/apps/skipzoo", help="the skipzoo binary (default: build/apps/skipzoo)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads on both sides (default: all cores)")
    p.add_argument("--quick", action="store_true", help="few steps, one repeat: a check that runs in minutes")
    p.add_argument("--repeats", type=int, help="alternating repeats per workload (default: 3, CUDA 4, --quick 1)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: training only, bf16 autocast + channels-last")
    p.add_argument("--data", default="/tmp/skipzoo_bench_shapes", help="loader dataset (made if missing)")
    p.add_argument("--ablations", action="store_true",
                   help="instead, measure each candidate speed-up alone (CPU; docs/benchmarks.md, 'Wins')")
    p.add_argument("--time-to-quality", action="store_true",
                   help="instead, time to quality: skipzoo train seg --time T against a plain PyTorch loop")
    import time_to_quality
    time_to_quality.add_arguments(p)
    p.add_argument("--only", help="comma-separated subset of train,infer,loader (default: all); implies --no-doc")
    p.add_argument("--gpu-results", help="a --results-json file from a CUDA run, added to the report")
    p.add_argument("--results-json", help="also write every measurement to this JSON file")
    p.add_argument("--doc", default=os.path.join(HERE, "..", "docs", "benchmarks.md"), help="report to update")
    p.add_argument("--no-doc", action="store_true", help="print only; leave docs/ alone")
    args = p.parse_args()
    gpu = args.device != "cpu"
    quick = args.quick
    args.repeats = args.repeats or (1 if quick else (4 if gpu else 3))  # GPU: order matters, both go first twice
    args.steps, args.warmup = (2, 1) if quick else ((20, 5) if gpu else (10, 3))
    # TorchScript's profiling executor optimises a graph on its second call: warm up past that. The
    # C++ optimized ResNet-50 also has occasional slow calls (p90 ~100 ms vs a 44 ms median): a
    # median needs more than 3 calls.
    args.iters, args.infer_warmup, args.loader_batches = (7, 3, 10) if quick else (15, 3, 40)
    machine = bench_report.machine(args, " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    print(bench_report.machine_line(machine), flush=True)
    runner = Runner(args)
    results = {"machine": machine, "device": args.device, "repeats": args.repeats, "steps": args.steps}
    if args.ablations:
        import ablations
        results["ablations"] = ablations.run(runner, args)
    elif args.time_to_quality:
        results["ttq"] = time_to_quality.run(args)
    else:
        if not gpu:
            print("same networks on both sides:")
            check_networks(args)
        peak_args = ["--iters", "2", "--warmup", "1"] if quick else []
        results["peak"] = runner.run("skipzoo", runner.cpp + ["peak", "--json"] + peak_args +
                                     (["--device", args.device, "--amp"] if gpu else []))
        print(bench_report.peak_line(results["peak"]), flush=True)
        only = set(args.only.split(",")) if args.only else {"train", "infer", "loader"}
        results["rows"] = train_rows(runner, args.repeats) if "train" in only else []
        if not gpu:
            results["rows"] += infer_rows(runner, args.repeats) if "infer" in only else []
            results["rows"] += loader_rows(runner, args.repeats, args) if "loader" in only else []
    machine["load_end"] = os.getloadavg()
    machine["minutes"] = (time.time() - machine["started"]) / 60
    results["runs"] = runner.log
    gpu_results = json.load(open(args.gpu_results)) if args.gpu_results else None
    print(bench_report.report(results, gpu_results))
    if args.results_json:
        with open(args.results_json, "w") as f:
            json.dump(results, f, indent=1)
    if not gpu and not args.no_doc and not args.only:
        bench_report.write_doc(args.doc, results, gpu_results, args.cli)
        print(f"updated {os.path.normpath(args.doc)}")


if __name__ == "__main__":
    main()
