#!/usr/bin/python3
"""The search behind `skipzoo train seg`'s defaults: candidate recipes (optimizer, schedule, batch,
augmentation, ...) each trained with `--time T` on the time-to-quality data sets, one after the
other on a quiet machine, scored by `skipzoo eval` like bench/time_to_quality.py. Prints a Markdown
table (docs/benchmarks.md, "Recipe") of mIoU at T and the mIoU reached at T/3 and 2T/3.

  /usr/bin/python3 bench/recipe_sweep.py --variants VARIANTS.json [--time 600] [--datasets cells,mosaic]
VARIANTS.json: {"name": "extra skipzoo train seg flags", ...}; flags not given keep skipzoo's defaults.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time_to_quality as ttq  # noqa: E402


def best_by(curve, t):
    """The best validation mIoU reached by time t (0 if none)."""
    return max([m for s, m in curve if s <= t], default=0.0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", default="build/apps/skipzoo")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--variants", required=True)
    p.add_argument("--results-json", default="/tmp/skipzoo_ttq/sweep.json")
    ttq.add_arguments(p)
    a = p.parse_args()
    variants = json.load(open(a.variants))
    results = json.load(open(a.results_json)) if os.path.exists(a.results_json) else []
    done = {(r["dataset"], r["variant"], r["time"]) for r in results}
    os.makedirs(a.work, exist_ok=True)
    for name in a.datasets.split(","):
        data = ttq.dataset(a.cli, a.work, name)
        for variant, flags in variants.items():
            if (name, variant, a.time) in done:
                continue
            out = os.path.join(a.work, f"sweep_{name}_{variant}")
            subprocess.run(["rm", "-rf", out], check=True)
            a.skipzoo_args = flags
            run = ttq.run_skipzoo(a, data, out)
            run["final"] = ttq.evaluate(a, run["model"], data, run["tiles"])
            results.append({"dataset": name, "variant": variant, "flags": flags, "time": a.time, "final": run["final"],
                            "third": best_by(run["curve"], a.time / 3), "two_thirds": best_by(run["curve"], 2 * a.time / 3),
                            "steps": run["steps"], "wall": run["wall"], "curve": run["curve"]})
            json.dump(results, open(a.results_json, "w"), indent=1)
            r = results[-1]
            print(f"{name} {variant}: {r['final']:.4f} at T, {r['two_thirds']:.4f} by 2T/3, {r['third']:.4f} by T/3, "
                  f"{r['steps']} steps ({flags})", flush=True)
    print("| data set | recipe | flags | mIoU at T | by 2T/3 | by T/3 | steps |\n|---|---|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['dataset']} | {r['variant']} | `{r['flags']}` | {r['final']:.4f} | {r['two_thirds']:.4f} | "
              f"{r['third']:.4f} | {r['steps']} |")


if __name__ == "__main__":
    main()
