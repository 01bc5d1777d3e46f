#!/usr/bin/python3
"""Time to quality: `skipzoo train seg --time T` against a plain PyTorch loop (bench/ttq_loop.py)
given the same wall time T, on the same machine, one after the other (who goes first alternates
between data sets). Both train skipzoo's U-Net (depth 4, width 32) on 128x128 patches with
cross-entropy + soft Dice; skipzoo uses its defaults for everything else, the loop its own simple
recipe. Both are scored by the same evaluator, `skipzoo eval` on the full-size validation images:
skipzoo's model.ts, and the loop's weights exported with the loop's normalisation. Reported: mIoU
at equal time, and the time skipzoo needed to reach the loop's final mIoU (from its validation
history, whose times include everything: data, validation, checkpoints).

  /usr/bin/python3 bench/time_to_quality.py [--time 600] [--datasets cells,mosaic] [--cli build/apps/skipzoo]
        [--work /tmp/skipzoo_ttq] [--threads 2] [--skipzoo-args "..."] [--results-json OUT]
Also run by bench/compare_pytorch.py --only ttq, which writes its table into docs/benchmarks.md.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_OPTIONS = '{"depth": 4, "base_width": 32}'
PATCH = 128
DATASETS = {
    # A microscopy-like set shaped like the ISBI 2012 EM set: 30 gray 512x512 images, 25 train / 5 val.
    "cells": lambda cli, out: [cli, "data", "make-cells", "--out", out, "--count", "30", "--seed", "0"],
    # Fashion-MNIST items pasted into scenes of 128..384 px, 11 classes: 400 train / 100 val.
    "mosaic": lambda cli, out: [cli, "data", "fashion-mosaic", "--out", out, "--count", "500", "--seed", "0"],
}


def sh(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def dataset(cli, work, name):
    path = os.path.join(work, name)
    if not os.path.exists(os.path.join(path, "dataset.json")):
        sh(DATASETS[name](cli, path))
    return path


def evaluate(a, model, data, tiles):
    """mIoU of a model on the validation images; `tiles`: the sliding window (skipzoo's run's)."""
    out = os.path.join(os.path.dirname(model), os.path.basename(model) + ".eval.json")
    sh([a.cli, "--threads", str(a.threads), "eval", "--model", model, "--data", data, "--json", out,
        "--tile", str(tiles["tile"]), "--overlap", str(tiles["overlap"])])
    return json.load(open(out))["mIoU"]


def run_skipzoo(a, data, out):
    cmd = [a.cli, "--threads", str(a.threads), "train", "seg", "--data", data, "--out", out, "--time", f"{a.time}s",
           "--options", MODEL_OPTIONS, "--patch", str(PATCH), "--seed", "0", *shlex.split(a.skipzoo_args)]
    started = time.time()
    sh(cmd)
    wall = time.time() - started
    history = json.load(open(os.path.join(out, "metrics.json")))
    config = json.load(open(os.path.join(out, "config.json")))
    curve = [(row["elapsed"], row["val_mIoU"]) for row in history if row.get("val_mIoU") is not None]
    return {"command": shlex.join(cmd), "wall": wall, "curve": curve, "steps": history[-1]["step"],
            "model": os.path.join(out, "model.ts"), "layout": config.get("layout", {}).get("layout"),
            "tiles": {k: config["metadata"][k] for k in ("tile", "overlap")}}


def loop_model(a, loop, weights):
    """The loop's weights as a skipzoo export carrying the loop's normalisation and classes."""
    meta = {"normalization": {"mean": loop["mean"], "std": loop["std"]},
            "mask_mapping": {"kind": "values", "values": loop["mask_values"], "ignore": None}, "patch": PATCH}
    out = weights[:-3] + ".ts"
    sh([a.cli, "export", "--model", "unet", "--options", MODEL_OPTIONS, "--classes", str(loop["classes"]),
        "--in-channels", str(loop["in_channels"]), "--weights", weights, "--metadata", json.dumps(meta), "--out", out])
    return out


def run_loop(a, data, out):
    cmd = [sys.executable, os.path.join(HERE, "ttq_loop.py"), "--data", data, "--time", str(a.time), "--out", out,
           "--patch", str(PATCH), "--threads", str(a.threads), "--snapshots", "10"]
    started = time.time()
    sh(cmd)
    wall = time.time() - started
    loop = json.load(open(os.path.join(out, "loop.json")))
    return {"command": shlex.join(cmd), "wall": wall, "steps": loop["steps"], "out": out, "loop": loop}


def score_loop(a, run, data, tiles):
    """The loop's curve: each snapshot (and the final weights) evaluated like skipzoo's model."""
    run["curve"] = []
    for entry in run["loop"]["log"]:
        name = "final" if entry["snapshot"] == "final" else f"snapshot_{entry['snapshot']:02d}"
        model = loop_model(a, run["loop"], os.path.join(run["out"], name + ".pt"))
        run["curve"].append((entry["elapsed"], evaluate(a, model, data, tiles)))
    run["final"] = run["curve"][-1][1]


def compare(a, name, first_is_skipzoo):
    data = dataset(a.cli, a.work, name)
    runs = {}
    order = ["skipzoo", "pytorch"] if first_is_skipzoo else ["pytorch", "skipzoo"]
    for side in order:
        out = os.path.join(a.work, f"{name}_{side}")
        subprocess.run(["rm", "-rf", out], check=True)
        runs[side] = run_skipzoo(a, data, out) if side == "skipzoo" else run_loop(a, data, out)
    tiles = runs["skipzoo"]["tiles"]
    runs["skipzoo"]["final"] = evaluate(a, runs["skipzoo"]["model"], data, tiles)
    score_loop(a, runs["pytorch"], data, tiles)
    for side in order:
        print(f"  {name} {side}: final mIoU {runs[side]['final']:.4f}, {runs[side]['steps']} steps, "
              f"{runs[side]['wall']:.0f} s wall", flush=True)
    target = runs["pytorch"]["final"]
    reached = next((t for t, m in runs["skipzoo"]["curve"] if m >= target), None)
    return {"dataset": name, "time": a.time, "first": order[0], "skipzoo": runs["skipzoo"], "pytorch": runs["pytorch"],
            "reach_s": reached, "reach_fraction": reached / a.time if reached is not None else None}


def row_line(r):
    reach = f"{r['reach_s']:.0f} s ({r['reach_fraction']:.2f} T)" if r["reach_s"] is not None else "not reached"
    return (f"  {r['dataset']}: mIoU at T={r['time']:.0f} s: skipzoo {r['skipzoo']['final']:.4f}, PyTorch loop "
            f"{r['pytorch']['final']:.4f}; skipzoo reached the loop's final mIoU after {reach}")


def table(rows):
    """The Markdown table of a run (docs/benchmarks.md, "Time to quality")."""
    lines = ["| data set | T | skipzoo mIoU at T | PyTorch loop mIoU at T | skipzoo reaches the loop's final mIoU after | "
             "target | met | steps skipzoo / loop | skipzoo layout |",
             "|---|---:|---:|---:|---:|---:|:-:|---:|---|"]
    for r in rows:
        met = r["skipzoo"]["final"] >= r["pytorch"]["final"] and r["reach_fraction"] is not None and \
            r["reach_fraction"] <= 0.67
        reach = f"{r['reach_s']:.0f} s = **{r['reach_fraction']:.2f} T**" if r["reach_s"] is not None else "not reached"
        lines.append(f"| {r['dataset']} | {r['time']:.0f} s | **{r['skipzoo']['final']:.4f}** | "
                     f"{r['pytorch']['final']:.4f} | {reach} | ≥ loop, ≤ 0.67 T | {'yes' if met else 'no'} | "
                     f"{r['skipzoo']['steps']} / {r['pytorch']['steps']} | {r['skipzoo']['layout']} |")
    return "\n".join(lines)


def chart(rows, cli, path):
    """mIoU against wall time for both sides of every data set, drawn by `skipzoo bench chart`."""
    series = []
    for r in rows:
        for side, label in (("skipzoo", "skipzoo"), ("pytorch", "PyTorch loop")):
            curve = r[side]["curve"]
            series.append({"name": f"{r['dataset']}: {label}", "x": [t for t, _ in curve], "y": [m for _, m in curve]})
    spec = {"title": f"Validation mIoU against wall time (2 cores, T = {rows[0]['time']:.0f} s)",
            "x_label": "seconds since start", "y_label": "mIoU", "series": series}
    spec_path = path + ".json"
    json.dump(spec, open(spec_path, "w"))
    try:
        sh([cli, "bench", "chart", "--in", spec_path, "--out", path])
    finally:
        os.unlink(spec_path)


def run(a):
    os.makedirs(a.work, exist_ok=True)
    rows = []
    for i, name in enumerate(a.datasets.split(",")):
        rows.append(compare(a, name, first_is_skipzoo=i % 2 == 0))
        print(row_line(rows[-1]), flush=True)
    return rows


def add_arguments(p):
    p.add_argument("--time", type=float, default=600, help="seconds per run (default: 600)")
    p.add_argument("--datasets", default="cells,mosaic", help="comma-separated: cells, mosaic")
    p.add_argument("--work", default="/tmp/skipzoo_ttq", help="data sets and runs (default: /tmp/skipzoo_ttq)")
    p.add_argument("--skipzoo-args", default="", help="extra flags for `skipzoo train seg` (default: none)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", default="build/apps/skipzoo")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--results-json")
    add_arguments(p)
    a = p.parse_args()
    rows = run(a)
    if a.results_json:
        json.dump(rows, open(a.results_json, "w"), indent=1)


if __name__ == "__main__":
    main()
